/**
 * The session engine: load / create / touch / regenerate / authenticate / destroy / revoke /
 * list, CSRF and freshness, with events. Framework-agnostic: adapters translate a request into
 * a {@link RequestInfo}, call {@link SessionManager.load}, run the handler, then call
 * {@link SessionManager.commit} and apply the cookie it returns.
 */
import { clockSource } from './clock.js';
import {
  type DataBinding,
  type DecodeResult,
  decodeData,
  encodeData,
  type Grace,
  isSealedData,
} from './codec.js';
import type { CommitResult, CSRFResult, RequestInfo, SessionEngine } from './contract.js';
import { findCookie, serializeCookie } from './cookie.js';
import {
  type CSRFRejection,
  type CSRFRequest,
  checkRequestOrigin,
  csrfTokenFor,
  isSafeMethod,
  verifyCSRFToken,
} from './csrf.js';
import { isTesseraError, storeUnavailable, TesseraError } from './errors.js';
import { FollowUps } from './follow-up.js';
import { checkId } from './ids.js';
import { clientBucket } from './limiter.js';
import { ManagerBase } from './manager-base.js';
import { resolveOptions, type SessionData, type SessionsOptions } from './options.js';
import type { RegisteredData } from './register.js';
import { clockPast, epochExpiresAt, requestStart } from './revocation.js';
import { assertDataKey, sessionDeadlines } from './rules.js';
import {
  mintToken,
  newHandle,
  newSecret,
  type ParsedToken,
  slotTagFor,
  tagOfId,
  verifyToken,
  visitorSlotTag,
} from './token.js';
import type {
  SessionRecord,
  SessionStore,
  SignInOptions,
  SignInResult,
  StoreEntry,
} from './types.js';

/** The request facts the engine needs; adapters fill it in. */
export type { CommitResult, CSRFResult, RequestInfo } from './contract.js';

/** The public view of a session for lists: never the token. */
export interface SessionInfo {
  handle: string;
  userId: string | null;
  createdAt: number;
  lastSeenAt: number;
  authenticatedAt: number | null;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  ip: string | null;
  userAgent: string | null;
  createdIp: string | null;
  createdUserAgent: string | null;
}

/** Which data survives a rotation. */
export type KeepData<Data> = 'all' | 'none' | readonly (keyof Data & string)[];

/** Options of {@link Session.regenerate}. */
export interface RegenerateOptions<Data> {
  /** @default 'all' */
  keep?: KeepData<Data>;
  /** Seconds the old token may still serve safe requests; capped by the engine's setting. @default the engine's rotationGrace */
  grace?: number;
}

/** Options of {@link Session.authenticate}. */
export interface AuthenticateOptions<Data> {
  /** @default 'all' for an anonymous session or the same user, 'none' when the user changes */
  keep?: KeepData<Data>;
}

/** The state of a {@link Session}. */
export type SessionState =
  /** No stored session: a visitor who has stored nothing (maybe with a pre-session CSRF cookie). */
  | 'anonymous'
  /** A stored, live session. */
  | 'active'
  /** Served read-only through a rotated-out token inside its grace window. */
  | 'grace'
  /** Destroyed during this request. */
  | 'destroyed';

type Patch = Map<
  string,
  { value: unknown } | { fn: (current: unknown) => unknown } | { del: true }
>;

/** How many verified tokens the engine remembers (about 200 B each). */
const VERIFIED_CACHE = 10_000;
/** How many opened seals the engine remembers, and how many characters of sealed data at most. */
const OPENED_CACHE = 10_000;
const OPENED_CACHE_CHARS = 4_000_000;

/** A seal that opened for these record fields (codec.ts), remembered so a read-only load can skip it. */
interface OpenedSeal {
  binding: DataBinding;
  grace: Grace | null;
}

