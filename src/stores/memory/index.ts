/**
 * The memory store: sessions in this process's heap, bounded, with lazy expiry.
 * Right for tests, a single process, or a cache in front of nothing; every record is lost
 * when the process exits. Its bounds, and who may evict whom, are in `docs/stores.md` › Memory.
 */
import { TesseraError } from '../../core/errors.js';
import { revokedBy, sessionLimitReached, signInRevoked } from '../../core/revocation.js';
import type {
  CounterResult,
  DeleteByUserOptions,
  KeyValueStore,
  ListOptions,
  ListResult,
  RecordChanges,
  SessionRecord,
  SessionStore,
  SignInOptions,
  SignInResult,
  StoreEntry,
  TombstoneRecord,
  TouchChanges,
} from '../../core/types.js';
import { Epochs } from './epochs.js';
import { KeySpace } from './key-space.js';
import { LiveSessions } from './live.js';
import {
  DEFAULTS,
  type MemoryStoreFullEvent,
  type MemoryStoreOptions,
  type MemoryStoreSync,
} from './options.js';
import type { PackedRecord } from './packed.js';
import { checkCount, conflict, copyTombstone } from './records.js';
import { Tombstones } from './tombstones.js';

export type { MemoryStoreFullEvent, MemoryStoreOptions, MemoryStoreSync } from './options.js';

/**
 * Create a store that keeps sessions in memory, bounded by `maxSessions`.
 *
 * Records are stored packed (timestamps in a shared slab, IP and User-Agent strings interned;
 * see `docs/stores.md` › Memory). Reads are O(1) and return a fresh copy: a caller may change a
 * returned record without changing the store, and a record it holds stays a consistent snapshot
 * (its `version` always matches its `data`) whatever is written after. `create` copies its
 * input, so the caller's object is never aliased by the store. Besides the contract it offers
 * {@link MemoryStoreSync}: `getNow`, `touchNow` and `updateNow`, synchronous twins of `get`,
 * `touch` and `update`.
 *
 * Every bound says who may push out whom (see {@link MemoryStoreOptions}): an anonymous session
 * never pushes out a signed-in one, a counter never pushes out a value, one user's
 * rotations never push out another user's tombstones. A write that a bound refuses (`create` of
 * an anonymous session, `kvSet` of a new key) rejects with `ERR_STORE_UNAVAILABLE`.
 *
 * @param options - bounds, sweep interval and clock; see {@link MemoryStoreOptions}
 * @returns a {@link SessionStore} with `inProcess: true`
 * @throws TesseraError `ERR_CONFIG` when an option is out of range
 * @example
 * ```ts
 * import { memoryStore } from 'tessera-session/memory';
 * const store = memoryStore({
 *   maxSessions: 10_000,
 *   onFull: (e) => console.warn('tessera memory store full:', e.type),
 * });
 * ```
 */
export function memoryStore(
  options: MemoryStoreOptions = {},
): SessionStore & KeyValueStore & MemoryStoreSync {
  return new MemoryStore(options);
}

class MemoryStore implements SessionStore, KeyValueStore, MemoryStoreSync {
  readonly name = 'memory';
  readonly inProcess = true;

  /** Live sessions by id, handle and user, within `maxSessions` (live.ts). */
  readonly #live: LiveSessions;
  /** Tombstones (rotated-out tokens), by id, family and user (tombstones.ts). */
  readonly #tombs: Tombstones;
  /** The key-value space: values and counters, each bounded (key-space.ts). */
  readonly #kv: KeySpace;
  /** Revocation epochs by user (epochs.ts; bounded by `maxKeys`, like the key space). */
  readonly #epochs: Epochs;

