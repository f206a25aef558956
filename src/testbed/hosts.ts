/**
 * A real Open vSwitch data plane for simulated compute hosts, on one machine.
 *
 * Each compute host is a network namespace `cm-<prefix>-<host>` with its own
 * ovsdb-server (running in the root namespace: a unix socket for
 * ovs-vswitchd and a TCP port on 127.0.0.1 for the agent) and its own
 * ovs-vswitchd running inside the namespace, whose `br-int` uses the
 * userspace datapath (`datapath_type=netdev`) because the kernel has no
 * openvswitch module to rely on.
 *
 * A VM is a namespace `cm-<prefix>-vm-<server id>` holding one end of a veth
 * per NIC; the other end sits in the host namespace, named and tagged the way
 * os-vif plugs a Neutron port (`qvo` + 11 characters of the port id,
 * Interface external_ids iface-id/iface-status/attached-mac/vm-uuid), so the
 * agent finds it as it would on a real compute node.
 *
 * With `nicRateBps` the hosts get a "physical" network: in every host
 * namespace a Linux bridge `br-phys` joined to br-int by a veth pair and to a
 * switch namespace `cm-<prefix>-sw` by the host's NIC (`nic0`), a veth whose
 * two directions are shaped with tbf to the NIC rate. The NIC is not an OVS
 * port on purpose: ovs-vswitchd replaces the root qdisc of ports without a
 * QoS row, which would undo the shaping.
 *
 * Everything made here (namespaces, veths inside them, processes, temp dirs)
 * is removed by close(), also after a start that failed half-way, and by an
 * exit hook if the process dies first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OvsdbClient } from '../ovsdb/client.ts';
import { namedUuid } from '../ovsdb/datum.ts';
import { WaitTimedOutError } from '../ovsdb/errors.ts';
import {
  DEFAULT_SCHEMA_PATH,
  findBinary,
  makeTempDir,
  onAbnormalExit,
  removeTempDir,
  run,
  startOvsdbServer,
  terminate,
  trackChild,
  type OvsdbServerHandle,
} from '../ovsdb/local-server.ts';
import { eq, ge, insert, mutate, remove, select, wait, type Operation, type OperationResult } from '../ovsdb/operations.ts';
import { ovsPortName } from '../sim/hypervisor.ts';
import { TestbedError } from './errors.ts';

/** What plug/unplug need of a server (structurally the sim's SimServer). */
export interface TestbedServer {
  readonly id: string;
}

/** What plug/unplug need of a Neutron port (structurally the sim's SimPort). */
export interface TestbedPort {
  readonly id: string;
  readonly macAddress: string;
  readonly fixedIps: readonly { readonly subnet_id: string; readonly ip_address: string }[];
}

export interface TestbedOptions {
  /** Compute host names (letters, digits, `.`, `_`, `-`). */
  hosts: readonly string[];
  /** Names every namespace `cm-<prefix>-…` (1–8 lower-case letters/digits); default random. */
  prefix?: string;
  /** Gives the hosts a shaped physical network at this rate (bit/s, both directions of each NIC). */
  nicRateBps?: number;
  /** Prefix length of a subnet, for the VM's address; default 24. */
  subnetPrefixLength?: (subnetId: string) => number | undefined;
  /** Deadline for ovs-vswitchd to apply a change (start, plug, unplug), ms. @default 15000 */
  applyTimeoutMs?: number;
}

export interface TestbedHostInfo {
  name: string;
  netns: string;
  bridge: string;
  /** `unix:…` of the host's ovsdb-server (ovs-vswitchd uses it). */
  unixEndpoint: string;
  /** `tcp:127.0.0.1:PORT` of the host's ovsdb-server, in the root namespace. */
  tcpEndpoint: string;
  /** The host's NIC in its namespace when the hosts have a physical network. */
  nic: string | undefined;
  /** ovs-vswitchd's log (diagnostics). */
  vswitchdLog: string;
}

export interface TestbedVm {
  serverId: string;
  netns: string;
  /** port id → the VM-side interface (`eth0`, …) and the host-side one (`qvo…`). */
  nics: ReadonlyMap<string, { vmDevice: string; hostDevice: string; host: string }>;
}

