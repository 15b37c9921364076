/**
 * The application every benchmark server implements, so that all configurations do the same work:
 *
 * - `GET /new`  (no cookie): stores {@link INITIAL_DATA} in a fresh session; answers `0`.
 * - `GET /read` (cookie): loads the session and answers its `count`, changing nothing.
 * - `GET /hit`  (cookie): increments `count` in the session and answers the new value.
 *
 * A bare server (no session layer) answers `0` on every route: it is the framework's ceiling.
 */
import { randomBytes } from 'node:crypto';

/** The data a new session receives: small, as a typical signed-in session. */
export const INITIAL_DATA = { userId: 'u1', count: 0, prefs: { theme: 'dark' } } as const;

/** The shape of the benchmark's session data. */
export interface BenchData {
  userId?: string;
  count?: number;
  prefs?: { theme: string };
}

/** The answer to `/read` when no session is loaded (the harness checks it is never `count`). */
export const NO_SESSION = 'none';

/**
 * The User-Agent of every benchmark request, the session-creating `fetch` and the load alike:
 * libraries that bind a session to its user agent must see one visitor, not a changed one.
 */
export const BENCH_USER_AGENT = 'tessera-bench/1';

/** A random 43-character secret per server process, for the peers that take one. */
export const BENCH_SECRET = randomBytes(32).toString('base64url');
