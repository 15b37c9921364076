/**
 * Glue between the engine and the standard `Request` / `Response` types, shared by the Hono and
 * fetch adapters. Runtime-agnostic: it uses only Web globals (the engine itself needs
 * `node:crypto`). It loads the session, runs the CSRF check (reading an urlencoded body from a
 * clone, size-capped, so the handler can still read it), and applies the commit's cookie and
 * `Cache-Control: no-store` to the response the handler returned — before it is sent, since a
 * first write or a rotation decides the cookie.
 */
import type {
  CommitResult,
  EngineSession,
  RequestInfo,
  SessionEngine,
} from '../../core/contract.js';
import { isTesseraError, TesseraError } from '../../core/errors.js';
import type { TesseraLog } from '../../core/logger.js';
import { errorReply, logUnexpected } from './answer.js';
import {
  type AdapterOptions,
  asksRoute,
  bodyReadError,
  bodyTimeoutError,
  bodyTooLargeError,
  CSRF_VARY,
  clientFacts,
  csrfFacts,
  DEFAULT_BODY_TIMEOUT,
  type HeaderGetter,
  parseUrlencoded,
  planCSRF,
  presentedToken,
  sentAndParsed,
} from './http.js';
import { commitThen, loadThen } from './load.js';
import { checkTransport, csrfError } from './transport.js';

/** The default cap on an urlencoded body read to find the CSRF field (bytes). */
export const DEFAULT_BODY_LIMIT = 65_536;

/** Header lookup on a `Headers`, falling back to the URL's authority for `host`. */
export function webHeaders(request: Request): HeaderGetter {
  return (name) => {
    const v = request.headers.get(name);
    if (v !== null) return v;
    // Parsed only when a request lacks the header (HTTP/2, a hand-made Request).
    return name === 'host' ? new URL(request.url).host : undefined;
  };
}

/** Where a request's state is kept: on the `Request` itself, under one symbol. */
const STATE = Symbol('tessera.web');
/** The state of a frozen or sealed `Request`, which takes no new property. */
const frozen = new WeakMap<Request, WebChecked<EngineSession>>();

/** Keep a request's state on it (in a WeakMap when the `Request` is not extensible). */
export function keepState<S extends EngineSession>(request: Request, start: WebChecked<S>): void {
  if (Object.isExtensible(request))
    (request as Request & { [STATE]?: WebChecked<S> })[STATE] = start;
  else frozen.set(request, start as unknown as WebChecked<EngineSession>);
}

/** The state {@link keepState} kept for a request, if any. */
export function keptState(request: Request): WebChecked<EngineSession> | undefined {
  return (
    (request as Request & { [STATE]?: WebChecked<EngineSession> })[STATE] ?? frozen.get(request)
  );
}

/** What {@link errorResponse} knows of the request, to ask the app's `onError` hook. */
export interface WebErrorContext {
  request: Request;
  options: AdapterOptions;
  log: TesseraLog;
  /** The request's session, when one was loaded. */
  session?: EngineSession | null | undefined;
}

/**
 * An error response: 403 `{"error":"csrf"}`, 503 `{"error":"store_unavailable"}`, … — or, with
 * `context`, what the app's `onError` hook answers.
 */
export function errorResponse(err: unknown, context?: WebErrorContext): Response {
  if (!isTesseraError(err)) logUnexpected(context?.log, err, 'unexpected error (answered 500)');
  let request: Parameters<typeof errorReply>[3];
  if (context) {
    const url = new URL(context.request.url);
    const session = context.session;
    request = {
      method: context.request.method.toUpperCase(),
      path: url.pathname,
      header: webHeaders(context.request),
      csrfToken: session ? () => session.csrfToken() : undefined,
    };
  }
  const { status, headers, body } = errorReply(err, context?.options, context?.log, request);
  return new Response(body, { status, headers });
}

const tooLarge = () => bodyTooLargeError();

/**
 * Read an urlencoded body from a clone of the request, at most `limit` bytes within `timeout`
 * ms, leaving the original body unread for the handler.
 * @returns the parsed form, or undefined when the body was already used elsewhere
 * @throws TesseraError `ERR_BAD_REQUEST` (413 when over `limit`, 408 past `timeout`, 400 when
 *   malformed)
 */
