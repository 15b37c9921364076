/**
 * The response half of the node:http / Express glue. It holds the head back until the session
 * is saved, so the commit's `Set-Cookie` and `Cache-Control: no-store` go out with it, and it
 * keeps Node's contract while doing so:
 * - what Node throws synchronously (an invalid header name or value, status code or status
 *   message, an `end()` chunk of the wrong type, an unknown encoding) is thrown at the app's own
 *   call, where its try/catch and its framework's error handling see it;
 * - `writeHead(status, headers)` merges the app's headers into the response at once, so the
 *   session's cookie is added to the app's and `no-store` wins on a session-dependent response;
 * - whatever throws later, in the deferred path, ends the response — a 500 while the head is
 *   still unsent, a destroyed socket after — and never becomes an unhandled rejection;
 * - a commit with nothing to write (`commitNow`) ends the response inside the app's own `end()`,
 *   with the same guarantees: a throw below tessera becomes the 500, not the app's exception;
 * - after the app's first `end()`, a second one is ignored: natively it emits an `'error'` on the
 *   response that no one listens to, which ends the process.
 */

import type { ServerResponse } from 'node:http';
import type { CommitResult, EngineSession } from '../../core/contract.js';
import { isTesseraError } from '../../core/errors.js';
import type { TesseraLog } from '../../core/logger.js';
import { type ErrorReply, errorReply, logUnexpected } from './answer.js';
import { commitThen } from './load.js';

/** What the response half needs of an engine. */
export interface ResponseEngine<S> {
  commit(s: S): Promise<CommitResult>;
  commitNow?(s: S): CommitResult | undefined;
  streamsPrivate(s: S): boolean;
  commitCookieNow(s: S): string | null;
  /** Where unexpected failures are logged (`console` without it). */
  readonly log?: TesseraLog;
}

/** The answer to an error for one request (the app's `onError` applied). */
export type RenderError = (err: unknown) => ErrorReply;

/** The JSON answer, without a hook. */
const renderJSON: RenderError = (err) => errorReply(err, undefined, undefined, undefined);

/** What the response half reads of a session. */
export type ResponseSession = EngineSession;

/**
 * Node's own fields behind `headersSent` and the `ERR_HTTP_HEADERS_SENT` checks of `setHeader`,
 * `appendHeader`, `removeHeader` and `writeHead` (unchanged since early Node; on-headers and
 * express-session read them too).
 */
interface Head {
  _header: string | null;
  _headerSent: boolean;
}

/**
 * Stands in for the head while an ended response waits for the commit: to the app the response
 * is then sent, as it would be without tessera, so a second `res.send()` throws
 * `ERR_HTTP_HEADERS_SENT` instead of rewriting the pending response's headers. `_headerSent`
 * is set with it so that nothing can write the stand-in itself (`flushHeaders()` writes '').
 */
const HELD = 'tessera: the head waits for the session commit';

function hold(res: ServerResponse): void {
  const r = res as unknown as Head;
  r._header = HELD;
  r._headerSent = true;
}

function release(res: ServerResponse): void {
  const r = res as unknown as Head;
  if (r._header === HELD) {
    r._header = null;
    r._headerSent = false;
  }
}

/** Whether the app ended this response and it waits for the session commit. */
export function isHeld(res: ServerResponse): boolean {
  return (res as unknown as Head)._header === HELD;
}

/** A Node-style error: the class and `code` Node throws for the same mistake. */
function nodeError<E extends Error>(error: E, code: string): E {
  (error as E & { code: string }).code = code;
  return error;
}

/** Characters Node refuses in a header value or status message (`checkInvalidHeaderChar`). */
const INVALID_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/** @throws RangeError `ERR_HTTP_INVALID_STATUS_CODE` as `writeHead` does */
function checkStatus(statusCode: unknown): number {
  const code = (statusCode as number) | 0;
  if (code < 100 || code > 999)
    throw nodeError(
      new RangeError(`Invalid status code: ${String(statusCode)}`),
      'ERR_HTTP_INVALID_STATUS_CODE',
    );
  return code;
}

/** @throws TypeError `ERR_INVALID_CHAR` as `writeHead` does */
function checkMessage(message: unknown): void {
  if (typeof message === 'string' && INVALID_CHAR.test(message))
    throw nodeError(new TypeError('Invalid character in statusMessage'), 'ERR_INVALID_CHAR');
}

