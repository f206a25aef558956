#!/usr/bin/env node
/** `cm-manager --config FILE` (see src/manager/main.ts). */
import { ManagerConfigError } from './config.ts';
import { main } from './main.ts';

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ManagerConfigError) process.stderr.write(`${error.message}\n`);
  else process.stderr.write(`cm-manager: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