function sameBinding(a: DataBinding, b: DataBinding): boolean {
  return (
    a.id === b.id &&
    a.handle === b.handle &&
    a.userId === b.userId &&
    a.authenticatedAt === b.authenticatedAt &&
    a.absoluteExpiresAt === b.absoluteExpiresAt
  );
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * One request's view of a session. Data writes (`set`, `unset`, `update`) are collected and
 * saved by the adapter when the response is sent, as a versioned patch merged onto the latest
 * stored version; `authenticate`, `regenerate` and `destroy` hit the store at once.
 */
export class Session<Data extends SessionData = RegisteredData> {
  /** @internal */ _m: SessionManager<Data>;
  /** @internal */ _rec: SessionRecord | null;
  /** @internal */ _state: SessionState;
  /** @internal */ _parsed: ParsedToken | null;
  /** @internal the token to set in the response cookie, if it changed */
  _newToken: string | null = null;
  /** @internal a token minted before the commit (streaming), used by the commit's create */
  _reserved: { token: string; parsed: ParsedToken } | null = null;
  /** @internal clear the cookie in the response */ _clear = false;
  /** @internal */ _patch: Patch | null = null;
  /** @internal */ _data: Record<string, unknown> | null = null;
  /** @internal the grace the record's seal grants its rotated-out token (codec.ts), carried by writes */
  _grace: Grace | null = null;
  /** @internal touch due at commit */ _touch = false;
  /** @internal */ _req: RequestInfo;
  /** @internal the request carried a session cookie */ _hadCookie: boolean;
  /** @internal when the request began: the `authenticatedAt` of a sign-in in it */
  _loadedAt: number;

  /** @internal */
  constructor(
    m: SessionManager<Data>,
    req: RequestInfo,
    state: SessionState,
    rec: SessionRecord | null,
    parsed: ParsedToken | null,
    hadCookie: boolean,
  ) {
    this._m = m;
    this._req = req;
    this._loadedAt = requestStart(req.startedAt, m.now());
    this._state = state;
    this._rec = rec;
    this._parsed = parsed;
    this._hadCookie = hadCookie;
  }

  /** `anonymous`, `active`, `grace` (read-only) or `destroyed`. */
  get state(): SessionState {
    return this._state;
  }
  /** Whether a stored session backs this request. */
  get isActive(): boolean {
    return this._state === 'active' || this._state === 'grace';
  }
  /** The public handle (lists, revocation), or null without a stored session. */
  get handle(): string | null {
    return this._rec?.handle ?? null;
  }
  /** The signed-in user, or null. */
  get userId(): string | null {
    return this._rec?.userId ?? null;
  }
  get createdAt(): number | null {
    return this._rec?.createdAt ?? null;
  }
  get lastSeenAt(): number | null {
    return this._rec?.lastSeenAt ?? null;
  }
  get authenticatedAt(): number | null {
    return this._rec?.authenticatedAt ?? null;
  }
  /** The idle deadline the server enforces (epoch ms), including a touch this request will write. */
  get idleExpiresAt(): number | null {
    const rec = this._rec;
    if (!rec) return null;
    // A touch this request will write moves the deadline; report the one the server will enforce.
    if (this._touch && this._state === 'active') {
      return Math.max(
        rec.idleExpiresAt,
        Math.min(this._m.now() + this._m.o.idleMs, rec.absoluteExpiresAt),
      );
    }
    return rec.idleExpiresAt;
  }
  get absoluteExpiresAt(): number | null {
    return this._rec?.absoluteExpiresAt ?? null;
  }
  /** The public view of this session, or null without a stored session. */
  get info(): SessionInfo | null {
    return this._rec ? toInfo(this._rec) : null;
  }

  /** The session data with this request's pending changes applied (decoded on first use). */
  get data(): Readonly<Partial<Data>> {
    const base = this._base();
    if (!this._patch) return base as Partial<Data>;
    return applyPatch(base, this._patch) as Partial<Data>;
  }

  /** One data value. */
  get<K extends keyof Data & string>(key: K): Data[K] | undefined {
    const p = this._patch?.get(key);
    if (p) {
      if ('del' in p) return undefined;
      if ('value' in p) return p.value as Data[K];
      return p.fn(this._base()[key]) as Data[K];
    }
    return this._base()[key] as Data[K] | undefined;
  }

  /**
   * Set a data value. Saved when the response is sent.
   * @throws TesseraError `ERR_SESSION_READ_ONLY` in a grace window or after destroy;
   *   `ERR_INVALID_DATA` for the key `__proto__`
   */
  set<K extends keyof Data & string>(key: K, value: Data[K]): void {
    this._writable(key);
    if (value === undefined) {
      this.unset(key);
      return;
    }
    this._patchMap().set(key, { value });
  }

  /** Remove a data key. */
  unset<K extends keyof Data & string>(key: K): void {
    this._writable(key);
    this._patchMap().set(key, { del: true });
  }

  /**
   * Read-modify-write of one key that never loses a parallel update: `fn` is re-applied to the
   * latest stored value if another request wrote first (use it for counters).
   * @example session.update('count', (n) => (n ?? 0) + 1)
   */
  update<K extends keyof Data & string>(
    key: K,
    fn: (current: Data[K] | undefined) => Data[K] | undefined,
  ): void {
    this._writable(key);
    const prev = this._patch?.get(key);
    const chained =
      prev && 'fn' in prev
        ? (c: unknown) => fn(prev.fn(c) as Data[K])
        : prev && 'value' in prev
          ? () => fn(prev.value as Data[K])
          : prev
            ? () => fn(undefined)
            : (c: unknown) => fn(c as Data[K]);
    this._patchMap().set(key, { fn: chained as (c: unknown) => unknown });
  }

  /**
   * Whether the user signed in (or re-authenticated) within `maxAge` seconds.
   * @param maxAge - seconds
   */
  isFresh(maxAge: number): boolean {
    const at = this._rec?.authenticatedAt;
    return at != null && this._m.now() - at <= maxAge * 1000;
  }

  /**
   * The CSRF synchronizer token for this session (no store write). A visitor without a session
   * gets a pre-session cookie (no store write either) that the token is bound to.
   */
  csrfToken(): string {
    if (!this._parsed) {
      const { token, parsed } = mintToken(this._m.ring, 'p');
      this._parsed = parsed;
      this._newToken = token;
      this._clear = false;
    }
    return csrfTokenFor(this._m.ring, this._parsed.secret);
  }

  /**
   * Sign a user in: rotate the token with no grace (a pre-login token never reads the signed-in
   * session), stamp `authenticatedAt` with the moment the request began (see
   * {@link RequestInfo.startedAt}), restart both deadlines. Calling it again for the same user
   * is a re-authentication: the token rotates with the normal grace, the handle stays, and the
   * absolute deadline restarts unless `reauthRestartsAbsolute` is false (NIST SP 800-63B-4 §5.2). Over
   * another user's session it starts a new session (new handle and family; data dropped unless
   * `keep` says otherwise) and deletes the previous user's.
   * @throws TesseraError `ERR_SESSION_LIMIT` when the per-user limit rejects the login;
   *   `ERR_SESSION_REVOKED` (401) when the user's sessions were revoked after this request began
   *   (a password change, "sign out everywhere"): the user must sign in again; `ERR_INVALID_ID`
   *   (400) for a user id that is empty, too long, holds NUL or is not well-formed UTF-16
   */
  async authenticate(userId: string, options: AuthenticateOptions<Data> = {}): Promise<void> {
    checkId('userId', userId, 'authenticate()');
    return this._m._authenticate(this, userId, options);
  }

  /** Issue a new token for the same session (same handle); the old token dies after the grace. */
  async regenerate(options: RegenerateOptions<Data> = {}): Promise<void> {
    return this._m._regenerate(this, options);
  }

  /**
   * End the session (logout): delete it and every rotated-out token of it, clear the cookie.
   * @throws TesseraError `ERR_SESSION_READ_ONLY` through a rotated-out token in its grace window
   */
  async destroy(): Promise<void> {
    return this._m._destroy(this);
  }

  /** Save pending data now rather than when the response is sent. */
  async save(): Promise<void> {
    await this._m._save(this);
  }

  /** @internal */
  _patchMap(): Patch {
    if (!this._patch) this._patch = new Map();
    return this._patch;
  }

  /** @internal */
  _base(): Record<string, unknown> {
    if (this._data) return this._data;
    if (!this._rec) return EMPTY as Record<string, unknown>;
    this._data = this._m._decode(this._rec);
    return this._data;
  }

  /** @internal */
  _writable(key?: string): void {
    if (key !== undefined) assertDataKey(key);
    if (this._state === 'grace' || this._state === 'destroyed') {
      throw new TesseraError(
        'ERR_SESSION_READ_ONLY',
        this._state === 'grace'
          ? 'This session is served read-only through a rotated-out token.'
          : 'This session was destroyed.',
      );
    }
  }
}

function applyPatch(base: Record<string, unknown>, patch: Patch): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, p] of patch) {
    if ('del' in p) delete out[k];
    else if ('value' in p) out[k] = p.value;
    else {
      const v = p.fn(base[k]);
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
  }
  return out;
}

