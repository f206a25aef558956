import type { InventorySnapshot, ServerInventory } from './types.ts';

const serverIndexes = new WeakMap<InventorySnapshot, Map<string, ServerInventory>>();

/** Servers by lower-case id, built once per snapshot (a linear search per server made bulk work quadratic). */
export function serverIndex(snapshot: InventorySnapshot): ReadonlyMap<string, ServerInventory> {
  let index = serverIndexes.get(snapshot);
  if (!index) {
    index = new Map(snapshot.servers.map((server) => [server.id.toLowerCase(), server]));
    serverIndexes.set(snapshot, index);
  }
  return index;
}
