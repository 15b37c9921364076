/**
 * The server-side session engine: {@link SessionManager} and {@link createSessions}. Framework-
 * agnostic: adapters translate a request into a `RequestInfo`, call `load`, run the handler, then
 * call `commit` and apply the cookie it returns (the contract in contract.ts). The manager wires
 * its parts together: the load path (load.ts), the write path and its compare-and-set queue
 * (write.ts), rotation and sign-in limits (rotation.ts, sign-in.ts), admin operations
 * (admin.ts); the session rules they apply are in rules.ts.
 */
import { clockSource } from '../clock.js';
import type { CommitResult, CSRFResult, RequestInfo, SessionEngine } from '../contract.js';
import { serializeCookie } from '../cookie.js';
import { type CSRFRequest, verifyCSRFToken } from '../csrf.js';
import { ManagerBase } from '../manager-base.js';
import { type ResolvedOptions, resolveOptions, type SessionsOptions } from '../options.js';
import type { RegisteredData } from '../register.js';
import { verifyCSRFWith } from '../rules.js';
import type { SessionData, SessionRecord, SessionStore } from '../types.js';
import {
  listSessions,
  revokeOtherSessions,
  revokeSession,
  revokeUserSessions,
  sweepExpired,
} from './admin.js';
import { ServerContext } from './context.js';
import { SessionLoader } from './load.js';
import { SessionRotation } from './rotation.js';
import type { Session, SessionHost, SessionInfo } from './session.js';
import { SessionWriter } from './write.js';

/**
 * The session engine. Create one per app with {@link createSessions}.
 */
