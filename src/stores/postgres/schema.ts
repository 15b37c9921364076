/**
 * The PostgreSQL store's schema: versioned migrations, run under an advisory lock by
 * {@link migratePostgres} (or by the store itself with `migrate: true`).
 */
import type { Pool, PoolClient } from 'pg';
import { storeUnavailable, TesseraError } from '../../core/errors.js';
import { DEFAULTS, type MigratePostgresOptions, type MigratePostgresResult } from './options.js';

/** First key of the two-key advisory lock that serialises migrations ("tess"). */
const LOCK_NAMESPACE = 0x74657373;

/**
 * The schema, one entry per version; `s` is the quoted schema name. Never edit a shipped
 * entry: append a new one. Times are epoch milliseconds in `bigint`. One `sessions` table
 * holds live rows and tombstones, so an id is unique across both; `expires_at` is the earlier
 * of the idle and absolute deadlines of a live row, the tombstone's `expiresAt` otherwise.
 * Values and counters share the `kv` table, so one key names one thing. Its `items` column and
 * its `'list'` type held `KeyValueStore` lists, which are gone: nothing writes or reads them, and
 * they stay so that no migration is needed (a list left by an earlier version is replaced by the
 * first `kvSet` or `increment` of its key, or swept when it expires). Ids, handles,
 * user ids and keys compare bytewise (`COLLATE "C"`): exact, and cheaper than a locale.
 */
export const MIGRATIONS: ReadonlyArray<(s: string) => string> = [
  (s) => `
    CREATE TABLE ${s}.sessions (
      id text COLLATE "C" PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('live', 'rotated')),
      handle text COLLATE "C" NOT NULL,
      user_id text COLLATE "C",
      created_at bigint,
      last_seen_at bigint,
      authenticated_at bigint,
      idle_expires_at bigint,
      absolute_expires_at bigint,
      created_ip text,
      created_user_agent text,
      last_ip text,
      last_user_agent text,
      version integer,
      data text,
      rotated_at bigint,
      grace_until bigint,
      reason text,
      expires_at bigint NOT NULL
    );
    CREATE UNIQUE INDEX sessions_live_handle ON ${s}.sessions (handle) WHERE kind = 'live';
    CREATE INDEX sessions_handle ON ${s}.sessions (handle);
    CREATE INDEX sessions_user ON ${s}.sessions (user_id, id) WHERE user_id IS NOT NULL;
    CREATE INDEX sessions_expires ON ${s}.sessions (expires_at);
    CREATE TABLE ${s}.kv (
      key text COLLATE "C" PRIMARY KEY,
      type text NOT NULL CHECK (type IN ('value', 'counter', 'list')),
      value text,
      count bigint,
      items text[],
      expires_at bigint
    );
    CREATE INDEX kv_expires ON ${s}.kv (expires_at) WHERE expires_at IS NOT NULL;
  `,
  // Revocation epochs: "sessions of this user authenticated at or before epoch are dead".
  (s) => `
    CREATE TABLE ${s}.user_epochs (
      user_id text COLLATE "C" PRIMARY KEY,
      epoch bigint NOT NULL,
      expires_at bigint NOT NULL
    );
    CREATE INDEX user_epochs_expires ON ${s}.user_epochs (expires_at);
  `,
];

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema name, or `ERR_CONFIG` naming the caller. */
export function checkSchema(schema: unknown, where: string): string {
  if (typeof schema !== 'string' || !SCHEMA_RE.test(schema)) {
    throw new TesseraError(
      'ERR_CONFIG',
      `${where}: schema must be lower-case letters, digits and _ (starting with a letter or _), at most 63 characters`,
    );
  }
  return schema;
}

/**
 * Create or upgrade tessera's schema. Safe to run from several processes at once (they queue
 * on an advisory transaction lock) and to run again (it applies only what is missing). Run it
 * with a role that may create a schema and tables; the app's role then needs only `USAGE` on
 * the schema and `SELECT, INSERT, UPDATE, DELETE` on its tables.
 *
 * @param pool - a `pg` pool (or anything with `connect()` giving a client)
 * @param options - the schema; see {@link MigratePostgresOptions}
 * @returns the versions before and after
 * @throws TesseraError `ERR_CONFIG` for a bad schema name; `ERR_STORE_CORRUPT` when the schema is
 *   newer than this code; `ERR_STORE_UNAVAILABLE` when the database fails
 * @example
 * ```ts
 * import pg from 'pg';
 * import { migratePostgres } from 'tessera-session/postgres';
 * await migratePostgres(new pg.Pool({ connectionString: process.env.MIGRATE_URL }));
 * ```
 */
export async function migratePostgres(
  pool: Pool,
  options: MigratePostgresOptions = {},
): Promise<MigratePostgresResult> {
  const schema = checkSchema(options.schema ?? DEFAULTS.schema, 'migratePostgres');
  const s = quote(schema);
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw storeUnavailable('postgres', e);
  }
  let failed: unknown;
  try {
    await client.query('BEGIN');
    // Every migrator of this schema queues here; the lock ends with the transaction.
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const found = await client.query<{ v: number }>(
      `SELECT coalesce(max(version), 0)::int AS v FROM ${s}.migrations`,
    );
    const from = found.rows[0]?.v ?? 0;
    if (from > MIGRATIONS.length) throw newerSchema(schema, from);
    for (let v = from; v < MIGRATIONS.length; v++) {
      await client.query(MIGRATIONS[v]!(s));
      await client.query(`INSERT INTO ${s}.migrations (version) VALUES ($1)`, [v + 1]);
    }
    await client.query('COMMIT');
    return { from, to: MIGRATIONS.length };
  } catch (e) {
    failed = e;
    await client.query('ROLLBACK').catch(() => {});
    throw storeUnavailable('postgres', e);
  } finally {
    // A client whose transaction failed half-way is not returned to the pool for reuse.
    client.release(failed instanceof Error ? failed : undefined);
  }
}

/** `ERR_STORE_CORRUPT`: the schema is newer than this code. */
export function newerSchema(schema: string, version: number): TesseraError {
  return new TesseraError(
    'ERR_STORE_CORRUPT',
    `postgresStore: schema "${schema}" is at version ${version}, newer than this tessera (${MIGRATIONS.length}); upgrade tessera`,
  );
}

/** A quoted SQL identifier. */
export function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * Refuse a schema at another version than this code's when the store may not migrate it.
 * @throws TesseraError `ERR_STORE_CORRUPT` when newer; `ERR_CONFIG` when older (run the migrations)
 */
export function checkSchemaVersion(schema: string, v: number): void {
  if (v > MIGRATIONS.length) throw newerSchema(schema, v);
  if (v < MIGRATIONS.length) {
    throw new TesseraError(
      'ERR_CONFIG',
      `postgresStore: schema "${schema}" is at version ${v}, this tessera needs ${MIGRATIONS.length}: run migratePostgres (or pass migrate: true)`,
    );
  }
}
