#!/usr/bin/env node
import { load } from './load.mjs';

const { runFromProcess } = await load('cli/main');
await runFromProcess();
