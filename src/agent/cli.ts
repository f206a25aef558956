#!/usr/bin/env node
/** `cm-agent --config FILE` | `cm-agent --sim` (see src/agent/main.ts). */
import { AgentConfigError } from './config.ts';
import { main } from './main.ts';

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof AgentConfigError) process.stderr.write(`${error.message}\n`);
  else process.stderr.write(`cm-agent: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
