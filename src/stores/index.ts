/**
 * `tessera-session/stores`: open any store from a URL, as `TESSERA_STORE` and the CLI's
 * `--store` spell it: `memory`, `sqlite:PATH`, `redis://…` / `rediss://…` /
 * `redis+cluster://h1:p1,h2:p2`, `postgres://…`. Only the driver the URL needs is loaded.
 */
import { resolve } from 'node:path';
import { TesseraError } from '../core/errors.js';
import type { KeyValueStore, SessionStore } from '../core/types.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Folder a relative SQLite path starts from. @default process.cwd() */
  cwd?: string;
  /**
   * Key prefix of a Redis store (`redisStore`'s `prefix`), for apps that share one Redis.
   * Refused for other stores. @default 'tessera:'
   */
  prefix?: string;
  /**
   * Schema of a PostgreSQL store (`postgresStore`'s `schema`). Refused for other stores.
   * @default 'tessera'
   */
  schema?: string;
  /**
   * Table prefix of a SQLite store (`sqliteStore`'s `tablePrefix`). Refused for other stores.
   * @default 'tessera_'
   */
  tablePrefix?: string;
}

/** Which store kind each isolation option belongs to, for {@link openStore}'s check. */
const ISOLATION = { prefix: 'redis', schema: 'postgres', tablePrefix: 'sqlite' } as const;

/**
 * Refuse an isolation option meant for another kind of store: ignored, it would open the
 * default namespace, which may hold another app's sessions.
 */
function checkIsolation(kind: string, options: OpenStoreOptions): void {
  for (const [name, owner] of Object.entries(ISOLATION)) {
    if (options[name as keyof typeof ISOLATION] !== undefined && owner !== kind) {
      throw new TesseraError(
        'ERR_CONFIG',
        `openStore: ${name} applies to ${owner} stores only, not to a ${kind} store (${Object.entries(
          ISOLATION,
        )
          .map(([n, o]) => `${n} for ${o}`)
          .join(', ')}).`,
      );
    }
  }
}

/** Whether a string is a store URL {@link openStore} understands (no connection is made). */
export function isStoreUrl(url: string): boolean {
  return (
    url === 'memory' ||
    /^sqlite:.+/.test(url) ||
    /^(redis|rediss)(\+cluster)?:\/\/.+/.test(url) ||
    /^postgres(ql)?:\/\/.+/.test(url)
  );
}

import { redactStoreUrl } from './redact.js';

export { redactStoreUrl };

/**
 * Open the store a URL names. The store's `close()` also closes the client or pool opened here.
 * @param url - `memory`, `sqlite:PATH` (the folder is created), `redis://…`, `rediss://…`,
 *   `redis+cluster://host1:port1,host2:port2`, `postgres://…`
 * @param options - where a relative SQLite path starts, and the store's namespace (`prefix`,
 *   `schema`, `tablePrefix`), so that several apps can share one server or file
 * @returns a ready store
 * @throws TesseraError `ERR_CONFIG` for a URL it does not understand, a driver that is not
 *   installed, or a namespace option of another kind of store; `ERR_STORE_UNAVAILABLE` when the
 *   server does not answer
 * @example
 * ```ts
 * const store = await openStore(process.env.TESSERA_STORE ?? 'sqlite:.data/sessions.db')
 * ```
 */
export async function openStore(
  url: string,
  options: OpenStoreOptions = {},
): Promise<SessionStore & KeyValueStore> {
  if (url === 'memory') {
    checkIsolation('memory', options);
    const { memoryStore } = await import('./memory/index.js');
    return memoryStore();
  }
  if (url.startsWith('sqlite:')) {
    checkIsolation('sqlite', options);
    const raw = url.slice('sqlite:'.length);
    if (!raw)
      throw new TesseraError('ERR_CONFIG', 'sqlite: needs a path, e.g. sqlite:data/sessions.db');
    // sqliteStore creates the file's folder.
    const path = raw === ':memory:' ? raw : resolve(options.cwd ?? process.cwd(), raw);
    const { sqliteStore } = await import('./sqlite/index.js');
    return sqliteStore({
      path,
      ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix }),
    });
  }
  if (/^rediss?(\+cluster)?:\/\//.test(url)) {
    checkIsolation('redis', options);
    const { connectRedis, redisStore } = await import('./redis/index.js');
    const client = await connectRedis(url);
    let store: SessionStore & KeyValueStore;
    try {
      store = redisStore({
        client,
        ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      });
    } catch (e) {
      client.disconnect();
      throw e;
    }
    const close = store.close.bind(store);
    return Object.assign(store, {
      close: async () => {
        await close();
        client.disconnect();
      },
    });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    checkIsolation('postgres', options);
    const { connectPostgres, postgresStore } = await import('./postgres/index.js');
    const pool = await connectPostgres(url);
    let store: SessionStore & KeyValueStore;
    try {
      store = postgresStore({
        pool,
        ...(options.schema === undefined ? {} : { schema: options.schema }),
      });
    } catch (e) {
      await pool.end();
      throw e;
    }
    const close = store.close.bind(store);
    return Object.assign(store, {
      close: async () => {
        await close();
        await pool.end();
      },
    });
  }
  throw new TesseraError(
    'ERR_CONFIG',
    `Unknown store URL "${redactStoreUrl(url)}": use sqlite:PATH, memory, redis://…, redis+cluster://…, or postgres://…`,
  );
}
