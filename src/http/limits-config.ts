/**
 * The HTTP limits of both services as configuration keys (`limits.request_timeout_ms` …, in each
 * service's `limits:` section): read and checked the same way in the agent's and the manager's config.
 */
import type { ConfigReader } from '../config/reader.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './service.ts';

/** Configuration key of each limit, and its range (0 turns a bound off where allowed). */
export const HTTP_LIMIT_KEYS: Readonly<Record<keyof HttpLimits, { key: string; min: number; max: number }>> = Object.freeze({
  requestTimeout: { key: 'request_timeout_ms', min: 0, max: 3_600_000 },
  headersTimeout: { key: 'headers_timeout_ms', min: 0, max: 3_600_000 },
  keepAliveTimeout: { key: 'keep_alive_timeout_ms', min: 0, max: 3_600_000 },
  maxConnectionsPerAddress: { key: 'connections_per_address', min: 0, max: 1_000_000 },
  // Below 1 KiB a plain API call with a token and a cursor would not fit.
  maxUrlLength: { key: 'url_length', min: 1024, max: 1024 * 1024 },
  maxHeaderSize: { key: 'header_bytes', min: 4096, max: 1024 * 1024 },
  closeLingerTimeout: { key: 'close_linger_ms', min: 0, max: 60_000 },
});

export const HTTP_LIMIT_CONFIG_KEYS: readonly string[] = Object.values(HTTP_LIMIT_KEYS).map((k) => k.key);

/**
 * Reads the HTTP limits given in a `limits:` section already checked for unknown keys; every problem
 * goes to `r`. Those not given keep their defaults when the service resolves them (which also holds
 * the headers timeout within the request timeout).
 */
export function readHttpLimits(r: ConfigReader, section: Record<string, unknown>, prefix = 'limits'): Partial<HttpLimits> {
  const out: Partial<HttpLimits> = {};
  for (const [name, { key, min, max }] of Object.entries(HTTP_LIMIT_KEYS) as [keyof HttpLimits, { key: string; min: number; max: number }][]) {
    if (section[key] === undefined || section[key] === null) continue;
    out[name] = r.integer(section[key], `${prefix}.${key}`, DEFAULT_HTTP_LIMITS[name], min, max);
  }
  return out;
}
