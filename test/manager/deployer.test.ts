/**
 * The deployer's ENFORCING step with a fake agent on a SQLite manager store:
 * what each unit's SLA PUT carries — the class's rates plus the unit's pair
 * guarantees from the topology's traffic demands.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { V1Hosts } from '../../src/agent/hosts-view.ts';
import type { AgentSlaBody, AgentSlaStatusItem } from '../../src/manager/agent-client.ts';
import { Deployer, peerGuaranteesByUnit, type AgentApi, type CloudApi, type UnitRecord } from '../../src/manager/deployer.ts';
import type { TopologyRequest } from '../../src/manager/planner.ts';
import { openManagerStore } from '../../src/store/index.ts';
import { DEFAULT_SLA_CLASSES } from '../../src/topology/index.ts';

const THESIS_YAML = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');

/** A server id per unit of the thesis topology, upper case as a careless cloud might give them. */
const SERVER: Record<string, string> = {
  'Controller-1': 'C0000000-0000-4000-8000-000000000001',
  'Broker-1': 'B0000000-0000-4000-8000-000000000001',
  'MediaServer-1': 'A0000000-0000-4000-8000-000000000001',
  'MediaServer-2': 'A0000000-0000-4000-8000-000000000002',
  'MediaServer-3': 'A0000000-0000-4000-8000-000000000003',
};
const id = (unit: string): string => (SERVER[unit] ?? '').toLowerCase();

class FakeAgent implements AgentApi {
  readonly puts = new Map<string, AgentSlaBody>();
  hosts(): Promise<V1Hosts> {
    return Promise.reject(new Error('ENFORCING does not read hosts'));
  }
  putSla(serverId: string, body: AgentSlaBody): Promise<void> {
    this.puts.set(serverId, body);
    return Promise.resolve();
  }
  deleteSla(): Promise<void> {
    return Promise.resolve();
  }
  slaStatus(_signal?: AbortSignal, serverIds?: readonly string[]): Promise<AgentSlaStatusItem[]> {
    return Promise.resolve((serverIds ?? []).map((server_id) => ({ server_id, state: 'applied' as const, reason: null, ports: [] })));
  }
}

const unusedCloud = new Proxy({} as CloudApi, {
  get: () => {
    throw new Error('ENFORCING does not call the cloud');
  },
});

