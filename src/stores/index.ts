/**
 * `tessera-session/stores`: open any store from a URL, as `TESSERA_STORE` and the CLI's
 * `--store` spell it: `memory`, `sqlite:PATH`, `redis://…` / `rediss://…` /
 * `redis+cluster://h1:p1,h2:p2`, `postgres://…`. Only the driver the URL needs is loaded.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TesseraError } from '../core/errors.js';
import type { SessionStore } from '../core/types.js';

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Folder a relative SQLite path starts from. @default process.cwd() */
  cwd?: string;
  /**
   * Key prefix of a Redis store (see `redisStore`); other stores ignore it.
   * @default 'tessera:'
   */
  prefix?: string;
  /**
   * Schema of a PostgreSQL store (see `postgresStore`); other stores ignore it.
   * @default 'tessera'
   */
  schema?: string;
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

/** Query parameters whose value is a secret (`password`, `sslpassword`, `pass`, `token`…). */
const SECRET_PARAM = /pass|secret|token/i;

/**
 * A store URL with every password replaced by `***`, for messages and logs: the password of the
 * user info (up to the LAST `@`, so a raw `@` — or `/`, `?`, `#` — inside it is hidden too;
 * drivers read user info up to the last `@` as well), and the value of every query parameter
 * whose name holds `pass`, `secret` or `token` (`?password=`, `?sslpassword=`), percent-encoded
 * names included. When in doubt it hides more (a host after a stray `@` in the query), never less.
 * @param url - a store URL as `TESSERA_STORE` or `--store` spell it (anything else is returned
 *   with the same rules applied)
 * @returns the URL, safe to print
 * @example
 * ```ts
 * redactStoreUrl('postgres://app:p@ss@db/x?password=y') // 'postgres://app:***@db/x?password=***'
 * ```
 */
export function redactStoreUrl(url: string): string {
  const start = url.indexOf('//');
  if (start < 0) return redactQuery(url);
  const head = url.slice(0, start + 2);
  let rest = url.slice(start + 2);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const info = rest.slice(0, at);
    const colon = info.indexOf(':');
    if (colon >= 0) rest = `${info.slice(0, colon)}:***${rest.slice(at)}`;
  }
  return head + redactQuery(rest);
}

/** `text` with the values of secret-looking query parameters replaced by `***`. */
function redactQuery(text: string): string {
  const q = text.indexOf('?');
  if (q < 0) return text;
  const hash = text.indexOf('#', q);
  const end = hash < 0 ? text.length : hash;
  const pairs = text
    .slice(q + 1, end)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      const name = pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // A malformed escape: judge the raw name.
      }
      return SECRET_PARAM.test(decoded) || SECRET_PARAM.test(name) ? `${name}=***` : pair;
    });
  return `${text.slice(0, q + 1)}${pairs.join('&')}${text.slice(end)}`;
}

/**
 * Open the store a URL names. The store's `close()` also closes the client or pool opened here.
 * @param url - `memory`, `sqlite:PATH` (the folder is created), `redis://…`, `rediss://…`,
 *   `redis+cluster://host1:port1,host2:port2`, `postgres://…`
 * @param options - the SQLite folder, the Redis prefix, the PostgreSQL schema
 * @returns a ready store
 * @throws TesseraError `ERR_CONFIG` for a URL it does not understand, a driver that is not
 *   installed, or a bad prefix or schema; `ERR_STORE_UNAVAILABLE` when the server does not answer
 * @example
 * ```ts
 * const store = await openStore(process.env.TESSERA_STORE ?? 'sqlite:.data/sessions.db')
 * ```
 */
export async function openStore(
  url: string,
  options: OpenStoreOptions = {},
): Promise<SessionStore> {
  if (url === 'memory') {
    const { memoryStore } = await import('./memory/index.js');
    return memoryStore();
  }
  if (url.startsWith('sqlite:')) {
    const raw = url.slice('sqlite:'.length);
    if (!raw)
      throw new TesseraError('ERR_CONFIG', 'sqlite: needs a path, e.g. sqlite:.tessera/demo.db');
    const path = raw === ':memory:' ? raw : resolve(options.cwd ?? process.cwd(), raw);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { sqliteStore } = await import('./sqlite/index.js');
    return sqliteStore({ path });
  }
  if (/^rediss?(\+cluster)?:\/\//.test(url)) {
    const { connectRedis, redisStore } = await import('./redis/index.js');
    const client = await connectRedis(url);
    let store: SessionStore;
    try {
      store = redisStore({
        client,
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
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
    const { connectPostgres, postgresStore } = await import('./postgres/index.js');
    const pool = await connectPostgres(url);
    let store: SessionStore;
    try {
      store = postgresStore({
        pool,
        ...(options.schema !== undefined ? { schema: options.schema } : {}),
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