export async function readForm(
  request: Request,
  limit: number,
  timeout: number = DEFAULT_BODY_TIMEOUT,
): Promise<Record<string, string> | undefined> {
  const declared = Number(request.headers.get('content-length'));
  if (declared > limit) throw tooLarge();
  if (request.bodyUsed) return undefined;
  const body = request.clone().body;
  if (!body) return parseUrlencoded('');
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // A client that sends the headers and stalls must not hold the request for the server's
  // own timeout: cancelling our branch ends the pending read (the handler's branch is untouched).
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    reader.cancel().catch(() => {});
  }, timeout);
  try {
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (e) {
        throw bodyReadError(e);
      }
      if (late) throw bodyTimeoutError(timeout);
      if (step.done) break;
      size += step.value.byteLength;
      if (size > limit) {
        // Cancelling one branch of the tee leaves the other (the handler's) untouched.
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(step.value);
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return parseUrlencoded(new TextDecoder().decode(bytes));
}

/** What {@link startWeb} decided. */
export type WebStart<S extends EngineSession> =
  /** Run the handler with this session (`reject` null), or answer `reject` (CSRF 403, body 413/415) — either way {@link finishWeb} commits the session onto the response. */
  | WebChecked<S>
  /** No session could be loaded (store down, insecure transport): answer `reject` as it is. */
  | { session: null; reject: Response; vary: false };

/** Whether a session was loaded (a type guard: `session === null` does not narrow a generic). */
export function loaded<S extends EngineSession>(start: WebStart<S>): start is WebChecked<S> {
  return start.session !== null;
}

/**
 * A request with a session: what {@link finishWeb} applies and what {@link verifyWeb} needs to
 * run the CSRF check later. Adapters keep this object as their per-request state.
 */
export interface WebChecked<S extends EngineSession> {
  session: S;
  reject: Response | null;
  /** The CSRF outcome depended on `Sec-Fetch-Site` / `Origin`. */
  vary: boolean;
  /** The CSRF check ran and passed. */
  checked: boolean;
  engine: SessionEngine<S>;
  request: Request;
  options: WebStartOptions;
  /** 'https' or 'http', after `trustProxy`. */
  scheme: string;
}

/** Options of {@link startWeb}. */
export interface WebStartOptions extends AdapterOptions {
  /** The client address as the runtime reports it (there is no socket in the fetch API). */
  clientIp?: string | undefined;
  /**
   * The path as the framework's router matches it, for `skipCSRF` / `jsonOnly` (Hono:
   * `c.req.path`). @default the URL's pathname as sent and, when it differs, percent-decoded
   * (fetch: the app routes itself)
   */
  path?: string;
}

/**
 * Load the session of a `Request` and run the CSRF check on unsafe methods — without a promise
 * when the engine loads the session without I/O (`loadNow`) and no form must be read.
 * @param engine - the session engine
 * @param request - the incoming request; its body is never consumed (a clone is read)
 * @param options - adapter options plus the runtime's client IP
 * @returns the session and, when the handler must not run, the response to send instead (or a
 *   promise of them); never throws, never rejects
 */
export function startWeb<S extends EngineSession>(
  engine: SessionEngine<S>,
  request: Request,
  options: WebStartOptions,
): WebStart<S> | Promise<WebStart<S>> {
  const get = webHeaders(request);
  const facts = clientFacts(
    get,
    options.clientIp,
    // `Request.url` is serialised by the URL parser: its scheme is lower-case.
    request.url.startsWith('https:') ? 'https' : 'http',
    options.trustProxy,
    options.proxyHeader,
  );
  const insecure = checkTransport(engine, get, facts.scheme, options);
  if (insecure) return unloaded(engine, request, options, insecure);
  const info: RequestInfo = {
    cookie: get('cookie'),
    method: request.method.toUpperCase(),
    userAgent: get('user-agent'),
    ip: facts.ip,
  };
  return loadThen<S, WebStart<S> | Promise<WebStart<S>>>(
    engine,
    info,
    (s) => checked(engine, request, options, s, facts.scheme),
    (err) => unloaded(engine, request, options, err),
  );
}

/** No session could be loaded: the error answer. */
function unloaded<S extends EngineSession>(
  engine: SessionEngine<S>,
  request: Request,
  options: WebStartOptions,
  err: unknown,
): WebStart<S> {
  return {
    session: null,
    reject: errorResponse(err, { request, options, log: engine.log }),
    vary: false,
  };
}

/** The session is loaded: run the CSRF check (a promise only when a form is read). */
function checked<S extends EngineSession>(
  engine: SessionEngine<S>,
  request: Request,
  options: WebStartOptions,
  session: S,
  scheme: string,
): WebChecked<S> | Promise<WebChecked<S>> {
  const start: WebChecked<S> = {
    session,
    reject: null,
    vary: false,
    checked: false,
    engine,
    request,
    options,
    scheme,
  };
  const refuse = (err: unknown): WebChecked<S> => {
    start.reject = errorResponse(err, { request, options, log: engine.log, session });
    return start;
  };
  let reading: Promise<void> | undefined;
  try {
    reading = check(start, options);
  } catch (err) {
    return refuse(err);
  }
  return reading === undefined ? start : reading.then(() => start, refuse);
}

/**
 * planCSRF → form from a clone → engine.verifyCSRF; marks `start` checked or throws —
 * synchronously, unless a form must be read (then the promise rejects instead).
 */
function check<S extends EngineSession>(
  start: WebChecked<S>,
  options: WebStartOptions,
): Promise<void> | undefined {
  const { engine, request } = start;
  const get = webHeaders(request);
  const method = request.method.toUpperCase();
  const route = asksRoute(engine, method, options)
    ? (options.path ?? sentAndParsed(new URL(request.url).pathname))
    : '';
  const plan = planCSRF(engine, method, route, get, options);
  if (plan instanceof TesseraError) throw plan;
  if (plan === 'skip') return undefined;
  start.vary = true;
  if (plan === 'read-form')
    return readForm(
      request,
      options.bodyLimit ?? DEFAULT_BODY_LIMIT,
      options.bodyTimeout ?? DEFAULT_BODY_TIMEOUT,
    ).then((form) => verify(start, method, get, form));
  verify(start, method, get, undefined);
  return undefined;
}

/** engine.verifyCSRF with the token the request presents. @throws TesseraError `ERR_CSRF` */
function verify<S extends EngineSession>(
  start: WebChecked<S>,
  method: string,
  get: HeaderGetter,
  form: Record<string, string> | undefined,
): void {
  const { engine } = start;
  const facts = csrfFacts(method, get, start.scheme);
  const result = engine.verifyCSRF(start.session, facts, presentedToken(engine, get, form));
  if (!result.ok) throw csrfError(engine, result.reason, facts);
  start.checked = true;
}

/**
 * The adapter's CSRF check, run later (inside the handler), ignoring the route's `skipCSRF`
 * opt-out; passes at once when the check already passed or the method is safe. Reads an
 * urlencoded `_csrf` from a clone, so call it before the handler reads the body.
 * @param start - the request's state from {@link startWeb}
 * @throws TesseraError `ERR_CSRF` (403), `ERR_BAD_REQUEST` (413 / 415 / 400)
 */
export async function verifyWeb<S extends EngineSession>(start: WebChecked<S>): Promise<void> {
  if (start.checked) return;
  const { skipCSRF: _, ...options } = start.options;
  await check(start, options);
}

/** What {@link finishWeb} needs of the request's state. */
export interface WebFinish<S extends EngineSession> {
  session: S;
  vary: boolean;
  request?: Request;
  options?: AdapterOptions;
}

/**
 * Commit the session and apply its cookie, `Cache-Control: no-store` and (when the CSRF outcome
 * depended on them) `Vary: Sec-Fetch-Site, Origin` to the response — without a promise when the
 * engine commits without I/O (`commitNow`). A response with immutable headers
 * (`Response.redirect()`, a proxied `fetch()`) is copied first.
 * @param engine - the session engine
 * @param start - what {@link startWeb} returned
 * @param response - the handler's response, or `start.reject`
 * @returns the response to send (a JSON error instead when the commit fails), or a promise of
 *   it; never throws, never rejects
 */
export function finishWeb<S extends EngineSession>(
  engine: SessionEngine<S>,
  start: WebFinish<S>,
  response: Response,
): Response | Promise<Response> {
  return commitThen<S, Response | Promise<Response>>(
    engine,
    start.session,
    (plan) => applyPlan(start, response, plan),
    (err) => commitFailed(engine, start, response, err),
  );
}

/** The commit failed: drop the handler's body, answer the error. */
async function commitFailed<S extends EngineSession>(
  engine: SessionEngine<S>,
  start: WebFinish<S>,
  response: Response,
  err: unknown,
): Promise<Response> {
  await response.body?.cancel().catch(() => {});
  return errorResponse(
    err,
    start.request && start.options
      ? { request: start.request, options: start.options, log: engine.log }
      : undefined,
  );
}

/** The commit's cookie plan (and the CSRF `Vary`) on the response, or on a copy of it. */
function applyPlan<S extends EngineSession>(
  start: WebFinish<S>,
  response: Response,
  plan: CommitResult,
): Response {
  const { setCookie, private: isPrivate } = plan;
  if (setCookie === null && !isPrivate && !start.vary) return response;
  const apply = (h: Headers) => {
    if (start.vary) h.append('vary', CSRF_VARY);
    if (setCookie !== null) h.append('set-cookie', setCookie);
    if (isPrivate) h.set('cache-control', 'no-store');
  };
  try {
    apply(response.headers);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    apply(copy.headers);
    return copy;
  }
}
