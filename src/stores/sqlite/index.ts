/**
 * The SQLite store: sessions in one file, on `better-sqlite3` (an optional peer dependency).
 * WAL mode, a busy timeout, statements prepared once, a versioned schema migrated under
 * `BEGIN IMMEDIATE`, and expired rows swept in batches through an index. Several processes
 * may share one file.
 */
import type { KeyValueStore, SessionStore } from '../../core/types.js';
import type { SQLiteStoreOptions } from './options.js';
import { SQLiteStore } from './store.js';

export type { SQLiteDatabase, SQLiteStoreCommonOptions, SQLiteStoreOptions } from './options.js';
export { SQLITE_SCHEMA_VERSION } from './schema.js';

/**
 * Create a session store on SQLite.
 *
 * Every method is one statement or one `BEGIN IMMEDIATE` transaction, so a change is whole or
 * absent even across processes sharing the file. `better-sqlite3` is synchronous; the methods
 * still return promises, as the contract says. Driver failures (a lock held past
 * `busyTimeoutMs`, a closed connection, a full disk) reject with `ERR_STORE_UNAVAILABLE`.
 *
 * @param options - the database (or its path) and settings; see {@link SQLiteStoreOptions}
 * @returns a {@link SessionStore} named `sqlite`
 * @throws TesseraError `ERR_CONFIG` when an option is wrong or `better-sqlite3` is not installed
 * (with `path`); `ERR_STORE_UNAVAILABLE` when the file cannot be opened or migrated;
 * `ERR_STORE_CORRUPT` when the file holds a newer schema than this version knows
 * @example
 * ```ts
 * import { sqliteStore } from 'tessera-session/sqlite';
 * const store = sqliteStore({ path: './sessions.db' });
 * // or, with a connection you manage:
 * import Database from 'better-sqlite3';
 * const store2 = sqliteStore({ database: new Database('./app.db'), tablePrefix: 'auth_' });
 * ```
 */
export function sqliteStore(options: SQLiteStoreOptions): SessionStore & KeyValueStore {
  return new SQLiteStore(options);
}
