/**
 * The OpenFlow client against a REAL ovs-vswitchd (userspace datapath, in a
 * network namespace, from test/harness/vswitch-host.ts), over the bridge's
 * management socket `<rundir>/br-int.mgmt`. What the client installs is read
 * back with `ovs-ofctl -O OpenFlow13` on the same socket, so the test does not
 * only check the client against itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  OFPTT_ALL,
  OpenFlowBatchError,
  OpenFlowClient,
  band,
  flowMod,
  instruction,
  match,
  meterMod,
  nx,
  type FlowRemoved,
} from '../../src/openflow/index.ts';
import { findBinary, integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';
import { startVswitchHost, type VswitchHost } from '../harness/vswitch-host.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-ofctl', 'ip', 'ethtool']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the OpenFlow integration test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');

const COOKIE = 0xc0ffee0000000001n;
const ALL_BITS = 0xffffffffffffffffn;
const METER = 41;

function hex(n: bigint | number): string {
  return `0x${n.toString(16)}`;
}

function once<T>(emitter: OpenFlowClient, event: 'flowRemoved' | 'connected', timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no ${event} within ${String(timeoutMs)} ms`)); }, timeoutMs);
    emitter.once(event, (arg: unknown) => {
      clearTimeout(timer);
      resolve(arg as T);
    });
  });
}

describe('OpenFlow client on a real ovs-vswitchd', { skip: requirement.skip || notRoot }, () => {
  let host: VswitchHost;
  let mgmt: string;
  let of: OpenFlowClient;
  let portA = 0;
  let portB = 0;

  const ofctl = async (command: string, ...args: string[]): Promise<string> => {
    const bin = findBinary('ovs-ofctl') ?? 'ovs-ofctl';
    return (await run(bin, ['-O', 'OpenFlow13', command, `unix:${mgmt}`, ...args])).stdout;
  };
  const ourFlowLines = async (): Promise<string[]> => (await ofctl('dump-flows')).split('\n').filter((l) => l.includes(`cookie=${hex(COOKIE)}`));

  before(async () => {
    host = await startVswitchHost();
    mgmt = `${host.dir}/${host.bridge}.mgmt`;
    // OVS enables OpenFlow 1.0-1.5 when Bridge:protocols is empty; set it only if someone narrowed it.
    const protocols = (await host.vsctl('get', 'Bridge', host.bridge, 'protocols')).trim();
    if (protocols !== '[]' && !protocols.includes('OpenFlow13')) await host.vsctl('set', 'Bridge', host.bridge, 'protocols=OpenFlow13');
    await host.addVethPort('qvoofa');
    await host.addVethPort('qvoofb');
    portA = Number((await host.vsctl('get', 'Interface', 'qvoofa', 'ofport')).trim());
    portB = Number((await host.vsctl('get', 'Interface', 'qvoofb', 'ofport')).trim());
    of = new OpenFlowClient({ endpoint: `unix:${mgmt}`, callTimeoutMs: 10_000 });
    await of.connect();
  });

  after(async () => {
    of.close();
    await host.stop();
  });

  it('handshakes over <rundir>/br-int.mgmt: datapath id and tables as ovs-ofctl shows them', async () => {
    const show = await ofctl('show');
    const dpid = /dpid:([0-9a-f]{16})/.exec(show)?.[1];
    assert.ok(dpid, show);
    assert.equal(of.features?.datapathId, BigInt(`0x${dpid}`));
    assert.equal(of.features.nTables, 254);
    assert.equal(of.isConnected, true);
  });

  it('installs a meter and the metering flow in one batch; ovs-ofctl reads them back', async () => {
    await of.send([
      meterMod({ meterId: METER, flags: ['kbps', 'burst', 'stats'], bands: [band.drop(10_000, 1000)] }),
      flowMod({
        tableId: 0,
        priority: 60000,
        cookie: COOKIE,
        flags: ['send_flow_rem'],
        match: [match.inPort(portA), match.reg(12, 0)],
        instructions: [instruction.meter(METER), instruction.applyActions([nx.regLoad(12, 0, 1, 1), nx.resubmit(0)])],
      }),
    ]);
    const flows = await ourFlowLines();
    assert.equal(flows.length, 1, (await ofctl('dump-flows')));
    const line = flows[0]!;
    assert.match(line, /table=0,/);
    assert.match(line, /send_flow_rem/);
    assert.match(line, new RegExp(`priority=60000,reg12=0,in_port=${String(portA)} `));
    assert.match(line, new RegExp(`actions=meter:${String(METER)},load:0x1->NXM_NX_REG12\\[0\\],resubmit\\(,0\\)`));
    const meters = await ofctl('dump-meters');
    assert.match(meters, new RegExp(`meter=${String(METER)} kbps burst stats bands=\\s*type=drop rate=10000 burst_size=1000`));
  });

  it('flow stats filtered by cookie/mask return only our flow, decoded as sent', async () => {
    await ofctl('add-flow', 'cookie=0x999,table=0,priority=5,in_port=1,actions=drop');
    const mine = await of.flowStats({ cookie: COOKIE, cookieMask: ALL_BITS });
    assert.equal(mine.length, 1);
    const f = mine[0]!;
    assert.equal(f.cookie, COOKIE);
    assert.equal(f.priority, 60000);
    assert.equal(f.tableId, 0);
    assert.equal(f.flags, 1);
    assert.deepEqual(
      [...f.match].sort((a, b) => a.field.localeCompare(b.field)),
      [match.inPort(portA), match.reg(12, 0)],
    );
    assert.deepEqual(f.instructions, [instruction.meter(METER), instruction.applyActions([nx.regLoad(12, 0, 1, 1), nx.resubmit(0)])]);
    const all = await of.flowStats({ tableId: 0 });
    assert.ok(all.some((x) => x.cookie === 0x999n), 'unfiltered stats include the foreign flow');
  });

  it('reports switch errors by name and batch index', async () => {
    const error = await of
      .send([
        meterMod({ meterId: METER + 1, bands: [band.drop(5000)] }),
        meterMod({ meterId: METER, bands: [band.drop(5000)] }),
        flowMod({ cookie: COOKIE, priority: 7, match: [match.tcpDst(80)] }),
      ])
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof OpenFlowBatchError, String(error));
    assert.deepEqual(error.errors.map((e) => [e.index, e.typeName, e.codeName]), [
      [1, 'OFPET_METER_MOD_FAILED', 'OFPMMFC_METER_EXISTS'],
      [2, 'OFPET_BAD_MATCH', 'OFPBMC_BAD_PREREQ'],
    ]);
    // Message 0 was applied: OpenFlow batches are not transactions.
    const configs = await of.meterConfig({ meterId: METER + 1 });
    assert.equal(configs.length, 1);
    const applied = configs[0]!.bands[0]!;
    assert.equal(applied.type, 'drop');
    assert.equal(applied.rate, 5000);
  });

  it('meter stats and features', async () => {
    const stats = await of.meterStats({ meterId: METER });
    assert.equal(stats.length, 1);
    assert.equal(stats[0]!.meterId, METER);
    assert.equal(stats[0]!.flowCount, 1, 'our flow uses the meter');
    assert.equal(stats[0]!.bandStats.length, 1);
    const features = await of.meterFeatures();
    assert.ok(features.maxMeter > 1000, `max_meter ${String(features.maxMeter)}`);
    assert.ok((features.bandTypes & (1 << 1)) !== 0, 'drop band supported');
    assert.ok(features.maxBands >= 1);
    const text = await ofctl('meter-features');
    assert.match(text, new RegExp(`max_meter:${String(features.maxMeter)}`));
  });

  it('port desc lists the veth ports; port stats counters move when packets cross the bridge', async () => {
    const ports = await of.portDesc();
    const a = ports.find((p) => p.name === 'qvoofa');
    assert.equal(a?.portNo, portA);
    assert.equal(ports.find((p) => p.name === 'qvoofb')?.portNo, portB);
    assert.ok(ports.some((p) => p.name === host.bridge && p.portNo === 0xfffffffe), 'LOCAL port');
    const before = (await of.portStats({ port: portA }))[0]!;
    assert.equal(before.portNo, portA);
    const all = await of.portStats();
    assert.ok(all.length >= 3);
    // Packets from the "VM" side of qvoofa enter the bridge on port A: five UDP
    // broadcasts sent by node inside the namespace (ping is not always installed).
    await host.exec('ip', 'addr', 'add', '10.231.0.1/24', 'dev', 'qvbofa');
    const script = [
      "const s = require('node:dgram').createSocket('udp4');",
      "s.bind({ address: '10.231.0.1' }, async () => { s.setBroadcast(true);",
      "for (let i = 0; i < 5; i++) await new Promise((r) => s.send('cm-openflow-test', 9, '10.231.0.255', r));",
      's.close(); });',
    ].join(' ');
    await host.exec(process.execPath, '-e', script);
    await new Promise((r) => setTimeout(r, 300));
    const after = (await of.portStats({ port: portA }))[0]!;
    assert.ok(after.rxPackets > before.rxPackets, `rx_packets ${String(before.rxPackets)} -> ${String(after.rxPackets)}`);
    assert.ok(after.rxBytes > before.rxBytes);
    const b = (await of.portStats({ port: portB }))[0]!;
    assert.ok(b.txPackets > 0n, 'flooded ARP left through port B');
  });

  it('gets OFPT_FLOW_REMOVED (reason delete) when another connection deletes our flow; a service connection without SET_ASYNC gets nothing', async () => {
    const quiet = new OpenFlowClient({ endpoint: `unix:${mgmt}`, asyncMessages: false, reconnect: { enabled: false } });
    await quiet.connect();
    const quietGot: FlowRemoved[] = [];
    quiet.on('flowRemoved', (m) => quietGot.push(m));
    const removed = once<FlowRemoved>(of, 'flowRemoved');
    await ofctl('del-flows', `cookie=${hex(COOKIE)}/-1`);
    const m = await removed;
    assert.equal(m.cookie, COOKIE);
    assert.equal(m.reason, 'delete');
    assert.equal(m.priority, 60000);
    assert.equal(m.tableId, 0);
    assert.deepEqual([...m.match].sort((x, y) => x.field.localeCompare(y.field)), [match.inPort(portA), match.reg(12, 0)]);
    await quiet.barrier();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(quietGot, [], 'OVS sends no async messages to a service connection that did not configure them');
    quiet.close();
  });

  it('deletes by cookie: only our flows go', async () => {
    await of.send([1, 2, 3].map((i) => flowMod({ cookie: COOKIE, tableId: i, priority: 100 + i, match: [match.inPort(portB)] })));
    assert.equal((await ourFlowLines()).length, 3);
    await of.send([flowMod({ command: 'delete', tableId: OFPTT_ALL, cookie: COOKIE, cookieMask: ALL_BITS })]);
    assert.deepEqual(await ourFlowLines(), []);
    const rest = await ofctl('dump-flows');
    assert.match(rest, /cookie=0x999/);
    assert.match(rest, /priority=0 actions=NORMAL/);
    await of.send([meterMod({ command: 'delete', meterId: 0xffffffff })]);
    assert.doesNotMatch(await ofctl('dump-meters'), /meter=/);
  });

  it('reconnects after the connection drops and handshakes again', async () => {
    const dpid = of.features?.datapathId;
    const again = once<{ reconnected: boolean; features: { datapathId: bigint } }>(of, 'connected');
    of.dropConnection();
    const info = await again;
    assert.equal(info.reconnected, true);
    assert.equal(info.features.datapathId, dpid);
    await of.barrier();
  });
});
