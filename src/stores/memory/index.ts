/**
 * The memory store: sessions in this process's heap, bounded, with lazy expiry.
 * Right for tests, a single process, or a cache in front of nothing; every record is lost
 * when the process exits.
 */
import { TesseraError } from '../../core/errors.js';
import { revokedBy, sessionLimitReached, signInRevoked } from '../../core/revocation.js';
import type {
  CounterResult,
  DeleteByUserOptions,
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

/** Options for {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most live sessions kept at once. When full, creating one evicts the session that has been
   * idle longest (least recently created, touched or updated). Tombstones have the same bound,
   * kept separately, and evict oldest first.
   * @default 100_000
   */
  maxSessions?: number;
  /**
   * Most keys of the shared key-value space (`kvSet`, `increment`, `listPush`) kept at once;
   * when full, the key set longest ago is evicted. Bounds memory against a flood of distinct keys.
   * @default 100_000
   */
  maxKeys?: number;
  /**
   * How often one background sweep removes expired entries, in ms; `0` turns it off (expiry is
   * then only lazy, on read). The timer is unref'd, so it never keeps the process alive.
   * @default 60_000
   */
  sweepIntervalMs?: number;
  /**
   * The clock for lazy expiry on `get` and `listPush`, and for the background sweep.
   * @default Date.now
   */
  now?: () => number;
}

const DEFAULTS = {
  maxSessions: 100_000,
  maxKeys: 100_000,
  sweepIntervalMs: 60_000,
} as const;

/** A user's revocation epoch and when it may be forgotten. */
interface Epoch {
  at: number;
  expiresAt: number;
}

