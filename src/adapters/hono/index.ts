/**
 * `tessera-session/hono`: sessions for Hono 4, as one middleware with a typed `c.get('session')`.
 *
 * Runs wherever Hono runs with `node:crypto` (Node via @hono/node-server, Bun, Deno); not on
 * edge runtimes without it. Exports the same names as every adapter: `session`, `getSession`,
 * `login`, `logout`, `csrfToken`, `verifyCSRF`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { TesseraError } from '../../core/errors.js';
import type { SessionData } from '../../core/options.js';
import type { RegisteredData, RequestSessionSlot } from '../../core/register.js';
import type { AdapterOptions as BaseOptions } from '../shared/http.js';
import type {
  AppSession,
  AuthenticateOptions,
  EngineSession,
  RegisteredSession,
  SessionEngine,
} from '../shared/session.js';
import { finishWeb, loaded, startWeb, verifyWeb, type WebChecked } from '../shared/web.js';

export type { ErrorAnswer, ErrorContext } from '../shared/answer.js';
export type { HSTSOptions } from '../shared/http.js';
export { hstsHeader } from '../shared/http.js';
export type { RegisteredSession } from '../shared/session.js';
export { errorStatus } from '../shared/status.js';

/** Options of the Hono adapter: the common adapter options plus a way to learn the client IP. */
export interface AdapterOptions extends BaseOptions {
  /**
   * The client's address, e.g. with `getConnInfo(c).remote.address` from your runtime's
   * `hono/<runtime>` or `@hono/node-server/conninfo`. With `trustProxy`, the forwarding headers
   * are applied on top of it.
   * @default the socket address on @hono/node-server, otherwise none
   */
  getClientIp?: (c: Context) => string | undefined;
}

/**
 * The context variables the middleware sets: `c.get('session')`, a `Session<Data>` or the session
 * type `S` of the engine (`SealedSession<Data>` for `createSealedSessions()`).
 */
export type SessionVariables<
  Data extends SessionData = RegisteredData,
  S extends EngineSession = RegisteredSession<Data>,
> = {
  session: S;
};

/**
 * The Hono `Env` the middleware provides, to type an app:
 * `new Hono<SessionEnv<MyData>>()`, then `c.get('session')` is a `Session<MyData>`;
 * `new Hono<SessionEnv<MyData, SealedSession<MyData>>>()` in sealed mode.
 */
export type SessionEnv<
  Data extends SessionData = RegisteredData,
  S extends EngineSession = RegisteredSession<Data>,
> = {
  Variables: SessionVariables<Data, S>;
};

/**
 * What the augmentation below adds, named outside it: inside, `Session` could name another
 * library's declaration (`@fastify/session` declares one in `fastify`).
 */
type TesseraRequestSession = RequestSessionSlot<RegisteredSession<RegisteredData>>;

declare module 'hono' {
  /**
   * Gives every context `c.get('session')`: a `Session<RegisteredData>` typed by the app's
   * `Register['data']` (a `SealedSession<RegisteredData>` when it registered `mode: 'sealed'`),
   * without `new Hono<SessionEnv>()`; nothing when the app registered `requestSession: false`.
   */
  interface ContextVariableMap extends TesseraRequestSession {}
}

/** Per-request state on the context: what a deferred CSRF check needs. */
const STATE = Symbol('tessera.hono');
type Tracked = Context & { [STATE]?: WebChecked<EngineSession> };

/** @hono/node-server passes `{ incoming, outgoing }` as the bindings. */
function nodeServerIp(c: Context): string | undefined {
  const env = c.env as
    | { incoming?: { socket?: { remoteAddress?: string } }; server?: unknown }
    | undefined;
  const address = env?.incoming?.socket?.remoteAddress;
  return typeof address === 'string' ? address : undefined;
}

/**
 * Hono middleware: loads the session into `c.get('session')`, checks CSRF on unsafe methods (the
 * `x-csrf-token` header, or an urlencoded `_csrf` field read from a clone, so `c.req.parseBody()`
 * still works), and after the handler saves the session and sets the cookie and
 * `Cache-Control: no-store`; answers 403 `{"error":"csrf"}` and 503 `{"error":"store_unavailable"}`.
 * @param engine - from `createSessions()` or `createSealedSessions()`; `c.get('session')` is that
 *   engine's session (`Session` or `SealedSession`) on an app chained from `app.use()` or typed
 *   with {@link SessionEnv}
 * @param options - adapter options (trustProxy, skipCSRF, bodyLimit, getClientIp)
 * @returns the middleware
 * @example
 * ```ts
 * const app = new Hono<SessionEnv>()
 * app.use(session(sessions))
 * app.get('/', (c) => c.text(`hello ${c.get('session').userId ?? 'guest'}`))
 * ```
 */
