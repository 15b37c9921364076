/**
 * The memory store's live sessions: packed records (packed.ts) by id (anonymous and signed-in
 * apart, each in approximate LRU order), by handle and by user, within `maxSessions` (who may
 * push out whom: `MemoryStoreOptions`).
 */
import type { RecordChanges, SessionRecord, TouchChanges } from '../../core/types.js';
import { addTo, type Bucket, membersOf, removeFrom } from './buckets.js';
import { type MemoryStoreFullEvent, RECLAIM_EVERY_MS } from './options.js';
import { type PackedRecord, Packer } from './packed.js';
import { oldest, Partitioned } from './partition.js';
import { full } from './records.js';

/** The live sessions of one memory store. */
export class LiveSessions {
  /** Packing of every live record: its slab slot and interned strings. */
  readonly packer = new Packer();
  /** Live records by id, anonymous and signed-in apart, each oldest-used first (approximately). */
  readonly #byId = new Partitioned<PackedRecord>();
  /** Live records by handle. */
  readonly #byHandle = new Map<string, PackedRecord>();
  /** Handles of each user's live records. Only users with a session have an entry. */
  readonly #byUser = new Map<string, Bucket>();
  /** Use counters of the two classes: each move to the young end (or insert) takes the next. */
  #anonymousClock = 0;
  #signedInClock = 0;
  readonly #max: number;
  readonly #report: (event: MemoryStoreFullEvent) => void;
  readonly #now: () => number;
  /** The store-clock time before which no reclaim scan of signed-in sessions runs again. */
  #reclaimAt = Number.NEGATIVE_INFINITY;

  /**
   * @param max - `maxSessions`
   * @param report - the store's `onFull` reporter
   * @param now - the store's clock
   */
  constructor(max: number, report: (event: MemoryStoreFullEvent) => void, now: () => number) {
    this.#max = max;
    this.#report = report;
    this.#now = now;
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): PackedRecord | undefined {
    return this.#byId.get(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  byHandle(handle: string): PackedRecord | undefined {
    return this.#byHandle.get(handle);
  }

  /** A copy of the handles of the user's live records. */
  handlesOf(userId: string): string[] {
    return membersOf(this.#byUser, userId);
  }

  /** The user's live records, expired ones included, in the order they were indexed. */
  ofUser(userId: string): PackedRecord[] {
    const out: PackedRecord[] = [];
    for (const h of membersOf(this.#byUser, userId)) {
      const r = this.#byHandle.get(h);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /** Every live record; removing the current one while iterating is safe. */
  values(): IterableIterator<PackedRecord> {
    return this.#byId.values();
  }

  expiry(r: PackedRecord): number {
    return this.packer.expiry(r);
  }

  /**
   * A read is use: an active reader must not be the one pushed out, though the engine writes a
   * touch only now and then (DESIGN decision 3). Below half the bound no eviction is near, so
   * the store does not even look at the LRU order and a read stays a lookup.
   */
  used(r: PackedRecord): void {
    if (this.#byId.size * 2 >= this.#max) this.#use(r);
  }

  /**
   * Mark `r` as just used: move it to the young end of its class, but only when it is in the
   * older half. The older half is judged by its stamp: fewer than size/2 moves and inserts
   * since its own means fewer than size/2 records of its class are younger, so it is in the
   * younger half and stays put. A hot session therefore moves once per half-turn of its class,
   * not on every hit: a Map delete and set on every use left the Map a trail of deleted entries,
   * and a hit at 300k sessions cost 50-200 µs instead of 6 (docs/stores.md › Memory).
   */
  #use(r: PackedRecord): void {
    const anonymous = r.userId === null;
    const map = anonymous ? this.#byId.anonymous : this.#byId.signedIn;
    const clock = anonymous ? this.#anonymousClock : this.#signedInClock;
    if ((clock - this.packer.stamp(r)) * 2 < map.size) return;
    map.delete(r.id);
    map.set(r.id, r);
    this.#stamp(r);
  }

  /** Give `r` the next stamp of its class (it is now the youngest of its class). */
  #stamp(r: PackedRecord): void {
    const stamp = r.userId === null ? ++this.#anonymousClock : ++this.#signedInClock;
    this.packer.setStamp(r, stamp);
  }

  /** Pack and index a new live record as the most recently used of its class. */
  add(record: SessionRecord): void {
    const r = this.packer.pack(record);
    this.#byId.set(r.id, r);
    this.#stamp(r);
    this.#byHandle.set(r.handle, r);
    if (r.userId !== null) addTo(this.#byUser, r.userId, r.handle);
  }

  /** Unindex `r` and release its packing; a no-op for a record already removed. */
  remove(r: PackedRecord): void {
    if (r.slot < 0) return;
    this.#byId.delete(r.id);
    if (this.#byHandle.get(r.handle) === r) this.#byHandle.delete(r.handle);
    if (r.userId !== null) removeFrom(this.#byUser, r.userId, r.handle);
    this.packer.release(r);
  }

  /** Apply a touch in place; the touch is use. */
  touch(r: PackedRecord, changes: TouchChanges): void {
    this.packer.touch(r, changes);
    this.#use(r);
  }

  /** Apply an update in place (see `SessionStore.update`); the update is use. */
  update(r: PackedRecord, expectedVersion: number, changes: RecordChanges): void {
    this.packer.update(r, expectedVersion, changes);
    const userId = changes.userId;
    if (userId === undefined || userId === r.userId) {
      this.#use(r);
      return;
    }
    // A new owner: out of the old class and user index, into the new ones as just used.
    this.#byId.delete(r.id);
    if (r.userId !== null) removeFrom(this.#byUser, r.userId, r.handle);
    r.userId = userId;
    if (userId !== null) addTo(this.#byUser, userId, r.handle);
    this.#byId.set(r.id, r);
    this.#stamp(r);
  }

  /**
   * Make room for one more live session (see `MemoryStoreOptions.maxSessions`).
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when an anonymous session finds only signed-in ones
   */
  makeRoom(signedIn: boolean): void {
    if (this.#byId.size < this.#max) return;
    const now = this.#now();
    const user = oldest(this.#byId.signedIn);
    // An expired session goes first, whoever owns it: dropping it loses nothing.
    const victim =
      user !== undefined && this.expiry(user) <= now
        ? user
        : (oldest(this.#byId.anonymous) ?? (signedIn ? user : undefined));
    if (victim !== undefined) {
      const live = this.expiry(victim) > now;
      this.remove(victim);
      if (live) {
        const { handle, userId } = victim;
        this.#report({ type: 'session_evicted', signedIn: userId !== null, handle, userId });
      }
      return;
    }
    // Never evict a signed-in session for an anonymous one: take back expired ones, else refuse.
    if (now >= this.#reclaimAt) {
      this.#reclaimAt = now + RECLAIM_EVERY_MS;
      for (const r of this.#byId.signedIn.values()) if (this.expiry(r) <= now) this.remove(r);
      if (this.#byId.size < this.#max) return;
    }
    this.#report({ type: 'session_refused' });
    throw full(
      `every one of the ${this.#max} session slots (maxSessions) holds a signed-in ` +
        'session, so no anonymous session can be created; raise maxSessions or use a shared store',
    );
  }
}
