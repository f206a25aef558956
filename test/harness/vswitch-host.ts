/**
 * Test harness: a simulated compute host. It lives in a network namespace the
 * harness creates (`cmt-<random>`), with its own ovsdb-server (unix socket and
 * a TCP port on 127.0.0.1 of the root namespace, from ./ovsdb-server.ts) and
 * its own ovs-vswitchd started inside the namespace, and a bridge `br-int`
 * using the userspace datapath (`datapath_type=netdev`; no kernel module is
 * needed). VM ports are veth pairs inside the namespace whose host end is a
 * port on br-int.
 *
 * Everything the harness made (processes, namespace, temp dirs) is removed by
 * `stop()`, also when the start fails half-way.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  findBinary,
  makeTempDir,
  onAbnormalExit,
  removeTempDir,
  run,
  startOvsdbServer,
  terminate,
  trackChild,
  type OvsdbServerHandle,
} from './ovsdb-server.ts';

export interface TcClass {
  /** e.g. `1:fffe`, `1:1`. */
  classid: string;
  /** Parent class id, or `root`. */
  parent: string;
  /** Queueing discipline kind, e.g. `htb`. */
  kind: string;
  /** bit/s. Note: `tc`'s text output rounds rates that are not whole K/M/Gbit. */
  rate: number;
  /** bit/s (equals `rate` for kinds without a ceiling). */
  ceil: number;
  /** Bytes, when shown. */
  burst?: number;
  prio?: number;
}

export interface IngressPolicer {
  /** bit/s (OVS `ingress_policing_rate` is kbit/s: ×1000). */
  rate: number;
  /** Bytes, as tc shows it (OVS `ingress_policing_burst` is kbit). */
  burst: number;
}

export interface VethPort {
  /** The end attached to br-int (e.g. `qvo...`). */
  hostEnd: string;
  /** The other end, inside the same namespace (the "VM" side, e.g. `qvb...`). */
  peerEnd: string;
}

export interface VswitchHost {
  /** Name of the network namespace. */
  netns: string;
  /** Name of the integration bridge (`br-int`). */
  bridge: string;
  ovsdb: OvsdbServerHandle;
  /** Temp dir of ovs-vswitchd (pidfile, log, unixctl socket, bridge management sockets). */
  dir: string;
  /** ovs-vswitchd's log file. */
  vswitchdLogPath: string;
  /** Runs `ovs-vsctl --db=unix:... --timeout=20 ARGS` and returns stdout. */
  vsctl(...args: string[]): Promise<string>;
  /** Runs `ip netns exec NETNS COMMAND ARGS` and returns stdout. */
  exec(command: string, ...args: string[]): Promise<string>;
  addVethPort(name: string, opts?: { ifaceId?: string; peerName?: string }): Promise<VethPort>;
  /** The classes of the device's qdiscs (`tc class show dev DEV`), rates in bit/s. */
  tcClasses(dev: string): Promise<TcClass[]>;
  /** The first policer on the device's ingress qdisc, or undefined when there is none. */
  ingressPolicing(dev: string): Promise<IngressPolicer | undefined>;
  /** Kills ovs-vswitchd and ovsdb-server, deletes the namespace and every temp dir. Idempotent. */
  stop(): Promise<void>;
}

const IFNAME_RE = /^[A-Za-z0-9_.:-]{1,15}$/;

/** The peer name for a host end: qvoX → qvbX (Neutron's hybrid plug), else NAME-p (shortened to 15 characters). */
export function defaultPeerName(hostEnd: string): string {
  if (hostEnd.startsWith('qvo')) return `qvb${hostEnd.slice(3)}`;
  return hostEnd.length <= 13 ? `${hostEnd}-p` : `${hostEnd.slice(0, 13)}-p`;
}

// ---- tc output parsing (exported for unit tests) -----------------------------------

const RATE_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
  kibit: 1024,
  mibit: 1024 ** 2,
  gibit: 1024 ** 3,
  tibit: 1024 ** 4,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
  tbps: 8e12,
};