export function session<S extends EngineSession>(
  engine: SessionEngine<S>,
  options: AdapterOptions = {},
): MiddlewareHandler<SessionEnv<SessionData, S>> {
  return async (c, next) => {
    let start = startWeb(engine, c.req.raw, {
      ...options,
      clientIp: options.getClientIp ? options.getClientIp(c) : nodeServerIp(c),
      path: c.req.path,
    });
    // Awaited only when the load needed I/O: each await is a turn of the microtask queue.
    if (start instanceof Promise) start = await start;
    if (!loaded(start)) return start.reject;
    c.set('session', start.session);
    (c as Tracked)[STATE] = start;
    if (start.reject) return finishWeb(engine, start, start.reject);
    // A handler error has already become c.res through app.onError: the session is committed
    // onto that response like any other.
    await next();
    let out = finishWeb(engine, start, c.res);
    if (out instanceof Promise) out = await out;
    if (out !== c.res) {
      // Hono's setter merges the previous response's headers into the new one; clear it first
      // so a copied or error response keeps exactly its own headers.
      c.res = undefined;
      c.res = out;
    }
  };
}

/**
 * The session of a request: typed as the context's `session` variable where the app's `Env`
 * names it (`new Hono<SessionEnv<Data, SealedSession<Data>>>()`), else as the app's `Register`
 * names it (`Session<Data>`, or `SealedSession<Data>` with `mode: 'sealed'`).
 * @throws TesseraError `ERR_USAGE` if the middleware did not run
 */
export function getSession<S extends EngineSession>(c: Context<{ Variables: { session: S } }>): S;
export function getSession<Data extends SessionData = RegisteredData>(
  c: Context,
): RegisteredSession<Data>;
export function getSession(c: Context): EngineSession {
  return sessionIn(c);
}

function sessionIn(c: Context): AppSession {
  const s = (c as Context<SessionEnv<SessionData, AppSession>>).get('session') as
    | AppSession
    | undefined;
  if (!s)
    throw new TesseraError(
      'ERR_USAGE',
      'No tessera session on this context: is app.use(session(engine)) installed before this route?',
    );
  return s;
}

/** Sign `userId` in on this request's session (rotates the token). */
export function login<Data extends SessionData = RegisteredData>(
  c: Context,
  userId: string,
  options?: AuthenticateOptions<Data>,
): Promise<void> {
  return (sessionIn(c) as AppSession<Data>).authenticate(userId, options);
}

/** End this request's session and clear its cookie. */
export function logout(c: Context): Promise<void> {
  return sessionIn(c).destroy();
}

/** The CSRF token to embed in a form or send in the `x-csrf-token` header. */
export function csrfToken(c: Context): string {
  return sessionIn(c).csrfToken();
}

/**
 * Run the adapter's CSRF check now, inside the handler — for a route opted out with `skipCSRF`
 * whose contract answers 401 before 403: check authentication first, then call this. It is the
 * check the middleware runs before the handler (Fetch Metadata / Origin / Referer, the
 * `x-csrf-token` header or an urlencoded `_csrf` field read from a clone, the `jsonOnly` 415
 * rule), emits the same `csrf_rejected` event, and passes at once for safe methods and for a
 * request the middleware already checked. Call it before `c.req.parseBody()` / `c.req.text()`.
 * @param c - the context of a request the middleware ran on
 * @returns when the request passes
 * @throws TesseraError `ERR_CSRF` (status 403) when it does not — Hono's default `onError`
 *   answers 500, so map it in `app.onError` (see docs/frameworks.md); `ERR_BAD_REQUEST`
 *   (413 / 415 / 400); `ERR_USAGE` when the middleware did not run
 * @example
 * ```ts
 * app.post('/deferred', async (c) => {
 *   if (!c.get('session').userId) return c.json({ error: 'unauthenticated' }, 401)
 *   await verifyCSRF(c)
 *   return c.json({ ok: true })
 * })
 * ```
 */
export async function verifyCSRF(c: Context): Promise<void> {
  sessionIn(c);
  const state = (c as Tracked)[STATE];
  if (state) await verifyWeb(state);
}
