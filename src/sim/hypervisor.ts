/**
 * Per-host switch databases and the default hypervisor hook, which plugs a
 * server's port into br-int the way os-vif does (port `qvo` + 11 characters
 * of the Neutron port id, Interface external_ids iface-id/iface-status/
 * attached-mac/vm-uuid).
 */
import { OvsdbClient } from '../ovsdb/client.ts';
import { namedUuid } from '../ovsdb/datum.ts';
import { startOvsdbServer } from '../ovsdb/local-server.ts';
import { eq, insert, mutate, remove, select } from '../ovsdb/operations.ts';
import { createVswitchServer } from '../ovsdb/server/index.ts';
import type { SimPort, SimServer } from './state.ts';

export interface HypervisorHook {
  plug(host: string, server: SimServer, port: SimPort): Promise<void>;
  unplug(host: string, server: SimServer, port: SimPort): Promise<void>;
  /**
   * A hook that brings its own switch per host (e.g. the testbed's real
   * ovs-vswitchd) gives its OVSDB endpoints here; the sim then starts none.
   */
  ovsdbEndpoint?(host: string): string;
  /** And the OpenFlow endpoint of each host's br-int, where it has a real ovs-vswitchd. */
  openflowEndpoint?(host: string): string;
}

/**
 * How os-vif wires a VM port into br-int: `hybrid` (a Linux bridge between, the iptables
 * firewall; the OVS port is `qvo…`) or `native` (the tap device itself on br-int, the
 * openvswitch or noop firewall; `tap…`, as on the real Zed cloud of the CI stage).
 */
export type OvsPlug = 'hybrid' | 'native';

/** os-vif's OVS port name for a Neutron port (hybrid plug, the simulated cloud's default). */
export const ovsPortName = (portId: string, plug: OvsPlug = 'hybrid'): string => `${plug === 'native' ? 'tap' : 'qvo'}${portId.slice(0, 11)}`;

interface HostSwitch {
  endpoint: string;
  client: OvsdbClient;
  stop: () => Promise<void>;
}

export class HostSwitches implements HypervisorHook {
  private readonly switches = new Map<string, HostSwitch>();

  private constructor(private readonly plugMode: OvsPlug) {}

  static async start(hosts: readonly string[], mode: 'in-process' | 'real', plug: OvsPlug = 'hybrid'): Promise<HostSwitches> {
    const out = new HostSwitches(plug);
    try {
      for (const host of hosts) {
        let endpoint: string;
        let stop: () => Promise<void>;
        if (mode === 'real') {
          const server = await startOvsdbServer({ init: true });
          endpoint = server.unixEndpoint;
          stop = () => server.stop();
        } else {
          const server = createVswitchServer({ init: true });
          endpoint = await server.listen('tcp:127.0.0.1:0');
          stop = () => server.close();
        }
        let client: OvsdbClient;
        try {
          client = await OvsdbClient.connect({ endpoint });
        } catch (err) {
          await stop();
          throw err;
        }
        out.switches.set(host, { endpoint, client, stop });
        // ovs-vsctl add-br br-int: the bridge with its own internal port and interface.
        await client.transact('Open_vSwitch', [
          insert('Interface', { name: 'br-int', type: 'internal' }, { uuidName: 'i' }),
          insert('Port', { name: 'br-int', interfaces: [namedUuid('i')] }, { uuidName: 'p' }),
          insert('Bridge', { name: 'br-int', ports: [namedUuid('p')], external_ids: { 'bridge-id': 'br-int' } }, { uuidName: 'br' }),
          mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid('br')]]]),
        ]);
      }
    } catch (err) {
      await out.close();
      throw err;
    }
    return out;
  }

  endpoint(host: string): string {
    const sw = this.switches.get(host);
    if (!sw) throw new Error(`no simulated host "${host}"`);
    return sw.endpoint;
  }

  private client(host: string): OvsdbClient {
    const sw = this.switches.get(host);
    if (!sw) throw new Error(`no simulated host "${host}"`);
    return sw.client;
  }

  async plug(host: string, server: SimServer, port: SimPort): Promise<void> {
    const name = ovsPortName(port.id, this.plugMode);
    await this.client(host).transact('Open_vSwitch', [
      insert(
        'Interface',
        { name, external_ids: { 'iface-id': port.id, 'iface-status': 'active', 'attached-mac': port.macAddress, 'vm-uuid': server.id } },
        { uuidName: 'i' },
      ),
      insert('Port', { name, interfaces: [namedUuid('i')], external_ids: {} }, { uuidName: 'p' }),
      mutate('Bridge', [eq('name', 'br-int')], [['ports', 'insert', [namedUuid('p')]]]),
    ]);
  }

  async unplug(host: string, _server: SimServer, port: SimPort): Promise<void> {
    const client = this.client(host);
    const name = ovsPortName(port.id, this.plugMode);
    const [found] = await client.transact('Open_vSwitch', [select('Port', [eq('name', name)], ['_uuid'])]);
    const uuid = found?.rows?.[0]?._uuid;
    if (typeof uuid !== 'string') return;
    await client.transact('Open_vSwitch', [
      mutate('Bridge', [eq('name', 'br-int')], [['ports', 'delete', [uuid]]]),
      remove('Port', [eq('name', name)]),
      remove('Interface', [eq('name', name)]),
    ]);
  }

  async close(): Promise<void> {
    const all = [...this.switches.values()];
    this.switches.clear();
    for (const sw of all) {
      sw.client.close();
      await sw.stop();
    }
  }
}
