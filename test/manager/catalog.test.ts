/**
 * Issue 16, the service catalog (`/services`), through a real manager and agent on the simulated cloud:
 * - a junk service type is a 422 naming each field and its line, and is not kept (it was a 201, and from then on
 *   the thesis topology itself was refused with 16 problems from it until a restart);
 * - a duplicate is a 409 at /body/service_type; PUT replaces (idempotently), GET lists and reads, DELETE removes;
 * - bounds: a name of 1–64 characters of [A-Za-z0-9._-], a document of at most 256 KiB (413), 256 entries;
 * - entries of the configuration (`catalog.services`) are listed with source config and are read-only (409);
 * - the catalog is kept in the manager store: it survives a restart on a SQLite file and on PostgreSQL, and
 *   two managers on one PostgreSQL database see each other's changes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningAgent } from '../../src/agent/main.ts';
import { ManagerConfigError } from '../../src/manager/config.ts';
import type { RunningManager } from '../../src/manager/main.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';
import { deployThenDelete, managerApi, startSimAgent, startSimManager, startStack, until, type Stack } from './stack.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');
const SERVICE_FILES = ['ControllerService.json', 'BrokerService.json', 'MediaService.json'];
const read = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
const thesisServices = (): Record<string, unknown>[] => SERVICE_FILES.map((f) => JSON.parse(read(f)) as Record<string, unknown>);
const broker = (): Record<string, unknown> => JSON.parse(read('BrokerService.json')) as Record<string, unknown>;
const TOPOLOGY = JSON.parse(read('topology.json')) as unknown;

interface Problem {
  status: number;
  type: string;
  detail: string;
  errors?: { pointer: string; message: string }[];
}

interface Entry {
  service_type: string;
  source: 'config' | 'api';
  file: string;
  version: number | null;
  created_at: string | null;
  updated_at: string | null;
  document: Record<string, unknown>;
}

type Api = ReturnType<typeof managerApi>;

const isProblem = (r: { headers: Headers }): void => {
  assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
};

async function postThesisServices(api: Api): Promise<void> {
  for (const doc of thesisServices()) {
    const r = await api<Record<string, unknown>>('POST', '/services', doc);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    // The thesis's EMM answers with the document.
    assert.deepEqual(r.json, doc);
    assert.equal(r.headers.get('location'), `/services/${String(doc.service_type)}`);
  }
}

/** Submits the thesis topology through the EMM route, waits for it, and deletes it again. */
const thesisTopologyRuns = (api: Api): Promise<void> => deployThenDelete(api, '/topologies', TOPOLOGY);

