/**
 * The options of the SQLite store, and their defaults.
 */
import type BetterSqlite3 from 'better-sqlite3';

/** A `better-sqlite3` database connection. */
export type SQLiteDatabase = BetterSqlite3.Database;

/** Options shared by both ways of giving {@link sqliteStore} its database. */
export interface SQLiteStoreCommonOptions {
  /**
   * Prefix of every table and index the store creates, so that several stores (or an app's own
   * tables) can share one file. Letters, digits and `_` only.
   * @default 'tessera_'
   */
  tablePrefix?: string;
  /**
   * How often a background sweep deletes expired rows, in ms; `0` turns it off (call `sweep`
   * yourself then). The timer is unref'd and its errors are ignored (the next run retries).
   * @default 60_000
   */
  sweepIntervalMs?: number;
  /**
   * How long a statement waits for another connection's write lock before it fails with
   * `ERR_STORE_UNAVAILABLE`, in ms (SQLite `busy_timeout`).
   * @default 5_000
   */
  busyTimeoutMs?: number;
  /**
   * The clock for the background sweep, and the store's `time()`.
   * @default Date.now
   */
  now?: () => number;
}

/** Options for {@link sqliteStore}: an open database, or a file path for the store to open. */
export type SQLiteStoreOptions = SQLiteStoreCommonOptions &
  (
    | {
        /**
         * An open `better-sqlite3` database. The store sets `journal_mode = WAL` and
         * `busy_timeout` on it and never closes it.
         */
        database: SQLiteDatabase;
        path?: never;
      }
    | {
        /**
         * A database file the store opens (and creates) with `better-sqlite3`, and closes in
         * `close()`. `':memory:'` gives a private in-memory database.
         */
        path: string;
        database?: never;
      }
  );

/** The defaults of {@link SQLiteStoreCommonOptions}. */
export const DEFAULTS = {
  tablePrefix: 'tessera_',
  sweepIntervalMs: 60_000,
  busyTimeoutMs: 5_000,
} as const;