  readonly #onFull: ((event: MemoryStoreFullEvent) => void) | undefined;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryStoreOptions) {
    const maxSessions = checkCount('maxSessions', options.maxSessions ?? DEFAULTS.maxSessions, 1);
    const maxTombsPerUser = checkCount(
      'maxTombstonesPerUser',
      options.maxTombstonesPerUser ?? DEFAULTS.maxTombstonesPerUser,
      1,
    );
    const maxKeys = checkCount('maxKeys', options.maxKeys ?? DEFAULTS.maxKeys, 1);
    const maxCounters = checkCount('maxCounters', options.maxCounters ?? DEFAULTS.maxCounters, 1);
    if (options.onFull !== undefined && typeof options.onFull !== 'function') {
      throw new TesseraError('ERR_CONFIG', 'memoryStore: onFull must be a function');
    }
    this.#onFull = options.onFull;
    const interval = checkCount(
      'sweepIntervalMs',
      options.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs,
      0,
    );
    this.#now = options.now ?? Date.now;
    const report = (event: MemoryStoreFullEvent) => this.#report(event);
    this.#live = new LiveSessions(maxSessions, report, this.#now);
    this.#kv = new KeySpace({ maxKeys, maxCounters }, report, this.#now);
    this.#tombs = new Tombstones(
      { max: maxSessions, maxPerUser: maxTombsPerUser },
      report,
      this.#now,
    );
    this.#epochs = new Epochs(maxKeys, this.#now);
    if (interval > 0) {
      this.#timer = setInterval(() => {
        this.#sweep(this.#now(), Number.POSITIVE_INFINITY);
      }, interval);
      this.#timer.unref();
    }
  }

  #report(event: MemoryStoreFullEvent): void {
    if (this.#onFull === undefined) return;
    try {
      this.#onFull(event);
    } catch {
      // A metrics hook that throws must not fail a store call whose work is already done.
    }
  }

  // ---- sessions -----------------------------------------------------------------------

  async get(id: string): Promise<StoreEntry | null> {
    return this.getNow(id);
  }

  getNow(id: string): StoreEntry | null {
    const r = this.#live.get(id);
    if (r !== undefined) {
      // Lazy expiry: an expired record is dropped on read, so no timer per session is needed.
      if (this.#live.expiry(r) <= this.#now()) {
        this.#live.remove(r);
        return null;
      }
      this.#live.used(r);
      return this.#live.packer.unpack(r);
    }
    const t = this.#tombs.get(id);
    if (t === undefined) return null;
    if (t.expiresAt <= this.#now()) {
      this.#tombs.remove(t);
      return null;
    }
    return copyTombstone(t, t.id);
  }

  async getByHandle(handle: string): Promise<SessionRecord | null> {
    const r = this.#live.byHandle(handle);
    return r === undefined ? null : this.#live.packer.unpack(r);
  }

  async create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    if (this.#live.has(record.id) || this.#tombs.has(record.id)) throw conflict('id');
    if (this.#live.byHandle(record.handle) !== undefined) throw conflict('handle');
    // Every check throws before the first change; everything below is synchronous, so a
    // parallel sign-in or revocation never interleaves with it.
    const evicted = signIn === undefined ? [] : this.#signIn(record, signIn);
    for (const h of evicted) this.#deleteFamily(h);
    this.#live.makeRoom(record.userId !== null);
    this.#live.add(record);
    return { evicted };
  }

  /**
   * The epoch and limit checks of a sign-in (see `SignInOptions`): throws, or returns the
   * handles to evict. Changes nothing.
   */
  #signIn(record: SessionRecord, o: SignInOptions): string[] {
    const userId = record.userId;
    if (userId === null) return [];
    if (revokedBy(record.authenticatedAt, this.#epochs.current(userId)?.at ?? null)) {
      throw signInRevoked();
    }
    if (o.limit <= 0) return [];
    const live: PackedRecord[] = [];
    for (const r of this.#live.ofUser(userId)) {
      if (r.handle !== record.handle && this.#live.expiry(r) > o.now) live.push(r);
    }
    if (live.length < o.limit) return [];
    if (o.policy === 'reject') throw sessionLimitReached(o.limit);
    // Array#sort is stable: equal creation times keep the order the sessions were made in.
    const packer = this.#live.packer;
    live.sort((a, b) => packer.createdAt(a) - packer.createdAt(b));
    return live.slice(0, live.length - o.limit + 1).map((r) => r.handle);
  }

  async update(id: string, expectedVersion: number, changes: RecordChanges): Promise<boolean> {
    return this.updateNow(id, expectedVersion, changes);
  }

  updateNow(id: string, expectedVersion: number, changes: RecordChanges): boolean {
    const r = this.#live.get(id);
    if (r === undefined || this.#live.packer.version(r) !== expectedVersion) return false;
    // In place: no caller holds the stored form (reads hand out copies).
    this.#live.update(r, expectedVersion, changes);
    return true;
  }

  async touch(id: string, changes: TouchChanges): Promise<boolean> {
    return this.touchNow(id, changes);
  }

  touchNow(id: string, changes: TouchChanges): boolean {
    const r = this.#live.get(id);
    if (r === undefined) return false;
    this.#live.touch(r, changes);
    return true;
  }

  async rotate(
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
    signIn?: SignInOptions,
  ): Promise<SignInResult | false> {
    const prev = this.#live.get(oldId);
    if (prev === undefined || this.#live.packer.version(prev) !== expectedVersion) return false;
    if (next.id !== oldId && (this.#live.has(next.id) || this.#tombs.has(next.id))) {
      throw conflict('id');
    }
    if (next.handle !== prev.handle && this.#live.byHandle(next.handle) !== undefined)
      throw conflict('handle');
    const evicted = signIn === undefined ? [] : this.#signIn(next, signIn);
    // Everything below is synchronous, so no other call observes a half-done rotation.
    for (const h of evicted) this.#deleteFamily(h);
    this.#live.remove(prev);
    this.#live.add(next);
    if (tombstone !== null) this.#tombs.add(copyTombstone(tombstone, oldId));
    return { evicted };
  }

  async delete(id: string): Promise<boolean> {
    const r = this.#live.get(id);
    if (r !== undefined) {
      this.#live.remove(r);
      return true;
    }
    const t = this.#tombs.get(id);
    if (t === undefined) return false;
    this.#tombs.remove(t);
    return true;
  }

  async deleteByHandle(handle: string): Promise<number> {
    return this.#deleteFamily(handle);
  }

  #deleteFamily(handle: string): number {
    let n = 0;
    const r = this.#live.byHandle(handle);
    if (r !== undefined) {
      this.#live.remove(r);
      n++;
    }
    return n + this.#tombs.removeFamily(handle);
  }

  async listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (const r of this.#live.ofUser(userId)) {
      if (this.#live.expiry(r) > now) out.push(this.#live.packer.unpack(r));
    }
    // Array#sort is stable: equal creation times keep insertion order.
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  async deleteByUser(userId: string, options: DeleteByUserOptions = {}): Promise<number> {
    const except = options.exceptHandle;
    if (options.epoch !== undefined) this.#epochs.raise(userId, options.epoch);
    let n = 0;
    for (const h of this.#live.handlesOf(userId)) {
      if (h === except) continue;
      const r = this.#live.byHandle(h);
      if (r !== undefined) {
        this.#live.remove(r);
        n++;
      }
      this.#tombs.removeFamily(h);
    }
    for (const id of this.#tombs.idsOfUser(userId)) {
      const t = this.#tombs.get(id);
      if (t !== undefined && t.handle !== except) this.#tombs.remove(t);
    }
    return n;
  }

  async getRevocationEpoch(userId: string, now: number): Promise<number | null> {
    return this.#epochs.at(userId, now);
  }

  async list(options: ListOptions): Promise<ListResult> {
    const { now, userId, cursor } = options;
    // The contract's range is 1..1000; a 0 would page forever.
    const limit = Math.max(1, Math.min(1_000, Math.trunc(options.limit)));
    // The order is by id, which LRU moves never change. Listing is an admin path: an O(n)
    // scan plus a sort of the remaining candidates is fine there, and keeps `get` O(1).
    const source = userId === undefined ? this.#live.values() : this.#live.ofUser(userId);
    const candidates: PackedRecord[] = [];
    for (const r of source) {
      if (this.#live.expiry(r) > now && (cursor === undefined || r.id > cursor)) {
        candidates.push(r);
      }
    }
    candidates.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = candidates.slice(0, limit);
    const last = page[page.length - 1];
    return {
      records: page.map((r) => this.#live.packer.unpack(r)),
      nextCursor: candidates.length > limit && last !== undefined ? last.id : null,
    };
  }

  async count(now: number, userId?: string): Promise<number> {
    let n = 0;
    if (userId !== undefined) {
      for (const r of this.#live.ofUser(userId)) if (this.#live.expiry(r) > now) n++;
      return n;
    }
    for (const r of this.#live.values()) if (this.#live.expiry(r) > now) n++;
    return n;
  }

  async sweep(now: number, limit?: number): Promise<number> {
    return this.#sweep(now, limit ?? Number.POSITIVE_INFINITY);
  }

  #sweep(now: number, limit: number): number {
    let n = 0;
    // Deleting the current entry while iterating a Map is safe and visits every other entry.
    for (const r of this.#live.values()) {
      if (n >= limit) return n;
      if (this.#live.expiry(r) <= now) {
        this.#live.remove(r);
        n++;
      }
    }
    for (const t of this.#tombs.values()) {
      if (n >= limit) return n;
      if (t.expiresAt <= now) {
        this.#tombs.remove(t);
        n++;
      }
    }
    // Expired keys are not sessions: removed here without counting against `limit`.
    this.#kv.sweep(now);
    this.#epochs.sweep(now);
    return n;
  }

  // ---- shared key-value space: see key-space.ts -----------------------------------------

  kvGet(key: string, now: number): Promise<string | null> {
    return this.#call(() => this.#kv.get(key, now));
  }

  kvSet(key: string, value: string, expiresAt: number | null): Promise<void> {
    return this.#call(() => this.#kv.set(key, value, expiresAt));
  }

  kvDelete(key: string): Promise<boolean> {
    return this.#call(() => this.#kv.delete(key));
  }

  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult> {
    return this.#call(() => this.#kv.increment(key, now, windowEndsAt));
  }

  /** A synchronous call as a promise: a throw becomes a rejection, as from an `async` method. */
  async #call<T>(fn: () => T): Promise<T> {
    return fn();
  }

  /** The store's clock (its `now` option): the one every user of this in-process store shares. */
  async time(): Promise<number> {
    return this.#now();
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
