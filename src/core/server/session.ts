/**
 * One request's view of a server-side session ({@link Session}), the types it is read through,
 * and its pending data patch. What a session needs of its engine is {@link SessionHost}: the
 * write path, rotation and decoding live in the engine's other modules.
 */

import type { Grace } from '../codec.js';
import type { RequestInfo } from '../contract.js';
import { csrfTokenFor } from '../csrf.js';
import { TesseraError } from '../errors.js';
import { checkId } from '../ids.js';
import type { ResolvedOptions } from '../options.js';
import type { RegisteredData } from '../register.js';
import {
  type AuthenticateOptions,
  assertDataKey,
  idleDeadline,
  isFresh,
  type KeepData,
  requestStart,
} from '../rules.js';
import { mintToken, type ParsedToken } from '../token.js';
import type { SessionData, SessionRecord } from '../types.js';

/** @internal What a {@link Session} uses of its engine (the engine's modules implement it). */
export interface SessionHost<Data extends SessionData> {
  /** The resolved options, with the engine's clock as `now`. */
  readonly options: ResolvedOptions;
  authenticate(s: Session<Data>, userId: string, options: AuthenticateOptions<Data>): Promise<void>;
  regenerate(s: Session<Data>, options: RegenerateOptions<Data>): Promise<void>;
  destroy(s: Session<Data>): Promise<void>;
  /** Write pending data and/or the touch. */
  save(s: Session<Data>): Promise<void>;
  /** Decode a record's data (ERR_STORE_CORRUPT if it does not open). */
  decode(rec: SessionRecord): Record<string, unknown>;
}

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

/** Options of {@link Session.regenerate}. */
export interface RegenerateOptions<Data> {
  /** @default 'all' */
  keep?: KeepData<Data>;
  /** Seconds the old token may still serve safe requests; capped by the engine's setting. @default the engine's rotationGrace */
  grace?: number;
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

/** @internal A request's pending data changes, applied at commit onto the latest stored data. */
export type Patch = Map<
  string,
  { value: unknown } | { fn: (current: unknown) => unknown } | { del: true }
>;

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * One request's view of a session. Data writes (`set`, `unset`, `update`) are collected and
 * saved by the adapter when the response is sent, as a versioned patch merged onto the latest
 * stored version; `authenticate`, `regenerate` and `destroy` hit the store at once.
 */
export class Session<Data extends SessionData = RegisteredData> {
  /** @internal */ _host: SessionHost<Data>;
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
    m: SessionHost<Data>,
    req: RequestInfo,
    state: SessionState,
    rec: SessionRecord | null,
    parsed: ParsedToken | null,
    hadCookie: boolean,
  ) {
    this._host = m;
    this._req = req;
    this._loadedAt = requestStart(req.startedAt, m.options.now());
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
        idleDeadline(this._host.options, this._host.options.now(), rec.absoluteExpiresAt),
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
    return isFresh(this._rec?.authenticatedAt, this._host.options.now(), maxAge);
  }

  /**
   * The CSRF synchronizer token for this session (no store write). A visitor without a session
   * gets a pre-session cookie (no store write either) that the token is bound to.
   */
  csrfToken(): string {
    if (!this._parsed) {
      const { token, parsed } = mintToken(this._host.options.ring, 'p');
      this._parsed = parsed;
      this._newToken = token;
      this._clear = false;
    }
    return csrfTokenFor(this._host.options.ring, this._parsed.secret);
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
    return this._host.authenticate(this, userId, options);
  }

  /** Issue a new token for the same session (same handle); the old token dies after the grace. */
  async regenerate(options: RegenerateOptions<Data> = {}): Promise<void> {
    return this._host.regenerate(this, options);
  }

  /**
   * End the session (logout): delete it and every rotated-out token of it, clear the cookie.
   * @throws TesseraError `ERR_SESSION_READ_ONLY` through a rotated-out token in its grace window
   */
  async destroy(): Promise<void> {
    return this._host.destroy(this);
  }

  /** Save pending data now rather than when the response is sent. */
  async save(): Promise<void> {
    await this._host.save(this);
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
    this._data = this._host.decode(this._rec);
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

/** @internal `base` with `patch` applied (a new object). */
export function applyPatch(base: Record<string, unknown>, patch: Patch): Record<string, unknown> {
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

/**
 * @internal Make `s` the active session `rec` (token `parsed`), with `cookieToken` to send, if
 * any; `grace` is the rotated-out token's grace window, after a rotation.
 */
export function activate<Data extends SessionData>(
  s: Session<Data>,
  rec: SessionRecord,
  parsed: ParsedToken,
  data: Record<string, unknown> | null,
  cookieToken: string | null,
  grace: Grace | null = null,
): void {
  s._rec = rec;
  s._parsed = parsed;
  s._data = data;
  s._grace = grace;
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
