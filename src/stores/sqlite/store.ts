/**
 * The SQLite store's class: each method one prepared statement or one `BEGIN IMMEDIATE`
 * transaction (transactions.ts), driver failures turned into typed store errors.
 */
import { storeUnavailable, TesseraError } from '../../core/errors.js';
import { checkStoreString } from '../../core/ids.js';
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
  conflict,
  paging,
  recordToRow,
  rowToEntry,
  rowToRecord,
  type SessionRow,
  sweepInBatches,
} from '../sql/shared.js';
import { DEFAULTS, type SQLiteDatabase, type SQLiteStoreOptions } from './options.js';
import { checkCount, config, enableWal, migrate, openDatabase } from './schema.js';
import { prepareStatements, type Statements } from './statements.js';
import { type Transactions, transactions } from './transactions.js';

function isConstraintError(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (e as { code: string }).code.startsWith('SQLITE_CONSTRAINT')
  );
}

/** 1 when a change is present (even if null), 0 when absent: the SQL keeps the old value then. */
function has(value: unknown): number {
  return value === undefined ? 0 : 1;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function noop(): void {}

export class SQLiteStore implements SessionStore, KeyValueStore {
  readonly name = 'sqlite';

  readonly #db: SQLiteDatabase;
  readonly #owned: boolean;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #sweeping = false;

  readonly #s: Statements;
  /** The methods that are one `BEGIN IMMEDIATE` transaction. */
  readonly #tx: Transactions;

  constructor(options: SQLiteStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw config(
        typeof options === 'string'
          ? `pass an options object: sqliteStore({ path: ${JSON.stringify(options)} }).`
          : 'pass { path } or { database } (an open better-sqlite3 Database).',
      );
    }
    const prefix = options.tablePrefix ?? DEFAULTS.tablePrefix;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(prefix)) {
      throw config(
        `tablePrefix must be letters, digits and _ (not starting with a digit), got ${JSON.stringify(prefix)}`,
      );
    }
    const interval = checkCount(
      'sweepIntervalMs',
      options.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs,
    );
    const busyTimeout = checkCount(
      'busyTimeoutMs',
      options.busyTimeoutMs ?? DEFAULTS.busyTimeoutMs,
    );
    this.#now = options.now ?? Date.now;

    if (options.database !== undefined) {
      if (
        options.database === null ||
        typeof (options.database as { prepare?: unknown }).prepare !== 'function'
      ) {
        throw config(
          typeof options.database === 'string'
            ? 'database is a string: pass { path } for a file, or { database } an open better-sqlite3 Database.'
            : 'database must be an open better-sqlite3 Database.',
        );
      }
      this.#db = options.database;
      this.#owned = false;
    } else if (typeof options.path === 'string') {
      this.#db = openDatabase(options.path);
      this.#owned = true;
    } else {
      throw config('pass either `database` (an open better-sqlite3 Database) or `path`.');
    }

    try {
      const db = this.#db;
      // The busy timeout first, so that switching to WAL waits for a concurrent opener.
      db.pragma(`busy_timeout = ${busyTimeout}`);
      enableWal(db, busyTimeout);
      // In WAL mode NORMAL loses nothing on a process crash (only on power loss); only for a
      // file we opened: an injected connection keeps its owner's choice.
      if (this.#owned) db.pragma('synchronous = NORMAL');
      migrate(db, prefix);
      this.#s = prepareStatements(db, prefix);
    } catch (e) {
      if (this.#owned) this.#db.close();
      throw storeUnavailable('sqlite', e);
    }

    this.#tx = transactions(this.#db, this.#s);

    if (interval > 0) {
      this.#timer = setInterval(() => {
        if (this.#sweeping) return;
        this.#sweeping = true;
        this.sweep(this.#now())
          .catch(noop)
          .finally(() => {
            this.#sweeping = false;
          });
      }, interval);
      this.#timer.unref();
    }
  }

  /** Run `fn` on the open database, turning any driver failure into a typed store error. */
  #run<T>(fn: () => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new TesseraError('ERR_STORE_UNAVAILABLE', 'The sqlite session store is closed'),
      );
    }
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(storeUnavailable('sqlite', e));
    }
  }

  get(id: string): Promise<StoreEntry | null> {
    return this.#run(() => {
      const row = this.#s.get.get(id) as SessionRow | undefined;
      return row === undefined ? null : rowToEntry('sqlite', row);
    });
  }

  getByHandle(handle: string): Promise<SessionRecord | null> {
    return this.#run(() => {
      const row = this.#s.getByHandle.get(handle) as SessionRow | undefined;
      return row === undefined ? null : rowToRecord('sqlite', row);
    });
  }

  create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    return this.#run(() => {
      checkRecordStrings('sqlite', record);
      try {
        if (signIn !== undefined && record.userId !== null) {
          return this.#tx.signInCreate(record, signIn);
        }
        this.#s.insert.run(recordToRow(record));
        return { evicted: [] };
      } catch (e) {
        if (isConstraintError(e)) throw conflict('sqlite', 'id or handle', e);
        throw e;
      }
    });
  }

  update(id: string, expectedVersion: number, changes: RecordChanges): Promise<boolean> {
    return this.#run(() => {
      checkStoreString('sqlite', 'userId', changes.userId);
      return (
        this.#s.update.run({
          id,
          version: expectedVersion,
          has_data: has(changes.data),
          data: changes.data ?? null,
          has_user_id: has(changes.userId),
          user_id: changes.userId ?? null,
          has_authenticated_at: has(changes.authenticatedAt),
          authenticated_at: changes.authenticatedAt ?? null,
          has_last_seen_at: has(changes.lastSeenAt),
          last_seen_at: changes.lastSeenAt ?? null,
          has_idle_expires_at: has(changes.idleExpiresAt),
          idle_expires_at: changes.idleExpiresAt ?? null,
          has_absolute_expires_at: has(changes.absoluteExpiresAt),
          absolute_expires_at: changes.absoluteExpiresAt ?? null,
          has_last_ip: has(changes.lastIp),
          last_ip: changes.lastIp ?? null,
          has_last_user_agent: has(changes.lastUserAgent),
          last_user_agent: changes.lastUserAgent ?? null,
        }).changes === 1
      );
    });
  }

  touch(id: string, changes: TouchChanges): Promise<boolean> {
    return this.#run(
      () =>
        this.#s.touch.run({
          id,
          last_seen_at: changes.lastSeenAt,
          idle_expires_at: changes.idleExpiresAt,
          has_last_ip: has(changes.lastIp),
          last_ip: changes.lastIp ?? null,
          has_last_user_agent: has(changes.lastUserAgent),
          last_user_agent: changes.lastUserAgent ?? null,
        }).changes === 1,
    );
  }

  rotate(
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
    signIn?: SignInOptions,
  ): Promise<SignInResult | false> {
    return this.#run(() => {
      checkRecordStrings('sqlite', next);
      checkStoreString('sqlite', 'userId', tombstone?.userId);
      try {
        return this.#tx.rotate(oldId, expectedVersion, next, tombstone, signIn);
      } catch (e) {
        if (isConstraintError(e)) throw conflict('sqlite', 'id or handle', e);
        throw e;
      }
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#run(() => this.#s.delete.run(id).changes > 0);
  }

  deleteByHandle(handle: string): Promise<number> {
    return this.#run(() => this.#s.deleteByHandle.run(handle).changes);
  }

  listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    return this.#run(() => {
      checkStoreString('sqlite', 'userId', userId);
      return (this.#s.listByUser.all(userId, now) as SessionRow[]).map((r) =>
        rowToRecord('sqlite', r),
      );
    });
  }

  deleteByUser(userId: string, options: DeleteByUserOptions = {}): Promise<number> {
    return this.#run(() => {
      checkStoreString('sqlite', 'userId', userId);
      return this.#tx.deleteByUser(userId, options);
    });
  }

  getRevocationEpoch(userId: string, now: number): Promise<number | null> {
    return this.#run(() => {
      checkStoreString('sqlite', 'userId', userId);
      const row = this.#s.epochGetLive.get(userId, now) as { epoch: number } | undefined;
      return row === undefined ? null : row.epoch;
    });
  }

  list(options: ListOptions): Promise<ListResult> {
    return this.#run(() => {
      checkStoreString('sqlite', 'userId', options.userId);
      const limit = paging.limit(options.limit);
      const after = paging.after(options.cursor);
      const rows = (
        options.userId === undefined
          ? this.#s.listAll.all(options.now, after, limit + 1)
          : this.#s.listUser.all(options.userId, options.now, after, limit + 1)
      ) as SessionRow[];
      return paging.page('sqlite', rows, limit);
    });
  }

  count(now: number, userId?: string): Promise<number> {
    return this.#run(() => {
      checkStoreString('sqlite', 'userId', userId);
      const row = (
        userId === undefined ? this.#s.countAll.get(now) : this.#s.countUser.get(userId, now)
      ) as { n: number };
      return row.n;
    });
  }

  async sweep(now: number, limit?: number): Promise<number> {
    const max = limit ?? Number.POSITIVE_INFINITY;
    const batches = (stmt: { run(now: number, n: number): { changes: number } }) =>
      sweepInBatches(max, (n) => this.#run(() => stmt.run(now, n).changes), yieldToEventLoop);
    const removed = await batches(this.#s.sweepSessions);
    // Expired keys and epochs are not sessions: removed too, without counting against `limit`.
    await batches(this.#s.sweepKeys);
    await batches(this.#s.sweepEpochs);
    return removed;
  }

  kvGet(key: string, now: number): Promise<string | null> {
    return this.#run(() => {
      const row = this.#s.kvGet.get(key, now) as { value: string } | undefined;
      return row === undefined ? null : row.value;
    });
  }

  kvSet(key: string, value: string, expiresAt: number | null): Promise<void> {
    return this.#run(() => {
      this.#s.kvSet.run(key, value, expiresAt);
    });
  }

  kvDelete(key: string): Promise<boolean> {
    return this.#run(() => this.#tx.kvDelete(key));
  }

  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult> {
    return this.#run(() => {
      const row = this.#s.increment.get({ key, now, window_ends_at: windowEndsAt }) as {
        count: number;
        expires_at: number | null;
      };
      return { count: row.count, expiresAt: row.expires_at ?? windowEndsAt };
    });
  }

  /**
   * The store's clock (its `now` option, default the machine's): every process sharing the
   * database file runs on this machine, so its clock is the one they share.
   */
  time(): Promise<number> {
    return this.#run(() => this.#now());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#owned && this.#db.open) {
      try {
        this.#db.close();
      } catch (e) {
        throw storeUnavailable('sqlite', e);
      }
    }
  }
}
