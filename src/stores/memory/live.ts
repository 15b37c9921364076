/**
 * The memory store's live sessions: by id (anonymous and signed-in apart, each in LRU order), by
 * handle and by user, within `maxSessions` (who may push out whom: `MemoryStoreOptions`).
 */
import type { SessionRecord } from '../../core/types.js';
import { addTo, type Bucket, membersOf, removeFrom } from './buckets.js';
import { type MemoryStoreFullEvent, RECLAIM_EVERY_MS } from './options.js';
import { oldest, Partitioned } from './partition.js';
import { expiryOf, full } from './records.js';

/** The live sessions of one memory store. */
export class LiveSessions {
  /** Live records by id, anonymous and signed-in apart, each in LRU order (first: used longest ago). */
  readonly #byId = new Partitioned<SessionRecord>();
  /** Live records by handle. */
  readonly #byHandle = new Map<string, SessionRecord>();
  /** Handles of each user's live records. Only users with a session have an entry. */
  readonly #byUser = new Map<string, Bucket>();
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

  get(id: string): SessionRecord | undefined {
    return this.#byId.get(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  byHandle(handle: string): SessionRecord | undefined {
    return this.#byHandle.get(handle);
  }

  /** A copy of the handles of the user's live records. */
  handlesOf(userId: string): string[] {
    return membersOf(this.#byUser, userId);
  }

  /** The user's live records, expired ones included, in the order they were indexed. */
  ofUser(userId: string): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const h of membersOf(this.#byUser, userId)) {
      const r = this.#byHandle.get(h);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /** Every live record; removing the current one while iterating is safe. */
  values(): IterableIterator<SessionRecord> {
    return this.#byId.values();
  }

  /**
   * A read is use: an active reader moves to the back of the eviction order, though the engine
   * writes a touch only now and then (DESIGN decision 3). Below half the bound no eviction is
   * near, so the move (a Map delete and set) is skipped and a read stays a lookup.
   */
  used(r: SessionRecord): void {
    if (this.#byId.size * 2 >= this.#max) this.#byId.use(r);
  }

  add(r: SessionRecord): void {
    this.#byId.set(r.id, r);
    this.#byHandle.set(r.handle, r);
    if (r.userId !== null) addTo(this.#byUser, r.userId, r.handle);
  }

  remove(r: SessionRecord): void {
    this.#byId.delete(r.id);
    if (this.#byHandle.get(r.handle) === r) this.#byHandle.delete(r.handle);
    if (r.userId !== null) removeFrom(this.#byUser, r.userId, r.handle);
  }

  /** Store `next` in place of `prev` (same id), moving it to the LRU tail. */
  replace(prev: SessionRecord, next: SessionRecord): void {
    this.#byId.delete(prev.id);
    this.#byId.set(next.id, next);
    this.#byHandle.set(next.handle, next);
    if (prev.userId !== next.userId) {
      if (prev.userId !== null) removeFrom(this.#byUser, prev.userId, prev.handle);
      if (next.userId !== null) addTo(this.#byUser, next.userId, next.handle);
    }
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
      user !== undefined && expiryOf(user) <= now
        ? user
        : (oldest(this.#byId.anonymous) ?? (signedIn ? user : undefined));
    if (victim !== undefined) {
      this.remove(victim);
      if (expiryOf(victim) > now) {
        const { handle, userId } = victim;
        this.#report({ type: 'session_evicted', signedIn: userId !== null, handle, userId });
      }
      return;
    }
    // Never evict a signed-in session for an anonymous one: take back expired ones, else refuse.
    if (now >= this.#reclaimAt) {
      this.#reclaimAt = now + RECLAIM_EVERY_MS;
      for (const r of this.#byId.signedIn.values()) if (expiryOf(r) <= now) this.remove(r);
      if (this.#byId.size < this.#max) return;
    }
    this.#report({ type: 'session_refused' });
    throw full(
      `every one of the ${this.#max} session slots (maxSessions) holds a signed-in ` +
        'session, so no anonymous session can be created; raise maxSessions or use a shared store',
    );
  }
}
