/**
 * The vswitch helpers against a real ovsdb-server (and the in-process server):
 * one-transaction QoS set/replace/remove, no orphans after many cycles, owner
 * tags, foreign rows left alone, optimistic-concurrency guards, policing,
 * orphan clean-up, and bad input refused without changing anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { WaitTimedOutError, OvsdbTimeoutError } from '../../src/ovsdb/errors.ts';
import { byUuid, eq, insert, select, update } from '../../src/ovsdb/operations.ts';
import { namedUuid } from '../../src/ovsdb/datum.ts';
import { Replica } from '../../src/ovsdb/replica.ts';
import {
  planPortSettings,
  TAG_OWNER,
  TAG_POLICING_OWNER,
  TAG_PORT,
  Vswitch,
  VswitchError,
  vswitchReplicaTables,
  type ApplyOptions,
  type PortQosSpec,
  type VswitchView,
} from '../../src/ovsdb/vswitch/index.ts';
import { serverTargets } from './targets.ts';

const DB = 'Open_vSwitch';
const OWNER = 'test-agent';

const targets = serverTargets();

function cap(maxRate: number, minRate = 1_000_000): PortQosSpec {
  return { maxRate, queues: [{ minRate, maxRate }] };
}

/** Adds br-int (if missing) and ports with one interface each, like Nova's os-vif does. */
async function addPorts(client: OvsdbClient, names: string[]): Promise<void> {
  const [bridges] = await client.transact(DB, [select('Bridge', [eq('name', 'br-int')], ['_uuid'])]);
  const ops = [];
  let bridge: string | ReturnType<typeof namedUuid>;
  const existing = bridges?.rows?.[0]?._uuid;
  if (typeof existing === 'string') bridge = existing;
  else {
    bridge = namedUuid('br');
    ops.push(insert('Bridge', { name: 'br-int', datapath_type: 'netdev' }, { uuidName: 'br' }));
    ops.push({
      op: 'mutate' as const,
      table: 'Open_vSwitch',
      where: [],
      mutations: [['bridges', 'insert', [bridge]] as const],
    });
  }
  names.forEach((name, i) => {
    ops.push(
      insert(
        'Interface',
        { name, type: 'internal', external_ids: { 'iface-id': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` } },
        { uuidName: `i${i}` },
      ),
    );
    ops.push(insert('Port', { name, interfaces: [namedUuid(`i${i}`)] }, { uuidName: `p${i}` }));
  });
  ops.push({
    op: 'mutate' as const,
    table: 'Bridge',
    where: typeof bridge === 'string' ? byUuid(bridge) : [eq('name', 'br-int')],
    mutations: [['ports', 'insert', names.map((_, i) => namedUuid(`p${i}`))] as const],
  });
  await client.transact(DB, ops);
}

async function countRows(client: OvsdbClient, table: 'QoS' | 'Queue'): Promise<number> {
  const [r] = await client.transact(DB, [select(table, [], ['_uuid'])]);
  return r?.rows?.length ?? 0;
}

for (const target of targets) {
  describe(`vswitch helpers (${target.name})`, { skip: target.skip }, () => {
    let stop: () => Promise<void> = () => Promise.resolve();
    let client: OvsdbClient;
    let vs: Vswitch;

    before(async () => {
      const started = await target.start();
      stop = started.stop;
      client = await OvsdbClient.connect({ endpoint: started.endpoint });
      vs = new Vswitch(client, { owner: OWNER });
      await addPorts(client, ['qvo11111111-11', 'tap22222222-22', 'qvo33333333-33', 'qvo44444444-44']);
    });

    after(async () => {
      client.close();
      await stop();
    });

    it('finds the Port and Interface of a Neutron port by iface-id (qvo and tap alike)', async () => {
      const qvo = await vs.findByIfaceId('00000000-0000-4000-8000-000000000000');
      assert.equal(qvo?.port.name, 'qvo11111111-11');
      assert.equal(qvo.iface.name, 'qvo11111111-11');
      const tap = await vs.findByIfaceId('00000000-0000-4000-8000-000000000001');
      assert.equal(tap?.port.name, 'tap22222222-22');
      assert.equal(await vs.findByIfaceId('no-such-port'), undefined);
    });

    it('sets a tagged linux-htb QoS with max-rate always set and integer strings', async () => {
      const result = await vs.setPortQos('qvo11111111-11', cap(100_000_000, 10_000_000), { ifaceId: 'neutron-1' });
      assert.equal(result.changed, true);
      const view = await vs.view();
      const port = view.portByName('qvo11111111-11');
      assert.ok(port?.qos);
      const qos = view.qos.get(port.qos);
      assert.equal(qos?.type, 'linux-htb');
      assert.equal(qos.other_config.get('max-rate'), '100000000');
      assert.equal(qos.external_ids.get(TAG_OWNER), OWNER);
      assert.equal(qos.external_ids.get(TAG_PORT), 'qvo11111111-11');
      assert.equal(qos.external_ids.get('cm-iface-id'), 'neutron-1');
      const queue = view.queues.get(qos.queues.get(0) ?? '');
      assert.deepEqual(Object.fromEntries(queue?.other_config ?? []), { 'min-rate': '10000000', 'max-rate': '100000000' });
      assert.equal(queue?.external_ids.get(TAG_OWNER), OWNER);
    });

    it('is idempotent: applying the same settings again sends nothing', async () => {
      const again = await vs.setPortQos('qvo11111111-11', cap(100_000_000, 10_000_000), { ifaceId: 'neutron-1' });
      assert.equal(again.changed, false);
      assert.equal(again.operations, 0);
    });

    it('replaces in one transaction and leaves no orphan after 200 cycles', async () => {
      const before = { qos: await countRows(client, 'QoS'), queues: await countRows(client, 'Queue') };
      for (let i = 0; i < 200; i++) {
        const queues = i % 3 === 0 ? [{ maxRate: 50_000_000 + i }, { minRate: 1000, maxRate: 20_000_000 }] : [{ maxRate: 40_000_000 + i }];
        const r = await vs.setPortQos('qvo33333333-33', { maxRate: 100_000_000 + i, queues });
        assert.equal(r.changed, true);
      }
      const view = await vs.view();
      const port = view.portByName('qvo33333333-33');
      const qos = view.qos.get(port?.qos ?? '');
      assert.equal(qos?.other_config.get('max-rate'), String(100_000_000 + 199));
      // Exactly one QoS and its queues were added for this port; everything replaced was deleted.
      assert.equal(await countRows(client, 'QoS'), before.qos + 1);
      assert.equal(await countRows(client, 'Queue'), before.queues + qos.queues.size);
      assert.deepEqual(await vs.findOwnedOrphans(), { qos: [], queues: [] });
    });

    it('removes its QoS and every row it created', async () => {
      const qosBefore = await countRows(client, 'QoS');
      const r = await vs.setPortQos('qvo33333333-33', null);
      assert.equal(r.changed, true);
      assert.equal(r.deletedQos, 1);
      const view = await vs.view();
      assert.equal(view.portByName('qvo33333333-33')?.qos, undefined);
      assert.equal(await countRows(client, 'QoS'), qosBefore - 1);
      assert.equal((await vs.setPortQos('qvo33333333-33', null)).changed, false);
    });

    it('refuses to overwrite a QoS it does not own, and changes nothing', async () => {
      await client.transact(DB, [
        insert('QoS', { type: 'linux-htb', external_ids: { _type: 'bandwidth_limit' } }, { uuidName: 'neutron' }),
        update('Port', [eq('name', 'qvo44444444-44')], { qos: namedUuid('neutron') }),
      ]);
      const qosBefore = await countRows(client, 'QoS');
      await assert.rejects(vs.setPortQos('qvo44444444-44', cap(10_000_000)), (e: unknown) => {
        assert.ok(e instanceof VswitchError);
        assert.equal(e.code, 'CM_ERR_FOREIGN_QOS');
        return true;
      });
      await assert.rejects(
        vs.apply([{ port: 'tap22222222-22', qos: cap(5_000_000) }, { port: 'qvo44444444-44', qos: null }]),
        VswitchError,
      );
      assert.equal(await countRows(client, 'QoS'), qosBefore);
      const view = await vs.view();
      assert.equal(view.portByName('tap22222222-22')?.qos, undefined, 'a refused batch applies nothing');
      // Neutron's row is not an orphan of ours either.
      assert.deepEqual(await vs.findOwnedOrphans(), { qos: [], queues: [] });
    });

    it('refuses invalid specs and unknown ports before sending anything', async () => {
      const qosBefore = await countRows(client, 'QoS');
      const bad: [string, PortQosSpec][] = [
        ['min above max', { maxRate: 100, queues: [{ minRate: 200, maxRate: 100 }] }],
        ['fractional', { maxRate: 1.5e8 + 0.5, queues: [{}] }],
        ['negative', { maxRate: 100, queues: [{ minRate: -1 }] }],
        ['zero max', { maxRate: 0, queues: [{}] }],
        ['no queues', { maxRate: 100, queues: [] }],
        ['queue above port', { maxRate: 100, queues: [{ maxRate: 200 }] }],
      ];
      for (const [what, spec] of bad) {
        await assert.rejects(vs.setPortQos('tap22222222-22', spec), VswitchError, what);
      }
      await assert.rejects(vs.setPortQos('qvo-missing', cap(1000)), (e: unknown) => {
        assert.ok(e instanceof VswitchError);
        assert.equal(e.code, 'CM_ERR_PORT_NOT_FOUND');
        return true;
      });
      assert.equal(await countRows(client, 'QoS'), qosBefore);
    });

    it('sets and clears upload policing, tagging the interface', async () => {
      await vs.setIngressPolicing('tap22222222-22', { rateKbps: 20_000, burstKbits: 16_000 });
      let view = await vs.view();
      const ifaceUuid = view.portByName('tap22222222-22')?.interfaces[0] ?? '';
      let iface = view.interfaces.get(ifaceUuid);
      assert.equal(iface?.ingress_policing_rate, 20_000);
      assert.equal(iface.ingress_policing_burst, 16_000);
      assert.equal(iface.external_ids.get(TAG_POLICING_OWNER), OWNER);
      assert.equal(iface.external_ids.get('iface-id'), '00000000-0000-4000-8000-000000000001', 'other keys kept');
      assert.equal((await vs.setIngressPolicing('tap22222222-22', { rateKbps: 20_000, burstKbits: 16_000 })).changed, false);
      await vs.setIngressPolicing('tap22222222-22', null);
      view = await vs.view();
      iface = view.interfaces.get(ifaceUuid);
      assert.equal(iface?.ingress_policing_rate, 0);
      assert.equal(iface.ingress_policing_burst, 0);
      assert.equal(iface.external_ids.has(TAG_POLICING_OWNER), false);
      assert.equal(iface.external_ids.get('iface-id'), '00000000-0000-4000-8000-000000000001');
    });

    it('a stale plan fails its wait guard and apply() re-plans on fresh state', async () => {
      await vs.setPortQos('qvo11111111-11', cap(30_000_000));
      const stale: VswitchView = await vs.view();
      // Someone else (another instance with the same owner) replaces the QoS meanwhile.
      const other = new Vswitch(client, { owner: OWNER });
      await other.setPortQos('qvo11111111-11', cap(31_000_000));
      const plan = planPortSettings(stale, [{ port: 'qvo11111111-11', qos: cap(32_000_000) }], { owner: OWNER });
      await assert.rejects(client.transact(DB, plan.operations), WaitTimedOutError);

      let raced = false;
      class RacingVswitch extends Vswitch {
        override async view(options: { signal?: AbortSignal; fresh?: boolean } = {}): Promise<VswitchView> {
          const view = await super.view(options);
          if (!raced) {
            raced = true;
            await other.setPortQos('qvo11111111-11', cap(33_000_000));
          }
          return view;
        }
      }
      const racing = new RacingVswitch(client, { owner: OWNER });
      const result = await racing.setPortQos('qvo11111111-11', cap(34_000_000));
      assert.equal(result.attempts, 2);
      const view = await vs.view();
      assert.equal(view.qos.get(view.portByName('qvo11111111-11')?.qos ?? '')?.other_config.get('max-rate'), '34000000');
      assert.deepEqual(await vs.findOwnedOrphans(), { qos: [], queues: [] });
    });

    it('finds and deletes only its own orphans', async () => {
      await client.transact(DB, [
        insert('Queue', { external_ids: { [TAG_OWNER]: OWNER, [TAG_PORT]: 'gone' } }, { uuidName: 'q' }),
        insert('QoS', { type: 'linux-htb', queues: { 0: namedUuid('q') }, external_ids: { [TAG_OWNER]: OWNER, [TAG_PORT]: 'gone' } }),
        insert('Queue', { external_ids: { [TAG_OWNER]: OWNER } }),
        insert('QoS', { type: 'linux-htb', external_ids: { [TAG_OWNER]: 'another-agent' } }),
      ]);
      const orphans = await vs.findOwnedOrphans();
      assert.equal(orphans.qos.length, 1);
      assert.equal(orphans.queues.length, 2, 'a queue of an orphan QoS is an orphan too');
      assert.equal(await vs.deleteOwnedOrphans(), 3);
      assert.deepEqual(await vs.findOwnedOrphans(), { qos: [], queues: [] });
      const [foreign] = await client.transact(DB, [select('QoS', [['external_ids', 'includes', { [TAG_OWNER]: 'another-agent' }]])]);
      assert.equal(foreign?.rows?.length, 1, "another owner's orphan is left alone");
    });

    it('uses the replica for reads when given one, and sees its own writes at once', async () => {
      const replica = new Replica(client, { db: DB, tables: vswitchReplicaTables() });
      await replica.start();
      try {
        const withReplica = new Vswitch(client, { owner: OWNER, replica });
        for (let i = 0; i < 20; i++) {
          const r = await withReplica.setPortQos('tap22222222-22', cap(60_000_000 + i));
          assert.equal(r.attempts, 1, 'the replica already reflects the previous commit');
        }
        assert.equal((await withReplica.setPortQos('tap22222222-22', cap(60_000_019))).changed, false);
      } finally {
        replica.stop();
      }
    });

    it('waitApplied fails clearly when no ovs-vswitchd applies the change', async () => {
      const options: ApplyOptions = { waitApplied: true, appliedTimeoutMs: 300 };
      await assert.rejects(vs.setPortQos('tap22222222-22', cap(70_000_000), options), OvsdbTimeoutError);
    });
  });
}
