/**
 * Sealed-cookie mode: the whole session — data, user, handle, timestamps and deadlines — sealed
 * into the cookie with AES-256-GCM under the key ring's `seal` subkey, for edge and serverless
 * apps without a session store. The same request cycle as the server-side engine (`load` →
 * handler → `commit`), so an adapter can host either.
 *
 * Cookie value: `v1.<kid>.<base64url(iv ‖ ciphertext ‖ tag)>`; the associated data binds the
 * format version, the cookie name and the key id. The plaintext is a JSON array
 * `[1, handle, userId, createdAt, authenticatedAt, issuedAt, lastSeenAt, idleExpiresAt,
 * absoluteExpiresAt, binding, data]`; the deadlines inside the seal are enforced on every load.
 *
 * What needs server state is absent: listing sessions, revoking one by handle, theft detection
 * (a copied cookie cannot be told from the original), session limits. Revoking every session of
 * a user works through a per-user watermark in a {@link RevocationStore} — one O(1) lookup,
 * cached for a few seconds (docs/sealed.md).
 */
import { clockSource } from './clock.js';
import type { SessionEngine } from './contract.js';
import { findCookie, MAX_COOKIE_BYTES, serializeCookie } from './cookie.js';
import { aeadOpen, aeadSeal, randomToken } from './crypto.js';
import { type CSRFRequest, checkRequestOrigin, isSafeMethod } from './csrf.js';
import { signDoubleSubmit, verifyDoubleSubmit } from './double-submit.js';
import type {
  AuthenticateOptions,
  CommitResult,
  CSRFResult,
  KeepData,
  RequestInfo,
} from './engine.js';
import { isTesseraError, storeUnavailable, TesseraError } from './errors.js';
import { checkId } from './ids.js';
import { ManagerBase } from './manager-base.js';
import { resolveOptions, type SessionData, type SessionsOptions } from './options.js';
import type { RegisteredData } from './register.js';
import { clockPast, EPOCH_SLACK_MS, requestStart, revokedBy } from './revocation.js';
import { assertDataKey, sessionDeadlines } from './rules.js';
import { newHandle, slotTagFor } from './token.js';
import type { SessionStore } from './types.js';

// ---------------------------------------------------------------------------------------------
// Revocation watermarks

/**
 * Where per-user revocation watermarks live: "sessions of this user issued at or before T are
 * dead" (the same rule as the server-side revocation epoch, `revokedBy`). One key per user, read
 * once per load of a signed-in sealed session (and cached).
 */
export interface RevocationStore {
  /**
   * The user's watermark (epoch ms), or null when none is set or it has expired.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the backend fails
   */
  getWatermark(userId: string): Promise<number | null>;
  /**
   * Raise the user's watermark to `at` (a lower value never replaces a higher one).
   * @param expiresAt - when the watermark may be forgotten (epoch ms): once every session issued
   *   before it has passed its absolute deadline; null keeps it forever
   */
  setWatermark(userId: string, at: number, expiresAt?: number | null): Promise<void>;
  /**
   * Optional: the clock of the store the watermarks live in, epoch ms (see
   * {@link SessionStore.time}). With it, sealed mode stamps and checks deadlines and watermarks
   * on that one clock (option `clock`), so the instances' clocks need not agree.
   */
  time?(): Promise<number>;
  /**
   * Given by the engine at construction: the keyed slot tag of a user, for a revocation store
   * over a session store with slot tags (see `SessionStore.useSlotTags`).
   */
  useSlotTags?(tagFor: (userId: string) => string): void;
}

/**
 * An in-process {@link RevocationStore}: for tests and single-process apps (a watermark set in
 * one process is not seen by another — use {@link revocationStoreFrom} over a shared store).
 * @param options.now - clock for expiry @default Date.now
 * @returns a revocation store backed by a Map
 * @example
 * ```ts
 * createSealedSessions({ keys, revocation: { store: memoryRevocationStore() } })
 * ```
 */
export function memoryRevocationStore(options: { now?: () => number } = {}): RevocationStore {
  const now = options.now ?? Date.now;
  const marks = new Map<string, { at: number; expiresAt: number | null }>();
  return {
    async getWatermark(userId) {
      const m = marks.get(userId);
      if (!m) return null;
      if (m.expiresAt !== null && m.expiresAt <= now()) {
        marks.delete(userId);
        return null;
      }
      return m.at;
    },
    async setWatermark(userId, at, expiresAt = null) {
      const m = marks.get(userId);
      if (m && m.at >= at && (m.expiresAt === null || m.expiresAt > now())) return;
      marks.set(userId, { at, expiresAt });
    },
  };
}

/**
 * A {@link RevocationStore} over a {@link SessionStore}'s per-user revocation epochs: the very
 * epochs the server-side engine's `revokeAll` and `revokeOthers` set. A sealed `revokeAll` on it
 * is a server-side `revokeAll` too (it deletes the user's server-side sessions of that store and
 * raises the same epoch, atomically), and either mode's revocation ends the other's sessions.
 * Raising is atomic (the store keeps the higher value).
 * @param store - a store every app instance shares (Redis, PostgreSQL, SQLite)
 * @param options.now - clock passed to `getRevocationEpoch` @default Date.now
 * @returns a revocation store
 * @example
 * ```ts
 * const store = redisStore({ client })
 * createSealedSessions({ keys, revocation: { store: storeRevocation(store) } })
 * ```
 */
