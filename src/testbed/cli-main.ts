/** Standalone `cm testbed`: `npx tsx src/testbed/cli-main.ts up --hosts 2`. */
import { TestbedCliError, testbedCommand } from './cli.ts';

const command = testbedCommand().name('cm-testbed').exitOverride();
try {
  await command.parseAsync(process.argv);
} catch (error) {
  const code = (error as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2);
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(error instanceof TestbedCliError ? error.exitCode : 1);
}
// The scenario's servers and clients are closed; nothing else should keep the process alive.
process.exit(0);