/** What exists right now of everything this testbed ever created. */
export interface OwnedResources {
  namespaces: string[];
  /** PIDs of our ovsdb-servers and ovs-vswitchds still alive. */
  processes: number[];
  /** Temp dirs of ours still on disk. */
  dirs: string[];
}

export interface TestbedHosts {
  readonly prefix: string;
  hosts(): TestbedHostInfo[];
  host(name: string): TestbedHostInfo;
  /** The host's OVSDB as the agent should reach it (TCP on 127.0.0.1). */
  ovsdbEndpoint(host: string): string;
  openflowEndpoint(host: string): string;
  /** Kills and restarts a host's ovs-vswitchd (flows and meters are gone until controllers re-install them). */
  restartVswitchd(host: string): Promise<void>;
  plug(host: string, server: TestbedServer, port: TestbedPort): Promise<void>;
  unplug(host: string, server: TestbedServer, port: TestbedPort): Promise<void>;
  vm(serverId: string): TestbedVm | undefined;
  /** Runs a command inside one of our namespaces (a host's, or a VM's by server id) and returns stdout. */
  exec(target: { host: string } | { serverId: string }, command: string, ...args: string[]): Promise<string>;
  listOwned(): Promise<OwnedResources>;
  /** Removes everything; throws CM_ERR_TESTBED_CLEANUP listing what could not be removed. Idempotent. */
  close(): Promise<void>;
}

// ---- prerequisites -----------------------------------------------------------

const REQUIRED_BINARIES: readonly (readonly [binary: string, debianPackage: string])[] = [
  ['ovs-vswitchd', 'openvswitch-switch'],
  ['ovsdb-server', 'openvswitch-common'],
  ['ovsdb-tool', 'openvswitch-common'],
  ['ip', 'iproute2'],
  ['tc', 'iproute2'],
  ['ethtool', 'ethtool'],
];

/** Throws the reason the testbed cannot run here: not root, or a binary (with its Debian package) missing. */
export function checkTestbedPrerequisites(): void {
  if (process.getuid?.() !== 0) {
    throw new TestbedError('CM_ERR_TESTBED_NEEDS_ROOT', 'the testbed needs root (network namespaces); run it as root');
  }
  const missing = REQUIRED_BINARIES.filter(([binary]) => findBinary(binary) === undefined);
  if (!existsSync(DEFAULT_SCHEMA_PATH)) missing.push([DEFAULT_SCHEMA_PATH, 'openvswitch-common']);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))];
    throw new TestbedError(
      'CM_ERR_TESTBED_MISSING_BINARY',
      `the testbed needs ${missing.map(([b]) => b).join(', ')} (Debian package${packages.length > 1 ? 's' : ''} ${packages.join(', ')}: apt-get install ${packages.join(' ')})`,
    );
  }
}

// ---- helpers -----------------------------------------------------------------

const HOST_NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const PREFIX_RE = /^[a-z0-9]{1,8}$/;
const BRIDGE = 'br-int';
/** ovs-ctl's default for ovs-vswitchd (`--ovs-vswitchd-priority`, OVS_VSWITCHD_PRIORITY=-10). */
const VSWITCHD_NICE = -10;
const DB = 'Open_vSwitch';

