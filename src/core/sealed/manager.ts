/**
 * Sealed-cookie mode: the whole session — data, user, handle, timestamps and deadlines — sealed
 * into the cookie with AES-256-GCM under the key ring's `seal` subkey (payload.ts), for edge and
 * serverless apps without a session store. The same request cycle as the server-side engine
 * (`load` → handler → `commit`, the contract in contract.ts), so every adapter hosts either; the
 * session rules are the same ones (rules.ts), and the deadlines inside the seal are enforced on
 * every load.
 *
 * What needs server state is absent: listing sessions, revoking one by handle, theft detection
 * (a copied cookie cannot be told from the original), session limits. Revoking every session of
 * a user works through a per-user watermark in a `RevocationStore` (revocation.ts) — one O(1)
 * lookup, cached for a few seconds (docs/sealed.md).
 */
import { clockSource } from '../clock.js';
import type { CommitResult, CSRFResult, RequestInfo, SessionEngine } from '../contract.js';
import { findCookie, MAX_COOKIE_BYTES, serializeCookie } from '../cookie.js';
import type { CSRFRequest } from '../csrf.js';
import { verifyDoubleSubmit } from '../double-submit.js';
import { TesseraError } from '../errors.js';
import { checkId } from '../ids.js';
import { ManagerBase } from '../manager-base.js';
import {
  type CommonSessionsOptions,
  type ResolvedCommonOptions,
  resolveSealedOptions,
} from '../options.js';
import type { RegisteredData } from '../register.js';
import { clockPast } from '../revocation.js';
import { idleDeadline, revokedBy, sessionDeadlines, touchDue, verifyCSRFWith } from '../rules.js';
import { newHandle, slotTagFor } from '../token.js';
import type { SessionData } from '../types.js';
import { bindingOf, newBinding, type Payload, PayloadCodec, tooLarge } from './payload.js';
import { type SealedRevocationOptions, Watermarks } from './revocation.js';
import { type SealedHost, SealedSession } from './session.js';

/** Options of {@link createSealedSessions}. Durations are in seconds, as in the server-side engine. */
export interface SealedSessionsOptions<Data extends SessionData = RegisteredData>
  extends CommonSessionsOptions<Data> {
  /**
   * Per-user revocation watermarks; without them `revokeAll` and `revokeOthers` throw
   * `ERR_UNSUPPORTED` and a sealed cookie lives until its own deadline.
   */
  revocation?: SealedRevocationOptions;
}

/** An opened seal within its deadlines, before its user's watermark is checked. */
interface Opened {
  p: Payload;
  /** The key id that sealed it. */
  kid: string;
  /** When it was opened (the engine's clock). */
  now: number;
}

function unsupported(what: string): TesseraError {
  return new TesseraError(
    'ERR_UNSUPPORTED',
    `${what} needs server-side session state, which sealed-cookie mode does not have (see docs/sealed.md).`,
  );
}

/**
 * The sealed-cookie session manager. Create one per app with {@link createSealedSessions}.
 * Operations that need server state (`list`, `revoke` by handle, `sweep`) are not part of its
 * type; called anyway (from JavaScript) they throw `ERR_UNSUPPORTED`.
 */
