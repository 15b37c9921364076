/**
 * `tessera-session/fetch`: sessions for fetch-style handlers — `(Request) => Response`, as in
 * Next.js route handlers (Node runtime), Remix / React Router, Bun.serve or Deno.serve.
 *
 * The public surface uses only the standard `Request` / `Response` types. The engine needs
 * `node:crypto`, so this runs on Node, Bun and Deno (with Node compatibility), not on edge
 * runtimes without it.
 *
 * Exports the same names as every adapter: `session`, `getSession`, `login`, `logout`, `csrfToken`,
 * `verifyCSRF`.
 */
import { TesseraError } from '../../core/errors.js';
import type { SessionData } from '../../core/options.js';
import type { RegisteredData } from '../../core/register.js';
import type { AdapterOptions as BaseOptions } from '../shared/http.js';
import type {
  AppSession,
  AuthenticateOptions,
  EngineSession,
  RegisteredSession,
  SessionEngine,
} from '../shared/session.js';
import {
  errorResponse,
  finishWeb,
  keepState,
  keptState,
  loaded,
  startWeb,
  verifyWeb,
  type WebChecked,
  type WebStart,
} from '../shared/web.js';

export type { ErrorAnswer, ErrorContext } from '../shared/answer.js';
export type { HSTSOptions } from '../shared/http.js';
export { hstsHeader } from '../shared/http.js';
export type { RegisteredSession } from '../shared/session.js';
export { errorStatus } from '../shared/status.js';

/** Options of the fetch adapter: the common adapter options plus a way to learn the client IP. */
export interface AdapterOptions extends BaseOptions {
  /**
   * The client's address (a `Request` carries no socket), e.g. from `Bun.serve`'s
   * `server.requestIP(request)` or `Deno.serve`'s `info.remoteAddr`. With `trustProxy`, the
   * forwarding headers are applied on top of it.
   * @default none — the IP is unknown, so IP-change signals stay silent
   */
  getClientIp?: (request: Request) => string | undefined;
}

/**
 * A handler that receives the request's session and returns the response. `S` is the session
 * type of the engine: `Session<Data>`, or `SealedSession<Data>` for `createSealedSessions()`.
 */
export type SessionHandler<
  Data extends SessionData = RegisteredData,
  S extends EngineSession = RegisteredSession<Data>,
> = (session: S, request: Request) => Response | Promise<Response>;

/** Runs one request through tessera: see {@link session}. */
export type Handle<
  Data extends SessionData = RegisteredData,
  S extends EngineSession = RegisteredSession<Data>,
> = (request: Request, handler: SessionHandler<Data, S>) => Promise<Response>;

/**
 * Create the `handle(request, handler)` function for fetch-style handlers: it loads the session,
 * checks CSRF on unsafe methods (the `x-csrf-token` header, or an urlencoded `_csrf` field read
 * from a clone so the handler can still read the body), runs the handler, then saves the session
 * and applies the cookie to the returned response — after the handler, since a first write or a
 * rotation decides the cookie. Answers 403 `{"error":"csrf"}`, 503 `{"error":"store_unavailable"}`
 * and, for a handler that throws, 500 `{"error":"internal"}` without details.
 * @param engine - from `createSessions()` or `createSealedSessions()`; the handler's session is
 *   that engine's (`Session` or `SealedSession`)
 * @param options - adapter options (trustProxy, skipCSRF, bodyLimit, getClientIp)
 * @returns `handle(request, (session, request) => response)`
 * @example
 * ```ts
 * const handle = session(sessions)
 * export const GET = (request: Request) =>
 *   handle(request, (s) => {
 *     s.update('views', (n) => (Number(n) || 0) + 1)
 *     return Response.json({ views: s.get('views') })
 *   })
 * ```
 */
export function session<S extends EngineSession>(
  engine: SessionEngine<S>,
  options: AdapterOptions = {},
): Handle<SessionData, S> {
  return (request, handler) => {
    const start = startWeb(engine, request, {
      ...options,
      clientIp: options.getClientIp?.(request),
    });
    return start instanceof Promise
      ? start.then((st) => run(engine, options, request, handler, st))
      : run(engine, options, request, handler, start);
  };
}

/**
 * The handler with the loaded session, then the commit onto its response; the promises of a
 * request whose session loads and commits without I/O are only the handler's own and the one
 * `handle()` returns.
 */
