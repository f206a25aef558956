/**
 * `listen.tls`: the agent serves its API over HTTPS with the configured PEM
 * certificate and key. A self-signed certificate for 127.0.0.1 is made with
 * openssl; a client trusting it (undici Agent with that CA) gets /healthz and
 * an authenticated route; a client that does not trust it, and plain HTTP,
 * do not. A missing certificate file fails the start.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch } from 'undici';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent, type StartAgentOptions } from '../../src/agent/main.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { findBinary, makeTempDir, realOvsAvailable, removeTempDir } from '../harness/ovsdb-server.ts';

const TOKEN = 'tls-token-0123456789abcdef';
const openssl = findBinary('openssl');

function simOptions(sim: SimCloud): StartAgentOptions {
  return simAgentOptions(sim, { log: false });
}

function tlsConfig(cert: string, key: string): ReturnType<typeof parseAgentConfig> {
  return parseAgentConfig(
    `listen: { host: 127.0.0.1, port: 0, tls: { cert: "${cert}", key: "${key}" } }\nauth: { tokens: [${TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent-tls`,
    {},
  );
}

describe('cm-agent API over TLS (listen.tls)', realOvsAvailable(['openssl']), () => {
  let dir: string;
  let sim: SimCloud;
  let agent: RunningAgent | undefined;
  let ca: string;
  let trusting: Agent;

  before(async () => {
    dir = await makeTempDir('cm-tls-');
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync(openssl!, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'pipe' });
    ca = readFileSync(cert, 'utf8');
    trusting = new Agent({ connect: { ca } });
    sim = await startSimCloud();
    agent = await startAgent(tlsConfig(cert, key), simOptions(sim));
  });

  after(async () => {
    await agent?.stop();
    await trusting.close();
    await sim.close();
    await removeTempDir(dir);
  });

  it('serves https:// and answers /healthz to a client trusting the certificate', async () => {
    assert.match(agent!.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${agent!.url}/healthz`, { dispatcher: trusting });
    assert.equal(response.status, 200);
    await response.text();
  });

  it('authenticated routes work over TLS', async () => {
    const response = await fetch(`${agent!.url}/v1/hosts`, { dispatcher: trusting, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200);
    assert.equal(typeof (await response.json()), 'object');
    const anonymous = await fetch(`${agent!.url}/v1/hosts`, { dispatcher: trusting });
    assert.equal(anonymous.status, 401);
    await anonymous.text();
  });

  it('a client that does not trust the certificate is refused', async () => {
    const untrusting = new Agent();
    try {
      await assert.rejects(fetch(`${agent!.url}/healthz`, { dispatcher: untrusting }), (error: Error) => {
        const cause = (error as Error & { cause?: { code?: string } }).cause;
        assert.match(String(cause?.code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
        return true;
      });
    } finally {
      await untrusting.close();
    }
  });

  it('plain HTTP on the TLS port gets no API answer', async () => {
    const url = agent!.url.replace('https://', 'http://');
    let status: number | undefined;
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
      status = response.status;
      await response.text();
    } catch {
      status = undefined;
    }
    assert.notEqual(status, 200);
  });

  it('a missing certificate file fails the start', async () => {
    await assert.rejects(startAgent(tlsConfig(path.join(dir, 'missing.pem'), path.join(dir, 'key.pem')), simOptions(sim)), /ENOENT/);
  });
});
