/**
 * The memory store: sessions in this process's heap, bounded, with lazy expiry.
 * Right for tests, a single process, or a cache in front of nothing; every record is lost
 * when the process exits. Its bounds, and who may evict whom, are in `docs/stores.md` › Memory.
 */
import { storeRefused, TesseraError } from '../../core/errors.js';
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
import { addTo, type Bucket, firstOf, membersOf, removeFrom, sizeOf } from './buckets.js';
import { KeySpace } from './key-space.js';
import {
  DEFAULTS,
  type MemoryStoreFullEvent,
  type MemoryStoreOptions,
  RECLAIM_EVERY_MS,
} from './options.js';
import { oldest, Partitioned } from './partition.js';

export type { MemoryStoreFullEvent, MemoryStoreOptions } from './options.js';

/** A user's revocation epoch and when it may be forgotten. */
interface Epoch {
  at: number;
  expiresAt: number;
}

/**
 * Create a store that keeps sessions in memory, bounded by `maxSessions`.
 *
 * Reads are O(1) and return the stored record itself, not a copy: callers must treat a returned
 * record as read-only (the engine does). Writes never mutate a stored record in place: `update`,
 * `touch` and `rotate` store a fresh object, so a record a caller already holds stays a
 * consistent snapshot (its `version` always matches its `data`). `create` copies its input, so
 * the caller's object is never aliased by the store.
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
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore & KeyValueStore {
  return new MemoryStore(options);
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TesseraError(
      'ERR_CONFIG',
      `memoryStore: ${name} must be an integer >= ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/** A live record's expiry: its idle deadline, never past its absolute one. */
function expiryOf(r: SessionRecord): number {
  return Math.min(r.idleExpiresAt, r.absoluteExpiresAt);
}

/** A fresh record with a fixed property order, so every stored record shares one hidden class. */
function copyRecord(r: SessionRecord): SessionRecord {
  return {
    kind: 'live',
    id: r.id,
    handle: r.handle,
    userId: r.userId,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    authenticatedAt: r.authenticatedAt,
    idleExpiresAt: r.idleExpiresAt,
    absoluteExpiresAt: r.absoluteExpiresAt,
    createdIp: r.createdIp,
    createdUserAgent: r.createdUserAgent,
    lastIp: r.lastIp,
    lastUserAgent: r.lastUserAgent,
    version: r.version,
    data: r.data,
  };
}

function copyTombstone(t: TombstoneRecord, id: string): TombstoneRecord {
  return {
    kind: 'rotated',
    id,
    handle: t.handle,
    userId: t.userId,
    rotatedAt: t.rotatedAt,
    graceUntil: t.graceUntil,
    expiresAt: t.expiresAt,
    reason: t.reason,
  };
}

function conflict(what: string): TesseraError {
  return new TesseraError('ERR_CONFLICT', `memoryStore: a session with this ${what} exists`);
}

/** A certain refusal: nothing was written, so the engine queues no clean-up (errors.ts). */
function full(message: string): TesseraError {
  return storeRefused(`memoryStore: ${message}`);
}

class MemoryStore implements SessionStore, KeyValueStore {
  readonly name = 'memory';
  readonly inProcess = true;

  /** Live records by id, anonymous and signed-in apart, each in LRU order (first: used longest ago). */
  readonly #live = new Partitioned<SessionRecord>();
  /** Live records by handle. */
  readonly #byHandle = new Map<string, SessionRecord>();
  /** Handles of each user's live records. Only users with a session have an entry. */
  readonly #byUser = new Map<string, Bucket>();
  /** Tombstones by id, anonymous and signed-in apart, each oldest first. */
  readonly #tombs = new Partitioned<TombstoneRecord>();
  /** Tombstone ids of each session family (by handle). */
  readonly #tombsByHandle = new Map<string, Bucket>();
  /** Tombstone ids of each user. */
  readonly #tombsByUser = new Map<string, Bucket>();
  /** The key-value space: values and counters, each bounded (key-space.ts). */
  readonly #kv: KeySpace;
  /** Revocation epochs by user, oldest set first (bounded by `maxKeys`, like the key space). */
  readonly #epochs = new Map<string, Epoch>();

