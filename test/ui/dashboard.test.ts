/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against the demo:
 * the simulated thesis cloud, the CM Agent and the Connectivity Manager, with the thesis topology
 * deployed. Sign-in by the demo's link, the topology with its five units on compute1 and its
 * demand lines, the live SLA view moving with the stream, the hosts, a dry run that does not fit
 * and one with a mistake at a line and column, deletion asked first, keyboard use, the dark theme,
 * nothing fetched from elsewhere, and no console error anywhere. Screenshots: test-artifacts/.
 */
/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { runDemo, type DemoSummary } from '../../src/cli/demo.ts';
import { browserAvailable, launchBrowser, openPage, type WatchedPage } from '../harness/browser.ts';


const THESIS_YAML = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');

describe('the dashboard in chromium, on the demo', { skip: browserAvailable().skip }, () => {
  let browser: Browser;
  let demo: { summary: DemoSummary; stop: () => Promise<void> };
  let w: WatchedPage;
  let origin: string;
  let topologyId: string;

  before(async () => {
    demo = await runDemo({ once: false, json: true, ovsdb: 'in-process' });
    assert.ok(demo.summary.urls, 'a running demo names its URLs');
    origin = new URL(demo.summary.urls.manager).origin;
    browser = await launchBrowser();
    w = await openPage(browser, origin);
  });

  after(async () => {
    await (browser as Browser | undefined)?.close();
    await (demo as typeof demo | undefined)?.stop();
  });

  it('signs in with the link the demo prints, and the link leaves the address bar', async () => {
    const link = demo.summary.urls?.dashboard ?? '';
    assert.match(link, /\/ui\/#token=/);
    await w.page.goto(link);
    await w.page.getByRole('heading', { name: 'Topologies' }).waitFor();
    assert.equal(new URL(w.page.url()).hash, '#/topologies', 'the token is not left in the address bar');
    const row = w.page.getByRole('row').filter({ hasText: demo.summary.topology });
    await row.getByText('ACTIVE').waitFor();
    await w.screenshot('topologies');
    assert.deepEqual(w.errors, []);
  });

  it('shows the topology with its five units in compute1 and its guaranteed demands', async () => {
    await w.page.getByRole('link', { name: demo.summary.topology }).click();
    const diagram = w.page.getByTestId('diagram');
    await diagram.waitFor();
    topologyId = decodeURIComponent(new URL(w.page.url()).hash.replace('#/topologies/', ''));
    const hosts = await diagram.locator('g.host').evaluateAll((els) => els.map((e) => e.getAttribute('data-host')));
    assert.deepEqual(hosts, ['compute1']);
    const units = await diagram.locator('g.host[data-host="compute1"] g.unit').evaluateAll((els) => els.map((e) => e.getAttribute('data-unit')).sort());
    assert.deepEqual(units, ['Broker-1', 'Controller-1', 'MediaServer-1', 'MediaServer-2', 'MediaServer-3']);
    // The thesis's MediaServers need the Broker: demand lines, all inside compute1 (none crosses an uplink).
    assert.ok((await diagram.locator('line.demand').count()) > 0, 'the guaranteed demands are drawn');
    assert.equal(await diagram.locator('line.demand.cross').count(), 0);
    await w.page.getByTestId('explanation').getByText('compute1').first().waitFor();
    await w.page.getByRole('table', { name: 'History of states' }).getByText('ACTIVE').first().waitFor();
    await w.screenshot('topology');
    assert.deepEqual(w.errors, []);
  });

  it('streams the SLAs live: every unit with its class, the samples keep coming, the chart moves', async () => {
    await w.page.goto(`${origin}/ui/#/sla`);
    const table = w.page.getByTestId('sla-table');
    await table.locator('tbody tr').nth(4).waitFor();
    assert.equal(await table.locator('tbody tr').count(), 5);
    assert.equal(await table.locator('tbody tr', { hasText: 'Gold' }).count(), 3);
    assert.equal(await table.locator('tbody tr', { hasText: 'Wholesale' }).count(), 2);
    await w.page.getByTestId('stream-state').getByText(/^live/).waitFor();
    const events = async (): Promise<number> => w.page.evaluate(() => window.cmSlaStats?.events ?? 0);
    const before = await events();
    await w.page.waitForFunction((n) => (window.cmSlaStats?.events ?? 0) >= n + 2, before, { timeout: 10_000 });
    // Pick a VM with the keyboard: its chart appears and gains a point a second.
    await table.locator('tbody tr').first().focus();
    await w.page.keyboard.press('Enter');
    const chart = w.page.getByTestId('sla-chart');
    await chart.locator('canvas').waitFor();
    const points = async (): Promise<number> => w.page.evaluate(() => window.cmSlaStats?.chartPoints ?? 0);
    const start = await points();
    await w.page.waitForFunction((n) => (window.cmSlaStats?.chartPoints ?? 0) >= n + 2, start, { timeout: 10_000 });
    await w.screenshot('sla-live');
    assert.deepEqual(w.errors, []);
  });

  it('shows the hosts with their capacity, use and switch connections', async () => {
    await w.page.getByRole('link', { name: 'Hosts' }).click();
    const rows = w.page.getByRole('table', { name: 'Compute hosts' }).locator('tbody tr');
    await rows.nth(1).waitFor();
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-host'))), ['compute1', 'compute2']);
    const compute1 = rows.filter({ hasText: 'compute1' });
    await compute1.getByText('5 / 8 (63 %)').waitFor();
    await compute1.getByText('connected').first().waitFor();
    await compute1.getByText(demo.summary.topology).waitFor();
    await w.screenshot('hosts');
    assert.deepEqual(w.errors, []);
  });

  it('plans a topology that does not fit and shows why, creating nothing', async () => {
    await w.page.getByRole('link', { name: 'Dry run' }).click();
    const tooBig = THESIS_YAML.replace('size: { min: 1, def: 3, max: 5 }', 'size: { min: 1, def: 9, max: 9 }');
    assert.notEqual(tooBig, THESIS_YAML);
    await w.page.getByTestId('topology-text').fill(tooBig);
    await w.page.getByRole('button', { name: 'Plan (dry run)' }).click();
    const result = w.page.getByTestId('plan-result');
    await result.getByText('does not fit').waitFor();
    await result.getByText('Cannot be placed:').waitFor();
    assert.ok((await result.getByTestId('reasons').locator('li').count()) > 0, 'the reasons are listed');
    assert.ok((await result.locator('.decisions.rejected li').count()) > 0, 'the rejected hosts are listed with why');
    await w.screenshot('dry-run-infeasible');
    const list = (await (await fetch(`${demo.summary.urls?.manager ?? ''}/v1/topologies`, { headers: { authorization: `Bearer ${tokenOf(demo)}` } })).json()) as { items: unknown[] };
    assert.equal(list.items.length, 1, 'a dry run creates nothing');
    assert.deepEqual(w.errors, []);
  });

  it('plans an uploaded file: six units fit only split over both hosts (3 + 4 vCPU free), and the demand that must cross is drawn crossing', async () => {
    await w.page.locator('#topology-file').setInputFiles({ name: 'thesis.yaml', mimeType: 'text/yaml', buffer: Buffer.from(THESIS_YAML.replace('size: { min: 1, def: 3, max: 5 }', 'size: { min: 1, def: 4, max: 5 }')) });
    await w.page.waitForFunction(() => document.querySelector<HTMLTextAreaElement>('[data-testid="topology-text"]')?.value.includes('local_nm_template_minified') === true);
    await w.page.getByRole('button', { name: 'Plan (dry run)' }).click();
    const result = w.page.getByTestId('plan-result');
    await result.getByText('local_nm_template_minified: fits').waitFor();
    const hosts = await result.getByRole('table', { name: 'Assignments' }).locator('tbody th').allInnerTexts();
    assert.deepEqual(hosts.sort(), ['compute1', 'compute2']);
    assert.equal(await result.getByRole('table', { name: 'Units' }).locator('tbody tr').count(), 6);
    // The plan drawn: each unit in the box of its assigned host, and a demand line marked as crossing
    // exactly when its two units are on different hosts.
    const hostOf = new Map<string, string>();
    for (const row of await result.getByRole('table', { name: 'Assignments' }).locator('tbody tr').all()) {
      const host = await row.locator('th').innerText();
      for (const unit of (await row.locator('td').first().innerText()).split(', ')) hostOf.set(unit, host);
    }
    assert.equal(hostOf.size, 6);
    const drawn = result.getByTestId('diagram');
    for (const [unit, host] of hostOf) assert.equal(await drawn.locator(`g.host[data-host="${host}"] g.unit[data-unit="${unit}"]`).count(), 1, `${unit} drawn in ${host}`);
    const lines = await drawn.locator('line.demand').evaluateAll((els) => els.map((e) => [e.getAttribute('data-between') ?? '', e.classList.contains('cross')] as const));
    assert.equal(lines.length, 4, 'Broker-1 with each of the four MediaServers');
    // 6 units, 3 + 4 vCPU free: at most four together, so at least one MediaServer is apart from the Broker.
    assert.ok(lines.some(([, cross]) => cross), 'a demand crosses the uplinks');
    await drawn.locator('text.demand-label', { hasText: '100 Mbit/s' }).first().waitFor();
    for (const [between, cross] of lines) {
      const [a, b] = between.split('|');
      assert.equal(cross, hostOf.get(a ?? '') !== hostOf.get(b ?? ''), `${between} crosses exactly when its units are apart`);
    }
    await w.screenshot('dry-run-upload');
    assert.deepEqual(w.errors, []);
  });

  it('shows a mistake in the document at its line and column, and selects that line', async () => {
    const wrong = THESIS_YAML.replace('size: { min: 1, def: 3, max: 5 }', 'size: { min: 1, def: three, max: 5 }');
    const line = wrong.split('\n').findIndex((l) => l.includes('def: three')) + 1;
    assert.ok(line > 0);
    await w.page.getByTestId('topology-text').fill(wrong);
    await w.page.getByRole('button', { name: 'Plan (dry run)' }).click();
    const issues = w.page.getByTestId('issues');
    await issues.waitFor();
    const where = issues.getByRole('button', { name: new RegExp(`:${String(line)}:\\d+$`) });
    await where.waitFor();
    await issues.getByText('services[2].size.def').waitFor();
    await where.click();
    const selected = await w.page.getByTestId('topology-text').evaluate((el) => {
      const t = el as HTMLTextAreaElement;
      return t.value.slice(t.selectionStart, t.selectionEnd);
    });
    assert.match(selected, /^three, max: 5 }$/, 'from the column of the mistake to the end of its line');
    await w.screenshot('dry-run-errors');
    assert.deepEqual(w.errors, []);
    assert.equal(w.failedLoads.length, 1, 'the one answer with an error status is the dry run\'s 422');
    assert.match(w.failedLoads[0] ?? '', /status of 422 .*\/v1\/plans$/);
    w.failedLoads.length = 0;
  });

  it('is usable with the keyboard: a page starts at its content, the skip link and the sections follow', async () => {
    await w.page.goto(`${origin}/ui/#/topologies`);
    await w.page.getByRole('heading', { name: 'Topologies' }).waitFor();
    assert.equal(await w.page.evaluate(() => document.activeElement?.id), 'main', 'a new page puts the focus on its content');
    await w.page.keyboard.press('Tab');
    assert.equal(await w.page.evaluate(() => document.activeElement?.textContent), demo.summary.topology);
    await w.page.locator('a.skip').focus();
    await w.page.keyboard.press('Tab');
    assert.equal(await w.page.evaluate(() => document.activeElement?.textContent), 'Topologies');
    await w.page.keyboard.press('Tab');
    assert.equal(await w.page.evaluate(() => document.activeElement?.textContent), 'SLAs live');
    await w.page.keyboard.press('Enter');
    await w.page.getByRole('heading', { name: 'SLAs live' }).waitFor();
    assert.equal(await w.page.evaluate(() => getComputedStyle(document.activeElement ?? document.body).outlineStyle), 'none', 'main shows no ring');
  });

  it('reads in the dark theme too', async () => {
    const dark = await openPage(browser, origin, { colorScheme: 'dark' });
    try {
      await dark.page.goto(demo.summary.urls?.dashboard ?? '');
      await dark.page.getByRole('heading', { name: 'Topologies' }).waitFor();
      const [bg, fg] = await dark.page.evaluate(() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]);
      assert.equal(bg, 'rgb(18, 20, 24)');
      assert.equal(fg, 'rgb(230, 232, 235)');
      await dark.page.getByRole('link', { name: demo.summary.topology }).click();
      await dark.page.getByTestId('diagram').waitFor();
      await dark.screenshot('topology-dark');
      assert.deepEqual(dark.errors, []);
    } finally {
      await dark.context.close();
    }
  });

  it('deletes the topology after asking, and follows it to DELETED', async () => {
    await w.page.goto(`${origin}/ui/#/topologies/${topologyId}`);
    await w.page.getByTestId('delete').click();
    const dialog = w.page.getByRole('dialog');
    await dialog.getByText(`Delete ${demo.summary.topology}?`).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await w.page.getByTestId('topology-state').getByText('ACTIVE').waitFor();
    await w.page.getByTestId('delete').click();
    await w.page.getByTestId('confirm-delete').click();
    await w.page.getByTestId('topology-state').getByText('DELETED').waitFor({ timeout: 30_000 });
    assert.ok(await w.page.getByTestId('delete').isDisabled());
    await w.screenshot('topology-deleted');
    assert.deepEqual(w.errors, []);
  });

  it('fetched nothing from anywhere but the manager (works offline), and no answer had an error status but the expected 422', () => {
    assert.deepEqual(w.foreign, []);
    assert.deepEqual(w.failedLoads, []);
  });
});

function tokenOf(demo: { summary: DemoSummary }): string {
  return decodeURIComponent(/#token=(.+)$/.exec(demo.summary.urls?.dashboard ?? '')?.[1] ?? '');
}
