#!/usr/bin/env node
// Runs node:test over an explicit list of test files: Node 20's --test does not
// expand globs, and an empty list must fail instead of passing silently.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

const roots = unitOnly ? ['src'] : ['src', 'test'];
let files = roots
  .flatMap((dir) =>
    readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => path.join(dir, f)),
  )
  // The real-cloud stage has its own runner (scripts/test-openstack.mjs): it brings the cloud up first.
  .filter((f) => !f.startsWith(path.join('test', 'openstack-real') + path.sep))
  .sort();
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files found${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
console.log(`running ${files.length} test file(s)`);
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=300000', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
