/// <reference lib="dom" />
/**
 * The live SLA view with real traffic: the testbed (a real ovs-vswitchd, VMs as network
 * namespaces), the CM Agent sampling the switch's port counters, the Connectivity Manager serving
 * the dashboard, and chromium watching while iperf3 sends to a VM capped at 8 Mbit/s. The VM's
 * download climbs from nothing to its cap on the page, in the row and in the chart, and falls back
 * when the flow ends; the chart's points are the observed rates, not a flat line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { simCloudConfig } from '../../src/agent/main.ts';
import { parseManagerConfig } from '../../src/manager/config.ts';
import { startManager, type RunningManager } from '../../src/manager/main.ts';
import { startScenarioEnv, thesisCloud, type BootedServer, type ScenarioEnv } from '../../src/testbed/scenarios/env.ts';
import { browserAvailable, launchBrowser, openPage, type WatchedPage } from '../harness/browser.ts';
import { integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';


const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-ofctl', 'ip', 'tc', 'ethtool', 'iperf3', 'chromium']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the dashboard traffic test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');
const skip = requirement.skip || browserAvailable().skip || notRoot;

const CAP = 8_000_000;

describe('the live SLA view with real traffic (testbed, chromium)', { skip }, () => {
  let env: ScenarioEnv;
  let manager: RunningManager;
  let browser: Browser;
  let w: WatchedPage;
  let sender: BootedServer;
  let sink: BootedServer;
  const token = randomBytes(18).toString('base64url');

  before(async () => {
    env = await startScenarioEnv({ scenario: thesisCloud() });
    sender = await env.boot('Sender-1', 'compute1');
    sink = await env.boot('Sink-1', 'compute1');
    await env.setSla(sink, { download: { min: 2_000_000, max: CAP } });
    manager = await startManager(
      parseManagerConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${token}] }\nagent: { url: "${env.agent.url}", token: ${env.agentToken} }\nstore: { url: "sqlite::memory:" }`, {}),
      { cloud: simCloudConfig(env.sim), log: false },
    );
    browser = await launchBrowser();
    w = await openPage(browser, manager.url);
  });

  after(async () => {
    await (browser as Browser | undefined)?.close();
    await (manager as RunningManager | undefined)?.stop();
    await (env as ScenarioEnv | undefined)?.close();
  });

  it('the VM\'s download climbs to its cap on the page while iperf3 sends, and the chart draws the observed rates', async () => {
    await w.page.goto(`${manager.url}/ui/#token=${token}`);
    await w.page.goto(`${manager.url}/ui/#/sla`);
    const row = w.page.locator(`tr[data-server="${sink.id}"]`);
    await row.waitFor();
    await w.page.getByTestId('stream-state').getByText(/^live/).waitFor();
    await row.click();
    await w.page.getByTestId('sla-chart').locator('canvas').waitFor();
    const shown = async (): Promise<string> => row.getByTestId('down').innerText();

    const server = spawn('ip', ['netns', 'exec', sink.netns, 'iperf3', '-s', '-1', '-B', sink.ip], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 10_000;
      while ((await run('ip', ['netns', 'exec', sink.netns, 'ss', '-Hltn', 'sport = :5201'])).stdout.trim() === '') {
        if (Date.now() > deadline) throw new Error('iperf3 did not listen');
        await new Promise((r) => setTimeout(r, 50));
      }
      const client = run('ip', ['netns', 'exec', sender.netns, 'iperf3', '-c', sink.ip, '-t', '10']);
      // A second or two for TCP to ramp up and the sampler to see it; then the page shows Mbit/s near the cap.
      const seen: string[] = [];
      await w.page.waitForFunction(
        (id) => {
          const text = document.querySelector(`tr[data-server="${id}"] [data-testid="down"]`)?.textContent ?? '';
          const m = /^([\d.]+) Mbit\/s$/.exec(text);
          return m !== null && Number(m[1]) >= 6;
        },
        sink.id,
        { timeout: 15_000, polling: 250 },
      );
      seen.push(await shown());
      await w.screenshot('sla-live-traffic');
      // The chart draws the same observed rates (its download series, as the page gave it to uPlot).
      const chartMax = await w.page.evaluate(() => window.cmSlaStats?.chartDownloadMaxBps ?? 0);
      assert.ok(chartMax >= 6_000_000 && chartMax <= CAP * 1.1, `the chart's download peak ${String(chartMax)} bit/s is near the cap`);
      const downs = await w.page.evaluate((id) => {
        const cells = document.querySelector(`tr[data-server="${id}"] [data-testid="down"]`);
        return cells?.textContent ?? '';
      }, sink.id);
      const mbit = Number(/^([\d.]+) Mbit\/s$/.exec(downs)?.[1] ?? 'NaN');
      assert.ok(mbit <= (CAP / 1e6) * 1.1, `at most the cap (+10 % for a one-second sample): ${downs}`);
      await client;
      // The flow ended: the page follows it down.
      await w.page.waitForFunction(
        (id) => {
          const text = document.querySelector(`tr[data-server="${id}"] [data-testid="down"]`)?.textContent ?? '';
          return /bit\/s$/.test(text) && !/Mbit\/s$/.test(text);
        },
        sink.id,
        { timeout: 10_000, polling: 250 },
      );
      process.stdout.write(`# the page showed ${seen.join(', ')} during the flow, then ${await shown()}\n`);
    } finally {
      server.kill();
    }
    assert.deepEqual(w.errors, []);
    assert.deepEqual(w.failedLoads, []);
    assert.deepEqual(w.foreign, []);
  });
});
