import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NamedUuid, namedUuid } from './datum.ts';
import {
  ConstraintViolationError,
  NotOwnerError,
  OvsdbSchemaError,
  OvsdbTransactionError,
  ReferentialIntegrityViolationError,
  TransactionAbortedError,
  WaitTimedOutError,
  transactionError,
} from './errors.ts';
import {
  abort,
  assertLock,
  byUuid,
  comment,
  commit,
  decodeResult,
  encodeOperation,
  eq,
  excludes,
  ge,
  gt,
  includes,
  insert,
  le,
  lt,
  mutate,
  ne,
  remove,
  select,
  setMapKeys,
  update,
  wait,
} from './operations.ts';
import { parseSchema } from './schema.ts';

const U1 = '5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e';
const U2 = '9f092489-e83f-4f05-a5c7-c5aef10cece4';

/** A small schema in the shape of vswitch.ovsschema. */
const schema = parseSchema({
  name: 'Open_vSwitch',
  version: '8.3.1',
  tables: {
    Open_vSwitch: {
      isRoot: true,
      maxRows: 1,
      columns: {
        next_cfg: { type: 'integer' },
        bridges: { type: { key: { type: 'uuid', refTable: 'Bridge' }, min: 0, max: 'unlimited' } },
      },
    },
    Bridge: {
      indexes: [['name']],
      columns: {
        name: { type: 'string', mutable: false },
        ports: { type: { key: { type: 'uuid', refTable: 'Port' }, min: 0, max: 'unlimited' } },
        flood_vlans: { type: { key: { type: 'integer', minInteger: 0, maxInteger: 4095 }, min: 0, max: 4096 } },
        external_ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
      },
    },
    Port: {
      indexes: [['name']],
      columns: {
        name: { type: 'string', mutable: false },
        qos: { type: { key: { type: 'uuid', refTable: 'QoS' }, min: 0, max: 1 } },
        tag: { type: { key: { type: 'integer', minInteger: 0, maxInteger: 4095 }, min: 0, max: 1 } },
        bond_updelay: { type: 'integer' },
      },
    },
    QoS: {
      isRoot: true,
      columns: {
        type: { type: 'string' },
        queues: {
          type: {
            key: { type: 'integer', minInteger: 0, maxInteger: 4294967295 },
            value: { type: 'uuid', refTable: 'Queue' },
            min: 0,
            max: 'unlimited',
          },
        },
        other_config: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
        external_ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
      },
    },
    Queue: {
      isRoot: true,
      columns: {
        dscp: { type: { key: { type: 'integer', minInteger: 0, maxInteger: 63 }, min: 0, max: 1 } },
        other_config: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
        external_ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
      },
    },
  },
});

function schemaError(fn: () => unknown, expect: { table?: string; column?: string; message?: RegExp }): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof OvsdbSchemaError, `expected OvsdbSchemaError, got ${String(error)}`);
    if (expect.table !== undefined) assert.equal(error.table, expect.table);
    if (expect.column !== undefined) assert.equal(error.column, expect.column);
    if (expect.message) assert.match(error.message, expect.message);
    return true;
  });
}

describe('parseSchema', () => {
  it('parses tables, root flags, indexes, kinds and the implicit columns', () => {
    assert.equal(schema.name, 'Open_vSwitch');
    assert.equal(schema.version, '8.3.1');
    assert.equal(schema.tables.get('QoS')?.isRoot, true);
    assert.equal(schema.tables.get('Port')?.isRoot, false);
    assert.deepEqual(schema.tables.get('Bridge')?.indexes, [['name']]);
    assert.equal(schema.tables.get('Open_vSwitch')?.maxRows, 1);
    const port = schema.tables.get('Port')!;
    assert.equal(port.columns.get('name')?.kind, 'scalar');
    assert.equal(port.columns.get('name')?.mutable, false);
    assert.equal(port.columns.get('qos')?.kind, 'optional');
    assert.equal(port.columns.get('qos')?.type.key.refTable, 'QoS');
    assert.equal(port.columns.get('qos')?.type.key.refType, 'strong');
    const ports = schema.tables.get('Bridge')?.columns.get('ports');
    assert.equal(ports?.type.max, Infinity);
    assert.equal(ports.kind, 'set');
    assert.equal(schema.tables.get('QoS')?.columns.get('queues')?.kind, 'map');
    assert.equal(port.columns.get('_uuid')?.kind, 'scalar');
    assert.equal(port.columns.get('_version')?.mutable, false);
  });

  it('makes every table root when none is marked', () => {
    const s = parseSchema({ name: 'x', tables: { A: { columns: {} }, B: { columns: {} } } });
    assert.equal(s.tables.get('A')?.isRoot, true);
    assert.equal(s.tables.get('B')?.isRoot, true);
  });

  it('refuses malformed schemas', () => {
    assert.throws(() => parseSchema({ tables: {} }), OvsdbSchemaError);
    assert.throws(() => parseSchema({ name: 'x', tables: { A: { columns: { c: { type: 'float' } } } } }), OvsdbSchemaError);
    assert.throws(
      () => parseSchema({ name: 'x', tables: { A: { columns: { c: { type: { key: 'string', min: 2, max: 1 } } } } } }),
      OvsdbSchemaError,
    );
  });
});