function run<S extends EngineSession>(
  engine: SessionEngine<S>,
  options: AdapterOptions,
  request: Request,
  handler: SessionHandler<SessionData, S>,
  start: WebStart<S>,
): Promise<Response> {
  if (!loaded(start)) return Promise.resolve(start.reject);
  keepState(request, start);
  if (start.reject) return Promise.resolve(finishWeb(engine, start, start.reject));
  const s = start.session;
  const failed = (err: unknown): Response =>
    errorResponse(err, { request, options, log: engine.log, session: s });
  const finish = (response: Response): Response | Promise<Response> => {
    // Duck-typed: runtimes and bridges (e.g. @hono/node-server) may swap the Response class.
    if (typeof (response as Partial<Response> | null)?.headers?.get !== 'function')
      response = failed(new TypeError('A tessera fetch handler must return a Response.'));
    return finishWeb(engine, start, response);
  };
  let result: Response | Promise<Response>;
  try {
    result = handler(s, request);
  } catch (err) {
    return Promise.resolve(finishWeb(engine, start, failed(err)));
  }
  if (typeof (result as Partial<Promise<Response>> | null)?.then === 'function')
    return (result as Promise<Response>).then(finish, (err: unknown) =>
      finishWeb(engine, start, failed(err)),
    );
  return Promise.resolve(finish(result as Response));
}

/**
 * The session of a request inside `handle()` — the same object the handler receives, typed as
 * the app's `Register` names it (`Session<Data>`, or `SealedSession<Data>` with
 * `mode: 'sealed'`), or as `S`.
 * @throws TesseraError `ERR_USAGE` if the request did not go through `handle()`
 */
export function getSession<
  Data extends SessionData = RegisteredData,
  S extends EngineSession = RegisteredSession<Data>,
>(request: Request): S {
  return stateOf(request).session as S;
}

function stateOf(request: Request): WebChecked<EngineSession> {
  const state = keptState(request);
  if (!state)
    throw new TesseraError(
      'ERR_USAGE',
      'No tessera session for this Request: call getSession() inside handle(request, handler).',
    );
  return state;
}

/**
 * Sign `userId` in on this request's session (rotates the token; the new cookie goes out with
 * the handler's response).
 * @throws TesseraError `ERR_STORE_UNAVAILABLE`, `ERR_SESSION_LIMIT`
 */
export function login<Data extends SessionData = RegisteredData>(
  request: Request,
  userId: string,
  options?: AuthenticateOptions<Data>,
): Promise<void> {
  return (stateOf(request).session as AppSession<Data>).authenticate(userId, options);
}

/** End this request's session and clear its cookie. */
export function logout(request: Request): Promise<void> {
  return (stateOf(request).session as AppSession).destroy();
}

/** The CSRF token to embed in a form or send in the `x-csrf-token` header. */
export function csrfToken(request: Request): string {
  return stateOf(request).session.csrfToken();
}

/**
 * Run the adapter's CSRF check now, inside the handler — for a route opted out with `skipCSRF`
 * whose contract answers 401 before 403: check authentication first, then call this. It is the
 * check `handle()` runs before the handler (Fetch Metadata / Origin / Referer, the
 * `x-csrf-token` header or an urlencoded `_csrf` field read from a clone, the `jsonOnly` 415
 * rule), emits the same `csrf_rejected` event, and passes at once for safe methods and for a
 * request `handle()` already checked. Call it before reading the body yourself.
 * @param request - the request inside `handle(request, handler)`
 * @returns when the request passes
 * @throws TesseraError `ERR_CSRF` (status 403) when it does not — `handle()` answers a thrown
 *   TesseraError with its status and JSON body (403 `{"error":"csrf"}`); `ERR_BAD_REQUEST`
 *   (413 / 415 / 400); `ERR_USAGE` outside `handle()`
 * @example
 * ```ts
 * handle(request, async (s, req) => {
 *   if (!s.userId) return Response.json({ error: 'unauthenticated' }, { status: 401 })
 *   await verifyCSRF(req)
 *   return Response.json({ ok: true })
 * })
 * ```
 */
export function verifyCSRF(request: Request): Promise<void> {
  try {
    return verifyWeb(stateOf(request));
  } catch (err) {
    return Promise.reject(err);
  }
}
