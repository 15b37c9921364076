/**
 * Session rules that the server-side engine and sealed-cookie mode share (DESIGN decision 9):
 * one copy, called by both, so the two modes cannot drift apart.
 */
import { TesseraError } from './errors.js';

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
 * @param o - idle and absolute timeouts (ms) and the re-authentication rule
 * @param now - epoch ms
 * @param reauthOf - the absolute deadline of the session being re-authenticated, or null for a
 *   new session or a sign-in
 * @returns the idle and absolute deadlines (epoch ms); the idle one never passes the absolute one
 */
export function sessionDeadlines(
  o: DeadlineSettings,
  now: number,
  reauthOf: number | null,
): { idleExpiresAt: number; absoluteExpiresAt: number } {
  const absoluteExpiresAt =
    reauthOf !== null && !o.reauthRestartsAbsolute ? reauthOf : now + o.absoluteMs;
  return { idleExpiresAt: Math.min(now + o.idleMs, absoluteExpiresAt), absoluteExpiresAt };
}