describe('operation builders', () => {
  it('build conditions', () => {
    assert.deepEqual(eq('a', 1), ['a', '==', 1]);
    assert.deepEqual(ne('a', 1), ['a', '!=', 1]);
    assert.deepEqual(lt('a', 1), ['a', '<', 1]);
    assert.deepEqual(le('a', 1), ['a', '<=', 1]);
    assert.deepEqual(gt('a', 1), ['a', '>', 1]);
    assert.deepEqual(ge('a', 1), ['a', '>=', 1]);
    assert.deepEqual(includes('a', { k: 'v' }), ['a', 'includes', { k: 'v' }]);
    assert.deepEqual(excludes('a', [1]), ['a', 'excludes', [1]]);
    assert.deepEqual(byUuid(U1), [['_uuid', '==', U1]]);
  });

  it('build operations with defaults', () => {
    assert.deepEqual(remove('Queue', []), { op: 'delete', table: 'Queue', where: [] });
    assert.deepEqual(select('Queue'), { op: 'select', table: 'Queue', where: [] });
    assert.deepEqual(wait('Queue', [], ['dscp'], [{ dscp: 1 }]), {
      op: 'wait',
      table: 'Queue',
      where: [],
      columns: ['dscp'],
      rows: [{ dscp: 1 }],
      until: '==',
      timeout: 0,
    });
    assert.deepEqual(insert('Queue', {}, { uuidName: 'q' }), { op: 'insert', table: 'Queue', row: {}, uuidName: 'q' });
    assert.deepEqual(commit(true), { op: 'commit', durable: true });
    assert.deepEqual(abort(), { op: 'abort' });
    assert.deepEqual(comment('cm'), { op: 'comment', comment: 'cm' });
    assert.deepEqual(assertLock('l'), { op: 'assert', lock: 'l' });
  });

  it('setMapKeys deletes the keys, then inserts the pairs', () => {
    assert.deepEqual(setMapKeys('other_config', { 'max-rate': '1', 'min-rate': '2' }), [
      ['other_config', 'delete', ['max-rate', 'min-rate']],
      ['other_config', 'insert', { 'max-rate': '1', 'min-rate': '2' }],
    ]);
  });
});