/** One key of the shared key-value space. `value` is a string, a counter or a list. */
interface KeyEntry {
  value: string | number | string[];
  expiresAt: number | null;
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
 * @param options - bounds, sweep interval and clock; see {@link MemoryStoreOptions}
 * @returns a {@link SessionStore} with `inProcess: true`
 * @throws TesseraError `ERR_CONFIG` when an option is out of range
 * @example
 * ```ts
 * import { memoryStore } from 'tessera-session/memory';
 * const store = memoryStore({ maxSessions: 10_000 });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
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

class MemoryStore implements SessionStore {
  readonly name = 'memory';
  readonly inProcess = true;

  /** Live records by id, in LRU order: the first key is the one idle longest. */
  readonly #live = new Map<string, SessionRecord>();
  /** Live records by handle. */
  readonly #byHandle = new Map<string, SessionRecord>();
  /** Handles of each user's live records. Only users with a session have an entry. */
  readonly #byUser = new Map<string, Bucket>();
  /** Tombstones by id, oldest first. */
  readonly #tombs = new Map<string, TombstoneRecord>();
  /** Tombstone ids of each session family (by handle). */
  readonly #tombsByHandle = new Map<string, Bucket>();
  /** Tombstone ids of each user. */
  readonly #tombsByUser = new Map<string, Bucket>();
  /** The shared key-value space, oldest set first. */
  readonly #keys = new Map<string, KeyEntry>();
  /** Revocation epochs by user, oldest set first (bounded by `maxKeys`, like the key space). */
  readonly #epochs = new Map<string, Epoch>();

  readonly #maxSessions: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryStoreOptions) {
    this.#maxSessions = checkCount('maxSessions', options.maxSessions ?? DEFAULTS.maxSessions, 1);
    this.#maxKeys = checkCount('maxKeys', options.maxKeys ?? DEFAULTS.maxKeys, 1);
    const interval = checkCount(
      'sweepIntervalMs',
      options.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs,
      0,
    );
    this.#now = options.now ?? Date.now;
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

  #addTomb(t: TombstoneRecord): void {
    if (this.#tombs.size >= this.#maxSessions) {
      const oldest = this.#tombs.values().next().value;
      if (oldest !== undefined) this.#removeTomb(oldest);
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
    if (this.#live.size >= this.#maxSessions) {
      // The first key of the LRU-ordered map is the session idle longest: O(1) eviction.
      const oldest = this.#live.values().next().value;
      if (oldest !== undefined) this.#removeLive(oldest);
    }
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
      // The epoch set longest ago goes first; it matters only to sign-ins begun before it.
      const oldest = this.#epochs.keys().next().value;
      if (oldest !== undefined) this.#epochs.delete(oldest);
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
    for (const [key, e] of this.#keys) {
      if (e.expiresAt !== null && e.expiresAt <= now) this.#keys.delete(key);
    }
    for (const [userId, e] of this.#epochs) if (e.expiresAt <= now) this.#epochs.delete(userId);
    return n;
  }

  // ---- shared key-value space ---------------------------------------------------------

  /** The unexpired entry under `key`, dropping an expired one. */
  #key(key: string, now: number): KeyEntry | undefined {
    const e = this.#keys.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt !== null && e.expiresAt <= now) {
      this.#keys.delete(key);
      return undefined;
    }
    return e;
  }

  #setKey(key: string, entry: KeyEntry): void {
    this.#keys.delete(key);
    if (this.#keys.size >= this.#maxKeys) {
      const oldest = this.#keys.keys().next().value;
      if (oldest !== undefined) this.#keys.delete(oldest);
    }
    this.#keys.set(key, entry);
  }

  async kvGet(key: string, now: number): Promise<string | null> {
    const e = this.#key(key, now);
    if (e === undefined) return null;
    return typeof e.value === 'string' ? e.value : null;
  }

  async kvSet(key: string, value: string, expiresAt: number | null): Promise<void> {
    this.#setKey(key, { value, expiresAt });
  }

  async kvDelete(key: string): Promise<boolean> {
    return this.#keys.delete(key);
  }

  async increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult> {
    const e = this.#key(key, now);
    if (e !== undefined && typeof e.value === 'number') {
      e.value++;
      return { count: e.value, expiresAt: e.expiresAt ?? windowEndsAt };
    }
    this.#setKey(key, { value: 1, expiresAt: windowEndsAt });
    return { count: 1, expiresAt: windowEndsAt };
  }

  async listPush(key: string, value: string, max: number, expiresAt: number | null): Promise<void> {
    const e = this.#key(key, this.#now());
    if (e !== undefined && Array.isArray(e.value)) {
      // Newest first: prepend, then trim the oldest beyond `max`.
      e.value.unshift(value);
      if (e.value.length > max) e.value.length = Math.max(0, max);
      e.expiresAt = expiresAt;
      return;
    }
    this.#setKey(key, { value: max > 0 ? [value] : [], expiresAt });
  }

  async listRange(key: string, limit: number, now: number): Promise<string[]> {
    const e = this.#key(key, now);
    if (e === undefined || !Array.isArray(e.value)) return [];
    return e.value.slice(0, Math.max(0, limit));
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/**
 * The members of one index key: a bare string while there is one (the common case: one session
 * per user, one tombstone per family), a Set from the second on. Saves a Set (~130 B) per entry.
 */
type Bucket = string | Set<string>;

function addTo(index: Map<string, Bucket>, key: string, value: string): void {
  const bucket = index.get(key);
  if (bucket === undefined) index.set(key, value);
  else if (typeof bucket === 'string') {
    if (bucket !== value) index.set(key, new Set([bucket, value]));
  } else bucket.add(value);
}

function removeFrom(index: Map<string, Bucket>, key: string, value: string): void {
  const bucket = index.get(key);
  if (bucket === undefined) return;
  if (typeof bucket === 'string') {
    if (bucket === value) index.delete(key);
    return;
  }
  bucket.delete(value);
  if (bucket.size === 1) index.set(key, bucket.values().next().value as string);
  else if (bucket.size === 0) index.delete(key);
}

/** A copy of one key's members, safe to iterate while the index changes. */
function membersOf(index: Map<string, Bucket>, key: string): string[] {
  const bucket = index.get(key);
  if (bucket === undefined) return [];
  return typeof bucket === 'string' ? [bucket] : [...bucket];
}
