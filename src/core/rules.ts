/**
 * The session rules, one copy that the server-side engine and sealed-cookie mode both call
 * (DESIGN decision 9), so the two modes cannot drift apart: data keys, deadlines, the touch
 * decision, which data survives a rotation, freshness, the CSRF skeleton and the revocation
 * epoch. A rule here decides; it stores, seals and emits nothing (its callers do).
 */
import type { CSRFResult } from './contract.js';
import { type CSRFRejection, type CSRFRequest, checkRequestOrigin, isSafeMethod } from './csrf.js';
import { TesseraError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Data

/**
 * Refuse a data key that would not be a plain key: `__proto__` would set the session object's
 * prototype instead of a property (and `JSON.stringify` would then drop it).
 * @param key - the key an app writes with `set`, `unset` or `update`
 * @throws TesseraError `ERR_INVALID_DATA` for `__proto__`
 */
export function assertDataKey(key: string): void {
  if (key === '__proto__') {
    throw new TesseraError('ERR_INVALID_DATA', 'Session data may not have a "__proto__" key.');
  }
}

/** Which data survives a rotation: all of it, none, or the listed keys. */
export type KeepData<Data> = 'all' | 'none' | readonly (keyof Data & string)[];

/** Options of `authenticate()`, in both modes. */
export interface AuthenticateOptions<Data> {
  /** @default 'all' for an anonymous session or the same user, 'none' when the user changes */
  keep?: KeepData<Data>;
}

/**
 * The data a rotation (sign-in, re-authentication, `regenerate`) carries over.
 * @param data - the session data, with this request's changes applied
 * @param keep - what to keep
 * @returns a new object (never `data` itself), holding only own keys of `data`
 * @example keepData({ cart: [1], theme: 'dark' }, ['cart']) // { cart: [1] }
 */
export function keepData(
  data: Readonly<Record<string, unknown>>,
  keep: KeepData<Record<string, unknown>>,
): Record<string, unknown> {
  if (keep === 'all') return { ...data };
  const out: Record<string, unknown> = {};
  if (keep === 'none') return out;
  // Defined, not assigned: an own "__proto__" key (JSON.parse makes one) stays a key, as the
  // spread of 'all' keeps it, instead of setting the prototype of the kept data.
  for (const k of keep)
    if (Object.hasOwn(data, k))
      Object.defineProperty(out, k, {
        value: data[k],
        enumerable: true,
        writable: true,
        configurable: true,
      });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Deadlines and the touch

/** The settings {@link sessionDeadlines} reads (a subset of the resolved options). */
export interface DeadlineSettings {
  idleMs: number;
  absoluteMs: number;
  reauthRestartsAbsolute: boolean;
}

/**
 * The deadlines of a session that starts, signs in or re-authenticates at `now`.
 *
 * A new session and a sign-in start both deadlines. A re-authentication (the same user
 * authenticating again on their session) restarts the absolute deadline too unless
 * `reauthRestartsAbsolute` is false — NIST SP 800-63B-4 §5.2 (Reauthentication): the overall
 * timeout runs "following authentication or a previous reauthentication", and "successful
 * reauthentication during a session SHALL reset both timeouts". With the option off, the
 * deadline set at sign-in stays, and re-authentication only refreshes `authenticatedAt`.
 *
 * @param settings - idle and absolute timeouts (ms) and the re-authentication rule
 * @param now - epoch ms
 * @param reauthOf - the absolute deadline of the session being re-authenticated, or null for a
 *   new session or a sign-in
 * @returns the idle and absolute deadlines (epoch ms); the idle one never passes the absolute one
 */
export function sessionDeadlines(
  settings: DeadlineSettings,
  now: number,
  reauthOf: number | null,
): { idleExpiresAt: number; absoluteExpiresAt: number } {
  const absoluteExpiresAt =
    reauthOf !== null && !settings.reauthRestartsAbsolute ? reauthOf : now + settings.absoluteMs;
  return {
    idleExpiresAt: idleDeadline(settings, now, absoluteExpiresAt),
    absoluteExpiresAt,
  };
}

/** The settings the touch rule reads (a subset of the resolved options). */
export interface TouchSettings {
  idleMs: number;
  /** How far (ms) a touch must move the idle deadline to be written. */
  touchMs: number;
}

/**
 * The idle deadline of a session used at `now`: the idle timeout from now, never past the
 * absolute deadline (activity never moves that one).
 * @returns epoch ms
 */
export function idleDeadline(
  settings: { idleMs: number },
  now: number,
  absoluteExpiresAt: number,
): number {
  return Math.min(now + settings.idleMs, absoluteExpiresAt);
}

/**
 * Whether a session used at `now` is due a touch (a store write, or a new seal) that moves its
 * idle deadline: when the move is more than the touch fraction (so most reads write nothing,
 * DESIGN decision 3), and once more when the deadline reaches the absolute cap, so that an
 * active session is not ended by idleness just short of its absolute deadline (idle 1800 s,
 * absolute 3600 s: a use at 3400 s keeps the session to 3600 s, though it moves the deadline
 * by less than the fraction).
 * @param settings - the idle timeout and the touch threshold (ms)
 * @param now - epoch ms
 * @param deadlines - the session's current idle and absolute deadlines
 * @returns true when the idle deadline should be moved to {@link idleDeadline}
 */
export function touchDue(
  settings: TouchSettings,
  now: number,
  deadlines: { idleExpiresAt: number; absoluteExpiresAt: number },
): boolean {
  const next = idleDeadline(settings, now, deadlines.absoluteExpiresAt);
  return (
    next - deadlines.idleExpiresAt > settings.touchMs ||
    (next === deadlines.absoluteExpiresAt && deadlines.idleExpiresAt < next)
  );
}

/**
 * Whether a session authenticated at `authenticatedAt` is fresh: the user signed in (or
 * re-authenticated) within `maxAge` seconds, for sensitive actions (OWASP Session Management
 * Cheat Sheet, "Renew the Session ID After Any Privilege Level Change"; re-authentication).
 * @param authenticatedAt - epoch ms, or null for a session with no user
 * @param now - epoch ms
 * @param maxAge - seconds
 */
export function isFresh(
  authenticatedAt: number | null | undefined,
  now: number,
  maxAge: number,
): boolean {
  return authenticatedAt != null && now - authenticatedAt <= maxAge * 1000;
}

// ---------------------------------------------------------------------------------------------
// CSRF

/** The CSRF settings the skeleton reads (the resolved `csrf` option). */
export interface CSRFPolicy {
  enabled: boolean;
  origins: ReadonlySet<string>;
  allowSameSite: boolean;
  reportOnly: boolean;
}

/**
 * The CSRF check of an unsafe request, with the token check plugged in: safe methods pass; then
 * the header half (Fetch Metadata, Origin, Referer — the same in both modes); then a token must
 * be presented, and `verifyToken` judges it (the server-side synchronizer token, or sealed mode's
 * signed double submit). In `reportOnly` mode a failure is reported but lets the request through.
 * @param policy - the resolved CSRF settings
 * @param req - the request's method and headers
 * @param presented - the token from the header or form field
 * @param verifyToken - null when the token is good for this session, else why not
 * @param reject - called with the reason of a failure (the caller emits `csrf_rejected`)
 * @returns `{ ok: true }`, or `{ ok: false, reason }`
 */
export function verifyCSRFWith(
  policy: CSRFPolicy,
  req: CSRFRequest,
  presented: string | undefined,
  verifyToken: (presented: string) => CSRFRejection | null,
  reject: (reason: CSRFRejection) => void,
): CSRFResult {
  if (!policy.enabled || isSafeMethod(req.method)) return { ok: true };
  let reason = checkRequestOrigin(req, policy.origins, { allowSameSite: policy.allowSameSite });
  if (!reason) reason = presented ? verifyToken(presented) : 'missing_token';
  if (!reason) return { ok: true };
  reject(reason);
  return policy.reportOnly ? { ok: true } : { ok: false, reason };
}

// ---------------------------------------------------------------------------------------------
// Revocation epoch

/**
 * Whether a session authenticated (or, in sealed mode, issued) at `at` is revoked by the
 * user's revocation epoch (sealed mode: watermark), "every session of this user whose
 * authentication happened at or before T is dead". `<=`: a session stamped in the same
 * millisecond as the revocation is dead too. A missing stamp counts as revoked whenever there
 * is an epoch. The server-side stores apply it atomically with a sign-in write; sealed mode on load.
 * @param at - the session's authentication (server-side) or issue (sealed) stamp, epoch ms
 * @param epoch - the user's revocation epoch, or null for none
 * @returns true when the epoch ends the session
 * @example revokedBy(1000, 1000) // true
 */
export function revokedBy(at: number | null, epoch: number | null): boolean {
  return epoch !== null && (at === null || at <= epoch);
}

/**
 * The stamp of a sign-in: when its request began (`startedAt`, when it is a finite time not
 * after now), else now. A login whose password check raced a revocation is stamped before the
 * check, hence at or before the epoch.
 * @internal
 */
export function requestStart(startedAt: number | undefined, now: number): number {
  return typeof startedAt === 'number' && Number.isFinite(startedAt) && startedAt < now
    ? startedAt
    : now;
}

/**
 * Epochs outlive the sessions they end by this much: a margin for clock skew between instances.
 * @internal
 */
export const EPOCH_SLACK_MS = 5 * 60_000;

/**
 * When an epoch (or a watermark) set at `at` may be forgotten: once every session stamped before
 * it has passed its absolute deadline (plus {@link EPOCH_SLACK_MS}).
 * @internal
 */
export function epochExpiresAt(at: number, absoluteMs: number): number {
  return at + absoluteMs + EPOCH_SLACK_MS;
}
