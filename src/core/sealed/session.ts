/**
 * One request's view of a sealed session: its data, user and deadlines as the seal holds them,
 * and the changes the response's cookie will seal. What it needs of its manager is
 * {@link SealedHost}.
 */
import type { RequestInfo } from '../contract.js';
import { signDoubleSubmit } from '../double-submit.js';
import { TesseraError } from '../errors.js';
import type { SessionEvent, SessionEventType } from '../events.js';
import { checkId } from '../ids.js';
import type { KeyRing } from '../keys.js';
import type { RegisteredData } from '../register.js';
import {
  type AuthenticateOptions,
  assertDataKey,
  isFresh,
  type KeepData,
  keepData,
  requestStart,
} from '../rules.js';
import type { SessionData } from '../types.js';
import { bindingOf, newBinding, type Payload } from './payload.js';

/** @internal What a {@link SealedSession} uses of its manager. */
export interface SealedHost<Data extends SessionData> {
  /** The engine's clock. */
  now(): number;
  readonly ring: KeyRing;
  emit(
    type: SessionEventType,
    req: RequestInfo | null,
    rec: { handle: string; userId: string | null } | null,
    extra?: Partial<SessionEvent>,
  ): void;
  /** A fresh payload (see `SealedSessionManager`). */
  newPayload(
    userId: string | null,
    data: Record<string, unknown>,
    reauthOf?: number | null,
    signedInAt?: number,
  ): Payload;
  /** Seal the session into a Set-Cookie value. */
  seal(s: SealedSession<Data>): string;
}

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
 * response cookie by `commit`. Two parallel requests of one browser each
 * send back a whole cookie, and the later response wins: sealed mode cannot merge their writes.
 */
export class SealedSession<Data extends SessionData = RegisteredData> {
  /** @internal */ _host: SealedHost<Data>;
  /** @internal */ _req: RequestInfo;
  /** @internal */ _state: SealedSessionState;
  /** @internal */ _payload: Payload | null;
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
  constructor(m: SealedHost<Data>, req: RequestInfo, p: Payload | null, hadCookie: boolean) {
    this._host = m;
    this._req = req;
    this._loadedAt = requestStart(req.startedAt, m.now());
    this._payload = p;
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
    return this._payload?.handle ?? null;
  }
  /** The signed-in user, or null. */
  get userId(): string | null {
    return this._payload?.userId ?? null;
  }
  get createdAt(): number | null {
    return this._payload?.createdAt ?? null;
  }
  /** When the cookie was last sealed (it is re-sealed on a write, or when the idle deadline moves). */
  get lastSeenAt(): number | null {
    return this._payload?.lastSeenAt ?? null;
  }
  get authenticatedAt(): number | null {
    return this._payload?.authenticatedAt ?? null;
  }
  /** When the session was issued: sign-in, creation, or `revokeOthers`. A watermark after it ends it. */
  get issuedAt(): number | null {
    return this._payload?.issuedAt ?? null;
  }
  get idleExpiresAt(): number | null {
    return this._payload?.idleExpiresAt ?? null;
  }
  get absoluteExpiresAt(): number | null {
    return this._payload?.absoluteExpiresAt ?? null;
  }

  /** The session data with this request's changes. */
  get data(): Readonly<Partial<Data>> {
    return (this._payload?.data ?? {}) as Partial<Data>;
  }

  /** One data value. */
  get<K extends keyof Data & string>(key: K): Data[K] | undefined {
    return this._payload?.data[key] as Data[K] | undefined;
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
    return isFresh(this._payload?.authenticatedAt, this._host.now(), maxAge);
  }

  /**
   * A signed double-submit CSRF token bound to this session (OWASP CSRF Prevention Cheat Sheet).
   * Each call gives a different token; all verify until the session rotates. A visitor without
   * a session gets an anonymous one (a seal in the response cookie, no server state).
   */
  csrfToken(): string {
    if (!this._payload) {
      this._payload = this._host.newPayload(null, {});
      this._state = 'active';
      this._created = true;
      this._dirty = true;
      this._clear = false;
      this._cookie = null;
    }
    return signDoubleSubmit(this._host.ring, bindingOf(this._payload));
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
    const prev = this._payload;
    const same = prev !== null && prev.userId === userId;
    const keep = options.keep ?? (prev === null || prev.userId === null || same ? 'all' : 'none');
    const next = this._host.newPayload(
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
    this._payload = next;
    this._state = 'active';
    this._dirty = true;
    this._clear = false;
    this._cookie = null;
    this._host.emit('rotated', this._req, next, { reason: same ? 'regenerate' : 'login' });
    this._host.emit('authenticated', this._req, next);
  }

  /**
   * A new seal for the same session (same handle) with a new CSRF binding. The old cookie is
   * not dead: sealed mode cannot kill a copy of it before its deadline (see docs/sealed.md).
   */
  async regenerate(options: SealedRegenerateOptions<Data> = {}): Promise<void> {
    this._writable();
    const p = this._payload;
    if (!p) return;
    this._payload = {
      ...p,
      binding: newBinding(),
      data: keepData(p.data, options.keep ?? 'all'),
    };
    this._dirty = true;
    this._cookie = null;
    this._host.emit('rotated', this._req, p, { reason: 'regenerate' });
  }

  /**
   * End the session: the response clears the cookie. A copy of the cookie taken earlier still
   * opens until its deadline unless the user's sessions are revoked with `revokeAll`.
   */
  async destroy(): Promise<void> {
    if (this._state === 'destroyed') return;
    if (this._payload) this._host.emit('destroyed', this._req, this._payload);
    this._state = 'destroyed';
    this._payload = null;
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
      this._cookie = this._host.seal(this);
  }

  /** @internal */
  _change(key: string): Payload {
    assertDataKey(key);
    this._writable();
    if (!this._payload) {
      this._payload = this._host.newPayload(null, {});
      this._state = 'active';
      this._created = true;
      this._clear = false;
    } else if (!this._dirty) {
      // Copy on first write, so the object `data` returned before is not changed under the app.
      this._payload = { ...this._payload, data: { ...this._payload.data } };
    }
    if (!this._keys) this._keys = new Set();
    this._keys.add(key);
    this._dirty = true;
    this._cookie = null;
    return this._payload;
  }

  /** @internal */
  _writable(): void {
    if (this._state === 'destroyed')
      throw new TesseraError('ERR_SESSION_READ_ONLY', 'This session was destroyed.');
  }
}
