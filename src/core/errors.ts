/**
 * The one error class of tessera, with a closed union of stable codes.
 * Tests and callers branch on `code`, never on the message.
 */

/** Every code a {@link TesseraError} can carry. The list is closed: adding one is a minor release. */
export type TesseraErrorCode =
  /** The configuration is wrong; the message says how to fix it. Thrown at construction. */
  | 'ERR_CONFIG'
  /** The store did not answer, timed out or refused; adapters map it to 503. */
  | 'ERR_STORE_UNAVAILABLE'
  /** A store record could not be read (corrupt, or written by an incompatible version). */
  | 'ERR_STORE_CORRUPT'
  /** The compare-and-set of session data kept losing to other writers past the retry bound. */
  | 'ERR_CONFLICT'
  /** The CSRF check refused an unsafe request; adapters map it to 403. */
  | 'ERR_CSRF'
  /** Session data would exceed the configured size limit (or a sealed cookie the 4096-byte limit). */
  | 'ERR_DATA_TOO_LARGE'
  /** Session data is not JSON-serialisable, or the validation hook rejected it. */
  | 'ERR_INVALID_DATA'
  /** The operation needs server-side state that this mode or store does not have. */
  | 'ERR_UNSUPPORTED'
  /** The session was destroyed, or is being served read-only in a rotation grace window. */
  | 'ERR_SESSION_READ_ONLY'
  /** A request body could not be parsed or was too large; adapters map it to 400/413. */
  | 'ERR_BAD_REQUEST'
  /** The user already has the maximum number of sessions and the policy is to reject. */
  | 'ERR_SESSION_LIMIT'
  /**
   * A sign-in was refused because the user's sessions were revoked (a password change,
   * "sign out everywhere") after this request began: the user must sign in again.
   */
  | 'ERR_SESSION_REVOKED'
  /** A session was about to be served over an insecure transport outside loopback. */
  | 'ERR_INSECURE_TRANSPORT'
  /** A key in the key ring is missing, short, reused or unknown. */
  | 'ERR_KEY';

/** Options for {@link TesseraError}. */
export interface TesseraErrorOptions {
  /** The underlying error (a driver error, a parse error). */
  cause?: unknown;
  /** HTTP status an adapter should answer with. */
  status?: number;
}

const DEFAULT_STATUS: Record<TesseraErrorCode, number> = {
  ERR_CONFIG: 500,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_STORE_CORRUPT: 500,
  ERR_CONFLICT: 409,
  ERR_CSRF: 403,
  ERR_DATA_TOO_LARGE: 413,
  ERR_INVALID_DATA: 400,
  ERR_UNSUPPORTED: 501,
  ERR_SESSION_READ_ONLY: 409,
  ERR_BAD_REQUEST: 400,
  ERR_SESSION_LIMIT: 429,
  ERR_SESSION_REVOKED: 401,
  ERR_INSECURE_TRANSPORT: 500,
  ERR_KEY: 500,
};

/**
 * The error tessera throws. Messages never contain a session token.
 *
 * @example
 * ```ts
 * try { await sessions.load(req) } catch (e) {
 *   if (isTesseraError(e, 'ERR_STORE_UNAVAILABLE')) return reply(503)
 * }
 * ```
 */
export class TesseraError extends Error {
  /** A stable machine-readable code. */
  readonly code: TesseraErrorCode;
  /** The HTTP status an adapter answers with. */
  readonly status: number;

  constructor(code: TesseraErrorCode, message: string, options: TesseraErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TesseraError';
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code];
  }
}

/**
 * Narrow an unknown value to a {@link TesseraError}, optionally of one code.
 * @param value - anything caught
 * @param code - the code to match, if any
 * @returns whether `value` is such an error
 */
export function isTesseraError(value: unknown, code?: TesseraErrorCode): value is TesseraError {
  return value instanceof TesseraError && (code === undefined || value.code === code);
}

/**
 * The cause of an `ERR_STORE_UNAVAILABLE` that is a certain "not done": the store refused the
 * call before writing anything (it is full, say), as opposed to a time-out or a lost connection,
 * whose write may still land. The engine queues no clean-up after such a refusal.
 */
export class StoreRefusal extends Error {
  /** Always false: nothing was written. */
  readonly written = false;
  constructor(message: string) {
    super(message);
    this.name = 'StoreRefusal';
  }
}

/**
 * A store's refusal that wrote nothing, as `ERR_STORE_UNAVAILABLE` (adapters answer 503) whose
 * cause is a {@link StoreRefusal}.
 * @param message - what was refused and why, prefixed with the store's name
 * @returns the error to reject with
 */
export function storeRefused(message: string): TesseraError {
  return new TesseraError('ERR_STORE_UNAVAILABLE', message, {
    cause: new StoreRefusal(message),
  });
}

/**
 * Wrap a driver failure as `ERR_STORE_UNAVAILABLE`, leaving tessera's own errors as they are.
 * @param store - the store's name, for the message
 * @param cause - what the driver threw
 */
export function storeUnavailable(store: string, cause: unknown): TesseraError {
  if (cause instanceof TesseraError) return cause;
  return new TesseraError('ERR_STORE_UNAVAILABLE', `The ${store} session store is unavailable`, {
    cause,
  });
}

/**
 * Run one store call with a time bound: a failure or a time-out becomes `ERR_STORE_UNAVAILABLE`
 * (so a hung server answers 503 instead of holding the request forever).
 * @param store - the store's name, for the message
 * @param timeoutMs - the bound in ms; 0 means no bound
 * @param work - the call
 */
export function storeCall<T>(store: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  if (timeoutMs === 0)
    return work().catch((e: unknown) => Promise.reject(storeUnavailable(store, e)));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(storeUnavailable(store, new Error(`${store} call timed out after ${timeoutMs} ms`)));
    }, timeoutMs);
    work().then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(storeUnavailable(store, e));
      },
    );
  });
}

/**
 * Check numeric options that must be finite and >= 0 (time-outs, keepalive), naming the first
 * that is not.
 * @param where - the factory's name, for the message
 * @param values - the options by name
 * @throws TesseraError `ERR_CONFIG` naming the option
 */
export function checkNonNegative(where: string, values: Record<string, number>): void {
  for (const [name, v] of Object.entries(values)) {
    if (!Number.isFinite(v) || v < 0) {
      throw new TesseraError('ERR_CONFIG', `${where}: ${name} must be a number >= 0`);
    }
  }
}