/** Make `s` the active session `rec` (token `parsed`), with `cookieToken` to send, if any. */
function activate<Data extends SessionData>(
  s: Session<Data>,
  rec: SessionRecord,
  parsed: ParsedToken,
  data: Record<string, unknown> | null,
  cookieToken: string | null,
): void {
  s._rec = rec;
  s._parsed = parsed;
  s._data = data;
  s._grace = null;
  s._state = 'active';
  s._newToken = cookieToken;
  s._clear = false;
  s._touch = false;
}

/** The public view of a stored session (what `list()` returns; the CLI's `--json` rows). */
export function toInfo(r: SessionRecord): SessionInfo {
  return {
    handle: r.handle,
    userId: r.userId,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    authenticatedAt: r.authenticatedAt,
    idleExpiresAt: r.idleExpiresAt,
    absoluteExpiresAt: r.absoluteExpiresAt,
    ip: r.lastIp,
    userAgent: r.lastUserAgent,
    createdIp: r.createdIp,
    createdUserAgent: r.createdUserAgent,
  };
}

function keepData(
  data: Record<string, unknown>,
  keep: KeepData<SessionData>,
): Record<string, unknown> {
  if (keep === 'all') return data;
  if (keep === 'none') return {};
  const out: Record<string, unknown> = {};
  for (const k of keep) if (Object.hasOwn(data, k)) out[k] = data[k];
  return out;
}

/**
 * The session engine. Create one per app with {@link createSessions}.
 */
