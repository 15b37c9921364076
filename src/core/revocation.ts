/**
 * The per-user revocation epoch, one rule for both modes: "every session of this user whose
 * authentication happened at or before T is dead". The server-side engine asks the store to set
 * it (atomically with the deletion of the user's sessions) and to check it (atomically with the
 * write that signs a user in); sealed mode compares a cookie's `issuedAt` with it on load.
 */
import { TesseraError } from './errors.js';

/**
 * Whether a session authenticated (or, in sealed mode, issued) at `at` is revoked by the
 * user's epoch. `<=`: a session stamped in the same millisecond as the revocation is dead too.
 * A missing stamp counts as revoked whenever there is an epoch.
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
 * When an epoch set at `at` may be forgotten: once every session stamped before it has passed
 * its absolute deadline (plus {@link EPOCH_SLACK_MS}).
 * @internal
 */
export function epochExpiresAt(at: number, absoluteMs: number): number {
  return at + absoluteMs + EPOCH_SLACK_MS;
}

/** How long, in real time, {@link clockPast} waits at most. @internal */
const CLOCK_WAIT_MS = 20;

/**
 * Resolve once `now()` is past `at`, waiting at most a few ms of real time. `revokeAll` and
 * `revokeOthers` return through it, so a sign-in that begins after they returned is stamped
 * after the epoch and is never refused by it; a frozen test clock gives up instead of hanging.
 * @internal
 */
export async function clockPast(now: () => number, at: number): Promise<void> {
  const started = performance.now();
  while (now() <= at && performance.now() - started < CLOCK_WAIT_MS) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * The error a store rejects a sign-in with when the user's epoch is at or after its stamp.
 * @internal
 */
export function signInRevoked(): TesseraError {
  return new TesseraError(
    'ERR_SESSION_REVOKED',
    "The user's sessions were revoked after this sign-in began: sign in again.",
  );
}

/**
 * The error a store rejects a sign-in with at the per-user limit (policy `reject`).
 * @internal
 */
export function sessionLimitReached(limit: number): TesseraError {
  return new TesseraError('ERR_SESSION_LIMIT', `The user already has ${limit} sessions.`, {
    details: { limit, policy: 'reject' },
  });
}
