/**
 * Module boundaries: src/ovsdb is a standalone library (node:* and its own
 * files only), so it can be published on its own; the pure cores (placement,
 * topology, qos) do no I/O and know nothing of the services around them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const specifiers: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/g)) {
    if (m[1] !== undefined) specifiers.push(m[1]);
  }
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    if (m[1] !== undefined) specifiers.push(m[1]);
  }
  return specifiers;
}

function offendersOf(dir: string, allowed: (spec: string, resolved: string) => boolean, minFiles = 4): string[] {
  const files = sourceFiles(dir).filter((f) => !f.endsWith('.test.ts'));
  assert.ok(files.length >= minFiles, `the scan found ${dir}`);
  const offenders: string[] = [];
  for (const file of files) {
    for (const spec of importsOf(file)) {
      const resolved = spec.startsWith('.') ? path.resolve(path.dirname(path.join(root, file)), spec) : spec;
      if (!allowed(spec, resolved)) offenders.push(`${file} imports ${spec}`);
    }
  }
  return offenders;
}

const inside = (dir: string) => (resolved: string): boolean => resolved.startsWith(path.join(root, dir) + path.sep);

describe('module boundaries', () => {
  it('src/openstack imports only node:*, undici, yaml and its own files', () => {
    const ok = (spec: string, resolved: string): boolean =>
      spec.startsWith('node:') || spec === 'undici' || spec === 'yaml' || inside('src/openstack')(resolved);
    assert.deepEqual(offendersOf('src/openstack', ok), []);
  });

  it('src/sim never uses the clients it is meant to check (no src/openstack imports)', () => {
    const ok = (_spec: string, resolved: string): boolean => !inside('src/openstack')(resolved);
    assert.deepEqual(offendersOf('src/sim', ok), []);
  });

  it('src/ovsdb imports only node:* and files inside src/ovsdb', () => {
    const files = sourceFiles('src/ovsdb').filter((f) => !f.endsWith('.test.ts'));
    assert.ok(files.length > 5, 'the scan found the library');
    const ovsdbRoot = path.join(root, 'src/ovsdb');
    const offenders: string[] = [];
    for (const file of files) {
      for (const spec of importsOf(file)) {
        if (spec.startsWith('node:')) continue;
        const resolved = path.resolve(path.dirname(path.join(root, file)), spec);
        if (!spec.startsWith('.') || !resolved.startsWith(ovsdbRoot + path.sep)) offenders.push(`${file} imports ${spec}`);
      }
    }
    assert.deepEqual(offenders, []);
  });

  it('src/placement is pure: only its own files (no node:*, no packages)', () => {
    assert.deepEqual(offendersOf('src/placement', (_spec, resolved) => inside('src/placement')(resolved)), []);
  });

  it('src/topology is pure: yaml, src/qos, the placement types and its own files', () => {
    const ok = (spec: string, resolved: string): boolean =>
      spec === 'yaml' || inside('src/topology')(resolved) || inside('src/qos')(resolved) || resolved === path.join(root, 'src/placement/types.ts');
    assert.deepEqual(offendersOf('src/topology', ok), []);
  });

  it('src/manager never touches OVSDB (the agent is the only component that writes switches)', () => {
    assert.deepEqual(offendersOf('src/manager', (_spec, resolved) => !inside('src/ovsdb')(resolved) && !inside('src/agent')(resolved) || resolved.endsWith('src/agent/hosts-view.ts')), []);
  });

  it('src/qos is the SLA model only: its own files, no switch types, no I/O', () => {
    assert.deepEqual(offendersOf('src/qos', (_spec, resolved) => inside('src/qos')(resolved), 3), []);
  });

  it('src/openflow imports only node:* and files inside src/openflow', () => {
    const ok = (spec: string, resolved: string): boolean => spec.startsWith('node:') || (spec.startsWith('.') && inside('src/openflow')(resolved));
    assert.deepEqual(offendersOf('src/openflow', ok), []);
  });

  it('enforcement backends reach the switch only through src/ovsdb and src/openflow, and know nothing of the API or the services', () => {
    const ok = (spec: string, resolved: string): boolean =>
      spec.startsWith('node:') ||
      inside('src/agent/enforcement')(resolved) ||
      inside('src/ovsdb')(resolved) ||
      inside('src/openflow')(resolved) ||
      inside('src/qos')(resolved) ||
      resolved === path.join(root, 'src/agent/drift.ts');
    assert.deepEqual(offendersOf('src/agent/enforcement', ok, 3), []);
  });

  it('the agent API and its renderers read the neutral enforcement view, never OVSDB rows', () => {
    for (const file of ['src/agent/app.ts', 'src/agent/hosts-view.ts', 'src/agent/metrics.ts']) {
      const bad = importsOf(file).filter((spec) => spec.includes('ovsdb') || spec.includes('openflow'));
      assert.deepEqual(bad, [], file);
    }
  });
});