describe('the service catalog: validation, duplicates, list/get/put/delete, bounds', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it('refuses a junk service type with a 422 naming each missing field and its line, keeps nothing, and the thesis topology still goes through', async () => {
    const junk = await stack.api<Problem>('POST', '/services', { service_type: 'Junk' });
    assert.equal(junk.status, 422, JSON.stringify(junk.json));
    isProblem(junk);
    assert.equal(junk.json.type, '/problems/invalid-service-type');
    const pointers = junk.json.errors?.map((e) => e.pointer) ?? [];
    for (const field of ['image', 'flavor', 'size', 'networks']) assert.ok(pointers.includes(`/body/${field}`), JSON.stringify(junk.json.errors));
    assert.ok(junk.json.errors?.every((e) => /^line \d+, column \d+: is required$/.test(e.message)), JSON.stringify(junk.json.errors));
    assert.match(junk.json.detail, /catalog\/Junk\.json:\d+:\d+ image: is required/);
    assert.deepEqual((await stack.api<Entry[]>('GET', '/services')).json, []);
    assert.equal((await stack.api<Problem>('GET', '/services/Junk')).status, 404);

    await postThesisServices(stack.api);
    await thesisTopologyRuns(stack.api);
  });

  it('names a mistyped field with its line, a bad name, and the length and size limits (413 above 256 KiB)', async () => {
    const typo = await stack.api<Problem>('POST', '/services', { ...broker(), service_type: 'Typo', imgae: 'trusty' });
    assert.equal(typo.status, 422);
    const at = typo.json.errors?.find((e) => e.pointer === '/body/imgae');
    assert.ok(at, JSON.stringify(typo.json.errors));
    assert.match(at.message, /^line \d+, column \d+: unknown field \(did you mean "image"\?\)/);

    for (const name of ['Bad Name!', 'a/b', 'x'.repeat(65)]) {
      const r = await stack.api<Problem>('POST', '/services', { ...broker(), service_type: name });
      assert.equal(r.status, 422, name);
      assert.equal(r.json.type, '/problems/invalid-service-type');
      assert.deepEqual(r.json.errors?.map((e) => e.pointer), ['/body/service_type'], name);
      assert.match(JSON.stringify(r.json), /64/, name);
    }
    const sixtyFour = await stack.api<Problem>('POST', '/services', { ...broker(), service_type: `A.b_c-${'9'.repeat(58)}` });
    assert.equal(sixtyFour.status, 201, JSON.stringify(sixtyFour.json));
    assert.equal((await stack.api('DELETE', `/services/A.b_c-${'9'.repeat(58)}`)).status, 204);

    const big = await stack.api<Problem>('POST', '/services', { ...broker(), service_type: 'Big', configuration: { blob: 'x'.repeat(300 * 1024) } });
    assert.equal(big.status, 413, JSON.stringify(big.json).slice(0, 300));
    isProblem(big);
    assert.equal(big.json.type, '/problems/payload-too-large');
    assert.match(big.json.detail, /the limit is 262144 bytes/);
    assert.equal((await stack.api('GET', '/services/Big')).status, 404);
  });

  it('refuses a duplicate with a 409 naming /body/service_type; PUT replaces idempotently; GET lists and reads; DELETE removes', async () => {
    const dup = await stack.api<Problem>('POST', '/services', broker());
    assert.equal(dup.status, 409);
    isProblem(dup);
    assert.equal(dup.json.type, '/problems/conflict');
    assert.deepEqual(dup.json.errors?.map((e) => e.pointer), ['/body/service_type']);
    assert.match(dup.json.detail, /PUT \/services\/Broker/);

    const first = await stack.api<Entry>('GET', '/services/Broker');
    assert.equal(first.status, 200);
    assert.equal(first.json.source, 'api');
    assert.equal(first.json.version, 1);
    assert.equal(first.json.file, 'catalog/Broker.json');
    assert.deepEqual(first.json.document, broker());

    const same = await stack.api<Entry>('PUT', '/services/Broker', broker());
    assert.equal(same.status, 200);
    assert.equal(same.json.version, 1, 'the same document again changes nothing');
    assert.equal(same.json.updated_at, first.json.updated_at);

    const changed = await stack.api<Entry>('PUT', '/services/Broker', { ...broker(), version: '2' });
    assert.equal(changed.status, 200);
    assert.equal(changed.json.version, 2);
    assert.equal(changed.json.document.version, '2');
    assert.equal((await stack.api<Entry>('PUT', '/services/Broker', { ...broker(), version: '2' })).json.version, 2);
    assert.equal((await stack.api<Entry>('PUT', '/services/Broker', broker())).json.version, 3);

    const mismatch = await stack.api<Problem>('PUT', '/services/Broker', { ...broker(), service_type: 'Other' });
    assert.equal(mismatch.status, 422);
    assert.deepEqual(mismatch.json.errors?.map((e) => e.pointer), ['/body/service_type']);
    const badPath = await stack.api<Problem>('PUT', '/services/bad%20name', { ...broker(), service_type: 'bad name' });
    assert.equal(badPath.status, 422);
    assert.deepEqual(badPath.json.errors?.map((e) => e.pointer), ['/params/type']);
    const invalidPut = await stack.api<Problem>('PUT', '/services/Broker', { ...broker(), size: { min: 2, def: 1, max: 1 } });
    assert.equal(invalidPut.status, 422);
    assert.deepEqual(invalidPut.json.errors?.map((e) => e.pointer), ['/body/size']);

    const created = await stack.api<Entry>('PUT', '/services/Extra', { ...broker(), service_type: 'Extra' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), '/services/Extra');
    const list = await stack.api<Entry[]>('GET', '/services');
    assert.deepEqual(list.json.map((e) => [e.service_type, e.source]), [['Broker', 'api'], ['Controller', 'api'], ['Extra', 'api'], ['MediaServer', 'api']]);

    assert.equal((await stack.api('DELETE', '/services/Extra')).status, 204);
    assert.equal((await stack.api<Problem>('GET', '/services/Extra')).status, 404);
    const again = await stack.api<Problem>('DELETE', '/services/Extra');
    assert.equal(again.status, 404);
    isProblem(again);
    assert.equal((await stack.api<Entry[]>('GET', '/services')).json.length, 3);
  });

  it('deleting a type a topology uses is safe: the topology keeps its own copy of the documents', async () => {
    const r = await stack.api<{ id: string }>('POST', '/topologies', TOPOLOGY);
    assert.equal(r.status, 202);
    await until('ACTIVE', async () => (await stack.api<{ state: string }>('GET', `/v1/topologies/${r.json.id}`)).json.state, (s) => s === 'ACTIVE');
    assert.equal((await stack.api('DELETE', '/services/MediaServer')).status, 204);
    const t = await stack.api<{ state: string; demands: unknown[] }>('GET', `/v1/topologies/${r.json.id}`);
    assert.equal(t.json.state, 'ACTIVE');
    assert.ok(t.json.demands.length > 0, 'its demands still come from its own copy');
    // A new submission needs the type again.
    const refused = await stack.api<Problem>('POST', '/topologies', TOPOLOGY);
    assert.equal(refused.status, 422);
    assert.match(refused.json.detail, /unknown service type "MediaServer"/);
    assert.equal((await stack.api('DELETE', `/v1/topologies/${r.json.id}`)).status, 202);
    await until('DELETED', async () => (await stack.api<{ state: string }>('GET', `/v1/topologies/${r.json.id}`)).json.state, (s) => s === 'DELETED');
    assert.equal((await stack.api('PUT', '/services/MediaServer', thesisServices()[2])).status, 201);
  });

  it('holds at most 256 entries: one more is a 422 naming the limit', async () => {
    const have = (await stack.api<Entry[]>('GET', '/services')).json.length;
    const names = Array.from({ length: 256 - have }, (_, i) => `Filler-${String(i).padStart(3, '0')}`);
    for (const name of names) assert.equal((await stack.api('POST', '/services', { ...broker(), service_type: name })).status, 201, name);
    const full = await stack.api<Problem>('POST', '/services', { ...broker(), service_type: 'OneTooMany' });
    assert.equal(full.status, 422);
    isProblem(full);
    assert.equal(full.json.type, '/problems/limit-exceeded');
    assert.match(full.json.detail, /the limit is 256/);
    assert.equal((await stack.api<Problem>('PUT', '/services/OneTooMany', { ...broker(), service_type: 'OneTooMany' })).status, 422);
    // Replacing one is not adding one.
    assert.equal((await stack.api('PUT', `/services/${names[0] ?? 'Broker'}`, { ...broker(), service_type: names[0] ?? 'Broker', version: '9' })).status, 200);
    for (const name of names) assert.equal((await stack.api('DELETE', `/services/${name}`)).status, 204);
    assert.equal((await stack.api('POST', '/services', { ...broker(), service_type: 'OneTooMany' })).status, 201);
  });
});

