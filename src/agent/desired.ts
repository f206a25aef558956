/**
 * The agent's desired state: the SLAs in the store (per server) on every
 * Neutron port of each server, as the inventory knows them. This is the
 * {@link DesiredSource} every host's reconciler reads; it is recomputed only
 * when the store, the inventory snapshot, a split of a server's rates among
 * its ports, or a host's upload mechanism changed.
 *
 * A VM's SLA is the VM's (issue 13): a server with several ports on one host
 * gets its cap and its guarantee once, for all its ports together, not once
 * per port. Its upload cap is one OpenFlow meter shared by its ports (the meter
 * backend groups a server's ports), so each port carries the server's full
 * upload part when the host caps uploads with meters. HTB and ingress policing
 * act on one port and cannot be shared: the server's download max and min (and
 * its upload, on a host that polices) are split among its ports by demand
 * (src/qos/port-shares.ts), from the ports' live rates. Shares start equal;
 * every `resplitIntervalMs` they are recomputed, and applied (listeners
 * notified with the server id) only when one moves by more than 10 %, since
 * every change rewrites the port's QoS rows and resets its HTB classes.
 */
import type { Sla, PortSla } from '../qos/sla.ts';
import { DEFAULT_RESPLIT_THRESHOLD, demandFromRate, equalShares, proportionalShares, sharesDiffer, splitByDemand } from '../qos/port-shares.ts';
import type { SlaStore, StoredSla } from '../store/index.ts';
import type { UploadMechanism } from './enforcement/types.ts';
import type { InventorySnapshot } from './inventory.ts';
import { serverIndex } from './inventory/server-index.ts';
import type { DesiredSource } from './reconciler.ts';

export interface InventoryReader {
  snapshot(): InventorySnapshot | undefined;
}

/** A port's live rate, the VM's directions (what the fleet's rate samplers observe). */
export interface PortRate {
  readonly downloadBps: number;
  readonly uploadBps: number;
}

export interface DesiredSourceOptions {
  /**
   * Live rates by Neutron port id, read once per re-split (e.g. from the
   * fleet's status). Absent: the ports of a server share its rates equally.
   */
  portRates?: () => ReadonlyMap<string, PortRate>;
  /**
   * How a host caps uploads. `policing` splits a server's upload among its
   * ports; anything else (meters, undecided, unknown) gives each port the
   * server's whole upload part, for the shared meter.
   */
  uploadMechanism?: (host: string) => UploadMechanism | 'undecided' | undefined;
  /** How often shares are recomputed from the rates, ms; 0 never. @default 2000 */
  resplitIntervalMs?: number;
  /** A new split is applied when a share moves by more than this fraction of itself. @default 0.1 */
  resplitThreshold?: number;
}

export const DEFAULT_RESPLIT_INTERVAL_MS = 2000;

/** The ports of one server on one host, when more than one: their rates are split. */
interface PortGroup {
  readonly key: string;
  readonly serverId: string;
  readonly host: string;
  readonly portIds: readonly string[];
  readonly sla: Sla;
}

/** The current split of one group, per port in the group's order. */
interface GroupShares {
  /** The ports and totals the split is of; another signature starts over from an equal split. */
  readonly signature: string;
  download: number[] | undefined;
  upload: number[] | undefined;
}

