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
 *   still unsent, a destroyed socket after — and never becomes an unhandled rejection.
 */
import type { ServerResponse } from 'node:http';
import type { CommitResult, EngineSession } from '../../core/contract.js';
import { isTesseraError } from '../../core/errors.js';
import type { TesseraLog } from '../../core/logger.js';
import { type ErrorReply, errorReply, logUnexpected } from './answer.js';

/** What the response half needs of an engine. */
export interface ResponseEngine<S> {
  commit(s: S): Promise<CommitResult>;
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
const OPEN = 0;
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
function failed(
  res: ServerResponse,
  end: (...a: unknown[]) => unknown,
  err: unknown,
  render: RenderError,
  log: TesseraLog | undefined,
): void {
  logUnexpected(log, err, 'the response could not be completed');
  release(res);
  answerError(res, end, err, true, render, log);
}

/**
 * Commit the session when the response ends, before the head goes: wraps `res.writeHead`,
 * `res.write` and `res.end` of one response (three closures per request, and the commit's two callbacks).
 * @param engine - commits the session and gives a streamed response its cookie now
 * @param session - the request's session
 * @param res - the response to hook
 * @param render - the reply to a failed commit (default: the JSON one)
 */
export function hookResponse<S extends ResponseSession>(
  engine: ResponseEngine<S>,
  session: S,
  res: ServerResponse,
  render: RenderError = renderJSON,
): void {
  const log = engine.log;
  const end = res.end as (...a: unknown[]) => ServerResponse;
  const writeHead = res.writeHead as (...a: unknown[]) => ServerResponse;
  const write = res.write as (...a: unknown[]) => boolean;
  let state = OPEN;
  let streaming = false;

  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    // After end() the stand-in head makes Node's writeHead throw ERR_HTTP_HEADERS_SENT, as it would.
    if (state !== OPEN || streaming) return writeHead.apply(this, args);
    const code = checkStatus(args[0]);
    const reason = args[1];
    const headers = typeof reason === 'string' ? args[2] : (args[2] ?? reason);
    checkMessage(typeof reason === 'string' ? reason : this.statusMessage);
    if (headers) applyHeaders(this, headers);
    // Node's own writeHead runs when the response ends (its implicit head), with these.
    this.statusCode = code;
    if (typeof reason === 'string') this.statusMessage = reason;
    return this;
  } as ServerResponse['writeHead'];

  res.write = function (this: ServerResponse, ...args: unknown[]) {
    // After end() Node would fail the write; the ended response is on its way as it was ended.
    if (state === PENDING) return false;
    if (state === OPEN && !streaming && !this.headersSent) {
      // The response starts streaming before the commit: send what is known synchronously.
      streaming = true;
      if (engine.streamsPrivate(session)) {
        this.setHeader('cache-control', 'no-store');
        const cookie = engine.commitCookieNow(session);
        if (cookie) this.appendHeader('set-cookie', cookie);
      }
    }
    return write.apply(this, args);
  } as ServerResponse['write'];

  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (state === DONE) return end.apply(this, args);
    // A second end() while the first waits: the response goes out as first ended.
    if (state === PENDING) return this;
    checkEnd(this, args);
    state = PENDING;
    const held = !this.headersSent;
    if (held) hold(this);
    engine.commit(session).then(
      (r) => {
        try {
          release(res);
          state = DONE;
          if (held) {
            if (r.setCookie) res.appendHeader('set-cookie', r.setCookie);
            if (r.private) res.setHeader('cache-control', 'no-store');
          }
          end.apply(res, args);
        } catch (err) {
          failed(res, end, err, render, log);
        }
      },
      (err: unknown) => {
        release(res);
        state = DONE;
        if (held) {
          if (!isTesseraError(err))
            logUnexpected(log, err, 'unexpected error while saving the session');
          answerError(res, end, err, true, render, log);
          return;
        }
        // The response already streamed: it cannot become an error any more, so say so.
        logUnexpected(log, err, 'the session could not be saved after the response started');
        try {
          end.apply(res, args);
        } catch (e) {
          failed(res, end, e, render, log);
        }
      },
    );
    return this;
  } as ServerResponse['end'];
}
