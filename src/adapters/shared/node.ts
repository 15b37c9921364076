/**
 * Glue between the engine and Node's `IncomingMessage` / `ServerResponse`, shared by the
 * node:http and Express adapters (Express responses are Node responses). It loads the session,
 * runs the CSRF check, and commits the session when the response ends, before the headers go.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EngineSession, RequestInfo, SessionEngine } from '../../core/contract.js';
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
import { loadThen } from './load.js';
import { answerError, Exchange, isHeld, OPEN, STATE } from './node-response.js';
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

/** The state the glue keeps for a request, if it ran on it. */
function stateOf(req: object | undefined): NodeExchange<HostedSession> | undefined {
  return (req as { [STATE]?: NodeExchange<HostedSession> } | undefined)?.[STATE];
}

/**
 * The session of a request that went through the adapter, as the helpers use it (either engine's).
 * @throws TesseraError `ERR_USAGE` if it did not
 */
export function sessionOf<Data extends SessionData>(req: object): AppSession<Data> {
  const s = stateOf(req)?.loaded as AppSession<Data> | undefined;
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
  const x = stateOf(req);
  if (!isTesseraError(err)) logUnexpected(x?.engine.log, err, 'unexpected error (answered 500)');
  // The app ended the response before the error: it goes out as ended.
  if (isHeld(res) || (x !== undefined && x.phase !== OPEN)) return;
  // Through res.end, so a hooked response still commits the session first.
  answerError(
    res,
    res.end as (...a: unknown[]) => unknown,
    err,
    false,
    x ? (e) => x.render(e) : undefined,
    x?.engine.log,
  );
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

/** What an adapter instance gives the glue once: its engine, options and route path. */
export interface NodeHost<S extends HostedSession> {
  engine: HostEngine<S>;
  options: AdapterOptions;
  routeOf: RouteOf;
}

/**
 * A request's state: the response half ({@link Exchange}) plus what `sendError()`, the error
 * page and a deferred CSRF check need — the request's one object under one symbol.
 */
class NodeExchange<S extends HostedSession> extends Exchange<S> {
  readonly host: NodeHost<S>;
  declare readonly req: IncomingMessage;
  readonly get: (name: string) => string | undefined;
  /** The session, once loaded (`session` is set with it). */
  loaded: S | null = null;
  scheme = 'http';
  /** The CSRF check ran and passed. */
  checked = false;

  constructor(host: NodeHost<S>, req: IncomingMessage, res: ServerResponse) {
    super(host.engine, req, res);
    this.host = host;
    this.get = header(req);
  }

  /** The error reply for this request: its `onError` hook, its session's token. */
  override render(err: unknown): ErrorReply {
    const req = this.req;
    const session = this.loaded;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    return errorReply(err, this.host.options, this.host.engine.log, {
      method: (req.method ?? 'GET').toUpperCase(),
      path: q === -1 ? url : url.slice(0, q),
      header: this.get,
      csrfToken: session ? () => session.csrfToken() : undefined,
    });
  }
}

/**
 * What runs once the request passed (the handler, or Express's `next`), with the value the
 * adapter passed to {@link attach} (Express's `next`); a module-level function, no closure.
 */
export type Proceed<A> = (req: IncomingMessage, res: ServerResponse, arg: A) => void;

/**
 * Load the session for a request, check CSRF, arrange for the session to be committed when the
 * response ends, then call `proceed` — in the same tick when the engine loads the session without
 * I/O (`loadNow`) and no form must be read. Answers the request itself (403 / 503 / 400 / 421)
 * instead when the handler must not run. Never throws, never rejects.
 */
export function attach<S extends HostedSession, A>(
  host: NodeHost<S>,
  req: IncomingMessage,
  res: ServerResponse,
  proceed: Proceed<A>,
  arg: A,
): void {
  const { engine, options } = host;
  // Kept on the request under one symbol (by Exchange): sessionOf, sendError, verifyCSRF read it.
  const x = new NodeExchange(host, req, res);
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const facts = clientFacts(
    x.get,
    req.socket.remoteAddress,
    encrypted ? 'https' : 'http',
    options.trustProxy,
    options.proxyHeader,
  );
  x.scheme = facts.scheme;
  const insecure = checkTransport(engine, x.get, facts.scheme, options);
  if (insecure) {
    sendError(res, insecure, req);
    return;
  }
  const info: RequestInfo = {
    cookie: req.headers.cookie,
    method: (req.method ?? 'GET').toUpperCase(),
    userAgent: req.headers['user-agent'],
    ip: facts.ip,
  };
  loadThen(
    engine,
    info,
    (s) => loaded(x, s, proceed, arg),
    (err) => sendError(res, err, req),
  );
}

/** The session is loaded: hook the response, check CSRF, proceed. Never throws. */
function loaded<S extends HostedSession, A>(
  x: NodeExchange<S>,
  session: S,
  proceed: Proceed<A>,
  arg: A,
): void {
  const { req, res } = x;
  x.session = session;
  x.loaded = session;
  (req as SessionRequest<SessionData, S>).session = session;
  x.hook();
  let reading: Promise<void> | undefined;
  try {
    reading = checkCSRF(x, x.host.options);
  } catch (err) {
    sendError(res, err, req);
    return;
  }
  if (reading === undefined) {
    proceed(req, res, arg);
    return;
  }
  reading.then(
    () => proceed(req, res, arg),
    (err: unknown) => sendError(res, err, req),
  );
}

/**
 * The CSRF check of a request (planCSRF → form → engine.verifyCSRF), marking it passed:
 * synchronous unless an urlencoded form must be read (then a promise).
 * @throws TesseraError `ERR_CSRF` (403), `ERR_BAD_REQUEST` (413 / 415 / 400), or the promise
 *   rejects with them
 */
function checkCSRF<S extends HostedSession>(
  x: NodeExchange<S>,
  options: AdapterOptions,
): Promise<void> | undefined {
  const { engine } = x.host;
  const req = x.req;
  const method = (req.method ?? 'GET').toUpperCase();
  const route = asksRoute(engine, method, options) ? x.host.routeOf(req) : '';
  const plan = planCSRF(engine, method, route, x.get, options);
  if (plan instanceof TesseraError) throw plan;
  if (plan === 'skip') return undefined;
  x.res.appendHeader('vary', CSRF_VARY);
  // `_csrf` counts only in an urlencoded form (as in every adapter). A body parser that ran
  // first marks a parsed body with `_body` (body-parser 1.x, which also sets `req.body = {}`
  // for requests it did not parse, so `req.body` alone proves nothing) or has consumed the
  // stream (body-parser 2.x, Express 5): then `req.body` is all there is to read.
  const consumed = (req as { _body?: boolean })._body === true || req.readableEnded;
  const body = (req as { body?: unknown }).body;
  if (plan === 'read-form' && !consumed) {
    return readBody(
      req,
      options.bodyLimit ?? 65_536,
      options.bodyTimeout ?? DEFAULT_BODY_TIMEOUT,
    ).then((text) => {
      const form = parseUrlencoded(text);
      (req as { body?: unknown }).body = form;
      // body-parser (express.urlencoded) skips a request whose body was already read.
      (req as { _body?: boolean })._body = true;
      verify(x, method, form);
    });
  }
  verify(
    x,
    method,
    plan === 'read-form' && typeof body === 'object' && body !== null
      ? (body as Record<string, unknown>)
      : undefined,
  );
  return undefined;
}

/** engine.verifyCSRF with the token the request presents. @throws TesseraError `ERR_CSRF` */
function verify<S extends HostedSession>(
  x: NodeExchange<S>,
  method: string,
  form: Record<string, unknown> | undefined,
): void {
  const { engine } = x.host;
  const facts = csrfFacts(method, x.get, x.scheme);
  // presentedToken reads only `engine.csrf` (header and field names).
  const result = engine.verifyCSRF(x.session, facts, presentedToken(engine, x.get, form));
  if (!result.ok) throw csrfError(engine, result.reason, facts);
  x.checked = true;
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
  sessionOf(req);
  const x = stateOf(req)!;
  if (x.checked) return;
  // The same check without the route's opt-out, which is why the app calls it.
  const { skipCSRF: _, ...options } = x.host.options;
  await checkCSRF(x, options);
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
