/**
 * The one contract between an engine and an adapter: what every adapter (node:http, Express,
 * Fastify, Hono, fetch) may use of a session engine, and all it may use. The server-side engine
 * (`createSessions`) and sealed-cookie mode (`createSealedSessions`) both implement it, so every
 * adapter hosts either. An adapter reads no other member of an engine or a session.
 *
 * The request cycle: `load` → (unsafe method) `verifyCSRF` → the app's handler → `commit`, or
 * `commitCookieNow` when the response starts streaming before the handler returns. `loadNow` and
 * `commitNow` are the same steps without a promise, when they need no I/O.
 */
import type { CSRFRejection, CSRFRequest } from './csrf.js';
import type { TesseraLog } from './logger.js';
import type { ResolvedOptions } from './options.js';

/** What an adapter knows of a request when it asks the engine for its session. */
export interface RequestInfo {
  /** The raw `Cookie` header. */
  cookie?: string | undefined;
  /** HTTP method, upper-case. */
  method: string;
  userAgent?: string | undefined;
  /** The client IP as the adapter trusts it (see the adapters' `trustProxy`). */
  ip?: string | undefined;
  /**
   * When the request began (epoch ms, the engine's clock); at most now. A sign-in in this request
   * stamps `authenticatedAt` with it, so that a password checked during the request is stamped
   * before the check (a revocation that lands meanwhile then refuses the sign-in).
   * @default the moment `load()` runs
   */
  startedAt?: number | undefined;
}

/** What the adapter must do to the response after {@link SessionEngine.commit}: the cookie plan. */
export interface CommitResult {
  /** A Set-Cookie header value to send, or null. */
  setCookie: string | null;
  /** Whether the response depends on a session (send `Cache-Control: no-store`). */
  private: boolean;
}

/** The outcome of {@link SessionEngine.verifyCSRF}. */
export type CSRFResult = { ok: true } | { ok: false; reason: CSRFRejection };

/** The resolved CSRF settings an adapter reads (where to find the token, which origins pass). */
export type CSRFSettings = ResolvedOptions['csrf'];

/** What an adapter reads of a session: its state and, for an error page, its CSRF token. */
export interface EngineSession {
  /** `'anonymous'`, `'visitor'`, `'authenticated'` … (the engine's own union). */
  readonly state: string;
  /** The CSRF token of the session (for an `onError` page that renders a form again). */
  csrfToken(): string;
}

/**
 * What an adapter needs from an engine. `S` is the engine's session type (`Session<Data>` or
 * `SealedSession<Data>`).
 */
export interface SessionEngine<S extends EngineSession = EngineSession> {
  /** Whether plain http is allowed outside loopback (development flag). */
  readonly allowInsecure: boolean;
  /** Where the adapter logs its refusals (the engine's `logger` option). */
  readonly log: TesseraLog;
  /** Resolved CSRF settings. */
  readonly csrf: CSRFSettings;
  /** Open the session a request carries. Rejects with a `TesseraError` (a store fault: 503). */
  load(req: RequestInfo): Promise<S>;
  /** Check an unsafe request against CSRF (`presented`: the token from header or form). */
  verifyCSRF(s: S, req: CSRFRequest, presented: string | undefined): CSRFResult;
  /**
   * The session a request carries when opening it needs no I/O (no cookie, a pre-session or
   * malformed cookie, a sealed cookie whose user's revocation watermark is known), else
   * `undefined`: then call {@link load}. Optional: an adapter falls back to `load` without it.
   * What it returns, the events it emits and what the later commit sends are exactly what `load`
   * would have given; when it returns `undefined` it has had no effect (no event, no limiter hit),
   * so `load` may follow. It lets an adapter run the handler in the same tick, without a promise.
   */
  loadNow?(req: RequestInfo): S | undefined;
  /** Save the session; tells which cookie to send. */
  commit(s: S): Promise<CommitResult>;
  /**
   * The commit when it needs no I/O (nothing to write: a read that moves no deadline, an
   * anonymous request; in sealed mode always), else `undefined`: then call {@link commit}.
   * Optional, as {@link loadNow}. It has the effects `commit` would have had (events, the
   * session marked committed); what `commit` rejects with, it throws. Returning `undefined`
   * has no effect.
   */
  commitNow?(s: S): CommitResult | undefined;
  /**
   * Whether a response that starts streaming before the commit depends on this session, so
   * the adapter must send `Cache-Control: no-store` and {@link commitCookieNow} with its head.
   */
  streamsPrivate(s: S): boolean;
  /** The Set-Cookie for a response that starts streaming before the commit, or null. */
  commitCookieNow(s: S): string | null;
}

/** The session type an engine hands its adapter. */
export type SessionOf<E> = E extends SessionEngine<infer S> ? S : never;
