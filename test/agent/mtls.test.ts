/**
 * `listen.tls.client_ca`: the agent requires a client certificate signed by
 * that CA (mutual TLS on the management network). A CA, a server and a client
 * certificate are made with openssl: a client presenting its certificate gets
 * the API, one without is refused during the handshake, one with a
 * certificate of another CA too; the manager reaches the agent with
 * `agent.tls` (CA + client certificate) and plans through it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch } from 'undici';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { parseManagerConfig } from '../../src/manager/config.ts';
import { startManager, type RunningManager } from '../../src/manager/main.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { findBinary, makeTempDir, realOvsAvailable, removeTempDir } from '../harness/ovsdb-server.ts';

const TOKEN = 'mtls-token-0123456789abcdef';
const MANAGER_TOKEN = 'mtls-manager-token-0123456789';
const openssl = findBinary('openssl');

function ssl(...args: string[]): void {
  execFileSync(openssl!, args, { stdio: 'pipe' });
}

/** A CA, and certificates it signs (EC P-256, one day). */
function makePki(dir: string, name: string): { ca: string; caKey: string; issue: (cn: string, ext: string) => { cert: string; key: string } } {
  const ca = path.join(dir, `${name}-ca.pem`);
  const caKey = path.join(dir, `${name}-ca.key`);
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', ca, '-days', '1', '-subj', `/CN=${name} test CA`);
  const issue = (cn: string, ext: string): { cert: string; key: string } => {
    const key = path.join(dir, `${name}-${cn}.key`);
    const csr = path.join(dir, `${name}-${cn}.csr`);
    const cert = path.join(dir, `${name}-${cn}.pem`);
    const extFile = path.join(dir, `${name}-${cn}.ext`);
    writeFileSync(extFile, ext);
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', extFile);
    return { cert, key };
  };
  return { ca, caKey, issue };
}

describe('cm-agent with mutual TLS (listen.tls.client_ca)', realOvsAvailable(['openssl']), () => {
  let dir: string;
  let sim: SimCloud;
  let agent: RunningAgent;
  let manager: RunningManager | undefined;
  let pki: ReturnType<typeof makePki>;
  let client: { cert: string; key: string };
  let stranger: { cert: string; key: string };

  before(async () => {
    dir = await makeTempDir('cm-mtls-');
    pki = makePki(dir, 'ops');
    const server = pki.issue('agent', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    client = pki.issue('manager', 'extendedKeyUsage=clientAuth\n');
    stranger = makePki(dir, 'other').issue('intruder', 'extendedKeyUsage=clientAuth\n');
    sim = await startSimCloud();
    agent = await startAgent(
      parseAgentConfig(
        `listen: { host: 127.0.0.1, port: 0, tls: { cert: "${server.cert}", key: "${server.key}", client_ca: "${pki.ca}" } }\nauth: { tokens: [${TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }`,
        {},
      ),
      simAgentOptions(sim, { log: false }),
    );
  });

  after(async () => {
    await manager?.stop();
    await agent.stop();
    await sim.close();
    await removeTempDir(dir);
  });

  const get = async (connect: { ca: string; cert?: string; key?: string }): Promise<number> => {
    const dispatcher = new Agent({ connect });
    try {
      const r = await fetch(`${agent.url}/v1/hosts`, { dispatcher, headers: { authorization: `Bearer ${TOKEN}` } });
      await r.text();
      return r.status;
    } finally {
      await dispatcher.close();
    }
  };
  const pem = (f: string): string => readFileSync(f, 'utf8');

  it('serves a client that presents a certificate of the configured CA', async () => {
    assert.equal(await get({ ca: pem(pki.ca), cert: pem(client.cert), key: pem(client.key) }), 200);
  });

  it('refuses, during the handshake, a client without a certificate or with one of another CA', async () => {
    await assert.rejects(get({ ca: pem(pki.ca) }));
    await assert.rejects(get({ ca: pem(pki.ca), cert: pem(stranger.cert), key: pem(stranger.key) }));
  });

  it('the manager reaches the agent with agent.tls and plans through it', async () => {
    const cloud = simAgentOptions(sim).cloud;
    assert.ok(cloud);
    manager = await startManager(
      parseManagerConfig(
        `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${MANAGER_TOKEN}] }\nagent: { url: "${agent.url}", token: ${TOKEN}, tls: { ca: "${pki.ca}", cert: "${client.cert}", key: "${client.key}" } }\nstore: { url: "sqlite::memory:" }`,
        {},
      ),
      { cloud, log: false },
    );
    const topology = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');
    const r = await globalThis.fetch(`${manager.url}/v1/plans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MANAGER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ topology }),
    });
    const body = (await r.json()) as { plan: { feasible: boolean; hosts: string[] } };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.deepEqual(body.plan.hosts, ['compute1']);
  });
});
