/**
 * Guaranteed download rates on the real cloud (issue 13, case 5): the testbed's
 * case 1 (src/testbed/scenarios/guarantees.ts) across compute1 and compute2,
 * through Neutron's VLAN network and the hosts' br-phys.
 *
 * The "physical" wire of up.sh — the veth pair osr-phy1 (br-phys of compute1,
 * netns osr-c1) ↔ osr-phy2 (br-phys of compute2, netns osr-c2) — is made the
 * bottleneck: both directions' egress get a 10 Mbit/s tbf, as the testbed's NIC
 * does. Three senders on compute1 run greedy iperf3 flows to three receivers on
 * compute2 whose download guarantees are 6 / 1 / 1 Mbit/s. Each receiver's rate
 * is read as frames on the host side of its port (its tap device in osr-c2),
 * all receivers over one common window (src/testbed/scenarios/counters.ts),
 * once with the agent's guarantee controller suspended and once running.
 * Asserted: with the controller every receiver gets ≥ 95 % of its guarantee,
 * and its pair meters are on compute1's br-int while it runs and gone after
 * suspend(). The figures without the controller are printed, not asserted.
 *
 * The shaper is ours (handle c3a1:) and is always removed again, the previous
 * default root qdisc coming back; a root qdisc that is not the kernel's default
 * is never touched (the test fails instead). Traffic only flows between guest
 * namespaces this test created.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { PAIR_METER_ID_BASE, PAIR_METER_ID_LIMIT, pairCookie } from '../../src/agent/enforcement/pair-limiter.ts';
import { startAgent, type RunningAgent } from '../../src/agent/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import type { BootedServer } from '../../src/testbed/scenarios/env.ts';
import { runFlowsMeasured, type FlowSpec, type MeasuredFlows } from '../../src/testbed/scenarios/iperf.ts';
import { formatTable, mbit } from '../../src/testbed/scenarios/table.ts';
import { findBinary, run } from '../harness/ovsdb-server.ts';
import {
  bootPinned,
  cloudIds,
  eventually,
  guestNetns,
  HOST_NETNS,
  netnsExists,
  nsExec,
  openReal,
  OVSDB_ENDPOINTS,
  PREFIX,
  realCloud,
  realSkip,
  record,
  removeLeftovers,
  type RealHost,
} from './cloud.ts';
import { cleanUpUnderAgent } from './leftovers.ts';

const TOKEN = 'real-guarantees-token-0123456789abcdef';
const OWNER = 'cm-agent-real-guarantees';
/** The wire's rate, and the uplink capacity the agent is told. */
const LINK_BPS = 10_000_000;
const GUARANTEES = [6_000_000, 1_000_000, 1_000_000] as const;
const FRACTION = 0.95;
const DURATION_S = 8;
const OMIT_S = 2;
/** tbf's bucket: above two 1518-byte (VLAN-tagged) frames, about the testbed NIC's 16 KiB. */
const TBF_BURST = '15k';
const TBF_LATENCY = '50ms';
/** Marks our root qdisc, so that only ours is ever deleted (the kernel checks the handle) and a leftover is recognised. */
const SHAPER_HANDLE = 'c3a1:';
const OSR = process.env.CM_REAL_OSR_DIR ?? process.env.OSR_DIR ?? '/var/lib/openstack-real';
const mgmt = (host: RealHost): string => `unix:${path.join(OSR, 'ovs', host === 'compute1' ? 'c1' : 'c2', 'br-int.mgmt')}`;
const NAME = 'gu';

/** The two ends of up.sh's physnet1 wire: each end's egress is one direction. */
const WIRE: readonly { host: RealHost; dev: string }[] = [
  { host: 'compute1', dev: 'osr-phy1' },
  { host: 'compute2', dev: 'osr-phy2' },
];

interface Qdisc {
  kind: string;
  handle: string;
  root?: boolean;
  bytes?: number;
  packets?: number;
  drops?: number;
  overlimits?: number;
}

