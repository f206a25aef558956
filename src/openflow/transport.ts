/**
 * OpenFlow endpoints in the notation of ovs-ofctl: `unix:PATH` (a bridge's
 * management socket `<rundir>/<bridge>.mgmt`), `tcp:HOST:PORT` and
 * `ssl:HOST:PORT` (IPv6 hosts in brackets). A port may be omitted for tcp/ssl:
 * 6653, the IANA OpenFlow port, as ovs-ofctl assumes.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { OpenFlowAbortError, OpenFlowConnectionError, OpenFlowError } from './errors.ts';

export const OFP_DEFAULT_PORT = 6653;

export type Endpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'ssl'; readonly host: string; readonly port: number };

/** Client certificate material for `ssl:` endpoints: PEM text or file paths. */
export interface TlsOptions {
  key?: string | { path: string };
  cert?: string | { path: string };
  /** CA certificate(s) that signed the switch's certificate. */
  ca?: string | { path: string };
  /** Expected server name; defaults to the endpoint host. */
  servername?: string;
  /**
   * OVS certificates (ovs-pki) are usually signed for no host name; with
   * false (the default) the chain is verified against `ca` but the name is not.
   */
  checkServerIdentity?: boolean;
}

export function parseEndpoint(text: string): Endpoint {
  const colon = text.indexOf(':');
  const scheme = colon < 0 ? '' : text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (scheme === 'unix') {
    if (rest === '') throw new OpenFlowError('OPENFLOW_BAD_ENDPOINT', `endpoint "${text}": empty socket path`);
    return { kind: 'unix', path: rest };
  }
  if (scheme === 'tcp' || scheme === 'ssl') {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::([0-9]{1,5}))?$/.exec(rest);
    const port = match?.[3] === undefined ? OFP_DEFAULT_PORT : Number(match[3]);
    if (!match || port < 1 || port > 65535) {
      throw new OpenFlowError('OPENFLOW_BAD_ENDPOINT', `endpoint "${text}": expected ${scheme}:HOST[:PORT]`);
    }
    return { kind: scheme, host: (match[1] ?? match[2]) as string, port };
  }
  throw new OpenFlowError('OPENFLOW_BAD_ENDPOINT', `endpoint "${text}": expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT`);
}

export function formatEndpoint(endpoint: Endpoint): string {
  if (endpoint.kind === 'unix') return `unix:${endpoint.path}`;
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.kind}:${host}:${String(endpoint.port)}`;
}

function pem(value: string | { path: string } | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : readFileSync(value.path, 'utf8');
}

/** Opens a stream to the endpoint; resolves once connected (TLS: after the handshake). */
export function openStream(
  endpoint: Endpoint,
  options: { tls?: TlsOptions; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(new OpenFlowAbortError('connect aborted', { cause: signal.reason }));
      return;
    }
    let socket: net.Socket;
    const readyEvent = endpoint.kind === 'ssl' ? 'secureConnect' : 'connect';
    try {
      if (endpoint.kind === 'unix') socket = net.connect({ path: endpoint.path });
      else if (endpoint.kind === 'tcp') socket = net.connect({ host: endpoint.host, port: endpoint.port });
      else {
        const t = options.tls ?? {};
        const key = pem(t.key);
        const cert = pem(t.cert);
        const ca = pem(t.ca);
        socket = tls.connect({
          host: endpoint.host,
          port: endpoint.port,
          ...(key === undefined ? {} : { key }),
          ...(cert === undefined ? {} : { cert }),
          ...(ca === undefined ? {} : { ca }),
          servername: t.servername ?? (net.isIP(endpoint.host) ? '' : endpoint.host),
          ...(t.checkServerIdentity === true ? {} : { checkServerIdentity: () => undefined }),
        });
      }
    } catch (error) {
      // Unreadable key/cert files land here, not in an 'error' event.
      reject(new OpenFlowConnectionError(`cannot connect to ${formatEndpoint(endpoint)}: ${(error as Error).message}`, { cause: error }));
      return;
    }
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            finish(new OpenFlowConnectionError(`connect to ${formatEndpoint(endpoint)} timed out after ${String(options.timeoutMs)} ms`));
          }, options.timeoutMs);
    const onAbort = (): void => {
      finish(new OpenFlowAbortError('connect aborted', { cause: signal?.reason }));
    };
    const onError = (err: Error): void => {
      finish(new OpenFlowConnectionError(`cannot connect to ${formatEndpoint(endpoint)}: ${err.message}`, { cause: err }));
    };
    const onReady = (): void => {
      finish();
    };
    function finish(error?: Error): void {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off(readyEvent, onReady);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        socket.setNoDelay(true);
        resolve(socket);
      }
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once(readyEvent, onReady);
  });
}
