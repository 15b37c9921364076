/**
 * The options of the PostgreSQL store and of {@link migratePostgres}, and their defaults.
 */
import type { Pool } from 'pg';

/** Options for {@link postgresStore}. */
export interface PostgresStoreOptions {
  /** The app's `pg` pool. The store never ends it. */
  pool: Pool;
  /**
   * The schema that holds tessera's tables (created by the migrations). Lower-case letters,
   * digits and `_`, starting with a letter or `_`.
   * @default 'tessera'
   */
  schema?: string;
  /**
   * Run pending migrations at first use. Turn it off when migrations run apart from the app
   * ({@link migratePostgres}, with a role that may create tables); the store then checks the
   * schema version at first use and refuses to run against a missing or older schema.
   * @default true
   */
  migrate?: boolean;
  /**
   * Bound on each store call, in ms; past it the call rejects with `ERR_STORE_UNAVAILABLE`
   * (the statement itself is bounded by the pool's own `statement_timeout`, which
   * {@link connectPostgres} sets). `0` leaves timing to the pool.
   * @default 5000
   */
  statementTimeoutMs?: number;
  /**
   * Calls in flight at most, counted until the pool settles them (not only until they time
   * out): past it a call fails at once with `ERR_STORE_UNAVAILABLE` and queues nothing, so a
   * hung server cannot grow the pool's queue of waiting queries without bound. `Infinity` turns
   * the bound off.
   * @default 1000
   */
  maxPendingCalls?: number;
  /**
   * Unused: it was the clock of `listPush`, which `KeyValueStore` no longer has. Kept so that
   * options written for the earlier version still type-check; it will go in the next major.
   * @deprecated nothing reads it
   */
  now?: () => number;
}

/** Options for {@link migratePostgres}. */
export interface MigratePostgresOptions {
  /**
   * The schema to create or upgrade.
   * @default 'tessera'
   */
  schema?: string;
}

/** What {@link migratePostgres} did. */
export interface MigratePostgresResult {
  /** The schema version found (0 for a fresh schema). */
  from: number;
  /** The schema version now. */
  to: number;
}

/** The defaults of {@link PostgresStoreOptions}. */
export const DEFAULTS = {
  schema: 'tessera',
  migrate: true,
  statementTimeoutMs: 5000,
  maxPendingCalls: 1000,
} as const;
