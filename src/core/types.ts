/**
 * The records a store keeps and the {@link SessionStore} contract every store implements.
 * A store is persistence only: it holds no policy, never sees a token, and imports nothing
 * of the engine. The conformance suite in `tessera-session/testing` checks every clause here.
 */

/**
 * A live session as the store keeps it. `id` is the store key: the SHA-256 of the token
 * (base64url), optionally prefixed by a slot tag and a dot (`tag.hash`) so that a Redis Cluster
 * can keep a user's sessions in one slot. A store treats `id` and `handle` as opaque strings.
 */
export interface SessionRecord {
  readonly kind: 'live';
  /** Store key: `[tag.]base64url(SHA-256(token))`. Never the token. */
  id: string;
  /** Public, random handle for lists and revocation; stable across token rotations. */
  handle: string;
  userId: string | null;
  /** Epoch milliseconds. */
  createdAt: number;
  lastSeenAt: number;
  authenticatedAt: number | null;
  /** The idle deadline the server enforces (sliding, never past `absoluteExpiresAt`). */
  idleExpiresAt: number;
  /** The absolute deadline; activity never moves it. */
  absoluteExpiresAt: number;
  createdIp: string | null;
  createdUserAgent: string | null;
  lastIp: string | null;
  lastUserAgent: string | null;
  /** Incremented by every successful {@link SessionStore.update} that carries `data`. */
  version: number;
  /** Opaque to the store: JSON text, or a sealed (encrypted) string. */
  data: string;
}

/**
 * What is left of a token after rotation: enough to serve it read-only within its grace window,
 * and to recognise its later use (a theft signal when `reason` is `regenerate`).
 */
export interface TombstoneRecord {
  readonly kind: 'rotated';
  /** The rotated-out token's store key. */
  id: string;
  /** The handle of the session family it belongs to. */
  handle: string;
  userId: string | null;
  rotatedAt: number;
  /** Until this instant the old token may serve safe requests (0 = no grace). */
  graceUntil: number;
  /** The store may forget the tombstone after this instant (the session's absolute deadline). */
  expiresAt: number;
  /** `login`: rotated by sign-in (later use is no theft signal); `regenerate`: any other rotation. */
  reason: 'login' | 'regenerate';
}

/** What {@link SessionStore.get} finds under an id. */
export type StoreEntry = SessionRecord | TombstoneRecord;

/** Fields {@link SessionStore.update} may change. `data` bumps the version. */
export interface RecordChanges {
  data?: string;
  userId?: string | null;
  authenticatedAt?: number | null;
  lastSeenAt?: number;
  idleExpiresAt?: number;
  absoluteExpiresAt?: number;
  lastIp?: string | null;
  lastUserAgent?: string | null;
}

/** Fields {@link SessionStore.touch} changes: timestamps and last-seen metadata only. */
export interface TouchChanges {
  lastSeenAt: number;
  idleExpiresAt: number;
  lastIp?: string | null;
  lastUserAgent?: string | null;
}

/** Options for {@link SessionStore.list}. */
export interface ListOptions {
  /** Opaque cursor from a previous page; absent for the first page. */
  cursor?: string;
  /** Page size, 1..1000. */
  limit: number;
  /** Only this user's sessions. */
  userId?: string;
  /** Only sessions whose idle deadline is after this instant (epoch ms). */
  now: number;
}

/** One page of {@link SessionStore.list}. */
export interface ListResult {
  records: SessionRecord[];
  /** Cursor for the next page, or null on the last. */
  nextCursor: string | null;
}

/** Result of {@link SessionStore.increment}. */
export interface CounterResult {
  count: number;
  /** When the counter's window ends (epoch ms). */
  expiresAt: number;
}

/**
 * The storage contract. All methods are async and reject with
 * `TesseraError('ERR_STORE_UNAVAILABLE', …, { cause })` when the backend fails; a store never
 * returns half-written state. Unless stated, a method is atomic and idempotent.
 *
 * Times passed in (`now`, `*At`) come from the engine's clock — the store's own clock, as
 * {@link SessionStore.time} reads it, when the store has one; stores that have native TTLs
 * (Redis, or an indexed `expires_at` swept in SQL) mirror `idleExpiresAt` / `expiresAt`.
 */
