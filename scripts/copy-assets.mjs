#!/usr/bin/env node
// Part of `npm run build`: tsc compiles src/ to dist/; the files the code reads at run time
// (the OVSDB schema, the simulated cloud's scenarios, the thesis fixtures) are copied beside it.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const copied = [];
for (const file of readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })) {
  if (!/\.(json|yaml)$/.test(file)) continue;
  const to = path.join(root, 'dist', file);
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(path.join(root, 'src', file), to);
  copied.push(file);
}
if (copied.length === 0) {
  console.error('copy-assets: no run-time files found under src/');
  process.exit(1);
}
console.log(`copy-assets: ${String(copied.length)} file(s) to dist/`);
