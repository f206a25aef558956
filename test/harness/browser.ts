/// <reference lib="dom" />
/**
 * A real browser for the dashboard's tests: Debian's chromium driven by playwright-core (no
 * browser download). Missing chromium skips locally and fails in CI, like every real part.
 * Console errors and uncaught page errors are collected: the tests assert there are none.
 * Screenshots go to test-artifacts/screenshots/ (kept by CI as artifacts, ignored by git).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { findBinary } from '../../src/ovsdb/local-server.ts';
import { realOvsAvailable } from './ovsdb-server.ts';

/** What the dashboard's SLA view keeps about itself on `window` (ui/src/sla-live.ts `LiveStats`), for the tests and the bench. */
declare global {
  interface Window {
    cmSlaStats?: { events: number; rows: number; handleMsTotal: number; handleMsMax: number; chartPoints: number; chartDownloadMaxBps: number };
  }
}

export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/screenshots');

export function browserAvailable(): { skip: false } | { skip: string } {
  return realOvsAvailable(['chromium']);
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = findBinary('chromium');
  if (executablePath === undefined) throw new Error('chromium is not installed (Debian package chromium)');
  // This machine's network is closed: chromium's own background connections would only fail.
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions, as text (an answer's HTTP status is not one: see `failedLoads`). */
  errors: string[];
  /**
   * Answers with an error status, as chromium reports them on the console ("Failed to load
   * resource"): a dry run of a wrong topology is answered 422 on purpose; each test says which it expects.
   */
  failedLoads: string[];
  /** Requests to anything but the page's own origin (the dashboard must work offline). */
  foreign: string[];
  screenshot(name: string): Promise<string>;
}

export async function openPage(browser: Browser, origin: string, options: { colorScheme?: 'light' | 'dark' } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: options.colorScheme ?? 'light' });
  const page = await context.newPage();
  const errors: string[] = [];
  const failedLoads: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (m.text().startsWith('Failed to load resource')) failedLoads.push(`${m.text()} ${new URL(m.location().url).pathname}`);
    else errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith('data:')) foreign.push(url);
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    page,
    context,
    errors,
    failedLoads,
    foreign,
    screenshot: async (name) => {
      const file = path.join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
  };
}
