/**
 * Glue between the engine and Node's `IncomingMessage` / `ServerResponse`, shared by the
 * node:http and Express adapters (Express responses are Node responses). It loads the session,
 * runs the CSRF check, and commits the session when the response ends, before the headers go.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EngineSession, SessionEngine } from '../../core/contract.js';
import { isTesseraError, TesseraError } from '../../core/errors.js';
import type { SessionData } from '../../core/options.js';
import type { RegisteredData } from '../../core/register.js';
import { type ErrorReply, errorReply, logUnexpected } from './answer.js';
import { readCapped } from './body.js';
import {
  type AdapterOptions,
  asksRoute,
  bodyTooLargeError,
  CSRF_VARY,
  clientFacts,
  csrfFacts,
  DEFAULT_BODY_TIMEOUT,
  parseUrlencoded,
  planCSRF,
  presentedToken,
  type RoutePath,
  sentAndParsed,
} from './http.js';
import { answerError, hookResponse, isHeld } from './node-response.js';
import type {
  AppSession,
  AuthenticateOptions,
  RegisteredSession,
  SealedSession,
} from './session.js';
import { checkTransport, csrfError } from './transport.js';

/** What the node:http and Express glue reads of a session: see {@link EngineSession}. */
export type HostedSession = EngineSession;

/** The engine the node:http and Express glue hosts: see {@link SessionEngine}. */
export type HostEngine<S extends HostedSession> = SessionEngine<S>;

/**
 * A request that went through a tessera adapter; `S` is the session type of the engine it hosts
 * (`Session<Data>`, or `SealedSession<Data>` for `createSealedSessions()`; by default the one the
 * app's `Register` names).
 */
export interface SessionRequest<
  Data extends SessionData = RegisteredData,
  S extends HostedSession = RegisteredSession<Data>,
> extends IncomingMessage {
  session: S;
  /** The urlencoded body, when the adapter had to parse it to find `_csrf`. */
  body?: unknown;
}

/** A request whose adapter hosts sealed-cookie mode (`createSealedSessions`). */
export type SealedSessionRequest<Data extends SessionData = RegisteredData> = SessionRequest<
  Data,
  SealedSession<Data>
>;

const SESSION = Symbol.for('tessera.session');

/**
 * The session of a request that went through the adapter, as the helpers use it (either engine's).
 * @throws TesseraError `ERR_USAGE` if it did not
 */
export function sessionOf<Data extends SessionData>(req: object): AppSession<Data> {
  const s = (req as Record<symbol, AppSession<Data> | undefined>)[SESSION];
  if (!s)
    throw new TesseraError(
      'ERR_USAGE',
      'No tessera session on this request: is the tessera middleware installed before this route?',
    );
  return s;
}

function header(req: IncomingMessage): (name: string) => string | undefined {
  return (name) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
}

/**
 * Answer an error — the JSON body, or the app's `onError` page — unless the response already
 * started (then destroy the socket); when the handler ended the response before it threw, that
 * response goes out as ended. Never throws.
 * @param req - the request, when the adapter ran on it (for its engine's logger and `onError`)
 */
export function sendError(res: ServerResponse, err: unknown, req?: IncomingMessage): void {
  const engine = (req as Deferred<HostedSession> | undefined)?.[HOST];
  if (!isTesseraError(err)) logUnexpected(engine?.log, err, 'unexpected error (answered 500)');
  if (isHeld(res)) return;
  // Through res.end, so a hooked response still commits the session first.
  answerError(
    res,
    res.end as (...a: unknown[]) => unknown,
    err,
    false,
    req ? (e) => renderError(req, e) : undefined,
    engine?.log,
  );
}

/** The error reply for a request the adapter ran on: its `onError` hook, its session's token. */
function renderError(req: IncomingMessage, err: unknown): ErrorReply {
  const r = req as Deferred<HostedSession>;
  const session = (req as unknown as Record<symbol, HostedSession | undefined>)[SESSION];
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return errorReply(err, r[OPTIONS], r[HOST]?.log, {
    method: (req.method ?? 'GET').toUpperCase(),
    path: q === -1 ? url : url.slice(0, q),
    header: header(req),
    csrfToken: session ? () => session.csrfToken() : undefined,
  });
}

