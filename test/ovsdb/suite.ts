/**
 * The OVSDB behaviour suite: what OvsdbClient sees from a server speaking the
 * Open_vSwitch database, run unchanged against the real ovsdb-server
 * (real-server.test.ts) and the in-process server (in-process-server.test.ts).
 * The real server is the reference: where the two differ, the in-process
 * server is wrong.
 *
 * The server must hold an initialized Open_vSwitch database (one
 * Open_vSwitch row). All tests of one run share the server; every test tags
 * its rows (external_ids / unique names) so tests never see each other's rows.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient, type OvsdbClientOptions } from '../../src/ovsdb/client.ts';
import { namedUuid } from '../../src/ovsdb/datum.ts';
import {
  ConstraintViolationError,
  DomainError,
  DuplicateUuidError,
  DuplicateUuidNameError,
  NotOwnerError,
  OvsdbAbortError,
  OvsdbConnectionError,
  OvsdbRangeError,
  OvsdbRpcError,
  OvsdbSchemaError,
  OvsdbSyntaxError,
  OvsdbTimeoutError,
  ReferentialIntegrityViolationError,
  TransactionAbortedError,
  UnknownColumnError,
  WaitTimedOutError,
  type OvsdbTransactionError,
} from '../../src/ovsdb/errors.ts';
import {
  abort,
  assertLock,
  byUuid,
  comment,
  commit,
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
  type Condition,
  type Mutator,
  type Operation,
  type Row,
} from '../../src/ovsdb/operations.ts';
import { startStreamProxy, type StreamProxy } from '../harness/stream-proxy.ts';

export interface SuiteServer {
  /** Endpoints of the same server; the first one is used by most tests. */
  endpoints: string[];
  stop(): Promise<void>;
  /** Kill + start again on the same endpoints, keeping the data. */
  restart?(): Promise<void>;
}

const DB = 'Open_vSwitch';
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

type ErrorClass<E> = abstract new (...args: never[]) => E;

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.constructor.name}: ${error.message}`;
  return String(error);
}

/** Awaits `promise`, asserts it rejects with an instance of `cls` and returns the error. */
async function rejectsWith<E>(promise: Promise<unknown>, cls: ErrorClass<E>): Promise<E> {
  let result: unknown;
  try {
    result = await promise;
  } catch (error) {
    assert.ok(error instanceof cls, `expected ${cls.name}, got ${describeError(error)}`);
    return error;
  }
  return assert.fail(`expected ${cls.name}, but it resolved with ${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? `${v.toString()}n` : v))}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

function tag(): string {
  return randomBytes(5).toString('hex');
}

function wireOf(error: OvsdbTransactionError): { op?: unknown; table?: unknown } {
  return error.operation as { op?: unknown; table?: unknown };
}

/** One notification as the client emitted it. */
interface Notification {
  method: string;
  params: unknown;
}

function collectNotifications(client: OvsdbClient): Notification[] {
  const list: Notification[] = [];
  client.on('notification', (method, params) => list.push({ method, params }));
  return list;
}

/** Table updates (update2 format) of one table, from a monitor reply or notification. */
type RowUpdates = Record<string, Record<string, Record<string, unknown> | null>>;

function tableUpdates(updates: unknown, table: string): RowUpdates {
  const t = (updates as Record<string, unknown> | undefined)?.[table];
  return (t ?? {}) as RowUpdates;
}

