/**
 * The pure database: every operation, every error path, and the commit
 * checks (references, garbage collection, weak references, indexes,
 * maxRows), with the result shapes and error texts ovsdb-server 3.1 gives
 * (each expectation below was observed on a real ovsdb-server).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Database, type ExecutionContext } from './database.ts';
import { buildDatabaseModel } from './model.ts';

/** Database "T": R (root, indexed, strong and weak refs), R2 and D (root), N (non-root), V (values, maxRows 3). */
const TEST_SCHEMA = {
  name: 'T',
  version: '1.0.0',
  tables: {
    R: {
      isRoot: true,
      columns: {
        name: { type: 'string' },
        strong: { type: { key: { type: 'uuid', refTable: 'N' }, min: 0, max: 'unlimited' } },
        weak: { type: { key: { type: 'uuid', refTable: 'N', refType: 'weak' }, min: 0, max: 'unlimited' } },
        weak1: { type: { key: { type: 'uuid', refTable: 'R2', refType: 'weak' }, min: 1, max: 2 } },
        wmap: { type: { key: 'string', value: { type: 'uuid', refTable: 'R2', refType: 'weak' }, min: 0, max: 'unlimited' } },
      },
      indexes: [['name']],
    },
    R2: { isRoot: true, columns: { name: { type: 'string' } } },
    D: { isRoot: true, columns: { kind: { type: { key: { type: 'string', enum: ['set', ['x', 'y']] } } } } },
    N: {
      columns: {
        name: { type: 'string' },
        next: { type: { key: { type: 'uuid', refTable: 'N' }, min: 0, max: 1 } },
      },
    },
    V: {
      isRoot: true,
      maxRows: 3,
      columns: {
        i: { type: { key: { type: 'integer', minInteger: -5, maxInteger: 100 } } },
        imin: { type: { key: { type: 'integer', minInteger: 0 }, min: 0, max: 1 } },
        imax: { type: { key: { type: 'integer', maxInteger: 10 }, min: 0, max: 1 } },
        r: { type: { key: { type: 'real', minReal: -1.5, maxReal: 2.5 }, min: 0, max: 1 } },
        rmin: { type: { key: { type: 'real', minReal: 0.5 }, min: 0, max: 1 } },
        s: { type: { key: { type: 'string', minLength: 2, maxLength: 4 }, min: 0, max: 1 } },
        e: { type: { key: { type: 'integer', enum: ['set', [1, 2, 3]] }, min: 0, max: 1 } },
        es: { type: { key: { type: 'string', enum: ['set', ['a', 'b c', 'true']] }, min: 0, max: 'unlimited' } },
        iset: { type: { key: { type: 'integer', maxInteger: 1000 }, min: 0, max: 3 } },
        iset1: { type: { key: 'integer', min: 1, max: 3 } },
        rset: { type: { key: 'real', min: 0, max: 'unlimited' } },
        m: { type: { key: 'string', value: 'integer', min: 0, max: 'unlimited' } },
        m2: { type: { key: 'string', value: 'integer', min: 0, max: 2 } },
        b: { type: 'boolean' },
        u: { type: { key: 'uuid', min: 0, max: 'unlimited' } },
        rl: { type: 'real' },
        big: { type: 'integer' },
        str: { type: 'string' },
        imm: { type: 'string', mutable: false },
        eph: { type: 'string', ephemeral: true },
      },
    },
  },
} as const;

const NO_LOCKS: ExecutionContext = { elapsedMs: 0, isLockOwner: () => false };
const U1 = '11111111-2222-3333-4444-555555555555';
const U2 = '11111111-2222-3333-4444-666666666666';

function newDb(historyLimit?: number): Database {
  return new Database(buildDatabaseModel(TEST_SCHEMA), historyLimit === undefined ? {} : { historyLimit });
}

/** Runs a transaction that must complete; returns the result array. */
function tx(db: Database, ...ops: unknown[]): unknown[] {
  const outcome = db.execute(ops, NO_LOCKS);
  assert.ok(outcome.kind === 'done', 'the transaction completed');
  return outcome.results;
}

