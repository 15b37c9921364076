/**
 * The per-user revocation rule, one copy for both modes: "every session of this user whose
 * authentication (server-side) or issue (sealed) happened at or before T is dead".
 */

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
