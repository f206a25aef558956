/**
 * The real service bins (`bin/cm-agent.mjs`, `bin/cm-manager.mjs`) as child
 * processes, the way an operator runs them, for tests that kill, pause or
 * restart them; and a bearer-token JSON call to their APIs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { trackChild } from './ovsdb-server.ts';

const BIN_DIR = path.resolve(import.meta.dirname, '../../bin');

export interface ServiceProcess {
  name: string;
  /** Base URL of its API. */
  url: string;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
}

/** Starts `bin/<bin> --config FILE` with `env` over a copy of ours without the developer's OS_* / CM_* settings. */
export function spawnService(name: string, bin: 'cm-agent.mjs' | 'cm-manager.mjs', url: string, configFile: string, env: Record<string, string>): ServiceProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_') && !k.startsWith('CM_AGENT_') && !k.startsWith('CM_MANAGER_')));
  const child = spawn(process.execPath, [path.join(BIN_DIR, bin), '--config', configFile], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return { name, url, child, output: () => output };
}

/** One API call with a bearer token; the body as JSON when it parses. */
export async function callApi(url: string, token: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}