/** Runs a transaction that must succeed; returns the results as objects. */
function ok(db: Database, ...ops: unknown[]): Record<string, unknown>[] {
  const results = tx(db, ...ops);
  assert.equal(results.length, ops.length, `no commit error: ${JSON.stringify(results, bigints)}`);
  for (const r of results) assert.ok(!(r as { error?: unknown }).error, `no error: ${JSON.stringify(results, bigints)}`);
  return results as Record<string, unknown>[];
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value.toString()}n` : value;
}

/** The error object in `results` (there is exactly one). */
function errorOf(results: unknown[]): { error: string; details?: string; syntax?: string } {
  const errors = results.filter((r) => r !== null && typeof r === 'object' && 'error' in r);
  assert.equal(errors.length, 1, JSON.stringify(results, bigints));
  return errors[0] as { error: string; details?: string; syntax?: string };
}

function fails(db: Database, ops: unknown[], error: string, details?: string | RegExp): { error: string; details?: string; syntax?: string } {
  const e = errorOf(tx(db, ...ops));
  assert.equal(e.error, error, JSON.stringify(e));
  if (typeof details === 'string') assert.equal(e.details, details);
  else if (details) assert.match(e.details ?? '', details);
  return e;
}

const uuidOf = (result: unknown): string => ((result as { uuid: [string, string] }).uuid)[1];
const rowsOf = (result: unknown): Record<string, unknown>[] => (result as { rows: Record<string, unknown>[] }).rows;
const countOf = (result: unknown): number => (result as { count: number }).count;

const insert = (table: string, row: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({ op: 'insert', table, row, ...extra });
const select = (table: string, where: unknown[] = [], columns?: string[]): unknown =>
  columns ? { op: 'select', table, where, columns } : { op: 'select', table, where };
const update = (table: string, where: unknown[], row: Record<string, unknown>): unknown => ({ op: 'update', table, where, row });
const mutate = (table: string, where: unknown[], mutations: unknown[]): unknown => ({ op: 'mutate', table, where, mutations });
const remove = (table: string, where: unknown[]): unknown => ({ op: 'delete', table, where });
const named = (name: string): unknown => ['named-uuid', name];
const uuid = (u: string): unknown => ['uuid', u];

describe('Database: results and errors of a transaction', () => {
  it('returns one result per operation; after a failing one, the rest are null', () => {
    const db = newDb();
    const results = tx(db, { op: 'comment', comment: 'x' }, { op: 'abort' }, { op: 'comment', comment: 'y' });
    assert.deepEqual(results, [{}, { error: 'aborted', details: 'aborted by request' }, null]);
  });

  it('appends one extra element when every operation succeeds but the commit fails', () => {
    const db = newDb();
    const results = tx(db, insert('V', {}), insert('V', {}), insert('V', {}), insert('V', {}));
    assert.equal(results.length, 5);
    assert.deepEqual(results[4], {
      error: 'constraint violation',
      details: 'transaction causes "V" table to contain 4 rows, greater than the schema-defined limit of 3 row(s)',
    });
    assert.deepEqual(rowsOf(ok(db, select('V'))[0]), [], 'nothing was committed');
  });

  it('an empty transaction succeeds with an empty result', () => {
    assert.deepEqual(tx(newDb()), []);
  });

  it('reports malformed operations as "syntax error" with the prefix and the sorted JSON', () => {
    const db = newDb();
    assert.deepEqual(errorOf(tx(db, 5)), { error: 'syntax error', details: 'Parsing ovsdb operation 1 of 1 failed: Object expected.' });
    assert.deepEqual(errorOf(tx(db, { op: 'frob' })), {
      error: 'syntax error',
      details: 'Parsing ovsdb operation 1 of 1 failed: No operation "frob"',
      syntax: '{"op":"frob"}',
    });
    assert.deepEqual(errorOf(tx(db, { table: 'V', where: [] })), {
      error: 'syntax error',
      details: "Parsing ovsdb operation 1 of 1 failed: Required 'op' member is missing.",
      syntax: '{"table":"V","where":[]}',
    });
    fails(db, [{ op: 5 }], 'syntax error', "Parsing ovsdb operation 1 of 1 failed: Type mismatch for member 'op'.");
    fails(db, [{ op: 'select', table: 'Nope', where: [] }], 'syntax error', 'Parsing ovsdb operation 1 of 1 failed: No table named Nope.');
    fails(db, [{ op: 'select', table: 'V' }], 'syntax error', "Parsing ovsdb operation 1 of 1 failed: Required 'where' member is missing.");
    fails(db, [{ op: 'select', table: 'V', where: 5 }], 'syntax error', "Parsing ovsdb operation 1 of 1 failed: Type mismatch for member 'where'.");
    const extra = fails(db, [{ op: 'insert', table: 'V', row: {}, extra: 1 }], 'syntax error', "Parsing ovsdb operation 1 of 1 failed: Member 'extra' is present but not allowed here.");
    assert.equal(extra.syntax, '{"extra":1,"op":"insert","row":{},"table":"V"}');
    fails(db, [{ op: 'insert', table: 'V', row: {}, 'uuid-name': '0bad' }], 'syntax error', "Parsing ovsdb operation 1 of 1 failed: Type mismatch for member 'uuid-name'.");
    fails(db, [{ op: 'comment', comment: 'a' }, { op: 'commit' }], 'syntax error', "Parsing ovsdb operation 2 of 2 failed: Required 'durable' member is missing.");
    // A parse error beats the error the operation itself hit.
    fails(db, [{ op: 'insert', table: 'V', row: { nope: 1 }, extra: 1 }], 'syntax error', /Member 'extra' is present/);
  });

  it('reports unknown columns and bad values like ovsdb-server', () => {
    const db = newDb();
    assert.deepEqual(errorOf(tx(db, insert('V', { nope: 1 }))), {
      error: 'unknown column',
      details: 'No column nope in table V.',
      syntax: '{"nope":1}',
    });
    assert.deepEqual(errorOf(tx(db, insert('V', { str: 5 }))), { error: 'syntax error', details: 'expected string', syntax: '5' });
    fails(db, [insert('V', { big: 1.5 })], 'syntax error', 'expected integer');
    fails(db, [insert('V', { b: 'x' })], 'syntax error', 'expected boolean');
    fails(db, [insert('V', { str: null })], 'syntax error', 'expected string');
    fails(db, [insert('V', { u: ['uuid', 'zz'] })], 'syntax error', '"zz" is not a valid UUID');
    fails(db, [insert('V', { u: ['uuid', 5] })], 'syntax error', 'expected ["uuid", <string>]');
    fails(db, [insert('V', { u: ['named-uuid', '0x'] })], 'syntax error', 'named-uuid string is not a valid <id>');
    fails(db, [insert('V', { m: 'x' })], 'syntax error', 'expected ["map", <array>]');
    fails(db, [insert('V', { m: ['map', [['a']]] })], 'syntax error', 'expected 2-element array');
    fails(db, [insert('V', { i: ['set', []] })], 'syntax error', 'set must have exactly one member but 0 are present');
    fails(db, [insert('V', { iset: ['set', [1, 2, 3, 4]] })], 'syntax error', 'set must have 0 to 3 members but 4 are present');
    fails(db, [insert('V', { m2: ['map', [['a', 1], ['b', 2], ['c', 3]]] })], 'syntax error', 'map must have 0 to 2 members but 3 are present');
    fails(db, [insert('V', { iset: ['set', [1, 1]] })], 'ovsdb error', 'set contains duplicate');
    fails(db, [insert('V', { m: ['map', [['a', 1], ['a', 2]]] })], 'ovsdb error', 'map contains duplicate key');
    fails(db, [insert('V', { big: 2n ** 63n })], 'syntax error', 'expected integer');
  });

  it('checks value constraints with the real messages', () => {
    const db = newDb();
    fails(db, [insert('V', { i: 101 })], 'constraint violation', '101 is not in the valid range -5 to 100 (inclusive)');
    fails(db, [insert('V', { imin: -1 })], 'constraint violation', '-1 is less than minimum allowed value 0');
    fails(db, [insert('V', { imax: 11 })], 'constraint violation', '11 is greater than maximum allowed value 10');
    fails(db, [insert('V', { r: 2.6 })], 'constraint violation', '2.6 is not in the valid range -1.5 to 2.5 (inclusive)');
    fails(db, [insert('V', { rmin: 0.1 })], 'constraint violation', '0.1 is less than minimum allowed value 0.5');
    fails(db, [insert('V', { s: 'a' })], 'constraint violation', '"a" length 1 is less than minimum allowed length 2');
    fails(db, [insert('V', { s: 'abcde' })], 'constraint violation', '"abcde" length 5 is greater than maximum allowed length 4');
    fails(db, [insert('V', { e: 4 })], 'constraint violation', '4 is not one of the allowed values ([1, 2, 3])');
    fails(db, [insert('V', { es: ['set', ['a', 'zz x']] })], 'constraint violation', '"zz x" is not one of the allowed values ([a, "b c", "true"])');
    // Default values are checked too: "" is not in the enum.
    fails(db, [insert('D', {})], 'constraint violation', '"" is not one of the allowed values ([x, y])');
    ok(db, insert('D', { kind: 'y' }));
  });
});

describe('Database: insert', () => {
  it('inserts with uuid-name references in any order and returns the uuid', () => {
    const db = newDb();
    const [n2, r] = ok(
      db,
      insert('N', { name: 'n2', next: named('n1') }, { 'uuid-name': 'n2' }),
      insert('R', { name: 'r', strong: named('n2'), weak1: named('x') }),
      insert('N', { name: 'n1' }, { 'uuid-name': 'n1' }),
      insert('R2', { name: 'x' }, { 'uuid-name': 'x' }),
    );
    const rows = rowsOf(ok(db, select('R', [], ['strong']))[0]);
    assert.deepEqual(rows, [{ strong: ['uuid', uuidOf(n2)] }]);
    assert.match(uuidOf(r), /^[0-9a-f-]{36}$/);
  });

  it('honours a client-chosen uuid, lower-cased, and refuses duplicates', () => {
    const db = newDb();
    assert.deepEqual(ok(db, insert('R2', {}, { uuid: U1.toUpperCase() }))[0], { uuid: ['uuid', U1] });
    const duplicate = fails(
      db,
      [insert('R2', {}, { uuid: U1 })],
      'duplicate uuid',
      'This UUID would duplicate a UUID already present within the table or deleted within the same transaction.',
    );
    assert.equal(duplicate.syntax, `"${U1}"`);
    // Deleted within the same transaction still counts; another table does not.
    fails(db, [remove('R2', []), insert('R2', {}, { uuid: U1 })], 'duplicate uuid');
    ok(db, insert('V', {}, { uuid: U1 }));
    fails(db, [insert('R2', {}, { uuid: 'bad' })], 'syntax error', 'bad uuid');
    fails(db, [insert('R2', {}, { uuid: U2, 'uuid-name': 'a' }), insert('R2', {}, { uuid: U2 })], 'duplicate uuid');
  });

  it('refuses a uuid-name used twice', () => {
    const e = fails(
      newDb(),
      [insert('R2', {}, { 'uuid-name': 'x' }), insert('R2', {}, { 'uuid-name': 'x' })],
      'duplicate uuid-name',
      'This "uuid-name" appeared on an earlier "insert" operation.',
    );
    assert.equal(e.syntax, '"x"');
  });

  it('ignores _uuid and _version given in the row', () => {
    const db = newDb();
    const [r] = ok(db, insert('R2', { _uuid: uuid(U1), _version: uuid(U2), name: 'a' }));
    assert.notEqual(uuidOf(r), U1);
    const [sel] = ok(db, select('R2', [], ['_uuid', '_version']));
    assert.notEqual(rowsOf(sel)[0]?._version, ['uuid', U2]);
  });

  it('fills omitted columns with defaults', () => {
    const db = newDb();
    ok(db, insert('V', { i: 7 }));
    const [r] = ok(db, select('V', [], ['i', 'imin', 'iset1', 'rl', 'b', 'str', 'm', 'u']));
    assert.deepEqual(rowsOf(r), [{ i: 7, imin: ['set', []], iset1: 0, rl: 0, b: false, str: '', m: ['map', []], u: ['set', []] }]);
  });
});

describe('Database: select', () => {
  function seeded(): Database {
    const db = newDb();
    ok(
      db,
      insert('V', { i: 1, str: 'a', iset: ['set', [1, 2]], m: ['map', [['a', 1], ['b', 2]]], e: 2 }),
      insert('V', { i: 2, str: 'a', iset: 3, m: ['map', [['a', 1]]] }),
    );
    return db;
  }
  const is = (db: Database, where: unknown[]): number[] =>
    rowsOf(ok(db, select('V', where, ['i']))[0]).map((r) => r.i as number).sort();

  it('returns every column, or the chosen ones; one-element sets bare, maps as ["map", ...]', () => {
    const db = seeded();
    const all = rowsOf(ok(db, select('V', [['i', '==', 1]]))[0])[0];
    assert.ok(all);
    assert.ok('_uuid' in all && '_version' in all && 'eph' in all);
    assert.deepEqual(all.iset, ['set', [1, 2]]);
    assert.deepEqual(rowsOf(ok(db, select('V', [['i', '==', 2]], ['iset', 'm', 'e']))[0]), [{ iset: 3, m: ['map', [['a', 1]]], e: ['set', []] }]);
  });

  it('drops duplicate rows when _uuid is not selected, and sorts on request', () => {
    const db = seeded();
    assert.deepEqual(rowsOf(ok(db, select('V', [], ['str']))[0]), [{ str: 'a' }]);
    const sorted = ok(db, { op: 'select', table: 'V', where: [], columns: ['i'], sort: ['i'] })[0];
    assert.deepEqual(rowsOf(sorted), [{ i: 1 }, { i: 2 }]);
  });

  it('evaluates every condition function', () => {
    const db = seeded();
    assert.deepEqual(is(db, [['i', '<', 2]]), [1]);
    assert.deepEqual(is(db, [['i', '<=', 2]]), [1, 2]);
    assert.deepEqual(is(db, [['i', '>', 1]]), [2]);
    assert.deepEqual(is(db, [['i', '>=', 2], ['i', '<=', 2]]), [2]);
    assert.deepEqual(is(db, [['i', '!=', 1]]), [2]);
    assert.deepEqual(is(db, [['e', '<', 3]]), [1], 'an empty optional never compares');
    assert.deepEqual(is(db, [['e', '==', ['set', []]]]), [2]);
    assert.deepEqual(is(db, [['iset', '==', ['set', [2, 1]]]]), [1]);
    assert.deepEqual(is(db, [['iset', 'includes', 1]]), [1]);
    assert.deepEqual(is(db, [['iset', 'includes', ['set', []]]]), [1, 2]);
    assert.deepEqual(is(db, [['iset', 'excludes', ['set', [1, 3]]]]), []);
    assert.deepEqual(is(db, [['iset', 'excludes', ['set', [1, 2, 4, 5, 6]]]]), [2], 'excludes takes any number of elements');
    assert.deepEqual(is(db, [['m', 'includes', ['map', [['a', 1]]]]]), [1, 2]);
    assert.deepEqual(is(db, [['m', 'includes', ['map', [['b', 3]]]]]), [], 'map includes compares values too');
    assert.deepEqual(is(db, [['m', 'excludes', ['map', [['b', 2]]]]]), [2]);
    assert.deepEqual(is(db, [['i', 'includes', 1]]), [1]);
    assert.deepEqual(is(db, [['i', 'excludes', 1]]), [2]);
    assert.deepEqual(is(db, [true]), [1, 2]);
    assert.deepEqual(is(db, [true, false]), []);
    assert.deepEqual(is(db, [['_uuid', '==', named('nowhere')]]), []);
  });

  it('reports condition errors', () => {
    const db = seeded();
    fails(db, [select('V', [['i', 'foo', 1]])], 'unknown function', 'No function named foo.');
    assert.deepEqual(errorOf(tx(db, select('V', [['i', '==']]))), { error: 'syntax error', details: 'Parse error in condition.', syntax: '["i","=="]' });
    fails(db, [select('V', [5])], 'syntax error', 'Parse error in condition.');
    fails(db, [select('V', [['nope', '==', 1]])], 'unknown column', 'No column nope in table V.');
    fails(db, [select('V', [['str', '<', 'b']])], 'syntax error', 'Type mismatch: "<" operator may not be applied to column str of type string.');
    fails(db, [select('V', [['iset', '<', 3]])], 'syntax error', 'Type mismatch: "<" operator may not be applied to column iset of type set of up to 3 integers.');
    fails(db, [select('V', [['e', '<', ['set', []]]])], 'syntax error', 'set must have exactly one member but 0 are present');
    fails(db, [select('V', [['e', '==', 9]])], 'constraint violation', '9 is not one of the allowed values ([1, 2, 3])');
    fails(db, [select('V', [['iset', 'includes', ['set', [1, 2, 3, 4]]]])], 'syntax error', 'set must have 0 to 3 members but 4 are present');
    fails(db, [select('V', [], ['str', 'str'])], 'syntax error', 'array of distinct column names expected');
    fails(db, [select('V', [], ['nope'])], 'syntax error', 'nope is not a valid column name');
  });

  it('sees the transaction\'s own changes', () => {
    const db = newDb();
    const results = ok(db, insert('V', { i: 5 }, { 'uuid-name': 'a' }), select('V', [['_uuid', '==', named('a')]], ['i']));
    assert.deepEqual(rowsOf(results[1]), [{ i: 5 }]);
  });
});

describe('Database: update, mutate, delete', () => {
  it('update counts matched rows and refuses immutable columns', () => {
    const db = newDb();
    ok(db, insert('V', { i: 1, imm: 'a' }), insert('V', { i: 2 }));
    assert.equal(countOf(ok(db, update('V', [['i', '==', 1]], { str: 'x' }))[0]), 1);
    assert.equal(countOf(ok(db, update('V', [], { str: 'y' }))[0]), 2);
    assert.equal(countOf(ok(db, update('V', [['i', '==', 9]], { str: 'z' }))[0]), 0);
    const e = fails(db, [update('V', [], { imm: 'x' })], 'constraint violation', 'Cannot update immutable column imm in table V.');
    assert.equal(e.syntax, '{"op":"update","row":{"imm":"x"},"table":"V","where":[]}');
    fails(db, [update('V', [], { _uuid: uuid(U1) })], 'constraint violation', 'Cannot update immutable column _uuid in table V.');
    fails(db, [update('V', [], { _version: uuid(U1) })], 'constraint violation', 'Cannot update immutable column _version in table V.');
    fails(db, [update('V', [], { i: 1000 })], 'constraint violation', '1000 is not in the valid range -5 to 100 (inclusive)');
    fails(db, [update('V', [], { nope: 1 })], 'unknown column', 'No column nope in table V.');
  });

  it('mutate: arithmetic on scalars and on each element of sets', () => {
    const db = newDb();
    ok(db, insert('V', { i: 7, iset: ['set', [1, 2]], rl: 1.5, rset: ['set', [1, 2.5]], m: ['map', [['a', 1], ['b', 2]]] }));
    ok(db, mutate('V', [], [['i', '+=', 3], ['iset', '*=', 10], ['rl', '/=', 2], ['rset', '-=', 0.5], ['big', '-=', 1]]));
    assert.deepEqual(rowsOf(ok(db, select('V', [], ['i', 'iset', 'rl', 'rset', 'big']))[0]), [
      { i: 10, iset: ['set', [10, 20]], rl: 0.75, rset: ['set', [0.5, 2]], big: -1 },
    ]);
    ok(db, mutate('V', [], [['i', '%=', 4], ['big', '*=', 7]]));
    assert.deepEqual(rowsOf(ok(db, select('V', [], ['i', 'big']))[0]), [{ i: 2, big: -7 }]);
    ok(db, mutate('V', [], [['big', '/=', 2]]));
    assert.deepEqual(rowsOf(ok(db, select('V', [], ['big']))[0]), [{ big: -3 }], 'integer division truncates toward zero');
  });

  it('mutate: arithmetic errors', () => {
    const db = newDb();
    ok(db, insert('V', { i: 7, iset: ['set', [1, 2]], rl: 1.5 }));
    fails(db, [mutate('V', [], [['i', '/=', 0]])], 'domain error', 'Division by zero.');
    fails(db, [mutate('V', [], [['i', '%=', 0]])], 'domain error', 'Division by zero.');
    fails(db, [mutate('V', [], [['rl', '/=', 0]])], 'domain error', 'Division by zero.');
    fails(db, [mutate('V', [], [['i', '+=', 1000]])], 'constraint violation', '1007 is not in the valid range -5 to 100 (inclusive)');
    fails(db, [mutate('V', [], [['big', '+=', 2n ** 62n]]), mutate('V', [], [['big', '*=', 2]])], 'range error', 'Result of "*=" operation is out of range.');
    fails(db, [mutate('V', [], [['big', '+=', 2n ** 63n - 1n]]), mutate('V', [], [['big', '+=', 1]])], 'range error', 'Result of "+=" operation is out of range.');
    fails(db, [mutate('V', [], [['iset', '*=', 0]])], 'constraint violation', 'Result of "*=" operation contains duplicates.');
    fails(db, [mutate('V', [], [['rl', '%=', 2]])], 'syntax error', 'Type mismatch: "%=" operator may not be applied to column rl of type real.');
    fails(db, [mutate('V', [], [['m', '+=', 1]])], 'syntax error', 'Type mismatch: "+=" operator may not be applied to column m of type map of (string, integer) pairs.');
    fails(db, [mutate('V', [], [['str', 'insert', 'x']])], 'syntax error', 'Type mismatch: "insert" operator may not be applied to column str of type string.');
    fails(db, [mutate('V', [], [['i', '+=', 1.5]])], 'syntax error', 'expected integer');
    fails(db, [mutate('V', [], [['i', 'frob', 1]])], 'unknown mutator', 'No mutator named frob.');
    fails(db, [mutate('V', [], [['i', '+=']])], 'syntax error', 'Parse error in mutation.');
    fails(db, [mutate('V', [], [['nope', '+=', 1]])], 'unknown column', 'No column nope in table V.');
    fails(db, [mutate('V', [], [['imm', 'insert', 'x']])], 'constraint violation', 'Cannot mutate immutable column imm in table V.');
  });

  it('mutate: set and map insert/delete', () => {
    const db = newDb();
    ok(db, insert('V', { iset: ['set', [10, 20]], m: ['map', [['a', 1], ['b', 2]]], iset1: 5 }));
    ok(db, mutate('V', [], [['iset', 'insert', ['set', [20, 40]]], ['m', 'insert', ['map', [['a', 100], ['c', 3]]]]]));
    assert.deepEqual(rowsOf(ok(db, select('V', [], ['iset', 'm']))[0]), [
      { iset: ['set', [10, 20, 40]], m: ['map', [['a', 1], ['b', 2], ['c', 3]]] },
    ], 'map insert never overwrites an existing key');
    ok(db, mutate('V', [], [['iset', 'delete', ['set', [10, 99]]], ['m', 'delete', ['set', ['b', 'zz']]], ['m', 'delete', ['map', [['a', 2], ['c', 3]]]]]));
    assert.deepEqual(rowsOf(ok(db, select('V', [], ['iset', 'm']))[0]), [
      { iset: ['set', [20, 40]], m: ['map', [['a', 1]]] },
    ], 'delete by keys, or by pairs with equal values only');
    fails(db, [mutate('V', [], [['iset', 'insert', ['set', [1, 2]]]])], 'constraint violation', 'Attempted to store 4 elements in set of up to 3 integers.');
    fails(db, [mutate('V', [], [['iset1', 'delete', 5]])], 'constraint violation', 'Attempted to store 0 elements in set of 1 to 3 integers.');
    fails(db, [mutate('V', [], [['m2', 'insert', ['map', [['x', 1], ['y', 2], ['z', 3]]]]])], 'syntax error', 'map must have 0 to 2 members but 3 are present');
    fails(db, [mutate('V', [], [['iset', 'insert', 2000]])], 'constraint violation', '2000 is greater than maximum allowed value 1000');
    fails(db, [mutate('V', [], [['es', 'delete', 'zz']])], 'constraint violation', 'zz is not one of the allowed values ([a, "b c", "true"])');
  });

  it('delete counts rows and leaves the rest', () => {
    const db = newDb();
    ok(db, insert('V', { i: 1 }), insert('V', { i: 2 }));
    assert.equal(countOf(ok(db, remove('V', [['i', '==', 1]]))[0]), 1);
    assert.equal(countOf(ok(db, remove('V', [['i', '==', 1]]))[0]), 0);
    assert.deepEqual(rowsOf(ok(db, select('V', [], ['i']))[0]), [{ i: 2 }]);
  });
});

describe('Database: wait, commit, abort, comment, assert', () => {
  const wait = (rows: unknown[], until = '==', timeout?: number, columns: string[] = ['i']): unknown => ({
    op: 'wait',
    table: 'V',
    where: [],
    columns,
    until,
    rows,
    ...(timeout === undefined ? {} : { timeout }),
  });

  it('wait compares the selected rows as sets of distinct rows', () => {
    const db = newDb();
    ok(db, insert('V', { i: 1 }), insert('V', { i: 2 }));
    ok(db, wait([{ i: 2 }, { i: 1 }, { i: 1 }], '==', 0));
    ok(db, wait([{ i: 2 }], '!=', 0));
    ok(db, wait([{ i: 1, str: 'ignored, not in columns' }, { i: 2 }], '==', 0));
    fails(db, [wait([{ i: 1 }], '==', 0)], 'timed out', '"where" clause test failed');
    fails(db, [wait([{ i: 1 }, { i: 2 }], '!=', 0)], 'timed out', '"where" clause test failed');
    fails(db, [wait([{ i: 1 }], '==', 0, ['i', 'str']), select('V')], 'timed out');
  });

  it('wait with a timeout blocks, then times out once the time has passed', () => {
    const db = newDb();
    ok(db, insert('V', { i: 1 }));
    const blocked = db.execute([wait([{ i: 3 }], '==', 200)], NO_LOCKS);
    assert.deepEqual(blocked, { kind: 'blocked', retryInMs: 200 });
    const later = db.execute([wait([{ i: 3 }], '==', 200)], { ...NO_LOCKS, elapsedMs: 250 });
    assert.ok(later.kind === 'done');
    assert.deepEqual(later.results, [{ error: 'timed out', details: '"wait" timed out after 250 ms' }]);
    assert.deepEqual(db.execute([wait([{ i: 3 }])], NO_LOCKS), { kind: 'blocked', retryInMs: Infinity }, 'no timeout: forever');
  });

  it('wait errors', () => {
    const db = newDb();
    fails(db, [wait([], '<', 0)], 'syntax error', '"until" must be "==" or "!="');
    fails(db, [wait([], '==', -1)], 'syntax error', 'timeout must be nonnegative');
    fails(db, [wait([], '==', 1.5)], 'syntax error', "Parsing ovsdb operation 1 of 1 failed: Type mismatch for member 'timeout'.");
    fails(db, [wait([5], '==', 0)], 'syntax error', 'row must be JSON object');
    fails(db, [wait([{ nope: 1 }], '==', 0)], 'unknown column', 'No column nope in table V.');
  });

  it('commit and comment succeed with {}; assert needs the lock', () => {
    const db = newDb();
    assert.deepEqual(ok(db, { op: 'commit', durable: false }, { op: 'commit', durable: true }, { op: 'comment', comment: 'hi' }), [{}, {}, {}]);
    fails(db, [{ op: 'assert', lock: 'l' }], 'not owner', 'Asserted lock l not held.');
    const owner = db.execute([{ op: 'assert', lock: 'l' }], { elapsedMs: 0, isLockOwner: (l) => l === 'l' });
    assert.deepEqual(owner.kind === 'done' ? owner.results : undefined, [{}]);
    fails(db, [{ op: 'assert', lock: '0x' }], 'syntax error', "Parsing ovsdb operation 1 of 1 failed: Type mismatch for member 'lock'.");
  });

  it('abort discards the transaction', () => {
    const db = newDb();
    fails(db, [insert('V', { i: 1 }), { op: 'abort' }], 'aborted', 'aborted by request');
    assert.deepEqual(rowsOf(ok(db, select('V'))[0]), []);
  });
});

describe('Database: commit checks', () => {
  it('strong references must exist; referenced rows cannot be deleted', () => {
    const db = newDb();
    const [r] = tx(db, insert('R', { name: 'r', weak1: uuid(U2), strong: uuid(U1) }));
    fails(db, [insert('R', { name: 'r', strong: uuid(U1) })], 'referential integrity violation', new RegExp(`^Table R column strong row [0-9a-f-]{36} references nonexistent row ${U1} in table N\\.$`));
    assert.ok(r);
    // An unknown named-uuid is a fresh uuid that matches no row.
    fails(db, [insert('R', { name: 'r', strong: named('ghost') })], 'referential integrity violation', /references nonexistent row/);
    const [n] = ok(db, insert('N', { name: 'n' }, { 'uuid-name': 'n' }), insert('R2', {}, { 'uuid-name': 'x' }), insert('R', { name: 'r', strong: named('n'), weak1: named('x') }));
    fails(db, [remove('N', [])], 'referential integrity violation', `cannot delete N row ${uuidOf(n)} because of 1 remaining reference(s)`);
    ok(db, update('R', [], { strong: ['set', []] }), remove('N', []));
  });

  it('checks references before garbage collection, as ovsdb-server does', () => {
    // The Port that still refers to the QoS is collected only after the check.
    const db = newDb();
    const [n1] = ok(
      db,
      insert('N', { name: 'n1' }, { 'uuid-name': 'n1' }),
      insert('N', { name: 'n2', next: named('n1') }, { 'uuid-name': 'n2' }),
      insert('R2', {}, { 'uuid-name': 'x' }),
      insert('R', { name: 'r', strong: named('n2'), weak1: named('x') }),
    );
    fails(db, [update('R', [], { strong: ['set', []] }), remove('N', [['name', '==', 'n1']])], 'referential integrity violation', `cannot delete N row ${uuidOf(n1)} because of 1 remaining reference(s)`);
    ok(db, update('R', [], { strong: ['set', []] }), remove('N', []));
  });

  it('collects unreferenced non-root rows, cascading; cycles survive, self-references do not', () => {
    const db = newDb();
    ok(db, insert('N', { name: 'orphan' }));
    assert.deepEqual(rowsOf(ok(db, select('N', [], ['name']))[0]), [], 'a non-root row nobody references is gone at commit');
    ok(db, insert('N', { name: 'self', next: named('s') }, { 'uuid-name': 's' }));
    assert.deepEqual(rowsOf(ok(db, select('N', [], ['name']))[0]), []);
    ok(db, insert('N', { name: 'c1', next: named('c2') }, { 'uuid-name': 'c1' }), insert('N', { name: 'c2', next: named('c1') }, { 'uuid-name': 'c2' }));
    assert.equal(rowsOf(ok(db, select('N', [], ['name']))[0]).length, 2, 'reference counting keeps a cycle');
    ok(
      db,
      insert('N', { name: 'a' }, { 'uuid-name': 'a' }),
      insert('N', { name: 'b', next: named('a') }, { 'uuid-name': 'b' }),
      insert('R2', {}, { 'uuid-name': 'x' }),
      insert('R', { name: 'r', strong: named('b'), weak1: named('x') }),
    );
    assert.equal(rowsOf(ok(db, select('N', [], ['name']))[0]).length, 4);
    ok(db, update('R', [], { strong: ['set', []] }));
    const names = rowsOf(ok(db, select('N', [], ['name']))[0]).map((r) => r.name).sort();
    assert.deepEqual(names, ['c1', 'c2'], 'b, then a (only b referenced it), were collected');
  });

  it('never collects rows of root tables', () => {
    const db = newDb();
    ok(db, insert('R2', { name: 'lonely' }));
    assert.equal(rowsOf(ok(db, select('R2'))[0]).length, 1);
  });

  it('removes weak references to deleted or missing rows, then re-checks the minimum size', () => {
    const db = newDb();
    const [x, y] = ok(db, insert('R2', { name: 'x' }, { 'uuid-name': 'x' }), insert('R2', { name: 'y' }, { 'uuid-name': 'y' }));
    const [r] = ok(db, insert('R', { name: 'r', weak1: ['set', [uuid(uuidOf(x)), uuid(uuidOf(y))]], wmap: ['map', [['k', uuid(uuidOf(x))], ['j', uuid(uuidOf(y))]]] }));
    ok(db, remove('R2', [['name', '==', 'x']]));
    assert.deepEqual(rowsOf(ok(db, select('R', [], ['weak1', 'wmap']))[0]), [{ weak1: ['uuid', uuidOf(y)], wmap: ['map', [['j', ['uuid', uuidOf(y)]]]] }]);
    fails(db, [remove('R2', [])], 'constraint violation',
      `Deletion of 1 weak reference(s) to deleted (or never-existing) rows from column "weak1" in "R" row ${uuidOf(r)} caused this column to become empty, but constraints on this column disallow an empty column.`);
    ok(db, update('R', [], { weak: uuid(U1) }));
    assert.deepEqual(rowsOf(ok(db, select('R', [], ['weak']))[0]), [{ weak: ['set', []] }], 'a weak reference to a row that never existed is dropped');
    fails(db, [insert('R', { name: 'r3', weak1: uuid(U1) })], 'constraint violation', /^Deletion of 1 weak reference\(s\) .* row [0-9a-f-]{36} \(inserted within this transaction\) caused this column to become empty/);
    fails(db, [insert('R', { name: 'r4' })], 'constraint violation',
      /^Weak reference column "weak1" in "R" row [0-9a-f-]{36} \(inserted within this transaction\) contained all-zeros UUID \(probably as the default value for this column\) but deleting this value caused a constraint volation because this column is not allowed to be empty\.$/);
  });

  it('keeps reference counts and indexes right across failed transactions', () => {
    const db = newDb();
    const [n] = ok(db, insert('N', { name: 'n' }, { 'uuid-name': 'n' }), insert('R2', {}, { 'uuid-name': 'x' }), insert('R', { name: 'a', strong: named('n'), weak1: named('x') }));
    fails(db, [update('R', [], { strong: ['set', []], name: 'b' }), { op: 'abort' }], 'aborted');
    fails(db, [update('R', [], { strong: ['set', []] }), insert('V', { i: 1000 })], 'constraint violation');
    fails(db, [remove('N', [])], 'referential integrity violation', `cannot delete N row ${uuidOf(n)} because of 1 remaining reference(s)`);
    const x = rowsOf(ok(db, select('R2', [], ['_uuid']))[0])[0]?._uuid;
    fails(db, [insert('R', { name: 'a', weak1: x })], 'constraint violation', /identical values \(a\)/);
    ok(db, insert('R', { name: 'b', weak1: x }));
    ok(db, update('R', [['name', '==', 'a']], { name: 'c' }));
    ok(db, insert('R', { name: 'a', weak1: x }));
    fails(db, [insert('R', { name: 'c', weak1: x })], 'constraint violation', /identical values \(c\)/);
  });

  it('enforces indexes, describing both rows like ovsdb-server', () => {
    const db = newDb();
    const [a] = ok(db, insert('R2', {}, { 'uuid-name': 'x' }), insert('R', { name: 'a', weak1: named('x') }));
    const x = uuidOf(a);
    const e = fails(db, [insert('R', { name: 'a', weak1: uuid(x) })], 'constraint violation');
    assert.match(e.details ?? '', /^Transaction causes multiple rows in "R" table to have identical values \(a\) for index on column "name"\. {2}(First|Second) row, with UUID [0-9a-f-]{36}, /);
    assert.match(e.details ?? '', /was inserted by this transaction\./);
    assert.match(e.details ?? '', /existed in the database before this transaction and was not modified by the transaction\./);
    ok(db, insert('R', { name: 'b', weak1: uuid(x) }));
    const moved = fails(db, [update('R', [['name', '==', 'b']], { name: 'a' })], 'constraint violation');
    assert.match(moved.details ?? '', /had the following index values before the transaction: b\./);
    const both = fails(db, [insert('R', { name: '0 c', weak1: uuid(x) }), insert('R', { name: '0 c', weak1: uuid(x) })], 'constraint violation');
    assert.match(both.details ?? '', /identical values \("0 c"\)/, 'values print quoted when they are not bare words');
    // Swapping names within one transaction is fine.
    ok(db, update('R', [['name', '==', 'a']], { name: 'tmp' }), update('R', [['name', '==', 'b']], { name: 'a' }), update('R', [['name', '==', 'tmp']], { name: 'b' }));
  });
});

describe('Database: versions and history', () => {
  const versionOf = (db: Database): unknown => rowsOf(ok(db, select('V', [], ['_version']))[0])[0]?._version;

  it('gives a row a new _version on every change, and none for a change that changes nothing', () => {
    const db = newDb();
    ok(db, insert('V', { i: 1 }));
    const v1 = versionOf(db);
    ok(db, update('V', [], { i: 1 }), mutate('V', [], [['i', '+=', 0]]));
    assert.deepEqual(versionOf(db), v1);
    ok(db, update('V', [], { i: 2 }));
    assert.notDeepEqual(versionOf(db), v1);
  });

  it('commits only real changes, with a new transaction id each time', () => {
    const db = newDb();
    const before = db.lastTxnId;
    assert.notEqual(before, '00000000-0000-0000-0000-000000000000');
    const first = db.execute([insert('V', { i: 1 })], NO_LOCKS);
    assert.ok(first.kind === 'done' && first.commit);
    assert.equal(db.lastTxnId, first.commit.txnId);
    const noop = db.execute([update('V', [], { i: 1 })], NO_LOCKS);
    assert.ok(noop.kind === 'done' && noop.commit === undefined);
    assert.equal(db.lastTxnId, first.commit.txnId);
    const inserted = [...first.commit.changes.get('V')?.values() ?? []];
    assert.equal(inserted.length, 1);
    assert.equal(inserted[0]?.old, undefined);
  });

  it('merges the changes since a known transaction id; unknown ids are not found', () => {
    const db = newDb(4);
    const start = db.lastTxnId;
    ok(db, insert('V', { i: 1 }));
    const afterInsert = db.lastTxnId;
    ok(db, update('V', [], { i: 2 }));
    ok(db, insert('V', { i: 3 }));
    assert.deepEqual(db.changesSince(db.lastTxnId), new Map(), 'up to date: nothing to send');
    const since = db.changesSince(afterInsert);
    assert.ok(since);
    const rows = [...(since.get('V')?.values() ?? [])];
    assert.equal(rows.length, 2);
    assert.equal(rows.filter((c) => c.old === undefined).length, 1, 'the row inserted since then is an insert');
    assert.equal(db.changesSince(U1), undefined, 'an id this server never issued');
    ok(db, update('V', [['i', '==', 3]], { i: 4 }));
    assert.ok(db.changesSince(start), 'four commits remembered: the id before the first is still known');
    ok(db, remove('V', [['i', '==', 4]]));
    assert.equal(db.changesSince(start), undefined, 'fell out of the bounded history');
    const merged = db.changesSince(afterInsert);
    assert.equal(merged?.get('V')?.size, 1, 'a row inserted and deleted since then is not reported');
  });

  it('without history it behaves like a standalone ovsdb-server (zero ids, never found)', () => {
    const db = newDb(0);
    assert.equal(db.lastTxnId, '00000000-0000-0000-0000-000000000000');
    ok(db, insert('V', {}));
    assert.equal(db.lastTxnId, '00000000-0000-0000-0000-000000000000');
    assert.equal(db.changesSince(db.lastTxnId), undefined);
  });

  it('a read-only database refuses writes with "not allowed"', () => {
    const db = newDb();
    db.readOnly = true;
    fails(db, [insert('V', {})], 'not allowed', 'insert operation not allowed on table in reserved database T');
    ok(db, select('V'));
  });
});
