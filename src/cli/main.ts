/**
 * `cm`: the command-line interface of Connectivity Manager, shaped like the
 * OpenStack CLI (`cm hosts`, `cm sla set SERVER …`, `-o json`).
 *
 * `run(argv, io)` is the whole program with its I/O injected and the exit
 * code returned, so tests run it in-process; bin/cm.mjs and `npm run cm` call
 * it with the real process.
 */
import { testbedCommand } from '../testbed/cli.ts';
import { demoCommand } from './demo.ts';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { agentCommand, managerCommand, simCommand } from './commands/services.ts';
import { hostsCommand, serversCommand } from './commands/hosts.ts';
import { slaClassesCommand } from './commands/sla-classes.ts';
import { slaCommand } from './commands/sla.ts';
import { topologyCommand } from './commands/topology.ts';
import { CliContext, DEFAULT_AGENT_URL, DEFAULT_MANAGER_URL, type CliIo } from './context.ts';
import { CliError, EXIT, EXIT_CODE_HELP } from './errors.ts';
import { errorCode } from './http.ts';
import { OUTPUT_FORMATS, styler } from './output.ts';

export type { CliIo } from './context.ts';
export { EXIT } from './errors.ts';

const EPILOG = `
Environment:
  CM_AGENT_URL, CM_AGENT_TOKEN       the agent's API (default ${DEFAULT_AGENT_URL}) and a token it accepts
  CM_MANAGER_URL, CM_MANAGER_TOKEN   the manager's API (default ${DEFAULT_MANAGER_URL}) and a token it accepts
  OS_CLOUD                           default for --cloud
  NO_COLOR                           no colours (there are none either when stdout is not a terminal)

${EXIT_CODE_HELP}

Examples:
  cm agent --sim                     # in another terminal: an agent on a simulated cloud
  cm hosts
  cm sla set web-1 --download-min 100mbit --download-max 1gbit
  cm topology deploy topology.yaml --wait
  cm -o json servers

Reference: docs/cli.md`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * The command tree. Adding a subcommand is one `program.addCommand(…)` line:
 * commands built elsewhere (a plain commander `Command`) get the same error
 * handling, output streams and exit codes from {@link prepare}.
 */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('cm')
    .description('Connectivity Manager: network-aware placement and enforced bandwidth SLAs for OpenStack on Open vSwitch')
    .version(version(), '-V, --version')
    .addOption(new Option('-o, --output <format>', 'table for people; json or yaml print the API data unchanged').choices(OUTPUT_FORMATS).default('table'))
    .option('--agent-url <url>', `the CM Agent's API (env CM_AGENT_URL; default ${DEFAULT_AGENT_URL})`)
    .option('--agent-token <token>', 'bearer token for the agent (env CM_AGENT_TOKEN)')
    .option('--manager-url <url>', `the Connectivity Manager's API (env CM_MANAGER_URL; default ${DEFAULT_MANAGER_URL})`)
    .option('--manager-token <token>', 'bearer token for the manager (env CM_MANAGER_TOKEN)')
    .option('--cloud <name>', 'clouds.yaml entry (env OS_CLOUD), passed to `cm agent` / `cm manager`')
    .option('--timeout <duration>', 'per request: 30, 30s, 500ms, 2m (default 30s)')
    .addHelpText('after', EPILOG);

  program.addCommand(hostsCommand(ctx));
  program.addCommand(serversCommand(ctx));
  program.addCommand(slaCommand(ctx));
  program.addCommand(slaClassesCommand(ctx));
  program.addCommand(topologyCommand(ctx));
  program.addCommand(agentCommand(ctx));
  program.addCommand(managerCommand(ctx));
  program.addCommand(simCommand(ctx));
  program.addCommand(demoCommand());
  program.addCommand(testbedCommand());
  return program;
}

/** Every command of the tree, added ones included, reports through `io` and throws instead of exiting. */
function prepare(command: Command, io: CliIo): void {
  command
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => {
        write(styler(io.stderr, io.env).paint(s, 'red'));
      },
    })
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false });
  for (const sub of command.commands) prepare(sub, io);
}

function report(io: CliIo, error: unknown): number {
  const style = styler(io.stderr, io.env);
  const write = (message: string, lines: readonly string[]): void => {
    io.stderr.write(`${style.paint('error:', 'red')} ${message}\n${lines.map((l) => `${l}\n`).join('')}`);
  };
  if (error instanceof CommanderError) {
    // Commander has printed its message; --help and --version end with 0 and arrive here too.
    return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (error instanceof CliError) {
    write(error.message, error.lines);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  // Commands built elsewhere (cm testbed) carry their own exit code.
  const own = error instanceof Error ? (error as Error & { exitCode?: unknown }).exitCode : undefined;
  if (typeof own === 'number' && Number.isInteger(own) && own >= 1 && own <= 5) {
    write(message, []);
    return own;
  }
  if (errorCode(error) !== undefined) {
    write(message, []);
    return EXIT.UNREACHABLE;
  }
  write(message, []);
  return EXIT.FAILED;
}

/**
 * Runs `cm` with `argv` (without the node and script paths) and returns the
 * exit code. Nothing here calls process.exit: `cm agent` and `cm manager`
 * return once their service listens and leave the process running.
 */
export async function run(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr, env: io.env ?? process.env, ...(io.signal ? { signal: io.signal } : {}) };
  const ctx = new CliContext(full);
  const program = buildProgram(ctx);
  prepare(program, full);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    return report(full, error);
  } finally {
    await ctx.close();
  }
}

/** The bin's entry: the real process's argv, streams and environment. */
export async function runFromProcess(): Promise<void> {
  // `cm hosts | head -1` closes the pipe early; that is not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

// `npm run cm` runs this file directly with tsx.
if (isEntryPoint()) await runFromProcess();