/**
 * What Node's `end()` would throw before it writes anything.
 * @throws TypeError `ERR_INVALID_ARG_TYPE` (chunk), `ERR_UNKNOWN_ENCODING`; the status errors
 */
function checkEnd(res: ServerResponse, args: unknown[]): void {
  const chunk = args[0];
  if (chunk && typeof chunk !== 'function') {
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array))
      throw nodeError(
        new TypeError(
          'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array.',
        ),
        'ERR_INVALID_ARG_TYPE',
      );
    const encoding = args[1];
    if (typeof encoding === 'string' && encoding !== 'buffer' && !Buffer.isEncoding(encoding))
      throw nodeError(new TypeError(`Unknown encoding: ${encoding}`), 'ERR_UNKNOWN_ENCODING');
  }
  if (!res.headersSent) {
    checkStatus(res.statusCode);
    checkMessage(res.statusMessage);
  }
}

/**
 * Set the headers of a `writeHead()` call on the response now, as Node does when `setHeader`
 * was used before: each name given replaces that header, repeats within the call are kept. The
 * calls validate every name and value (Node's own `validateHeaderName` / `validateHeaderValue`).
 * @throws TypeError `ERR_INVALID_HTTP_TOKEN`, `ERR_INVALID_CHAR`, `ERR_HTTP_INVALID_HEADER_VALUE`,
 *   `ERR_INVALID_ARG_VALUE` (a flat array of odd length)
 */
function applyHeaders(res: ServerResponse, headers: unknown): void {
  if (Array.isArray(headers)) {
    // `[[name, value], …]` or the raw `[name, value, name, value, …]`.
    const pairs = headers.length > 0 && Array.isArray(headers[0]);
    if (!pairs && headers.length % 2 !== 0)
      throw nodeError(new TypeError("The argument 'headers' is invalid."), 'ERR_INVALID_ARG_VALUE');
    const step = pairs ? 1 : 2;
    for (let i = 0; i < headers.length; i += step)
      res.removeHeader(pairs ? headers[i][0] : headers[i]);
    for (let i = 0; i < headers.length; i += step) {
      const name = pairs ? headers[i][0] : headers[i];
      if (name) res.appendHeader(name, pairs ? headers[i][1] : headers[i + 1]);
    }
  } else if (headers && typeof headers === 'object') {
    const h = headers as Record<string, string | number | readonly string[]>;
    for (const name of Object.keys(h)) if (name) res.setHeader(name, h[name]!);
  }
}

/** The app has not ended the response. */
export const OPEN = 0;
/** The app ended the response and the commit is running. */
const PENDING = 1;
/** The response was handed to Node's own `end()` (or answered with an error). */
const DONE = 2;

/** Headers that describe the app's body, not the error body that replaces it. */
const CONTENT_HEADERS = ['content-length', 'content-encoding', 'content-range', 'content-language'];

/**
 * Answer `err` with its error reply (the JSON body, or the app's `onError` page) through `end`,
 * or destroy the socket if the head already went out or the answer itself fails. Never throws.
 * @param clear - drop every header set so far (a failed commit: none of them is true any more);
 *   otherwise only those that describe the body (a refused request keeps its `Vary`)
 * @param render - the reply for `err` (default: the JSON one)
 * @param log - where a failure to answer is logged
 */
export function answerError(
  res: ServerResponse,
  end: (...a: unknown[]) => unknown,
  err: unknown,
  clear: boolean,
  render: RenderError = renderJSON,
  log?: TesseraLog,
): void {
  if (!res.headersSent && !res.destroyed) {
    try {
      for (const name of clear ? res.getHeaderNames() : CONTENT_HEADERS) res.removeHeader(name);
      const { status, headers, body } = render(err);
      res.statusCode = status;
      // An invalid message the app set must not fail the error answer too.
      res.statusMessage = '';
      for (const [name, value] of headers) res.setHeader(name, value);
      end.call(res, body);
      return;
    } catch (e) {
      logUnexpected(log, e, 'could not answer with an error');
    }
  }
  res.destroy();
}

