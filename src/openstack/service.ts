/** What every service client needs: the shared HTTP layer, a token source and its endpoint. */
import type { HttpClient, RequestLogger, TokenProvider } from './http.ts';

export interface ServiceContext {
  http: HttpClient;
  /** Undefined for an unauthenticated client (tests, noauth clouds). */
  auth: TokenProvider | undefined;
  /** The catalog endpoint URL of the service (resolved lazily). */
  endpoint: (signal?: AbortSignal) => Promise<string>;
}

/** Per-call options accepted by every client method. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Sees every HTTP request the call sends (pages and retries included): see HttpRequest.observer. */
  observer?: RequestLogger;
}

/** Copies only the defined call options (exactOptionalPropertyTypes-friendly). */
export function callOpts(o: CallOptions | undefined): { signal?: AbortSignal; timeoutMs?: number; observer?: RequestLogger } {
  const out: { signal?: AbortSignal; timeoutMs?: number; observer?: RequestLogger } = {};
  if (o?.signal) out.signal = o.signal;
  if (o?.timeoutMs !== undefined) out.timeoutMs = o.timeoutMs;
  if (o?.observer) out.observer = o.observer;
  return out;
}