export function runOvsdbBehaviourSuite(name: string, start: () => Promise<SuiteServer>): void {
  describe(name, () => {
    let server: SuiteServer;
    let endpoint: string;
    let client: OvsdbClient;
    let ovsUuid: string;
    const clients: OvsdbClient[] = [];
    const proxies: StreamProxy[] = [];

    const connect = async (options: Partial<OvsdbClientOptions> = {}): Promise<OvsdbClient> => {
      const c = await OvsdbClient.connect({ endpoint, reconnect: { initialDelayMs: 50, maxDelayMs: 400 }, ...options });
      clients.push(c);
      return c;
    };
    const proxy = async (): Promise<StreamProxy> => {
      const p = await startStreamProxy(endpoint);
      proxies.push(p);
      return p;
    };
    const rowsOf = async (table: string, where: readonly Condition[], columns?: string[]): Promise<Row[]> => {
      const [result] = await client.transact(DB, [select(table, where, columns)]);
      return result?.rows ?? [];
    };
    /** Ops that insert a bridge (referenced from Open_vSwitch, so it persists) with one port+interface per name. */
    const bridgeOps = (bridge: string, ports: { name: string; row?: Row; iface?: Row }[], t: string): Operation[] => {
      const ops: Operation[] = [];
      ports.forEach((p, i) => {
        ops.push(insert('Interface', { name: p.name, external_ids: { t }, ...p.iface }, { uuidName: `i${String(i)}` }));
        ops.push(
          insert('Port', { name: p.name, interfaces: [namedUuid(`i${String(i)}`)], external_ids: { t }, ...p.row }, { uuidName: `p${String(i)}` }),
        );
      });
      ops.push(
        insert('Bridge', { name: bridge, ports: ports.map((_, i) => namedUuid(`p${String(i)}`)), external_ids: { t } }, { uuidName: 'br' }),
      );
      ops.push(mutate('Open_vSwitch', byUuid(ovsUuid), [['bridges', 'insert', [namedUuid('br')]]]));
      return ops;
    };

    before(async () => {
      server = await start();
      assert.ok(server.endpoints.length > 0, 'the server has an endpoint');
      endpoint = server.endpoints[0] as string;
      client = await connect();
      const [result] = await client.transact(DB, [select('Open_vSwitch', [], ['_uuid'])]);
      assert.equal(result?.rows?.length, 1, 'the database is initialized: exactly one Open_vSwitch row');
      ovsUuid = result.rows[0]?._uuid as string;
    });

    after(async () => {
      for (const c of clients) c.close();
      for (const p of proxies) await p.close();
      await server.stop();
    });

    describe('connection, list_dbs, get_schema, echo', () => {
      it('every endpoint answers list_dbs with the Open_vSwitch database', async () => {
        for (const e of server.endpoints) {
          const c = await connect({ endpoint: e });
          const dbs = await c.listDbs();
          assert.ok(dbs.includes(DB), `${e}: ${dbs.join(', ')}`);
          c.close();
        }
      });

      it('a change made through one endpoint is visible through every endpoint', async () => {
        const t = tag();
        await client.transact(DB, [insert('Queue', { external_ids: { t } })]);
        for (const e of server.endpoints) {
          const c = await connect({ endpoint: e });
          const [r] = await c.transact(DB, [select('Queue', [includes('external_ids', { t })])]);
          assert.equal(r?.rows?.length, 1, e);
          c.close();
        }
      });

      it('get_schema returns the vswitch schema, parsed', async () => {
        const schema = await client.getSchema(DB);
        assert.equal(schema.name, DB);
        assert.match(schema.version, /^[0-9]+\.[0-9]+\.[0-9]+$/);
        for (const table of ['Open_vSwitch', 'Bridge', 'Port', 'Interface', 'QoS', 'Queue']) {
          assert.ok(schema.tables.has(table), `table ${table}`);
        }
        assert.equal(schema.tables.get('Open_vSwitch')?.isRoot, true);
        assert.equal(schema.tables.get('QoS')?.isRoot, true);
        assert.equal(schema.tables.get('Queue')?.isRoot, true);
        assert.equal(schema.tables.get('Bridge')?.isRoot, false);
        assert.equal(schema.tables.get('Port')?.isRoot, false);
        assert.equal(schema.tables.get('Interface')?.isRoot, false);
        assert.deepEqual(schema.tables.get('Bridge')?.indexes, [['name']]);
        const queues = schema.tables.get('QoS')?.columns.get('queues');
        assert.equal(queues?.kind, 'map');
        assert.equal(queues.type.key.type, 'integer');
        assert.equal(queues.type.value?.refTable, 'Queue');
        assert.equal(schema.tables.get('Port')?.columns.get('interfaces')?.type.min, 1);
        assert.equal(schema.tables.get('Port')?.columns.get('name')?.mutable, false);
        assert.equal(schema.tables.get('Queue')?.columns.get('dscp')?.type.key.maxInteger, 63);
        assert.equal(schema.tables.get('Interface')?.columns.get('ingress_policing_rate')?.type.key.minInteger, 0);
        assert.ok(schema.cksum === undefined || typeof schema.cksum === 'string');
      });

      it('get_schema of an unknown database fails with OvsdbRpcError', async () => {
        const error = await rejectsWith(client.getSchema('No_Such_Db'), OvsdbRpcError);
        assert.equal(error.method, 'get_schema');
        assert.equal((error.error as { error?: unknown }).error, 'unknown database');
      });

      it('transact on an unknown database fails with OvsdbRpcError', async () => {
        const error = await rejectsWith(client.transactWire('No_Such_Db', [{ op: 'comment', comment: 'x' }]), OvsdbRpcError);
        assert.equal((error.error as { error?: unknown }).error, 'unknown database');
      });

      it('an unknown method fails with OvsdbRpcError and the connection stays usable', async () => {
        await rejectsWith(client.call('no_such_method', []), OvsdbRpcError);
        assert.deepEqual(await client.echo(['still', 'here']), ['still', 'here']);
      });

      it('echo returns its params', async () => {
        assert.deepEqual(await client.echo(['a', 1, { b: [true, null] }]), ['a', 1, { b: [true, null] }]);
        assert.deepEqual(await client.echo([]), []);
      });

      it('a typo in a column name or a wrongly typed value is refused client-side, before sending', async () => {
        const p = await proxy();
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 0 });
        await c.getSchema(DB);
        await c.echo(['sync']);
        const sent = p.bytesToServer;
        const typo = await rejectsWith(c.transact(DB, [insert('QoS', { tpye: 'linux-htb' })]), OvsdbSchemaError);
        assert.equal(typo.table, 'QoS');
        assert.equal(typo.column, 'tpye');
        await rejectsWith(c.transact(DB, [insert('Qos', {})]), OvsdbSchemaError);
        const wrongType = await rejectsWith(c.transact(DB, [insert('QoS', { other_config: { 'max-rate': 100_000_000 } })]), OvsdbSchemaError);
        assert.match(wrongType.message, /QoS\.other_config\[max-rate\]/);
        await rejectsWith(c.transact(DB, [insert('Queue', { dscp: 'high' })]), OvsdbSchemaError);
        await rejectsWith(c.transact(DB, [select('Queue', [eq('dcsp', 1)])]), OvsdbSchemaError);
        await rejectsWith(c.transact(DB, [update('Port', [eq('name', 'x')], { name: 'y' })]), OvsdbSchemaError);
        await rejectsWith(c.transact(DB, [insert('Queue', {}), insert('Queue', { nope: 1 })]), OvsdbSchemaError);
        await sleep(50);
        assert.equal(p.bytesToServer, sent, 'nothing was sent for the refused transactions');
        c.close();
      });
    });

    describe('operations and their results', () => {
      it('insert with uuid-name references, and one result per operation', async () => {
        const t = tag();
        const results = await client.transact(DB, [
          insert('Queue', { dscp: 10, other_config: { 'min-rate': '1000' }, external_ids: { t } }, { uuidName: 'q0' }),
          insert('Queue', { external_ids: { t } }, { uuidName: 'q1' }),
          insert('QoS', { type: 'linux-htb', queues: { 0: namedUuid('q0'), 7: namedUuid('q1') }, external_ids: { t } }, { uuidName: 's' }),
          select('QoS', [eq('_uuid', namedUuid('s'))], ['type', 'queues']),
          comment(`suite ${t}`),
        ]);
        assert.equal(results.length, 5);
        const [q0, q1, s, sel, com] = results;
        for (const r of [q0, q1, s]) assert.match(r?.uuid ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.deepEqual(com, {});
        assert.deepEqual(sel?.rows, [{ type: 'linux-htb', queues: new Map([[0, q0?.uuid], [7, q1?.uuid]]) }]);
        const queues = await rowsOf('Queue', [includes('external_ids', { t })], ['_uuid', 'dscp', 'other_config']);
        assert.equal(queues.length, 2);
        const first = queues.find((q) => q._uuid === q0?.uuid);
        assert.equal(first?.dscp, 10);
        assert.deepEqual(first.other_config, new Map([['min-rate', '1000']]));
        assert.equal(queues.find((q) => q._uuid === q1?.uuid)?.dscp, undefined);
      });

      it('a named-uuid may be referenced before the insert that defines it', async () => {
        const t = tag();
        const [s, q] = await client.transact(DB, [
          insert('QoS', { type: 'linux-htb', queues: { 1: namedUuid('later') }, external_ids: { t } }),
          insert('Queue', { external_ids: { t } }, { uuidName: 'later' }),
        ]);
        const [row] = await rowsOf('QoS', byUuid(s?.uuid as string), ['queues']);
        assert.deepEqual(row?.queues, new Map([[1, q?.uuid]]));
      });

      it('insert with a client-chosen uuid; a second insert with it fails with DuplicateUuidError', async () => {
        const uuid = `${randomBytes(4).toString('hex')}-1111-4222-8333-${randomBytes(6).toString('hex')}`;
        const [r] = await client.transact(DB, [insert('Queue', { external_ids: { t: tag() } }, { uuid })]);
        assert.equal(r?.uuid, uuid);
        const error = await rejectsWith(client.transact(DB, [insert('Queue', {}, { uuid })]), DuplicateUuidError);
        assert.equal(error.operationIndex, 0);
        assert.equal(error.atCommit, false);
      });

      it('select with ==, !=, <, <=, >, >= on integers and includes/excludes on maps and sets', async () => {
        const t = tag();
        await client.transact(
          DB,
          bridgeOps(
            `br-sel-${t}`,
            [
              { name: `sa-${t}`, row: { bond_updelay: 10, trunks: [1, 2, 3], external_ids: { t, role: 'a', zone: 'z1' } } },
              { name: `sb-${t}`, row: { bond_updelay: 20, trunks: [2], external_ids: { t, role: 'b', zone: 'z1' } } },
              { name: `sc-${t}`, row: { bond_updelay: 30, trunks: [], external_ids: { t, role: 'c' } } },
            ],
            t,
          ),
        );
        const names = async (...where: Condition[]): Promise<string[]> =>
          (await rowsOf('Port', [includes('external_ids', { t }), ...where], ['name'])).map((r) => r.name as string).sort();
        const n = (x: string): string => `${x}-${t}`;
        assert.deepEqual(await names(), [n('sa'), n('sb'), n('sc')]);
        assert.deepEqual(await names(eq('bond_updelay', 20)), [n('sb')]);
        assert.deepEqual(await names(ne('bond_updelay', 20)), [n('sa'), n('sc')]);
        assert.deepEqual(await names(lt('bond_updelay', 20)), [n('sa')]);
        assert.deepEqual(await names(le('bond_updelay', 20)), [n('sa'), n('sb')]);
        assert.deepEqual(await names(gt('bond_updelay', 20)), [n('sc')]);
        assert.deepEqual(await names(ge('bond_updelay', 20)), [n('sb'), n('sc')]);
        assert.deepEqual(await names(includes('external_ids', { zone: 'z1' })), [n('sa'), n('sb')]);
        assert.deepEqual(await names(includes('external_ids', { zone: 'z1', role: 'b' })), [n('sb')]);
        assert.deepEqual(await names(includes('external_ids', { zone: 'z2' })), []);
        assert.deepEqual(await names(excludes('external_ids', { zone: 'z1' })), [n('sc')]);
        assert.deepEqual(await names(eq('external_ids', { t, role: 'c' })), [n('sc')], '== on a map is exact equality');
        assert.deepEqual(await names(eq('external_ids', { role: 'c' })), [], 'a subset is not equal');
        assert.deepEqual(await names(includes('trunks', [2])), [n('sa'), n('sb')]);
        assert.deepEqual(await names(includes('trunks', [1, 3])), [n('sa')]);
        assert.deepEqual(await names(excludes('trunks', [2])), [n('sc')]);
        assert.deepEqual(await names(eq('trunks', [])), [n('sc')]);
        assert.deepEqual(await names(eq('name', n('sb'))), [n('sb')]);
        const [withColumns] = await rowsOf('Port', [eq('name', n('sa'))], ['name', 'trunks']);
        assert.deepEqual(Object.keys(withColumns ?? {}).sort(), ['name', 'trunks'], 'only the requested columns');
        assert.deepEqual([...(withColumns?.trunks as number[])].sort(), [1, 2, 3]);
        const [all] = await rowsOf('Port', [eq('name', n('sa'))]);
        assert.ok(all && '_uuid' in all && '_version' in all && 'interfaces' in all, 'no columns = every column');
      });

      it('update returns the number of matched rows', async () => {
        const t = tag();
        await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { t } }), insert('Queue', { dscp: 2, external_ids: { t } })]);
        const [all] = await client.transact(DB, [update('Queue', [includes('external_ids', { t })], { other_config: { x: 'y' } })]);
        assert.equal(all?.count, 2);
        const [one] = await client.transact(DB, [update('Queue', [includes('external_ids', { t }), eq('dscp', 1)], { dscp: 5 })]);
        assert.equal(one?.count, 1);
        const [none] = await client.transact(DB, [update('Queue', [includes('external_ids', { t }), eq('dscp', 63)], { dscp: 0 })]);
        assert.equal(none?.count, 0);
        const rows = await rowsOf('Queue', [includes('external_ids', { t })], ['dscp', 'other_config']);
        assert.deepEqual(rows.map((r) => r.dscp).sort(), [2, 5]);
        for (const r of rows) assert.deepEqual(r.other_config, new Map([['x', 'y']]));
        const [cleared] = await client.transact(DB, [update('Queue', [includes('external_ids', { t }), eq('dscp', 5)], { dscp: undefined })]);
        assert.equal(cleared?.count, 1);
        assert.deepEqual((await rowsOf('Queue', [includes('external_ids', { t })], ['dscp'])).map((r) => r.dscp).sort(), [2, undefined]);
      });

      it('mutate on maps: a plain insert does NOT overwrite a key, setMapKeys does; delete by key and by pair', async () => {
        const t = tag();
        const [q] = await client.transact(DB, [insert('Queue', { external_ids: { t }, other_config: { a: '1' } })]);
        const where = byUuid(q?.uuid as string);
        const config = async (): Promise<unknown> => (await rowsOf('Queue', where, ['other_config']))[0]?.other_config;
        const [r1] = await client.transact(DB, [mutate('Queue', where, [['other_config', 'insert', { a: '2', b: '2' }]])]);
        assert.equal(r1?.count, 1);
        assert.deepEqual(await config(), new Map([['a', '1'], ['b', '2']]), 'insert kept a=1 and added b');
        await client.transact(DB, [mutate('Queue', where, setMapKeys('other_config', { a: '3', c: '3' }))]);
        assert.deepEqual(await config(), new Map([['a', '3'], ['b', '2'], ['c', '3']]), 'setMapKeys overwrote a and added c');
        await client.transact(DB, [mutate('Queue', where, [['other_config', 'delete', ['b']]])]);
        assert.deepEqual(await config(), new Map([['a', '3'], ['c', '3']]), 'delete by key');
        await client.transact(DB, [mutate('Queue', where, [['other_config', 'delete', { a: 'wrong' }]])]);
        assert.deepEqual(await config(), new Map([['a', '3'], ['c', '3']]), 'delete by pair needs the value to match');
        await client.transact(DB, [mutate('Queue', where, [['other_config', 'delete', { a: '3' }]])]);
        assert.deepEqual(await config(), new Map([['c', '3']]), 'delete by matching pair');
      });

      it('mutate on sets: insert and delete elements', async () => {
        const t = tag();
        await client.transact(DB, bridgeOps(`br-set-${t}`, [{ name: `st-${t}`, row: { trunks: [5] } }], t));
        const where = [eq('name', `st-${t}`)];
        const trunks = async (): Promise<number[]> =>
          [...((await rowsOf('Port', where, ['trunks']))[0]?.trunks as number[])].sort((a, b) => a - b);
        await client.transact(DB, [mutate('Port', where, [['trunks', 'insert', [1, 5, 9]]])]);
        assert.deepEqual(await trunks(), [1, 5, 9], 'inserting an existing element is a no-op');
        await client.transact(DB, [mutate('Port', where, [['trunks', 'delete', [5, 100]]])]);
        assert.deepEqual(await trunks(), [1, 9], 'deleting a missing element is a no-op');
        const error = await rejectsWith(
          client.transact(DB, [mutate('Port', where, [['tag', 'insert', [1]]]), mutate('Port', where, [['tag', 'insert', [2]]])]),
          ConstraintViolationError,
        );
        assert.equal(error.operationIndex, 1, 'a set above its maximum size');
      });

      it('mutate arithmetic: += -= *= /= %= on an integer column', async () => {
        const t = tag();
        await client.transact(DB, bridgeOps(`br-ar-${t}`, [{ name: `ar-${t}`, row: { bond_updelay: 10 } }], t));
        const where = [eq('name', `ar-${t}`)];
        const value = async (): Promise<unknown> => (await rowsOf('Port', where, ['bond_updelay']))[0]?.bond_updelay;
        const steps: [Mutator, number, number][] = [
          ['+=', 5, 15],
          ['-=', 20, -5],
          ['*=', -6, 30],
          ['/=', 4, 7],
          ['%=', 4, 3],
        ];
        for (const [mutator, operand, expected] of steps) {
          const [r] = await client.transact(DB, [mutate('Port', where, [['bond_updelay', mutator, operand]])]);
          assert.equal(r?.count, 1);
          assert.equal(await value(), expected, `${mutator} ${String(operand)}`);
        }
      });

      it('delete returns the count and removes the rows', async () => {
        const t = tag();
        await client.transact(DB, [insert('Queue', { external_ids: { t } }), insert('Queue', { external_ids: { t } })]);
        const [r] = await client.transact(DB, [remove('Queue', [includes('external_ids', { t })])]);
        assert.equal(r?.count, 2);
        assert.deepEqual(await rowsOf('Queue', [includes('external_ids', { t })]), []);
        const [again] = await client.transact(DB, [remove('Queue', [includes('external_ids', { t })])]);
        assert.equal(again?.count, 0);
      });

      it('wait succeeds when the rows match (==) or differ (!=)', async () => {
        const t = tag();
        const [q] = await client.transact(DB, [insert('Queue', { dscp: 7, external_ids: { t } })]);
        const where = byUuid(q?.uuid as string);
        const results = await client.transact(DB, [
          wait('Queue', where, ['dscp'], [{ dscp: 7 }]),
          wait('Queue', where, ['dscp'], [{ dscp: 8 }], { until: '!=' }),
          wait('Queue', [includes('external_ids', { t: `${t}-none` })], ['dscp'], []),
          update('Queue', where, { dscp: 9 }),
        ]);
        assert.deepEqual(results.slice(0, 3), [{}, {}, {}]);
        assert.equal(results[3]?.count, 1);
      });

      it('a wait that fails fails the transaction with WaitTimedOutError and rolls everything back', async () => {
        const t = tag();
        const [q] = await client.transact(DB, [insert('Queue', { dscp: 7, external_ids: { t } })]);
        const where = byUuid(q?.uuid as string);
        const error = await rejectsWith(
          client.transact(DB, [update('Queue', where, { dscp: 1 }), wait('Queue', where, ['dscp'], [{ dscp: 8 }])]),
          WaitTimedOutError,
        );
        assert.equal(error.operationIndex, 1);
        assert.equal(error.atCommit, false);
        assert.equal(wireOf(error).op, 'wait');
        assert.equal(error.error, 'timed out');
        assert.equal(error.retryable, true);
        assert.equal(error.results.length, 2);
        assert.equal((await rowsOf('Queue', where, ['dscp']))[0]?.dscp, 7, 'the update before the wait was rolled back');
      });

      it('a wait with a timeout blocks until another client makes it true', async () => {
        const t = tag();
        const [q] = await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { t } })]);
        const where = byUuid(q?.uuid as string);
        const other = await connect();
        const started = Date.now();
        const waiting = client.transact(DB, [wait('Queue', where, ['dscp'], [{ dscp: 2 }], { timeout: 10_000 }), update('Queue', where, { dscp: 3 })]);
        await sleep(200);
        await other.transact(DB, [update('Queue', where, { dscp: 2 })]);
        const results = await waiting;
        assert.equal(results[1]?.count, 1);
        assert.ok(Date.now() - started >= 150, 'the wait blocked');
        assert.equal((await rowsOf('Queue', where, ['dscp']))[0]?.dscp, 3);
        other.close();
      });

      it('a wait with a timeout that expires fails with WaitTimedOutError', async () => {
        const t = tag();
        const [q] = await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { t } })]);
        const started = Date.now();
        const error = await rejectsWith(
          client.transact(DB, [wait('Queue', byUuid(q?.uuid as string), ['dscp'], [{ dscp: 2 }], { timeout: 300 })]),
          WaitTimedOutError,
        );
        assert.equal(error.operationIndex, 0);
        assert.ok(Date.now() - started >= 250, `the server waited (${String(Date.now() - started)} ms)`);
      });

      it('comment is accepted and the transaction commits', async () => {
        const t = tag();
        const results = await client.transact(DB, [comment(`cm suite ${t}`), insert('Queue', { external_ids: { t } })]);
        assert.deepEqual(results[0], {});
        assert.equal((await rowsOf('Queue', [includes('external_ids', { t })])).length, 1);
      });

      it('abort fails the transaction with TransactionAbortedError and nothing is committed', async () => {
        const t = tag();
        const error = await rejectsWith(client.transact(DB, [insert('Queue', { external_ids: { t } }), abort()]), TransactionAbortedError);
        assert.equal(error.operationIndex, 1);
        assert.equal(wireOf(error).op, 'abort');
        assert.equal(error.atCommit, false);
        assert.deepEqual(await rowsOf('Queue', [includes('external_ids', { t })]), []);
      });

      it('assert of a lock not held fails with NotOwnerError', async () => {
        const t = tag();
        const error = await rejectsWith(client.transact(DB, [assertLock(`lock_${t}`), insert('Queue', { external_ids: { t } })]), NotOwnerError);
        assert.equal(error.operationIndex, 0);
        assert.equal(wireOf(error).op, 'assert');
        assert.deepEqual(await rowsOf('Queue', [includes('external_ids', { t })]), []);
      });

      it('commit (durable or not) is accepted and the transaction commits', async () => {
        const t = tag();
        const results = await client.transact(DB, [commit(false), insert('Queue', { external_ids: { t } }), commit(true)]);
        assert.deepEqual(results[0], {});
        assert.deepEqual(results[2], {});
        assert.equal((await rowsOf('Queue', [includes('external_ids', { t })])).length, 1);
      });

      it('an empty transaction succeeds with no results', async () => {
        assert.deepEqual(await client.transact(DB, []), []);
      });
    });

    describe('transaction errors: class, operationIndex and atCommit', () => {
      it('a duplicate Bridge name inside one transaction is a constraint violation at commit', async () => {
        const t = tag();
        const ops: Operation[] = [
          insert('Bridge', { name: `dup-${t}` }, { uuidName: 'b1' }),
          insert('Bridge', { name: `dup-${t}` }, { uuidName: 'b2' }),
          mutate('Open_vSwitch', byUuid(ovsUuid), [['bridges', 'insert', [namedUuid('b1'), namedUuid('b2')]]]),
        ];
        const error = await rejectsWith(client.transact(DB, ops), ConstraintViolationError);
        assert.equal(error.atCommit, true);
        assert.equal(error.operationIndex, ops.length, 'the commit error follows the last operation');
        assert.equal(error.operation, undefined);
        assert.equal(error.results.length, ops.length + 1);
        assert.deepEqual(await rowsOf('Bridge', [eq('name', `dup-${t}`)]), []);
      });

      it('a Bridge named like an existing one is a constraint violation at commit', async () => {
        const t = tag();
        await client.transact(DB, bridgeOps(`dup2-${t}`, [], t));
        const ops: Operation[] = [
          insert('Bridge', { name: `dup2-${t}` }, { uuidName: 'b' }),
          mutate('Open_vSwitch', byUuid(ovsUuid), [['bridges', 'insert', [namedUuid('b')]]]),
        ];
        const error = await rejectsWith(client.transact(DB, ops), ConstraintViolationError);
        assert.equal(error.atCommit, true);
        assert.equal(error.operationIndex, 2);
        assert.equal((await rowsOf('Bridge', [eq('name', `dup2-${t}`)])).length, 1);
      });

      it('two unreferenced Bridges with the same name are collected before the index is checked', async () => {
        const t = tag();
        const results = await client.transact(DB, [insert('Bridge', { name: `gcdup-${t}` }), insert('Bridge', { name: `gcdup-${t}` })]);
        assert.equal(results.length, 2);
        assert.deepEqual(await rowsOf('Bridge', [eq('name', `gcdup-${t}`)]), []);
      });

      it('a Port without interfaces fails at commit (its empty reference is a referential integrity violation)', async () => {
        const t = tag();
        const ops: Operation[] = [
          insert('Port', { name: `noif-${t}` }, { uuidName: 'p' }),
          insert('Bridge', { name: `br-noif-${t}`, ports: [namedUuid('p')] }, { uuidName: 'b' }),
          mutate('Open_vSwitch', byUuid(ovsUuid), [['bridges', 'insert', [namedUuid('b')]]]),
        ];
        const error = await rejectsWith(client.transact(DB, ops), ReferentialIntegrityViolationError);
        assert.equal(error.atCommit, true);
        assert.equal(error.operationIndex, 3);
        assert.deepEqual(await rowsOf('Port', [eq('name', `noif-${t}`)]), []);
      });

      it('deleting a Queue still referenced by a QoS is a referential integrity violation at commit', async () => {
        const t = tag();
        const [q] = await client.transact(DB, [
          insert('Queue', { external_ids: { t } }, { uuidName: 'q' }),
          insert('QoS', { type: 'linux-htb', queues: { 0: namedUuid('q') }, external_ids: { t } }),
        ]);
        const error = await rejectsWith(client.transact(DB, [remove('Queue', byUuid(q?.uuid as string))]), ReferentialIntegrityViolationError);
        assert.equal(error.atCommit, true);
        assert.equal(error.operationIndex, 1);
        assert.deepEqual((error.results[0] as { count?: unknown }).count, 1, 'the delete itself matched');
        assert.equal((await rowsOf('Queue', byUuid(q?.uuid as string))).length, 1, 'the Queue is still there');
        const [, del] = await client.transact(DB, [
          mutate('QoS', [includes('external_ids', { t })], [['queues', 'delete', [0]]]),
          remove('Queue', byUuid(q?.uuid as string)),
        ]);
        assert.equal(del?.count, 1, 'deleting the Queue together with its last reference works');
      });

      it('a reference to a row that does not exist is a referential integrity violation at commit', async () => {
        const error = await rejectsWith(
          client.transact(DB, [insert('QoS', { type: 'linux-htb', queues: { 0: '6e0b7a5c-1111-4222-8333-444455556666' } })]),
          ReferentialIntegrityViolationError,
        );
        assert.equal(error.atCommit, true);
      });

      it('a value outside the column range is a constraint violation at its operation', async () => {
        const t = tag();
        const ops = [insert('Queue', { external_ids: { t } }), insert('Queue', { dscp: 64, external_ids: { t } }), insert('Queue', { external_ids: { t } })];
        const error = await rejectsWith(client.transact(DB, ops), ConstraintViolationError);
        assert.equal(error.operationIndex, 1);
        assert.equal(error.atCommit, false);
        assert.equal(wireOf(error).op, 'insert');
        assert.equal(error.results.length, 3);
        assert.equal(error.results[2], null, 'operations after the failing one have null results');
        assert.deepEqual(await rowsOf('Queue', [includes('external_ids', { t })]), []);
      });

      it('integer overflow is a range error and division by zero a domain error', async () => {
        const t = tag();
        await client.transact(DB, bridgeOps(`br-ov-${t}`, [{ name: `ov-${t}`, row: { bond_updelay: 2n ** 63n - 2n } }], t));
        const where = [eq('name', `ov-${t}`)];
        const range = await rejectsWith(client.transact(DB, [mutate('Port', where, [['bond_updelay', '+=', 5]])]), OvsdbRangeError);
        assert.equal(range.operationIndex, 0);
        const domain = await rejectsWith(
          client.transact(DB, [comment('x'), mutate('Port', where, [['bond_updelay', '/=', 0]])]),
          DomainError,
        );
        assert.equal(domain.operationIndex, 1);
        assert.equal((await rowsOf('Port', where, ['bond_updelay']))[0]?.bond_updelay, 2n ** 63n - 2n);
      });

      it('a uuid-name used twice fails with DuplicateUuidNameError', async () => {
        const error = await rejectsWith(
          client.transact(DB, [insert('Queue', {}, { uuidName: 'same' }), insert('Queue', {}, { uuidName: 'same' })]),
          DuplicateUuidNameError,
        );
        assert.equal(error.operationIndex, 1);
      });

      it('what the client would refuse is refused by the server too (raw wire operations)', async () => {
        const badColumn = await rejectsWith(
          client.transactWire(DB, [{ op: 'comment', comment: 'x' }, { op: 'select', table: 'Queue', where: [['dcsp', '==', 1]] }]),
          UnknownColumnError,
        );
        assert.equal(badColumn.operationIndex, 1);
        assert.equal(badColumn.atCommit, false);
        await rejectsWith(client.transactWire(DB, [{ op: 'insert', table: 'Queue', row: { nope: 1 } }]), UnknownColumnError);
        const badTable = await rejectsWith(client.transactWire(DB, [{ op: 'select', table: 'Qos', where: [] }]), OvsdbSyntaxError);
        assert.equal(badTable.operationIndex, 0);
        await rejectsWith(client.transactWire(DB, [{ op: 'insert', table: 'Queue', row: { dscp: 'high' } }]), OvsdbSyntaxError);
        await rejectsWith(client.transactWire(DB, [{ op: 'frobnicate', table: 'Queue' }]), OvsdbSyntaxError);
        await rejectsWith(
          client.transactWire(DB, [{ op: 'update', table: 'Port', where: [['name', '==', 'x']], row: { name: 'y' } }]),
          ConstraintViolationError,
        );
      });
    });

    describe('garbage collection', () => {
      it('a Port (and its Interface) not referenced by any Bridge is gone after commit', async () => {
        const t = tag();
        const [i, p] = await client.transact(DB, [
          insert('Interface', { name: `gc-${t}`, external_ids: { t } }, { uuidName: 'i' }),
          insert('Port', { name: `gc-${t}`, interfaces: [namedUuid('i')], external_ids: { t } }),
        ]);
        assert.ok(i?.uuid && p?.uuid, 'the inserts returned uuids');
        assert.deepEqual(await rowsOf('Port', byUuid(p.uuid)), []);
        assert.deepEqual(await rowsOf('Interface', byUuid(i.uuid)), []);
      });

      it('a Bridge not referenced by Open_vSwitch is gone after commit', async () => {
        const t = tag();
        const [b] = await client.transact(DB, [insert('Bridge', { name: `gcbr-${t}` })]);
        assert.ok(b?.uuid);
        assert.deepEqual(await rowsOf('Bridge', byUuid(b.uuid)), []);
      });

      it('removing the last reference to a Port collects it and its Interface', async () => {
        const t = tag();
        await client.transact(DB, bridgeOps(`br-gc-${t}`, [{ name: `gc1-${t}` }, { name: `gc2-${t}` }], t));
        const [port] = await rowsOf('Port', [eq('name', `gc1-${t}`)], ['_uuid', 'interfaces']);
        assert.ok(port);
        const [r] = await client.transact(DB, [mutate('Bridge', [eq('name', `br-gc-${t}`)], [['ports', 'delete', [port._uuid]]])]);
        assert.equal(r?.count, 1);
        assert.deepEqual(await rowsOf('Port', [eq('name', `gc1-${t}`)]), []);
        assert.deepEqual(await rowsOf('Interface', [eq('name', `gc1-${t}`)]), []);
        assert.equal((await rowsOf('Port', [eq('name', `gc2-${t}`)])).length, 1, 'the other port stays');
      });

      it('unreferenced root rows (QoS, Queue) persist until deleted explicitly', async () => {
        const t = tag();
        const [q, s] = await client.transact(DB, [
          insert('Queue', { external_ids: { t } }),
          insert('QoS', { type: 'linux-htb', external_ids: { t } }),
        ]);
        assert.equal((await rowsOf('Queue', byUuid(q?.uuid as string))).length, 1);
        assert.equal((await rowsOf('QoS', byUuid(s?.uuid as string))).length, 1);
        const [s2] = await client.transact(DB, [
          insert('Queue', { external_ids: { t } }, { uuidName: 'q' }),
          insert('QoS', { type: 'linux-htb', queues: { 0: namedUuid('q') }, external_ids: { t } }),
        ]);
        await client.transact(DB, [remove('QoS', byUuid(s2?.uuid as string))]);
        assert.equal((await rowsOf('Queue', [includes('external_ids', { t })])).length, 2, 'a Queue outlives the QoS that referenced it');
        await client.transact(DB, [remove('QoS', [includes('external_ids', { t })]), remove('Queue', [includes('external_ids', { t })])]);
        assert.deepEqual(await rowsOf('Queue', [includes('external_ids', { t })]), []);
        assert.deepEqual(await rowsOf('QoS', [includes('external_ids', { t })]), []);
      });
    });

    describe('64-bit integers', () => {
      it('integers beyond 2^53 round-trip exactly as bigint; safe ones come back as number', async () => {
        const t = tag();
        const max = 2n ** 63n - 1n;
        const min = -(2n ** 63n);
        await client.transact(
          DB,
          bridgeOps(
            `br-big-${t}`,
            [
              { name: `bg1-${t}`, row: { bond_updelay: max, bond_downdelay: min }, iface: { cfm_mpid: 2n ** 53n + 1n, ingress_policing_rate: 2n ** 62n + 3n } },
              { name: `bg2-${t}`, row: { bond_updelay: Number.MAX_SAFE_INTEGER, bond_downdelay: -Number.MAX_SAFE_INTEGER } },
            ],
            t,
          ),
        );
        const [p1] = await rowsOf('Port', [eq('name', `bg1-${t}`)], ['bond_updelay', 'bond_downdelay']);
        assert.equal(p1?.bond_updelay, max);
        assert.equal(p1.bond_downdelay, min);
        const [i1] = await rowsOf('Interface', [eq('name', `bg1-${t}`)], ['cfm_mpid', 'ingress_policing_rate']);
        assert.equal(i1?.cfm_mpid, 2n ** 53n + 1n);
        assert.equal(i1.ingress_policing_rate, 2n ** 62n + 3n);
        const [p2] = await rowsOf('Port', [eq('name', `bg2-${t}`)], ['bond_updelay', 'bond_downdelay']);
        assert.equal(p2?.bond_updelay, Number.MAX_SAFE_INTEGER);
        assert.equal(typeof p2.bond_updelay, 'number');
        assert.equal(p2.bond_downdelay, -Number.MAX_SAFE_INTEGER);
        // Conditions and arithmetic with big values are exact too.
        const byValue = await rowsOf('Interface', [includes('external_ids', { t }), eq('cfm_mpid', 2n ** 53n + 1n)], ['name']);
        assert.deepEqual(byValue.map((r) => r.name), [`bg1-${t}`]);
        assert.deepEqual(await rowsOf('Interface', [includes('external_ids', { t }), eq('cfm_mpid', 2n ** 53n + 2n)], ['name']), []);
        await client.transact(DB, [mutate('Interface', [eq('name', `bg1-${t}`)], [['cfm_mpid', '+=', 2]])]);
        assert.equal((await rowsOf('Interface', [eq('name', `bg1-${t}`)], ['cfm_mpid']))[0]?.cfm_mpid, 2n ** 53n + 3n);
        const gtRows = await rowsOf('Port', [includes('external_ids', { t }), gt('bond_updelay', 2n ** 62n)], ['name']);
        assert.deepEqual(gtRows.map((r) => r.name), [`bg1-${t}`]);
      });
    });

    describe('monitor_cond and monitor_cond_since (raw, via call and notifications)', () => {
      it('monitor_cond: initial rows, then insert/modify/delete updates; the own update comes before the transact reply', async () => {
        const t = tag();
        const [pre] = await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { t }, other_config: { a: '1', b: '2' } })]);
        const c = await connect();
        const notes = collectNotifications(c);
        const reply = await c.call('monitor_cond', [
          DB,
          'mon-1',
          { Queue: [{ columns: ['dscp', 'external_ids', 'other_config'], where: [['external_ids', 'includes', ['map', [['t', t]]]]] }] },
        ]);
        assert.deepEqual(tableUpdates(reply, 'Queue'), {
          [pre?.uuid as string]: { initial: { dscp: 1, external_ids: ['map', [['t', t]]], other_config: ['map', [['a', '1'], ['b', '2']]] } },
        });

        const order: string[] = [];
        c.on('notification', () => order.push('notification'));
        const [ins] = await c.transact(DB, [insert('Queue', { dscp: 2, external_ids: { t } })]);
        order.push('reply');
        assert.deepEqual(order, ['notification', 'reply'], 'the update of a client’s own transaction precedes the reply');
        const newUuid = ins?.uuid as string;

        await client.transact(DB, [insert('Queue', { dscp: 3, external_ids: { t: `${t}-other` } })]); // not matched
        await client.transact(DB, [
          update('Queue', byUuid(pre?.uuid as string), { dscp: 4, other_config: { a: '1', b: '3', c: '4' } }),
        ]);
        await client.transact(DB, [remove('Queue', byUuid(newUuid))]);
        await eventually('three updates', () => notes.length >= 3);
        await sleep(100);
        assert.equal(notes.length, 3, 'the row outside the condition produced no update');
        for (const n of notes) {
          assert.equal(n.method, 'update2');
          assert.equal((n.params as unknown[])[0], 'mon-1');
        }
        const upd = notes.map((n) => tableUpdates((n.params as unknown[])[1], 'Queue'));
        assert.deepEqual(upd[0], { [newUuid]: { insert: { dscp: 2, external_ids: ['map', [['t', t]]] } } });
        assert.deepEqual(upd[1], {
          [pre?.uuid as string]: { modify: { dscp: 4, other_config: ['map', [['b', '3'], ['c', '4']]] } },
        });
        assert.deepEqual(upd[2], { [newUuid]: { delete: null } });

        // A row that stops matching the condition is reported as deleted, one that starts matching as inserted.
        await client.transact(DB, [mutate('Queue', byUuid(pre?.uuid as string), [['external_ids', 'delete', ['t']]])]);
        await eventually('the row left the condition', () => notes.length >= 4);
        assert.deepEqual(tableUpdates((notes[3]?.params as unknown[])[1], 'Queue'), { [pre?.uuid as string]: { delete: null } });

        assert.deepEqual(await c.call('monitor_cancel', ['mon-1']), {});
        await client.transact(DB, [insert('Queue', { external_ids: { t } })]);
        await sleep(150);
        assert.equal(notes.length, 4, 'no updates after monitor_cancel');
        await rejectsWith(c.call('monitor_cancel', ['mon-1']), OvsdbRpcError);
        c.close();
      });

      it('monitor_cond_since: update3 carries transaction ids; after a reconnect, the last id gives only the new changes', async (ctx) => {
        const t = tag();
        const request = { Queue: [{ columns: ['dscp', 'external_ids'], where: [['external_ids', 'includes', ['map', [['t', t]]]]] }] };
        const [q1] = await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { t } })]);
        const c = await connect();
        const notes = collectNotifications(c);
        const first = (await c.call('monitor_cond_since', [DB, 'mcs', request, ZERO_UUID])) as [boolean, string, unknown];
        assert.equal(first.length, 3);
        assert.equal(first[0], false, 'an unknown (zero) last-txn-id is never found');
        assert.match(first[1], /^[0-9a-f-]{36}$/);
        assert.deepEqual(tableUpdates(first[2], 'Queue'), { [q1?.uuid as string]: { initial: { dscp: 1, external_ids: ['map', [['t', t]]] } } });
        const keepsHistory = first[1] !== ZERO_UUID;
        ctx.diagnostic(
          keepsHistory
            ? 'the server keeps transaction history: checking found=true with only the new changes'
            : 'the server keeps no transaction history (zero txn id): checking found=false with the full contents',
        );

        const [q2] = await c.transact(DB, [insert('Queue', { dscp: 2, external_ids: { t } })]);
        await eventually('update3', () => notes.length >= 1);
        const note = notes[0] as Notification;
        assert.equal(note.method, 'update3');
        const params = note.params as [string, string, unknown];
        assert.equal(params[0], 'mcs');
        assert.match(params[1], /^[0-9a-f-]{36}$/);
        assert.deepEqual(tableUpdates(params[2], 'Queue'), { [q2?.uuid as string]: { insert: { dscp: 2, external_ids: ['map', [['t', t]]] } } });
        const lastTxnId = params[1];
        if (keepsHistory) assert.notEqual(lastTxnId, first[1], 'the transaction id advanced');

        const reconnected = new Promise<boolean>((resolve) => {
          c.once('connected', (info) => {
            resolve(info.reconnected);
          });
        });
        c.dropConnection();
        // Changes while the monitoring client is away.
        const [q3] = await client.transact(DB, [insert('Queue', { dscp: 3, external_ids: { t } })]);
        await client.transact(DB, [update('Queue', byUuid(q1?.uuid as string), { dscp: 11 })]);
        await client.transact(DB, [remove('Queue', byUuid(q2?.uuid as string))]);
        assert.equal(await reconnected, true);

        const again = (await c.call('monitor_cond_since', [DB, 'mcs', request, lastTxnId])) as [boolean, string, unknown];
        if (keepsHistory) {
          assert.equal(again[0], true, 'found: the server still has the transactions since the last id');
          assert.deepEqual(tableUpdates(again[2], 'Queue'), {
            [q3?.uuid as string]: { insert: { dscp: 3, external_ids: ['map', [['t', t]]] } },
            [q1?.uuid as string]: { modify: { dscp: 11 } },
            [q2?.uuid as string]: { delete: null },
          });
        } else {
          // A standalone ovsdb-server keeps no history: not found, full initial contents.
          assert.equal(again[0], false);
          assert.deepEqual(tableUpdates(again[2], 'Queue'), {
            [q1?.uuid as string]: { initial: { dscp: 11, external_ids: ['map', [['t', t]]] } },
            [q3?.uuid as string]: { initial: { dscp: 3, external_ids: ['map', [['t', t]]] } },
          });
        }
        c.close();
      });
    });

    describe('call options: timeouts and AbortSignal', () => {
      it('a call without a reply within timeoutMs fails with OvsdbTimeoutError; the connection stays usable', async () => {
        const p = await proxy();
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 0 });
        p.freeze();
        const started = Date.now();
        await rejectsWith(c.echo(['late'], { timeoutMs: 200 }), OvsdbTimeoutError);
        assert.ok(Date.now() - started >= 180);
        p.thaw();
        assert.deepEqual(await c.echo(['after']), ['after'], 'the late reply was ignored and the next call works');
        assert.equal(c.state, 'connected');
        c.close();
      });

      it('the default call timeout (callTimeoutMs) applies to transact', async () => {
        const p = await proxy();
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 0, callTimeoutMs: 200 });
        await c.getSchema(DB);
        p.freeze();
        await rejectsWith(c.transact(DB, [select('Queue', [])]), OvsdbTimeoutError);
        p.thaw();
        c.close();
      });

      it('a server-side blocking wait longer than timeoutMs fails with OvsdbTimeoutError', async () => {
        const t = tag();
        const [q] = await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { t } })]);
        const c = await connect();
        await rejectsWith(
          c.transact(DB, [wait('Queue', byUuid(q?.uuid as string), ['dscp'], [{ dscp: 2 }], { timeout: 1500 })], { timeoutMs: 200 }),
          OvsdbTimeoutError,
        );
        assert.deepEqual(await c.echo(['ok']), ['ok']);
        c.close();
      });

      it('aborting the signal of a pending call fails it with OvsdbAbortError', async () => {
        const p = await proxy();
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 0 });
        p.freeze();
        const controller = new AbortController();
        const pending = c.echo(['x'], { signal: controller.signal });
        setTimeout(() => {
          controller.abort(new Error('user gave up'));
        }, 50);
        const error = await rejectsWith(pending, OvsdbAbortError);
        assert.equal((error.cause as Error).message, 'user gave up');
        p.thaw();
        assert.deepEqual(await c.echo(['y']), ['y']);
        c.close();
      });

      it('an already aborted signal fails the call without sending anything', async () => {
        const p = await proxy();
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 0 });
        await c.getSchema(DB);
        await c.echo(['sync']);
        const sent = p.bytesToServer;
        await rejectsWith(c.transact(DB, [select('Queue', [])], { signal: AbortSignal.abort() }), OvsdbAbortError);
        await rejectsWith(c.echo([], { signal: AbortSignal.abort() }), OvsdbAbortError);
        await sleep(50);
        assert.equal(p.bytesToServer, sent);
        c.close();
      });
    });

    describe('inactivity probes', () => {
      it('a client with a small probe interval stays connected to an idle server (and does probe)', async () => {
        const p = await proxy();
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 150 });
        let disconnects = 0;
        c.on('disconnected', () => disconnects++);
        const before = p.bytesToServer;
        await sleep(1200);
        assert.equal(disconnects, 0);
        assert.equal(c.state, 'connected');
        assert.ok(p.bytesToServer - before >= 3 * 40, `echo probes were sent (${String(p.bytesToServer - before)} bytes)`);
        assert.ok(p.bytesToClient > 0, 'and answered');
        c.close();
      });

      it('on TCP the server probes an idle client with echo (every 5 s) and the client answers it', async (ctx) => {
        if (!endpoint.startsWith('tcp:')) {
          ctx.skip('ovsdb-server sends inactivity probes on TCP/SSL sessions only');
          return;
        }
        const p = await proxy();
        // No probes of our own: any byte from the server now is the server's echo request.
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 0 });
        await c.echo(['sync']);
        const fromServer = p.bytesToClient;
        const toServer = p.bytesToServer;
        let disconnects = 0;
        c.on('disconnected', () => disconnects++);
        await eventually('an echo request from the server', () => p.bytesToClient > fromServer, 8000);
        await eventually('the client’s echo reply', () => p.bytesToServer > toServer, 1000);
        await sleep(200);
        assert.equal(disconnects, 0);
        assert.deepEqual(await c.echo(['alive']), ['alive']);
        c.close();
      });

      it('a server that stops answering is detected and dropped; the client reconnects once it answers again', async () => {
        const p = await proxy();
        const c = await connect({ endpoint: p.endpoint, probeIntervalMs: 150 });
        const dropped = new Promise<Error | undefined>((resolve) => c.once('disconnected', resolve));
        const started = Date.now();
        p.freeze();
        const error = await dropped;
        const elapsed = Date.now() - started;
        assert.ok(error instanceof OvsdbConnectionError, describeError(error));
        assert.match(error.message, /inactivity probe/);
        assert.ok(elapsed < 1500, `detected after ${String(elapsed)} ms`);
        p.thaw();
        await c.whenConnected({ signal: AbortSignal.timeout(5000) });
        assert.deepEqual(await c.echo(['back']), ['back']);
        c.close();
      });
    });

    describe('reconnect', () => {
      it('after dropConnection the client reconnects by itself and works', async () => {
        const c = await connect();
        const events: boolean[] = [];
        c.on('connected', (info) => events.push(info.reconnected));
        c.dropConnection();
        await rejectsWith(c.echo([]), OvsdbConnectionError);
        await c.whenConnected({ signal: AbortSignal.timeout(5000) });
        assert.deepEqual(events, [true]);
        assert.ok((await c.listDbs()).includes(DB));
        c.close();
      });

      it('server killed and restarted: in-flight transaction failed (not resent), calls fail while down, then it reconnects', async (ctx) => {
        if (!server.restart) {
          ctx.skip('this server cannot be restarted');
          return;
        }
        const t = tag();
        const [q] = await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { t } })]);
        const c = await connect({ reconnect: { initialDelayMs: 300, maxDelayMs: 600 } });
        await c.getSchema(DB);
        const disconnected = new Promise<void>((resolve) => {
          c.once('disconnected', () => {
            resolve();
          });
        });
        // Blocks in the server until Queue q has dscp 2, then inserts a marker row.
        const inFlight = c.transact(DB, [
          wait('Queue', byUuid(q?.uuid as string), ['dscp'], [{ dscp: 2 }], { timeout: 20_000 }),
          insert('Queue', { external_ids: { t, marker: 'resent' } }),
        ]);
        inFlight.catch(() => undefined);
        await sleep(200);
        const restarting = server.restart();
        const error = await rejectsWith(inFlight, OvsdbConnectionError);
        assert.equal(error.retryable, true);
        await disconnected;
        assert.notEqual(c.state, 'connected');
        await rejectsWith(c.echo(['while down']), OvsdbConnectionError);
        await rejectsWith(c.transact(DB, [select('Queue', [])]), OvsdbConnectionError);
        await restarting;
        await c.whenConnected({ signal: AbortSignal.timeout(10_000) });
        assert.deepEqual(await c.echo(['up']), ['up']);
        await client.whenConnected({ signal: AbortSignal.timeout(10_000) });

        // Make the old wait condition true: a resent transaction would now insert the marker.
        const other = await connect();
        await other.transact(DB, [update('Queue', byUuid(q?.uuid as string), { dscp: 2 })]);
        await sleep(300);
        assert.deepEqual(await rowsOf('Queue', [includes('external_ids', { t, marker: 'resent' })]), [], 'the transaction was not resent');
        assert.equal((await rowsOf('Queue', byUuid(q?.uuid as string), ['dscp']))[0]?.dscp, 2, 'data survived the restart');
        other.close();
        c.close();
      });
    });
  });
}