export class SessionManager<Data extends SessionData = RegisteredData>
  extends ManagerBase
  implements SessionEngine<Session<Data>>
{
  readonly #verified = new Map<string, ParsedToken>();
  /**
   * Sealed data already opened for a record's fields, keyed by the sealed text itself (bounded,
   * FIFO): a returning session whose record has not changed skips the AES-GCM open on load, and
   * its data is opened only if the request reads it. A changed field or changed data misses.
   */
  readonly #opened = new Map<string, OpenedSeal>();
  #openedChars = 0;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** The last record a queued commit wrote, per handle, while its queue is not empty. */
  readonly #latest = new Map<string, SessionRecord>();
  /** Deletes of records a failed write may still have made, that nobody holds a token for. */
  readonly #orphans = new FollowUps((reason, rec) =>
    this.emit('store_error', null, rec, { reason }),
  );

  async #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(key);
    const run = prev ? prev.then(fn, fn) : fn();
    const tail = run.catch(() => {});
    this.#queues.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#queues.get(key) === tail) {
        this.#queues.delete(key);
        this.#latest.delete(key);
      }
    }
  }

  constructor(options: SessionsOptions<Data>) {
    super(resolveOptions(options), clockSource(options.store));
    // A store that keeps a user's sessions in one slot names the user's index and epoch with the
    // very tag the engine puts in that user's ids and handles.
    if (this.o.store.slotTags === true) {
      const ring = this.o.ring;
      this.o.store.useSlotTags?.((userId) => slotTagFor(ring, userId));
    }
  }

  /** The store. */
  get store(): SessionStore {
    return this.o.store;
  }

  /** @internal wrap a store call: failures become ERR_STORE_UNAVAILABLE plus a `store_error` event. */
  async _io<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      const err = isTesseraError(e) ? e : storeUnavailable(this.o.store.name, e);
      if (err.code === 'ERR_STORE_UNAVAILABLE' || err.code === 'ERR_STORE_CORRUPT') {
        this.emit('store_error', null, null, { reason: err.code }, err);
      }
      throw err;
    }
  }

  /**
   * Load the session a request carries. Expected outcomes (no cookie, malformed, forged, unknown,
   * expired) give an anonymous session, never an error.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the store fails (adapters answer 503)
   */
  async load(req: RequestInfo): Promise<Session<Data>> {
    this._tickClock();
    const found = findCookie(req.cookie, this.o.cookie.name);
    if (found.kind === 'absent') return new Session(this, req, 'anonymous', null, null, false);
    if (found.kind !== 'one') return this.#invalid(req, found.kind);
    // Verified tokens are remembered (bounded, FIFO): a returning visitor costs a map lookup
    // instead of an HMAC and a SHA-256. Only tokens that passed the MAC check ever enter.
    let parsed = this.#verified.get(found.value);
    if (parsed === undefined) {
      const r = verifyToken(this.o.ring, found.value);
      if (typeof r === 'string') return this.#invalid(req, r);
      parsed = r;
      if (this.#verified.size >= VERIFIED_CACHE)
        this.#verified.delete(this.#verified.keys().next().value as string);
      this.#verified.set(found.value, parsed);
    }
    if (parsed.kind === 'p') return new Session(this, req, 'anonymous', null, parsed, true);
    const entry = await this._io(this.o.store.get(parsed.id));
    return this.#fromEntry(req, parsed, entry);
  }

  /**
   * A cookie that opens no session: event, then "no session". Only a token whose MAC fails
   * (`bad_mac`) counts as a guess; a genuine token whose record is gone does not (limiter.ts).
   */
  async #invalid(req: RequestInfo, reason: string): Promise<Session<Data>> {
    this.emit('token_invalid', req, null, { reason });
    const limiter = this.o.guessLimiter;
    if (limiter && req.ip && reason === 'bad_mac') {
      const { delayMs, firstOverLimit } = limiter.hit(clientBucket(req.ip), this.o.now());
      if (firstOverLimit) this.emit('guessing_suspected', req, null, { reason });
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    }
    return this.#anonymous(req);
  }

  #anonymous(req: RequestInfo): Session<Data> {
    const s = new Session(this, req, 'anonymous', null, null, true);
    s._clear = true;
    return s;
  }

  async #fromEntry(
    req: RequestInfo,
    parsed: ParsedToken,
    entry: StoreEntry | null,
    resynced = false,
  ): Promise<Session<Data>> {
    const now = this.o.now();
    if (entry === null) return this.#invalid(req, 'unknown');
    if (entry.kind === 'rotated') {
      if (entry.reason === 'regenerate' && now < entry.graceUntil && entry.expiresAt > now) {
        if (!isSafeMethod(req.method)) {
          this.emit('token_grace_used', req, entry, { reason: 'unsafe_method' });
          return new Session(this, req, 'anonymous', null, null, true);
        }
        const live = await this._io(this.o.store.getByHandle(entry.handle));
        if (
          live &&
          live.idleExpiresAt > now &&
          live.absoluteExpiresAt > now &&
          !this.#strayed(live)
        ) {
          const r = this.#openRecord(live);
          if (r !== null && !r.ok) return this.#corrupt(req, r.reason);
          // With sealed data, the live record's own seal must name this token and its window:
          // the tombstone alone is the store's word (codec.ts).
          if (r === null || (r.grace?.id === entry.id && now < r.grace.until)) {
            this.emit('token_grace_used', req, entry);
            const g = new Session(this, req, 'grace', live, parsed, true);
            g._data = r?.value ?? null;
            return g;
          }
          this.emit('token_invalid', req, entry, { reason: 'rotated' });
        }
        return this.#anonymous(req);
      }
      // Just past the grace by this instance's clock, but within the skew allowance: by the
      // clock of the instance that rotated it, it may still be inside. Refused, but no theft
      // signal, and the cookie is kept: the client may hold the new token under that name.
      if (
        entry.reason === 'regenerate' &&
        entry.expiresAt > now &&
        now - entry.graceUntil < this._clockAllowance()
      ) {
        this.emit('token_invalid', req, entry, { reason: 'rotated_skew' });
        return new Session(this, req, 'anonymous', null, null, true);
      }
      if (entry.reason === 'regenerate' && entry.userId !== null && entry.expiresAt > now) {
        // A theft signal revokes the family for every instance: judge it once more on a fresh
        // sample of the store's clock (it may have been stepped since the last one).
        if (!resynced && (await this._resyncClock())) {
          return this.#fromEntry(req, parsed, entry, true);
        }
        this.emit('theft_suspected', req, entry, { reason: 'rotated_token_reuse' });
        if (this.o.theftPolicy === 'revoke') {
          const n = await this._io(this.o.store.deleteByHandle(entry.handle));
          if (n > 0) this.emit('revoked', req, entry, { reason: 'theft' });
        }
      } else {
        this.emit('token_invalid', req, entry, {
          reason: entry.reason === 'login' ? 'rotated_by_login' : 'rotated',
        });
      }
      return this.#anonymous(req);
    }
    if (entry.absoluteExpiresAt <= now || entry.idleExpiresAt <= now) {
      // Deleting cannot be undone: before a deletion, judge once more on a fresh sample of the
      // store's clock (it may have been stepped since the last one).
      const due = Math.min(entry.absoluteExpiresAt, entry.idleExpiresAt);
      if (!resynced && now - due >= this._clockAllowance() && (await this._resyncClock())) {
        return this.#fromEntry(req, parsed, entry, true);
      }
      this.emit('expired', req, entry, {
        reason: entry.absoluteExpiresAt <= now ? 'absolute' : 'idle',
      });
      // Deleting ends the session for every instance: only once it is expired by more than the
      // clocks may disagree. Short of that it is not served here (nor is the cookie cleared),
      // and the store's TTL or sweep removes it (DESIGN decision 13).
      const deadline = Math.min(entry.absoluteExpiresAt, entry.idleExpiresAt);
      if (now - deadline < this._clockAllowance()) {
        return new Session(this, req, 'anonymous', null, null, true);
      }
      await this._io(this.o.store.deleteByHandle(entry.handle));
      return this.#anonymous(req);
    }
    if (this.#strayed(entry)) {
      this.emit('token_invalid', req, entry, { reason: 'slot_tag' });
      return this.#anonymous(req);
    }
    // With encryption on, the record's data is opened now: its seal is what vouches for the
    // record's user, sign-in time and deadlines (codec.ts), so a record that fails to open is
    // no session at all — not a session whose data cannot be read.
    const known = this.#opened.get(entry.data);
    const s = new Session(this, req, 'active', entry, parsed, true);
    if (known !== undefined && sameBinding(known.binding, entry)) {
      s._grace = known.grace;
    } else {
      const opened = this.#openRecord(entry);
      if (opened !== null && !opened.ok) return this.#corrupt(req, opened.reason);
      if (opened) {
        s._data = opened.value;
        s._grace = opened.grace;
        this.#rememberOpened(entry, opened.grace);
      }
    }
    if (this.o.validate) {
      try {
        s._data = this.o.validate(s._data ?? this._decode(entry)) as Record<string, unknown>;
      } catch (e) {
        this.emit('token_invalid', req, entry, {
          reason: isTesseraError(e, 'ERR_STORE_CORRUPT') ? 'corrupt_data' : 'invalid_data',
        });
        await this._io(this.o.store.deleteByHandle(entry.handle));
        return this.#anonymous(req);
      }
    }
    // Binding signals (OWASP Session Management Cheat Sheet, "Binding the Session ID to Other User Properties").
    // A missing User-Agent counts as a change (else omitting it would dodge the check); the
    // touch then records it, so the next request like it is no change.
    const ua = req.userAgent ?? null;
    if (
      this.o.userAgentPolicy !== 'off' &&
      ua !== entry.lastUserAgent &&
      entry.lastUserAgent !== null
    ) {
      this.emit('user_agent_changed', req, entry);
      if (this.o.userAgentPolicy === 'revoke') {
        await this._io(this.o.store.deleteByHandle(entry.handle));
        this.emit('revoked', req, entry, { reason: 'user_agent_changed' });
        return this.#anonymous(req);
      }
      s._touch = true;
    }
    const ip = req.ip ?? null;
    if (ip !== entry.lastIp && ip !== null) {
      if (this.o.ipPolicy === 'event' && entry.lastIp !== null) this.emit('ip_changed', req, entry);
      s._touch = true;
    }
    const nextIdle = Math.min(now + this.o.idleMs, entry.absoluteExpiresAt);
    // Touch when it moves the deadline enough, and once more when it reaches the absolute cap,
    // so an active session is not ended by idleness just short of its absolute deadline.
    if (
      nextIdle - entry.idleExpiresAt > this.o.touchMs ||
      (nextIdle === entry.absoluteExpiresAt && entry.idleExpiresAt < nextIdle)
    ) {
      s._touch = true;
    }
    return s;
  }

  /**
   * A loaded record's data opened now, when it must be verified (encryption on, or sealed data),
   * or null when it may be decoded lazily (plain JSON with encryption off).
   */
  #openRecord(rec: SessionRecord): DecodeResult | null {
    if (!this.o.encrypt && !isSealedData(rec.data)) return null;
    return decodeData(this.o.ring, rec.data, rec, this.o.encrypt);
  }

  #rememberOpened(rec: SessionRecord, grace: Grace | null): void {
    const { id, handle, userId, authenticatedAt, absoluteExpiresAt } = rec;
    if (this.#opened.has(rec.data)) return;
    this.#opened.set(rec.data, {
      binding: { id, handle, userId, authenticatedAt, absoluteExpiresAt },
      grace,
    });
    this.#openedChars += rec.data.length;
    while (this.#opened.size > OPENED_CACHE || this.#openedChars > OPENED_CACHE_CHARS) {
      const oldest = this.#opened.keys().next().value as string;
      this.#opened.delete(oldest);
      this.#openedChars -= oldest.length;
    }
  }

  /** Data and grace of a record (for a write that re-seals it); ERR_STORE_CORRUPT if it does not open. */
  #decodeFull(rec: SessionRecord): { value: Record<string, unknown>; grace: Grace | null } {
    const r = decodeData(this.o.ring, rec.data, rec, this.o.encrypt);
    if (!r.ok) {
      throw new TesseraError(
        'ERR_STORE_CORRUPT',
        `Session data could not be opened (${r.reason}).`,
      );
    }
    return r;
  }

  /**
   * A record whose data does not open for it: no session. A 0.1.0 record (`legacy`) is an
   * expected upgrade outcome; anything else means the store was written by someone else.
   */
  #corrupt(req: RequestInfo, reason: string): Session<Data> {
    if (reason === 'legacy') {
      this.emit('token_invalid', req, null, { reason: 'legacy_data' });
    } else {
      this.emit('store_error', req, null, { reason: 'ERR_STORE_CORRUPT' });
      this.emit('token_invalid', req, null, { reason: 'corrupt_data' });
    }
    return this.#anonymous(req);
  }

  /**
   * A new session token. On a store that asks for slot tags (DESIGN decision 10) it carries a
   * keyed one: the user's for a sign-in, else one of its own (from its secret, so that parallel
   * first writes from one pre-session cookie still mint one token); the session's handle then
   * carries the same tag, so its record, handle and family — and a user's index — share a slot.
   */
  #mint(
    userId: string | null,
    secret: string = newSecret(),
  ): { token: string; parsed: ParsedToken } {
    let tag = '';
    if (this.o.store.slotTags === true) {
      tag = userId === null ? visitorSlotTag(this.o.ring, secret) : slotTagFor(this.o.ring, userId);
    }
    return mintToken(this.o.ring, 's', tag, secret);
  }

  /**
   * Whether a signed-in record lives outside its user's slot on a tagging store: it was tagged
   * under another slot subkey (the ring's oldest key has retired since) or by another engine.
   * Such a session is out of reach of its user's index (`revokeAll`, lists, the limit), so it is
   * no session.
   */
  #strayed(rec: SessionRecord): boolean {
    return (
      rec.userId !== null &&
      this.o.store.slotTags === true &&
      tagOfId(rec.id) !== slotTagFor(this.o.ring, rec.userId)
    );
  }

  /** @internal decode stored data; corrupt, tampered or (with encryption on) unsealed data is an ERR_STORE_CORRUPT. */
  _decode(rec: SessionRecord): Record<string, unknown> {
    return this.#decodeFull(rec).value;
  }

  /** Encode data sealed to the record fields in `binding` (codec.ts): call it whenever one changes. */
  #encode(data: Record<string, unknown>, binding: DataBinding, grace: Grace | null = null): string {
    let out: string;
    try {
      out = encodeData(this.o.ring, data, binding, this.o.encrypt, grace);
    } catch (e) {
      throw new TesseraError('ERR_INVALID_DATA', 'Session data must be JSON-serialisable.', {
        cause: e,
      });
    }
    if (out.length * 3 > this.o.maxDataBytes && Buffer.byteLength(out) > this.o.maxDataBytes) {
      throw new TesseraError(
        'ERR_DATA_TOO_LARGE',
        `Session data is over maxDataBytes (${this.o.maxDataBytes}).`,
        { details: { size: Buffer.byteLength(out), limit: this.o.maxDataBytes } },
      );
    }
    return out;
  }

  #newRecord(
    req: RequestInfo,
    id: string,
    handle: string,
    userId: string | null,
    now: number,
  ): SessionRecord {
    return {
      kind: 'live',
      id,
      handle,
      userId,
      createdAt: now,
      lastSeenAt: now,
      authenticatedAt: userId === null ? null : now,
      ...sessionDeadlines(this.o, now, null),
      createdIp: req.ip ?? null,
      createdUserAgent: req.userAgent ?? null,
      lastIp: req.ip ?? null,
      lastUserAgent: req.userAgent ?? null,
      version: 1,
      data: '',
    };
  }

  /**
   * Persist what the request changed and tell the adapter which cookie to send. Idempotent:
   * a second call after a successful one does nothing.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE`, `ERR_CONFLICT`, `ERR_DATA_TOO_LARGE`
   */
  async commit(s: Session<Data>): Promise<CommitResult> {
    await this._save(s);
    let setCookie: string | null = null;
    if (s._newToken !== null) {
      setCookie = this.#cookie(s._newToken, s._rec);
      s._newToken = null;
    } else if (s._clear && s._hadCookie) {
      setCookie = this.clearCookie();
      s._clear = false;
      s._hadCookie = false;
    }
    return { setCookie, private: s._hadCookie || setCookie !== null || s._state !== 'anonymous' };
  }

  /**
   * Whether a response that starts streaming before the commit depends on this session (see
   * `SessionEngine.streamsPrivate`, src/core/contract.ts): public, it is the adapters' contract.
   */
  streamsPrivate(s: Session<Data>): boolean {
    return s.state !== 'anonymous' || s._hadCookie || (s._patch !== null && s._patch.size > 0);
  }

  commitCookieNow(s: Session<Data>): string | null {
    if (s._state === 'anonymous' && s._patch && s._patch.size > 0 && !s._reserved) {
      // A first write whose response starts streaming before the commit: mint the token now
      // (synchronously) so its cookie can go with the headers; the commit creates the record under it.
      s._reserved = this.#mint(null, s._parsed?.kind === 'p' ? s._parsed.secret : undefined);
      s._newToken = s._reserved.token;
    }
    const token = s._newToken;
    if (token === null) {
      if (!s._clear || !s._hadCookie) return null;
      s._clear = false;
      s._hadCookie = false;
      return this.clearCookie();
    }
    s._newToken = null;
    return this.#cookie(token, s._rec);
  }

  #cookie(token: string, rec: SessionRecord | null): string {
    const c = this.o.cookie;
    const maxAge =
      c.persistent && rec ? Math.ceil((rec.absoluteExpiresAt - this.o.now()) / 1000) : undefined;
    return serializeCookie(c.name, token, this.cookieAttrs(maxAge));
  }

  /** @internal write pending data and/or touch. */
  async _save(s: Session<Data>): Promise<void> {
    if (s._state === 'destroyed' || s._state === 'grace') return;
    const patch = s._patch;
    if (s._state === 'anonymous') {
      if (!patch || patch.size === 0) return;
      if (await this.#create(s, null, applyPatch({}, patch))) {
        await this.#serial(s._rec!.handle, () => this.#casPatch(s, patch));
      }
      s._patch = null;
      return;
    }
    if (!patch || patch.size === 0) {
      if (s._touch) await this.#touch(s);
      return;
    }
    // Writes to one session from this process queue behind each other, so compare-and-set
    // conflicts only come from other processes (a crowd of local writers would otherwise spin).
    await this.#serial(s._rec!.handle, () => this.#casPatch(s, patch));
    s._patch = null;
  }

  async #create(
    s: Session<Data>,
    userId: string | null,
    data: Record<string, unknown>,
    handle?: string,
  ): Promise<boolean> {
    const now = this.o.now();
    // A visitor's first write keeps the pre-session's secret (so its CSRF token stays valid); a
    // login never does: it always draws a new secret (session fixation, OWASP ASVS V3.2.1).
    const carry = userId === null && s._parsed?.kind === 'p' ? s._parsed.secret : undefined;
    const reserved = userId === null ? s._reserved : null;
    s._reserved = null;
    const { token, parsed } = reserved ?? this.#mint(userId, carry);
    const h = handle ?? newHandle(parsed.tag); // the handle shares the token's slot tag (Redis Cluster)
    const rec = this.#newRecord(s._req, parsed.id, h, userId, now);
    // A sign-in is stamped with the moment its request began: a login that verified a password
    // before a revocation is then at or before the user's epoch, and the store refuses it.
    if (userId !== null) rec.authenticatedAt = s._loadedAt;
    rec.data = this.#encode(data, rec);
    let result: SignInResult;
    try {
      const created = this.o.store.create(rec, userId === null ? undefined : this.#signInOptions());
      // A reserved token's cookie is already sent, and a token carried over from a pre-session
      // cookie is held by the client, who sends it again (a retry then joins the record that
      // landed): neither record is an orphan to delete.
      result = await this._io(
        reserved || carry !== undefined
          ? created
          : this.#orphans.ifUnknown(created, rec, () => this.o.store.deleteByHandle(h)),
      );
    } catch (e) {
      if (userId !== null) this.#signInRefused(s, userId, e);
      // Two parallel first writes from one pre-session cookie mint the same token: the one that
      // lost the create joins the session the other made (its patch is then merged onto it).
      if (!isTesseraError(e, 'ERR_CONFLICT') || (carry === undefined && !reserved)) throw e;
      const existing = await this._io(this.o.store.get(parsed.id));
      if (existing?.kind !== 'live') throw e;
      activate(s, existing, parsed, null, reserved ? null : token);
      return true;
    }
    if (userId !== null) this.#signedIn(s, userId, result);
    activate(s, rec, parsed, data, reserved ? null : token);
    this.emit('created', s._req, rec);
    return false;
  }

  async #touch(s: Session<Data>): Promise<void> {
    const rec = s._rec!;
    const now = this.o.now();
    const changes = {
      lastSeenAt: now,
      idleExpiresAt: Math.min(now + this.o.idleMs, rec.absoluteExpiresAt),
      lastIp: s._req.ip ?? rec.lastIp,
      lastUserAgent: s._req.userAgent ?? null,
    };
    const ok = await this._io(this.o.store.touch(rec.id, changes));
    s._touch = false;
    if (ok) {
      s._rec = { ...rec, ...changes };
      this.emit('touched', s._req, rec);
    }
  }

  async #casPatch(s: Session<Data>, patch: Patch): Promise<void> {
    let rec = s._rec!;
    const loaded = s._base();
    let base = loaded;
    let grace = s._grace;
    // A commit queued behind another one of this process starts from the version that one wrote,
    // instead of losing a compare-and-set to it and reloading (one round trip instead of three).
    const known = this.#latest.get(rec.handle);
    if (known && known.id === rec.id && known.version > rec.version) {
      rec = known;
      ({ value: base, grace } = this.#decodeFull(known));
    }
    const now = this.o.now();
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      const merged = applyPatch(base, patch);
      // An update changes no bound field: the seal is made for the record as it stands, and
      // keeps the grace its rotated-out token has left (codec.ts).
      const keep = grace !== null && now < grace.until ? grace : null;
      const data = this.#encode(merged, rec, keep);
      const touch = {
        lastSeenAt: now,
        idleExpiresAt: Math.min(now + this.o.idleMs, rec.absoluteExpiresAt),
        lastIp: s._req.ip ?? rec.lastIp,
        lastUserAgent: s._req.userAgent ?? null,
      };
      if (await this._io(this.o.store.update(rec.id, rec.version, { data, ...touch }))) {
        if (base !== loaded) {
          // Same-key conflict: another writer changed a key this patch also sets. The later commit
          // wins for plain `set`; `update(fn)` re-applied on the latest value loses nothing.
          const keys = [...patch.entries()]
            .filter(([k, p]) => !('fn' in p) && !sameJSON(base[k], loaded[k]))
            .map(([k]) => k);
          if (keys.length > 0) this.emit('conflict', s._req, rec, { keys });
        }
        s._rec = { ...rec, ...touch, data, version: rec.version + 1 };
        s._data = merged;
        s._grace = keep;
        s._touch = false;
        if (this.#queues.has(rec.handle)) this.#latest.set(rec.handle, s._rec);
        this.emit('updated', s._req, rec, { keys: [...patch.keys()] });
        return;
      }
      // Lost the compare-and-set: reload the latest version (following a concurrent rotation by handle).
      const entry = await this._io(this.o.store.get(rec.id));
      let latest: SessionRecord | null = entry?.kind === 'live' ? entry : null;
      // Follow a concurrent rotation only when it kept the same user (a regenerate or re-auth):
      // a write begun before a sign-in or an account switch must not land in the new session.
      if (entry?.kind === 'rotated' && entry.reason === 'regenerate') {
        const next = await this._io(this.o.store.getByHandle(entry.handle));
        latest = next && next.userId === rec.userId ? next : null;
      }
      if (!latest) {
        // Destroyed or revoked meanwhile: nothing to write to, and the cookie is dead.
        s._state = 'anonymous';
        s._rec = null;
        s._clear = true;
        return;
      }
      rec = latest;
      ({ value: base, grace } = this.#decodeFull(rec));
      // Jittered exponential backoff spreads out a crowd of writers to one session.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
    }
    throw new TesseraError(
      'ERR_CONFLICT',
      `Session data kept changing under ${this.o.maxRetries} retries.`,
    );
  }

  /** @internal */
  async _regenerate(
    s: Session<Data>,
    options: RegenerateOptions<Data>,
    reason: 'regenerate' | 'login' = 'regenerate',
    userId?: string,
  ): Promise<void> {
    s._writable();
    const now = this.o.now();
    if (s._state === 'anonymous') {
      // Nothing stored yet: a fresh token is all rotation means (drops a pre-session binding).
      s._parsed = null;
      s._newToken = null;
      s._reserved = null;
      if (s._hadCookie) s._clear = true;
      return;
    }
    let rec = s._rec!;
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      const base = this._decode(rec);
      const merged = keepData(s._patch ? applyPatch(base, s._patch) : base, options.keep ?? 'all');
      const uid = userId ?? rec.userId;
      // The new token stays in its family's slot (a tagging store signs a visitor in as a new
      // session instead: see _authenticate).
      const tag = this.o.store.slotTags === true ? tagOfId(rec.handle) : '';
      const { token, parsed } = mintToken(this.o.ring, 's', tag);
      const login = userId !== undefined;
      // Signing a user in (an anonymous session, or another user's): the store checks the epoch
      // and the limit in the same atomic step as the rotation.
      const signIn = uid !== null && uid !== rec.userId ? this.#signInOptions() : undefined;
      const next: SessionRecord = {
        ...rec,
        id: parsed.id,
        userId: uid,
        lastSeenAt: now,
        lastIp: s._req.ip ?? rec.lastIp,
        lastUserAgent: s._req.userAgent ?? null,
        version: rec.version + 1,
        data: '',
        ...(login
          ? {
              authenticatedAt: s._loadedAt,
              ...sessionDeadlines(this.o, now, uid === rec.userId ? rec.absoluteExpiresAt : null),
            }
          : { idleExpiresAt: Math.min(now + this.o.idleMs, rec.absoluteExpiresAt) }),
      };
      const graceSec = Math.min(options.grace ?? this.o.graceMs / 1000, this.o.graceMs / 1000);
      const tomb = {
        kind: 'rotated' as const,
        id: rec.id,
        handle: rec.handle,
        userId: rec.userId ?? uid,
        rotatedAt: now,
        graceUntil: reason === 'login' ? 0 : now + graceSec * 1000,
        expiresAt: Math.max(next.absoluteExpiresAt, rec.absoluteExpiresAt),
        reason,
      };
      // Sealed to the new id, user and deadlines (codec.ts): the rotation re-seals the data, and
      // the seal names the one rotated-out token that may still read it, and until when.
      const grace = tomb.graceUntil > now ? { id: rec.id, until: tomb.graceUntil } : null;
      next.data = this.#encode(merged, next, grace);
      const undo = async () => ((await this.o.store.delete(next.id)) ? 1 : 0);
      let rotated: SignInResult | false;
      try {
        rotated = await this._io(
          this.#orphans.ifUnknown(
            this.o.store.rotate(rec.id, rec.version, next, tomb, signIn),
            next,
            undo,
          ),
        );
      } catch (e) {
        if (signIn) this.#signInRefused(s, uid!, e);
        throw e;
      }
      if (rotated) {
        if (signIn) this.#signedIn(s, uid!, rotated);
        s._rec = next;
        s._parsed = parsed;
        s._data = merged;
        s._grace = grace;
        s._patch = null;
        s._newToken = token;
        s._clear = false;
        s._touch = false;
        this.emit('rotated', s._req, next, { reason });
        return;
      }
      const entry = await this._io(this.o.store.get(rec.id));
      if (entry?.kind !== 'live') {
        s._state = 'anonymous';
        s._rec = null;
        s._parsed = null;
        s._clear = true;
        throw new TesseraError(
          'ERR_CONFLICT',
          'The session was rotated or ended by another request.',
        );
      }
      rec = entry;
    }
    throw new TesseraError(
      'ERR_CONFLICT',
      `Session kept changing under ${this.o.maxRetries} retries.`,
    );
  }

  /** @internal */
  async _authenticate(
    s: Session<Data>,
    userId: string,
    options: AuthenticateOptions<Data>,
  ): Promise<void> {
    s._writable();
    const same = s._rec?.userId === userId;
    if (s._state === 'anonymous') {
      const data = applyPatch({}, s._patch ?? new Map());
      await this.#create(s, userId, keepData(data, options.keep ?? 'all'));
      s._patch = null;
      this.emit('authenticated', s._req, s._rec);
      return;
    }
    const prev = s._rec!;
    // On a store with slot tags (Redis Cluster) a user's sessions live in the user's slot, and a
    // visitor's elsewhere: signing a visitor in there is a new session, as a user switch is.
    if (!same && (prev.userId !== null || this.o.store.slotTags === true)) {
      const keep = options.keep ?? (prev.userId === null ? 'all' : 'none');
      await this.#switchUser(s, prev, userId, keep);
      this.emit('authenticated', s._req, s._rec);
      return;
    }
    await this._regenerate(
      s,
      { keep: options.keep ?? 'all' },
      same ? 'regenerate' : 'login',
      userId,
    );
    this.emit('authenticated', s._req, s._rec);
  }

  /**
   * Sign another user in over a signed-in session: a new session (new token, handle and family),
   * then the previous user's whole family is deleted, so none of its rotated-out tokens can
   * later name the new user's session (a theft signal on them would sign the new user out).
   *
   * On a store with slot tags, a visitor's session is signed in the same way (the new session
   * is one write in the user's slot, with the epoch and limit checks), and deleting the visitor's
   * family is then best effort: a failure does not fail the sign-in (the delete is retried by
   * the follow-up queue), and until it lands the old token is still that visitor session.
   */
  async #switchUser(
    s: Session<Data>,
    prev: SessionRecord,
    userId: string,
    keep: KeepData<Data>,
  ): Promise<void> {
    const base = this._decode(prev);
    const data = keepData(s._patch ? applyPatch(base, s._patch) : base, keep);
    s._reserved = null;
    await this.#create(s, userId, data);
    s._patch = null;
    if (prev.userId !== null) {
      await this._io(this.o.store.deleteByHandle(prev.handle));
      this.emit('destroyed', s._req, prev, { reason: 'user_switch' });
      return;
    }
    const drop = () => this.o.store.deleteByHandle(prev.handle);
    try {
      await this._io(this.#orphans.ifUnknown(drop(), prev, drop));
      this.emit('destroyed', s._req, prev, { reason: 'signed_in' });
    } catch {
      // Reported as store_error by _io; the signed-in session stands.
    }
  }

  /** What the store checks with a sign-in write: the epoch always, the limit when set. */
  #signInOptions(): SignInOptions {
    const { max, policy } = this.o.sessionLimit;
    return { now: this.o.now(), limit: max, policy };
  }

  /** Report the sessions a sign-in evicted to respect the per-user limit. */
  #signedIn(s: Session<Data>, userId: string, result: SignInResult): void {
    if (result.evicted.length === 0) return;
    this.emit(
      'session_limit',
      s._req,
      { handle: s._rec?.handle ?? '', userId },
      {
        reason: 'evict-oldest',
      },
    );
    for (const handle of result.evicted) {
      this.emit('revoked', s._req, { handle, userId }, { reason: 'session_limit' });
    }
  }

  /** Report a sign-in the per-user limit refused (the caller rethrows). */
  #signInRefused(s: Session<Data>, userId: string, e: unknown): void {
    if (!isTesseraError(e, 'ERR_SESSION_LIMIT')) return;
    this.emit(
      'session_limit',
      s._req,
      { handle: s._rec?.handle ?? '', userId },
      {
        reason: 'reject',
      },
    );
  }

  /** @internal */
  async _destroy(s: Session<Data>): Promise<void> {
    if (s._state === 'destroyed') return;
    // A rotated-out token inside its grace window only reads: it must not end the live session.
    s._writable();
    const rec = s._rec;
    if (rec) {
      await this._io(this.o.store.deleteByHandle(rec.handle));
      this.emit('destroyed', s._req, rec);
    }
    s._state = 'destroyed';
    s._rec = null;
    s._parsed = null;
    s._patch = null;
    s._data = null;
    s._newToken = null;
    s._clear = true;
    s._hadCookie = true;
  }

  /**
   * Check an unsafe request against CSRF: the header half (Sec-Fetch-Site, Origin, Referer)
   * and the synchronizer token. Safe methods pass. Emits `csrf_rejected` on failure.
   * In `reportOnly` mode a failure is reported but `ok` is true.
   */
  verifyCSRF(s: Session<Data>, req: CSRFRequest, presented: string | undefined): CSRFResult {
    if (!this.o.csrf.enabled || isSafeMethod(req.method)) return { ok: true };
    let reason = checkRequestOrigin(req, this.o.csrf.origins, {
      allowSameSite: this.o.csrf.allowSameSite,
    });
    if (!reason) {
      if (!presented) reason = 'missing_token';
      else if (!s._parsed || s._state === 'grace') reason = 'no_session';
      else if (!verifyCSRFToken(this.o.ring, s._parsed.secret, presented)) reason = 'bad_token';
    }
    if (!reason) return { ok: true };
    this.emit('csrf_rejected', s._req, s._rec, { reason });
    return this.o.csrf.reportOnly ? { ok: true } : { ok: false, reason };
  }

  /**
   * Live sessions of a user, oldest first (public view).
   * @throws TesseraError `ERR_INVALID_ID` (400) for a user id that is not a valid id
   */
  async list(userId: string): Promise<SessionInfo[]> {
    checkId('userId', userId, 'list()');
    const recs = await this._io(this.o.store.listByUser(userId, this.o.now()));
    return recs.map(toInfo);
  }

  /**
   * Revoke one session by handle. With `userId`, only if it belongs to that user.
   * @returns whether a session was revoked
   * @throws TesseraError `ERR_INVALID_ID` (400) for a handle or user id that is not a valid id
   */
  async revoke(handle: string, options: { userId?: string } = {}): Promise<boolean> {
    checkId('handle', handle, 'revoke()');
    if (options.userId !== undefined) checkId('userId', options.userId, 'revoke()');
    const rec = await this._io(this.o.store.getByHandle(handle));
    if (!rec || (options.userId !== undefined && rec.userId !== options.userId)) return false;
    const n = await this._io(this.o.store.deleteByHandle(handle));
    if (n > 0) this.emit('revoked', null, rec, { reason: 'handle' });
    return n > 0;
  }

  /**
   * Revoke every session of the user except this one (after a password change, say). Sets the
   * user's revocation epoch to now in the same atomic store step, so a sign-in that began before
   * this call (a login that checked the old password) cannot outlive it, whenever it lands; this
   * session is kept. Returns once the clock has moved past the epoch, so a sign-in begun after
   * it is never refused.
   * @returns how many sessions were revoked
   */
  async revokeOthers(s: Session<Data>): Promise<number> {
    if (!s._rec?.userId) return 0;
    const at = this.o.now();
    const n = await this._io(
      this.o.store.deleteByUser(s._rec.userId, {
        exceptHandle: s._rec.handle,
        epoch: { at, expiresAt: epochExpiresAt(at, this.o.absoluteMs) },
      }),
    );
    if (n > 0) this.emit('revoked', s._req, s._rec, { reason: 'others' });
    await clockPast(this.o.now, at);
    return n;
  }

  /**
   * Revoke every session of a user ("sign out everywhere", an account disabled): deletes them and
   * sets the user's revocation epoch to now in one atomic store step, so a sign-in that began
   * before this call cannot outlive it. Returns once the clock has moved past the epoch.
   * @returns how many sessions were revoked
   * @throws TesseraError `ERR_INVALID_ID` (400) for a user id that is not a valid id
   */
  async revokeAll(userId: string): Promise<number> {
    checkId('userId', userId, 'revokeAll()');
    const at = this.o.now();
    const n = await this._io(
      this.o.store.deleteByUser(userId, {
        epoch: { at, expiresAt: epochExpiresAt(at, this.o.absoluteMs) },
      }),
    );
    if (n > 0) this.emit('revoked', null, { handle: '', userId }, { reason: 'all' });
    await clockPast(this.o.now, at);
    return n;
  }

  /**
   * Remove expired sessions and tombstones from the store: those expired by more than the
   * clocks may disagree, so that no instance whose clock is behind still serves one.
   * @returns how many
   */
  async sweep(limit = 1000): Promise<number> {
    return this._io(this.o.store.sweep(this.o.now() - this._clockAllowance(), limit));
  }

  /** Close the store. */
  async close(): Promise<void> {
    this.#orphans.close();
    await this.o.store.close();
  }
}

function sameJSON(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Create the session engine.
 * @param options - store, keys and policy; see {@link SessionsOptions}
 * @returns the engine that adapters wrap
 * @throws TesseraError `ERR_CONFIG` / `ERR_KEY` for a configuration that is wrong or insecure
 * @example
 * ```ts
 * import { createSessions } from 'tessera-session'
 * import { memoryStore } from 'tessera-session/memory'
 * const sessions = createSessions({ store: memoryStore(), keys: [{ id: 'k1', secret: process.env.SESSION_KEY!, createdAt: '2026-11-27' }] })
 * ```
 */
export function createSessions<Data extends SessionData = RegisteredData>(
  options: SessionsOptions<Data>,
): SessionManager<Data> {
  return new SessionManager<Data>(options);
}