async function rootQdisc(host: RealHost, dev: string): Promise<Qdisc> {
  const list = JSON.parse(await nsExec(HOST_NETNS[host], 'tc', '-s', '-j', 'qdisc', 'show', 'dev', dev, 'root')) as Qdisc[];
  const root = list.find((q) => q.root === true) ?? list[0];
  if (!root) throw new Error(`no root qdisc on ${dev} in ${HOST_NETNS[host]}`);
  return root;
}

interface LinkJson {
  ifindex: number;
  link_index?: number;
  ifname: string;
  linkinfo?: { info_kind?: string };
}

async function linkInfo(host: RealHost, dev: string): Promise<LinkJson | undefined> {
  try {
    const out = await nsExec(HOST_NETNS[host], 'ip', '-d', '-j', 'link', 'show', 'dev', dev);
    return (JSON.parse(out) as LinkJson[])[0];
  } catch {
    return undefined;
  }
}

/**
 * Checks that osr-phy1 and osr-phy2 are the two ends of one veth pair and ports of
 * their hosts' br-phys: the only path between the hosts, and one we can shape.
 */
async function checkWire(): Promise<void> {
  const [a, b] = WIRE;
  assert.ok(a && b);
  const la = await linkInfo(a.host, a.dev);
  const lb = await linkInfo(b.host, b.dev);
  const setup = 'the cloud of ../shared/openstack/up.sh joins the hosts\' br-phys by the veth pair osr-phy1 (netns osr-c1) ↔ osr-phy2 (netns osr-c2)';
  if (!la || !lb) throw new Error(`cannot shape the link between compute1 and compute2: ${!la ? `${a.dev} is not in ${HOST_NETNS[a.host]}` : `${b.dev} is not in ${HOST_NETNS[b.host]}`} (${setup})`);
  if (la.linkinfo?.info_kind !== 'veth' || lb.linkinfo?.info_kind !== 'veth') {
    throw new Error(`cannot shape the link between compute1 and compute2: ${a.dev} is a ${la.linkinfo?.info_kind ?? '?'}, ${b.dev} a ${lb.linkinfo?.info_kind ?? '?'}, not a veth pair (${setup})`);
  }
  if (la.link_index !== lb.ifindex || lb.link_index !== la.ifindex) {
    throw new Error(`cannot shape the link between compute1 and compute2: ${a.dev} and ${b.dev} are not peers of one veth pair (${setup})`);
  }
  for (const end of WIRE) {
    const n = end.host === 'compute1' ? 1 : 2;
    const { stdout } = await run('ovs-vsctl', [`--db=unix:${path.join(OSR, 'ovs', `c${String(n)}`, 'db.sock')}`, 'port-to-br', end.dev]);
    if (stdout.trim() !== 'br-phys') throw new Error(`cannot shape the link: ${end.dev} is a port of ${stdout.trim() || 'no bridge'} on ${end.host}, not of br-phys (${setup})`);
  }
}

const tbfArgs = (dev: string): string[] => ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', SHAPER_HANDLE, 'tbf', 'rate', `${String(LINK_BPS)}bit`, 'burst', TBF_BURST, 'latency', TBF_LATENCY];
const unshapeArgs = (dev: string): string[] => ['tc', 'qdisc', 'del', 'dev', dev, 'root', 'handle', SHAPER_HANDLE];