export interface SessionStore {
  /** A short name for messages and metrics (`memory`, `sqlite`, …). */
  readonly name: string;
  /**
   * True when the data never leaves this process (the memory store): the engine then keeps
   * data unencrypted by default, since there is no "rest" to protect.
   */
  readonly inProcess?: boolean;
  /**
   * True when the store shards by user and wants a user's session ids and handles to carry a
   * slot tag (Redis Cluster: `{tag}` keeps them in one slot). The engine then prefixes them with
   * a keyed tag (`tag.`); otherwise ids and handles carry nothing derived from the user.
   */
  readonly slotTags?: true;

  /** The live record or tombstone under `id`, or null. May return an expired entry; the engine checks. */
  get(id: string): Promise<StoreEntry | null>;
  /** The live record with this handle, or null. */
  getByHandle(handle: string): Promise<SessionRecord | null>;
  /**
   * Insert a new live record (`version` as given, normally 1).
   * Rejects with `TesseraError('ERR_CONFLICT')` if `id` or `handle` exists.
   */
  create(record: SessionRecord): Promise<void>;
  /**
   * Compare-and-set: apply `changes` only if the live record's version is `expectedVersion`.
   * When `changes.data` is present the version becomes `expectedVersion + 1`.
   * @returns true if applied; false if the record is gone or its version differs
   */
  update(id: string, expectedVersion: number, changes: RecordChanges): Promise<boolean>;
  /** Move the idle deadline and last-seen metadata; no version check, no version bump. @returns false if gone */
  touch(id: string, changes: TouchChanges): Promise<boolean>;
  /**
   * Atomically replace the live record `oldId` (if its version is `expectedVersion`) by `next`
   * (a new id, same handle) and, if given, leave `tombstone` under `oldId`.
   * @returns false (and changes nothing) if `oldId` is gone or its version differs
   */
  rotate(
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
  ): Promise<boolean>;
  /** Delete the live record or tombstone under `id`. @returns whether something was deleted */
  delete(id: string): Promise<boolean>;
  /** Delete the live record with this handle and every tombstone of its family. @returns how many entries */
  deleteByHandle(handle: string): Promise<number>;
  /** Live, unexpired (`idleExpiresAt > now`) sessions of a user, oldest first. */
  listByUser(userId: string, now: number): Promise<SessionRecord[]>;
  /**
   * Delete every live session of a user and every entry of those sessions' families (their
   * tombstones, including a pre-login one whose userId is null), except the family of `exceptHandle`.
   * @returns how many live sessions were deleted
   */
  deleteByUser(userId: string, options?: { exceptHandle?: string }): Promise<number>;
  /** Page through live, unexpired sessions, in a stable order. */
  list(options: ListOptions): Promise<ListResult>;
  /** How many live, unexpired sessions there are (all, or one user's). */
  count(now: number, userId?: string): Promise<number>;
  /** Remove expired live records and tombstones, at most `limit` of them. @returns how many */
  sweep(now: number, limit?: number): Promise<number>;

  /**
   * Shared key-value space for features that every app instance must see alike: login
   * limits, revocation watermarks, an audit trail, small app tables. Keys are namespaced by
   * the caller. `expiresAt` null means no expiry. Values, counters and lists share ONE key
   * space: `kvDelete` removes whichever is under the key. `listPush` judges an existing list's
   * expiry by the store's own clock (it takes no `now`).
   */
  kvGet(key: string, now: number): Promise<string | null>;
  kvSet(key: string, value: string, expiresAt: number | null): Promise<void>;
  kvDelete(key: string): Promise<boolean>;
  /**
   * Atomically increment a fixed-window counter. If the key is absent or expired it starts at 1
   * with `expiresAt = windowEndsAt`; otherwise it keeps its original window.
   */
  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult>;
  /** Prepend `value` to a list, keep at most `max` newest entries, set the list's expiry. */
  listPush(key: string, value: string, max: number, expiresAt: number | null): Promise<void>;
  /** Newest-first entries of a list, at most `limit`. */
  listRange(key: string, limit: number, now: number): Promise<string[]>;

  /**
   * Optional: the store's clock, epoch milliseconds (Redis `TIME`, PostgreSQL
   * `clock_timestamp()`; for a store that lives on the app's machine, that machine's clock).
   * The engine estimates its offset to this clock in the background and makes the decisions
   * that every app instance must agree on (expiry, grace, theft) on it, so the instances'
   * clocks need not agree (DESIGN decision 13). A store without it leaves the engine on its
   * local clock. Read-only and idempotent; rejects like every other call when the backend fails.
   */
  time?(): Promise<number>;

  /** Release connections and timers the store owns (not an injected client). Idempotent. */
  close(): Promise<void>;
}