export class SealedSessionManager<Data extends SessionData = RegisteredData>
  extends ManagerBase<ResolvedCommonOptions>
  implements SessionEngine<SealedSession<Data>>
{
  readonly #watermarks: Watermarks;
  readonly #codec: PayloadCodec;
  /** What this manager's sessions use of it. */
  readonly #host: SealedHost<Data>;
  /** `; Path=/; HttpOnly; Secure; SameSite=Lax` — the attributes of a browser-session cookie. */
  readonly #suffix: string;

  constructor(options: SealedSessionsOptions<Data>) {
    super(resolveSealedOptions(options, ['revocation']), clockSource(options?.revocation?.store));
    this.#watermarks = new Watermarks(options.revocation, this.resolved.now, (err) =>
      this.emit('store_error', null, null, { reason: err.code }, err),
    );
    const ring = this.resolved.ring;
    // A revocation store over a store with slot tags keeps a user's epoch under the user's tag.
    if (this.#watermarks.enabled)
      this.#watermarks.require().useSlotTags?.((userId) => slotTagFor(ring, userId));
    this.#codec = new PayloadCodec(ring, this.resolved.cookie.name);
    this.#host = {
      now: () => this.now(),
      ring,
      emit: (type, req, rec, extra) => this.emit(type, req, rec, extra),
      newPayload: (userId, data, reauthOf, signedInAt) =>
        this.#newPayload(userId, data, reauthOf, signedInAt),
      seal: (s) => this.#seal(s),
    };
    const name = this.resolved.cookie.name;
    this.#suffix = serializeCookie(name, '', this.cookieAttrs(undefined)).slice(name.length + 1);
  }

  /**
   * Open the session a request carries. A missing, malformed, tampered, retired-key, expired
   * or revoked seal gives an anonymous session (and clears the cookie), never an error.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the revocation store fails (fails closed)
   */
  async load(req: RequestInfo): Promise<SealedSession<Data>> {
    const opened = this.#open(req);
    if (opened instanceof SealedSession) return opened;
    return this.#finish(req, opened, await this.#watermarks.get(opened.p.userId!, false));
  }

  /**
   * {@link load} without a promise, unless the seal names a user whose revocation watermark is
   * not in the cache (then `undefined`, with no effect; see `SessionEngine.loadNow`).
   */
  loadNow(req: RequestInfo): SealedSession<Data> | undefined {
    const opened = this.#open(req);
    if (opened instanceof SealedSession) return opened;
    const mark = this.#watermarks.getNow(opened.p.userId!);
    return mark === undefined ? undefined : this.#finish(req, opened, mark);
  }

  /**
   * The cookie opened and its deadlines checked: the session, or the seal still to be checked
   * against its user's revocation watermark (nothing emitted yet).
   */
  #open(req: RequestInfo): SealedSession<Data> | Opened {
    const found = findCookie(req.cookie, this.resolved.cookie.name);
    if (found.kind === 'absent') return new SealedSession(this.#host, req, null, false);
    if (found.kind !== 'one') return this.#invalid(req, found.kind, null);
    const opened = this.#codec.open(found.value);
    if (typeof opened === 'string') return this.#invalid(req, opened, null);
    const { p, kid } = opened;
    this.tickClock();
    const now = this.resolved.now();
    if (p.absoluteExpiresAt <= now || p.idleExpiresAt <= now) {
      this.emit('expired', req, p, { reason: p.absoluteExpiresAt <= now ? 'absolute' : 'idle' });
      return this.#anonymous(req);
    }
    const o: Opened = { p, kid, now };
    return p.userId !== null && this.#watermarks.enabled ? o : this.#finish(req, o, null);
  }

  /** The rest of a load once the user's watermark (`mark`, null without one) is known. */
  #finish(req: RequestInfo, o: Opened, mark: number | null): SealedSession<Data> {
    const { p, kid, now } = o;
    if (revokedBy(p.issuedAt, mark)) {
      this.emit('revoked', req, p, { reason: 'watermark' });
      return this.#anonymous(req);
    }
    if (this.resolved.validate) {
      try {
        p.data = this.resolved.validate(p.data) as Record<string, unknown>;
      } catch {
        return this.#invalid(req, 'invalid_data', p);
      }
    }
    const s = new SealedSession(this.#host, req, p, true);
    // Re-seal when the touch rule says the idle deadline is due to move (the same rule as the
    // server-side engine, including the last touch up to the absolute deadline), and re-seal
    // under the primary key a seal made by an older key (so rotation migrates live sessions).
    if (touchDue(this.resolved, now, p) || kid !== this.resolved.ring.ids[0]) s._touch = true;
    return s;
  }

  #invalid(req: RequestInfo, reason: string, p: Payload | null): SealedSession<Data> {
    this.emit('token_invalid', req, p, { reason });
    return this.#anonymous(req);
  }

  #anonymous(req: RequestInfo): SealedSession<Data> {
    const s = new SealedSession(this.#host, req, null, true);
    s._clear = true;
    return s;
  }

  /**
   * A fresh payload for a new or newly signed-in session, or a re-authenticated one
   * (`reauthOf`: its absolute deadline, kept or restarted by the shared rule); a sign-in is
   * stamped (`authenticatedAt`, `issuedAt`) with `signedInAt`, when its request began.
   */
  #newPayload(
    userId: string | null,
    data: Record<string, unknown>,
    reauthOf: number | null = null,
    signedInAt = this.resolved.now(),
  ): Payload {
    const now = this.resolved.now();
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
      ...sessionDeadlines(
        this.resolved,
        userId === null ? now : Math.min(now, signedInAt),
        reauthOf,
      ),
      binding: newBinding(),
      data,
    };
  }

  /**
   * Seal the session into a Set-Cookie value (moving the idle deadline: the touch).
   * @throws TesseraError `ERR_DATA_TOO_LARGE` when the Set-Cookie would exceed 4096 bytes,
   *   `ERR_INVALID_DATA` for data that is not JSON
   */
  #seal(s: SealedSession<Data>): string {
    const p = s._payload!;
    const now = this.resolved.now();
    const idle = idleDeadline(this.resolved, now, p.absoluteExpiresAt);
    const value = this.#codec.seal(p, now, idle);
    const c = this.resolved.cookie;
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
    return this.commitNow(s);
  }

  /**
   * {@link commit} without a promise: sealing needs no I/O, so it always returns the plan (see
   * `SessionEngine.commitNow`).
   * @throws TesseraError as `commit` rejects: `ERR_DATA_TOO_LARGE`, `ERR_INVALID_DATA`
   */
  commitNow(s: SealedSession<Data>): CommitResult {
    const setCookie = this.#commit(s);
    return { setCookie, private: setCookie !== null || s._hadCookie || s._state !== 'anonymous' };
  }

  #commit(s: SealedSession<Data>): string | null {
    if (s._state === 'active' && (s._dirty || s._touch)) {
      const header = s._cookie ?? this.#seal(s);
      const p = s._payload!;
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
    // The signed double submit: bound to the seal's CSRF binding.
    const p = s._payload;
    return verifyCSRFWith(
      this.resolved.csrf,
      req,
      presented,
      (token) =>
        !p
          ? 'no_session'
          : verifyDoubleSubmit(this.resolved.ring, bindingOf(p), token)
            ? null
            : 'bad_token',
      (reason) => this.emit('csrf_rejected', s._req, p, { reason }),
    );
  }

  /** @internal What a `store_error` log line names: sealed mode's only store. */
  protected override get storeName(): string {
    return 'revocation';
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
    const at = this.resolved.now();
    await this.#watermarks.raise(userId, at, this.resolved.absoluteMs);
    this.emit('revoked', null, { handle: '', userId }, { reason: 'all' });
    await clockPast(this.resolved.now, at);
  }

  /**
   * Sign a user out of every other session: raises the watermark and re-issues this session
   * after it (in this response's cookie). Reads the watermark uncached first, so a session that
   * was itself revoked cannot use this to outlive the revocation.
   * @returns true, or false when this session has no user or was already revoked (it then ends)
   * @throws TesseraError `ERR_UNSUPPORTED` without a revocation store, `ERR_STORE_UNAVAILABLE`
   */
  async revokeOthers(s: SealedSession<Data>): Promise<boolean> {
    this.#watermarks.require();
    const p = s._payload;
    if (!p || p.userId === null || s._state !== 'active') return false;
    const mark = await this.#watermarks.get(p.userId, true);
    if (revokedBy(p.issuedAt, mark)) {
      this.emit('revoked', s._req, p, { reason: 'watermark' });
      await s.destroy();
      return false;
    }
    const at = this.resolved.now();
    await this.#watermarks.raise(p.userId, at, this.resolved.absoluteMs);
    await clockPast(this.resolved.now, at);
    // Re-issued after the watermark (a frozen test clock may not have moved: then 1 ms after).
    s._payload = { ...p, issuedAt: Math.max(this.resolved.now(), at + 1) };
    s._dirty = true;
    s._cookie = null;
    this.emit('revoked', s._req, p, { reason: 'others' });
    return true;
  }

  /** Nothing to release (no store); present so shutdown code works with either engine. */
  async close(): Promise<void> {}

  // The server-side operations sealed mode cannot do. Protected, so they are not in the type
  // (TypeScript users never see them); a JavaScript caller gets a typed error instead of
  // "is not a function".
  /** @internal */
  protected list(): Promise<never> {
    return Promise.reject(unsupported('list()'));
  }
  /** @internal */
  protected revoke(): Promise<never> {
    return Promise.reject(unsupported('revoke()'));
  }
  /** @internal */
  protected sweep(): Promise<never> {
    return Promise.reject(unsupported('sweep()'));
  }
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
): SealedSessionManager<Data> {
  return new SealedSessionManager<Data>(options);
}
