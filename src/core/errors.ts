/**
 * The one error class of tessera: a stable `code`, typed `details` per code, and `cause`
 * (as jose's errors). Tests and callers branch on `code` (through {@link isTesseraError}, which
 * narrows `details` too), never on the message. The HTTP status an adapter answers with is the
 * adapters' business: `src/adapters/shared/status.ts` maps every code (docs/errors.md).
 */

/**
 * Why a CSRF check failed (a `csrf_rejected` event's reason, an `ERR_CSRF`'s `details.reason`).
 * Never contains a token.
 */
export type CSRFRejection =
  | 'missing_token'
  | 'bad_token'
  | 'cross_site'
  | 'origin_mismatch'
  | 'origin_null'
  | 'referer_mismatch'
  | 'no_session';

/** The details of a code that carries none: an empty object. */
export type NoDetails = Readonly<Record<string, never>>;

/** An object type with no required property: what `{}` extends when details are optional. */
type Empty = Record<never, never>;

/** Why a request was refused with `ERR_BAD_REQUEST`. */
export type BadRequestReason =
  /** A body, form or list cursor that could not be read or parsed. */
  | 'malformed'
  /** The request has no `Host` header. */
  | 'no_host'
  /** The body is over the adapter's `bodyLimit`. */
  | 'too_large'
  /** The body did not arrive within the adapter's `bodyTimeout`. */
  | 'timeout'
  /** A simple (form) body on a `jsonOnly` route without the CSRF header. */
  | 'json_only';

/**
 * Every code a {@link TesseraError} can carry, with the type of its `details`. A minor release
 * may add a code (never remove or rename one, nor narrow its details): that is why the `code` of
 * a caught `TesseraError` is typed open (`TesseraErrorCode | (string & {})`), so a `switch` over
 * it needs a `default` branch and adding a code breaks no one's build.
 */
export interface TesseraErrorDetails {
  /** The configuration is wrong; the message says how to fix it. Thrown at construction. */
  ERR_CONFIG: NoDetails;
  /**
   * The API was used in a way it cannot be: a programmer's mistake found at call time, such as
   * `getSession(req)` on a request the middleware did not run for, or a Redis store used before
   * any engine gave it its slot tags.
   */
  ERR_USAGE: NoDetails;
  /**
   * A user id, handle, session id or key-value key passed at call time is one tessera or the
   * store cannot keep exactly (empty, too long, NUL, not well-formed UTF-16). Nothing was
   * written. It may come from a client (a handle in a URL), hence a 4xx.
   */
  ERR_INVALID_ID: {
    /** The argument, when known (`userId`, `handle`, `id`). */
    readonly field?: string;
  };
  /** The store did not answer, timed out or refused; adapters map it to 503. */
  ERR_STORE_UNAVAILABLE: NoDetails;
  /** A store record could not be read (corrupt, or written by an incompatible version). */
  ERR_STORE_CORRUPT: NoDetails;
  /** The compare-and-set of session data kept losing to other writers past the retry bound. */
  ERR_CONFLICT: NoDetails;
  /** The CSRF check refused an unsafe request; adapters map it to 403. */
  ERR_CSRF: {
    /** Which part of the check refused it (never a token). */
    readonly reason: CSRFRejection;
  };
  /** Session data would exceed the configured size limit (or a sealed cookie the 4096-byte limit). */
  ERR_DATA_TOO_LARGE: {
    /** The size refused, in bytes (at least this: counting stops at the first bound passed). */
    readonly size: number;
    /** The limit, in bytes (`maxDataBytes`, or 4096 for a cookie). */
    readonly limit: number;
  };
  /** Session data is not JSON-serialisable, or the validation hook rejected it. */
  ERR_INVALID_DATA: NoDetails;
  /** The operation needs server-side state that this mode or store does not have. */
  ERR_UNSUPPORTED: NoDetails;
  /** The session was destroyed, or is being served read-only in a rotation grace window. */
  ERR_SESSION_READ_ONLY: NoDetails;
  /** A request could not be taken as sent; adapters map it to 400, 408, 413 or 415. */
  ERR_BAD_REQUEST: {
    /** What was wrong with it. */
    readonly reason: BadRequestReason;
  };
  /** The user already has the maximum number of sessions and the policy is to reject. */
  ERR_SESSION_LIMIT: {
    /** The per-user limit (`sessionLimit.max`). */
    readonly limit: number;
    /** The policy that refused the sign-in. */
    readonly policy: 'reject';
  };
  /**
   * A sign-in was refused because the user's sessions were revoked (a password change,
   * "sign out everywhere") after this request began: the user must sign in again.
   */
  ERR_SESSION_REVOKED: NoDetails;
  /** A session was about to be served over plain http outside loopback. */
  ERR_INSECURE_TRANSPORT: {
    /** What to change, when the adapter could tell (sent as the body's `hint`). */
    readonly hint?: string;
  };
  /** A key in the key ring is missing, short, reused or unknown. */
  ERR_KEY: NoDetails;
}

/** Every code this version of tessera throws (see {@link TesseraErrorDetails}). */
export type TesseraErrorCode = keyof TesseraErrorDetails;