/** Drives one topology from ENFORCING to ACTIVE and returns what the agent received, by unit. */
async function enforce(yaml: string, units: readonly string[] = Object.keys(SERVER)): Promise<Map<string, AgentSlaBody | undefined>> {
  const store = await openManagerStore({ url: 'sqlite::memory:' });
  const agent = new FakeAgent();
  const deployer = new Deployer({
    store,
    agent,
    cloud: unusedCloud,
    classes: DEFAULT_SLA_CLASSES,
    uplink: { defaultBps: 1e9, hosts: {} },
    availabilityZone: 'nova',
    stackTimeoutS: 10,
    enforceTimeoutS: 10,
    leaseMs: 30_000,
    pollMs: 10,
  });
  try {
    const request: TopologyRequest = { format: 'yaml', files: [{ name: 'thesis.yaml', text: yaml }], strategy: 'traffic-aware' };
    const records: UnitRecord[] = Object.keys(SERVER).map((name) => ({
      name,
      serviceInstance: name.replace(/-\d+$/, ''),
      host: 'compute1',
      serverId: units.includes(name) ? (SERVER[name] ?? null) : null,
      ports: [],
      slaClass: name.startsWith('MediaServer') ? 'Gold' : 'Wholesale',
      slaState: null,
    }));
    const { topology } = await store.createTopology({
      name: 'local_nm_template_minified',
      projectId: 'p',
      strategy: 'traffic-aware',
      request,
      stackName: 'cm-test',
      state: 'ENFORCING',
      units: records,
      deployRequestedAt: new Date().toISOString(),
    });
    await deployer.claim();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = await store.getTopology(topology.id);
      if (now?.state === 'ACTIVE') break;
      if (now?.state === 'FAILED' || Date.now() > deadline) throw new Error(`topology ${String(now?.state)}: ${JSON.stringify(now?.error)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return new Map(Object.keys(SERVER).map((unit) => [unit, agent.puts.get(SERVER[unit] ?? '')]));
  } finally {
    await deployer.stop();
    await store.close();
  }
}

describe('deployer: SLAs sent to the agent', () => {
  it('the thesis topology: each MediaServer gets Broker-1 as a peer, Broker-1 every MediaServer, at the derived 100 Mbit/s', async () => {
    const puts = await enforce(THESIS_YAML);
    const pair = { min: 100_000_000 };
    for (const m of ['MediaServer-1', 'MediaServer-2', 'MediaServer-3']) {
      assert.deepEqual(puts.get(m), { download: { min: 100_000_000, max: 10_000_000_000 }, peers: { [id('Broker-1')]: pair } }, m);
    }
    assert.deepEqual(puts.get('Broker-1'), {
      download: { min: 100_000_000, max: 1_000_000_000 },
      peers: { [id('MediaServer-1')]: pair, [id('MediaServer-2')]: pair, [id('MediaServer-3')]: pair },
    });
    const controller = puts.get('Controller-1');
    assert.deepEqual(controller, { download: { min: 100_000_000, max: 1_000_000_000 } });
    assert.ok(!Object.hasOwn(controller, 'peers'), 'a unit without demands gets no peers key');
  });

  it('declared traffic: the MediaServers get each other, demands to the same peer add up', async () => {
    const yaml = `${THESIS_YAML}
traffic:
  - { between: [MediaServer, MediaServer], guaranteed: 30Mbit }
  - { between: [MediaServer-1, MediaServer-2], guaranteed: 5Mbit }
  - { between: [Broker, MediaServer-3], guaranteed: 20Mbit }
`;
    const puts = await enforce(yaml);
    assert.deepEqual(puts.get('MediaServer-1')?.peers, { [id('MediaServer-2')]: { min: 35_000_000 }, [id('MediaServer-3')]: { min: 30_000_000 } });
    assert.deepEqual(puts.get('MediaServer-2')?.peers, { [id('MediaServer-1')]: { min: 35_000_000 }, [id('MediaServer-3')]: { min: 30_000_000 } });
    assert.deepEqual(puts.get('MediaServer-3')?.peers, {
      [id('Broker-1')]: { min: 20_000_000 },
      [id('MediaServer-1')]: { min: 30_000_000 },
      [id('MediaServer-2')]: { min: 30_000_000 },
    });
    assert.deepEqual(puts.get('Broker-1')?.peers, { [id('MediaServer-3')]: { min: 20_000_000 } });
    assert.ok(!('peers' in (puts.get('Controller-1') ?? {})), 'Controller-1 has no demand');
  });

  it('a peer without a server is left out; a unit without a server gets no PUT', async () => {
    const puts = await enforce(THESIS_YAML, ['Broker-1', 'MediaServer-1', 'MediaServer-2', 'Controller-1']);
    assert.equal(puts.get('MediaServer-3'), undefined);
    assert.deepEqual(puts.get('Broker-1')?.peers, { [id('MediaServer-1')]: { min: 100_000_000 }, [id('MediaServer-2')]: { min: 100_000_000 } });
  });
});

describe('peerGuaranteesByUnit', () => {
  const units = [
    { name: 'a', serverId: 'AAAAAAAA-0000-4000-8000-000000000000' },
    { name: 'b', serverId: 'bbbbbbbb-0000-4000-8000-000000000000' },
    { name: 'c', serverId: null },
  ];
  it('gives both sides of a demand, lower-case ids, sums repeated pairs, skips units without a server', () => {
    const peers = peerGuaranteesByUnit(
      [
        { a: 'a', b: 'b', guaranteedBps: 5 },
        { a: 'a', b: 'b', guaranteedBps: 7 },
        { a: 'a', b: 'c', guaranteedBps: 9 },
        { a: 'b', b: 'c', guaranteedBps: 9 },
      ],
      units,
    );
    assert.deepEqual(
      [...peers],
      [
        ['a', [{ serverId: 'bbbbbbbb-0000-4000-8000-000000000000', minRate: 12 }]],
        ['b', [{ serverId: 'aaaaaaaa-0000-4000-8000-000000000000', minRate: 12 }]],
      ],
    );
  });
  it('no demands, no peers', () => {
    assert.equal(peerGuaranteesByUnit([], units).size, 0);
    assert.equal(peerGuaranteesByUnit([{ a: 'a', b: 'b', guaranteedBps: 0 }], units).size, 0, 'a zero demand guarantees nothing');
  });
});
