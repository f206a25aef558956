#!/usr/bin/env node
import { load } from './load.mjs';

await load('agent/cli');
