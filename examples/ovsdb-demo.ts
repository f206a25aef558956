/**
 * A small tour of the OVSDB layer, the README's run command until the manager
 * exists: the thesis's five VMs get their SLA classes (Gold for media servers,
 * Wholesale for the rest) written to a switch database in ONE transaction,
 * read back through a monitor-fed replica, changed, then removed without
 * leaving a single QoS or Queue row behind.
 *
 * Uses a real ovsdb-server when Open vSwitch is installed, else the
 * in-process server. Flags: --json prints a JSON summary as the last line.
 */
import { OvsdbClient } from '../src/ovsdb/client.ts';
import { namedUuid } from '../src/ovsdb/datum.ts';
import { insert, mutate, select } from '../src/ovsdb/operations.ts';
import { Replica } from '../src/ovsdb/replica.ts';
import { createVswitchServer } from '../src/ovsdb/server/index.ts';
import { findBinary, startOvsdbServer } from '../src/ovsdb/local-server.ts';
import {
  Vswitch,
  vswitchReplicaTables,
  type PortSettings,
} from '../src/ovsdb/vswitch/index.ts';

const json = process.argv.includes('--json');
const say = (line = ''): void => {
  if (!json) console.log(line);
};

const MBIT = 1_000_000;
const CLASSES = {
  Gold: { minRate: 100 * MBIT, maxRate: 10_000 * MBIT },
  Wholesale: { minRate: 100 * MBIT, maxRate: 1_000 * MBIT },
} as const;
type ClassName = keyof typeof CLASSES;