export function storeRevocation(
  store: SessionStore,
  options: { now?: () => number } = {},
): RevocationStore {
  const now = options.now ?? Date.now;
  return {
    getWatermark: (userId) => store.getRevocationEpoch(userId, now()),
    async setWatermark(userId, at, expiresAt = null) {
      await store.deleteByUser(userId, {
        epoch: { at, expiresAt: expiresAt ?? Number.MAX_SAFE_INTEGER },
      });
    },
    // A store with slot tags (Redis) keeps a user's epoch under the user's keyed tag.
    ...(store.slotTags === true && store.useSlotTags
      ? { useSlotTags: (tagFor: (userId: string) => string) => store.useSlotTags?.(tagFor) }
      : {}),
  };
}

/**
 * A {@link RevocationStore} over the shared key-value space of any {@link SessionStore}
 * (`kvGet` / `kvSet`), so every app instance sees the same watermarks. Prefer
 * {@link storeRevocation}, which shares the server-side epoch and raises atomically.
 *
 * Raising is read-then-write, not atomic: two `revokeAll` calls for one user in the same few
 * milliseconds may leave the lower of the two — which still revokes everything issued before it.
 * @param store - a store whose key-value space every instance shares (Redis, PostgreSQL, SQLite)
 * @param options.prefix - key prefix @default 'tessera:watermark:'
 * @param options.now - clock passed to `kvGet` for expiry @default Date.now
 * @returns a revocation store
 * @throws TesseraError `ERR_STORE_CORRUPT` (from `getWatermark`) when a stored value is not a number
 * @example
 * ```ts
 * const store = redisStore({ client })
 * createSealedSessions({ keys, revocation: { store: revocationStoreFrom(store) } })
 * ```
 */
