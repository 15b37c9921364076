/**
 * Open a store from a URL, as `TESSERA_STORE` and `--store` spell it:
 * `sqlite:PATH`, `memory`, `redis://…` / `rediss://…` / `redis+cluster://h1:p1,h2:p2`, `postgres://…`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { TesseraError } from '../core/errors.js';
import type { SessionStore } from '../core/types.js';

/**
 * Open the store a URL names. Drivers are loaded only for the scheme used.
 * @throws TesseraError `ERR_CONFIG` for a URL it does not understand
 */
export async function openStore(url: string): Promise<SessionStore> {
  if (url === 'memory') {
    const { memoryStore } = await import('../stores/memory/index.js');
    return memoryStore();
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (!path)
      throw new TesseraError('ERR_CONFIG', 'sqlite: needs a path, e.g. sqlite:.tessera/demo.db');
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const { sqliteStore } = await import('../stores/sqlite/index.js');
    return sqliteStore({ path });
  }
  if (/^(redis|rediss|redis\+cluster):\/\//.test(url)) {
    const { connectRedis, redisStore } = await import('../stores/redis/index.js');
    const client = await connectRedis(url);
    const store = redisStore({ client });
    const close = store.close.bind(store);
    return Object.assign(store, {
      close: async () => {
        await close();
        client.disconnect();
      },
    });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { connectPostgres, postgresStore } = await import('../stores/postgres/index.js');
    const pool = await connectPostgres(url);
    const store = postgresStore({ pool });
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
    `Unknown store URL "${url.replace(/\/\/[^@/]*@/, '//***@')}": use sqlite:PATH, memory, redis://…, redis+cluster://…, or postgres://…`,
  );
}