/** Parses a tc rate (`10Mbit`, `1500bit`, `12Kbit`, `1Gibit`, `125Kbps`) into bit/s. */
export function parseTcRate(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([A-Za-z]+)$/.exec(text.trim());
  const unit = match ? RATE_UNITS[(match[2] as string).toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new Error(`unparsable tc rate "${text}"`);
  return Math.round(Number(match[1]) * unit);
}

/** Parses a tc size (`1563b`, `250Kb`, `1Mb`; K/M are 1024-based in tc) into bytes. */
export function parseTcSize(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)([KMG]?)b?$/i.exec(text.trim());
  if (!match) throw new Error(`unparsable tc size "${text}"`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] as string).toLowerCase()] ?? 1;
  return Math.round(Number(match[1]) * mult);
}

/** Parses the text of `tc class show dev DEV`. */
export function parseTcClassText(text: string): TcClass[] {
  const classes: TcClass[] = [];
  for (const line of text.split('\n')) {
    const m = /^class (\S+) (\S+) (?:(root)|parent (\S+))/.exec(line.trim());
    if (!m) continue;
    const rate = /\brate (\S+)/.exec(line);
    if (!rate) continue;
    const ceil = /\bceil (\S+)/.exec(line);
    const burst = /\bburst (\S+)/.exec(line);
    const prio = /\bprio ([0-9]+)/.exec(line);
    const rateBits = parseTcRate(rate[1] as string);
    const cls: TcClass = {
      kind: m[1] as string,
      classid: m[2] as string,
      parent: m[3] === 'root' ? 'root' : (m[4] as string),
      rate: rateBits,
      ceil: ceil ? parseTcRate(ceil[1] as string) : rateBits,
    };
    if (burst) cls.burst = parseTcSize(burst[1] as string);
    if (prio) cls.prio = Number(prio[1]);
    classes.push(cls);
  }
  return classes;
}

/**
 * Parses `tc -j class show dev DEV` where iproute2 supports JSON for classes
 * (rates there are bytes/s). Returns undefined when the JSON does not have the
 * expected shape, so the caller falls back to the text form.
 */
export function parseTcClassJson(text: string): TcClass[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(json)) return undefined;
  const classes: TcClass[] = [];
  for (const entry of json as unknown[]) {
    if (entry === null || typeof entry !== 'object') return undefined;
    const e = entry as Record<string, unknown>;
    const opts = (typeof e.options === 'object' && e.options !== null ? e.options : e) as Record<string, unknown>;
    const kind = e.class ?? e.kind;
    const handle = e.handle;
    if (typeof kind !== 'string' || typeof handle !== 'string' || typeof opts.rate !== 'number') return undefined;
    const rate = opts.rate * 8;
    const cls: TcClass = {
      kind,
      classid: handle,
      parent: e.root === true ? 'root' : typeof e.parent === 'string' ? e.parent : 'root',
      rate,
      ceil: typeof opts.ceil === 'number' ? opts.ceil * 8 : rate,
    };
    if (typeof opts.burst === 'number') cls.burst = opts.burst;
    if (typeof opts.prio === 'number') cls.prio = opts.prio;
    classes.push(cls);
  }
  return classes;
}

/** Parses the text of `tc filter show dev DEV ingress`: the first `police ... rate R burst B`. */
export function parsePoliceText(text: string): IngressPolicer | undefined {
  for (const line of text.split('\n')) {
    if (!/\bpolice\b/.test(line)) continue;
    const rate = /\brate (\S+)/.exec(line);
    const burst = /\bburst (\S+)/.exec(line);
    if (!rate || !burst) continue;
    return { rate: parseTcRate(rate[1] as string), burst: parseTcSize(burst[1] as string) };
  }
  return undefined;
}

// ---- the host --------------------------------------------------------------------

function randomName(): string {
  return `cmt-${randomBytes(4).toString('hex')}`;
}

