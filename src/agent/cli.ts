#!/usr/bin/env node
/** `cm-agent --config FILE` | `cm-agent --sim` (see src/agent/main.ts). */
import { AgentConfigError } from './config.ts';
import { main } from './main.ts';
import { isConfigurationProblem } from './startup.ts';

// Exit 2 for a configuration or command-line problem (every problem named), 1 for anything else
// (e.g. the port already in use). Unreachable dependencies are no failure: the agent waits for them.
main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof AgentConfigError) process.stderr.write(`${error.message}\n`);
  else process.stderr.write(`cm-agent: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(isConfigurationProblem(error) ? 2 : 1);
});
