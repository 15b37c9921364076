/**
 * The PostgreSQL store (`tessera-session/postgres`): sessions in a schema tessera owns, through
 * an injected `pg` pool. Every method is one parameterised, named prepared statement (so one
 * round trip), versioned migrations run under an advisory lock, and `sweep` deletes in small
 * batches that skip locked rows. See docs/stores.md for costs and atomicity.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient, PoolConfig, QueryResult, QueryResultRow } from 'pg';
import { checkNonNegative, storeUnavailable, TesseraError } from '../../core/errors.js';
import { checkStoreString } from '../../core/ids.js';
import { checkMaxPending, PendingCalls } from '../../core/pending-calls.js';
import { sessionLimitReached, signInRevoked } from '../../core/revocation.js';
import type {
  CounterResult,
  DeleteByUserOptions,
  ListOptions,
  ListResult,
  RecordChanges,
  SessionRecord,
  SessionStore,
  SignInOptions,
  SignInResult,
  StoreEntry,
  TombstoneRecord,
  TouchChanges,
} from '../../core/types.js';

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
   * The clock `listPush` uses to tell an expired list from a live one (it takes no `now`).
   * @default Date.now
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

const DEFAULTS = {
  schema: 'tessera',
  migrate: true,
  statementTimeoutMs: 5000,
  maxPendingCalls: 1000,
} as const;

/** Rows deleted per `sweep` statement: short row locks, never a table lock. */
const SWEEP_BATCH = 500;

/** First key of the two-key advisory lock that serialises migrations ("tess"). */
const LOCK_NAMESPACE = 0x74657373;

/** First key of the two-key advisory lock that serialises one user's sign-ins and revocations ("tssu"). */
const USER_LOCK_NAMESPACE = 0x74737375;

/**
 * The schema, one entry per version; `s` is the quoted schema name. Never edit a shipped
 * entry: append a new one. Times are epoch milliseconds in `bigint`. One `sessions` table
 * holds live rows and tombstones, so an id is unique across both; `expires_at` is the earlier
 * of the idle and absolute deadlines of a live row, the tombstone's `expiresAt` otherwise.
 * Values, counters and lists share the `kv` table, so one key names one thing. Ids, handles,
 * user ids and keys compare bytewise (`COLLATE "C"`): exact, and cheaper than a locale.
 */
