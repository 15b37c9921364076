/**
 * The answer to an error an adapter answers itself: the JSON body (`{"error": name}`) with its
 * status and headers, or what the app's `onError` hook renders instead (an HTML page for a form
 * post). Runtime-agnostic; each adapter writes the {@link ErrorReply} its own way.
 */
import { isTesseraError } from '../../core/errors.js';
import { logText, type TesseraLog } from '../../core/logger.js';
import { errorBody } from './http.js';
import type { AdapterOptions, ErrorAnswer, HeaderGetter } from './options.js';

export type { ErrorAnswer, ErrorContext } from './options.js';

/** The answer an adapter sends for an error: status, headers (in order) and body. */
export interface ErrorReply {
  status: number;
  headers: [string, string][];
  body: string;
}

/** What the error answer knows of the request (for `onError`). */
export interface ErrorRequest {
  method: string;
  path: string;
  header: HeaderGetter;
  csrfToken?: (() => string) | undefined;
}

/** The unexpected error of a handler or a framework: logged, answered 500 without details. */
export function logUnexpected(log: TesseraLog | undefined, err: unknown, what: string): void {
  if (log) log.write('error', { event: 'unexpected_error', err }, what);
  else console.error(`tessera: ${what}`, err);
}

/**
 * The answer to an error: the JSON body with its status and headers (`no-store`; `Retry-After`
 * on 503; `Connection: close` on 408), or what the app's `onError` hook answers for a
 * TesseraError. A hook that throws or answers something invalid is logged and ignored.
 * @param err - the failure
 * @param options - the adapter's options (`onError`)
 * @param log - the engine's logger
 * @param request - the request, when the hook may be asked
 */
export function errorReply(
  err: unknown,
  options: AdapterOptions | undefined,
  log: TesseraLog | undefined,
  request: ErrorRequest | undefined,
): ErrorReply {
  const { status, body } = errorBody(err);
  const hook = options?.onError;
  if (hook && request && isTesseraError(err)) {
    try {
      const answer = hook(err, {
        method: request.method,
        path: request.path,
        header: request.header,
        wantsHTML: /\btext\/html\b/i.test(request.header('accept') ?? ''),
        status,
        body,
        csrfToken: request.csrfToken,
      });
      if (answer !== undefined && answer !== null) return hookReply(answer, status);
    } catch (e) {
      log?.write(
        'error',
        { event: 'on_error_failed', err: e },
        `the onError hook failed for ${err.code} (answered with the JSON error): ${logText((e as Error)?.message ?? e)}`,
      );
    }
  }
  const headers: [string, string][] = [
    ['content-type', 'application/json; charset=utf-8'],
    ['cache-control', 'no-store'],
  ];
  if (status === 503) headers.push(['retry-after', '1']);
  // 408: the rest of the body may still come; close rather than read it as the next request.
  if (status === 408) headers.push(['connection', 'close']);
  return { status, headers, body };
}

/** A header name (RFC 9110 §5.6.2 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** What Node refuses in a header value (CR, LF, NUL and other controls). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * An `onError` answer as a reply.
 * @throws TypeError for an answer that is not one
 */
function hookReply(answer: ErrorAnswer, status: number): ErrorReply {
  if (typeof answer !== 'object' || typeof answer.body !== 'string')
    throw new TypeError('onError must return { status?, headers?, body: string } or undefined');
  const code = answer.status ?? status;
  if (!Number.isInteger(code) || code < 200 || code > 599)
    throw new TypeError(`onError returned status ${String(answer.status)}: use 200–599`);
  const headers: [string, string][] = [];
  let typed = false;
  for (const [name, value] of Object.entries(answer.headers ?? {})) {
    const n = name.toLowerCase();
    if (!TOKEN.test(n) || INVALID_VALUE.test(String(value)))
      throw new TypeError(`onError returned an invalid header: ${logText(name)}`);
    if (n === 'cache-control' || n === 'content-length' || n === 'connection') continue;
    if (n === 'content-type') typed = true;
    headers.push([n, String(value)]);
  }
  if (!typed) headers.unshift(['content-type', 'text/html; charset=utf-8']);
  headers.push(['cache-control', 'no-store']);
  if (code === 503 && !headers.some(([n]) => n === 'retry-after'))
    headers.push(['retry-after', '1']);
  if (status === 408) headers.push(['connection', 'close']);
  return { status: code, headers, body: answer.body };
}
