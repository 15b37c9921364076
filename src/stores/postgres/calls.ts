/**
 * The PostgreSQL store's plumbing: the pool and its options, the schema check or migration on
 * first use, named prepared statements, the per-user transaction, the timeout and in-flight
 * bound of every call, and driver failures as typed errors.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { TesseraError } from '../../core/errors.js';
import { checkMaxPending, PendingCalls } from '../../core/pending-calls.js';
import type { SessionRow } from '../sql/shared.js';
import { DEFAULTS, type PostgresStoreOptions } from './options.js';
import { checkSchema, checkSchemaVersion, migratePostgres, quote } from './schema.js';
import { type StatementName, statements } from './statements.js';
import { isMissingRelation, isUnrepresentable, userTransaction } from './transaction.js';

/** The connection side of one PostgreSQL store: what every store method runs through. */
export class PostgresCalls {
  readonly #pool: Pool;
  readonly #schema: string;
  readonly #migrate: boolean;
  readonly #calls: PendingCalls;
  readonly #sql: Record<StatementName, string>;
  /** Prepared-statement names: unique per schema, short enough for PostgreSQL's 63 bytes. */
  readonly #names: Record<StatementName, string>;
  #ready: Promise<void> | null = null;
  readonly #onPoolError = (): void => {
    // An idle client lost its connection (a restart, pg_terminate_backend): the pool drops it
    // and the next call opens a fresh one. Without a listener Node would crash the process.
  };
  #closed = false;

  /**
   * @param options - the store's options
   * @throws TesseraError `ERR_CONFIG` for a missing pool or a bad option
   */
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
    this.#pool = options.pool;
    this.#sql = statements(quote(this.#schema));
    const tag = createHash('sha256').update(this.#schema).digest('hex').slice(0, 10);
    this.#names = Object.fromEntries(
      Object.keys(this.#sql).map((k) => [k, `tessera_${tag}_${k}`]),
    ) as Record<StatementName, string>;
    this.#pool.on('error', this.#onPoolError);
  }

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
          v = (await this.query<{ v: number }>('version', [])).rows[0]?.v ?? 0;
        } catch (e) {
          if (!isMissingRelation(e)) throw e;
          v = 0;
        }
        checkSchemaVersion(this.#schema, v);
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
  guard<T>(fn: () => Promise<T>): Promise<T> {
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

  /** Run a named prepared statement on the pool, or on `client` within a transaction. */
  query<R extends QueryResultRow = SessionRow>(
    name: StatementName,
    values: unknown[],
    client?: PoolClient,
  ): Promise<QueryResult<R>> {
    return (client ?? this.#pool).query<R>({
      name: this.#names[name],
      text: this.#sql[name],
      values,
    });
  }

  /** Run `fn` under the user's advisory lock, in one transaction (see transaction.ts). */
  userTransaction<T>(userId: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return userTransaction(this.#pool, this.#schema, userId, fn);
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

  /** Stop listening to the pool (the pool is the app's). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.off('error', this.#onPoolError);
  }
}