export class SessionManager<Data extends SessionData = RegisteredData>
  extends ManagerBase<ResolvedOptions>
  implements SessionEngine<Session<Data>>
{
  readonly #ctx: ServerContext;
  /** What this engine's sessions use of it. */
  readonly #host: SessionHost<Data>;
  readonly #loader: SessionLoader<Data>;
  readonly #writer: SessionWriter;

  constructor(options: SessionsOptions<Data>) {
    super(resolveOptions(options), clockSource(options.store));
    const ctx = new ServerContext(this.resolved, {
      emit: (type, req, rec, extra, cause) => this.emit(type, req, rec, extra, cause),
      clockAllowance: () => this.clockAllowance(),
      resyncClock: () => this.resyncClock(),
    });
    this.#ctx = ctx;
    const writer = new SessionWriter(ctx);
    this.#writer = writer;
    const rotation = new SessionRotation(ctx, writer);
    const host: SessionHost<Data> = {
      options: ctx.options,
      authenticate: (s, userId, o) => rotation.authenticate(s, userId, o),
      regenerate: (s, o) => rotation.regenerate(s, o),
      destroy: (s) => rotation.destroy(s),
      save: (s) => writer.save(s),
      decode: (rec) => ctx.records.decode(rec),
    };
    this.#host = host;
    this.#loader = new SessionLoader(ctx, host);
    // A store that keeps a user's sessions in one slot names the user's index and epoch with the
    // very tag the engine puts in that user's ids and handles.
    // The context remembers users' tags (context.ts `slotTag`), so a sign-in or a listing costs
    // the store a map lookup, not an HMAC.
    if (this.resolved.store.slotTags === true)
      this.resolved.store.useSlotTags?.((userId) => ctx.slotTag(userId));
  }

  /** @internal What a `store_error` log line names. */
  protected override get storeName(): string {
    return this.resolved.store.name;
  }

  /** The store. */
  get store(): SessionStore {
    return this.resolved.store;
  }

  /**
   * Load the session a request carries. Expected outcomes (no cookie, malformed, forged, unknown,
   * expired) give an anonymous session, never an error.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the store fails (adapters answer 503)
   */
  async load(req: RequestInfo): Promise<Session<Data>> {
    this.tickClock();
    return this.#loader.load(req);
  }

  /**
   * {@link load} without a promise when opening the session needs no I/O (no cookie, a
   * pre-session or refused cookie, a live session the store reads synchronously), else
   * `undefined` with no effect (see `SessionEngine.loadNow`).
   */
  loadNow(req: RequestInfo): Session<Data> | undefined {
    this.tickClock();
    return this.#loader.loadNow(req);
  }

  /** @internal decode stored data; corrupt, tampered or (with encryption on) unsealed data is an ERR_STORE_CORRUPT. */
  _decode(rec: SessionRecord): Record<string, unknown> {
    return this.#ctx.records.decode(rec);
  }

  /**
   * Persist what the request changed and tell the adapter which cookie to send. Idempotent:
   * a second call after a successful one does nothing.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE`, `ERR_CONFLICT`, `ERR_DATA_TOO_LARGE`
   */
  async commit(s: Session<Data>): Promise<CommitResult> {
    await this.#host.save(s);
    return this.#committed(s);
  }

  /**
   * {@link commit} without a promise when there is nothing to write (a read that moves no
   * deadline, an anonymous request that set nothing, a destroyed session), else `undefined`
   * with no effect (see `SessionEngine.commitNow`).
   */
  commitNow(s: Session<Data>): CommitResult | undefined {
    return this.#writer.writes(s) ? undefined : this.#committed(s);
  }

  /** The cookie plan once the session is saved; marks the new token or the clearing sent. */
  #committed(s: Session<Data>): CommitResult {
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
      s._reserved = this.#ctx.mint(null, s._parsed?.kind === 'p' ? s._parsed.secret : undefined);
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
    const c = this.resolved.cookie;
    const maxAge =
      c.persistent && rec
        ? Math.ceil((rec.absoluteExpiresAt - this.resolved.now()) / 1000)
        : undefined;
    return serializeCookie(c.name, token, this.cookieAttrs(maxAge));
  }

  /**
   * Check an unsafe request against CSRF: the header half (Sec-Fetch-Site, Origin, Referer)
   * and the synchronizer token. Safe methods pass. Emits `csrf_rejected` on failure.
   * In `reportOnly` mode a failure is reported but `ok` is true.
   */
  verifyCSRF(s: Session<Data>, req: CSRFRequest, presented: string | undefined): CSRFResult {
    // The synchronizer token: bound to the token's secret; a grace token serves no writes.
    return verifyCSRFWith(
      this.resolved.csrf,
      req,
      presented,
      (token) =>
        !s._parsed || s._state === 'grace'
          ? 'no_session'
          : verifyCSRFToken(this.resolved.ring, s._parsed.secret, token)
            ? null
            : 'bad_token',
      (reason) => this.emit('csrf_rejected', s._req, s._rec, { reason }),
    );
  }

  /**
   * Live sessions of a user, oldest first (public view).
   * @throws TesseraError `ERR_INVALID_ID` (400) for a user id that is not a valid id
   */
  async list(userId: string): Promise<SessionInfo[]> {
    return listSessions(this.#ctx, userId);
  }

  /**
   * Revoke one session by handle. With `userId`, only if it belongs to that user.
   * @returns whether a session was revoked
   * @throws TesseraError `ERR_INVALID_ID` (400) for a handle or user id that is not a valid id
   */
  async revoke(handle: string, options: { userId?: string } = {}): Promise<boolean> {
    return revokeSession(this.#ctx, handle, options);
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
    return revokeOtherSessions(this.#ctx, s);
  }

  /**
   * Revoke every session of a user ("sign out everywhere", an account disabled): deletes them and
   * sets the user's revocation epoch to now in one atomic store step, so a sign-in that began
   * before this call cannot outlive it. Returns once the clock has moved past the epoch.
   * @returns how many sessions were revoked
   * @throws TesseraError `ERR_INVALID_ID` (400) for a user id that is not a valid id
   */
  async revokeAll(userId: string): Promise<number> {
    return revokeUserSessions(this.#ctx, userId);
  }

  /**
   * Remove expired sessions and tombstones from the store: those expired by more than the
   * clocks may disagree, so that no instance whose clock is behind still serves one.
   * @returns how many
   */
  async sweep(limit = 1000): Promise<number> {
    return sweepExpired(this.#ctx, limit);
  }

  /** Close the store. */
  async close(): Promise<void> {
    this.#ctx.orphans.close();
    await this.resolved.store.close();
  }
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
