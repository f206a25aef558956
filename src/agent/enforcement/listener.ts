/**
 * A passive OpenFlow listener on a host's bridge, added through OVSDB, for an
 * agent that is not on the host: a `Controller` row with target
 * `ptcp:PORT:IP` (or `pssl:`, or `punix:PATH`) in `Bridge.controller`, tagged
 * with our owner. The agent then connects to it as `tcp:IP:PORT` (`ssl:`,
 * `unix:`).
 *
 * Level-based like everything else: ensured when the OpenFlow connection is
 * set up and again whenever it is lost, because neutron-openvswitch-agent sets
 * `Bridge.controller` to its own controller alone when it starts. Other
 * Controller rows are never touched.
 */
import type { OvsdbClient } from '../../ovsdb/client.ts';
import { namedUuid } from '../../ovsdb/datum.ts';
import { eq, insert, mutate, select } from '../../ovsdb/operations.ts';
import { TAG_OWNER } from '../../ovsdb/vswitch/index.ts';
import type { BackendContext, BackendPass, EnforcedPortView, EnforcementBackend } from './types.ts';

/** `ptcp:6653:10.0.0.1` → `tcp:10.0.0.1:6653`; `pssl:…` → `ssl:…`; `punix:/p` → `unix:/p`. Throws on anything else. */
export function endpointOfListener(target: string): string {
  const unix = /^punix:(.+)$/.exec(target);
  if (unix) return `unix:${unix[1] ?? ''}`;
  const m = /^p(tcp|ssl):(\d{1,5}):(?:\[([^\]]+)\]|([^:]+))$/.exec(target);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new Error(`listener "${target}": expected ptcp:PORT:IP, pssl:PORT:IP or punix:PATH (a fixed port and address: the agent connects to it)`);
  }
  const host = m[3] ?? m[4] ?? '';
  return `${m[1] ?? 'tcp'}:${host.includes(':') ? `[${host}]` : host}:${String(port)}`;
}

export interface ListenerOptions {
  client: OvsdbClient;
  db: string;
  bridge: string;
  target: string;
  owner: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Makes sure `bridge` has a Controller with `target` (ours); returns whether it had to be added. */
export async function ensurePassiveListener(options: ListenerOptions): Promise<'present' | 'added'> {
  const { client, db, bridge, target, owner } = options;
  const call = { ...(options.signal ? { signal: options.signal } : {}), timeoutMs: options.timeoutMs ?? 10_000 };
  const [bridges, controllers] = await client.transact(
    db,
    [select('Bridge', [eq('name', bridge)], ['_uuid', 'controller']), select('Controller', [eq('target', target)], ['_uuid'])],
    call,
  );
  const row = bridges?.rows?.[0];
  if (!row) throw new Error(`bridge ${bridge} does not exist on this host`);
  const current = new Set(uuidsOf(row.controller));
  if ((controllers?.rows ?? []).some((c) => typeof c._uuid === 'string' && current.has(c._uuid))) return 'present';
  // A wait on the controller set would fail the transaction if someone changed it since; the next check retries.
  await client.transact(
    db,
    [
      insert('Controller', { target, external_ids: new Map([[TAG_OWNER, owner]]) }, { uuidName: 'cmlistener' }),
      mutate('Bridge', [eq('name', bridge)], [['controller', 'insert', [namedUuid('cmlistener')]]]),
    ],
    call,
  );
  return 'added';
}

function uuidsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? (value as unknown[]).filter((x): x is string => typeof x === 'string') : [];
}

/**
 * Keeps the passive listener on the bridge: checks it when the host's
 * enforcement starts and each time the OpenFlow connection is lost (at most
 * once a second). It enforces nothing on ports, so its plans are always in sync.
 */
export class PassiveListenerBackend implements EnforcementBackend {
  readonly name = 'openflow-listener';
  private context: BackendContext | undefined;
  private lastCheck = 0;
  private lastError: string | undefined;
  private state: 'present' | 'added' | undefined;
  private deferred: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: { bridge: string; target: string; owner: string },
    private readonly connection: { on(event: 'disconnected', listener: () => void): unknown },
  ) {}

  async start(context: BackendContext): Promise<void> {
    this.context = context;
    this.connection.on('disconnected', () => {
      void this.check();
    });
    await this.check();
  }

  stop(): Promise<void> {
    if (this.deferred) clearTimeout(this.deferred);
    return Promise.resolve();
  }

  ready(): boolean {
    return true;
  }

  notReadyReason(): string {
    return '';
  }

  ownsOn(): boolean {
    return false;
  }

  plan(): BackendPass {
    return {
      outcome: () => ({ kind: 'in-sync' }),
      key: () => '',
      drift: () => ({ detail: '', foreign: { writer: 'unknown', evidence: '' } }),
      prepare: () => ({ changes: 0, orphans: 0, run: () => Promise.resolve() }),
    };
  }

  describe(): Partial<Pick<EnforcedPortView, 'download' | 'upload'>> {
    return {};
  }

  info(): Record<string, unknown> {
    return { target: this.options.target, state: this.state ?? 'unknown', ...(this.lastError === undefined ? {} : { error: this.lastError }) };
  }

  private async check(): Promise<void> {
    const context = this.context;
    if (!context || context.signal.aborted) return;
    const wait = this.lastCheck + 1000 - Date.now();
    if (wait > 0) {
      // At most one check a second: a later one is deferred, never dropped.
      if (!this.deferred) {
        this.deferred = setTimeout(() => {
          this.deferred = undefined;
          void this.check();
        }, wait);
        this.deferred.unref();
      }
      return;
    }
    this.lastCheck = Date.now();
    try {
      this.state = await ensurePassiveListener({ ...this.options, client: context.ovsdb.client, db: context.ovsdb.db, signal: context.signal, timeoutMs: context.ovsdb.ioTimeoutMs });
      this.lastError = undefined;
      if (this.state === 'added') context.log({ event: 'openflow-listener-added', host: context.host, target: this.options.target });
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      context.log({ event: 'openflow-listener-failed', host: context.host, target: this.options.target, error: this.lastError }, 'warn');
    }
  }
}