describe('encodeOperation', () => {
  it('encodes insert with uuid-name references and a client-chosen uuid', () => {
    const wire = encodeOperation(
      schema,
      insert('QoS', { type: 'linux-htb', queues: { 0: namedUuid('q0') }, other_config: { 'max-rate': '100' } }, { uuidName: 's' }),
    );
    assert.deepEqual(wire, {
      op: 'insert',
      table: 'QoS',
      row: { type: 'linux-htb', queues: ['map', [[0, ['named-uuid', 'q0']]]], other_config: ['map', [['max-rate', '100']]] },
      'uuid-name': 's',
    });
    assert.deepEqual(encodeOperation(schema, insert('Queue', {}, { uuid: U1.toUpperCase() })), {
      op: 'insert',
      table: 'Queue',
      row: {},
      uuid: U1,
    });
  });

  it('encodes select with conditions, columns and includes on maps (a subset)', () => {
    assert.deepEqual(
      encodeOperation(
        schema,
        select('QoS', [includes('external_ids', { owner: 'cm' }), eq('type', 'linux-htb'), ne('_uuid', U1)], ['_uuid', 'type']),
      ),
      {
        op: 'select',
        table: 'QoS',
        where: [
          ['external_ids', 'includes', ['map', [['owner', 'cm']]]],
          ['type', '==', 'linux-htb'],
          ['_uuid', '!=', ['uuid', U1]],
        ],
        columns: ['_uuid', 'type'],
      },
    );
    assert.deepEqual(encodeOperation(schema, select('Bridge', [includes('flood_vlans', [1, 2])])), {
      op: 'select',
      table: 'Bridge',
      where: [['flood_vlans', 'includes', ['set', [1, 2]]]],
    });
    assert.deepEqual(encodeOperation(schema, select('Port', [le('bond_updelay', 2n ** 60n)])), {
      op: 'select',
      table: 'Port',
      where: [['bond_updelay', '<=', 2n ** 60n]],
    });
  });

  it('encodes update, mutate (setMapKeys, set insert, arithmetic) and delete', () => {
    assert.deepEqual(encodeOperation(schema, update('Port', [eq('name', 'p1')], { qos: U2, tag: undefined })), {
      op: 'update',
      table: 'Port',
      where: [['name', '==', 'p1']],
      row: { qos: ['set', [['uuid', U2]]], tag: ['set', []] },
    });
    assert.deepEqual(
      encodeOperation(
        schema,
        mutate('QoS', byUuid(U1), [
          ...setMapKeys('other_config', { 'max-rate': '5' }),
          ['queues', 'delete', [7]],
          ['queues', 'insert', new Map([[7, namedUuid('q')]])],
        ]),
      ),
      {
        op: 'mutate',
        table: 'QoS',
        where: [['_uuid', '==', ['uuid', U1]]],
        mutations: [
          ['other_config', 'delete', ['set', ['max-rate']]],
          ['other_config', 'insert', ['map', [['max-rate', '5']]]],
          ['queues', 'delete', ['set', [7]]],
          ['queues', 'insert', ['map', [[7, ['named-uuid', 'q']]]]],
        ],
      },
    );
    assert.deepEqual(
      encodeOperation(schema, mutate('Bridge', [], [['flood_vlans', 'insert', [1, 2]], ['external_ids', 'delete', { k: 'v' }]])),
      {
        op: 'mutate',
        table: 'Bridge',
        where: [],
        mutations: [
          ['flood_vlans', 'insert', ['set', [1, 2]]],
          ['external_ids', 'delete', ['map', [['k', 'v']]]],
        ],
      },
    );
    assert.deepEqual(encodeOperation(schema, mutate('Open_vSwitch', [], [['next_cfg', '+=', 1]])), {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [],
      mutations: [['next_cfg', '+=', 1]],
    });
    assert.deepEqual(encodeOperation(schema, remove('Queue', byUuid(U1))), {
      op: 'delete',
      table: 'Queue',
      where: [['_uuid', '==', ['uuid', U1]]],
    });
  });

  it('encodes wait, commit, abort, comment and assert', () => {
    assert.deepEqual(encodeOperation(schema, wait('Port', byUuid(U1), ['qos'], [{ qos: undefined }], { until: '!=', timeout: 50 })), {
      op: 'wait',
      table: 'Port',
      where: [['_uuid', '==', ['uuid', U1]]],
      columns: ['qos'],
      until: '!=',
      rows: [{ qos: ['set', []] }],
      timeout: 50,
    });
    assert.deepEqual(encodeOperation(schema, commit(false)), { op: 'commit', durable: false });
    assert.deepEqual(encodeOperation(schema, abort()), { op: 'abort' });
    assert.deepEqual(encodeOperation(schema, comment('why')), { op: 'comment', comment: 'why' });
    assert.deepEqual(encodeOperation(schema, assertLock('cm')), { op: 'assert', lock: 'cm' });
  });

  it('refuses unknown tables and columns, naming them', () => {
    schemaError(() => encodeOperation(schema, insert('Qos', {})), { table: 'Qos', message: /unknown table "Qos"/ });
    schemaError(() => encodeOperation(schema, insert('QoS', { typ: 'linux-htb' })), { table: 'QoS', column: 'typ' });
    schemaError(() => encodeOperation(schema, select('QoS', [eq('extrnal_ids', {})])), { table: 'QoS', column: 'extrnal_ids' });
    schemaError(() => encodeOperation(schema, select('QoS', [], ['tpye'])), { table: 'QoS', column: 'tpye' });
    schemaError(() => encodeOperation(schema, mutate('QoS', [], [['other', 'insert', {}]])), { column: 'other' });
    schemaError(() => encodeOperation(schema, wait('QoS', [], ['tpye'], [])), { column: 'tpye' });
  });

  it('refuses wrongly typed values, naming the column', () => {
    schemaError(() => encodeOperation(schema, insert('QoS', { type: 5 })), { message: /QoS\.type/ });
    schemaError(() => encodeOperation(schema, insert('QoS', { other_config: { 'max-rate': 1e8 } })), {
      message: /QoS\.other_config\[max-rate\]/,
    });
    schemaError(() => encodeOperation(schema, insert('Port', { qos: 'nope' })), { message: /Port\.qos/ });
    schemaError(() => encodeOperation(schema, insert('Port', { tag: [1, 2] })), { message: /Port\.tag/ });
    schemaError(() => encodeOperation(schema, update('Port', [eq('bond_updelay', 'x')], {})), { message: /Port\.bond_updelay/ });
    schemaError(() => encodeOperation(schema, insert('Open_vSwitch', { next_cfg: 2 ** 60 })), { message: /bigint/ });
  });

  it('refuses writes to read-only and immutable columns', () => {
    schemaError(() => encodeOperation(schema, insert('Queue', { _uuid: U1 })), { column: '_uuid', message: /read-only/ });
    schemaError(() => encodeOperation(schema, update('Port', [], { name: 'x' })), { column: 'name', message: /immutable/ });
    schemaError(() => encodeOperation(schema, mutate('Port', [], [['name', 'insert', 'x']])), { column: 'name' });
    // Immutable columns can be set at insert time.
    assert.deepEqual(encodeOperation(schema, insert('Port', { name: 'p' })), { op: 'insert', table: 'Port', row: { name: 'p' } });
  });

  it('refuses mutations and conditions that do not fit the column', () => {
    schemaError(() => encodeOperation(schema, mutate('Port', [], [['bond_updelay', 'insert', 1]])), { message: /set or map/ });
    schemaError(() => encodeOperation(schema, mutate('QoS', [], [['other_config', '+=', 1]])), { message: /arithmetic/ });
    schemaError(() => encodeOperation(schema, mutate('QoS', [], [['type', '+=', 1]])), { message: /arithmetic/ });
    schemaError(() => encodeOperation(schema, select('QoS', [lt('type', 'a')])), { message: /ordering/ });
  });

  it('refuses bad uuid-names, bad client uuids and wait rows outside columns', () => {
    schemaError(() => encodeOperation(schema, insert('Queue', {}, { uuidName: '1bad' })), { message: /uuid-name/ });
    schemaError(() => encodeOperation(schema, insert('Queue', {}, { uuid: 'nope' })), { message: /invalid uuid/ });
    schemaError(() => encodeOperation(schema, wait('Queue', [], ['dscp'], [{ other_config: {} }])), {
      column: 'other_config',
      message: /not in columns/,
    });
  });
});

