/**
 * The enforcement chain on the simulated cloud, without HTTP: an SLA stored
 * for a server reaches the OVSDB of the host the server runs on, follows
 * the store's changes, and disappears with the server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StoreDesiredSource } from '../../src/agent/desired.ts';
import { ReconcilerFleet } from '../../src/agent/fleet.ts';
import { CloudInventory } from '../../src/agent/inventory.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { openSlaStore, type SlaStore } from '../../src/store/index.ts';
import { closeSwitches, connect, openSwitches, type HostSwitch } from './inventory-helpers.ts';

const OWNER = 'cm-agent-e2e';

async function boot(os: OpenStack, name: string, host: string): Promise<string> {
  const flavor = (await os.nova.listFlavors())[0]!;
  const net = (await os.neutron.listNetworks())[0]!;
  const created = await os.nova.createServer({ name, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
  await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 10_000 });
  return created.id;
}

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SLA enforcement on the simulated cloud', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let store: SlaStore;
  let inventory: CloudInventory;
  let source: StoreDesiredSource;
  let fleet: ReconcilerFleet;
  let switches: Map<string, HostSwitch>;

  before(async () => {
    sim = await startSimCloud({ bootDelayMs: 10 });
    os = connect(sim).os;
    store = await openSlaStore({ path: ':memory:' });
    inventory = new CloudInventory({ nova: os.nova, placement: os.placement, neutron: os.neutron });
    source = new StoreDesiredSource(store, inventory);
    fleet = new ReconcilerFleet({ owner: OWNER, source, endpointFor: (h) => sim.ovsdbEndpoint(h.name), resyncIntervalMs: 60_000 });
    source.onChange(() => {
      fleet.enqueue();
    });
    await source.start();
    switches = await openSwitches(sim, OWNER);
  });

  after(async () => {
    await fleet.stop();
    source.stop();
    closeSwitches(switches);
    await store.close();
    await os.close();
    await sim.close();
  });

  async function qosOf(host: string, portId: string): Promise<string | undefined> {
    const view = await switches.get(host)!.vswitch.view();
    const found = view.findByIfaceId(portId);
    const qos = found?.port.qos === undefined ? undefined : view.qos.get(found.port.qos);
    return qos?.other_config.get('max-rate');
  }

  it('applies a stored SLA on the host of the server, changes it, and removes it', async () => {
    const gold = await boot(os, 'MediaServer-1', 'compute1');
    const wholesale = await boot(os, 'Broker-1', 'compute2');
    await inventory.refresh();
    fleet.sync(inventory.snapshot());
    const portOf = (id: string): string => inventory.snapshot()!.servers.find((s) => s.id === id)!.ports[0]!.id;

    await store.put(gold, { download: { minRate: 100_000_000, maxRate: 10_000_000_000 } }, { host: 'compute1', source: 'v1' });
    await store.put(wholesale, { download: { minRate: 100_000_000, maxRate: 1_000_000_000 }, upload: { maxRate: 1_000_000_000 } }, { host: 'compute2', source: 'thesis' });
    await eventually(async () => (await qosOf('compute1', portOf(gold))) === '10000000000', 'Gold on compute1');
    await eventually(async () => (await qosOf('compute2', portOf(wholesale))) === '1000000000', 'Wholesale on compute2');
    await eventually(() => fleet.status().filter((s) => s.state === 'applied').length === 2, 'both ports applied');
    assert.ok(fleet.ready().every((h) => h.connected));

    await store.put(gold, { download: { maxRate: 500_000_000 } });
    await eventually(async () => (await qosOf('compute1', portOf(gold))) === '500000000', 'changed SLA');

    await store.delete(gold);
    await eventually(async () => (await qosOf('compute1', portOf(gold))) === undefined, 'SLA removed');

    // The server goes away: its port leaves the switch, and so do the rows we owned for it.
    const port = portOf(wholesale);
    await os.nova.deleteServer(wholesale);
    await eventually(async () => (await switches.get('compute2')!.vswitch.view()).findByIfaceId(port) === undefined, 'port unplugged');
    await fleet.whenIdle();
    for (const s of switches.values()) {
      assert.deepEqual(await s.vswitch.findOwnedOrphans(), { qos: [], queues: [] });
      const view = await s.vswitch.view();
      assert.equal([...view.qos.values()].length, 0, 'no QoS row left on any host');
    }
  });
});
