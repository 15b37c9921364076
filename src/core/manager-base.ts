/**
 * What the server-side engine and sealed-cookie mode share: resolved options, the event hub,
 * the cookie attributes and the small accessors adapters read. One place, so both modes set the
 * same cookies and emit events the same way.
 */
import { EngineClock } from './clock.js';
import type { RequestInfo } from './contract.js';
import { type CookieAttributes, serializeCookie } from './cookie.js';
import { TesseraError } from './errors.js';
import {
  EventHub,
  type SessionEvent,
  type SessionEventListener,
  type SessionEventType,
} from './events.js';
import type { KeyRing } from './keys.js';
import type { TesseraLog } from './logger.js';
import type { ResolvedCommonOptions } from './options.js';

/** Base of {@link SessionManager} and {@link SealedSessionManager}. */
export abstract class ManagerBase<R extends ResolvedCommonOptions = ResolvedCommonOptions> {
  /**
   * The resolved options, with the engine's clock as `now` (not public: adapters read what they
   * need through the contract's `log`, `csrf` and `allowInsecure`).
   */
  protected readonly resolved: R;
  readonly #events = new EventHub();
  readonly #clock: EngineClock;

  /**
   * @param resolved - the resolved options; its `now` becomes the engine's clock
   * @param storeTime - the store's clock (`time()`), when the store has one
   * @throws TesseraError `ERR_CONFIG` for `clock: 'store'` over a store without `time()`
   */
  protected constructor(resolved: R, storeTime: (() => Promise<number>) | undefined) {
    if (resolved.clock === 'store' && storeTime === undefined && resolved.clockExplicit) {
      throw new TesseraError(
        'ERR_CONFIG',
        "clock: 'store' needs a store with a time() method (every tessera store has one; in sealed mode, a revocation store made by revocationStoreFrom(store)); pass clock: 'local' to use this process's clock.",
      );
    }
    this.#clock = new EngineClock({
      local: resolved.now,
      source: resolved.clock === 'store' ? storeTime : undefined,
      skewMs: resolved.clockSkewMs,
    });
    this.resolved =
      this.#clock.now === resolved.now ? resolved : { ...resolved, now: this.#clock.now };
    if (resolved.allowInsecure) {
      const c = resolved.cookie;
      resolved.log.once(
        'warn',
        `${c.name};${c.secure}`,
        { event: 'allow_insecure', cookie: c.name, secure: c.secure },
        `allowInsecure is on: sessions are served over plain http on any host, with the cookie "${c.name}" without Secure or the __Host- prefix, so a browser keeps it there. A development setting: never use it in production (behind a TLS-terminating proxy, set the adapter's trustProxy instead; see docs/deploying.md).`,
      );
    }
  }

  /** @internal What a `store_error` log line names. */
  protected abstract get storeName(): string;

  /**
   * tessera's logger (the `logger` option): adapters write their refusals through it.
   * @example sessions.log.write('warn', { event: 'custom' }, 'something to say')
   */
  get log(): TesseraLog {
    return this.resolved.log;
  }

  /** The key ring. */
  get ring(): KeyRing {
    return this.resolved.ring;
  }
  /** The cookie name. */
  get cookieName(): string {
    return this.resolved.cookie.name;
  }
  /** Resolved CSRF settings (header and field names, origins). */
  get csrf(): ResolvedCommonOptions['csrf'] {
    return this.resolved.csrf;
  }
  /** Whether the `allowInsecure` development flag is on. */
  get allowInsecure(): boolean {
    return this.resolved.allowInsecure;
  }
  /** The engine's clock (epoch ms): the store's with `clock: 'store'`, else the local one. */
  now(): number {
    return this.resolved.now();
  }

  /**
   * Sample the store's clock now (with `clock: 'store'`; else nothing to do). The engine does it
   * by itself at construction and every 30 s in the background; await this at start-up so that
   * the very first requests already run on the store's clock.
   * @returns a promise that settles when the sample is done; it never rejects (a failed sample
   *   keeps the last offset)
   * @example await sessions.syncClock()
   */
  syncClock(): Promise<void> {
    return this.#clock.sync();
  }

  /**
   * @internal Sample the store's clock again before a decision that other instances must agree
   * on and that cannot be undone (a theft signal that revokes a family, deleting an expired
   * session): the store's clock may have been stepped since the last background sample, and
   * another instance may already run on the new time. Rare paths only, and only when the last
   * sample is more than a second old.
   * @returns whether a store clock was sampled (so the decision should be judged again)
   */
  protected async resyncClock(): Promise<boolean> {
    if (!this.#clock.resampleWorthwhile) return false;
    await this.#clock.sync();
    return true;
  }

  /**
   * @internal How far (ms) another instance's clock may disagree with this engine's now: the
   * margin before deleting an expired session or calling a late rotated-out token a theft.
   */
  protected clockAllowance(): number {
    return this.#clock.allowance;
  }

  /** @internal start a background sample of the store's clock when one is due (per request). */
  protected tickClock(): void {
    this.#clock.tick();
  }

  /**
   * Subscribe to events of one type, or all with `'*'`.
   * @returns unsubscribe
   * @example sessions.on('theft_suspected', (e) => alert(e.userId))
   */
  on(type: SessionEventType | '*', listener: SessionEventListener): () => void {
    return this.#events.on(type, listener);
  }

  /**
   * @internal Emit an event; a `store_error` is also logged (rate-limited), with `cause`'s
   * message when given.
   */
  protected emit(
    type: SessionEventType,
    req: RequestInfo | null,
    rec: { handle: string; userId: string | null } | null,
    extra?: Partial<SessionEvent>,
    cause?: unknown,
  ): void {
    if (type === 'store_error')
      this.resolved.log.storeError(extra?.reason ?? 'store_error', this.storeName, cause);
    if (!this.#events.active) return;
    const e: SessionEvent = { type, at: this.resolved.now() };
    if (rec) {
      e.handle = rec.handle;
      e.userId = rec.userId;
    }
    if (req) {
      e.ip = req.ip ?? null;
      e.userAgent = req.userAgent ?? null;
    }
    this.#events.emit(extra ? Object.assign(e, extra) : e);
  }

  /** A Set-Cookie value that removes the session cookie (repeats Secure and Path=/, which `__Host-` needs). */
  clearCookie(): string {
    return serializeCookie(this.resolved.cookie.name, '', this.cookieAttrs(0));
  }

  /** @internal The configured cookie attributes, with `Max-Age` when given. */
  protected cookieAttrs(maxAge: number | undefined): CookieAttributes {
    const c = this.resolved.cookie;
    return {
      httpOnly: c.httpOnly,
      secure: c.secure,
      sameSite: c.sameSite,
      path: c.path,
      ...(c.domain !== undefined ? { domain: c.domain } : {}),
      ...(maxAge !== undefined ? { maxAge } : {}),
    };
  }
}
