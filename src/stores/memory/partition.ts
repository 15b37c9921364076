/**
 * The memory store's entries split by owner, so that each class has its own eviction order:
 * anonymous entries (`userId` null) and signed-in ones. See `docs/stores.md` › Memory.
 */

/** What a {@link Partitioned} table holds: anything keyed by id with an owner. */
interface Owned {
  readonly id: string;
  readonly userId: string | null;
}

/**
 * Entries by id in two insertion-ordered Maps, one per owner class. Each Map's first key is its
 * least recently used entry (approximately, for live sessions: live.ts moves an entry only out
 * of the older half), so finding an eviction victim of either class is O(1). It offers the
 * Map methods the store uses, so the store reads the same whichever Map holds an entry.
 *
 * Invariant (kept by the store): an id is in at most one of the two Maps, and an entry whose
 * `userId` changes is deleted and set again, never changed in place.
 */
export class Partitioned<T extends Owned> {
  /** Entries with `userId` null, least recently used first. */
  readonly anonymous = new Map<string, T>();
  /** Entries of a signed-in user, least recently used first. */
  readonly signedIn = new Map<string, T>();

  get size(): number {
    return this.anonymous.size + this.signedIn.size;
  }

  get(id: string): T | undefined {
    return this.signedIn.get(id) ?? this.anonymous.get(id);
  }

  has(id: string): boolean {
    return this.signedIn.has(id) || this.anonymous.has(id);
  }

  /** Add (or replace) an entry as the most recently used of its class. */
  set(id: string, entry: T): void {
    (entry.userId === null ? this.anonymous : this.signedIn).set(id, entry);
  }

  delete(id: string): boolean {
    return this.signedIn.delete(id) || this.anonymous.delete(id);
  }

  /** Every entry, signed-in first. Deleting the current entry while iterating is safe. */
  *values(): IterableIterator<T> {
    yield* this.signedIn.values();
    yield* this.anonymous.values();
  }
}

/**
 * The least recently used entry of a Map (its first), or undefined when empty.
 * @param map - an insertion-ordered Map
 */
export function oldest<T>(map: Map<string, T>): T | undefined {
  return map.values().next().value;
}