const VMS: { name: string; serviceType: string; neutronPort: string }[] = [
  { name: 'Controller-1', serviceType: 'Controller', neutronPort: '3f9d1c2a-0b6e-4c1d-9a51-0c7e2b1d4a01' },
  { name: 'Broker-1', serviceType: 'Broker', neutronPort: '7a2e4b6c-1d3f-4e5a-8b7c-9d0e1f2a3b02' },
  { name: 'MediaServer-1', serviceType: 'MediaServer', neutronPort: 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d03' },
  { name: 'MediaServer-2', serviceType: 'MediaServer', neutronPort: 'c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e04' },
  { name: 'MediaServer-3', serviceType: 'MediaServer', neutronPort: 'd3e4f5a6-b7c8-4d9e-8f1a-2b3c4d5e6f05' },
];
/** Nova/os-vif name the OVS port after the Neutron port: qvo + the first 11 characters. */
const portName = (neutronPort: string): string => `qvo${neutronPort.slice(0, 11)}`;
const classOf = (serviceType: string): ClassName => (serviceType === 'MediaServer' ? 'Gold' : 'Wholesale');

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

const rate = (value: string | undefined): string => {
  if (value === undefined) return '-';
  const n = Number(value);
  return n >= 1e9 ? `${String(n / 1e9)} Gbit/s` : `${String(n / 1e6)} Mbit/s`;
};

async function main(): Promise<void> {
  const hasOvs = ['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl'].every((b) => findBinary(b) !== undefined);
  let stopServer: () => Promise<void>;
  let endpoint: string;
  if (hasOvs) {
    const server = await startOvsdbServer({ init: true });
    endpoint = server.unixEndpoint;
    stopServer = () => server.stop();
    say(`switch database: real ovsdb-server (${endpoint})`);
  } else {
    const server = createVswitchServer({ init: true });
    endpoint = await server.listen('tcp:127.0.0.1:0');
    stopServer = () => server.close();
    say(`switch database: in-process OVSDB server (${endpoint}); install openvswitch-switch to use the real one`);
  }

  const client = await OvsdbClient.connect({ endpoint });
  try {
    // What Nova's os-vif does when it plugs a VM: a port on br-int whose interface names the Neutron port.
    await client.transact('Open_vSwitch', [
      insert('Bridge', { name: 'br-int', datapath_type: 'netdev', ports: VMS.map((_, i) => namedUuid(`p${String(i)}`)) }, { uuidName: 'br' }),
      mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid('br')]]]),
      ...VMS.flatMap((vm, i) => [
        insert('Port', { name: portName(vm.neutronPort), interfaces: [namedUuid(`i${String(i)}`)] }, { uuidName: `p${String(i)}` }),
        insert(
          'Interface',
          { name: portName(vm.neutronPort), type: 'internal', external_ids: { 'iface-id': vm.neutronPort, 'attached-mac': `fa:16:3e:00:00:0${String(i)}` } },
          { uuidName: `i${String(i)}` },
        ),
      ]),
    ]);
    say(`plugged ${String(VMS.length)} VM ports into br-int`);

    const replica = new Replica(client, { db: 'Open_vSwitch', tables: vswitchReplicaTables() });
    await replica.start();
    const vs = new Vswitch(client, { owner: 'cm-demo', replica });

    const settings = (classFor: (vm: (typeof VMS)[number]) => ClassName): PortSettings[] =>
      VMS.map((vm) => {
        const sla = CLASSES[classFor(vm)];
        return {
          port: portName(vm.neutronPort),
          ifaceId: vm.neutronPort,
          qos: { maxRate: sla.maxRate, queues: [{ minRate: sla.minRate, maxRate: sla.maxRate }] },
          policing: { rateKbps: sla.maxRate / 1000, burstKbits: Math.round((sla.maxRate / 1000) * 0.8) },
        };
      });

    const started = performance.now();
    const applied = await vs.apply(settings((vm) => classOf(vm.serviceType)), { comment: 'cm-demo: thesis SLA classes' });
    const applyMs = performance.now() - started;
    say(`applied Gold/Wholesale to ${String(VMS.length)} ports in ONE transaction (${String(applied.operations)} operations, ${applyMs.toFixed(1)} ms)`);

    const readBack = async (): Promise<string[][]> => {
      const view = await vs.view();
      const rows = [['VM', 'class', 'OVS port', 'Neutron port', 'QoS', 'download max', 'queue 0 min / max', 'upload policing']];
      for (const vm of VMS) {
        const found = view.findByIfaceId(vm.neutronPort);
        const qos = found?.port.qos === undefined ? undefined : view.qos.get(found.port.qos);
        const q0 = qos?.queues.get(0);
        const queue = q0 === undefined ? undefined : view.queues.get(q0);
        rows.push([
          vm.name,
          qos ? classOf(vm.serviceType) : '-',
          found?.port.name ?? '?',
          vm.neutronPort.slice(0, 8),
          qos?._uuid.slice(0, 8) ?? '-',
          rate(qos?.other_config.get('max-rate')),
          queue ? `${rate(queue.other_config.get('min-rate'))} / ${rate(queue.other_config.get('max-rate'))}` : '-',
          found && found.iface.ingress_policing_rate > 0 ? rate(String(found.iface.ingress_policing_rate * 1000)) : '-',
        ]);
      }
      return rows;
    };
    say('');
    say('SLA table read back from the switch database:');
    say(table(await readBack()));

    const again = await vs.apply(settings((vm) => classOf(vm.serviceType)));
    say('');
    say(`re-applying the same SLAs: ${again.changed ? 'CHANGED (unexpected)' : 'nothing to do (idempotent)'}`);

    const upgraded = await vs.apply(settings((vm) => (vm.name === 'Broker-1' ? 'Gold' : classOf(vm.serviceType))));
    say(`upgrading Broker-1 to Gold: ${String(upgraded.deletedQos)} QoS and ${String(upgraded.deletedQueues)} Queue row(s) replaced in the same transaction`);

    const removed = await vs.apply(VMS.map((vm) => ({ port: portName(vm.neutronPort), qos: null, policing: null })));
    const [qosRows, queueRows] = await client.transact('Open_vSwitch', [select('QoS', [], ['_uuid']), select('Queue', [], ['_uuid'])]);
    const left = { qos: qosRows?.rows?.length ?? -1, queues: queueRows?.rows?.length ?? -1 };
    say(`removing every SLA: ${String(removed.deletedQos)} QoS and ${String(removed.deletedQueues)} Queue rows deleted; left in the database: ${String(left.qos)} QoS, ${String(left.queues)} Queue`);
    replica.stop();

    const summary = {
      demo: 'ovsdb',
      server: hasOvs ? 'ovsdb-server' : 'in-process',
      ports: VMS.length,
      gold: VMS.filter((vm) => classOf(vm.serviceType) === 'Gold').length,
      wholesale: VMS.filter((vm) => classOf(vm.serviceType) === 'Wholesale').length,
      apply_ms: Number(applyMs.toFixed(2)),
      idempotent: !again.changed,
      left_qos_rows: left.qos,
      left_queue_rows: left.queues,
    };
    if (json) console.log(JSON.stringify(summary));
    if (again.changed || left.qos !== 0 || left.queues !== 0) process.exitCode = 1;
  } finally {
    client.close();
    await stopServer();
  }
}

await main();
