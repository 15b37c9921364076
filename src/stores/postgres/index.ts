/**
 * The PostgreSQL store (`tessera-session/postgres`): sessions in a schema tessera owns, through
 * an injected `pg` pool. Every method is one parameterised, named prepared statement (so one
 * round trip), versioned migrations run under an advisory lock, and `sweep` deletes in small
 * batches that skip locked rows. See docs/stores.md for costs and atomicity.
 */
import type { KeyValueStore, SessionStore } from '../../core/types.js';
import type { PostgresStoreOptions } from './options.js';
import { PostgresStore } from './store.js';

export { type ConnectPostgresOptions, connectPostgres } from './connect.js';
export type {
  MigratePostgresOptions,
  MigratePostgresResult,
  PostgresStoreOptions,
} from './options.js';
export { migratePostgres, POSTGRES_SCHEMA_VERSION } from './schema.js';

/**
 * Create a store on PostgreSQL.
 *
 * Each method is one statement (one round trip on a warm connection): a read is one `SELECT`
 * by primary key, a save one `UPDATE … WHERE version = $n`, a rotation one statement whose
 * `WITH` turns the old row into a tombstone (or deletes it) and inserts the new one, so it
 * applies whole or not at all. The pool's idle-client errors are caught (a listener on the
 * pool's `error` event, removed by `close`) so a dropped connection never crashes the process.
 *
 * @param options - the pool, schema and settings; see {@link PostgresStoreOptions}
 * @returns a {@link SessionStore} named `postgres`
 * @throws TesseraError `ERR_CONFIG` for a missing pool or a bad option
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresStore } from 'tessera-session/postgres';
 * const store = postgresStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): SessionStore & KeyValueStore {
  return new PostgresStore(options);
}