async function netnsList(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

export async function startVswitchHost(options: { bridge?: string } = {}): Promise<VswitchHost> {
  const bridge = options.bridge ?? 'br-int';
  const vswitchd = findBinary('ovs-vswitchd');
  const vsctlBin = findBinary('ovs-vsctl');
  if (!vswitchd || !vsctlBin) throw new Error('ovs-vswitchd/ovs-vsctl not installed');
  if (process.getuid?.() !== 0) throw new Error('a vswitch host needs root (network namespaces)');

  const netns = randomName();
  let ovsdb: OvsdbServerHandle | undefined;
  let dir: string | undefined;
  let child: ChildProcess | undefined;
  let netnsCreated = false;
  let stopped = false;
  let forgetNetns = (): void => undefined;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    if (child) await terminate(child);
    if (netnsCreated) {
      try {
        await run('ip', ['netns', 'delete', netns]);
      } catch (error) {
        problems.push(String(error));
      }
      if ((await netnsList()).includes(netns)) problems.push(`network namespace ${netns} is still there`);
      else forgetNetns();
    }
    if (ovsdb) await ovsdb.stop();
    if (dir) await removeTempDir(dir);
    if (problems.length > 0) throw new Error(`vswitch host cleanup: ${problems.join('; ')}`);
  };

  try {
    ovsdb = await startOvsdbServer({ init: true });
    const db = ovsdb;
    dir = await makeTempDir('cm-vsd-');
    const vdir = dir;
    await run('ip', ['netns', 'add', netns]);
    netnsCreated = true;
    const unregister = onAbnormalExit(() => {
      spawnSync('ip', ['netns', 'delete', netns], { stdio: 'ignore', timeout: 5000 });
    });
    forgetNetns = () => {
      unregister();
    };
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);

    const env = { ...process.env, OVS_RUNDIR: vdir, OVS_LOGDIR: vdir, OVS_DBDIR: vdir, OVS_SYSCONFDIR: vdir };
    const logPath = path.join(vdir, 'ovs-vswitchd.log');
    const proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        vswitchd,
        db.unixEndpoint,
        `--pidfile=${path.join(vdir, 'ovs-vswitchd.pid')}`,
        `--log-file=${logPath}`,
        `--unixctl=${path.join(vdir, 'ovs-vswitchd.ctl')}`,
        '-vconsole:off',
      ],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    trackChild(proc);
    child = proc;
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (t: string) => {
      stderr = (stderr + t).slice(-4000);
    });

    const vsctl = async (...args: string[]): Promise<string> => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`ovs-vswitchd is not running (${String(proc.exitCode ?? proc.signalCode)}): ${stderr}`);
      }
      const { stdout } = await run(vsctlBin, [`--db=${db.unixEndpoint}`, '--timeout=20', ...args], { env });
      return stdout;
    };
    const exec = async (command: string, ...args: string[]): Promise<string> => {
      const { stdout } = await run('ip', ['netns', 'exec', netns, command, ...args]);
      return stdout;
    };

    // ovs-vsctl (without --no-wait) returns once ovs-vswitchd applied the change.
    await vsctl('add-br', bridge, '--', 'set', 'Bridge', bridge, 'datapath_type=netdev');

    const host: VswitchHost = {
      netns,
      bridge,
      ovsdb: db,
      dir: vdir,
      vswitchdLogPath: logPath,
      vsctl,
      exec,
      async addVethPort(name, opts = {}) {
        const peer = opts.peerName ?? defaultPeerName(name);
        for (const n of [name, peer]) {
          if (!IFNAME_RE.test(n)) throw new Error(`invalid interface name "${n}" (1-15 characters)`);
        }
        await run('ip', ['-n', netns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', peer]);
        for (const n of [name, peer]) {
          await run('ip', ['-n', netns, 'link', 'set', n, 'up']);
          // Userspace datapath + veth checksum offload = stalled TCP.
          await exec('ethtool', '-K', n, 'tx', 'off');
        }
        const args = ['add-port', bridge, name];
        if (opts.ifaceId !== undefined) {
          args.push('--', 'set', 'Interface', name, `external_ids:iface-id=${opts.ifaceId}`);
        }
        await vsctl(...args);
        return { hostEnd: name, peerEnd: peer };
      },
      async tcClasses(dev) {
        const json = await exec('tc', '-j', 'class', 'show', 'dev', dev);
        const parsed = parseTcClassJson(json);
        if (parsed) return parsed;
        return parseTcClassText(await exec('tc', 'class', 'show', 'dev', dev));
      },
      async ingressPolicing(dev) {
        return parsePoliceText(await exec('tc', 'filter', 'show', 'dev', dev, 'ingress'));
      },
      stop,
    };
    if (!existsSync(path.join(vdir, 'ovs-vswitchd.pid'))) throw new Error('ovs-vswitchd wrote no pidfile');
    return host;
  } catch (error) {
    try {
      await stop();
    } catch (cleanupError) {
      throw new AggregateError([error, cleanupError], `starting the vswitch host failed: ${String(error)}`, {
        cause: cleanupError,
      });
    }
    throw error;
  }
}
