/**
 * The agent's desired state: the SLAs in the store (per server) spread over
 * every Neutron port of each server, as the inventory knows them. This is the
 * {@link DesiredSource} every host's reconciler reads; it is recomputed only
 * when the store or the inventory snapshot changed.
 */
import type { Sla, PortSla } from '../qos/sla.ts';
import type { SlaStore, StoredSla } from '../store/index.ts';
import type { InventorySnapshot } from './inventory.ts';
import type { DesiredSource } from './reconciler.ts';

export interface InventoryReader {
  snapshot(): InventorySnapshot | undefined;
}

export class StoreDesiredSource implements DesiredSource {
  private slas = new Map<string, Sla>();
  private cached: { snapshot: InventorySnapshot | undefined; generation: number; map: ReadonlyMap<string, PortSla> } | undefined;
  private generation = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly listeners = new Set<(serverId: string | undefined) => void>();
  private reloading: Promise<void> | undefined;

  constructor(
    private readonly store: SlaStore,
    private readonly inventory: InventoryReader,
  ) {}

  /** Loads the store and follows its changes. */
  async start(): Promise<void> {
    // One row per change: re-reading the whole table on every put made 4000 SLAs cost O(n²).
    this.unsubscribe ??= this.store.onChange((serverId) => {
      void this.reloadOne(serverId).then(() => {
        this.notify(serverId);
      });
    });
    await this.reload();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
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
  }

  /** Servers with a desired SLA that the inventory does not know (deleted, or not seen yet). */
  unknownServers(): string[] {
    const known = new Set(this.inventory.snapshot()?.servers.map((s) => s.id.toLowerCase()) ?? []);
    return [...this.slas.keys()].filter((id) => !known.has(id));
  }

  desired(): ReadonlyMap<string, PortSla> {
    const snapshot = this.inventory.snapshot();
    const c = this.cached;
    if (c && c.snapshot === snapshot && c.generation === this.generation) return c.map;
    const map = new Map<string, PortSla>();
    for (const server of snapshot?.servers ?? []) {
      const sla = this.slas.get(server.id.toLowerCase());
      if (!sla) continue;
      // Every NIC of the server gets the SLA: the SLA is the VM's, not one interface's.
      for (const port of server.ports) map.set(port.id, { serverId: server.id, portId: port.id, sla });
    }
    this.cached = { snapshot, generation: this.generation, map };
    return map;
  }

  private notify(serverId: string | undefined): void {
    for (const listener of this.listeners) listener(serverId);
  }
}
