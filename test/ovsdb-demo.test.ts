/**
 * The README's run command: the demo must work and tell the truth about what
 * it left in the switch database.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { findBinary } from '../src/ovsdb/local-server.ts';

const root = path.resolve(import.meta.dirname, '..');

describe('npm run demo:ovsdb (the OVSDB layer tour)', () => {
  it('applies 3 Gold and 2 Wholesale SLAs, is idempotent and leaves no row behind', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/ovsdb-demo.ts', '--json'], {
      cwd: root,
      timeout: 60_000,
    });
    const lines = stdout.trim().split('\n');
    const summary = JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>;
    assert.equal(summary.server, findBinary('ovsdb-server') ? 'ovsdb-server' : 'in-process');
    assert.equal(summary.ports, 5);
    assert.equal(summary.gold, 3);
    assert.equal(summary.wholesale, 2);
    assert.equal(summary.idempotent, true);
    assert.equal(summary.left_qos_rows, 0);
    assert.equal(summary.left_queue_rows, 0);
  });
});