export function revocationStoreFrom(
  store: SessionStore,
  options: { prefix?: string; now?: () => number } = {},
): RevocationStore {
  const prefix = options.prefix ?? 'tessera:watermark:';
  const now = options.now ?? Date.now;
  const get = async (userId: string): Promise<number | null> => {
    const v = await store.kvGet(prefix + userId, now());
    if (v === null) return null;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) {
      throw new TesseraError(
        'ERR_STORE_CORRUPT',
        `Revocation watermark of a user is not a number.`,
      );
    }
    return n;
  };
  const time = clockSource(store);
  return {
    getWatermark: get,
    async setWatermark(userId, at, expiresAt = null) {
      const current = await get(userId);
      if (current !== null && current >= at) return;
      await store.kvSet(prefix + userId, String(at), expiresAt);
    },
    ...(time ? { time } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Options

/** Revocation settings of {@link createSealedSessions}. */
export interface SealedRevocationOptions {
  /** Where watermarks live; shared by every app instance. */
  store: RevocationStore;
  /**
   * How long an instance may reuse a watermark it read, in ms: a revocation reaches other
   * instances within this time. 0 reads the store on every load of a signed-in session.
   * @default 5000
   */
  cacheMs?: number;
}

/** Options of {@link createSealedSessions}. Durations are in seconds, as in the server-side engine. */
export interface SealedSessionsOptions<Data extends SessionData = RegisteredData>
  extends Pick<
    SessionsOptions<Data>,
    | 'keys'
    | 'preset'
    | 'idleTimeout'
    | 'absoluteTimeout'
    | 'reauthRestartsAbsolute'
    | 'touchFraction'
    | 'cookie'
    | 'csrf'
    | 'validate'
    | 'allowInsecure'
    | 'logger'
    | 'now'
    | 'clock'
  > {
  /**
   * Per-user revocation watermarks; without them `revokeAll` and `revokeOthers` throw
   * `ERR_UNSUPPORTED` and a sealed cookie lives until its own deadline.
   */
  revocation?: SealedRevocationOptions;
}

/** Options that need server state; passed to sealed mode (from JavaScript) they are refused. */
const SERVER_ONLY = [
  'store',
  'sessionLimit',
  'theftPolicy',
  'userAgentPolicy',
  'ipPolicy',
  'rotationGrace',
  'encryptData',
  'maxDataBytes',
  'maxRetries',
  'guessLimiter',
  'clockSkewMs',
] as const;

function unsupported(what: string): TesseraError {
  return new TesseraError(
    'ERR_UNSUPPORTED',
    `${what} needs server-side session state, which sealed-cookie mode does not have (see docs/sealed.md).`,
  );
}

/** Satisfies the shared option resolver (which wants a store); never called. */
const NO_STORE = new Proxy({ name: 'none (sealed mode)', inProcess: true } as SessionStore, {
  get(target, prop) {
    if (prop === 'name' || prop === 'inProcess') return target[prop];
    if (typeof prop !== 'string' || prop === 'then') return undefined;
    return () => Promise.reject(unsupported(`store.${prop}()`));
  },
});

// ---------------------------------------------------------------------------------------------
// The sealed payload

/** @internal What the seal holds. */
interface Payload {
  handle: string;
  userId: string | null;
  createdAt: number;
  authenticatedAt: number | null;
  /** When this session was issued (sign-in, creation, or the survivor of `revokeOthers`); compared with the watermark. */
  issuedAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  /** Secret random value the double-submit CSRF token is bound to; new on every rotation. */
  binding: string;
  data: Record<string, unknown>;
}

const FORMAT = 'v1.';
const BINDING_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]+$/;
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Only the canonical base64url spelling of a byte string is accepted: Node's decoder skips
 * stray characters and ignores the unused low bits of the last character, so without this a
 * changed cookie byte could still open (the same ciphertext, but a "tampered" cookie must not).
 */
function isCanonicalBase64url(s: string): boolean {
  if (!B64URL.test(s)) return false;
  const rest = s.length % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = B64URL_ALPHABET.indexOf(s.charAt(s.length - 1));
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function toPayload(x: unknown): Payload | null {
  if (!Array.isArray(x) || x.length !== 11 || x[0] !== 1) return null;
  const [, handle, userId, createdAt, authenticatedAt, issuedAt, lastSeenAt, idle, absolute, b, d] =
    x as unknown[];
  if (
    typeof handle !== 'string' ||
    !(userId === null || typeof userId === 'string') ||
    !isTime(createdAt) ||
    !(authenticatedAt === null || isTime(authenticatedAt)) ||
    !isTime(issuedAt) ||
    !isTime(lastSeenAt) ||
    !isTime(idle) ||
    !isTime(absolute) ||
    typeof b !== 'string' ||
    b === '' ||
    d === null ||
    typeof d !== 'object' ||
    Array.isArray(d)
  ) {
    return null;
  }
  return {
    handle,
    userId,
    createdAt,
    authenticatedAt,
    issuedAt,
    lastSeenAt,
    idleExpiresAt: idle,
    absoluteExpiresAt: absolute,
    binding: b,
    data: d as Record<string, unknown>,
  };
}

function keepData(data: Record<string, unknown>, keep: KeepData<SessionData>) {
  if (keep === 'all') return { ...data };
  const out: Record<string, unknown> = {};
  if (keep === 'none') return out;
  for (const k of keep) if (Object.hasOwn(data, k)) out[k] = data[k];
  return out;
}

// ---------------------------------------------------------------------------------------------
// The session

/** The state of a {@link SealedSession}. */
export type SealedSessionState =
  /** No seal: a visitor who has stored nothing. */
  | 'anonymous'
  /** A seal was opened, or one will be set by this response. */
  | 'active'
  /** Destroyed during this request (the response clears the cookie). */
  | 'destroyed';

/** Options of {@link SealedSession.regenerate}. */
export interface SealedRegenerateOptions<Data> {
  /** @default 'all' */
  keep?: KeepData<Data>;
}

/**
 * One request's view of a sealed session. Changes are kept in memory and sealed into the
 * response cookie by {@link SealedSessions.commit}. Two parallel requests of one browser each
 * send back a whole cookie, and the later response wins: sealed mode cannot merge their writes.
 */
export class SealedSession<Data extends SessionData = RegisteredData> {
  /** @internal */ _m: SealedSessions<Data>;
  /** @internal */ _req: RequestInfo;
  /** @internal */ _state: SealedSessionState;
  /** @internal */ _p: Payload | null;
  /** @internal the request carried a session cookie */ _hadCookie: boolean;
  /** @internal something changed: seal at commit */ _dirty = false;
  /** @internal idle deadline or key due for a refresh: seal at commit */ _touch = false;
  /** @internal a new session (new handle) will be issued */ _created = false;
  /** @internal data keys changed */ _keys: Set<string> | null = null;
  /** @internal clear the cookie at commit */ _clear = false;
  /** @internal Set-Cookie sealed by save(), valid until the next change */ _cookie: string | null =
    null;
  /** @internal when the request began: the stamps of a sign-in in it */ _loadedAt: number;

  /** @internal */
  constructor(m: SealedSessions<Data>, req: RequestInfo, p: Payload | null, hadCookie: boolean) {
    this._m = m;
    this._req = req;
    this._loadedAt = requestStart(req.startedAt, m.now());
    this._p = p;
    this._state = p ? 'active' : 'anonymous';
    this._hadCookie = hadCookie;
  }

  /** `anonymous`, `active` or `destroyed`. */
  get state(): SealedSessionState {
    return this._state;
  }
  /** Whether a seal backs this request (or will be set by the response). */
  get isActive(): boolean {
    return this._state === 'active';
  }
  /** A random public id of the session, kept across rotations of the same user's session. */
  get handle(): string | null {
    return this._p?.handle ?? null;
  }
  /** The signed-in user, or null. */
  get userId(): string | null {
    return this._p?.userId ?? null;
  }
  get createdAt(): number | null {
    return this._p?.createdAt ?? null;
  }
  /** When the cookie was last sealed (it is re-sealed on a write, or when the idle deadline moves). */
  get lastSeenAt(): number | null {
    return this._p?.lastSeenAt ?? null;
  }
  get authenticatedAt(): number | null {
    return this._p?.authenticatedAt ?? null;
  }
  /** When the session was issued: sign-in, creation, or `revokeOthers`. A watermark after it ends it. */
  get issuedAt(): number | null {
    return this._p?.issuedAt ?? null;
  }
  get idleExpiresAt(): number | null {
    return this._p?.idleExpiresAt ?? null;
  }
  get absoluteExpiresAt(): number | null {
    return this._p?.absoluteExpiresAt ?? null;
  }

  /** The session data with this request's changes. */
  get data(): Readonly<Partial<Data>> {
    return (this._p?.data ?? {}) as Partial<Data>;
  }

  /** One data value. */
  get<K extends keyof Data & string>(key: K): Data[K] | undefined {
    return this._p?.data[key] as Data[K] | undefined;
  }

  /**
   * Set a data value; sealed into the response cookie.
   * @throws TesseraError `ERR_SESSION_READ_ONLY` after destroy; `ERR_INVALID_DATA` for the key
   *   `__proto__` (the same check as the server-side engine)
   */
  set<K extends keyof Data & string>(key: K, value: Data[K]): void {
    if (value === undefined) {
      this.unset(key);
      return;
    }
    this._change(key).data[key] = value;
  }

  /** Remove a data key. */
  unset<K extends keyof Data & string>(key: K): void {
    delete this._change(key).data[key];
  }

  /**
   * Read-modify-write of one key, applied at once to this request's copy (parallel requests of
   * one browser cannot be merged in sealed mode: the later response's cookie wins).
   * @example session.update('count', (n) => (n ?? 0) + 1)
   */
  update<K extends keyof Data & string>(
    key: K,
    fn: (current: Data[K] | undefined) => Data[K] | undefined,
  ): void {
    const v = fn(this.get(key));
    if (v === undefined) this.unset(key);
    else this.set(key, v);
  }

  /**
   * Whether the user signed in (or re-authenticated) within `maxAge` seconds.
   * @param maxAge - seconds
   */
  isFresh(maxAge: number): boolean {
    const at = this._p?.authenticatedAt;
    return at != null && this._m.now() - at <= maxAge * 1000;
  }

  /**
   * A signed double-submit CSRF token bound to this session (OWASP CSRF Prevention Cheat Sheet).
   * Each call gives a different token; all verify until the session rotates. A visitor without
   * a session gets an anonymous one (a seal in the response cookie, no server state).
   */
  csrfToken(): string {
    if (!this._p) {
      this._p = this._m._newPayload(null, {});
      this._state = 'active';
      this._created = true;
      this._dirty = true;
      this._clear = false;
      this._cookie = null;
    }
    return signDoubleSubmit(this._m.ring, bindingOf(this._p));
  }

  /**
   * Sign a user in: a new seal with a new CSRF binding, `authenticatedAt` and `issuedAt` stamped
   * with the moment the request began (so a revocation after that ends it), both deadlines
   * restarted. For another user than the current one the handle is new and the data is dropped
   * unless `keep` says otherwise; for the same user it is a re-authentication, which restarts the
   * absolute deadline unless `reauthRestartsAbsolute` is false (NIST SP 800-63B-4 §5.2; the same
   * rule as the server-side engine).
   * @throws TesseraError `ERR_INVALID_ID` (400) for a user id that is empty, too long, holds NUL or is
   *   not well-formed UTF-16; `ERR_SESSION_READ_ONLY` after destroy
   */
  async authenticate(userId: string, options: AuthenticateOptions<Data> = {}): Promise<void> {
    checkId('userId', userId, 'authenticate()');
    this._writable();
    const prev = this._p;
    const same = prev !== null && prev.userId === userId;
    const keep = options.keep ?? (prev === null || prev.userId === null || same ? 'all' : 'none');
    const next = this._m._newPayload(
      userId,
      keepData(prev?.data ?? {}, keep),
      same ? prev.absoluteExpiresAt : null,
      this._loadedAt,
    );
    if (same) {
      next.handle = prev.handle;
      next.createdAt = prev.createdAt;
    } else {
      this._created = true;
    }
    this._p = next;
    this._state = 'active';
    this._dirty = true;
    this._clear = false;
    this._cookie = null;
    this._m.emit('rotated', this._req, next, { reason: same ? 'regenerate' : 'login' });
    this._m.emit('authenticated', this._req, next);
  }

  /**
   * A new seal for the same session (same handle) with a new CSRF binding. The old cookie is
   * not dead: sealed mode cannot kill a copy of it before its deadline (see docs/sealed.md).
   */
  async regenerate(options: SealedRegenerateOptions<Data> = {}): Promise<void> {
    this._writable();
    const p = this._p;
    if (!p) return;
    this._p = {
      ...p,
      binding: randomToken(BINDING_BYTES),
      data: keepData(p.data, options.keep ?? 'all'),
    };
    this._dirty = true;
    this._cookie = null;
    this._m.emit('rotated', this._req, p, { reason: 'regenerate' });
  }

  /**
   * End the session: the response clears the cookie. A copy of the cookie taken earlier still
   * opens until its deadline unless the user's sessions are revoked with `revokeAll`.
   */
  async destroy(): Promise<void> {
    if (this._state === 'destroyed') return;
    if (this._p) this._m.emit('destroyed', this._req, this._p);
    this._state = 'destroyed';
    this._p = null;
    this._dirty = false;
    this._touch = false;
    this._created = false;
    this._cookie = null;
    this._clear = true;
  }

  /**
   * Seal now, so that data too large for a cookie fails here (in the handler) rather than at
   * commit. Nothing is written anywhere: the seal goes out with the response.
   * @throws TesseraError `ERR_DATA_TOO_LARGE`, `ERR_INVALID_DATA`
   */
  async save(): Promise<void> {
    if (this._state === 'active' && (this._dirty || this._touch) && this._cookie === null)
      this._cookie = this._m._seal(this);
  }

  /** @internal */
  _change(key: string): Payload {
    assertDataKey(key);
    this._writable();
    if (!this._p) {
      this._p = this._m._newPayload(null, {});
      this._state = 'active';
      this._created = true;
      this._clear = false;
    } else if (!this._dirty) {
      // Copy on first write, so the object `data` returned before is not changed under the app.
      this._p = { ...this._p, data: { ...this._p.data } };
    }
    if (!this._keys) this._keys = new Set();
    this._keys.add(key);
    this._dirty = true;
    this._cookie = null;
    return this._p;
  }

  /** @internal */
  _writable(): void {
    if (this._state === 'destroyed')
      throw new TesseraError('ERR_SESSION_READ_ONLY', 'This session was destroyed.');
  }
}

function bindingOf(p: Payload): string {
  return `${p.handle}.${p.binding}`;
}

// ---------------------------------------------------------------------------------------------
// The manager

/** How many users' watermarks an instance caches. */
const WATERMARK_CACHE = 10_000;
/** Watermarks outlive the sessions they end by this much, for clock skew between instances. */
const WATERMARK_SLACK_MS = EPOCH_SLACK_MS;

/**
 * The sealed-cookie session manager. Create one per app with {@link createSealedSessions}.
 * Operations that need server state (`list`, `revoke` by handle, `sweep`) are not part of its
 * type; called anyway (from JavaScript) they throw `ERR_UNSUPPORTED`.
 */
export class SealedSessions<Data extends SessionData = RegisteredData>
  extends ManagerBase
  implements SessionEngine<SealedSession<Data>>
{
  readonly #revocation: RevocationStore | null;
  readonly #cacheMs: number;
  readonly #marks = new Map<string, { until: number; value: Promise<number | null> }>();
  readonly #aad = new Map<string, string>();
  /** `; Path=/; HttpOnly; Secure; SameSite=Lax` — the attributes of a browser-session cookie. */
  readonly #suffix: string;

  constructor(options: SealedSessionsOptions<Data>) {
    if (options && typeof options === 'object') {
      for (const name of SERVER_ONLY) {
        if ((options as unknown as Record<string, unknown>)[name] !== undefined)
          throw unsupported(`The option "${name}"`);
      }
    }
    super(
      resolveOptions(
        {
          ...(options ?? ({} as SealedSessionsOptions<Data>)),
          store: NO_STORE,
          guessLimiter: false,
        },
        ['revocation'],
      ),
      clockSource(options?.revocation?.store),
    );
    const r = options.revocation;
    if (r !== undefined) {
      if (
        !r ||
        typeof r.store?.getWatermark !== 'function' ||
        typeof r.store.setWatermark !== 'function'
      )
        throw new TesseraError(
          'ERR_CONFIG',
          'revocation.store must be a RevocationStore: memoryRevocationStore() or revocationStoreFrom(store).',
        );
      const cacheMs = r.cacheMs ?? 5000;
      if (!(cacheMs >= 0 && Number.isFinite(cacheMs)))
        throw new TesseraError('ERR_CONFIG', 'revocation.cacheMs must be a number of ms ≥ 0.');
      this.#cacheMs = cacheMs;
    } else this.#cacheMs = 0;
    this.#revocation = r?.store ?? null;
    const ring = this.o.ring;
    this.#revocation?.useSlotTags?.((userId) => slotTagFor(ring, userId));
    const name = this.o.cookie.name;
    this.#suffix = serializeCookie(name, '', this.cookieAttrs(undefined)).slice(name.length + 1);
  }

  /**
   * Open the session a request carries. A missing, malformed, tampered, retired-key, expired
   * or revoked seal gives an anonymous session (and clears the cookie), never an error.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the revocation store fails (fails closed)
   */
  async load(req: RequestInfo): Promise<SealedSession<Data>> {
    const found = findCookie(req.cookie, this.o.cookie.name);
    if (found.kind === 'absent') return new SealedSession(this, req, null, false);
    if (found.kind !== 'one') return this.#invalid(req, found.kind, null);
    const opened = this.#open(found.value);
    if (typeof opened === 'string') return this.#invalid(req, opened, null);
    const { p, kid } = opened;
    this._tickClock();
    const now = this.o.now();
    if (p.absoluteExpiresAt <= now || p.idleExpiresAt <= now) {
      this.emit('expired', req, p, { reason: p.absoluteExpiresAt <= now ? 'absolute' : 'idle' });
      return this.#anonymous(req);
    }
    if (p.userId !== null && this.#revocation) {
      const mark = await this.#watermark(p.userId, false);
      if (revokedBy(p.issuedAt, mark)) {
        this.emit('revoked', req, p, { reason: 'watermark' });
        return this.#anonymous(req);
      }
    }
    if (this.o.validate) {
      try {
        p.data = this.o.validate(p.data) as Record<string, unknown>;
      } catch {
        return this.#invalid(req, 'invalid_data', p);
      }
    }
    const s = new SealedSession(this, req, p, true);
    // Refresh when the idle deadline would move by more than the touch fraction, and re-seal
    // under the primary key a seal made by an older key (so rotation migrates live sessions).
    const nextIdle = Math.min(now + this.o.idleMs, p.absoluteExpiresAt);
    if (nextIdle - p.idleExpiresAt > this.o.touchMs || kid !== this.o.ring.ids[0]) s._touch = true;
    return s;
  }

  #invalid(req: RequestInfo, reason: string, p: Payload | null): SealedSession<Data> {
    this.emit('token_invalid', req, p, { reason });
    return this.#anonymous(req);
  }

  #anonymous(req: RequestInfo): SealedSession<Data> {
    const s = new SealedSession(this, req, null, true);
    s._clear = true;
    return s;
  }

  #aadFor(kid: string): string {
    let a = this.#aad.get(kid);
    if (a === undefined) {
      a = `tessera/sealed/v1|${this.o.cookie.name}|${kid}`;
      this.#aad.set(kid, a);
    }
    return a;
  }

  #open(value: string): { p: Payload; kid: string } | string {
    if (!value.startsWith(FORMAT)) return 'malformed';
    const dot = value.indexOf('.', FORMAT.length);
    if (dot <= FORMAT.length) return 'malformed';
    const kid = value.slice(FORMAT.length, dot);
    const blob = value.slice(dot + 1);
    if (!isCanonicalBase64url(blob)) return 'malformed';
    const k = this.o.ring.get('seal', kid);
    if (!k) return 'unknown_key';
    const json = aeadOpen(k.key, blob, this.#aadFor(kid));
    if (json === null) return 'tampered';
    let p: Payload | null = null;
    try {
      p = toPayload(JSON.parse(json));
    } catch {
      // falls through to 'corrupt'
    }
    return p ? { p, kid } : 'corrupt';
  }

  /**
   * @internal A fresh payload for a new or newly signed-in session, or a re-authenticated one
   * (`reauthOf`: its absolute deadline, kept or restarted by the shared rule); a sign-in is
   * stamped (`authenticatedAt`, `issuedAt`) with `signedInAt`, when its request began.
   */
  _newPayload(
    userId: string | null,
    data: Record<string, unknown>,
    reauthOf: number | null = null,
    signedInAt = this.o.now(),
  ): Payload {
    const now = this.o.now();
    return {
      handle: newHandle(),
      userId,
      createdAt: now,
      authenticatedAt: userId === null ? null : signedInAt,
      issuedAt: userId === null ? now : signedInAt,
      lastSeenAt: now,
      // A sign-in's absolute deadline counts from its stamp (when its request began), so a seal
      // stamped at or before a revocation never outlives the watermark that ends it, however
      // long the request took (the watermark is kept for the absolute timeout plus a slack).
      ...sessionDeadlines(this.o, userId === null ? now : Math.min(now, signedInAt), reauthOf),
      binding: randomToken(BINDING_BYTES),
      data,
    };
  }

  /**
   * @internal Seal the session into a Set-Cookie value (moving the idle deadline).
   * @throws TesseraError `ERR_DATA_TOO_LARGE` when the Set-Cookie would exceed 4096 bytes
   */
  _seal(s: SealedSession<Data>): string {
    const p = s._p!;
    const now = this.o.now();
    const idle = Math.min(now + this.o.idleMs, p.absoluteExpiresAt);
    let json: string;
    try {
      json = JSON.stringify([
        1,
        p.handle,
        p.userId,
        p.createdAt,
        p.authenticatedAt,
        p.issuedAt,
        now,
        idle,
        p.absoluteExpiresAt,
        p.binding,
        p.data,
      ]);
    } catch (e) {
      throw new TesseraError('ERR_INVALID_DATA', 'Session data must be JSON-serialisable.', {
        cause: e,
      });
    }
    // A string longer than the limit in UTF-16 units is longer in bytes too: refuse it unsealed.
    if (json.length > MAX_COOKIE_BYTES) throw tooLarge(json.length);
    const { id, key } = this.o.ring.primary('seal');
    const value = `${FORMAT}${id}.${aeadSeal(key, json, this.#aadFor(id))}`;
    const c = this.o.cookie;
    // RFC 6265bis §5.6 caps name + value at 4096 bytes (and each attribute at 1024); the whole
    // Set-Cookie line is held to 4096 here, the conservative reading that every browser accepts.
    if (c.name.length + value.length > MAX_COOKIE_BYTES)
      throw tooLarge(c.name.length + value.length);
    // The value is base64url, dots and a key id, so only a persistent cookie (Max-Age changes)
    // needs the full serialiser; a browser-session cookie reuses its attributes.
    const header = c.persistent
      ? serializeCookie(
          c.name,
          value,
          this.cookieAttrs(Math.ceil((p.absoluteExpiresAt - now) / 1000)),
        )
      : `${c.name}=${value}${this.#suffix}`;
    if (header.length > MAX_COOKIE_BYTES) throw tooLarge(header.length);
    p.lastSeenAt = now;
    p.idleExpiresAt = idle;
    return header;
  }

  /**
   * Seal what the request changed and tell the adapter which cookie to send. Idempotent.
   * @throws TesseraError `ERR_DATA_TOO_LARGE` when the cookie would exceed 4096 bytes (no cookie
   *   is sent, never a truncated one), `ERR_INVALID_DATA` for data that is not JSON
   */
  async commit(s: SealedSession<Data>): Promise<CommitResult> {
    const setCookie = this.#commit(s);
    return { setCookie, private: setCookie !== null || s._hadCookie || s._state !== 'anonymous' };
  }

  #commit(s: SealedSession<Data>): string | null {
    if (s._state === 'active' && (s._dirty || s._touch)) {
      const header = s._cookie ?? this._seal(s);
      const p = s._p!;
      if (s._created) this.emit('created', s._req, p);
      if (s._keys) this.emit('updated', s._req, p, { keys: [...s._keys] });
      else if (!s._created && !s._dirty) this.emit('touched', s._req, p);
      s._cookie = null;
      s._dirty = false;
      s._touch = false;
      s._created = false;
      s._keys = null;
      return header;
    }
    if (s._clear && s._hadCookie) {
      s._clear = false;
      s._hadCookie = false;
      return this.clearCookie();
    }
    return null;
  }

  /**
   * Whether a response that starts streaming before the commit depends on this session (see
   * `SessionEngine.streamsPrivate`, src/core/contract.ts): public, it is the adapters' contract.
   */
  streamsPrivate(s: SealedSession<Data>): boolean {
    return s.state !== 'anonymous' || s._hadCookie;
  }

  commitCookieNow(s: SealedSession<Data>): string {
    return this.#commit(s) ?? '';
  }

  /**
   * Check an unsafe request against CSRF: the header half (Sec-Fetch-Site, Origin, Referer —
   * the same check as the server-side engine) and the signed double-submit token. Safe methods
   * pass. Emits `csrf_rejected` on failure; in `reportOnly` mode reports but lets it through.
   */
  verifyCSRF(s: SealedSession<Data>, req: CSRFRequest, presented: string | undefined): CSRFResult {
    if (!this.o.csrf.enabled || isSafeMethod(req.method)) return { ok: true };
    let reason = checkRequestOrigin(req, this.o.csrf.origins, {
      allowSameSite: this.o.csrf.allowSameSite,
    });
    if (!reason) {
      if (!presented) reason = 'missing_token';
      else if (!s._p) reason = 'no_session';
      else if (!verifyDoubleSubmit(this.o.ring, bindingOf(s._p), presented)) reason = 'bad_token';
    }
    if (!reason) return { ok: true };
    this.emit('csrf_rejected', s._req, s._p, { reason });
    return this.o.csrf.reportOnly ? { ok: true } : { ok: false, reason };
  }

  async #watermark(userId: string, fresh: boolean): Promise<number | null> {
    const store = this.#requireRevocation();
    const now = this.o.now();
    let value: Promise<number | null> | undefined;
    if (!fresh && this.#cacheMs > 0) {
      const hit = this.#marks.get(userId);
      if (hit && hit.until > now) value = hit.value;
    }
    if (value === undefined) {
      try {
        value = store.getWatermark(userId);
      } catch (e) {
        value = Promise.reject(e);
      }
      if (this.#cacheMs > 0) this.#remember(userId, now, value);
    }
    try {
      return await value;
    } catch (e) {
      // Failures are never cached: the next request asks the store again.
      if (this.#marks.get(userId)?.value === value) this.#marks.delete(userId);
      throw this.#storeError(e);
    }
  }

  #remember(userId: string, now: number, value: Promise<number | null>): void {
    this.#marks.delete(userId);
    if (this.#marks.size >= WATERMARK_CACHE)
      this.#marks.delete(this.#marks.keys().next().value as string);
    // A rejected lookup is handled by its caller; keep this copy from being "unhandled".
    value.catch(() => {});
    this.#marks.set(userId, { until: now + this.#cacheMs, value });
  }

  /** @internal What a `store_error` log line names: sealed mode's only store. */
  protected override get storeName(): string {
    return 'revocation';
  }

  #storeError(e: unknown): TesseraError {
    const err = isTesseraError(e) ? e : storeUnavailable('revocation', e);
    this.emit('store_error', null, null, { reason: err.code }, err);
    return err;
  }

  #requireRevocation(): RevocationStore {
    if (this.#revocation) return this.#revocation;
    throw new TesseraError(
      'ERR_UNSUPPORTED',
      'Revoking sealed sessions needs a revocation store: createSealedSessions({ revocation: { store: revocationStoreFrom(store) } }) (see docs/sealed.md).',
    );
  }

  async #raise(userId: string, at: number): Promise<void> {
    const store = this.#requireRevocation();
    try {
      await store.setWatermark(userId, at, at + this.o.absoluteMs + WATERMARK_SLACK_MS);
    } catch (e) {
      throw this.#storeError(e);
    }
    if (this.#cacheMs > 0) this.#remember(userId, this.o.now(), Promise.resolve(at));
  }

  /**
   * Sign a user out everywhere: every sealed session of `userId` issued up to now (including a
   * sign-in whose request began before this call) stops opening — at once on this instance, and
   * on others within `revocation.cacheMs`. Returns once the clock has moved past the watermark,
   * so a sign-in begun afterwards is not caught by it.
   * @throws TesseraError `ERR_UNSUPPORTED` without a revocation store, `ERR_STORE_UNAVAILABLE`,
   *   `ERR_INVALID_ID` (400) for a user id that is not a valid id
   * @example await sessions.revokeAll(user.id)
   */
  async revokeAll(userId: string): Promise<void> {
    checkId('userId', userId, 'revokeAll()');
    const at = this.o.now();
    await this.#raise(userId, at);
    this.emit('revoked', null, { handle: '', userId }, { reason: 'all' });
    await clockPast(this.o.now, at);
  }

  /**
   * Sign a user out of every other session: raises the watermark and re-issues this session
   * after it (in this response's cookie). Reads the watermark uncached first, so a session that
   * was itself revoked cannot use this to outlive the revocation.
   * @returns true, or false when this session has no user or was already revoked (it then ends)
   * @throws TesseraError `ERR_UNSUPPORTED` without a revocation store, `ERR_STORE_UNAVAILABLE`
   */
  async revokeOthers(s: SealedSession<Data>): Promise<boolean> {
    this.#requireRevocation();
    const p = s._p;
    if (!p || p.userId === null || s._state !== 'active') return false;
    const mark = await this.#watermark(p.userId, true);
    if (revokedBy(p.issuedAt, mark)) {
      this.emit('revoked', s._req, p, { reason: 'watermark' });
      await s.destroy();
      return false;
    }
    const at = this.o.now();
    await this.#raise(p.userId, at);
    await clockPast(this.o.now, at);
    // Re-issued after the watermark (a frozen test clock may not have moved: then 1 ms after).
    s._p = { ...p, issuedAt: Math.max(this.o.now(), at + 1) };
    s._dirty = true;
    s._cookie = null;
    this.emit('revoked', s._req, p, { reason: 'others' });
    return true;
  }

  /** Nothing to release (no store); present so shutdown code works with either engine. */
  async close(): Promise<void> {}
}

