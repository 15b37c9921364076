/**
 * What the server-side engine and sealed-cookie mode share: resolved options, the event hub,
 * the cookie attributes and the small accessors adapters read. One place, so both modes set the
 * same cookies and emit events the same way.
 */
import { type CookieAttributes, serializeCookie } from './cookie.js';
import type { RequestInfo } from './engine.js';
import {
  EventHub,
  type SessionEvent,
  type SessionEventListener,
  type SessionEventType,
} from './events.js';
import type { KeyRing } from './keys.js';
import type { TesseraLog } from './logger.js';
import type { ResolvedOptions } from './options.js';

/** Base of {@link SessionManager} and {@link SealedSessions}. */
export abstract class ManagerBase {
  /** @internal */ readonly o: ResolvedOptions;
  readonly #events = new EventHub();

  protected constructor(resolved: ResolvedOptions) {
    this.o = resolved;
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
  protected get storeName(): string {
    return this.o.store.name;
  }

  /**
   * tessera's logger (the `logger` option): adapters write their refusals through it.
   * @example sessions.log.write('warn', { event: 'custom' }, 'something to say')
   */
  get log(): TesseraLog {
    return this.o.log;
  }

  /** The key ring. */
  get ring(): KeyRing {
    return this.o.ring;
  }
  /** The cookie name. */
  get cookieName(): string {
    return this.o.cookie.name;
  }
  /** Resolved CSRF settings (header and field names, origins). */
  get csrf(): ResolvedOptions['csrf'] {
    return this.o.csrf;
  }
  /** Whether the `allowInsecure` development flag is on. */
  get allowInsecure(): boolean {
    return this.o.allowInsecure;
  }
  /** The clock (epoch ms). */
  now(): number {
    return this.o.now();
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
  emit(
    type: SessionEventType,
    req: RequestInfo | null,
    rec: { handle: string; userId: string | null } | null,
    extra?: Partial<SessionEvent>,
    cause?: unknown,
  ): void {
    if (type === 'store_error')
      this.o.log.storeError(extra?.reason ?? 'store_error', this.storeName, cause);
    if (!this.#events.active) return;
    const e: SessionEvent = { type, at: this.o.now() };
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
    return serializeCookie(this.o.cookie.name, '', this.cookieAttrs(0));
  }

  /** @internal The configured cookie attributes, with `Max-Age` when given. */
  cookieAttrs(maxAge: number | undefined): CookieAttributes {
    const c = this.o.cookie;
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