/**
 * Read a request body, at most `limit` bytes and within `timeout` ms.
 * @throws TesseraError `ERR_BAD_REQUEST` (413 over `limit`, 408 past `timeout`, 400 on a read error)
 */
function readBody(req: IncomingMessage, limit: number, timeout: number): Promise<string> {
  if (Number(req.headers['content-length']) > limit) return Promise.reject(bodyTooLargeError());
  return readCapped(req, limit, timeout);
}

/**
 * The path a request's route predicates are asked about (see `AdapterOptions.skipCSRF`): a
 * module-level function per adapter, called only for a request that needs it.
 */
export type RouteOf = (req: IncomingMessage) => RoutePath;

/**
 * node:http's route path: the app routes itself, so the path as sent and, when it differs, as
 * a URL parser reads it.
 */
export function sentRoute(req: IncomingMessage): RoutePath {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return sentAndParsed(q === -1 ? url : url.slice(0, q));
}

/**
 * Load the session for a request, check CSRF, and arrange for the session to be committed when
 * the response ends. Answers the request itself (403 / 503 / 400) and returns null when the
 * handler must not run.
 */
export async function attach<S extends HostedSession>(
  engine: HostEngine<S>,
  req: IncomingMessage,
  res: ServerResponse,
  options: AdapterOptions,
  routeOf: RouteOf,
): Promise<S | null> {
  const get = header(req);
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const facts = clientFacts(
    get,
    req.socket.remoteAddress,
    encrypted ? 'https' : 'http',
    options.trustProxy,
    options.proxyHeader,
  );
  const method = (req.method ?? 'GET').toUpperCase();
  // What sendError() and verifyCSRF() need later, kept on the request itself (no allocation per
  // request).
  const r = req as Deferred<S>;
  r[HOST] = engine;
  r[OPTIONS] = options;
  const insecure = checkTransport(engine, get, facts.scheme, options);
  if (insecure) {
    sendError(res, insecure, req);
    return null;
  }
  let session: S;
  try {
    session = await engine.load({
      cookie: req.headers.cookie,
      method,
      userAgent: req.headers['user-agent'],
      ip: facts.ip,
    });
  } catch (err) {
    sendError(res, err, req);
    return null;
  }
  (req as unknown as Record<symbol, unknown>)[SESSION] = session;
  (req as SessionRequest<SessionData, S>).session = session;
  hookResponse(engine, session, res, (e) => renderError(req, e));

  r[SCHEME] = facts.scheme;
  r[ROUTE] = routeOf;
  r[RESPONSE] = res;
  try {
    await checkCSRF(r, options);
  } catch (err) {
    sendError(res, err, req);
    return null;
  }
  return session;
}

const HOST = Symbol('tessera.host');
const OPTIONS = Symbol('tessera.options');
const SCHEME = Symbol('tessera.scheme');
const ROUTE = Symbol('tessera.route');
const RESPONSE = Symbol('tessera.response');
const CHECKED = Symbol('tessera.csrfChecked');

/** A request `attach()` ran on, with what a deferred CSRF check needs. */
type Deferred<S extends HostedSession> = IncomingMessage & {
  [HOST]?: HostEngine<S>;
  [OPTIONS]?: AdapterOptions;
  [SCHEME]?: string;
  [ROUTE]?: RouteOf;
  [RESPONSE]?: ServerResponse;
  [CHECKED]?: boolean;
};

/**
 * The CSRF check of a request (planCSRF → form → engine.verifyCSRF), marking it passed.
 * @throws TesseraError `ERR_CSRF` (403), `ERR_BAD_REQUEST` (413 / 415 / 400)
 */