/** The deferred end threw (a middleware below tessera, a socket error): end the response. */
function failed(x: Exchange<ResponseSession>, err: unknown): void {
  logUnexpected(x.engine.log, err, 'the response could not be completed');
  release(x.res);
  answerError(x.res, x.end, err, true, (e) => x.render(e), x.engine.log);
}

type Method = (...a: unknown[]) => unknown;

/** Where a request keeps its exchange (the latest tessera layer's): one symbol, one object. */
export const STATE = Symbol('tessera.request');
/** Where a response whose `req` does not lead back to its request keeps its first exchange. */
const EXCHANGE = Symbol('tessera.exchange');

type Keeper = { [STATE]?: Exchange<ResponseSession> };

/**
 * One request's state in the node:http / Express glue — the session, the response's own
 * `end` / `write` / `writeHead` and where the response stands — kept in one object under one
 * symbol on the request (the response reaches it through `res.req`, which Node sets). The hooks
 * installed on the response are module-level functions that find it there: no closure, and no
 * property on the response beyond its three methods (on an Express response, whose prototype
 * Express swaps, each new property costs V8 a map transition of about a microsecond).
 */
export class Exchange<S extends ResponseSession> {
  readonly engine: ResponseEngine<S>;
  readonly req: object;
  readonly res: ServerResponse;
  /** The tessera layer hooked before this one on the same response (two middlewares), if any. */
  readonly inner: Exchange<ResponseSession> | null;
  /** Set before the response is hooked. */
  session!: S;
  /** OPEN, PENDING (the app ended the response, the commit runs) or DONE. */
  phase = OPEN;
  /** The response started streaming before the commit. */
  streaming = false;
  /** The response's own methods, called by the hooks. */
  end: Method;
  write: Method;
  writeHead: Method;

  constructor(engine: ResponseEngine<S>, req: object, res: ServerResponse) {
    this.engine = engine;
    this.req = req;
    this.res = res;
    const prev = (req as Keeper)[STATE];
    this.inner = prev !== undefined && prev.res === res ? prev : null;
    (req as Keeper)[STATE] = this as unknown as Exchange<ResponseSession>;
    this.end = res.end as Method;
    this.write = res.write as Method;
    this.writeHead = res.writeHead as Method;
  }

  /** The reply to a failed commit (the node glue applies the app's `onError`). */
  render(err: unknown): ErrorReply {
    return renderJSON(err);
  }

  /**
   * Commit the session when the response ends, before the head goes: hooks `res.writeHead`,
   * `res.write` and `res.end`. The first tessera layer on a response installs module-level
   * functions that find this object through the request; a second one (two session
   * middlewares, say two engines) installs closures of its own, so that each layer, called
   * through whatever wraps it, commits its own session.
   */
  hook(): void {
    const res = this.res as ServerResponse & { [EXCHANGE]?: Exchange<S>; req?: unknown };
    if (this.inner === null) {
      if (res.req !== this.req) res[EXCHANGE] = this;
      res.writeHead = hookedWriteHead as ServerResponse['writeHead'];
      res.write = hookedWrite as ServerResponse['write'];
      res.end = hookedEnd as ServerResponse['end'];
      return;
    }
    const x = this as Exchange<ResponseSession>;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      return writeHeadOf(x, this, args);
    } as ServerResponse['writeHead'];
    res.write = function (this: ServerResponse, ...args: unknown[]) {
      return writeOf(x, this, args);
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, ...args: unknown[]) {
      return endOf(x, this, args);
    } as ServerResponse['end'];
  }
}

/** The exchange of the first tessera layer on a hooked response. */
function exchangeOf(res: ServerResponse): Exchange<ResponseSession> {
  let x = ((res as { req?: Keeper }).req as Keeper | undefined)?.[STATE];
  if (x === undefined || x.res !== res)
    return (res as ServerResponse & { [EXCHANGE]: Exchange<ResponseSession> })[EXCHANGE];
  while (x.inner !== null) x = x.inner;
  return x;
}

function hookedWriteHead(this: ServerResponse, ...args: unknown[]): ServerResponse {
  return writeHeadOf(exchangeOf(this), this, args);
}

function hookedWrite(this: ServerResponse, ...args: unknown[]): boolean {
  return writeOf(exchangeOf(this), this, args);
}

