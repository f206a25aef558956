/**
 * Named locks (RFC 7047 §4.1.8–4.1.10): per lock a queue of waiting
 * sessions whose head owns it. `steal` puts the thief at the head; the
 * previous owner stays queued and learns of the theft from a "stolen"
 * notification.
 */
export class LockTable<Owner> {
  private readonly queues = new Map<string, Owner[]>();

  /** Whether `owner` has an outstanding lock or steal request for `name`. */
  hasWaiter(name: string, owner: Owner): boolean {
    return this.queues.get(name)?.includes(owner) ?? false;
  }

  isOwner(name: string, owner: Owner): boolean {
    return this.queues.get(name)?.[0] === owner;
  }

  /** Queues `owner`; true when it got the lock at once. */
  lock(name: string, owner: Owner): boolean {
    const queue = this.queues.get(name) ?? [];
    queue.push(owner);
    this.queues.set(name, queue);
    return queue[0] === owner;
  }

  /** Makes `owner` the owner; returns the previous owner, if any. */
  steal(name: string, owner: Owner): Owner | undefined {
    const queue = (this.queues.get(name) ?? []).filter((o) => o !== owner);
    const victim = queue[0];
    queue.unshift(owner);
    this.queues.set(name, queue);
    return victim;
  }

  /** Drops `owner`'s request; returns the session that just became owner, if ownership passed on. */
  unlock(name: string, owner: Owner): Owner | undefined {
    const queue = this.queues.get(name);
    if (!queue) return undefined;
    const wasOwner = queue[0] === owner;
    const rest = queue.filter((o) => o !== owner);
    if (rest.length === 0) this.queues.delete(name);
    else this.queues.set(name, rest);
    return wasOwner ? rest[0] : undefined;
  }

  /** Drops every request of `owner` (its session ended); returns the locks that changed hands. */
  releaseAll(owner: Owner): { name: string; newOwner: Owner }[] {
    const handedOver: { name: string; newOwner: Owner }[] = [];
    for (const name of [...this.queues.keys()]) {
      if (!this.hasWaiter(name, owner)) continue;
      const newOwner = this.unlock(name, owner);
      if (newOwner !== undefined) handedOver.push({ name, newOwner });
    }
    return handedOver;
  }
}
