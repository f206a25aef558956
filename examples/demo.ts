/** `npm run demo [-- --once] [--json]`: see src/cli/demo.ts. */
import { demoMain } from '../src/cli/demo.ts';

demoMain(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