function tooLarge(size: number): TesseraError {
  return new TesseraError(
    'ERR_DATA_TOO_LARGE',
    `The sealed session would not fit in a ${MAX_COOKIE_BYTES}-byte cookie: keep large data in a server-side store.`,
    { details: { size, limit: MAX_COOKIE_BYTES } },
  );
}

// Not part of the type, so TypeScript users never see them; JavaScript callers get a typed error
// instead of "is not a function".
for (const name of ['list', 'revoke', 'sweep'] as const) {
  Object.defineProperty(SealedSessions.prototype, name, {
    value: () => Promise.reject(unsupported(`${name}()`)),
    writable: true,
    configurable: true,
  });
}

/**
 * Create a sealed-cookie session manager: no session store; the session lives in an encrypted,
 * authenticated cookie.
 * @param options - keys, timeouts, cookie, CSRF and an optional revocation store; see {@link SealedSessionsOptions}
 * @returns the manager (`load`, `commit`, `verifyCSRF`, `revokeAll`, …)
 * @throws TesseraError `ERR_CONFIG` / `ERR_KEY` for a wrong or insecure configuration,
 *   `ERR_UNSUPPORTED` for an option that needs server state (`store`, `sessionLimit`, …)
 * @example
 * ```ts
 * const sessions = createSealedSessions({ keys: loadKeys({ env: process.env.TESSERA_KEYS, dir: '.data' }) })
 * const s = await sessions.load({ cookie: req.headers.cookie, method: req.method })
 * s.set('theme', 'dark')
 * const { setCookie } = await sessions.commit(s)
 * ```
 */
export function createSealedSessions<Data extends SessionData = RegisteredData>(
  options: SealedSessionsOptions<Data>,
): SealedSessions<Data> {
  return new SealedSessions<Data>(options);
}
