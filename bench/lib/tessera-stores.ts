/**
 * The stores tessera is benchmarked on, each opened the way an app would (its driver injected),
 * under a name unique to the server process, and cleaned up on close. Drivers are imported only
 * by the store that needs them.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionStore } from 'tessera-session';
import { benchCapacity, countRedisCommands, redisUrl, uniquePrefix } from './control.js';

/** A store ready for a benchmark server. */
export interface StoreKit {
  store: SessionStore;
  /** Releases the driver and deletes what the run wrote. Called after the engine is closed. */
  close: () => Promise<void>;
  /** Counters reported with every mark (Redis commands for the Redis store). */
  counters?: () => Record<string, number>;
  /**
   * Inserts `count` copies of the last signed-in row the engine wrote, users numbered from
   * `firstUser` (`bulk-fill.ts`): the disk stores' bulk fill for `--scale`.
   */
  copyRows?: (count: number, firstUser: number) => Promise<number>;
}

/** The store names a tessera benchmark server can ask for. */
export type StoreName = 'memory' | 'redis' | 'sqlite' | 'postgres';

/**
 * Opens a store for a benchmark server.
 *
 * @param name - Which store.
 * @returns The store, its clean-up and its counters.
 * @throws When the service is not reachable or the driver is missing.
 * @example
 * ```ts
 * const kit = await openStore('redis');
 * ```
 */
export async function openStore(name: StoreName): Promise<StoreKit> {
  switch (name) {
    case 'memory': {
      const { memoryStore } = await import('tessera-session/memory');
      // Default bound (100k), raised only by --scale so that the store can hold the population.
      const capacity = benchCapacity();
      return {
        store: memoryStore(capacity === undefined ? {} : { maxSessions: capacity }),
        close: async () => {},
      };
    }
    case 'redis': {
      const { Redis } = await import('ioredis');
      const { redisStore } = await import('tessera-session/redis');
      const client = new Redis(redisUrl, { lazyConnect: true });
      await client.connect();
      const prefix = uniquePrefix('tessera');
      const counters = countRedisCommands(client, await redisScriptNames());
      return {
        store: redisStore({ client, prefix }),
        counters,
        close: async () => {
          const stream = client.scanStream({ match: `${prefix}*`, count: 1000 });
          for await (const keys of stream as AsyncIterable<string[]>) {
            if (keys.length > 0) await client.unlink(...keys);
          }
          await client.quit();
        },
      };
    }
    case 'sqlite': {
      const { sqliteStore } = await import('tessera-session/sqlite');
      // A file, as the default deployment (WAL journal), in the OS temp directory.
      const path = join(tmpdir(), `tessera-bench-${process.pid}.db`);
      const store = sqliteStore({ path });
      return {
        store,
        copyRows: async (count, firstUser) => {
          const { default: Database } = await import('better-sqlite3');
          const { copySqliteRows } = await import('./bulk-fill.js');
          // A connection of its own (WAL: it writes while the store's is idle), closed after.
          const db = new Database(path);
          try {
            db.pragma('busy_timeout = 5000');
            return copySqliteRows(db, 'tessera_sessions', count, firstUser);
          } finally {
            db.close();
          }
        },
        close: async () => {
          for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
        },
      };
    }
    case 'postgres': {
      const { connectPostgres, postgresStore } = await import('tessera-session/postgres');
      const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
      const pool = await connectPostgres(url);
      const schema = `bench_${process.pid}`;
      return {
        store: postgresStore({ pool, schema }),
        copyRows: async (count, firstUser) => {
          const { copyPostgresRows } = await import('./bulk-fill.js');
          return copyPostgresRows(pool, schema, count, firstUser);
        },
        close: async () => {
          await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await pool.end();
        },
      };
    }
  }
}

/**
 * The Redis store's Lua scripts by SHA1, read from the build (`dist/stores/redis/scripts.js`, an
 * internal module): only for naming `EVALSHA` counts in the report; empty if it moved.
 */
async function redisScriptNames(): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  try {
    const scripts = (await import(
      new URL('../../dist/stores/redis/scripts.js', import.meta.url).href
    )) as Record<string, unknown>;
    for (const [name, value] of Object.entries(scripts)) {
      const sha = (value as { sha?: unknown } | null)?.sha;
      if (typeof sha === 'string') names.set(sha, name);
    }
  } catch {
    // Names are a convenience; counts stay correct without them.
  }
  return names;
}
