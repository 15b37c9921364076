/**
 * The memory store's tombstones (rotated-out tokens): by id, anonymous and signed-in apart,
 * indexed by session family and by user, within their bounds (see `MemoryStoreOptions`).
 */
import type { TombstoneRecord } from '../../core/types.js';
import { addTo, type Bucket, firstOf, membersOf, removeFrom, sizeOf } from './buckets.js';
import type { MemoryStoreFullEvent } from './options.js';
import { oldest, Partitioned } from './partition.js';

/** The tombstones of one memory store. */
export class Tombstones {
  /** Tombstones by id, anonymous and signed-in apart, each oldest first. */
  readonly #tombs = new Partitioned<TombstoneRecord>();
  /** Tombstone ids of each session family (by handle). */
  readonly #byHandle = new Map<string, Bucket>();
  /** Tombstone ids of each user. */
  readonly #byUser = new Map<string, Bucket>();
  readonly #max: number;
  readonly #maxPerUser: number;
  readonly #report: (event: MemoryStoreFullEvent) => void;
  readonly #now: () => number;

  /**
   * @param bounds - `maxSessions` (all tombstones) and `maxTombstonesPerUser`
   * @param report - the store's `onFull` reporter
   * @param now - the store's clock
   */
  constructor(
    bounds: { max: number; maxPerUser: number },
    report: (event: MemoryStoreFullEvent) => void,
    now: () => number,
  ) {
    this.#max = bounds.max;
    this.#maxPerUser = bounds.maxPerUser;
    this.#report = report;
    this.#now = now;
  }

  get(id: string): TombstoneRecord | undefined {
    return this.#tombs.get(id);
  }

  has(id: string): boolean {
    return this.#tombs.has(id);
  }

  /** Every tombstone; removing the current one while iterating is safe. */
  values(): IterableIterator<TombstoneRecord> {
    return this.#tombs.values();
  }

  /** A copy of the ids of a user's tombstones. */
  idsOfUser(userId: string): string[] {
    return membersOf(this.#byUser, userId);
  }

  /**
   * Keep a tombstone within its budgets. Past `maxTombstonesPerUser`, the user's own oldest goes.
   * When all tombstones are full, the oldest anonymous one goes; a signed-in one goes only to make
   * room for another signed-in one, and an anonymous tombstone that finds no room is not kept.
   */
  add(t: TombstoneRecord): void {
    const now = this.#now();
    const own = t.userId === null ? undefined : this.#byUser.get(t.userId);
    if (own !== undefined && sizeOf(own) >= this.#maxPerUser) {
      // A bucket keeps insertion order: its first member is the user's oldest tombstone.
      const first = this.#tombs.get(firstOf(own));
      if (first !== undefined) this.#evict(first, now);
    }
    if (this.#tombs.size >= this.#max) {
      const user = oldest(this.#tombs.signedIn);
      const victim =
        user !== undefined && user.expiresAt <= now
          ? user
          : (oldest(this.#tombs.anonymous) ?? (t.userId === null ? undefined : user));
      if (victim === undefined) {
        this.#report({ type: 'tombstone_evicted', handle: t.handle, userId: null });
        return;
      }
      this.#evict(victim, now);
    }
    this.#tombs.set(t.id, t);
    addTo(this.#byHandle, t.handle, t.id);
    if (t.userId !== null) addTo(this.#byUser, t.userId, t.id);
  }

  remove(t: TombstoneRecord): void {
    this.#tombs.delete(t.id);
    removeFrom(this.#byHandle, t.handle, t.id);
    if (t.userId !== null) removeFrom(this.#byUser, t.userId, t.id);
  }

  #evict(t: TombstoneRecord, now: number): void {
    this.remove(t);
    if (t.expiresAt > now) {
      this.#report({ type: 'tombstone_evicted', handle: t.handle, userId: t.userId });
    }
  }

  /** Remove every tombstone of a family. @returns how many */
  removeFamily(handle: string): number {
    let n = 0;
    for (const id of membersOf(this.#byHandle, handle)) {
      const t = this.#tombs.get(id);
      if (t !== undefined) {
        this.remove(t);
        n++;
      }
    }
    return n;
  }
}
