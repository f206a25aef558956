/**
 * Test harness: a byte-forwarding proxy in front of an OVSDB endpoint, on a
 * unix socket in a temp dir. It counts the bytes in each direction (to prove
 * a request was or was not sent) and can freeze its connections: bytes are
 * then held instead of forwarded, in both directions, while the sockets stay
 * open. That is what a hung server (or a silently dead network path) looks
 * like to a client, and it works the same in front of any server.
 */
import net from 'node:net';
import path from 'node:path';
import { parseEndpoint } from '../../src/ovsdb/transport.ts';
import { makeTempDir, removeTempDir } from './ovsdb-server.ts';

export interface StreamProxy {
  /** `unix:PATH` of the proxy. */
  readonly endpoint: string;
  /** Bytes forwarded (or held, when frozen) from clients towards the server. */
  readonly bytesToServer: number;
  /** Bytes forwarded (or held) from the server towards clients. */
  readonly bytesToClient: number;
  /** Number of client connections currently open through the proxy. */
  readonly openConnections: number;
  /** Total number of client connections accepted. */
  readonly acceptedConnections: number;
  /**
   * Holds every byte instead of forwarding it, on the open connections and on
   * new ones (they are accepted, as a hung server's kernel would, but get no
   * answer), until thaw().
   */
  freeze(): void;
  /** Forwards what was held and resumes normal forwarding. */
  thaw(): void;
  /** Destroys every open connection (both sides). */
  dropAll(): void;
  close(): Promise<void>;
}

interface Pipe {
  client: net.Socket;
  upstream: net.Socket;
  frozen: boolean;
  heldToServer: Buffer[];
  heldToClient: Buffer[];
}

export async function startStreamProxy(target: string): Promise<StreamProxy> {
  const endpoint = parseEndpoint(target);
  if (endpoint.kind === 'ssl') throw new Error('the proxy forwards unix: and tcp: endpoints only');
  const dir = await makeTempDir('cm-proxy-');
  const socketPath = path.join(dir, 'proxy.sock');
  const pipes = new Set<Pipe>();
  let bytesToServer = 0;
  let bytesToClient = 0;
  let accepted = 0;
  let frozen = false;

  const server = net.createServer((client) => {
    accepted++;
    const upstream =
      endpoint.kind === 'unix' ? net.connect({ path: endpoint.path }) : net.connect({ host: endpoint.host, port: endpoint.port });
    const pipe: Pipe = { client, upstream, frozen, heldToServer: [], heldToClient: [] };
    pipes.add(pipe);
    const teardown = (): void => {
      pipes.delete(pipe);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      bytesToServer += chunk.length;
      if (pipe.frozen) pipe.heldToServer.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      bytesToClient += chunk.length;
      if (pipe.frozen) pipe.heldToClient.push(chunk);
      else client.write(chunk);
    });
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closed = false;
  return {
    endpoint: `unix:${socketPath}`,
    get bytesToServer() {
      return bytesToServer;
    },
    get bytesToClient() {
      return bytesToClient;
    },
    get openConnections() {
      return pipes.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    freeze() {
      frozen = true;
      for (const pipe of pipes) pipe.frozen = true;
    },
    thaw() {
      frozen = false;
      for (const pipe of pipes) {
        pipe.frozen = false;
        for (const chunk of pipe.heldToServer.splice(0)) pipe.upstream.write(chunk);
        for (const chunk of pipe.heldToClient.splice(0)) pipe.client.write(chunk);
      }
    },
    dropAll() {
      for (const pipe of [...pipes]) {
        pipes.delete(pipe);
        pipe.client.destroy();
        pipe.upstream.destroy();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const pipe of [...pipes]) {
        pipe.client.destroy();
        pipe.upstream.destroy();
      }
      pipes.clear();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      await removeTempDir(dir);
    },
  };
}
