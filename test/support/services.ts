/**
 * Detect the external services some suites need (Redis, PostgreSQL) and decide whether to run
 * them. A missing service skips its suite with a loud warning, or fails the run when
 * `CI_REQUIRE_SERVICES=1`.
 */
import { createConnection } from 'node:net';

/** The Redis URL the suites use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The PostgreSQL URL the suites use. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Whether a Redis server answers `PING` at `url` within `timeoutMs`.
 * @param url - a `redis://` URL
 * @param timeoutMs - how long to wait
 * @returns true when it answered `+PONG`
 */
export async function redisAvailable(url: string = REDIS_URL, timeoutMs = 1500): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Whether PostgreSQL accepts a connection and answers `SELECT 1` at `url` within `timeoutMs`.
 * @param url - a `postgres://` URL
 * @param timeoutMs - how long to wait
 * @returns true when the query ran
 */
export async function postgresAvailable(
  url: string = DATABASE_URL,
  timeoutMs = 1500,
): Promise<boolean> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Whether a TCP port on 127.0.0.1 accepts connections.
 * @param port - the port
 * @param timeoutMs - how long to wait
 */
export function portOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Decide whether a suite that needs `name` runs. When it cannot, print a loud banner, or throw
 * when `CI_REQUIRE_SERVICES=1` so CI never passes by skipping. Use with `describe.skipIf(!run)`.
 *
 * @param name - what is missing, for the banner (e.g. `Redis at redis://127.0.0.1:6379`)
 * @param ok - whether the service is available
 * @returns whether to run the suite
 * @throws Error when the service is missing and `CI_REQUIRE_SERVICES=1`
 * @example
 * ```ts
 * const run = requireService(`Redis at ${REDIS_URL}`, await redisAvailable());
 * describe.skipIf(!run)('redisStore', () => { … });
 * ```
 */
export function requireService(name: string, ok: boolean): boolean {
  if (ok) return true;
  if (process.env.CI_REQUIRE_SERVICES === '1') {
    throw new Error(`${name} is not available and CI_REQUIRE_SERVICES=1`);
  }
  const line = '!'.repeat(78);
  console.warn(
    `\n${line}\n!!! SKIPPING: ${name} is not available.\n!!! These tests did NOT run. Set CI_REQUIRE_SERVICES=1 to make this an error.\n${line}\n`,
  );
  return false;
}