describe('decodeResult', () => {
  it('decodes insert uuids, select rows and counts', () => {
    assert.deepEqual(decodeResult(schema, insert('Queue', {}), { uuid: ['uuid', U1] }), { uuid: U1 });
    assert.deepEqual(decodeResult(schema, update('Queue', [], {}), { count: 3 }), { count: 3 });
    assert.deepEqual(decodeResult(schema, comment('x'), {}), {});
    assert.deepEqual(decodeResult(schema, comment('x'), null), {});
    const rows = decodeResult(schema, select('Port'), {
      rows: [
        {
          _uuid: ['uuid', U1],
          name: 'p1',
          qos: ['uuid', U2],
          tag: ['set', []],
          bond_updelay: 9223372036854775807n,
          added_by_newer_server: 'ignored',
        },
      ],
    }).rows;
    assert.deepEqual(rows, [{ _uuid: U1, name: 'p1', qos: U2, tag: undefined, bond_updelay: 9223372036854775807n }]);
    const qos = decodeResult(schema, select('QoS'), { rows: [{ queues: ['map', [[0, ['uuid', U1]]]] }] }).rows;
    assert.deepEqual(qos, [{ queues: new Map([[0, U1]]) }]);
    assert.ok(!(qos[0]?.queues instanceof NamedUuid));
  });
});

describe('transaction errors', () => {
  it('maps RFC error strings to classes with index, operation and commit flag', () => {
    const ops = [{ op: 'insert', table: 'Queue' }, { op: 'wait', table: 'Port' }];
    const waitError = transactionError({ error: 'timed out', operationIndex: 1, operation: ops[1], results: [{}, { error: 'timed out' }] });
    assert.ok(waitError instanceof WaitTimedOutError);
    assert.ok(waitError instanceof OvsdbTransactionError);
    assert.equal(waitError.operationIndex, 1);
    assert.equal(waitError.atCommit, false);
    assert.equal(waitError.retryable, true);
    assert.match(waitError.message, /operation 1 \(wait Port\): timed out/);
    const commitError = transactionError({
      error: 'referential integrity violation',
      details: 'cannot delete Queue row',
      operationIndex: 2,
      results: [{}, {}, { error: 'referential integrity violation' }],
    });
    assert.ok(commitError instanceof ReferentialIntegrityViolationError);
    assert.equal(commitError.atCommit, true);
    assert.match(commitError.message, /at commit: referential integrity violation: cannot delete Queue row/);
    assert.ok(transactionError({ error: 'constraint violation', operationIndex: 0, results: [] }) instanceof ConstraintViolationError);
    assert.ok(transactionError({ error: 'aborted', operationIndex: 0, operation: {}, results: [] }) instanceof TransactionAbortedError);
    assert.ok(transactionError({ error: 'not owner', operationIndex: 0, operation: {}, results: [] }) instanceof NotOwnerError);
    const unknown = transactionError({ error: 'brand new error', operationIndex: 0, operation: {}, results: [] });
    assert.equal(unknown.constructor, OvsdbTransactionError);
    assert.equal(unknown.code, 'OVSDB_TXN');
  });
});
