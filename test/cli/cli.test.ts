/**
 * `cm` against real services started here: the simulated cloud (in-process
 * OVSDB), the CM Agent and the Connectivity Manager. Every command runs
 * in-process through `run()`; one `--help` and one real command go through
 * the bin to prove it starts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { parseManagerConfig } from '../../src/manager/config.ts';
import { startManager, type RunningManager } from '../../src/manager/main.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { cm, show, tableRows } from './helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'src/topology/fixtures/thesis');
const THESIS_YAML = path.join(FIXTURES, 'thesis.yaml');
const SERVICES = ['ControllerService.json', 'BrokerService.json', 'MediaService.json'].map((f) => path.join(FIXTURES, f));
const AGENT_TOKEN = 'cli-agent-token-0123456789';
const MANAGER_TOKEN = 'cli-manager-token-0123456789';
const UNKNOWN_UUID = '00000000-0000-4000-8000-000000000001';

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}

describe('cm against the simulated cloud, the agent and the manager', () => {
  let sim: SimCloud;
  let agent: RunningAgent;
  let manager: RunningManager;
  let env: Record<string, string>;
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'cm-cli-'));
    sim = await startSimCloud({ bootDelayMs: 20 });
    agent = await startAgent(
      parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-cli-test`, {}),
      simAgentOptions(sim, { log: false }),
    );
    const cloud = simAgentOptions(sim).cloud;
    assert.ok(cloud);
    manager = await startManager(
      parseManagerConfig(
        `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${MANAGER_TOKEN}] }\nagent: { url: "${agent.url}", token: ${AGENT_TOKEN} }\nstore: { url: "sqlite::memory:" }\ndeploy: { enforce_timeout_s: 20, stack_timeout_s: 60 }`,
        {},
      ),
      { cloud, log: false, pollMs: 50, claimIntervalMs: 200 },
    );
    env = { CM_AGENT_URL: agent.url, CM_AGENT_TOKEN: AGENT_TOKEN, CM_MANAGER_URL: manager.url, CM_MANAGER_TOKEN: MANAGER_TOKEN };
  });

  after(async () => {
    await manager.stop();
    await agent.stop();
    await sim.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('hosts', () => {
    it('prints an aligned table of the hosts', async () => {
      const r = await cm(['hosts'], env);
      assert.equal(r.code, 0, show(r));
      const rows = tableRows(r.stdout);
      assert.deepEqual(rows[0], ['NAME', 'STATE', 'STATUS', 'AZ', 'VCPU', 'RAM', 'DISK', 'INSTANCES', 'OVSDB']);
      assert.deepEqual(rows.slice(1).map((row) => row[0]), ['compute1', 'compute2']);
      const compute1: string[] = rows[1] ?? [];
      assert.deepEqual(compute1.slice(1, 4), ['up', 'enabled', 'nova']);
      assert.match(compute1[4] ?? '', /^\d+\/8$/, 'VCPU used/capacity');
      assert.equal(compute1[8], 'ok');
      // Aligned: every line's STATE column starts where the header's does.
      const lines = r.stdout.split('\n').filter(Boolean);
      const col = lines[0]?.indexOf('STATE');
      for (const l of lines.slice(1)) assert.equal(l.indexOf(l.includes(' up ') ? 'up' : 'down'), col, l);
      assert.ok(!r.stdout.includes('\u001b['), 'no colour when stdout is not a terminal');
    });

    it('prints GET /v1/hosts unchanged with -o json (before or after the subcommand) and -o yaml', async () => {
      const json = await cm(['hosts', '-o', 'json'], env);
      assert.equal(json.code, 0, show(json));
      const body = JSON.parse(json.stdout) as { hosts: { name: string; resources: { VCPU: { capacity: number } } }[]; unplaced_servers: unknown[] };
      assert.deepEqual(body.hosts.map((h) => h.name), ['compute1', 'compute2']);
      assert.equal(body.hosts[0]?.resources.VCPU.capacity, 8);
      assert.ok(Array.isArray(body.unplaced_servers));
      const yaml = await cm(['-o', 'yaml', 'hosts'], env);
      assert.equal(yaml.code, 0, show(yaml));
      assert.deepEqual((YAML.parse(yaml.stdout) as typeof body).hosts.map((h) => h.name), ['compute1', 'compute2']);
    });
  });

  describe('sla-classes', () => {
    it("lists the thesis's classes by default", async () => {
      const r = await cm(['sla-classes'], env);
      assert.equal(r.code, 0, show(r));
      const rows = tableRows(r.stdout);
      assert.deepEqual(rows[0], ['NAME', 'MIN', 'MAX', 'UPLOAD MIN', 'UPLOAD MAX', 'ASSIGNED TO']);
      assert.deepEqual(rows[1], ['Gold', '100 Mbit/s', '10 Gbit/s', '-', '-', 'MediaServer']);
      assert.equal(rows[2]?.[0], 'Wholesale');
      const json = JSON.parse((await cm(['sla-classes', '-o', 'json'], env)).stdout) as { default: string; classes: { name: string; max_bps: number; assigned_to: string[] }[] };
      assert.equal(json.default, 'Wholesale');
      assert.deepEqual(json.classes.find((c) => c.name === 'Gold'), { name: 'Gold', min_bps: 1e8, max_bps: 1e10, upload_max_bps: null, upload_min_bps: null, burst_bits: null, assigned_to: ['MediaServer'] });
    });

    it("reads a manager configuration's sla_classes, and names file:line:col of a bad one (exit 2)", async () => {
      const good = path.join(tmp, 'manager.yaml');
      writeFileSync(
        good,
        'auth: { tokens: [x] }\nsla_classes:\n  classes:\n    Silver: { min: 50mbit, max: 500mbit, upload_max: 100mbit }\n    Bronze: { min: 10mbit, max: 200mbit, upload_min: 5mbit }\n  default: Silver\n',
      );
      const r = await cm(['sla-classes', '--config', good], env);
      assert.equal(r.code, 0, show(r));
      assert.deepEqual(tableRows(r.stdout)[1], ['Silver', '50 Mbit/s', '500 Mbit/s', '-', '100 Mbit/s', '(default: every other type)']);
      assert.deepEqual(tableRows(r.stdout)[2], ['Bronze', '10 Mbit/s', '200 Mbit/s', '5 Mbit/s', '200 Mbit/s', '-'], 'an upload guarantee without upload_max is capped at max');
      const bad = path.join(tmp, 'bad-manager.yaml');
      writeFileSync(bad, 'sla_classes:\n  classes:\n    Silver: { min: 50mbit, max: "1e9" }\n  default: Silver\n');
      const b = await cm(['sla-classes', '--config', bad], env);
      assert.equal(b.code, 2, show(b));
      assert.match(b.stderr, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+ sla_classes\\.classes\\.Silver\\.max: .*exponent`, 'm'));
    });
  });

  describe('topology plan', () => {
    it('places every unit of thesis.yaml on compute1 and prints the explanation', async () => {
      const r = await cm(['topology', 'plan', THESIS_YAML], env);
      assert.equal(r.code, 0, show(r));
      const [header, ...units] = tableRows(r.stdout.split('\n\n')[0] ?? '');
      assert.deepEqual(header, ['UNIT', 'SERVICE INSTANCE', 'FLAVOR', 'SLA CLASS', 'HOST']);
      assert.equal(units.length, 5);
      for (const u of units) assert.equal(u[4], 'compute1', u.join(' '));
      assert.deepEqual(units.map((u) => `${u[0] ?? ''}:${u[3] ?? ''}`).sort(), ['Broker-1:Wholesale', 'Controller-1:Wholesale', 'MediaServer-1:Gold', 'MediaServer-2:Gold', 'MediaServer-3:Gold']);
      assert.match(r.stdout, /^summary: .*compute1/m);
      assert.match(r.stdout, /^rejected:\n {2}compute2: /m, 'why compute2 was not chosen');
    });

    it('prints the /v1/plans body with -o json; a thesis JSON takes --services files', async () => {
      const r = await cm(['topology', 'plan', path.join(FIXTURES, 'topology.json'), '--services', ...SERVICES, '-o', 'json'], env);
      assert.equal(r.code, 0, show(r));
      const body = JSON.parse(r.stdout) as { topology: string; units: unknown[]; plan: { feasible: boolean; assignments: Record<string, string> } };
      assert.equal(body.plan.feasible, true);
      assert.equal(body.units.length, 5);
      assert.deepEqual(new Set(Object.values(body.plan.assignments)), new Set(['compute1']));
    });

    it('prints file:line:col field: message for an invalid topology and exits 4', async () => {
      const bad = path.join(tmp, 'topology.json');
      writeFileSync(bad, readFileSync(path.join(FIXTURES, 'topology.json'), 'utf8').replace('"service_type": "Broker"', '"service_type": "Brokr"'));
      const badService = path.join(tmp, 'MediaService.json');
      writeFileSync(badService, readFileSync(SERVICES[2] ?? '', 'utf8').replace('"flavor"', '"flavour"'));
      const r = await cm(['topology', 'plan', bad, '--services', SERVICES[0] ?? '', SERVICES[1] ?? '', badService], env);
      assert.equal(r.code, 4, show(r));
      assert.match(r.stderr, /^error: \d+ problem\(s\) in the topology documents:$/m);
      const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(r.stderr, new RegExp(`^${esc(bad)}:\\d+:\\d+ service_instances\\[1\\]\\.service_type: .*Brokr`, 'm'));
      assert.match(r.stderr, new RegExp(`^${esc(badService)}:\\d+:\\d+ flavour: `, 'm'), 'a service file is named as the user gave it');
      assert.equal(r.stdout, '');
    });

    it('exits 4 with the reasons when the topology cannot be placed', async () => {
      const big = path.join(tmp, 'big.yaml');
      writeFileSync(big, readFileSync(THESIS_YAML, 'utf8').replace(/def: 3/, 'def: 20').replace(/max: 5/, 'max: 20'));
      const r = await cm(['topology', 'plan', big], env);
      assert.equal(r.code, 4, show(r));
      assert.match(r.stdout, /^infeasible/m);
      assert.match(r.stdout, /^reasons:\n {2}\S/m);
      const d = await cm(['topology', 'deploy', big], env);
      assert.equal(d.code, 4, show(d));
      assert.match(d.stderr, /^error: .*nothing was created/m);
    });
  });

  describe('a deployed topology', () => {
    let id = '';
    let servers: { id: string; name: string; host: string; sla: { state: string } | null }[] = [];

    it('topology deploy --wait follows the states on stderr until ACTIVE', async () => {
      const r = await cm(['topology', 'deploy', THESIS_YAML, '--wait', '--poll-interval', '100ms', '-o', 'json'], env);
      assert.equal(r.code, 0, show(r));
      const t = JSON.parse(r.stdout) as { id: string; state: string; units: { host: string }[] };
      assert.equal(t.state, 'ACTIVE');
      assert.ok(t.units.every((u) => u.host === 'compute1'));
      id = t.id;
      const states = [...r.stderr.matchAll(/^\d\d:\d\d:\d\d (\S+)/gm)].map((m) => m[1]);
      assert.deepEqual(states.slice(-4), ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE'], r.stderr);
    });

    it('topology show and list: tables and JSON', async () => {
      const s = await cm(['topology', 'show', id], env);
      assert.equal(s.code, 0, show(s));
      assert.match(s.stdout, /^state\s+ACTIVE$/m);
      assert.match(s.stdout, /^UNIT\s+SERVICE INSTANCE\s+SLA CLASS\s+PLANNED HOST\s+HOST\s+SERVER\s+SLA$/m);
      assert.match(s.stdout, /^MediaServer-1\s+MediaServer\s+Gold\s+compute1\s+compute1\s+\S+\s+applied$/m);
      const sj = JSON.parse((await cm(['topology', 'show', id, '-o', 'json'], env)).stdout) as { id: string; events: unknown[] };
      assert.equal(sj.id, id);
      assert.ok(sj.events.length >= 5);

      const l = await cm(['topology', 'list'], env);
      assert.equal(l.code, 0, show(l));
      const rows = tableRows(l.stdout);
      assert.deepEqual(rows[0], ['ID', 'NAME', 'STATE', 'HOSTS', 'UNITS', 'UPDATED']);
      assert.deepEqual(rows[1]?.slice(0, 5), [id, 'local_nm_template_minified', 'ACTIVE', 'compute1', '5']);
      const lj = JSON.parse((await cm(['topology', 'list', '--state', 'active', '-o', 'json'], env)).stdout) as { items: { id: string }[]; next_cursor: null };
      assert.deepEqual(lj.items.map((t) => t.id), [id]);
      assert.equal((JSON.parse((await cm(['topology', 'list', '--state', 'FAILED', '-o', 'json'], env)).stdout) as { items: unknown[] }).items.length, 0);
      const badState = await cm(['topology', 'list', '--state', 'BROKEN'], env);
      assert.equal(badState.code, 4, show(badState));
      assert.match(badState.stderr, /^--state: /m);
    });

    it('servers: every server with its host, ports and SLA state', async () => {
      const r = await cm(['servers'], env);
      assert.equal(r.code, 0, show(r));
      const rows = tableRows(r.stdout);
      assert.deepEqual(rows[0], ['ID', 'NAME', 'STATUS', 'HOST', 'PORTS', 'SLA']);
      assert.equal(rows.length, 6);
      for (const row of rows.slice(1)) {
        assert.equal(row[2], 'ACTIVE');
        assert.equal(row[3], 'compute1');
        assert.match(row[4] ?? '', /^\d+\.\d+\.\d+\.\d+@\S+$/, 'IP and switch port');
        assert.equal(row[5], 'applied');
      }
      const json = JSON.parse((await cm(['servers', '-o', 'json'], env)).stdout) as { items: typeof servers };
      servers = json.items;
      assert.equal(servers.length, 5);
      assert.ok(servers.every((s) => s.sla?.state === 'applied'));
    });

    it('sla list and sla get: tables and JSON', async () => {
      const l = await cm(['sla', 'list'], env);
      assert.equal(l.code, 0, show(l));
      const rows = tableRows(l.stdout);
      assert.deepEqual(rows[0], ['SERVER', 'NAME', 'HOST', 'DOWNLOAD', 'UPLOAD', 'PEERS', 'OBSERVED ↓', 'OBSERVED ↑', 'STATE', 'REASON']);
      // The simulated cloud's switches have no ovs-vswitchd, so no OpenFlow counters: no observed rate, and that is shown as such.
      for (const row of rows.slice(1, 6)) assert.deepEqual([row[6], row[7]], ['-', '-']);
      assert.equal(rows.filter((row) => row[3] === '100 Mbit/s – 10 Gbit/s').length, 3, 'three Gold media servers');
      // The thesis topology's derived traffic: each MediaServer with the Broker, the Broker with all three.
      assert.deepEqual(rows.slice(1, 6).map((row) => `${row[1] ?? ''}:${row[5] ?? ''}`).sort(), ['Broker-1:3', 'Controller-1:-', 'MediaServer-1:1', 'MediaServer-2:1', 'MediaServer-3:1'].sort());
      assert.match(l.stdout, /^5 applied$/m);
      const lj = JSON.parse((await cm(['sla', 'list', '-o', 'json'], env)).stdout) as { items: unknown[]; summary: { applied: number } };
      assert.equal(lj.items.length, 5);
      assert.equal(lj.summary.applied, 5);

      const server = servers[0];
      assert.ok(server);
      const g = await cm(['sla', 'get', server.name], env);
      assert.equal(g.code, 0, show(g));
      assert.match(g.stdout, new RegExp(`^server_id\\s+${server.id}$`, 'm'));
      assert.match(g.stdout, /^state\s+applied$/m);
      const gj = JSON.parse((await cm(['sla', 'get', server.id, '-o', 'json'], env)).stdout) as { server_id: string; sla: { download: { min: number } } };
      assert.equal(gj.server_id, server.id);
      assert.equal(gj.sla.download.min, 1e8);
    });

    it('sla watch: a line per interval with desired and observed rates, JSON lines with -o json, usage errors', async () => {
      const server = servers[0];
      assert.ok(server);
      const w = await cm(['sla', 'watch', server.name, '--count', '2', '--interval', '0.2'], env);
      assert.equal(w.code, 0, show(w));
      const lines = w.stdout.trim().split('\n');
      assert.equal(lines.length, 3, 'a header and two lines');
      assert.match(lines[0] ?? '', new RegExp(`^${server.name}: desired and observed rates`));
      for (const line of lines.slice(1)) assert.match(line, /^\d\d:\d\d:\d\d {2}↓ - {2}↑ - {2}applied {2}\(no rate: no OpenFlow endpoint for this host/);
      const j = await cm(['sla', 'watch', server.id, '--count', '1', '-o', 'json'], env);
      assert.equal(j.code, 0, show(j));
      const line = JSON.parse(j.stdout.trim()) as { server_id: string; state: string; ports: { observed: unknown; observed_error: string }[] };
      assert.equal(line.server_id, server.id);
      const port = line.ports[0];
      assert.ok(port);
      assert.equal(port.observed, null);
      assert.match(port.observed_error, /no OpenFlow endpoint/);
      const bad = await cm(['sla', 'watch', server.id, '--interval', '0'], env);
      assert.equal(bad.code, 2, show(bad));
      assert.match(bad.stderr, /--interval/);
    });

    it('sla set with rates or a class, sla rm; unknown server 3, bad rate 4 naming the option', async () => {
      const server = servers[1];
      assert.ok(server);
      const set = await cm(['sla', 'set', server.id, '--download-min', '100mbit', '--download-max', '1gbit', '--upload-max', '200mbit', '-o', 'json'], env);
      assert.equal(set.code, 0, show(set));
      assert.deepEqual((JSON.parse(set.stdout) as { sla: unknown }).sla, { download: { min: 1e8, max: 1e9 }, upload: { max: 2e8 } });
      const [peerA, peerB] = [servers[2]?.id ?? '', servers[3]?.id ?? ''].sort() as [string, string];
      const withPeers = await cm(['sla', 'set', server.id, '--download-max', '1gbit', '--upload-min', '50mbit', '--upload-max', '200mbit', '--peer', `${peerB.toUpperCase()}=20mbit`, '--peer', `${peerA}=10000000`, '-o', 'json'], env);
      assert.equal(withPeers.code, 0, show(withPeers));
      assert.deepEqual((JSON.parse(withPeers.stdout) as { sla: unknown }).sla, {
        download: { max: 1e9 },
        upload: { min: 5e7, max: 2e8 },
        peers: { [peerA]: { min: 1e7 }, [peerB]: { min: 2e7 } },
      });
      const shown = await cm(['sla', 'get', server.id], env);
      assert.match(shown.stdout, /^upload\.min\s+50 Mbit\/s$/m);
      assert.match(shown.stdout, new RegExp(`^peers\\.${peerB}\\s+20 Mbit/s$`, 'm'));
      const selfPeer = await cm(['sla', 'set', server.id, '--download-max', '1gbit', '--peer', `${server.id}=1mbit`], env);
      assert.equal(selfPeer.code, 4, show(selfPeer));
      assert.match(selfPeer.stderr, new RegExp(`^--peer ${server.id}: a server cannot be its own peer`, 'm'));
      const badUploadMin = await cm(['sla', 'set', server.id, '--upload-min', '1gbit', '--upload-max', '1mbit'], env);
      assert.equal(badUploadMin.code, 4, show(badUploadMin));
      assert.match(badUploadMin.stderr, /^--upload-min: must not exceed max/m);
      for (const args of [['--download-max', '1gbit', '--peer', 'nonsense'], ['--download-max', '1gbit', '--peer', `${peerA}=1mbit`, '--peer', `${peerA.toUpperCase()}=2mbit`], ['--peer', `${peerA}=1mbit`]]) {
        const r = await cm(['sla', 'set', server.id, ...args], env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
      }
      const byClass = await cm(['sla', 'set', server.name, '--class', 'Gold'], env);
      assert.equal(byClass.code, 0, show(byClass));
      assert.match(byClass.stdout, /^download\.max\s+10 Gbit\/s$/m);
      assert.match(byClass.stderr, /^set: the SLA of /m);

      const bad = await cm(['sla', 'set', server.id, '--download-max', '1e9'], env);
      assert.equal(bad.code, 4, show(bad));
      assert.match(bad.stderr, /^--download-max: exponent notation/m);
      const noClass = await cm(['sla', 'set', server.id, '--class', 'Platinum'], env);
      assert.equal(noClass.code, 2, show(noClass));
      const nothing = await cm(['sla', 'set', server.id], env);
      assert.equal(nothing.code, 2, show(nothing));

      for (const args of [['sla', 'get', UNKNOWN_UUID], ['sla', 'set', UNKNOWN_UUID, '--download-max', '1gbit'], ['sla', 'rm', UNKNOWN_UUID], ['sla', 'get', 'no-such-vm'], ['topology', 'show', UNKNOWN_UUID]]) {
        const r = await cm(args, env);
        assert.equal(r.code, 3, `${args.join(' ')}: ${show(r)}`);
        assert.match(r.stderr, /^error: /m);
      }

      const rm = await cm(['sla', 'rm', server.id, '-o', 'json'], env);
      assert.equal(rm.code, 0, show(rm));
      assert.deepEqual(JSON.parse(rm.stdout), { server_id: server.id, deleted: true });
      assert.equal((await cm(['sla', 'get', server.id], env)).code, 3);
    });

    it('topology set-class --wait changes a class in place; an unknown class exits 4 naming the argument', async () => {
      const r = await cm(['topology', 'set-class', id, 'Controller', 'Gold', '--wait', '--poll-interval', '100ms'], env);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^state\s+ACTIVE$/m);
      assert.match(r.stdout, /^Controller-1\s+Controller\s+Gold\s+compute1\s+compute1\s+\S+\s+applied$/m);
      const again = await cm(['topology', 'set-class', id, 'Controller', 'Gold'], env);
      assert.equal(again.code, 0, show(again));
      assert.match(again.stderr, /Controller is already Gold: nothing to change/);
      const bad = await cm(['topology', 'set-class', id, 'Controller', 'Platinum'], env);
      assert.equal(bad.code, 4, show(bad));
      assert.match(bad.stderr, /<class>.*unknown SLA class "Platinum"/);
    });

    it('topology scale --wait adds units through a stack update; a count outside the size exits 4 naming the argument', async () => {
      const r = await cm(['topology', 'scale', id, 'MediaServer', '4', '--wait', '--poll-interval', '100ms', '-o', 'json'], env);
      assert.equal(r.code, 0, show(r));
      const t = JSON.parse(r.stdout) as { state: string; units: { name: string; sla_state: string | null }[] };
      assert.equal(t.state, 'ACTIVE');
      assert.deepEqual(t.units.map((u) => u.name).filter((n) => n.startsWith('MediaServer')), ['MediaServer-1', 'MediaServer-2', 'MediaServer-3', 'MediaServer-4']);
      assert.ok(t.units.every((u) => u.sla_state === 'applied'));
      const states = [...r.stderr.matchAll(/^\d\d:\d\d:\d\d (\S+)/gm)].map((m) => m[1]);
      assert.deepEqual(states.slice(-4), ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE'], r.stderr);
      const bad = await cm(['topology', 'scale', id, 'MediaServer', '9'], env);
      assert.equal(bad.code, 4, show(bad));
      assert.match(bad.stderr, /<count>.*9 units is outside MediaServer's size 1\.\.5/);
      const usage = await cm(['topology', 'scale', id, 'MediaServer', 'many'], env);
      assert.equal(usage.code, 2, show(usage));
    });

    it('topology delete --wait ends DELETED', async () => {
      const r = await cm(['topology', 'delete', id, '--wait', '--poll-interval', '100ms'], env);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^state\s+DELETED$/m);
      assert.match(r.stderr, /DELETING/);
      assert.equal([...sim.state.servers.values()].length, 0);
    });
  });

  describe('exit codes', () => {
    it('5 when the service does not answer, saying what to do', async () => {
      const port = await closedPort();
      const a = await cm(['hosts'], { ...env, CM_AGENT_URL: `http://127.0.0.1:${String(port)}` });
      assert.equal(a.code, 5, show(a));
      assert.match(a.stderr, /^error: cannot reach the CM Agent at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/m);
      assert.match(a.stderr, /is the agent running\? start it with `cm agent --sim`.*CM_AGENT_URL/);
      const m = await cm(['topology', 'list', '--manager-url', `http://127.0.0.1:${String(port)}`], env);
      assert.equal(m.code, 5, show(m));
      assert.match(m.stderr, /is the manager running\?/);
    });

    it('2 for usage: unknown option, unknown format, missing command, bad duration, refused token, unreadable file', async () => {
      const cases: [string[], RegExp][] = [
        [['hosts', '--bogus'], /unknown option '--bogus'/],
        [['-o', 'xml', 'hosts'], /argument 'xml' is invalid/],
        [['nonsense'], /unknown command 'nonsense'/],
        [['sla', 'get'], /missing required argument 'server'/],
        [['--timeout', 'soon', 'hosts'], /--timeout: "soon" is not a duration/],
        [['hosts', '--agent-token', 'wrong-token-0123456789'], /hint: the agent refused the token/],
        [['topology', 'plan', path.join(tmp, 'missing.yaml')], /FILE: cannot read/],
        [['agent', '--config', path.join(tmp, 'missing.yaml')], /cannot read the file/],
        [['manager', '--config', path.join(tmp, 'missing.yaml')], /cannot read the file/],
      ];
      for (const [args, message] of cases) {
        const r = await cm(args, env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
        assert.match(r.stderr, message, args.join(' '));
        assert.equal(r.stdout, '', args.join(' '));
      }
      const bare = await cm([], env);
      assert.equal(bare.code, 2, show(bare));
      assert.match(bare.stderr, /Usage: cm/);
    });

    it('0 for --help and --version, on stdout', async () => {
      const h = await cm(['sla', 'set', '--help'], env);
      assert.equal(h.code, 0);
      assert.match(h.stdout, /--download-max <rate>/);
      const v = await cm(['--version'], env);
      assert.equal(v.code, 0);
      assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    });
  });

  describe('cm sim', () => {
    it('prints OS_* exports and the OVSDB endpoints, a clouds.yaml with -o yaml, and stops when interrupted', async () => {
      for (const output of ['table', 'yaml'] as const) {
        const controller = new AbortController();
        const stdout = { text: '', write(s: string) { this.text += s; if (this.text.includes('compute2')) controller.abort(); return true; } };
        const stderr = { text: '', write(s: string) { this.text += s; return true; } };
        const { run } = await import('../../src/cli/main.ts');
        const code = await run(['sim', '-o', output], { stdout, stderr, env: {}, signal: controller.signal });
        assert.equal(code, 0, stderr.text);
        if (output === 'table') {
          assert.match(stdout.text, /^export OS_AUTH_URL=http:\/\/127\.0\.0\.1:\d+\/identity\/v3$/m);
          assert.match(stdout.text, /^export OS_PASSWORD=\S+$/m);
          assert.match(stdout.text, /^compute1\s+(unix|tcp):\S+$/m);
        } else {
          const doc = YAML.parse(stdout.text) as { clouds: { 'cm-sim': { auth: { auth_url: string } } } };
          assert.match(doc.clouds['cm-sim'].auth.auth_url, /\/identity\/v3$/);
          assert.match(stdout.text, /^# {3}compute1: /m);
        }
        assert.match(stderr.text, /Ctrl-C to stop/);
      }
    });
  });

  describe('the bin', () => {
    const exec = promisify(execFile);
    it('node bin/cm.mjs --help shows the commands and the exit codes', async () => {
      const { stdout } = await exec(process.execPath, [path.join(ROOT, 'bin/cm.mjs'), '--help'], { cwd: ROOT });
      assert.match(stdout, /^Usage: cm /m);
      for (const c of ['hosts', 'servers', 'sla', 'sla-classes', 'topology', 'agent', 'manager', 'sim']) assert.match(stdout, new RegExp(`^ {2}${c}\\b`, 'm'), c);
      assert.match(stdout, /^Exit codes:\n {2}0 {2}success/m);
    });

    it('node bin/cm.mjs runs a real command against the agent', async () => {
      // execFile, not spawnSync: the agent in this process must keep answering while the child runs.
      const { stdout } = await exec(process.execPath, [path.join(ROOT, 'bin/cm.mjs'), 'hosts', '-o', 'json'], { cwd: ROOT, env: { ...process.env, ...env } });
      assert.deepEqual((JSON.parse(stdout) as { hosts: { name: string }[] }).hosts.map((h) => h.name), ['compute1', 'compute2']);
      const down = await exec(process.execPath, [path.join(ROOT, 'bin/cm.mjs'), 'hosts'], { cwd: ROOT, env: { ...process.env, CM_AGENT_URL: `http://127.0.0.1:${String(await closedPort())}` } }).then(
        () => ({ code: 0 }),
        (error: unknown) => error as { code: number },
      );
      assert.equal(down.code, 5, 'the exit code reaches the shell');
    });
  });
});