const MIGRATIONS: ReadonlyArray<(s: string) => string> = [
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

function checkSchema(schema: unknown, where: string): string {
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

function newerSchema(schema: string, version: number): TesseraError {
  return new TesseraError(
    'ERR_STORE_CORRUPT',
    `postgresStore: schema "${schema}" is at version ${version}, newer than this tessera (${MIGRATIONS.length}); upgrade tessera`,
  );
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

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
export function postgresStore(options: PostgresStoreOptions): SessionStore {
  return new PostgresStore(options);
}

function conflict(what: string): TesseraError {
  return new TesseraError('ERR_CONFLICT', `postgresStore: a session with this ${what} exists`);
}

const LIVE_COLUMNS =
  'id, kind, handle, user_id, created_at, last_seen_at, authenticated_at, idle_expires_at, absolute_expires_at, created_ip, created_user_agent, last_ip, last_user_agent, version, data, expires_at';

/** A row of `sessions` as `pg` returns it (`bigint` arrives as a string). */
interface SessionRow {
  id: string;
  kind: string;
  handle: string;
  user_id: string | null;
  created_at: string | null;
  last_seen_at: string | null;
  authenticated_at: string | null;
  idle_expires_at: string | null;
  absolute_expires_at: string | null;
  created_ip: string | null;
  created_user_agent: string | null;
  last_ip: string | null;
  last_user_agent: string | null;
  version: number | null;
  data: string | null;
  rotated_at: string | null;
  grace_until: string | null;
  reason: string | null;
  expires_at: string;
}

const num = (v: string | null): number => Number(v);
const numOrNull = (v: string | null): number | null => (v === null ? null : Number(v));

function toLive(r: SessionRow): SessionRecord {
  return {
    kind: 'live',
    id: r.id,
    handle: r.handle,
    userId: r.user_id,
    createdAt: num(r.created_at),
    lastSeenAt: num(r.last_seen_at),
    authenticatedAt: numOrNull(r.authenticated_at),
    idleExpiresAt: num(r.idle_expires_at),
    absoluteExpiresAt: num(r.absolute_expires_at),
    createdIp: r.created_ip,
    createdUserAgent: r.created_user_agent,
    lastIp: r.last_ip,
    lastUserAgent: r.last_user_agent,
    version: r.version ?? 0,
    data: r.data ?? '',
  };
}

function toEntry(r: SessionRow): StoreEntry {
  if (r.kind === 'live') return toLive(r);
  if (r.kind === 'rotated' && (r.reason === 'login' || r.reason === 'regenerate')) {
    return {
      kind: 'rotated',
      id: r.id,
      handle: r.handle,
      userId: r.user_id,
      rotatedAt: num(r.rotated_at),
      graceUntil: num(r.grace_until),
      expiresAt: num(r.expires_at),
      reason: r.reason,
    };
  }
  throw new TesseraError('ERR_STORE_CORRUPT', 'postgresStore: a session row could not be read');
}

function liveValues(r: SessionRecord): unknown[] {
  return [
    r.id,
    r.handle,
    r.userId,
    r.createdAt,
    r.lastSeenAt,
    r.authenticatedAt,
    r.idleExpiresAt,
    r.absoluteExpiresAt,
    r.createdIp,
    r.createdUserAgent,
    r.lastIp,
    r.lastUserAgent,
    r.version,
    r.data,
  ];
}

/** `INSERT` column list and `VALUES` for a live row whose parameters start at `$from`. */
function liveInsert(s: string, from: number): { head: string; values: string } {
  const p = (i: number): string => `$${from + i}`;
  return {
    head: `INSERT INTO ${s}.sessions (${LIVE_COLUMNS})`,
    values: `${p(0)}, 'live', ${p(1)}, ${p(2)}, ${p(3)}::bigint, ${p(4)}::bigint, ${p(5)}::bigint, ${p(6)}::bigint, ${p(7)}::bigint, ${p(8)}, ${p(9)}, ${p(10)}, ${p(11)}, ${p(12)}::int, ${p(13)}, LEAST(${p(6)}::bigint, ${p(7)}::bigint)`,
  };
}

/** The statements, built once per schema. */
function statements(s: string) {
  const create = liveInsert(s, 1);
  const nextAfterTomb = liveInsert(s, 9);
  const nextAlone = liveInsert(s, 3);
  const tombSet = `kind = 'rotated', handle = $3::text, user_id = $4::text, rotated_at = $5::bigint,
      grace_until = $6::bigint, reason = $7::text, expires_at = $8::bigint,
      created_at = NULL, last_seen_at = NULL, authenticated_at = NULL, idle_expires_at = NULL, absolute_expires_at = NULL,
      created_ip = NULL, created_user_agent = NULL, last_ip = NULL, last_user_agent = NULL, version = NULL, data = NULL`;
  // The user's rows and the rest of the families of the user's live sessions, but the family of
  // $2 (revokeOthers): the tail of deleteByUser and revokeUser, counting the live sessions it ended.
  const deleteUserFamilies = `
        DELETE FROM ${s}.sessions
        WHERE (user_id = $1 OR handle IN (
          SELECT handle FROM ${s}.sessions WHERE user_id = $1 AND kind = 'live'))
        AND handle IS DISTINCT FROM $2::text
        RETURNING kind, user_id)
      SELECT count(*) FILTER (WHERE kind = 'live' AND user_id = $1)::int AS n FROM d`;
  return {
    get: `SELECT * FROM ${s}.sessions WHERE id = $1`,
    getByHandle: `SELECT * FROM ${s}.sessions WHERE handle = $1 AND kind = 'live'`,
    create: `${create.head} VALUES (${create.values})`,
    update: `UPDATE ${s}.sessions SET
      data = CASE WHEN $3::boolean THEN $4::text ELSE data END,
      version = CASE WHEN $3::boolean THEN version + 1 ELSE version END,
      user_id = CASE WHEN $5::boolean THEN $6::text ELSE user_id END,
      authenticated_at = CASE WHEN $7::boolean THEN $8::bigint ELSE authenticated_at END,
      last_seen_at = CASE WHEN $9::boolean THEN $10::bigint ELSE last_seen_at END,
      idle_expires_at = CASE WHEN $11::boolean THEN $12::bigint ELSE idle_expires_at END,
      absolute_expires_at = CASE WHEN $13::boolean THEN $14::bigint ELSE absolute_expires_at END,
      last_ip = CASE WHEN $15::boolean THEN $16::text ELSE last_ip END,
      last_user_agent = CASE WHEN $17::boolean THEN $18::text ELSE last_user_agent END,
      expires_at = LEAST(
        CASE WHEN $11::boolean THEN $12::bigint ELSE idle_expires_at END,
        CASE WHEN $13::boolean THEN $14::bigint ELSE absolute_expires_at END)
      WHERE id = $1 AND kind = 'live' AND version = $2::int`,
    touch: `UPDATE ${s}.sessions SET
      last_seen_at = $2::bigint,
      idle_expires_at = $3::bigint,
      expires_at = LEAST($3::bigint, absolute_expires_at),
      last_ip = CASE WHEN $4::boolean THEN $5::text ELSE last_ip END,
      last_user_agent = CASE WHEN $6::boolean THEN $7::text ELSE last_user_agent END
      WHERE id = $1 AND kind = 'live'`,
    // One statement: the CTE claims the old row (version check) and the INSERT runs only for
    // the row it returned. A duplicate next id or handle aborts the whole statement.
    rotateTomb: `WITH old AS (
        UPDATE ${s}.sessions SET ${tombSet}
        WHERE id = $1 AND kind = 'live' AND version = $2::int RETURNING 1)
      ${nextAfterTomb.head} SELECT ${nextAfterTomb.values} FROM old`,
    rotateDrop: `WITH old AS (
        DELETE FROM ${s}.sessions WHERE id = $1 AND kind = 'live' AND version = $2::int RETURNING 1)
      ${nextAlone.head} SELECT ${nextAlone.values} FROM old`,
    delete: `DELETE FROM ${s}.sessions WHERE id = $1`,
    deleteByHandle: `DELETE FROM ${s}.sessions WHERE handle = $1`,
    listByUser: `SELECT * FROM ${s}.sessions
      WHERE user_id = $1 AND kind = 'live' AND idle_expires_at > $2::bigint AND absolute_expires_at > $2::bigint
      ORDER BY created_at, id`,
    // The user's rows, and the rest of the families of the user's live sessions.
    deleteByUser: `WITH d AS (
${deleteUserFamilies}`,
    listAll: `SELECT * FROM ${s}.sessions
      WHERE kind = 'live' AND expires_at > $1::bigint AND id > $2::text
      ORDER BY id LIMIT $3::int`,
    listUser: `SELECT * FROM ${s}.sessions
      WHERE user_id = $4::text AND kind = 'live' AND expires_at > $1::bigint AND id > $2::text
      ORDER BY id LIMIT $3::int`,
    countAll: `SELECT count(*)::int AS n FROM ${s}.sessions WHERE kind = 'live' AND expires_at > $1::bigint`,
    countUser: `SELECT count(*)::int AS n FROM ${s}.sessions
      WHERE user_id = $2 AND kind = 'live' AND expires_at > $1::bigint`,
    sweep: `DELETE FROM ${s}.sessions WHERE ctid IN (
        SELECT ctid FROM ${s}.sessions WHERE expires_at <= $1::bigint
        LIMIT $2::int FOR UPDATE SKIP LOCKED)`,
    sweepKv: `DELETE FROM ${s}.kv WHERE ctid IN (
        SELECT ctid FROM ${s}.kv WHERE expires_at <= $1::bigint
        LIMIT $2::int FOR UPDATE SKIP LOCKED)`,
    kvGet: `SELECT value FROM ${s}.kv
      WHERE key = $1 AND type = 'value' AND (expires_at IS NULL OR expires_at > $2::bigint)`,
    kvSet: `INSERT INTO ${s}.kv (key, type, value, expires_at) VALUES ($1, 'value', $2, $3::bigint)
      ON CONFLICT (key) DO UPDATE SET type = 'value', value = $2, count = NULL, items = NULL, expires_at = $3::bigint`,
    kvDelete: `DELETE FROM ${s}.kv WHERE key = $1`,
    // Fixed window: a live counter keeps its window; an absent, expired or other entry restarts.
    increment: `INSERT INTO ${s}.kv AS k (key, type, count, expires_at) VALUES ($1, 'counter', 1, $3::bigint)
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN k.type = 'counter' AND k.expires_at > $2::bigint THEN k.count + 1 ELSE 1 END,
        expires_at = CASE WHEN k.type = 'counter' AND k.expires_at > $2::bigint THEN k.expires_at ELSE $3::bigint END,
        type = 'counter', value = NULL, items = NULL
      RETURNING count::float8 AS count, expires_at::float8 AS expires_at`,
    listPush: `INSERT INTO ${s}.kv AS k (key, type, items, expires_at)
      VALUES ($1, 'list', ARRAY[$2::text], $4::bigint)
      ON CONFLICT (key) DO UPDATE SET
        items = (ARRAY[$2::text] || CASE
          WHEN k.type = 'list' AND (k.expires_at IS NULL OR k.expires_at > $5::bigint) THEN k.items
          ELSE ARRAY[]::text[] END)[1:$3::int],
        type = 'list', value = NULL, count = NULL, expires_at = $4::bigint`,
    listRange: `SELECT items[1:$2::int] AS items FROM ${s}.kv
      WHERE key = $1 AND type = 'list' AND (expires_at IS NULL OR expires_at > $3::bigint)`,
    version: `SELECT coalesce(max(version), 0)::int AS v FROM ${s}.migrations`,
    // A sign-in's checks, run under the user's advisory lock: the epoch, and the user's live
    // sessions other than the family being written, oldest first.
    signInGate: `SELECT (SELECT epoch::float8 FROM ${s}.user_epochs WHERE user_id = $1) AS epoch,
      ARRAY(SELECT handle FROM ${s}.sessions
        WHERE user_id = $1 AND kind = 'live' AND idle_expires_at > $2::bigint
          AND absolute_expires_at > $2::bigint AND handle IS DISTINCT FROM $3::text
        ORDER BY created_at, id) AS live`,
    deleteFamilies: `DELETE FROM ${s}.sessions WHERE handle = ANY($1::text[])`,
    // deleteByUser that also raises the epoch (a data-modifying WITH always runs); run under the
    // user's advisory lock, so its snapshot (taken after the lock) sees every sign-in committed before it.
    revokeUser: `WITH e AS (
        INSERT INTO ${s}.user_epochs AS u (user_id, epoch, expires_at) VALUES ($1, $3::bigint, $4::bigint)
        ON CONFLICT (user_id) DO UPDATE SET
          epoch = GREATEST(u.epoch, excluded.epoch), expires_at = GREATEST(u.expires_at, excluded.expires_at)
        RETURNING 1),
      d AS (
${deleteUserFamilies}`,
    epochGet: `SELECT epoch::float8 AS epoch FROM ${s}.user_epochs WHERE user_id = $1 AND expires_at > $2::bigint`,
    sweepEpochs: `DELETE FROM ${s}.user_epochs WHERE ctid IN (
        SELECT ctid FROM ${s}.user_epochs WHERE expires_at <= $1::bigint
        LIMIT $2::int FOR UPDATE SKIP LOCKED)`,
  } as const;
}

type StatementName = keyof ReturnType<typeof statements>;

function isUniqueViolation(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '23505';
}

/** PostgreSQL refused a string it cannot hold (NUL in `text`, a character outside UTF-8). */
function isUnrepresentable(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return code === '22021' || code === '22P05';
}

/** Refuse a string `text` cannot keep exactly (an unpaired surrogate, NUL), before any write. */
function checkText(field: string, value: string | null | undefined): void {
  checkStoreString('postgres', field, value, true);
}

function checkRecordText(r: SessionRecord): void {
  checkText('id', r.id);
  checkText('handle', r.handle);
  checkText('userId', r.userId);
}

function isMissingRelation(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return code === '42P01' || code === '3F000';
}

class PostgresStore implements SessionStore {
  readonly name = 'postgres';
  readonly #pool: Pool;
  readonly #schema: string;
  readonly #migrate: boolean;
  readonly #calls: PendingCalls;
  readonly #now: () => number;
  readonly #sql: Record<StatementName, string>;
  /** Prepared-statement names: unique per schema, short enough for PostgreSQL's 63 bytes. */
  readonly #names: Record<StatementName, string>;
  #ready: Promise<void> | null = null;
  readonly #onPoolError = (): void => {
    // An idle client lost its connection (a restart, pg_terminate_backend): the pool drops it
    // and the next call opens a fresh one. Without a listener Node would crash the process.
  };
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    const pool = (options as { pool?: unknown } | null)?.pool;
    if (
      options === null ||
      typeof options !== 'object' ||
      pool === null ||
      typeof pool !== 'object'
    ) {
      const given =
        typeof (options as { query?: unknown } | null)?.query === 'function'
          ? ' (you passed the pool itself: postgresStore({ pool }))'
          : typeof pool === 'string'
            ? ' (pool is a string: make a pool from a URL with await connectPostgres(url))'
            : '';
      throw new TesseraError(
        'ERR_CONFIG',
        `postgresStore: pass { pool }, a pg Pool (see connectPostgres)${given}`,
      );
    }
    this.#schema = checkSchema(options.schema ?? DEFAULTS.schema, 'postgresStore');
    const timeout = options.statementTimeoutMs ?? DEFAULTS.statementTimeoutMs;
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw new TesseraError(
        'ERR_CONFIG',
        'postgresStore: statementTimeoutMs must be a number >= 0',
      );
    }
    this.#calls = new PendingCalls('postgres', {
      timeoutMs: timeout,
      max: checkMaxPending(options.maxPendingCalls ?? DEFAULTS.maxPendingCalls, 'postgresStore'),
    });
    this.#migrate = options.migrate ?? DEFAULTS.migrate;
    this.#now = options.now ?? Date.now;
    this.#pool = options.pool;
    this.#sql = statements(quote(this.#schema));
    const tag = createHash('sha256').update(this.#schema).digest('hex').slice(0, 10);
    this.#names = Object.fromEntries(
      Object.keys(this.#sql).map((k) => [k, `tessera_${tag}_${k}`]),
    ) as Record<StatementName, string>;
    this.#pool.on('error', this.#onPoolError);
  }

  // ---- plumbing --------------------------------------------------------------------------

  /** Migrate (or check the schema) once; a failure is retried by the next call. */
  #ensureReady(): Promise<void> {
    if (this.#ready === null) {
      this.#ready = (async () => {
        if (this.#migrate) {
          await migratePostgres(this.#pool, { schema: this.#schema });
          return;
        }
        let v: number;
        try {
          v = (await this.#query<{ v: number }>('version', [])).rows[0]?.v ?? 0;
        } catch (e) {
          if (!isMissingRelation(e)) throw e;
          v = 0;
        }
        if (v > MIGRATIONS.length) throw newerSchema(this.#schema, v);
        if (v < MIGRATIONS.length) {
          throw new TesseraError(
            'ERR_CONFIG',
            `postgresStore: schema "${this.#schema}" is at version ${v}, this tessera needs ${MIGRATIONS.length}: run migratePostgres (or pass migrate: true)`,
          );
        }
      })();
      this.#ready.catch(() => {
        this.#ready = null;
      });
    }
    return this.#ready;
  }

  /**
   * Run a whole store call: ready check, timeout, in-flight bound, and failures as
   * `ERR_STORE_UNAVAILABLE`.
   */
  #guard<T>(fn: () => Promise<T>): Promise<T> {
    return this.#calls.run(async () => {
      await this.#ensureReady();
      try {
        return await fn();
      } catch (e) {
        // A value the caller passed that `text` cannot hold is their mistake, not an outage.
        if (!isUnrepresentable(e)) throw e;
        throw new TesseraError(
          'ERR_INVALID_ID',
          'postgresStore: a value holds a character PostgreSQL text cannot store (NUL)',
          { cause: e },
        );
      }
    });
  }

  #query<R extends QueryResultRow = SessionRow>(
    name: StatementName,
    values: unknown[],
    client: Pool | PoolClient = this.#pool,
  ): Promise<QueryResult<R>> {
    return client.query<R>({ name: this.#names[name], text: this.#sql[name], values });
  }

  /**
   * Run `fn` in a transaction that first takes the user's advisory lock, so that one user's
   * sign-ins and revocations (from every connection and process) run one at a time, each
   * statement after the lock seeing what the previous holder committed (READ COMMITTED takes a
   * snapshot per statement). `BEGIN` and the lock go in one round trip.
   */
  async #userTransaction<T>(userId: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const key = createHash('sha256').update(`${this.#schema}\0${userId}`).digest().readInt32BE(0);
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      // Both numbers are integers made here, never caller text: safe to inline.
      await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${USER_LOCK_NAMESPACE}, ${key})`);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch (rollback) {
        // A connection that cannot roll back is not returned to the pool for reuse.
        broken = rollback instanceof Error ? rollback : new Error(String(rollback));
      }
      throw e;
    } finally {
      client.release(broken);
    }
  }

  /**
   * A sign-in's checks (see `SignInOptions`), under the user's lock: throws, or returns the
   * handles to evict. Changes nothing.
   */
  async #gate(client: PoolClient, record: SessionRecord, o: SignInOptions): Promise<string[]> {
    const row = (
      await this.#query<{ epoch: number | null; live: string[] }>(
        'signInGate',
        [record.userId, o.now, record.handle],
        client,
      )
    ).rows[0];
    const epoch = row?.epoch ?? null;
    if (epoch !== null && (record.authenticatedAt === null || record.authenticatedAt <= epoch))
      throw signInRevoked();
    const live = row?.live ?? [];
    if (o.limit <= 0 || live.length < o.limit) return [];
    if (o.policy === 'reject') throw sessionLimitReached(o.limit);
    return live.slice(0, live.length - o.limit + 1);
  }

  /** Map a unique violation to `ERR_CONFLICT` naming what collided. */
  #conflict(e: unknown): never {
    if (!isUniqueViolation(e)) throw e;
    const constraint = (e as { constraint?: string }).constraint ?? '';
    throw conflict(constraint.includes('handle') ? 'handle' : 'id');
  }

  // ---- sessions --------------------------------------------------------------------------

  get(id: string): Promise<StoreEntry | null> {
    return this.#guard(async () => {
      const row = (await this.#query('get', [id])).rows[0];
      return row === undefined ? null : toEntry(row);
    });
  }

  getByHandle(handle: string): Promise<SessionRecord | null> {
    return this.#guard(async () => {
      const row = (await this.#query('getByHandle', [handle])).rows[0];
      return row === undefined ? null : toLive(row);
    });
  }

  create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    return this.#guard(async () => {
      checkRecordText(record);
      const userId = record.userId;
      try {
        if (signIn === undefined || userId === null) {
          await this.#query('create', liveValues(record));
          return { evicted: [] };
        }
        return await this.#userTransaction(userId, async (client) => {
          const evicted = await this.#gate(client, record, signIn);
          await this.#query('create', liveValues(record), client);
          if (evicted.length > 0) await this.#query('deleteFamilies', [evicted], client);
          return { evicted };
        });
      } catch (e) {
        return this.#conflict(e);
      }
    });
  }

  update(id: string, expectedVersion: number, c: RecordChanges): Promise<boolean> {
    return this.#guard(async () => {
      checkText('userId', c.userId);
      const set = (v: unknown): [boolean, unknown] => [v !== undefined, v ?? null];
      const r = await this.#query('update', [
        id,
        expectedVersion,
        ...set(c.data),
        ...set(c.userId),
        ...set(c.authenticatedAt),
        ...set(c.lastSeenAt),
        ...set(c.idleExpiresAt),
        ...set(c.absoluteExpiresAt),
        ...set(c.lastIp),
        ...set(c.lastUserAgent),
      ]);
      return r.rowCount === 1;
    });
  }

  touch(id: string, c: TouchChanges): Promise<boolean> {
    return this.#guard(async () => {
      const r = await this.#query('touch', [
        id,
        c.lastSeenAt,
        c.idleExpiresAt,
        c.lastIp !== undefined,
        c.lastIp ?? null,
        c.lastUserAgent !== undefined,
        c.lastUserAgent ?? null,
      ]);
      return r.rowCount === 1;
    });
  }

  rotate(
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
    signIn?: SignInOptions,
  ): Promise<SignInResult | false> {
    return this.#guard(async () => {
      checkRecordText(next);
      checkText('userId', tombstone?.userId);
      const write = async (client: Pool | PoolClient): Promise<boolean> => {
        const r =
          tombstone === null
            ? await this.#query('rotateDrop', [oldId, expectedVersion, ...liveValues(next)], client)
            : await this.#query(
                'rotateTomb',
                [
                  oldId,
                  expectedVersion,
                  tombstone.handle,
                  tombstone.userId,
                  tombstone.rotatedAt,
                  tombstone.graceUntil,
                  tombstone.reason,
                  tombstone.expiresAt,
                  ...liveValues(next),
                ],
                client,
              );
        return r.rowCount === 1;
      };
      const userId = next.userId;
      try {
        if (userId === null) return (await write(this.#pool)) ? { evicted: [] } : false;
        // Every rotation of a signed-in family takes the user's lock, not only a sign-in: a
        // revocation's DELETE waiting on the old row would re-check only that row, and the row
        // inserted here (not in its snapshot) would survive it.
        return await this.#userTransaction(userId, async (client) => {
          const evicted = signIn === undefined ? [] : await this.#gate(client, next, signIn);
          if (!(await write(client))) return false;
          if (evicted.length > 0) await this.#query('deleteFamilies', [evicted], client);
          return { evicted };
        });
      } catch (e) {
        return this.#conflict(e);
      }
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#guard(async () => (await this.#query('delete', [id])).rowCount === 1);
  }

  deleteByHandle(handle: string): Promise<number> {
    return this.#guard(async () => (await this.#query('deleteByHandle', [handle])).rowCount ?? 0);
  }

  listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    return this.#guard(async () => {
      checkText('userId', userId);
      return (await this.#query('listByUser', [userId, now])).rows.map(toLive);
    });
  }

  deleteByUser(userId: string, options: DeleteByUserOptions = {}): Promise<number> {
    return this.#guard(async () => {
      checkText('userId', userId);
      const except = options.exceptHandle ?? null;
      const epoch = options.epoch;
      // Under the user's lock with or without an epoch, so that a rotation of one of the user's
      // sessions (which takes it too) lands wholly before the deletion or not at all.
      return this.#userTransaction(userId, async (client) => {
        const r =
          epoch === undefined
            ? await this.#query<{ n: number }>('deleteByUser', [userId, except], client)
            : await this.#query<{ n: number }>(
                'revokeUser',
                [userId, except, epoch.at, epoch.expiresAt],
                client,
              );
        return r.rows[0]?.n ?? 0;
      });
    });
  }

  getRevocationEpoch(userId: string, now: number): Promise<number | null> {
    return this.#guard(async () => {
      checkText('userId', userId);
      const row = (await this.#query<{ epoch: number }>('epochGet', [userId, now])).rows[0];
      return row === undefined ? null : row.epoch;
    });
  }

  list(options: ListOptions): Promise<ListResult> {
    return this.#guard(async () => {
      checkText('userId', options.userId);
      const limit = Math.min(1000, Math.max(1, Math.floor(options.limit)));
      const after = options.cursor ?? '';
      const r =
        options.userId === undefined
          ? await this.#query('listAll', [options.now, after, limit + 1])
          : await this.#query('listUser', [options.now, after, limit + 1, options.userId]);
      const records = r.rows.slice(0, limit).map(toLive);
      const last = records[records.length - 1];
      return { records, nextCursor: r.rows.length > limit && last ? last.id : null };
    });
  }

  count(now: number, userId?: string): Promise<number> {
    return this.#guard(async () => {
      checkText('userId', userId);
      const r =
        userId === undefined
          ? await this.#query<{ n: number }>('countAll', [now])
          : await this.#query<{ n: number }>('countUser', [now, userId]);
      return r.rows[0]?.n ?? 0;
    });
  }

  sweep(now: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    return this.#guard(async () => {
      let n = 0;
      while (n < limit) {
        const batch = Math.min(SWEEP_BATCH, limit - n);
        const deleted = (await this.#query('sweep', [now, batch])).rowCount ?? 0;
        n += deleted;
        if (deleted < batch) break;
      }
      // Expired keys and epochs are not sessions: removed too, without counting against `limit`.
      for (const name of ['sweepKv', 'sweepEpochs'] as const) {
        for (;;) {
          const deleted = (await this.#query(name, [now, SWEEP_BATCH])).rowCount ?? 0;
          if (deleted < SWEEP_BATCH) break;
        }
      }
      return n;
    });
  }

  // ---- shared key-value space --------------------------------------------------------------

  kvGet(key: string, now: number): Promise<string | null> {
    return this.#guard(async () => {
      const row = (await this.#query<{ value: string }>('kvGet', [key, now])).rows[0];
      return row === undefined ? null : row.value;
    });
  }

  kvSet(key: string, value: string, expiresAt: number | null): Promise<void> {
    return this.#guard(async () => {
      await this.#query('kvSet', [key, value, expiresAt]);
    });
  }

  kvDelete(key: string): Promise<boolean> {
    return this.#guard(async () => (await this.#query('kvDelete', [key])).rowCount === 1);
  }

  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult> {
    return this.#guard(async () => {
      const r = await this.#query<{ count: number; expires_at: number }>('increment', [
        key,
        now,
        windowEndsAt,
      ]);
      const row = r.rows[0]!;
      return { count: row.count, expiresAt: row.expires_at };
    });
  }

  listPush(key: string, value: string, max: number, expiresAt: number | null): Promise<void> {
    return this.#guard(async () => {
      await this.#query('listPush', [
        key,
        value,
        Math.max(0, Math.floor(max)),
        expiresAt,
        this.#now(),
      ]);
    });
  }

  listRange(key: string, limit: number, now: number): Promise<string[]> {
    return this.#guard(async () => {
      if (limit < 1) return [];
      const row = (
        await this.#query<{ items: string[] | null }>('listRange', [key, Math.floor(limit), now])
      ).rows[0];
      return row?.items ?? [];
    });
  }

  /** The server's clock: `clock_timestamp()` (the instant the statement runs), in epoch ms. */
  time(): Promise<number> {
    return this.#calls.run(async () => {
      const r = await this.#pool.query<{ t: number }>(
        'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS t',
      );
      return Number(r.rows[0]?.t);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.off('error', this.#onPoolError);
  }
}

// ---- connecting ---------------------------------------------------------------------------

/** Options for {@link connectPostgres}. */
export interface ConnectPostgresOptions {
  /**
   * Server-side `statement_timeout` of every connection, in ms.
   * @default 5000
   */
  statementTimeoutMs?: number;
  /**
   * How long to wait for a new connection, or for a free one from the pool, in ms.
   * @default 2000
   */
  connectTimeoutMs?: number;
  /**
   * Client-side bound on a query, in ms (pg's `query_timeout`): past it the query fails and its
   * connection is closed and replaced — the server-side `statement_timeout` cannot fire on a
   * server that hangs or cannot be reached. `0` turns it off.
   * @default statementTimeoutMs + 1000
   */
  queryTimeoutMs?: number;
  /**
   * Idle time before TCP keepalive probes start on each connection, in ms. `0` turns keepalive
   * off.
   * @default 10000
   */
  keepAliveMs?: number;
  /** Extra `pg` pool options, merged over these defaults. */
  pool?: PoolConfig;
}

/**
 * Make a `pg` pool for `url` (pg is an optional peer dependency, loaded here) with fail-fast
 * settings: a connect timeout (also bounding the wait for a free connection), a server-side
 * statement timeout, a client-side query timeout that closes the connection of a query the
 * server never answers (a hung server, a silent network partition), TCP keepalive, and an
 * `error` listener so a dropped idle connection never crashes the process. Connections open
 * lazily, on first use. A query that timed out may still run when a hung server resumes: a
 * failed write's outcome is unknown (see docs/operations.md).
 *
 * @param url - `postgres://user[:password]@host[:port]/database[?sslmode=…]`
 * @param options - timeouts and extra pool options; see {@link ConnectPostgresOptions}
 * @returns a pool; the caller owns it (`await pool.end()` on shutdown)
 * @throws TesseraError `ERR_CONFIG` when pg is not installed or the URL is not a postgres URL
 * @example
 * ```ts
 * const pool = await connectPostgres(process.env.DATABASE_URL!);
 * const store = postgresStore({ pool });
 * ```
 */
export async function connectPostgres(
  url: string,
  options: ConnectPostgresOptions = {},
): Promise<Pool> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new TesseraError(
      'ERR_CONFIG',
      'connectPostgres: the URL must start with postgres:// or postgresql://',
    );
  }
  let Ctor: new (config: PoolConfig) => Pool;
  try {
    const mod = (await import('pg')) as unknown as {
      default?: { Pool: typeof Ctor };
      Pool?: typeof Ctor;
    };
    Ctor = (mod.default?.Pool ?? mod.Pool)!;
  } catch (cause) {
    throw new TesseraError(
      'ERR_CONFIG',
      "connectPostgres needs the optional peer dependency 'pg': npm install pg",
      { cause },
    );
  }
  const statement = options.statementTimeoutMs ?? 5000;
  const query = options.queryTimeoutMs ?? (statement > 0 ? statement + 1000 : 0);
  const keepAlive = options.keepAliveMs ?? 10_000;
  checkNonNegative('connectPostgres', {
    statementTimeoutMs: statement,
    queryTimeoutMs: query,
    keepAliveMs: keepAlive,
  });
  const pool = new Ctor({
    connectionString: url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    statement_timeout: statement,
    // Longer than statement_timeout, so a slow statement is cancelled by the server first.
    ...(query > 0 ? { query_timeout: query } : {}),
    keepAlive: keepAlive > 0,
    ...(keepAlive > 0 ? { keepAliveInitialDelayMillis: keepAlive } : {}),
    idleTimeoutMillis: 30_000,
    ...options.pool,
  });
  pool.on('error', () => {});
  return pool;
}
