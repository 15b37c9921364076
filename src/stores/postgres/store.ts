/**
 * The PostgreSQL store's class: one named prepared statement per method (one round trip), a
 * per-user advisory lock around sign-ins and revocations; the pool, statements and call bounds
 * are in calls.ts.
 */
import type { PoolClient, QueryResult, QueryResultRow } from 'pg';
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
import { PostgresCalls } from './calls.js';
import type { PostgresStoreOptions } from './options.js';
import { liveValues, type StatementName } from './statements.js';
import { isUniqueViolation } from './transaction.js';

const checkText = (field: string, value: string | null | undefined): void =>
  checkString('postgres', field, value);

export class PostgresStore implements SessionStore, KeyValueStore {
  readonly name = 'postgres';
  /** The pool, statements and call bounds (calls.ts). */
  readonly #db: PostgresCalls;

  constructor(options: PostgresStoreOptions) {
    this.#db = new PostgresCalls(options);
  }

  /** Run a whole store call (see `PostgresCalls.guard`). */
  #guard<T>(fn: () => Promise<T>): Promise<T> {
    return this.#db.guard(fn);
  }

  /** Run a named statement on the pool, or on `client` within a transaction. */
  #query<R extends QueryResultRow = SessionRow>(
    name: StatementName,
    values: unknown[],
    client?: PoolClient,
  ): Promise<QueryResult<R>> {
    return this.#db.query<R>(name, values, client);
  }

  /** Run `fn` under the user's advisory lock, in one transaction (see transaction.ts). */
  #userTransaction<T>(userId: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.#db.userTransaction(userId, fn);
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
      const write = async (client?: PoolClient): Promise<boolean> => {
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
        if (userId === null) return (await write()) ? { evicted: [] } : false;
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
    return this.#db.time();
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