  readonly #maxSessions: number;
  readonly #maxTombsPerUser: number;
  readonly #maxKeys: number;
  readonly #onFull: ((event: MemoryStoreFullEvent) => void) | undefined;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Store-clock times before which no reclaim scan of sessions / keys runs again. */
  #reclaimLiveAt = Number.NEGATIVE_INFINITY;
  #reclaimEpochsAt = Number.NEGATIVE_INFINITY;

  constructor(options: MemoryStoreOptions) {
    this.#maxSessions = checkCount('maxSessions', options.maxSessions ?? DEFAULTS.maxSessions, 1);
    this.#maxTombsPerUser = checkCount(
      'maxTombstonesPerUser',
      options.maxTombstonesPerUser ?? DEFAULTS.maxTombstonesPerUser,
      1,
    );
    this.#maxKeys = checkCount('maxKeys', options.maxKeys ?? DEFAULTS.maxKeys, 1);
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
    this.#kv = new KeySpace(
      { maxKeys: this.#maxKeys, maxCounters },
      (event) => this.#report(event),
      this.#now,
    );
    if (interval > 0) {
      this.#timer = setInterval(() => {
        this.#sweep(this.#now(), Number.POSITIVE_INFINITY);
      }, interval);
      this.#timer.unref();
    }
  }

  // ---- index upkeep --------------------------------------------------------------------

  #addLive(r: SessionRecord): void {
    this.#live.set(r.id, r);
    this.#byHandle.set(r.handle, r);
    if (r.userId !== null) addTo(this.#byUser, r.userId, r.handle);
  }

  #removeLive(r: SessionRecord): void {
    this.#live.delete(r.id);
    if (this.#byHandle.get(r.handle) === r) this.#byHandle.delete(r.handle);
    if (r.userId !== null) removeFrom(this.#byUser, r.userId, r.handle);
  }

  /** Store `next` in place of `prev` (same id), moving it to the LRU tail. */
  #replaceLive(prev: SessionRecord, next: SessionRecord): void {
    this.#live.delete(prev.id);
    this.#live.set(next.id, next);
    this.#byHandle.set(next.handle, next);
    if (prev.userId !== next.userId) {
      if (prev.userId !== null) removeFrom(this.#byUser, prev.userId, prev.handle);
      if (next.userId !== null) addTo(this.#byUser, next.userId, next.handle);
    }
  }

  /**
   * Keep a tombstone within its budgets. Past `maxTombstonesPerUser`, the user's own oldest goes.
   * When all tombstones are full, the oldest anonymous one goes; a signed-in one goes only to make
   * room for another signed-in one, and an anonymous tombstone that finds no room is not kept.
   */
  #addTomb(t: TombstoneRecord): void {
    const now = this.#now();
    const own = t.userId === null ? undefined : this.#tombsByUser.get(t.userId);
    if (own !== undefined && sizeOf(own) >= this.#maxTombsPerUser) {
      // A bucket keeps insertion order: its first member is the user's oldest tombstone.
      const first = this.#tombs.get(firstOf(own));
      if (first !== undefined) this.#evictTomb(first, now);
    }
    if (this.#tombs.size >= this.#maxSessions) {
      const user = oldest(this.#tombs.signedIn);
      const victim =
        user !== undefined && user.expiresAt <= now
          ? user
          : (oldest(this.#tombs.anonymous) ?? (t.userId === null ? undefined : user));
      if (victim === undefined) {
        this.#report({ type: 'tombstone_evicted', handle: t.handle, userId: null });
        return;
      }
      this.#evictTomb(victim, now);
    }
    this.#tombs.set(t.id, t);
    addTo(this.#tombsByHandle, t.handle, t.id);
    if (t.userId !== null) addTo(this.#tombsByUser, t.userId, t.id);
  }

  #removeTomb(t: TombstoneRecord): void {
    this.#tombs.delete(t.id);
    removeFrom(this.#tombsByHandle, t.handle, t.id);
    if (t.userId !== null) removeFrom(this.#tombsByUser, t.userId, t.id);
  }

  #evictTomb(t: TombstoneRecord, now: number): void {
    this.#removeTomb(t);
    if (t.expiresAt > now) {
      this.#report({ type: 'tombstone_evicted', handle: t.handle, userId: t.userId });
    }
  }

  // ---- bounds ---------------------------------------------------------------------------

  /**
   * Make room for one more live session (see {@link MemoryStoreOptions.maxSessions}).
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when an anonymous session finds only signed-in ones
   */
  #makeRoom(signedIn: boolean): void {
    if (this.#live.size < this.#maxSessions) return;
    const now = this.#now();
    const user = oldest(this.#live.signedIn);
    // An expired session goes first, whoever owns it: dropping it loses nothing.
    const victim =
      user !== undefined && expiryOf(user) <= now
        ? user
        : (oldest(this.#live.anonymous) ?? (signedIn ? user : undefined));
    if (victim !== undefined) {
      this.#removeLive(victim);
      if (expiryOf(victim) > now) {
        const { handle, userId } = victim;
        this.#report({ type: 'session_evicted', signedIn: userId !== null, handle, userId });
      }
      return;
    }
    // Never evict a signed-in session for an anonymous one: take back expired ones, else refuse.
    if (now >= this.#reclaimLiveAt) {
      this.#reclaimLiveAt = now + RECLAIM_EVERY_MS;
      for (const r of this.#live.signedIn.values()) if (expiryOf(r) <= now) this.#removeLive(r);
      if (this.#live.size < this.#maxSessions) return;
    }
    this.#report({ type: 'session_refused' });
    throw full(
      `every one of the ${this.#maxSessions} session slots (maxSessions) holds a signed-in ` +
        'session, so no anonymous session can be created; raise maxSessions or use a shared store',
    );
  }

  #report(event: MemoryStoreFullEvent): void {
    if (this.#onFull === undefined) return;
    try {
      this.#onFull(event);
    } catch {
      // A metrics hook that throws must not fail a store call whose work is already done.
    }
  }

  /** Remove every tombstone of a family. @returns how many */
  #removeFamilyTombs(handle: string): number {
    let n = 0;
    for (const id of membersOf(this.#tombsByHandle, handle)) {
      const t = this.#tombs.get(id);
      if (t !== undefined) {
        this.#removeTomb(t);
        n++;
      }
    }
    return n;
  }

  // ---- sessions -----------------------------------------------------------------------

  async get(id: string): Promise<StoreEntry | null> {
    const r = this.#live.get(id);
    if (r !== undefined) {
      // Lazy expiry: an expired record is dropped on read, so no timer per session is needed.
      if (expiryOf(r) <= this.#now()) {
        this.#removeLive(r);
        return null;
      }
      // A read is use: an active reader moves to the back of the eviction order, though the
      // engine writes a touch only now and then (DESIGN decision 3). Below half the bound no
      // eviction is near, so the move (a Map delete and set) is skipped and a read stays a lookup.
      if (this.#live.size * 2 >= this.#maxSessions) this.#live.use(r);
      return r;
    }
    const t = this.#tombs.get(id);
    if (t === undefined) return null;
    if (t.expiresAt <= this.#now()) {
      this.#removeTomb(t);
      return null;
    }
    return t;
  }

  async getByHandle(handle: string): Promise<SessionRecord | null> {
    return this.#byHandle.get(handle) ?? null;
  }

  async create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    if (this.#live.has(record.id) || this.#tombs.has(record.id)) throw conflict('id');
    if (this.#byHandle.has(record.handle)) throw conflict('handle');
    // Every check throws before the first change; everything below is synchronous, so a
    // parallel sign-in or revocation never interleaves with it.
    const evicted = signIn === undefined ? [] : this.#signIn(record, signIn);
    for (const h of evicted) this.#deleteFamily(h);
    this.#makeRoom(record.userId !== null);
    this.#addLive(copyRecord(record));
    return { evicted };
  }

  /**
   * The epoch and limit checks of a sign-in (see `SignInOptions`): throws, or returns the
   * handles to evict. Changes nothing.
   */
  #signIn(record: SessionRecord, o: SignInOptions): string[] {
    const userId = record.userId;
    if (userId === null) return [];
    if (revokedBy(record.authenticatedAt, this.#epoch(userId)?.at ?? null)) throw signInRevoked();
    if (o.limit <= 0) return [];
    const live: SessionRecord[] = [];
    for (const h of membersOf(this.#byUser, userId)) {
      const r = this.#byHandle.get(h);
      if (r !== undefined && h !== record.handle && expiryOf(r) > o.now) live.push(r);
    }
    if (live.length < o.limit) return [];
    if (o.policy === 'reject') throw sessionLimitReached(o.limit);
    // Array#sort is stable: equal creation times keep the order the sessions were made in.
    live.sort((a, b) => a.createdAt - b.createdAt);
    return live.slice(0, live.length - o.limit + 1).map((r) => r.handle);
  }

  /** The user's unexpired epoch (by the store's clock), dropping an expired one. */
  #epoch(userId: string): Epoch | undefined {
    const e = this.#epochs.get(userId);
    if (e !== undefined && e.expiresAt <= this.#now()) {
      this.#epochs.delete(userId);
      return undefined;
    }
    return e;
  }

  async update(id: string, expectedVersion: number, changes: RecordChanges): Promise<boolean> {
    const prev = this.#live.get(id);
    if (prev === undefined || prev.version !== expectedVersion) return false;
    const next = copyRecord(prev);
    if (changes.data !== undefined) {
      next.data = changes.data;
      next.version = expectedVersion + 1;
    }
    if (changes.userId !== undefined) next.userId = changes.userId;
    if (changes.authenticatedAt !== undefined) next.authenticatedAt = changes.authenticatedAt;
    if (changes.lastSeenAt !== undefined) next.lastSeenAt = changes.lastSeenAt;
    if (changes.idleExpiresAt !== undefined) next.idleExpiresAt = changes.idleExpiresAt;
    if (changes.absoluteExpiresAt !== undefined) {
      next.absoluteExpiresAt = changes.absoluteExpiresAt;
    }
    if (changes.lastIp !== undefined) next.lastIp = changes.lastIp;
    if (changes.lastUserAgent !== undefined) next.lastUserAgent = changes.lastUserAgent;
    this.#replaceLive(prev, next);
    return true;
  }

  async touch(id: string, changes: TouchChanges): Promise<boolean> {
    const prev = this.#live.get(id);
    if (prev === undefined) return false;
    const next = copyRecord(prev);
    next.lastSeenAt = changes.lastSeenAt;
    next.idleExpiresAt = changes.idleExpiresAt;
    if (changes.lastIp !== undefined) next.lastIp = changes.lastIp;
    if (changes.lastUserAgent !== undefined) next.lastUserAgent = changes.lastUserAgent;
    this.#replaceLive(prev, next);
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
    if (prev === undefined || prev.version !== expectedVersion) return false;
    if (next.id !== oldId && (this.#live.has(next.id) || this.#tombs.has(next.id))) {
      throw conflict('id');
    }
    if (next.handle !== prev.handle && this.#byHandle.has(next.handle)) throw conflict('handle');
    const evicted = signIn === undefined ? [] : this.#signIn(next, signIn);
    // Everything below is synchronous, so no other call observes a half-done rotation.
    for (const h of evicted) this.#deleteFamily(h);
    this.#removeLive(prev);
    this.#addLive(copyRecord(next));
    if (tombstone !== null) this.#addTomb(copyTombstone(tombstone, oldId));
    return { evicted };
  }

  async delete(id: string): Promise<boolean> {
    const r = this.#live.get(id);
    if (r !== undefined) {
      this.#removeLive(r);
      return true;
    }
    const t = this.#tombs.get(id);
    if (t === undefined) return false;
    this.#removeTomb(t);
    return true;
  }

  async deleteByHandle(handle: string): Promise<number> {
    return this.#deleteFamily(handle);
  }

  #deleteFamily(handle: string): number {
    let n = 0;
    const r = this.#byHandle.get(handle);
    if (r !== undefined) {
      this.#removeLive(r);
      n++;
    }
    return n + this.#removeFamilyTombs(handle);
  }

  async listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (const h of membersOf(this.#byUser, userId)) {
      const r = this.#byHandle.get(h);
      if (r !== undefined && expiryOf(r) > now) out.push(r);
    }
    // Array#sort is stable: equal creation times keep insertion order.
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  async deleteByUser(userId: string, options: DeleteByUserOptions = {}): Promise<number> {
    const except = options.exceptHandle;
    if (options.epoch !== undefined) this.#raiseEpoch(userId, options.epoch);
    let n = 0;
    for (const h of membersOf(this.#byUser, userId)) {
      if (h === except) continue;
      const r = this.#byHandle.get(h);
      if (r !== undefined) {
        this.#removeLive(r);
        n++;
      }
      this.#removeFamilyTombs(h);
    }
    for (const id of membersOf(this.#tombsByUser, userId)) {
      const t = this.#tombs.get(id);
      if (t !== undefined && t.handle !== except) this.#removeTomb(t);
    }
    return n;
  }

  /** Raise (never lower) a user's epoch; the later expiry wins. */
  #raiseEpoch(userId: string, epoch: Epoch): void {
    const e = this.#epoch(userId);
    const next: Epoch =
      e === undefined
        ? { at: epoch.at, expiresAt: epoch.expiresAt }
        : { at: Math.max(e.at, epoch.at), expiresAt: Math.max(e.expiresAt, epoch.expiresAt) };
    this.#epochs.delete(userId);
    if (this.#epochs.size >= this.#maxKeys) {
      // Expired epochs go first (a scan at most once a second of the store's clock); only then
      // the epoch set longest ago, which matters only to sign-ins begun before it (and to a
      // sealed-mode watermark kept here: docs/stores.md).
      const now = this.#now();
      if (now >= this.#reclaimEpochsAt) {
        this.#reclaimEpochsAt = now + RECLAIM_EVERY_MS;
        for (const [u, e] of this.#epochs) if (e.expiresAt <= now) this.#epochs.delete(u);
      }
      if (this.#epochs.size >= this.#maxKeys) {
        const oldest = this.#epochs.keys().next().value;
        if (oldest !== undefined) this.#epochs.delete(oldest);
      }
    }
    this.#epochs.set(userId, next);
  }

  async getRevocationEpoch(userId: string, now: number): Promise<number | null> {
    const e = this.#epochs.get(userId);
    if (e === undefined) return null;
    if (e.expiresAt <= now) {
      this.#epochs.delete(userId);
      return null;
    }
    return e.at;
  }

  async list(options: ListOptions): Promise<ListResult> {
    const { now, userId, cursor } = options;
    // The contract's range is 1..1000; a 0 would page forever.
    const limit = Math.max(1, Math.min(1_000, Math.trunc(options.limit)));
    // The order is by id, which LRU moves never change. Listing is an admin path: an O(n)
    // scan plus a sort of the remaining candidates is fine there, and keeps `get` O(1).
    let source: Iterable<SessionRecord>;
    if (userId !== undefined) {
      const rs: SessionRecord[] = [];
      for (const h of membersOf(this.#byUser, userId)) {
        const r = this.#byHandle.get(h);
        if (r !== undefined) rs.push(r);
      }
      source = rs;
    } else {
      source = this.#live.values();
    }
    const candidates: SessionRecord[] = [];
    for (const r of source) {
      if (expiryOf(r) > now && (cursor === undefined || r.id > cursor)) candidates.push(r);
    }
    candidates.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const records = candidates.slice(0, limit);
    const last = records[records.length - 1];
    return {
      records,
      nextCursor: candidates.length > limit && last !== undefined ? last.id : null,
    };
  }

  async count(now: number, userId?: string): Promise<number> {
    let n = 0;
    if (userId !== undefined) {
      for (const h of membersOf(this.#byUser, userId)) {
        const r = this.#byHandle.get(h);
        if (r !== undefined && expiryOf(r) > now) n++;
      }
      return n;
    }
    for (const r of this.#live.values()) if (expiryOf(r) > now) n++;
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
      if (expiryOf(r) <= now) {
        this.#removeLive(r);
        n++;
      }
    }
    for (const t of this.#tombs.values()) {
      if (n >= limit) return n;
      if (t.expiresAt <= now) {
        this.#removeTomb(t);
        n++;
      }
    }
    // Expired keys are not sessions: removed here without counting against `limit`.
    this.#kv.sweep(now);
    for (const [userId, e] of this.#epochs) if (e.expiresAt <= now) this.#epochs.delete(userId);
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
