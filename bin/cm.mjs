#!/usr/bin/env node
// The sources are TypeScript run through tsx's loader (no build step to forget).
import { register } from 'tsx/esm/api';

register();
const { runFromProcess } = await import('../src/cli/main.ts');
await runFromProcess();
