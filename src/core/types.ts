/**
 * The records a store keeps, the {@link SessionStore} contract every store implements, and the
 * smaller {@link KeyValueStore} contract a store MAY also implement (the shared key-value space
 * of sealed-mode watermarks, login limits and app tables). A store is persistence only: it holds
 * no policy, never sees a token, and imports nothing of the engine. The conformance suite in
 * `tessera-session/testing` checks every clause here, one group per clause.
 */

/** The JSON object a session holds: what `session.data` is, and what an app's `Register` narrows. */
export type SessionData = Record<string, unknown>;

/**
 * A live session as the store keeps it. `id` is the store key: the SHA-256 of the token
 * (base64url), optionally prefixed by a slot tag and a dot (`tag.hash`) so that a Redis Cluster
 * can keep a user's sessions in one slot. A store treats `id`, `handle` and `userId` as opaque
 * strings and matches them exactly; one it cannot keep exactly (an unpaired surrogate has no UTF-8
 * spelling; PostgreSQL text holds no NUL) it refuses with `TesseraError('ERR_CONFIG')`, status
 * 400, writing nothing — never a 503 or half a write.
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

/**
 * What a store checks when a write signs a user in ({@link SessionStore.create} or
 * {@link SessionStore.rotate} with these options), all in ONE atomic step with the write itself,
 * so that parallel sign-ins and revocations of one user are serialised (per user):
 *
 * 1. the revocation epoch: if the user has one and the new record's `authenticatedAt` is at or
 *    before it (or null), reject with `TesseraError('ERR_SESSION_REVOKED')` and write nothing;
 * 2. the limit: count the user's live sessions (kind `live`, `idleExpiresAt > now` and
 *    `absoluteExpiresAt > now`, not counting the family of the record being written). If that
 *    count is `limit` or more: `reject` rejects with `TesseraError('ERR_SESSION_LIMIT')` and writes
 *    nothing; `evict-oldest` deletes the families (as `deleteByHandle`) of the oldest sessions
 *    (by `createdAt`; ties in an order of the store's choosing) until `limit - 1` remain, and reports their handles.
 */
export interface SignInOptions {
  /** The engine's clock: which sessions are live. */
  now: number;
  /** Most live sessions the user may have once this one is added; 0 = no limit. */
  limit: number;
  /** What to do at the limit. */
  policy: 'reject' | 'evict-oldest';
}

/** What a {@link SessionStore.create} or {@link SessionStore.rotate} did beyond its own write. */
export interface SignInResult {
  /** Handles of the sessions evicted (whole families deleted) to respect the limit. */
  evicted: string[];
}

/** Options of {@link SessionStore.deleteByUser}. */
export interface DeleteByUserOptions {
  /** Keep this family (the session that asked, in `revokeOthers`). */
  exceptHandle?: string;
  /**
   * Raise the user's revocation epoch, atomically with the deletion: sessions authenticated at
   * or before `at` can no longer be created. `expiresAt` is when the store may forget it.
   */
  epoch?: { at: number; expiresAt: number };
}

/** Result of {@link KeyValueStore.increment}. */
export interface CounterResult {
  count: number;
  /** When the counter's window ends (epoch ms). */
  expiresAt: number;
}

