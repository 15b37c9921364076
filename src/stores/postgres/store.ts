/**
 * The PostgreSQL store's class: one named prepared statement per method (one round trip), a
 * per-user advisory lock around sign-ins and revocations, driver failures as typed errors.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { TesseraError } from '../../core/errors.js';
import { checkMaxPending, PendingCalls } from '../../core/pending-calls.js';
import { sessionLimitReached, signInRevoked } from '../../core/revocation.js';
import type {
  CounterResult,
  DeleteByUserOptions,
  KeyValueStore,
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
import {
  checkRecordStrings,
  checkString,
  conflict,
  paging,
  rowToEntry,
  rowToRecord,
  type SessionRow,
  sweepInBatches,
} from '../sql/shared.js';
import { DEFAULTS, type PostgresStoreOptions } from './options.js';
import { checkSchema, checkSchemaVersion, migratePostgres, quote } from './schema.js';
import { liveValues, type StatementName, statements } from './statements.js';
import {
  isMissingRelation,
  isUniqueViolation,
  isUnrepresentable,
  userTransaction,
} from './transaction.js';

const checkText = (field: string, value: string | null | undefined): void =>
  checkString('postgres', field, value);

export class PostgresStore implements SessionStore, KeyValueStore {
  readonly name = 'postgres';
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
  #guard<T>(fn: () => Promise<T>): Promise<T> {
    return this.#calls.run(async () => {
      await this.#ensureReady();
      try {
        return await fn();
      } catch (e) {
        // A value the caller passed that `text` cannot hold is their mistake, not an outage.
        if (!isUnrepresentable(e)) throw e;
        throw new TesseraError(
          'ERR_CONFIG',
          'postgresStore: a value holds a character PostgreSQL text cannot store (NUL)',
          { status: 400, cause: e },
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

  /** Run `fn` under the user's advisory lock, in one transaction (see transaction.ts). */
  #userTransaction<T>(userId: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return userTransaction(this.#pool, this.#schema, userId, fn);
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
    throw conflict('postgres', constraint.includes('handle') ? 'handle' : 'id');
  }

  // ---- sessions --------------------------------------------------------------------------

  get(id: string): Promise<StoreEntry | null> {
    return this.#guard(async () => {
      const row = (await this.#query('get', [id])).rows[0];
      return row === undefined ? null : rowToEntry('postgres', row);
    });
  }

  getByHandle(handle: string): Promise<SessionRecord | null> {
    return this.#guard(async () => {
      const row = (await this.#query('getByHandle', [handle])).rows[0];
      return row === undefined ? null : rowToRecord('postgres', row);
    });
  }

  create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    return this.#guard(async () => {
      checkRecordStrings('postgres', record);
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
      checkRecordStrings('postgres', next);
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
      return (await this.#query('listByUser', [userId, now])).rows.map((r) =>
        rowToRecord('postgres', r),
      );
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
      const limit = paging.limit(options.limit);
      const after = paging.after(options.cursor);
      const r =
        options.userId === undefined
          ? await this.#query('listAll', [options.now, after, limit + 1])
          : await this.#query('listUser', [options.now, after, limit + 1, options.userId]);
      return paging.page('postgres', r.rows, limit);
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
      const batches = (name: 'sweep' | 'sweepKv' | 'sweepEpochs', max: number) =>
        sweepInBatches(max, async (n) => (await this.#query(name, [now, n])).rowCount ?? 0);
      const n = await batches('sweep', limit);
      // Expired keys and epochs are not sessions: removed too, without counting against `limit`.
      await batches('sweepKv', Number.POSITIVE_INFINITY);
      await batches('sweepEpochs', Number.POSITIVE_INFINITY);
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
