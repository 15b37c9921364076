/**
 * The tessera side of the benchmark app: one engine per server process, built from the public
 * package (`tessera-session`, resolved to `dist/` by package self-reference after
 * `npm run build`), with tessera's secure defaults: only the store and a fresh key differ.
 */
import type { SealedSessionManager, SessionManager, SessionStore } from 'tessera-session';
import { createSealedSessions, createSessions, generateKey } from 'tessera-session';
import { type BenchData, INITIAL_DATA, NO_SESSION } from './app.js';

/** The benchmark's session data as tessera types it. */
export type BenchSessionData = BenchData & Record<string, unknown>;

type Key = keyof BenchSessionData & string;

/** What the benchmark routes use of a session: a server-side `Session` and a `SealedSession` both fit. */
export interface BenchSession {
  get<K extends Key>(key: K): BenchSessionData[K] | undefined;
  set<K extends Key>(key: K, value: BenchSessionData[K]): void;
  update<K extends Key>(
    key: K,
    fn: (current: BenchSessionData[K] | undefined) => BenchSessionData[K] | undefined,
  ): void;
}

/**
 * Creates the engine every tessera benchmark server uses.
 *
 * @param store - The session store under test.
 * @returns The session manager, with the default options and one fresh key.
 * @example
 * ```ts
 * const sessions = benchSessions(memoryStore());
 * ```
 */
export function benchSessions(store: SessionStore): SessionManager<BenchSessionData> {
  return createSessions<BenchSessionData>({ store, keys: [generateKey()] });
}

/**
 * Creates the sealed-cookie engine (no store, no revocation store) with the default options.
 *
 * @returns The sealed session manager, with one fresh key.
 * @example
 * ```ts
 * const sessions = benchSealedSessions();
 * ```
 */
export function benchSealedSessions(): SealedSessionManager<BenchSessionData> {
  return createSealedSessions<BenchSessionData>({ keys: [generateKey()] });
}

/**
 * Answers one of the benchmark routes on a tessera session.
 *
 * @param path - `/new`, `/read` or `/hit`.
 * @param session - The request's session.
 * @returns The response body.
 * @example
 * ```ts
 * res.end(answer(req.url, getSession(req)));
 * ```
 */
export function answer(path: string | undefined, session: BenchSession): string {
  if (path === '/new') {
    const data = structuredClone(INITIAL_DATA);
    session.set('userId', data.userId);
    session.set('count', data.count);
    session.set('prefs', data.prefs);
    return '0';
  }
  if (path === '/hit') {
    session.update('count', (count) => (count ?? 0) + 1);
    return String(session.get('count'));
  }
  const count = session.get('count');
  return count === undefined ? NO_SESSION : String(count);
}