export class StoreDesiredSource implements DesiredSource {
  private slas = new Map<string, Sla>();
  private cached:
    | {
        snapshot: InventorySnapshot | undefined;
        generation: number;
        sharesVersion: number;
        mechanisms: string;
        map: Map<string, PortSla>;
        /** Server id (lower case) → its port ids in `map`: what a change of one server's SLA replaces. */
        portsOf: Map<string, string[]>;
      }
    | undefined;
  private generation = 0;
  /** Servers whose SLA changed since the map was computed (lower case), or 'all' after a full re-read. */
  private changedSinceMap: Set<string> | 'all' = 'all';
  private unsubscribe: (() => void) | undefined;
  private unsubscribeResync: (() => void) | undefined;
  private readonly listeners = new Set<(serverId: string | undefined) => void>();
  private reloading: Promise<void> | undefined;
  /** Multi-port groups of the latest computed map. */
  private groups: PortGroup[] = [];
  private readonly shares = new Map<string, GroupShares>();
  private sharesVersion = 0;
  private resplitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: SlaStore,
    private readonly inventory: InventoryReader,
    private readonly options: DesiredSourceOptions = {},
  ) {}

  /** Loads the store and follows its changes. */
  async start(): Promise<void> {
    // One row per change: re-reading the whole table on every put made 4000 SLAs cost O(n²).
    this.unsubscribe ??= this.store.onChange((serverId) => {
      void this.reloadOne(serverId).then(() => {
        this.notify(serverId);
      });
    });
    // PostgreSQL's change feed reconnected: changes made meanwhile were not reported, so re-read all.
    this.unsubscribeResync ??= this.store.onResync?.(() => {
      void this.reload().then(() => {
        this.notify(undefined);
      });
    });
    await this.reload();
    const interval = this.options.resplitIntervalMs ?? DEFAULT_RESPLIT_INTERVAL_MS;
    if (interval > 0 && this.resplitTimer === undefined) {
      this.resplitTimer = setInterval(() => {
        this.resplit();
      }, interval);
      this.resplitTimer.unref();
    }
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.unsubscribeResync?.();
    this.unsubscribeResync = undefined;
    if (this.resplitTimer) clearInterval(this.resplitTimer);
    this.resplitTimer = undefined;
  }

  /** Called after the desired state may have changed (a server id, or undefined for "anything"). */
  onChange(listener: (serverId: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the store; concurrent calls share one read. */
  reload(): Promise<void> {
    this.reloading ??= this.store
      .list()
      .then((records: StoredSla[]) => {
        this.slas = new Map(records.map((r) => [r.serverId, r.sla]));
        this.generation++;
        this.changedSinceMap = 'all';
      })
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }

  private async reloadOne(serverId: string): Promise<void> {
    const record = await this.store.get(serverId);
    const id = serverId.toLowerCase();
    if (record) this.slas.set(id, record.sla);
    else this.slas.delete(id);
    this.generation++;
    if (this.changedSinceMap !== 'all') this.changedSinceMap.add(id);
  }

  /** Every desired SLA by server id (lower case). */
  serverSlas(): ReadonlyMap<string, Sla> {
    return this.slas;
  }

  /** Changes whenever `serverSlas()` may have changed (the map is updated in place). */
  slasVersion(): number {
    return this.generation;
  }

  /**
   * The hosts whose switches carry a server's ports (its compute host and each port's binding,
   * two during a migration): the only reconcilers a change of its SLA concerns. Undefined when
   * the inventory does not know the server (then every host should look).
   */
  hostsOf(serverId: string): string[] | undefined {
    const snapshot = this.inventory.snapshot();
    if (!snapshot) return undefined;
    const server = serverIndex(snapshot).get(serverId.toLowerCase());
    if (!server) return undefined;
    const hosts = new Set<string>();
    if (server.host) hosts.add(server.host);
    for (const port of server.ports) if (port.bindingHost) hosts.add(port.bindingHost);
    return [...hosts];
  }

  /** Servers with a desired SLA that the inventory does not know (deleted, or not seen yet). */
  unknownServers(): string[] {
    const known = new Set(this.inventory.snapshot()?.servers.map((s) => s.id.toLowerCase()) ?? []);
    return [...this.slas.keys()].filter((id) => !known.has(id));
  }

  desired(): ReadonlyMap<string, PortSla> {
    const snapshot = this.inventory.snapshot();
    const c = this.cached;
    if (c && c.snapshot === snapshot && c.sharesVersion === this.sharesVersion && c.mechanisms === this.mechanisms(this.groups)) {
      if (c.generation === this.generation) return c.map;
      // Only some servers' SLAs changed: their entries are replaced, the others kept (a rebuild walks every server of the region).
      if (this.changedSinceMap !== 'all' && snapshot) {
        this.patch(c, snapshot, this.changedSinceMap);
        return c.map;
      }
    }
    const map = new Map<string, PortSla>();
    const portsOf = new Map<string, string[]>();
    const groups: PortGroup[] = [];
    for (const server of snapshot?.servers ?? []) this.addServer(server, map, portsOf, groups);
    // Splits of servers (or ports) gone are forgotten.
    const live = new Set(groups.map((g) => g.key));
    for (const key of [...this.shares.keys()]) if (!live.has(key)) this.shares.delete(key);
    this.groups = groups;
    this.cached = { snapshot, generation: this.generation, sharesVersion: this.sharesVersion, mechanisms: this.mechanisms(groups), map, portsOf };
    this.changedSinceMap = new Set();
    return map;
  }

  /** Replaces the entries (and port groups) of the servers whose SLA changed, in the cached map. */
  private patch(c: NonNullable<StoreDesiredSource['cached']>, snapshot: InventorySnapshot, changed: ReadonlySet<string>): void {
    const index = serverIndex(snapshot);
    for (const id of changed) {
      for (const portId of c.portsOf.get(id) ?? []) c.map.delete(portId);
      c.portsOf.delete(id);
    }
    const kept = this.groups.filter((g) => !changed.has(g.serverId.toLowerCase()));
    const added: PortGroup[] = [];
    for (const id of changed) {
      const server = index.get(id);
      if (server) this.addServer(server, c.map, c.portsOf, added);
    }
    const dropped = this.groups.filter((g) => changed.has(g.serverId.toLowerCase())).map((g) => g.key);
    const live = new Set(added.map((g) => g.key));
    for (const key of dropped) if (!live.has(key)) this.shares.delete(key);
    this.groups = [...kept, ...added];
    c.generation = this.generation;
    c.mechanisms = this.mechanisms(this.groups);
    this.changedSinceMap = new Set();
  }

  /** One server's desired port SLAs into `map` (none without a stored SLA), its multi-port groups into `groups`. */
  private addServer(server: InventorySnapshot['servers'][number], map: Map<string, PortSla>, portsOf: Map<string, string[]>, groups: PortGroup[]): void {
    const id = server.id.toLowerCase();
    const sla = this.slas.get(id);
    if (!sla) return;
    const ids: string[] = [];
    const byHost = new Map<string, string[]>();
    for (const port of server.ports) {
      const host = port.bindingHost || (server.host ?? '');
      byHost.set(host, [...(byHost.get(host) ?? []), port.id]);
    }
    for (const [host, portIds] of byHost) {
      if (portIds.length === 1) {
        for (const portId of portIds) {
          map.set(portId, { serverId: server.id, portId, sla });
          ids.push(portId);
        }
        continue;
      }
      const group: PortGroup = { key: `${id}@${host}`, serverId: server.id, host, portIds, sla };
      groups.push(group);
      const shares = this.sharesOf(group);
      const policing = this.options.uploadMechanism?.(host) === 'policing';
      portSlas(sla, shares, portIds.length, policing).forEach((portSla, i) => {
        const portId = portIds[i];
        if (portId !== undefined) {
          map.set(portId, { serverId: server.id, portId, sla: portSla });
          ids.push(portId);
        }
      });
    }
    portsOf.set(id, ids);
  }

  /**
   * Recomputes every multi-port server's split from its ports' rates and
   * applies those that moved enough; the timer calls it, tests may too.
   * Returns the ids of the servers whose split changed (listeners were told).
   */
  resplit(): string[] {
    this.desired();
    if (this.groups.length === 0) return [];
    const rates = this.options.portRates?.();
    const threshold = this.options.resplitThreshold ?? DEFAULT_RESPLIT_THRESHOLD;
    const changed = new Set<string>();
    for (const group of this.groups) {
      const current = this.shares.get(group.key);
      if (!current) continue;
      const observed = group.portIds.map((id) => rates?.get(id));
      // No rate for any port (no sampler on the host, or no sample yet): the equal split stays.
      if (observed.every((r) => r === undefined)) continue;
      const next = (total: number, shares: readonly number[], rate: (r: PortRate) => number): number[] =>
        splitByDemand(
          total,
          group.portIds.map((id, i) => {
            const r = observed[i];
            // A port without a rate while its siblings have one is not plugged (or brand new): the floor is enough to start.
            return { id, demandBps: r === undefined ? 0 : demandFromRate(rate(r), shares[i] ?? 0) };
          }),
        ).map((s) => s.bps);
      let moved = false;
      const download = group.sla.download;
      if (download && current.download) {
        const split = next(download.maxRate, current.download, (r) => r.downloadBps);
        if (sharesDiffer(current.download, split, threshold)) {
          current.download = split;
          moved = true;
        }
      }
      const upload = group.sla.upload;
      if (upload && current.upload && this.options.uploadMechanism?.(group.host) === 'policing') {
        const split = next(upload.maxRate, current.upload, (r) => r.uploadBps);
        if (sharesDiffer(current.upload, split, threshold)) {
          current.upload = split;
          moved = true;
        }
      }
      if (moved) changed.add(group.serverId);
    }
    if (changed.size === 0) return [];
    this.sharesVersion++;
    for (const id of changed) this.notify(id);
    return [...changed];
  }

  /** The split of a group: the current one, or an equal split when the group or its totals changed. */
  private sharesOf(group: PortGroup): GroupShares {
    const signature = JSON.stringify([group.portIds, group.sla.download?.maxRate ?? null, group.sla.upload?.maxRate ?? null]);
    const found = this.shares.get(group.key);
    if (found?.signature === signature) return found;
    const n = group.portIds.length;
    const fresh: GroupShares = {
      signature,
      download: group.sla.download ? equalShares(group.sla.download.maxRate, n) : undefined,
      upload: group.sla.upload ? equalShares(group.sla.upload.maxRate, n) : undefined,
    };
    this.shares.set(group.key, fresh);
    return fresh;
  }

  /** The upload mechanisms of the hosts of multi-port servers: a change re-splits (or un-splits) their uploads. */
  private mechanisms(groups: readonly PortGroup[]): string {
    const mechanism = this.options.uploadMechanism;
    if (!mechanism || groups.length === 0) return '';
    return [...new Set(groups.map((g) => g.host))].map((h) => `${h}=${mechanism(h) ?? ''}`).join(',');
  }

  private notify(serverId: string | undefined): void {
    for (const listener of this.listeners) listener(serverId);
  }
}

/**
 * Each port's part of a server's SLA, in the group's order: its share of the
 * download max, the download min split like the max (so min ≤ max holds on
 * every port), the burst unchanged; the upload split the same way only where
 * policing caps it (a meter is shared by the server's ports, so each carries
 * the whole cap).
 */
function portSlas(sla: Sla, shares: GroupShares, n: number, policing: boolean): Sla[] {
  const d = sla.download;
  const u = sla.upload;
  const down = d ? shares.download : undefined;
  const up = u && policing ? shares.upload : undefined;
  const downMin = d?.minRate === undefined || !down ? undefined : proportionalShares(d.minRate, down);
  const upMin = u?.minRate === undefined || !up ? undefined : proportionalShares(u.minRate, up);
  return Array.from({ length: n }, (_, i): Sla => {
    const out: Sla = { ...sla };
    if (d && down) out.download = { ...d, maxRate: down[i] ?? 0, ...(downMin ? { minRate: downMin[i] ?? 0 } : {}) };
    if (u && up) out.upload = { ...u, maxRate: up[i] ?? 0, ...(upMin ? { minRate: upMin[i] ?? 0 } : {}) };
    return out;
  });
}