/** Synchronous removal for process exit (an aborted run): deletes only a root qdisc with our handle. */
function unshapeSync(): void {
  for (const end of WIRE) spawnSync('ip', ['netns', 'exec', HOST_NETNS[end.host], ...unshapeArgs(end.dev)], { stdio: 'ignore' });
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A run killed mid-way removes the shaper too, then dies of the signal as it would have. */
function unshapeOnSignal(signal: NodeJS.Signals): void {
  unshapeSync();
  process.kill(process.pid, signal);
}

/** What is wrong with the shaper now (empty: both directions are shaped by our tbf). */
async function shaperProblems(): Promise<string[]> {
  const problems: string[] = [];
  for (const end of WIRE) {
    const q = await rootQdisc(end.host, end.dev);
    if (q.kind !== 'tbf' || q.handle !== SHAPER_HANDLE) problems.push(`${end.dev} on ${end.host} has root ${q.kind} ${q.handle}, not our tbf ${SHAPER_HANDLE}`);
  }
  return problems;
}

interface OfFlow {
  cookie: bigint;
  inPort: number | undefined;
  dlDst: string | undefined;
  meterId: number | undefined;
}

async function ofctl(command: string, host: RealHost, ...args: string[]): Promise<string> {
  return (await run('ovs-ofctl', ['-O', 'OpenFlow13', '--no-names', command, mgmt(host), ...args], { timeoutMs: 10_000 })).stdout;
}

/** Flows whose cookie has the guarantees' "CG" prefix (0x4347) on a host's br-int. */
async function pairFlows(host: RealHost): Promise<OfFlow[]> {
  const out = await ofctl('dump-flows', host, 'cookie=0x4347000000000000/0xffff000000000000');
  return out
    .split('\n')
    .filter((l) => l.includes('cookie='))
    .map((l) => ({
      cookie: BigInt(/cookie=(0x[0-9a-f]+)/.exec(l)?.[1] ?? '0'),
      inPort: numberOf(/in_port=(\d+)/.exec(l)?.[1]),
      dlDst: /dl_dst=([0-9a-f:]{17})/.exec(l)?.[1],
      meterId: numberOf(/meter:(\d+)/.exec(l)?.[1]),
    }));
}

/** Meters in the pair limiters' id range on a host's br-int, with their drop rate (kbit/s). */
async function pairMeters(host: RealHost): Promise<Map<number, number | undefined>> {
  const out = await ofctl('dump-meters', host);
  const meters = new Map<number, number | undefined>();
  for (const chunk of out.split(/(?=meter=\d)/)) {
    const id = numberOf(/^meter=(\d+)/.exec(chunk)?.[1]);
    if (id === undefined || id < PAIR_METER_ID_BASE || id >= PAIR_METER_ID_LIMIT) continue;
    meters.set(id, numberOf(/type=drop rate=(\d+)/.exec(chunk)?.[1]));
  }
  return meters;
}

/** `min–max` of a list of numbers, `?` when empty. */
function span(values: readonly number[] | undefined): string {
  if (!values || values.length === 0) return '?';
  const min = Math.min(...values);
  const max = Math.max(...values);
  return min === max ? String(min) : `${String(min)}–${String(max)}`;
}

function numberOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** Ok when a 1 s TCP flow gets from `from` to a one-off iperf3 server on `to`. */
async function reaches(from: BootedServer, to: BootedServer, port: number): Promise<boolean> {
  const server = spawn('ip', ['netns', 'exec', to.netns, 'iperf3', '-s', '-1', '-B', to.ip, '-p', String(port)], { stdio: 'ignore' });
  server.once('error', () => undefined);
  try {
    await eventually(`iperf3 listening in ${to.netns}`, async () => (await nsExec(to.netns, 'ss', '-Hltn', `sport = :${String(port)}`)).trim() !== '', 10_000, 100);
    await nsExec(from.netns, 'iperf3', '-c', to.ip, '-p', String(port), '-t', '1', '--connect-timeout', '1000');
    return true;
  } finally {
    server.kill();
  }
}

interface RunFigures {
  measured: MeasuredFlows;
  /** The pair meters S-i → R-i on compute1 (kbit/s), and the controller's active pairs, read every second of the measured window. */
  midRun: { rates: number[][]; activePairs: number[] };
  /** Per receiver, frames at its port over the common window (bit/s). */
  receivers: number[];
  /** What our tbf on osr-phy1 (compute1 → compute2) sent and dropped during the run. */
  wire: { bps: number; drops: number };
  ms: number;
}

describe('guaranteed download rates across compute1/compute2 through the VLAN network and br-phys (issue 13, case 5)', { skip: realSkip }, () => {
  let os: OpenStack | undefined;
  let agent: RunningAgent | undefined;
  const senders: BootedServer[] = [];
  const receivers: BootedServer[] = [];
  const macs = new Map<string, string>();
  const ofports = new Map<string, number>();
  let shaped = false;
  const figures: { without?: RunFigures; with?: RunFigures } = {};

  const api = async (method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    assert.ok(agent);
    const res = await fetch(`${agent.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
  };
  const controller = () => {
    assert.ok(agent?.guarantees, 'the agent runs without its guarantee controller (enforcement.guarantees.enabled)');
    return agent.guarantees;
  };
  const pairs = (): FlowSpec[] => senders.map((s, i) => {
    const r = receivers[i];
    assert.ok(r);
    return { label: `${s.name} → ${r.name}`, from: s, to: r };
  });

  /** The pair flows S_i → R_i on compute1 and their meters, or what is missing. */
  const pairLimiters = async (): Promise<{ missing: string[]; rates: (number | undefined)[] }> => {
    const flows = await pairFlows('compute1');
    const meters = await pairMeters('compute1');
    const missing: string[] = [];
    const rates: (number | undefined)[] = [];
    const cookie = pairCookie(OWNER);
    for (const [i, s] of senders.entries()) {
      const r = receivers[i];
      assert.ok(r);
      const f = flows.find((x) => x.cookie === cookie && x.inPort === ofports.get(s.id) && x.dlDst === macs.get(r.id));
      if (!f) missing.push(`no flow for ${s.name} (in_port ${String(ofports.get(s.id))}) → ${r.name} (${macs.get(r.id) ?? '?'})`);
      else if (f.meterId === undefined || !meters.has(f.meterId)) missing.push(`the flow ${s.name} → ${r.name} has no existing meter (${String(f.meterId)})`);
      rates.push(f?.meterId === undefined ? undefined : meters.get(f.meterId));
    }
    return { missing, rates };
  };

  const measure = async (what: 'without' | 'with'): Promise<RunFigures> => {
    const problems = await shaperProblems();
    assert.deepEqual(problems, [], `before the run ${what} the controller, the wire is not shaped: ${problems.join('; ')}`);
    const q0 = await rootQdisc('compute1', 'osr-phy1');
    const started = Date.now();
    const midRun: RunFigures['midRun'] = { rates: [[], [], []], activePairs: [] };
    // Every second of the measured window (the clients start a few hundred ms after the call: servers first).
    const samples: Promise<void>[] = [];
    const timers = Array.from({ length: DURATION_S - 1 }, (_, k) =>
      setTimeout(() => {
        samples.push(
          pairLimiters()
            .then((p) => {
              for (const [i, rate] of p.rates.entries()) if (rate !== undefined) midRun.rates[i]?.push(rate);
              const active = agent?.guarantees?.stats.activePairs;
              if (active !== undefined) midRun.activePairs.push(active);
            })
            .catch(() => undefined),
        );
      }, (OMIT_S + 1 + k) * 1000 + 300),
    );
    const measured = await runFlowsMeasured(pairs(), { durationS: DURATION_S, omitS: OMIT_S, netnsOf: (host) => HOST_NETNS[host as RealHost] });
    const ms = Date.now() - started;
    for (const timer of timers) clearTimeout(timer);
    await Promise.all(samples);
    const q1 = await rootQdisc('compute1', 'osr-phy1');
    const after = await shaperProblems();
    assert.deepEqual(after, [], `after the run ${what} the controller, the wire is no longer shaped (ovs-vswitchd or someone replaced our tbf): ${after.join('; ')}`);
    const wire = { bps: (((q1.bytes ?? 0) - (q0.bytes ?? 0)) * 8 * 1000) / ms, drops: (q1.drops ?? 0) - (q0.drops ?? 0) };
    const receiverRates = receivers.map((r) => measured.flows.find((f) => f.to === r.name)?.receiverFrameBps ?? Number.NaN);
    record(`guarantees: 3 flows ${what} the controller (${String(DURATION_S)} s + ${String(OMIT_S)} s omitted)`, ms, `receivers ${receiverRates.map((b) => mbit(b)).join(' / ')} Mbit/s; wire ${mbit(wire.bps)} Mbit/s, ${String(wire.drops)} tbf drops`);
    return { measured, midRun, receivers: receiverRates, wire, ms };
  };

  before(async () => {
    for (const bin of ['iperf3', 'tc', 'ovs-ofctl', 'ovs-vsctl']) {
      if (findBinary(bin) === undefined) throw new Error(`${bin} is not installed (the CI installs iperf3, iproute2 and openvswitch-switch)`);
    }
    os = openReal();
    await removeLeftovers(os);

    // 1. The wire between the hosts' br-phys becomes the 10 Mbit/s bottleneck.
    await checkWire();
    for (const end of WIRE) {
      const q = await rootQdisc(end.host, end.dev);
      if (q.handle === SHAPER_HANDLE) {
        console.log(`# ${end.dev} on ${end.host} still had our shaper from an aborted run: removed`);
        await nsExec(HOST_NETNS[end.host], ...unshapeArgs(end.dev));
        continue;
      }
      if (q.handle !== '0:') {
        throw new Error(`${end.dev} on ${end.host} has a root qdisc ${q.kind} ${q.handle} that is not the kernel's default; the test will not replace what it could not restore`);
      }
    }
    process.on('exit', unshapeSync);
    for (const signal of SIGNALS) process.once(signal, unshapeOnSignal);
    shaped = true;
    for (const end of WIRE) await nsExec(HOST_NETNS[end.host], ...tbfArgs(end.dev));
    const problems = await shaperProblems();
    assert.deepEqual(problems, [], problems.join('; '));

    // 2. Three senders on compute1, three receivers on compute2, on the VLAN network.
    const ids = await cloudIds(os, { flavor: 'm1.tiny', network: 'private' });
    const booting = Date.now();
    const boot = async (label: string, host: RealHost): Promise<BootedServer> => {
      assert.ok(os);
      const g = await bootPinned(os, `${NAME}-${label}`, host, ids);
      const port = (await os.neutron.listPorts({ deviceId: g.id }))[0];
      assert.ok(port?.macAddress, `the port of ${label} has a MAC address`);
      macs.set(g.id, port.macAddress.toLowerCase());
      return { id: g.id, name: label, host, ip: g.ip, portId: g.portId, device: g.dev, netns: guestNetns(g.id) };
    };
    // All six at once (a boot takes 1–8 s here, mostly waiting); a server whose boot failed half-way is found by name in after().
    const booted = await Promise.all([
      ...[1, 2, 3].map((i) => boot(`S-${String(i)}`, 'compute1')),
      ...[1, 2, 3].map((i) => boot(`R-${String(i)}`, 'compute2')),
    ]);
    senders.push(...booted.slice(0, 3));
    receivers.push(...booted.slice(3));
    record('guarantees: boot 3 + 3 servers pinned to compute1 / compute2 (in parallel)', Date.now() - booting);
    for (const g of [...senders, ...receivers]) {
      assert.ok(await netnsExists(g.netns), `guest namespace ${g.netns}`);
      await nsExec(HOST_NETNS[g.host as RealHost], 'ip', 'link', 'show', 'dev', g.device);
    }
    for (const s of senders) {
      const { stdout } = await run('ovs-vsctl', [`--db=${OVSDB_ENDPOINTS.compute1}`, 'get', 'Interface', s.device, 'ofport']);
      const ofport = Number(stdout.trim());
      assert.ok(Number.isSafeInteger(ofport) && ofport > 0, `ofport of ${s.device}: ${stdout}`);
      ofports.set(s.id, ofport);
    }

    // 3. The agent: meters through each host's br-int management socket, the wire's rate as every host's uplink.
    const config = parseAgentConfig(
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        `auth: { tokens: [${TOKEN}] }`,
        'store: { path: ":memory:" }',
        `ovsdb: { endpoints: { compute1: "${OVSDB_ENDPOINTS.compute1}", compute2: "${OVSDB_ENDPOINTS.compute2}" } }`,
        `enforcement: { upload: auto, openflow: { endpoints: { compute1: "${mgmt('compute1')}", compute2: "${mgmt('compute2')}" } }, guarantees: { uplink: ${String(LINK_BPS)} } }`,
        'inventory: { refresh_interval_ms: 2000 }',
        `owner: ${OWNER}`,
      ].join('\n'),
      {},
    );
    agent = await startAgent(config, { cloud: realCloud(), log: process.env.CM_TEST_AGENT_LOG === '1' });
    await agent.inventory.refresh();
    const applying = Date.now();
    for (const [i, r] of receivers.entries()) {
      const put = await api('PUT', `/v1/servers/${r.id}/sla`, { download: { min: GUARANTEES[i], max: LINK_BPS } });
      assert.ok(put.status === 201 || put.status === 200, `PUT SLA of ${r.name}: ${String(put.status)} ${JSON.stringify(put.json)}`);
    }
    for (const s of senders) {
      const put = await api('PUT', `/v1/servers/${s.id}/sla`, { upload: { max: LINK_BPS } });
      assert.ok(put.status === 201 || put.status === 200, `PUT SLA of ${s.name}: ${String(put.status)} ${JSON.stringify(put.json)}`);
    }
    for (const g of [...receivers, ...senders]) {
      await eventually(`the SLA of ${g.name} applied`, async () => {
        const body = (await api('GET', `/v1/sla?server_id=${g.id}`)).json as { items?: { state?: string }[] };
        return body.items?.[0]?.state === 'applied' ? true : undefined;
      }, 30_000, 200);
    }
    record('guarantees: 6 SLAs applied', Date.now() - applying);

    // The guests reach each other across the hosts (VLAN through br-phys and the shaped wire).
    const reaching = Date.now();
    for (const [i, f] of pairs().entries()) await eventually(`${f.label} reaching each other`, () => reaches(f.from, f.to, 5301 + i), 60_000, 500);
    record('guarantees: senders reach their receivers across the hosts', Date.now() - reaching);
  });

  after(async () => {
    const errors: string[] = [];
    // The shaper first: whatever else fails, the wire is left as it was found.
    if (shaped) {
      for (const end of WIRE) {
        try {
          const q = await rootQdisc(end.host, end.dev);
          if (q.handle === SHAPER_HANDLE) await nsExec(HOST_NETNS[end.host], ...unshapeArgs(end.dev));
          const back = await rootQdisc(end.host, end.dev);
          if (back.handle !== '0:') errors.push(`${end.dev} on ${end.host}: root qdisc is ${back.kind} ${back.handle} after removing our shaper`);
        } catch (error) {
          errors.push(`restoring ${end.dev} on ${end.host}: ${(error as Error).message}`);
        }
      }
      process.off('exit', unshapeSync);
      for (const signal of SIGNALS) process.off(signal, unshapeOnSignal);
    }
    // Nothing of ours stays on the switches (pair limiters, upload meters, HTB): the SLAs and the
    // servers go while the agent still runs, which removes its rows and flows; then it stops (issue 16).
    try {
      await cleanUpUnderAgent({
        os,
        agent,
        owner: OWNER,
        first: async () => {
          await agent?.guarantees?.suspend();
        },
        serverIds: [...senders, ...receivers].map((g) => g.id),
        serverNamePrefix: `${PREFIX}-${NAME}-`,
        deleteSla: (id) => api('DELETE', `/v1/servers/${id}/sla`),
      });
    } catch (error) {
      errors.push((error as Error).message);
    } finally {
      await os?.close();
    }
    assert.deepEqual(errors, [], `clean-up: ${errors.join('; ')}`);
  });

  it('installs the pair meters on compute1’s br-int while the controller runs, and removes them on suspend()', async () => {
    const ctl = controller();
    ctl.start();
    const present = await eventually('pair flows and meters S-i → R-i on compute1', async () => {
      const p = await pairLimiters();
      return p.missing.length === 0 ? p : undefined;
    }, 15_000, 250).catch(async (error: unknown) => {
      const p = await pairLimiters();
      throw new Error(`${(error as Error).message}: ${p.missing.join('; ')}; controller hosts: ${JSON.stringify(ctl.hosts())}`);
    });
    assert.equal(present.missing.length, 0);
    for (const f of await pairFlows('compute1')) assert.equal(f.cookie >> 48n, 0x4347n);
    await ctl.suspend();
    const flows = await pairFlows('compute1');
    const meters = await pairMeters('compute1');
    assert.deepEqual(flows, [], `pair flows (cookie 0x4347…) left on compute1 after suspend(): ${String(flows.length)}`);
    assert.deepEqual([...meters.keys()], [], 'pair meters left on compute1 after suspend()');
    assert.deepEqual(await pairFlows('compute2'), [], 'pair flows left on compute2 after suspend()');
  });

  it(`holds ≥ ${String(FRACTION * 100)} % of every receiver's download guarantee (6 / 1 / 1 Mbit/s) across a ${String(LINK_BPS / 1e6)} Mbit/s wire`, async (t: TestContext) => {
    const ctl = controller();
    await ctl.suspend();
    figures.without = await measure('without');

    ctl.start();
    await new Promise((r) => setTimeout(r, 1500));
    const during = await pairLimiters();
    assert.deepEqual(during.missing, [], 'the pair meters are on compute1 while the controller runs');
    figures.with = await measure('with');
    const limiters = await pairLimiters();
    assert.deepEqual(limiters.missing, [], 'the pair meters are still on compute1 after the run');

    const without = figures.without;
    const withCtl = figures.with;
    const meterRates = withCtl.midRun.rates;
    const table = formatTable(
      ['receiver', 'guarantee Mbit/s', 'without Mbit/s', 'without, of guarantee', 'with Mbit/s', 'with, of guarantee', 'pair meter kbit/s (min–max)'],
      receivers.map((r, i) => {
        const g = GUARANTEES[i] ?? 0;
        const w = without.receivers[i] ?? Number.NaN;
        const c = withCtl.receivers[i] ?? Number.NaN;
        return [`${senders[i]?.name ?? ''} → ${r.name}`, mbit(g), mbit(w), `${((w / g) * 100).toFixed(0)} %`, mbit(c), `${((c / g) * 100).toFixed(0)} %`, span(meterRates[i])];
      }),
    );
    t.diagnostic(`frames at each receiver's port (tap in osr-c2), common ${String(DURATION_S)} s window after ${String(OMIT_S)} s; wire osr-phy1 ↔ osr-phy2: tbf ${String(LINK_BPS / 1e6)} Mbit/s each way`);
    for (const line of table.split('\n')) t.diagnostic(line);
    t.diagnostic(
      `wire compute1 → compute2 (tbf on osr-phy1, whole run): without ${mbit(without.wire.bps)} Mbit/s, ${String(without.wire.drops)} drops; with ${mbit(withCtl.wire.bps)} Mbit/s, ${String(withCtl.wire.drops)} drops`,
    );
    t.diagnostic(`controller: ${String(ctl.stats.rounds)} rounds, last ${ctl.stats.lastRoundMs.toFixed(1)} ms, ${String(ctl.stats.pairs)} pairs (${span(withCtl.midRun.activePairs)} active while the flows ran)`);

    for (const [i, w] of without.receivers.entries()) assert.ok(Number.isFinite(w) && w > 0, `the run without the controller measured ${receivers[i]?.name ?? ''}: ${String(w)}`);
    const short = receivers
      .map((r, i) => ({ r, g: GUARANTEES[i] ?? 0, v: withCtl.receivers[i] ?? Number.NaN }))
      .filter((x) => !(x.v >= x.g * FRACTION))
      .map((x) => `${x.r.name} ${mbit(x.v)} Mbit/s < ${String(FRACTION * 100)} % of ${mbit(x.g)}`);
    assert.deepEqual(short, [], `with the controller: ${short.join('; ')}; controller's view: ${JSON.stringify(ctl.vmViews().filter((v) => v.download))}`);
  });
});
