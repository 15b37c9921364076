/**
 * The per-user revocation epoch around its rule (`revokedBy`, in rules.ts): the errors a store
 * refuses a sign-in with, and the wait that makes `revokeAll` return after its epoch. The
 * server-side engine asks the store to set the epoch (atomically with the deletion of the user's
 * sessions) and to check it (atomically with the write that signs a user in); sealed mode
 * compares a cookie's `issuedAt` with it on load.
 */
import { TesseraError } from './errors.js';

// The rule, for the stores that check an epoch themselves; its time rules are in rules.ts only.
export { revokedBy } from './rules.js';

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
