/**
 * Finding and removing test data in the shared Redis and PostgreSQL, by key prefix and schema
 * name. No Vitest import: child processes and the global setup use it too.
 */
import type { Cluster, Redis } from 'ioredis';
import type pg from 'pg';
import { DATABASE_URL, REDIS_URL } from './services.js';

/** The Redis key prefix of everything a test run writes: `tt:<runId>:`. */
export const runPrefix = (runId: string): string => `tt:${runId}:`;
/** The start of the name of every schema a test run creates: `tt_<runId>_`. */
export const runSchemaStart = (runId: string): string => `tt_${runId}_`;

/**
 * Every key under `prefix` (SCAN, on every master of a Cluster).
 * @param client - a connected client
 * @param prefix - the prefix
 */
export async function redisKeysUnder(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  return found;
}

/**
 * Delete every key under `prefix` with SCAN + UNLINK.
 * @param client - a connected client
 * @param prefix - the prefix to clear; must be a test's own
 * @returns the keys deleted
 */
export async function deleteRedisPrefix(
  client: Redis | Cluster,
  prefix: string,
): Promise<string[]> {
  const keys = await redisKeysUnder(client, prefix);
  // One key per command: on a Cluster a multi-key UNLINK must stay in one slot.
  await Promise.all(keys.map((k) => client.unlink(k)));
  return keys;
}

/**
 * The schemas whose name starts with `start`.
 * @param pool - a pool or client on the database
 * @param start - the start of the names, e.g. {@link runSchemaStart}
 */
export async function schemasStartingWith(
  pool: pg.Pool | pg.Client,
  start: string,
): Promise<string[]> {
  const like = `${start.replace(/[\\%_]/g, '\\$&')}%`;
  const r = await pool.query<{ nspname: string }>(
    'SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ORDER BY nspname',
    [like],
  );
  return r.rows.map((row) => row.nspname);
}

/** A short-lived Redis connection to the shared server, or null when it does not answer. */
export async function sharedRedis(): Promise<Redis | null> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return redis;
  } catch {
    redis.disconnect();
    return null;
  }
}

/** A short-lived PostgreSQL connection to the shared database, or null when it does not answer. */
export async function sharedPostgres(): Promise<pg.Client | null> {
  const pgm = (await import('pg')).default;
  const client = new pgm.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 1500 });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch {
    await client.end().catch(() => {});
    return null;
  }
}
