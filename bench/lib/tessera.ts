/**
 * The tessera side of the benchmark app: one engine per server process, built from the public
 * package (`tessera-session`, resolved to `dist/` by package self-reference after
 * `npm run build`), with tessera's secure defaults: only the store and a fresh key differ.
 */
import type { SealedSessionManager, Session, SessionManager, SessionStore } from 'tessera-session';
import { createSealedSessions, createSessions, generateKey } from 'tessera-session';
import { BENCH_USER_AGENT, type BenchData, INITIAL_DATA, NO_SESSION } from './app.js';

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

let users = 0;

/**
 * Reserves user numbers for rows made outside {@link login} (the bulk copies of `--scale`), so
 * that they never share a user with a session the engine signs in.
 *
 * @param count - Users to reserve.
 * @returns The first reserved number (`user-<n>`).
 * @example
 * ```ts
 * const first = reserveUsers(999_000);
 * ```
 */
export function reserveUsers(count: number): number {
  const first = users + 1;
  users += count;
  return first;
}

/**
 * Signs a session in as a user of its own and gives it the data of `/new`: what the app's
 * `/login` route does, shared by that route and {@link fillSessions}.
 *
 * @param session - A fresh session of a server-side engine.
 * @returns When the sign-in is stored (the data is saved by the following commit).
 * @example
 * ```ts
 * await login(getSession(req));
 * ```
 */
export async function login(session: Session<BenchSessionData>): Promise<void> {
  await session.authenticate(`user-${++users}`);
  answer('/new', session);
}

/** Sessions created at once by {@link fillSessions} (the store's write concurrency). */
const FILL_CONCURRENCY = 64;

/**
 * Adds `count` signed-in sessions through the engine, in process: the same `load` → `login` →
 * `commit` cycle an adapter runs for `/login` (same user agent and client IP as the harness's
 * requests, so the records are those HTTP would leave), without the HTTP work, so `--scale` can
 * fill 1M sessions in a minute or two.
 *
 * @param engine - The server-side engine of the benchmark server.
 * @param count - Sessions to add.
 * @returns The sessions that failed (logged once; should be 0).
 * @example
 * ```ts
 * const failures = await fillSessions(engine, 100_000);
 * ```
 */
export async function fillSessions(
  engine: SessionManager<BenchSessionData>,
  count: number,
): Promise<number> {
  let started = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++;
      try {
        const s = await engine.load({
          method: 'GET',
          userAgent: BENCH_USER_AGENT,
          ip: '127.0.0.1',
        });
        await login(s);
        await engine.commit(s);
      } catch (error) {
        if (failures++ === 0) console.error(`  ! fill: ${String(error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FILL_CONCURRENCY, count) }, worker));
  return failures;
}
