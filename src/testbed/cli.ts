/**
 * `cm testbed up|status|scenario|down`: the real OVS data plane from the
 * command line. Exit codes: 0 done, 1 failed, 2 cannot run here (not root,
 * Debian packages missing, bad arguments).
 */
import { Command, InvalidArgumentError } from 'commander';
import { down, status, up } from './daemon.ts';
import { TestbedError } from './errors.ts';
import { checkScenarioPrerequisites } from './scenarios/env.ts';
import { checkRate } from '../qos/rates.ts';
import { runCapsScenario } from './scenarios/caps.ts';
import { runGuaranteesScenario } from './scenarios/guarantees.ts';
import { runThesisScenario } from './scenarios/thesis.ts';
import { mbit } from './scenarios/table.ts';
import { checkTestbedPrerequisites } from './hosts.ts';

/** "1gbit", "100mbit", "2500000" → bit/s, in the project's one rate notation (src/qos/rates.ts). */
export function parseRate(text: string): number {
  const checked = checkRate(text.trim());
  if (!checked.ok) throw new InvalidArgumentError(`"${text}" is not a rate: ${checked.message}`);
  if (checked.value < 8000) throw new InvalidArgumentError('a rate must be at least 8kbit');
  return checked.value;
}

/** "100" or "1/100" → 100 (thesis rates are divided by it). */
export function parseScale(text: string): number {
  const m = /^(?:1\/)?(\d+(?:\.\d+)?)$/.exec(text.trim());
  const value = m ? Number(m[1]) : Number.NaN;
  if (!(value >= 1)) throw new InvalidArgumentError(`"${text}" is not a scale (e.g. 100 or 1/100: thesis rates divided by 100)`);
  return value;
}

function positiveInt(what: string, max: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > max) throw new InvalidArgumentError(`${what} must be an integer from 1 to ${String(max)}`);
    return value;
  };
}

/** Exit code 2 for "cannot run here", 1 for everything else. */
export class TestbedCliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'TestbedCliError';
  }
}