async function checkCSRF<S extends HostedSession>(
  req: Deferred<S>,
  options: AdapterOptions,
): Promise<void> {
  const engine = req[HOST]!;
  const get = header(req);
  const method = (req.method ?? 'GET').toUpperCase();
  const route = asksRoute(engine, method, options) ? req[ROUTE]!(req) : '';
  const plan = planCSRF(engine, method, route, get, options);
  if (plan instanceof TesseraError) throw plan;
  if (plan === 'skip') return;
  req[RESPONSE]?.appendHeader('vary', CSRF_VARY);
  // `_csrf` counts only in an urlencoded form (as in every adapter). A body parser that ran
  // first marks a parsed body with `_body` (body-parser 1.x, which also sets `req.body = {}`
  // for requests it did not parse, so `req.body` alone proves nothing) or has consumed the
  // stream (body-parser 2.x, Express 5): then `req.body` is all there is to read.
  const consumed = (req as { _body?: boolean })._body === true || req.readableEnded;
  const body = (req as { body?: unknown }).body;
  let form =
    plan === 'read-form' && consumed && typeof body === 'object' && body !== null
      ? (body as Record<string, unknown>)
      : undefined;
  if (plan === 'read-form' && !consumed) {
    form = parseUrlencoded(
      await readBody(req, options.bodyLimit ?? 65_536, options.bodyTimeout ?? DEFAULT_BODY_TIMEOUT),
    );
    (req as { body?: unknown }).body = form;
    // body-parser (express.urlencoded) skips a request whose body was already read.
    (req as { _body?: boolean })._body = true;
  }
  const facts = csrfFacts(method, get, req[SCHEME]!);
  const result = engine.verifyCSRF(
    (req as unknown as Record<symbol, S>)[SESSION]!,
    facts,
    // presentedToken reads only `engine.csrf` (header and field names).
    presentedToken(engine, get, form),
  );
  if (!result.ok) throw csrfError(engine, result.reason, facts);
  req[CHECKED] = true;
}

/**
 * Run the adapter's CSRF check now, inside the handler — for a route opted out with `skipCSRF`
 * whose contract answers 401 before 403: check authentication first, then call this. It is the
 * check the adapter runs before the handler (Fetch Metadata / Origin / Referer, the
 * `x-csrf-token` header or an urlencoded `_csrf` field, the `jsonOnly` 415 rule), emits the same
 * `csrf_rejected` event, and passes at once for safe methods and for a request the adapter
 * already checked. An urlencoded form it reads is left in `req.body` (one a body parser already
 * parsed is used as it is).
 * @param req - a request the adapter ran on
 * @returns when the request passes
 * @throws TesseraError `ERR_CSRF` (status 403) when it does not; `ERR_BAD_REQUEST` (413 over
 *   `bodyLimit`, 415 for the `jsonOnly` rule, 400 for a malformed form); `ERR_USAGE` when the
 *   adapter did not run on this request
 * @example
 * ```ts
 * if (!req.session.userId) return json(res, 401, { error: 'unauthenticated' })
 * await verifyCSRF(req) // a node handler answers a thrown TesseraError with 403 {"error":"csrf"}
 * ```
 */
export async function verifyCSRF(req: IncomingMessage): Promise<void> {
  const r = req as Deferred<HostedSession>;
  sessionOf(r);
  if (r[CHECKED] || !r[HOST]) return;
  // The same check without the route's opt-out, which is why the app calls it.
  const { skipCSRF: _, ...options } = r[OPTIONS] ?? {};
  await checkCSRF(r, options);
}

/**
 * The session of a request: typed as the request's `session` (a `SealedSession` for a request
 * served in sealed-cookie mode), else as the app's `Register` names it (`Session<Data>`, or
 * `SealedSession<Data>` with `mode: 'sealed'`).
 * @param req - a request the adapter ran on
 * @returns its session
 * @throws TesseraError `ERR_USAGE` if the adapter did not run on this request
 * @example const s = getSession<{ theme: string }>(req)
 */
export function getSession<S extends HostedSession>(req: IncomingMessage & { session: S }): S;
export function getSession<Data extends SessionData = RegisteredData>(
  req: IncomingMessage,
): RegisteredSession<Data>;
export function getSession(req: IncomingMessage): HostedSession {
  return sessionOf(req);
}

/** Sign `userId` in on this request's session (rotates the token). */
export function login<Data extends SessionData = RegisteredData>(
  req: IncomingMessage,
  userId: string,
  options?: AuthenticateOptions<Data>,
): Promise<void> {
  return sessionOf<Data>(req).authenticate(userId, options);
}

/** End this request's session and clear its cookie. */
export function logout(req: IncomingMessage): Promise<void> {
  return sessionOf(req).destroy();
}

/** The CSRF token to embed in a form or send in the `x-csrf-token` header. */
export function csrfToken(req: IncomingMessage): string {
  return sessionOf(req).csrfToken();
}
