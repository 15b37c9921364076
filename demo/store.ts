/**
 * Open the session store that `TESSERA_STORE` names, through tessera's public subpaths, loading
 * only the driver the URL needs.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SessionStore } from 'tessera-session';
import { redactUrl } from './config.js';

/** A store plus whatever else must be closed with it (a client the demo opened). */
export interface OpenedStore {
  store: SessionStore;
  /** Close the store, then its client. Idempotent. */
  close(): Promise<void>;
}

interface RedisModule {
  connectRedis(url: string): Promise<{ disconnect(): void }>;
  redisStore(options: { client: unknown }): SessionStore;
}

interface PostgresModule {
  connectPostgres(url: string): Promise<{ end(): Promise<void> }>;
  postgresStore(options: { pool: unknown }): SessionStore;
}

/**
 * Import an optional subpath. The specifier is a variable so that type-checking the demo does not
 * depend on every store being built.
 */
async function load<T>(specifier: string, what: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (e) {
    throw new Error(
      `The ${what} store could not be loaded from ${specifier} (${(e as Error).message}): run \`npm run build\` and check its driver is installed.`,
    );
  }
}

function closer(store: SessionStore, after: () => unknown): () => Promise<void> {
  let done: Promise<void> | null = null;
  return () => {
    done ??= (async () => {
      try {
        await store.close();
      } finally {
        await after();
      }
    })();
    return done;
  };
}

/**
 * Open a store from its URL: `memory`, `sqlite:PATH` (the folder is created; a relative path is
 * taken from `cwd`), `redis://…` / `rediss://…` / `redis+cluster://…`, `postgres://…`.
 * @param url - the `TESSERA_STORE` value
 * @param cwd - folder relative SQLite paths start from @default process.cwd()
 * @returns the store and a close function
 * @throws Error for an unknown scheme; TesseraError `ERR_STORE_UNAVAILABLE` when the server does not answer
 * @example const { store, close } = await openStore('sqlite:.tessera/demo.db')
 */
export async function openStore(url: string, cwd: string = process.cwd()): Promise<OpenedStore> {
  if (url === 'memory') {
    const { memoryStore } = await import('tessera-session/memory');
    const store = memoryStore();
    return { store, close: closer(store, () => {}) };
  }
  if (url.startsWith('sqlite:')) {
    const raw = url.slice('sqlite:'.length);
    const path = raw === ':memory:' ? raw : resolve(cwd, raw);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { sqliteStore } = await import('tessera-session/sqlite');
    const store = sqliteStore({ path });
    return { store, close: closer(store, () => {}) };
  }
  if (/^rediss?(\+cluster)?:\/\//.test(url)) {
    const m = await load<RedisModule>('tessera-session/redis', 'Redis');
    const client = await m.connectRedis(url);
    const store = m.redisStore({ client });
    return { store, close: closer(store, () => client.disconnect()) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const m = await load<PostgresModule>('tessera-session/postgres', 'PostgreSQL');
    const pool = await m.connectPostgres(url);
    const store = m.postgresStore({ pool });
    return { store, close: closer(store, () => pool.end()) };
  }
  throw new Error(`Unknown store URL ${JSON.stringify(redactUrl(url))}.`);
}