async function netnsList(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readTail(file: string, chars: number): string {
  try {
    return readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return '';
  }
}

function processEnded(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** The `next_cfg` a transaction ending in bumpNextCfg() asked ovs-vswitchd to reach. */
function nextCfgOf(results: readonly OperationResult[]): number {
  const value = results[results.length - 1]?.rows?.[0]?.next_cfg;
  if (typeof value !== 'number') throw new TestbedError('CM_ERR_TESTBED_SETUP', 'the Open_vSwitch table has no row');
  return value;
}

function bumpNextCfg(): Operation[] {
  return [mutate(DB, [], [['next_cfg', '+=', 1]]), select(DB, [], ['next_cfg'])];
}

interface Host {
  info: TestbedHostInfo;
  client: OvsdbClient;
  vswitchd: ChildProcess;
}

interface Vm {
  serverId: string;
  netns: string;
  nics: Map<string, { vmDevice: string; hostDevice: string; host: string }>;
  forget: () => void;
}

// ---- the testbed -------------------------------------------------------------

class Testbed implements TestbedHosts {
  readonly prefix: string;
  private readonly options: TestbedOptions;
  private readonly hostMap = new Map<string, Host>();
  private readonly vms = new Map<string, Vm>();
  /** Every namespace we made and not yet deleted → its exit-hook unregistration. */
  private readonly namespaces = new Map<string, () => void>();
  private readonly servers: OvsdbServerHandle[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly pids: number[] = [];
  private readonly dirs: string[] = [];
  /** Serialises the namespace work of one server (its NICs may be plugged concurrently). */
  private readonly vmLocks = new Map<string, Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(prefix: string, options: TestbedOptions) {
    this.prefix = prefix;
    this.options = options;
  }

  private get applyTimeoutMs(): number {
    return this.options.applyTimeoutMs ?? 15_000;
  }

  hostNetns(host: string): string {
    return `cm-${this.prefix}-${host}`;
  }

  private vmNetns(serverId: string): string {
    return `cm-${this.prefix}-vm-${serverId}`;
  }

  private switchNetns(): string {
    return `cm-${this.prefix}-sw`;
  }

  // ---- namespaces ----

  private async addNetns(name: string): Promise<() => void> {
    await run('ip', ['netns', 'add', name]);
    const unregister = onAbnormalExit(() => {
      spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore', timeout: 5000 });
    });
    this.namespaces.set(name, unregister);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return unregister;
  }

  private async deleteNetns(name: string): Promise<void> {
    // Deleting a namespace also deletes the veth ends inside it, and with them their peers.
    await run('ip', ['netns', 'delete', name]);
    this.namespaces.get(name)?.();
    this.namespaces.delete(name);
  }

  // ---- start ----

  async startHost(name: string): Promise<void> {
    const netns = this.hostNetns(name);
    await this.addNetns(netns);
    // No `init`: the Open_vSwitch row is created below together with br-int, in one transaction of ours.
    const ovsdb = await startOvsdbServer();
    this.servers.push(ovsdb);
    if (ovsdb.pid !== undefined) this.pids.push(ovsdb.pid);
    const dir = await makeTempDir('cm-tb-vsd-');
    this.dirs.push(dir);

    const client = await OvsdbClient.connect({ endpoint: ovsdb.unixEndpoint });
    try {
      await client.transact(DB, [
        insert('Interface', { name: BRIDGE, type: 'internal' }, { uuidName: 'i' }),
        insert('Port', { name: BRIDGE, interfaces: [namedUuid('i')] }, { uuidName: 'p' }),
        insert(
          'Bridge',
          { name: BRIDGE, ports: [namedUuid('p')], datapath_type: 'netdev', external_ids: { 'bridge-id': BRIDGE } },
          { uuidName: 'br' },
        ),
        insert('Open_vSwitch', { bridges: [namedUuid('br')], external_ids: { hostname: name, 'cm-testbed': this.prefix } }),
      ]);
    } catch (error) {
      client.close();
      throw error;
    }

    const logPath = path.join(dir, 'ovs-vswitchd.log');
    const { child, stderr } = this.spawnVswitchd(netns, dir, ovsdb.unixEndpoint);
    const info: TestbedHostInfo = {
      name,
      netns,
      bridge: BRIDGE,
      unixEndpoint: ovsdb.unixEndpoint,
      tcpEndpoint: ovsdb.tcpEndpoint,
      nic: undefined,
      vswitchdLog: logPath,
    };
    const host: Host = { info, client, vswitchd: child };
    this.hostMap.set(name, host);
    try {
      await this.applied(host, await client.transact(DB, bumpNextCfg()));
    } catch (error) {
      // The temp dir goes with the cleanup that follows, so the log's end travels in the message.
      const log = readTail(logPath, 2000);
      const detail = [stderr().trim(), log.trim()].filter(Boolean).join('\n');
      const message = error instanceof TestbedError ? error.message : `ovs-vswitchd of ${name} did not come up: ${(error as Error).message}`;
      throw new TestbedError('CM_ERR_TESTBED_SETUP', detail ? `${message}\n${detail}` : message, { cause: error });
    }
  }

  /** Starts ovs-vswitchd inside the host namespace, every default path of the daemon inside `dir`. */
  private spawnVswitchd(netns: string, dir: string, db: string): { child: ChildProcess; stderr: () => string } {
    const logPath = path.join(dir, 'ovs-vswitchd.log');
    const vswitchd = findBinary('ovs-vswitchd') ?? 'ovs-vswitchd';
    // `ip netns exec` execs ovs-vswitchd in place, so the child's pid is the daemon's and killing it works.
    const child = spawn(
      'ip',
      ['netns', 'exec', netns, vswitchd, db, `--pidfile=${path.join(dir, 'ovs-vswitchd.pid')}`, `--log-file=${logPath}`, `--unixctl=${path.join(dir, 'ovs-vswitchd.ctl')}`, '-vconsole:off'],
      {
        // Keeps every default path of the daemon inside our temp dir, away from a system-wide OVS.
        env: { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    trackChild(child);
    this.children.push(child);
    if (child.pid !== undefined) {
      this.pids.push(child.pid);
      // What ovs-ctl (the Debian service) does: the datapath runs ahead of ordinary processes. Without it the
      // userspace datapath of a busy machine drops packets and a shaped TCP flow measures its recovery, not its cap.
      try {
        os.setPriority(child.pid, VSWITCHD_NICE);
      } catch {
        // Not root: the testbed refuses to start before this.
      }
    }
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000);
    });
    child.once('error', () => undefined);
    return { child, stderr: () => stderr };
  }

  /**
   * Kills the host's ovs-vswitchd and starts a new one on the same database
   * (what an OVS upgrade or crash does): the kernel/userspace state — flows,
   * meters, tc — is rebuilt from OVSDB and controllers.
   */
  async restartVswitchd(name: string): Promise<void> {
    const host = this.requireHost(name);
    await terminate(host.vswitchd);
    const dir = path.dirname(host.info.vswitchdLog);
    const { child } = this.spawnVswitchd(host.info.netns, dir, host.info.unixEndpoint);
    host.vswitchd = child;
    await this.applied(host, await host.client.transact(DB, bumpNextCfg()));
  }

  /** Waits until the host's ovs-vswitchd applied the configuration the transaction asked for. */
  private async applied(host: Host, results: readonly OperationResult[]): Promise<void> {
    const cfg = nextCfgOf(results);
    let onExit = (): void => undefined;
    const exited = new Promise<never>((_resolve, reject) => {
      onExit = (): void => {
        reject(new Error(`ovs-vswitchd exited (${String(host.vswitchd.exitCode ?? host.vswitchd.signalCode)})`));
      };
      if (processEnded(host.vswitchd)) onExit();
      else host.vswitchd.once('exit', onExit);
    });
    exited.catch(() => undefined);
    try {
      await Promise.race([
        host.client.transact(DB, [wait(DB, [ge('cur_cfg', cfg)], ['cur_cfg'], [], { until: '!=', timeout: this.applyTimeoutMs })], {
          timeoutMs: this.applyTimeoutMs + 5000,
        }),
        exited,
      ]);
    } catch (error) {
      if (error instanceof WaitTimedOutError) {
        throw new TestbedError(
          'CM_ERR_TESTBED_SETUP',
          `ovs-vswitchd of ${host.info.name} did not apply configuration ${String(cfg)} within ${String(this.applyTimeoutMs)} ms (see ${host.info.vswitchdLog})`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      // One listener per change would pile up over a long-lived testbed (every plug adds one).
      host.vswitchd.off('exit', onExit);
    }
  }

  /** The shaped physical network: a switch namespace with a Linux bridge, one NIC per host. */
  async startNetwork(rateBps: number): Promise<void> {
    const sw = this.switchNetns();
    await this.addNetns(sw);
    await run('ip', ['-n', sw, 'link', 'add', 'sw0', 'type', 'bridge']);
    await run('ip', ['-n', sw, 'link', 'set', 'sw0', 'up']);
    const rate = `${String(Math.round(rateBps))}bit`;
    // tbf needs a bucket of at least one MTU-sized packet plus what the timer granularity lets through.
    const burst = `${String(Math.max(16_384, Math.ceil(rateBps / 8 / 250)))}b`;
    let index = 0;
    for (const host of this.hostMap.values()) {
      const ns = host.info.netns;
      const swPort = `h${String(index)}`;
      index += 1;
      await run('ip', ['-n', ns, 'link', 'add', 'br-phys', 'type', 'bridge']);
      await run('ip', ['-n', ns, 'link', 'add', 'nic0', 'type', 'veth', 'peer', 'name', swPort, 'netns', sw]);
      await run('ip', ['-n', ns, 'link', 'add', 'int-br-phys', 'type', 'veth', 'peer', 'name', 'phy-br-int']);
      await run('ip', ['-n', ns, 'link', 'set', 'nic0', 'master', 'br-phys']);
      await run('ip', ['-n', ns, 'link', 'set', 'phy-br-int', 'master', 'br-phys']);
      await run('ip', ['-n', sw, 'link', 'set', swPort, 'master', 'sw0']);
      for (const dev of ['br-phys', 'nic0', 'int-br-phys', 'phy-br-int']) {
        await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      }
      await run('ip', ['-n', sw, 'link', 'set', swPort, 'up']);
      for (const dev of ['nic0', 'int-br-phys', 'phy-br-int']) await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off']);
      await run('ip', ['netns', 'exec', sw, 'ethtool', '-K', swPort, 'tx', 'off']);
      // The host's transmit direction is nic0's egress, its receive direction the switch port's egress.
      await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', 'nic0', 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', '50ms']);
      await run('ip', ['netns', 'exec', sw, 'tc', 'qdisc', 'replace', 'dev', swPort, 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', '50ms']);
      const results = await host.client.transact(DB, [
        insert('Interface', { name: 'int-br-phys' }, { uuidName: 'i' }),
        insert('Port', { name: 'int-br-phys', interfaces: [namedUuid('i')] }, { uuidName: 'p' }),
        mutate('Bridge', [eq('name', BRIDGE)], [['ports', 'insert', [namedUuid('p')]]]),
        ...bumpNextCfg(),
      ]);
      await this.applied(host, results);
      host.info.nic = 'nic0';
    }
  }

  // ---- the hook ----

  private requireOpen(): void {
    if (this.closed) throw new TestbedError('CM_ERR_TESTBED_CLOSED', 'the testbed is closed');
  }

  private requireHost(name: string): Host {
    const host = this.hostMap.get(name);
    if (!host) throw new TestbedError('CM_ERR_TESTBED_UNKNOWN', `no testbed host "${name}"`);
    return host;
  }

  hosts(): TestbedHostInfo[] {
    return [...this.hostMap.values()].map((h) => ({ ...h.info }));
  }

  host(name: string): TestbedHostInfo {
    return { ...this.requireHost(name).info };
  }

  ovsdbEndpoint(host: string): string {
    return this.requireHost(host).info.tcpEndpoint;
  }

  /** The host's br-int OpenFlow management socket (in ovs-vswitchd's run dir, reachable from outside the namespace). */
  openflowEndpoint(host: string): string {
    return `unix:${path.join(path.dirname(this.requireHost(host).info.vswitchdLog), 'br-int.mgmt')}`;
  }

  vm(serverId: string): TestbedVm | undefined {
    const vm = this.vms.get(serverId);
    return vm ? { serverId: vm.serverId, netns: vm.netns, nics: new Map(vm.nics) } : undefined;
  }

  async exec(target: { host: string } | { serverId: string }, command: string, ...args: string[]): Promise<string> {
    this.requireOpen();
    let netns: string;
    if ('host' in target) netns = this.requireHost(target.host).info.netns;
    else {
      const vm = this.vms.get(target.serverId);
      if (!vm) throw new TestbedError('CM_ERR_TESTBED_UNKNOWN', `no VM namespace for server ${target.serverId}`);
      netns = vm.netns;
    }
    const { stdout } = await run('ip', ['netns', 'exec', netns, command, ...args]);
    return stdout;
  }

  private async withVmLock<T>(serverId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.vmLocks.get(serverId) ?? Promise.resolve();
    const result = previous.then(work);
    const done = result.then(
      () => undefined,
      () => undefined,
    );
    this.vmLocks.set(serverId, done);
    try {
      return await result;
    } finally {
      if (this.vmLocks.get(serverId) === done) this.vmLocks.delete(serverId);
    }
  }

  async plug(hostName: string, server: TestbedServer, port: TestbedPort): Promise<void> {
    this.requireOpen();
    const host = this.requireHost(hostName);
    const hostDevice = ovsPortName(port.id);
    const fixed = port.fixedIps[0];
    const prefixLength = fixed ? (this.options.subnetPrefixLength?.(fixed.subnet_id) ?? 24) : undefined;
    await this.withVmLock(server.id, async () => {
      let vm = this.vms.get(server.id);
      if (!vm) {
        const netns = this.vmNetns(server.id);
        const forget = await this.addNetns(netns);
        vm = { serverId: server.id, netns, nics: new Map(), forget };
        this.vms.set(server.id, vm);
      }
      const used = new Set([...vm.nics.values()].map((n) => n.vmDevice));
      let slot = 0;
      while (used.has(`eth${String(slot)}`)) slot += 1;
      const vmDevice = `eth${String(slot)}`;
      const hostNs = host.info.netns;
      let vethMade = false;
      try {
        await run('ip', ['-n', hostNs, 'link', 'add', hostDevice, 'type', 'veth', 'peer', 'name', vmDevice, 'netns', vm.netns]);
        vethMade = true;
        vm.nics.set(port.id, { vmDevice, hostDevice, host: hostName });
        await run('ip', ['-n', vm.netns, 'link', 'set', vmDevice, 'address', port.macAddress]);
        if (fixed && prefixLength !== undefined) {
          await run('ip', ['-n', vm.netns, 'addr', 'add', `${fixed.ip_address}/${String(prefixLength)}`, 'dev', vmDevice]);
        }
        await run('ip', ['-n', vm.netns, 'link', 'set', vmDevice, 'up']);
        await run('ip', ['-n', hostNs, 'link', 'set', hostDevice, 'up']);
        // Userspace datapath + veth checksum offload = stalled TCP.
        await run('ip', ['netns', 'exec', hostNs, 'ethtool', '-K', hostDevice, 'tx', 'off']);
        await run('ip', ['netns', 'exec', vm.netns, 'ethtool', '-K', vmDevice, 'tx', 'off']);
        const results = await host.client.transact(DB, [
          insert(
            'Interface',
            {
              name: hostDevice,
              external_ids: { 'iface-id': port.id, 'iface-status': 'active', 'attached-mac': port.macAddress, 'vm-uuid': server.id },
            },
            { uuidName: 'i' },
          ),
          insert('Port', { name: hostDevice, interfaces: [namedUuid('i')], external_ids: {} }, { uuidName: 'p' }),
          mutate('Bridge', [eq('name', BRIDGE)], [['ports', 'insert', [namedUuid('p')]]]),
          ...bumpNextCfg(),
        ]);
        await this.applied(host, results);
      } catch (error) {
        if (vethMade) await run('ip', ['-n', hostNs, 'link', 'del', hostDevice]).catch(() => undefined);
        vm.nics.delete(port.id);
        if (vm.nics.size === 0) await this.dropVm(vm).catch(() => undefined);
        throw new TestbedError('CM_ERR_TESTBED_SETUP', `plugging port ${port.id} of server ${server.id} on ${hostName} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
    });
  }

  async unplug(hostName: string, server: TestbedServer, port: TestbedPort): Promise<void> {
    this.requireOpen();
    const host = this.requireHost(hostName);
    const hostDevice = ovsPortName(port.id);
    await this.withVmLock(server.id, async () => {
      const [found] = await host.client.transact(DB, [select('Port', [eq('name', hostDevice)], ['_uuid'])]);
      const uuid = found?.rows?.[0]?._uuid;
      if (typeof uuid === 'string') {
        const results = await host.client.transact(DB, [
          mutate('Bridge', [eq('name', BRIDGE)], [['ports', 'delete', [uuid]]]),
          remove('Port', [eq('name', hostDevice)]),
          remove('Interface', [eq('name', hostDevice)]),
          ...bumpNextCfg(),
        ]);
        await this.applied(host, results);
      }
      try {
        await run('ip', ['-n', host.info.netns, 'link', 'del', hostDevice]);
      } catch (error) {
        if (!/Cannot find device/i.test((error as Error).message)) throw error;
      }
      const vm = this.vms.get(server.id);
      if (!vm) return;
      vm.nics.delete(port.id);
      if (vm.nics.size === 0) await this.dropVm(vm);
    });
  }

  private async dropVm(vm: Vm): Promise<void> {
    this.vms.delete(vm.serverId);
    await this.deleteNetns(vm.netns);
  }

  // ---- inventory and teardown ----

  async listOwned(): Promise<OwnedResources> {
    const ours = `cm-${this.prefix}-`;
    return {
      namespaces: (await netnsList()).filter((n) => n.startsWith(ours)),
      processes: this.pids.filter(alive),
      dirs: [...this.dirs, ...this.servers.map((s) => s.dir)].filter((d) => existsSync(d)),
    };
  }

  close(): Promise<void> {
    this.closing ??= this.teardown();
    return this.closing;
  }

  private async teardown(): Promise<void> {
    this.closed = true;
    const problems: string[] = [];
    const attempt = async (what: string, work: () => Promise<void>): Promise<void> => {
      try {
        await work();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    };
    for (const host of this.hostMap.values()) host.client.close();
    for (const child of this.children) await attempt('stopping ovs-vswitchd', () => terminate(child));
    this.vms.clear();
    for (const name of [...this.namespaces.keys()]) await attempt(`deleting namespace ${name}`, () => this.deleteNetns(name));
    for (const server of this.servers) await attempt('stopping ovsdb-server', () => server.stop());
    for (const dir of this.dirs) await attempt(`removing ${dir}`, () => removeTempDir(dir));
    const left = await this.listOwned().catch((error: unknown) => {
      problems.push(`listing what is left: ${(error as Error).message}`);
      return undefined;
    });
    if (left) {
      if (left.namespaces.length > 0) problems.push(`namespaces left: ${left.namespaces.join(', ')}`);
      if (left.processes.length > 0) problems.push(`processes left: ${left.processes.join(', ')}`);
      if (left.dirs.length > 0) problems.push(`dirs left: ${left.dirs.join(', ')}`);
    }
    if (problems.length > 0) throw new TestbedError('CM_ERR_TESTBED_CLEANUP', `testbed cleanup: ${problems.join('; ')}`);
  }
}

/**
 * Starts one switch host per name (see the file comment). Needs root and the
 * OVS, iproute2 and ethtool binaries; throws a TestbedError saying which
 * otherwise. On failure everything already made is removed again.
 */
export async function startTestbedHosts(options: TestbedOptions): Promise<TestbedHosts> {
  checkTestbedPrerequisites();
  const prefix = options.prefix ?? randomBytes(3).toString('hex');
  if (!PREFIX_RE.test(prefix)) throw new TestbedError('CM_ERR_TESTBED_INVALID', `testbed prefix "${prefix}" must be 1-8 lower-case letters or digits`);
  if (options.hosts.length === 0) throw new TestbedError('CM_ERR_TESTBED_INVALID', 'the testbed needs at least one host');
  for (const host of options.hosts) {
    if (!HOST_NAME_RE.test(host) || host === 'sw' || host.startsWith('vm-')) {
      throw new TestbedError('CM_ERR_TESTBED_INVALID', `testbed host name "${host}" must be 1-32 letters, digits, ".", "_" or "-" (and not "sw" or "vm-…")`);
    }
  }
  if (new Set(options.hosts).size !== options.hosts.length) throw new TestbedError('CM_ERR_TESTBED_INVALID', 'testbed host names must be unique');
  const rate = options.nicRateBps;
  if (rate !== undefined && !(Number.isSafeInteger(rate) && rate >= 8000)) {
    throw new TestbedError('CM_ERR_TESTBED_INVALID', `nicRateBps must be an integer of at least 8000 bit/s, not ${String(rate)}`);
  }
  const taken = (await netnsList()).filter((n) => n.startsWith(`cm-${prefix}-`));
  if (taken.length > 0) {
    throw new TestbedError('CM_ERR_TESTBED_INVALID', `namespaces with prefix "${prefix}" already exist (${taken.join(', ')}): another testbed runs, or one was not taken down`);
  }

  const testbed = new Testbed(prefix, options);
  try {
    for (const host of options.hosts) await testbed.startHost(host);
    if (rate !== undefined) await testbed.startNetwork(rate);
  } catch (error) {
    try {
      await testbed.close();
    } catch (cleanupError) {
      throw new AggregateError([error, cleanupError], `starting the testbed failed: ${(error as Error).message}`, { cause: cleanupError });
    }
    if (error instanceof TestbedError) throw error;
    throw new TestbedError('CM_ERR_TESTBED_SETUP', `starting the testbed failed: ${(error as Error).message}`, { cause: error });
  }
  return testbed;
}