function preflight(check: () => void): void {
  try {
    check();
  } catch (error) {
    if (error instanceof TestbedError && (error.code === 'CM_ERR_TESTBED_NEEDS_ROOT' || error.code === 'CM_ERR_TESTBED_MISSING_BINARY')) {
      throw new TestbedCliError(`cm testbed: ${error.message}`, 2);
    }
    throw error;
  }
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

export function testbedCommand(): Command {
  const testbed = new Command('testbed').description('a real Open vSwitch data plane on this machine (needs root), and the thesis evaluation measured on it');

  testbed
    .command('up')
    .description('start N compute hosts (own ovsdb-server + ovs-vswitchd each), a shaped NIC between them, the simulated cloud and a CM Agent; stays up until `down`')
    .option('--hosts <n>', 'number of compute hosts', positiveInt('--hosts', 16), 2)
    .option('--nic-rate <rate>', 'rate of each host NIC (tc notation)', parseRate, 1e9)
    .action(async (opts: { hosts: number; nicRate: number }) => {
      preflight(checkTestbedPrerequisites);
      const state = await up({ hosts: opts.hosts, nicRateBps: opts.nicRate });
      out(`testbed ${state.prefix} is up (supervisor pid ${String(state.supervisorPid)}, log ${state.log})`);
      for (const h of state.hosts) out(`  ${h.name}: namespace ${h.netns}, OVSDB ${h.ovsdb}`);
      out(`  NIC: ${state.nicRateBps === undefined ? 'none' : `${mbit(state.nicRateBps)} Mbit/s each way`}`);
      out(`  simulated cloud: OS_AUTH_URL=${state.sim.authUrl} OS_USERNAME=${state.sim.username} OS_PASSWORD=${state.sim.password} OS_PROJECT_NAME=${state.sim.projectName}`);
      out(`  CM Agent: ${state.agent.url} (token in the state file)`);
      out('take it down with `cm testbed down`');
    });

  testbed
    .command('status')
    .description('show the running testbed')
    .option('--json', 'machine-readable')
    .action(async (opts: { json?: boolean }) => {
      const report = await status();
      if (opts.json === true) {
        out(JSON.stringify({ ...report, state: report.state ? { ...report.state, agent: { url: report.state.agent.url } } : undefined }, null, 2));
        return;
      }
      if (!report.state) {
        out('no testbed is up');
        return;
      }
      const s = report.state;
      out(`testbed ${s.prefix}: supervisor pid ${String(s.supervisorPid)} ${report.supervisorAlive ? 'running' : 'GONE (run `cm testbed down` to clean up)'}, up since ${s.startedAt}`);
      for (const h of s.hosts) out(`  ${h.name}: ${h.netns}, OVSDB ${h.ovsdb}`);
      out(`  NIC: ${s.nicRateBps === undefined ? 'none' : `${mbit(s.nicRateBps)} Mbit/s`}; simulated cloud ${s.sim.authUrl}; CM Agent ${s.agent.url}`);
      out(`  namespaces (${String(report.namespaces.length)}): ${report.namespaces.join(', ') || '-'}`);
      out(`  OVS processes alive: ${report.processesAlive.join(', ') || '-'}`);
    });

  testbed
    .command('scenario')
    .description(
      'measure a scenario on a private testbed (made and removed by the run): thesis = §7.3 of the thesis, caps = every SLA class cap, guarantees = guaranteed rates under contention (without and with the controller)',
    )
    .argument('<name>', 'thesis | caps | guarantees')
    .option('--out <dir>', 'where the table (.txt/.json) and charts (.svg/.png) go', 'testbed-results')
    .option('--scale <n>', 'thesis rates divided by n (100: 1 GbE → 10 Mbit/s)', parseScale, 100)
    .option('--duration <s>', 'iperf3 seconds per measurement', positiveInt('--duration', 600), 10)
    .action(async (name: string, opts: { out: string; scale: number; duration: number }) => {
      if (name !== 'thesis' && name !== 'caps' && name !== 'guarantees') throw new TestbedCliError(`cm testbed scenario: unknown scenario "${name}" (thesis | caps | guarantees)`, 2);
      preflight(checkScenarioPrerequisites);
      const common = { scale: opts.scale, durationS: opts.duration, outDir: opts.out, print: out };
      if (name === 'thesis') await runThesisScenario(common);
      else if (name === 'guarantees') {
        const result = await runGuaranteesScenario(common);
        const failed = result.checks.filter((c) => !c.pass);
        if (failed.length > 0) throw new TestbedCliError(`cm testbed scenario guarantees: ${String(failed.length)} check(s) failed: ${failed.map((c) => `case ${String(c.case)} ${c.what}`).join('; ')}`, 1);
      } else {
        const result = await runCapsScenario(common);
        if (result.checks.some((c) => c.status === 'FAIL')) throw new TestbedCliError('cm testbed scenario caps: a cap was not held within ±5%', 1);
      }
    });

  testbed
    .command('down')
    .description('remove everything `up` made and check that nothing is left')
    .action(async () => {
      preflight(() => {
        if (process.getuid?.() !== 0) throw new TestbedError('CM_ERR_TESTBED_NEEDS_ROOT', 'the testbed needs root (network namespaces); run it as root');
      });
      const report = await down();
      if (report.nothing) {
        out('no testbed is up');
        return;
      }
      const bySupervisor = report.removedBySupervisor;
      if (bySupervisor) {
        out(`testbed ${report.prefix ?? ''} taken down by its supervisor:`);
        out(`  namespaces: ${bySupervisor.namespaces.join(', ') || '-'}`);
        out(`  processes: ${bySupervisor.processes.join(', ') || '-'}`);
        out(`  dirs: ${bySupervisor.dirs.join(', ') || '-'}`);
      }
      if (report.removedHere.length > 0) out(`removed by down itself: ${report.removedHere.join(', ')}`);
      for (const problem of report.problems) out(`problem: ${problem}`);
      if (report.left.length > 0) throw new TestbedCliError(`cm testbed down: still there: ${report.left.join(', ')}`, 1);
      out('checked: no namespace, process or dir of the testbed is left');
    });

  return testbed;
}
