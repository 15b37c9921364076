/**
 * The HTTP face of a {@link TesseraError}: the status and the JSON error name every adapter
 * answers with. This is the one table (docs/errors.md shows it); the core's errors know no HTTP.
 */
import {
  type TesseraError,
  type TesseraErrorCode,
  type TesseraErrorDetails,
  useErrorStatus,
} from '../../core/errors.js';

/** A code's status: a number, or one read from the code's details. */
type StatusRule<C extends TesseraErrorCode> =
  | number
  | ((details: TesseraErrorDetails[C]) => number);

/** The status of an `ERR_BAD_REQUEST` by its reason. */
const BAD_REQUEST_STATUS: Record<TesseraErrorDetails['ERR_BAD_REQUEST']['reason'], number> = {
  malformed: 400,
  no_host: 400,
  too_large: 413,
  // RFC 9110 §15.5.9: the client took too long to send the body.
  timeout: 408,
  json_only: 415,
};

/**
 * The status of every code. A mapped type over {@link TesseraErrorCode}, so a code added to the
 * union without a status here does not compile.
 */
export const ERROR_STATUS: { readonly [C in TesseraErrorCode]: StatusRule<C> } = {
  // A configuration or usage mistake is the app's bug, not the client's.
  ERR_CONFIG: 500,
  ERR_USAGE: 500,
  // An id may come from the client (a handle in a URL); nothing was written.
  ERR_INVALID_ID: 400,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_STORE_CORRUPT: 500,
  ERR_CONFLICT: 409,
  ERR_CSRF: 403,
  ERR_DATA_TOO_LARGE: 413,
  ERR_INVALID_DATA: 400,
  ERR_UNSUPPORTED: 501,
  ERR_SESSION_READ_ONLY: 409,
  ERR_BAD_REQUEST: (d) => BAD_REQUEST_STATUS[d.reason] ?? 400,
  ERR_SESSION_LIMIT: 429,
  ERR_SESSION_REVOKED: 401,
  // 421 Misdirected Request (RFC 9110 §15.5.20): this server does not serve sessions for that
  // authority over plain http. A client can send any Host, so this is not a 5xx.
  ERR_INSECURE_TRANSPORT: 421,
  ERR_KEY: 500,
};

/** Whether a code is one this version knows. */
function isKnown(code: string): code is TesseraErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/**
 * The HTTP status an adapter answers a {@link TesseraError} with: 4xx for what the client can
 * change, 5xx for the app's or the store's failures; 500 for a code this version does not know.
 * Every adapter subpath exports it, for the app's own error handler.
 * @param err - the error
 * @returns a status in 400–599
 * @example
 * ```ts
 * app.use((err, req, res, next) => {
 *   if (isTesseraError(err)) return res.status(errorStatus(err)).json({ error: err.code })
 *   next(err)
 * })
 * ```
 */
export function errorStatus(err: TesseraError): number {
  const code = err.code;
  if (!isKnown(code)) return 500;
  const rule = ERROR_STATUS[code] as StatusRule<typeof code>;
  return typeof rule === 'number'
    ? rule
    : (rule as (d: TesseraError['details']) => number)(err.details);
}

// Framework default handlers read `err.status` (Express, Fastify): back it with this table.
useErrorStatus(errorStatus);

/** The `error` name of the JSON body where it is not the code's own (`ERR_X_Y` → `x_y`). */
const ERROR_NAMES: Partial<Record<TesseraErrorCode, string>> = {
  ERR_STORE_UNAVAILABLE: 'store_unavailable',
  ERR_DATA_TOO_LARGE: 'too_large',
};

/** The `error` name of an `ERR_BAD_REQUEST` by its reason, where not `bad_request`. */
const BAD_REQUEST_NAMES: Partial<Record<TesseraErrorDetails['ERR_BAD_REQUEST']['reason'], string>> =
  {
    too_large: 'too_large',
    timeout: 'request_timeout',
    json_only: 'unsupported_media_type',
  };

/**
 * The `error` name of the JSON body for an error: `csrf`, `store_unavailable`, `too_large`, …
 * (the code without `ERR_`, lower-case, unless named otherwise above).
 * @param err - the error
 */
export function errorName(err: TesseraError): string {
  const code = err.code;
  if (code === 'ERR_BAD_REQUEST') {
    const reason = (err.details as TesseraErrorDetails['ERR_BAD_REQUEST']).reason;
    return BAD_REQUEST_NAMES[reason] ?? 'bad_request';
  }
  return (isKnown(code) ? ERROR_NAMES[code] : undefined) ?? code.slice(4).toLowerCase();
}