/**
 * Every code, at run time: the object makes the compiler check the list against
 * {@link TesseraErrorCode} both ways.
 * @internal
 */
const CODES = {
  ERR_CONFIG: true,
  ERR_USAGE: true,
  ERR_INVALID_ID: true,
  ERR_STORE_UNAVAILABLE: true,
  ERR_STORE_CORRUPT: true,
  ERR_CONFLICT: true,
  ERR_CSRF: true,
  ERR_DATA_TOO_LARGE: true,
  ERR_INVALID_DATA: true,
  ERR_UNSUPPORTED: true,
  ERR_SESSION_READ_ONLY: true,
  ERR_BAD_REQUEST: true,
  ERR_SESSION_LIMIT: true,
  ERR_SESSION_REVOKED: true,
  ERR_INSECURE_TRANSPORT: true,
  ERR_KEY: true,
} as const satisfies Record<TesseraErrorCode, true>;

/** Every code this version throws, in declaration order. @internal */
export const ERROR_CODES = Object.freeze(Object.keys(CODES)) as readonly TesseraErrorCode[];

/**
 * A code a later minor release may add: the `code` of a caught error not narrowed by
 * {@link isTesseraError} is `TesseraErrorCode | (string & {})`.
 */
export type AnyTesseraErrorCode = TesseraErrorCode | (string & {});

/**
 * The `details` of a `TesseraError<C>` by code: the code's own for a known code, any object
 * for a code this version does not know.
 */
export interface TesseraErrorDetailsOf extends TesseraErrorDetails {
  [code: string]: Readonly<Record<string, unknown>>;
}

/** Options for {@link TesseraError}: `details` is required for a code whose details are. */
export type TesseraErrorOptions<C extends TesseraErrorCode = TesseraErrorCode> = {
  /** The underlying error (a driver error, a parse error). */
  cause?: unknown;
} & (Empty extends TesseraErrorDetails[C]
  ? { details?: TesseraErrorDetails[C] }
  : { details: TesseraErrorDetails[C] });

/** The constructor's options argument: optional unless the code's details are required. */
type OptionsArg<C extends TesseraErrorCode> = Empty extends TesseraErrorDetails[C]
  ? [options?: TesseraErrorOptions<C>]
  : [options: TesseraErrorOptions<C>];

/** The adapters' status table (src/adapters/shared/status.ts), once an adapter module is loaded. */
let statusOf: ((err: TesseraError) => number) | undefined;

/**
 * Back the deprecated {@link TesseraError.status} with the adapters' status table: called once
 * by src/adapters/shared/status.ts when it loads (the core knows no HTTP).
 * @internal
 */
export function useErrorStatus(map: (err: TesseraError) => number): void {
  statusOf = map;
}

/**
 * The error tessera throws. Messages never contain a session token. `TesseraError<C>` is one
 * narrowed to code `C` (by {@link isTesseraError}), whose `details` are typed.
 *
 * @example
 * ```ts
 * try { await sessions.authenticate(s, userId) } catch (e) {
 *   if (isTesseraError(e, 'ERR_SESSION_LIMIT')) return tooMany(e.details.limit)
 *   throw e
 * }
 * ```
 */
export class TesseraError<out C extends AnyTesseraErrorCode = AnyTesseraErrorCode> extends Error {
  /** A stable machine-readable code. */
  readonly code: C;
  /** What the code's failure was, typed per code (an empty object for most codes). */
  readonly details: TesseraErrorDetailsOf[C];

  /**
   * @param code - the code
   * @param message - what happened and, for a mistake, how to fix it (never a token)
   * @param options - `cause`, and `details` (required for a code whose details are)
   */
  constructor(
    code: C & TesseraErrorCode,
    message: string,
    ...[options]: OptionsArg<C & TesseraErrorCode>
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TesseraError';
    this.code = code;
    this.details = Object.freeze({ ...options?.details }) as TesseraErrorDetailsOf[C];
  }

  /**
   * The HTTP status tessera's adapters answer this error with, kept for frameworks whose default
   * error handlers read `err.status` (Express, Fastify, Koa). Backed by the table the root entry
   * and every adapter subpath load (500 only in a program that imports neither).
   * @deprecated The status is the adapters' to decide: use `errorStatus(err)` (from
   *   `tessera-session` or your adapter's subpath); see docs/errors.md.
   */
  get status(): number {
    return statusOf?.(this) ?? 500;
  }
}

/**
 * Narrow an unknown value to a {@link TesseraError} of one code, with that code's `details`.
 * @param value - anything caught
 * @param code - the code to match
 * @returns whether `value` is a TesseraError with this code
 * @example if (isTesseraError(e, 'ERR_CSRF')) log(e.details.reason)
 */
export function isTesseraError<C extends TesseraErrorCode>(
  value: unknown,
  code: C,
): value is TesseraError<C>;
/**
 * Narrow an unknown value to a {@link TesseraError} (of any code).
 * @param value - anything caught
 * @returns whether `value` is a TesseraError
 */
export function isTesseraError(value: unknown): value is TesseraError;
export function isTesseraError(value: unknown, code?: TesseraErrorCode): boolean {
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
