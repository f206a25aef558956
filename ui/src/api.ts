/**
 * The manager's API as the page calls it: the bearer token kept for the browser tab (sessionStorage),
 * problem+json errors turned into ApiError with their field pointers, and server-sent events read
 * with fetch (EventSource cannot send an Authorization header).
 */
const TOKEN_KEY = 'cm-token';

export interface FieldProblem {
  pointer: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
  get errors(): FieldProblem[] {
    const e = this.body?.errors;
    return Array.isArray(e) ? (e as FieldProblem[]) : [];
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

/** The API root: the page is served at <root>/ui/. */
function apiUrl(path: string): string {
  const base = location.pathname.replace(/\/ui(\/.*)?$/, '');
  return `${base}${path}`;
}

let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), ...(signal ? { signal } : {}) };
  const response = await fetch(apiUrl(path), init);
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.status === 401) onUnauthorized();
  if (!response.ok) {
    const problem = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
    const detail = typeof problem?.detail === 'string' ? problem.detail : `${String(response.status)} ${response.statusText}`;
    throw new ApiError(response.status, detail, problem);
  }
  return parsed as T;
}

export interface StreamHandlers<T> {
  /** `parseMs`: the time JSON.parse took on the event's data (the page's own cost of an event is that plus the handler's). */
  onEvent(data: T, parseMs: number): void;
  onState(state: 'connecting' | 'live' | 'retrying', detail?: string): void;
}

/** Follows a server-sent event stream until `signal` aborts, reconnecting after a failure. */
export function stream<T>(path: string, handlers: StreamHandlers<T>, signal: AbortSignal): void {
  const run = async (): Promise<void> => {
    while (!signal.aborted) {
      handlers.onState('connecting');
      try {
        const t = token();
        const response = await fetch(apiUrl(path), { headers: { accept: 'text/event-stream', ...(t ? { authorization: `Bearer ${t}` } : {}) }, signal });
        if (response.status === 401) {
          onUnauthorized();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`${String(response.status)} ${response.statusText}`);
        handlers.onState('live');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5))
              .join('\n');
            if (data === '') continue;
            const t0 = performance.now();
            const parsed = JSON.parse(data) as T;
            handlers.onEvent(parsed, performance.now() - t0);
          }
        }
        handlers.onState('retrying', 'the stream ended');
      } catch (error) {
        // Leaving the page aborts the fetch: that is the end, not a failure.
        if (error instanceof DOMException && error.name === 'AbortError') return;
        handlers.onState('retrying', (error as Error).message);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
}
