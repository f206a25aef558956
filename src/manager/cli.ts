#!/usr/bin/env node
/** `cm-manager --config FILE` (see src/manager/main.ts). */
import { OpenStackConfigError } from '../openstack/errors.ts';
import { ManagerConfigError } from './config.ts';
import { main } from './main.ts';

// Exit 2 for a configuration or command-line problem (every problem named), 1 for anything else
// (e.g. the port already in use). Unreachable dependencies are no failure: the manager waits for them.
main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ManagerConfigError) process.stderr.write(`${error.message}\n`);
  else process.stderr.write(`cm-manager: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(error instanceof ManagerConfigError || error instanceof OpenStackConfigError ? 2 : 1);
});