function hookedEnd(this: ServerResponse, ...args: unknown[]): ServerResponse {
  return endOf(exchangeOf(this), this, args);
}

function writeHeadOf(
  x: Exchange<ResponseSession>,
  res: ServerResponse,
  args: unknown[],
): ServerResponse {
  // After end() the stand-in head makes Node's writeHead throw ERR_HTTP_HEADERS_SENT, as it would.
  if (x.phase !== OPEN || x.streaming) return x.writeHead.apply(res, args) as ServerResponse;
  const code = checkStatus(args[0]);
  const reason = args[1];
  const headers = typeof reason === 'string' ? args[2] : (args[2] ?? reason);
  checkMessage(typeof reason === 'string' ? reason : res.statusMessage);
  if (headers) applyHeaders(res, headers);
  // Node's own writeHead runs when the response ends (its implicit head), with these.
  res.statusCode = code;
  if (typeof reason === 'string') res.statusMessage = reason;
  return res;
}

function writeOf(x: Exchange<ResponseSession>, res: ServerResponse, args: unknown[]): boolean {
  // After end() Node would fail the write; the ended response is on its way as it was ended.
  if (x.phase === PENDING) return false;
  if (x.phase === OPEN && !x.streaming && !res.headersSent) {
    // The response starts streaming before the commit: send what is known synchronously.
    x.streaming = true;
    if (x.engine.streamsPrivate(x.session)) {
      res.setHeader('cache-control', 'no-store');
      const cookie = x.engine.commitCookieNow(x.session);
      if (cookie) res.appendHeader('set-cookie', cookie);
    }
  }
  return x.write.apply(res, args) as boolean;
}

function endOf(x: Exchange<ResponseSession>, res: ServerResponse, args: unknown[]): ServerResponse {
  // A second end(), while the first waits or after it: the response goes out as first ended
  // (natively, a second end() with a body emits an 'error' no one listens to: a crash). Its
  // callback is still called as Node calls it: once the response has finished.
  if (x.phase !== OPEN) {
    const cb = args[args.length - 1];
    if (typeof cb === 'function') {
      // DONE: Node's end() ran, and an end() without a chunk only schedules the callback.
      if (x.phase === DONE) x.end.call(res, cb);
      else res.once('finish', () => cb());
    }
    return res;
  }
  checkEnd(res, args);
  const held = !res.headersSent;
  // Nothing to write: the response ends now, inside the app's own call; else once the commit
  // settles, with the head held meanwhile. PENDING from here: an end() the commit itself sets
  // off (an event listener) is a second one.
  x.phase = PENDING;
  let waited = false;
  const settle = (): void => {
    if (waited) release(x.res);
    x.phase = DONE;
  };
  const pending = commitThen(
    x.engine,
    x.session,
    (plan) => {
      settle();
      finish(x, args, held, plan);
    },
    (err) => {
      settle();
      refused(x, args, held, err);
    },
  );
  if (pending instanceof Promise) {
    waited = true;
    if (held) hold(res);
  }
  return res;
}

/** The commit's plan applied to a held head, then the response's own `end()`. Never throws. */
function finish(
  x: Exchange<ResponseSession>,
  args: unknown[],
  held: boolean,
  plan: CommitResult,
): void {
  const res = x.res;
  try {
    if (held) {
      if (plan.setCookie) res.appendHeader('set-cookie', plan.setCookie);
      if (plan.private) res.setHeader('cache-control', 'no-store');
    }
    x.end.apply(res, args);
  } catch (err) {
    failed(x, err);
  }
}

/** The commit failed: an error answer while the head is held, else the response as ended. */
function refused(x: Exchange<ResponseSession>, args: unknown[], held: boolean, err: unknown): void {
  const log = x.engine.log;
  if (held) {
    if (!isTesseraError(err)) logUnexpected(log, err, 'unexpected error while saving the session');
    answerError(x.res, x.end, err, true, (e) => x.render(e), log);
    return;
  }
  // The response already streamed: it cannot become an error any more, so say so.
  logUnexpected(log, err, 'the session could not be saved after the response started');
  try {
    x.end.apply(x.res, args);
  } catch (e) {
    failed(x, e);
  }
}