/**
 * The session storage contract: everything the engine needs, and nothing else. All methods are async and reject with
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
   * True when the store shards by key and wants every session's keys, and a user's sessions with
   * the user's index and epoch, in one shard (Redis Cluster: a `{tag}` is a slot). The engine then
   * mints ids and handles that carry a slot tag (`tag.rest`), one per session family:
   *
   * - a signed-in session's id and handle carry its user's tag, the one {@link useSlotTags} was
   *   given; every rotation of the family keeps the family's tag;
   * - a visitor's session's id and handle share a tag of their own, keyed, random per session;
   * - signing a visitor in writes a NEW session in the user's slot (`create` with
   *   {@link SignInOptions}) and deletes the visitor's family after, instead of a `rotate` that
   *   would span two slots.
   *
   * Such a store may refuse, with `TesseraError('ERR_CONFIG')` and writing nothing, a `create`,
   * `rotate` or `update` whose records would span shards (an id and handle of different tags, a
   * signed-in record not in its user's shard): one such write could not be one atomic step.
   * Otherwise ids and handles carry nothing derived from the user (DESIGN decision 10).
   */
  readonly slotTags?: true;
  /**
   * For a store with {@link slotTags}: the keyed tag of a user's sessions. The engine calls it at
   * construction with the tagger whose tags it mints (`slotTagFor(ring, userId)`); the store names
   * a user's index and epoch with it. Calls that name a user (`listByUser`, `deleteByUser`,
   * `getRevocationEpoch`, a signed-in `create` or `rotate`, `list`/`count` of one user) reject
   * with `TesseraError('ERR_CONFIG')` until it was called. Calling it again with a tagger that
   * gives other tags (another key ring) throws `ERR_CONFIG`.
   * @param tagFor - the user's slot tag (1 to 12 characters of `[A-Za-z0-9_-]`)
   */
  useSlotTags?(tagFor: (userId: string) => string): void;

  /** The live record or tombstone under `id`, or null. May return an expired entry; the engine checks. */
  get(id: string): Promise<StoreEntry | null>;
  /** The live record with this handle, or null. */
  getByHandle(handle: string): Promise<SessionRecord | null>;
  /**
   * Insert a new live record (`version` as given, normally 1).
   * Rejects with `TesseraError('ERR_CONFLICT')` if `id` or `handle` exists.
   *
   * With `signIn` (the record signs `record.userId` in), the store checks, in the same atomic
   * step as the insert, the user's revocation epoch and the per-user limit; see
   * {@link SignInOptions}. Without it, neither is checked.
   * @returns the handles of the sessions evicted to respect the limit (none without `signIn`)
   */
  create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult>;
  /**
   * Compare-and-set: apply `changes` only if the live record's version is `expectedVersion`.
   * When `changes.data` is present the version becomes `expectedVersion + 1`.
   * A `userId` change here checks neither epoch nor limit: the engine signs users in through
   * {@link create} and {@link rotate} with {@link SignInOptions}.
   * @returns true if applied; false if the record is gone or its version differs
   */
  update(id: string, expectedVersion: number, changes: RecordChanges): Promise<boolean>;
  /** Move the idle deadline and last-seen metadata; no version check, no version bump. @returns false if gone */
  touch(id: string, changes: TouchChanges): Promise<boolean>;
  /**
   * Atomically replace the live record `oldId` (if its version is `expectedVersion`) by `next`
   * (a new id, same handle) and, if given, leave `tombstone` under `oldId`.
   *
   * With `signIn` (the rotation signs `next.userId` in: an anonymous session, or another user's),
   * the epoch and the limit are checked in the same atomic step, as for {@link create}; the
   * family being rotated does not count against the limit.
   * @returns false (and changes nothing) if `oldId` is gone or its version differs; otherwise
   *   the handles evicted to respect the limit (`{ evicted: [] }` without `signIn`)
   */
  rotate(
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
    signIn?: SignInOptions,
  ): Promise<SignInResult | false>;
  /** Delete the live record or tombstone under `id`. @returns whether something was deleted */
  delete(id: string): Promise<boolean>;
  /** Delete the live record with this handle and every tombstone of its family. @returns how many entries */
  deleteByHandle(handle: string): Promise<number>;
  /** Live, unexpired (`idleExpiresAt > now`) sessions of a user, oldest first. */
  listByUser(userId: string, now: number): Promise<SessionRecord[]>;
  /**
   * Delete every live session of a user and every entry of those sessions' families (their
   * tombstones, including a pre-login one whose userId is null), except the family of `exceptHandle`.
   *
   * With `epoch`, also raise the user's revocation epoch to `epoch.at` (never lower it; its
   * expiry becomes the later of the two), in the same atomic step as the deletion: a concurrent
   * sign-in either ran before (and its session is deleted here) or after (and the epoch refuses it).
   * @returns how many live sessions were deleted
   */
  deleteByUser(userId: string, options?: DeleteByUserOptions): Promise<number>;
  /**
   * The user's revocation epoch (epoch ms), or null when none is set. May return one past its
   * `expiresAt` (it is only ever compared with stamps older than that).
   * @param now - the caller's clock, for stores that expire lazily
   */
  getRevocationEpoch(userId: string, now: number): Promise<number | null>;
  /** Page through live, unexpired sessions, in a stable order. */
  list(options: ListOptions): Promise<ListResult>;
  /** How many live, unexpired sessions there are (all, or one user's). */
  count(now: number, userId?: string): Promise<number>;
  /** Remove expired live records and tombstones, at most `limit` of them. @returns how many */
  sweep(now: number, limit?: number): Promise<number>;

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

/**
 * The shared key-value space: what features that every app instance must see alike need beyond
 * sessions — sealed mode's revocation watermarks (`revocationStoreFrom`), login limits (fixed-window
 * counters) and small app tables, and what an app builds on them (the demo's audit trail). A
 * store MAY implement it beside {@link SessionStore}; the engine never calls it. All four
 * built-in stores do.
 *
 * All methods are async, atomic, and reject with `TesseraError('ERR_STORE_UNAVAILABLE', …,
 * { cause })` when the backend fails. Keys are namespaced by the caller. `expiresAt` null means
 * no expiry; `now` is the caller's clock, for stores that expire lazily. Values and counters
 * share ONE key space: writing one kind under a key replaces whatever kind was there, and
 * `kvDelete` removes whichever is under the key. `increment` belongs here because a limit needs
 * a count that parallel requests on every instance never read alike, which `kvGet` + `kvSet`
 * cannot give; a bounded list is built on it (a ring of keys numbered by `increment`).
 */
export interface KeyValueStore {
  /** The unexpired value under `key`, or null (also when the key holds a counter). */
  kvGet(key: string, now: number): Promise<string | null>;
  /** Store `value` under `key`, replacing whatever was there, with this expiry. */
  kvSet(key: string, value: string, expiresAt: number | null): Promise<void>;
  /** Delete whatever is under `key`. @returns whether something was deleted */
  kvDelete(key: string): Promise<boolean>;
  /**
   * Atomically increment a fixed-window counter. If the key is absent or expired it starts at 1
   * with `expiresAt = windowEndsAt`; otherwise it keeps its original window.
   */
  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult>;
}