describe('service types of the configuration (catalog.services)', () => {
  let stack: Stack;
  const tmp = mkdtempSync(path.join(tmpdir(), 'cm-catalog-'));

  before(async () => {
    const files = SERVICE_FILES.map((f) => JSON.stringify(path.join(FIXTURES, f)));
    stack = await startStack({ manager: { catalog: `{ services: [${files.join(', ')}] }` } });
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('are listed with source config, used by topologies, and read-only: PUT, DELETE and POST of them are a 409 saying to edit the configuration', async () => {
    const list = await stack.api<Entry[]>('GET', '/services');
    assert.deepEqual(list.json.map((e) => [e.service_type, e.source, e.file, e.version]), [
      ['Broker', 'config', 'BrokerService.json', null],
      ['Controller', 'config', 'ControllerService.json', null],
      ['MediaServer', 'config', 'MediaService.json', null],
    ]);
    assert.deepEqual((await stack.api<Entry>('GET', '/services/Broker')).json.document, broker());
    const plan = await stack.api<{ plan: { feasible: boolean } }>('POST', '/v1/plans', { topology: TOPOLOGY });
    assert.equal(plan.status, 200, JSON.stringify(plan.json));
    assert.equal(plan.json.plan.feasible, true);

    for (const [method, route, body, pointer] of [
      ['PUT', '/services/Broker', broker(), '/params/type'],
      ['DELETE', '/services/Broker', undefined, '/params/type'],
      ['POST', '/services', broker(), '/body/service_type'],
    ] as const) {
      const r = await stack.api<Problem>(method, route, body);
      assert.equal(r.status, 409, `${method} ${route}`);
      isProblem(r);
      assert.match(r.json.detail, /configuration \(BrokerService\.json, catalog\.services\): edit that file/);
      assert.deepEqual(r.json.errors?.map((e) => e.pointer), [pointer]);
    }
    // Types of its own can be added beside them.
    assert.equal((await stack.api('POST', '/services', { ...broker(), service_type: 'Mine' })).status, 201);
    assert.deepEqual((await stack.api<Entry[]>('GET', '/services')).json.map((e) => e.source), ['config', 'config', 'config', 'api']);
  });

  it('a catalog file that is not a valid service type is a configuration error naming catalog.services[i] and the line', async () => {
    const junk = path.join(tmp, 'Junk.json');
    writeFileSync(junk, '{\n  "service_type": "Junk",\n  "imgae": "x"\n}\n');
    const files = [path.join(FIXTURES, 'BrokerService.json'), junk].map((f) => JSON.stringify(f));
    const attempt = startSimManager(stack.sim, stack.agent, { catalog: `{ services: [${files.join(', ')}] }` });
    // Should it start after all, it must not outlive the test.
    void attempt.then((m) => m.stop(), () => undefined);
    await assert.rejects(attempt, (error: unknown) => {
      assert.ok(error instanceof ManagerConfigError, String(error));
      assert.ok(error.problems.length > 0 && error.problems.every((p) => p.field === 'catalog.services[1]'), JSON.stringify(error.problems));
      assert.ok(error.problems.some((p) => /^Junk\.json:3:3 imgae: unknown field/.test(p.message)), JSON.stringify(error.problems));
      return true;
    });
  });
});

// ---- persistence ----------------------------------------------------------------

let pgGate: { skip: false } | { skip: string };
let pgError: Error | undefined;
try {
  pgGate = postgresAvailable();
} catch (error) {
  pgGate = { skip: false };
  pgError = error as Error;
}
let pg: PostgresHandle | undefined;
const tempRoot = mkdtempSync(path.join(tmpdir(), 'cm-catalog-store-'));
after(async () => {
  await pg?.stop();
  rmSync(tempRoot, { recursive: true, force: true });
});

const backends: { name: string; skip: false | string; url: () => Promise<string>; shared: boolean }[] = [
  { name: 'SQLite file', skip: false, url: () => Promise.resolve(`sqlite:${path.join(tempRoot, 'manager.db')}`), shared: false },
  {
    name: 'PostgreSQL',
    skip: pgGate.skip,
    url: async () => {
      if (pgError) throw pgError;
      pg ??= await startPostgres();
      return pg.createDatabase();
    },
    shared: true,
  },
];

for (const backend of backends) {
  describe(`the catalog is kept in the manager store (${backend.name})`, { skip: backend.skip }, () => {
    let sim: SimCloud;
    let agent: RunningAgent;
    let url: string;
    const managers: RunningManager[] = [];
    const start = async (): Promise<RunningManager> => {
      const m = await startSimManager(sim, agent, { store: `{ url: ${JSON.stringify(url)} }` });
      managers.push(m);
      return m;
    };

    before(async () => {
      url = await backend.url();
      sim = await startSimCloud();
      agent = await startSimAgent(sim);
    });
    after(async () => {
      for (const m of managers) await m.stop();
      await (agent as RunningAgent | undefined)?.stop();
      await (sim as SimCloud | undefined)?.close();
    });

    it('survives a restart of the manager: entries, versions, and topologies parsed with them', async () => {
      const first = await start();
      const api1 = managerApi(first);
      await postThesisServices(api1);
      assert.equal((await api1<Entry>('PUT', '/services/Broker', { ...broker(), version: '2' })).json.version, 2);
      await first.stop();

      const second = await start();
      const api2 = managerApi(second);
      const list = await api2<Entry[]>('GET', '/services');
      assert.deepEqual(list.json.map((e) => [e.service_type, e.source, e.version]), [['Broker', 'api', 2], ['Controller', 'api', 1], ['MediaServer', 'api', 1]]);
      assert.deepEqual(list.json[0]?.document, { ...broker(), version: '2' });
      assert.equal((await api2<Problem>('POST', '/services', broker())).status, 409);
      await thesisTopologyRuns(api2);
    });

    it('managers sharing the database see each other\'s changes at once', { skip: backend.shared ? false : 'one SQLite file per manager here' }, async () => {
      const [a, b] = [managers.at(-1), await start()];
      assert.ok(a);
      const apiA = managerApi(a);
      const apiB = managerApi(b);
      assert.equal((await apiB<Entry[]>('GET', '/services')).json.length, 3);
      assert.equal((await apiA('PUT', '/services/Shared', { ...broker(), service_type: 'Shared' })).status, 201);
      assert.equal((await apiB<Entry>('GET', '/services/Shared')).json.version, 1);
      assert.equal((await apiB('POST', '/services', { ...broker(), service_type: 'Shared' })).status, 409);
      assert.equal((await apiB('DELETE', '/services/Shared')).status, 204);
      assert.equal((await apiA('GET', '/services/Shared')).status, 404);
      assert.equal((await apiA('DELETE', '/services/MediaServer')).status, 204);
      const refused = await apiB<Problem>('POST', '/v1/plans', { topology: TOPOLOGY });
      assert.equal(refused.status, 422);
      assert.match(refused.json.detail, /unknown service type "MediaServer"/);
    });
  });
}
