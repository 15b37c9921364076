/**
 * The SQLite store: sessions in one file, on `better-sqlite3` (an optional peer dependency).
 * WAL mode, a busy timeout, statements prepared once, a versioned schema migrated under
 * `BEGIN IMMEDIATE`, and expired rows swept in batches through an index. Several processes
 * may share one file.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { storeUnavailable, TesseraError } from '../../core/errors.js';
import { checkStoreString } from '../../core/ids.js';
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
   * The clock for the background sweep and for `listPush` (which takes no `now`).
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

const DEFAULTS = {
  tablePrefix: 'tessera_',
  sweepIntervalMs: 60_000,
  busyTimeoutMs: 5_000,
} as const;

/** Rows deleted per statement by `sweep`: short write locks, other connections interleave. */
const SWEEP_BATCH = 500;

/**
 * The schema, one entry per version. Never edit a shipped entry: append a new one.
 * `kind` is `live` or `rotated` (one table, so an id is unique across both). `expires_at` is
 * the earlier of the idle and absolute deadlines for a live row, the tombstone's `expiresAt`
 * for a tombstone.
 */
const MIGRATIONS: ReadonlyArray<(p: string) => string> = [
  (p) => `
    CREATE TABLE ${p}sessions (
      id TEXT NOT NULL PRIMARY KEY,
      kind TEXT NOT NULL,
      handle TEXT NOT NULL,
      user_id TEXT,
      created_at INTEGER,
      last_seen_at INTEGER,
      authenticated_at INTEGER,
      idle_expires_at INTEGER,
      absolute_expires_at INTEGER,
      created_ip TEXT,
      created_user_agent TEXT,
      last_ip TEXT,
      last_user_agent TEXT,
      version INTEGER,
      data TEXT,
      rotated_at INTEGER,
      grace_until INTEGER,
      reason TEXT,
      expires_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX ${p}sessions_live_handle ON ${p}sessions (handle) WHERE kind = 'live';
    CREATE INDEX ${p}sessions_handle ON ${p}sessions (handle);
    CREATE INDEX ${p}sessions_user ON ${p}sessions (user_id, id) WHERE user_id IS NOT NULL;
    CREATE INDEX ${p}sessions_expires ON ${p}sessions (expires_at);

    CREATE TABLE ${p}kv (
      key TEXT NOT NULL PRIMARY KEY,
      type TEXT NOT NULL,
      value TEXT,
      count INTEGER,
      expires_at INTEGER
    );
    CREATE INDEX ${p}kv_expires ON ${p}kv (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE ${p}list_items (
      key TEXT NOT NULL,
      seq INTEGER NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (key, seq)
    ) WITHOUT ROWID;
    CREATE TRIGGER ${p}kv_list_deleted AFTER DELETE ON ${p}kv WHEN old.type = 'list'
    BEGIN DELETE FROM ${p}list_items WHERE key = old.key; END;
    CREATE TRIGGER ${p}kv_list_replaced AFTER UPDATE OF type ON ${p}kv
    WHEN old.type = 'list' AND new.type <> 'list'
    BEGIN DELETE FROM ${p}list_items WHERE key = old.key; END;
  `,
  // Revocation epochs: "sessions of this user authenticated at or before epoch are dead".
  (p) => `
    CREATE TABLE ${p}user_epochs (
      user_id TEXT NOT NULL PRIMARY KEY,
      epoch INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    );
    CREATE INDEX ${p}user_epochs_expires ON ${p}user_epochs (expires_at);
  `,
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** A row of the sessions table. */
interface SessionRow {
  id: string;
  kind: string;
  handle: string;
  user_id: string | null;
  created_at: number;
  last_seen_at: number;
  authenticated_at: number | null;
  idle_expires_at: number;
  absolute_expires_at: number;
  created_ip: string | null;
  created_user_agent: string | null;
  last_ip: string | null;
  last_user_agent: string | null;
  version: number;
  data: string;
  rotated_at: number;
  grace_until: number;
  reason: string;
  expires_at: number;
}

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

function config(message: string, cause?: unknown): TesseraError {
  return new TesseraError('ERR_CONFIG', `sqliteStore: ${message}`, { cause });
}

function checkCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw config(`${name} must be an integer >= 0, got ${String(value)}`);
  }
  return value;
}

function openDatabase(path: string): SQLiteDatabase {
  let Database: typeof BetterSqlite3;
  try {
    // A synchronous load keeps construction synchronous, so misconfiguration throws here.
    Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  } catch (e) {
    throw config(
      'the `path` option needs the optional peer dependency better-sqlite3: run `npm install better-sqlite3`, or pass an open `database`.',
      e,
    );
  }
  if (path !== ':memory:' && path !== '') {
    // better-sqlite3 creates the file but not its folder; openStore('sqlite:…') creates it too.
    const dir = dirname(resolve(path));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw config(
        `cannot create the folder ${dir} for the database ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)}): check the path and its permissions.`,
        e,
      );
    }
  }
  try {
    return new Database(path);
  } catch (e) {
    // A file that cannot be opened at start-up is a wrong path or permission, not an outage.
    if ((e as { code?: unknown }).code === 'SQLITE_CANTOPEN') {
      throw config(
        `cannot open the database file ${path} (${(e as Error).message}): check that the path names a file (not a folder) you may read and write.`,
        e,
      );
    }
    throw storeUnavailable('sqlite', e);
  }
}

function isConstraintError(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (e as { code: string }).code.startsWith('SQLITE_CONSTRAINT')
  );
}

function conflict(cause: unknown): TesseraError {
  return new TesseraError('ERR_CONFLICT', 'sqliteStore: a session with this id or handle exists', {
    cause,
  });
}

function corrupt(message: string): TesseraError {
  return new TesseraError('ERR_STORE_CORRUPT', `sqliteStore: ${message}`);
}

function rowToEntry(row: SessionRow): StoreEntry {
  if (row.kind === 'live') {
    return {
      kind: 'live',
      id: row.id,
      handle: row.handle,
      userId: row.user_id,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
      authenticatedAt: row.authenticated_at,
      idleExpiresAt: row.idle_expires_at,
      absoluteExpiresAt: row.absolute_expires_at,
      createdIp: row.created_ip,
      createdUserAgent: row.created_user_agent,
      lastIp: row.last_ip,
      lastUserAgent: row.last_user_agent,
      version: row.version,
      data: row.data,
    };
  }
  if (row.kind === 'rotated' && (row.reason === 'login' || row.reason === 'regenerate')) {
    return {
      kind: 'rotated',
      id: row.id,
      handle: row.handle,
      userId: row.user_id,
      rotatedAt: row.rotated_at,
      graceUntil: row.grace_until,
      expiresAt: row.expires_at,
      reason: row.reason,
    };
  }
  throw corrupt('a session row has an unknown kind or reason');
}

function rowToRecord(row: SessionRow): SessionRecord {
  const entry = rowToEntry(row);
  if (entry.kind !== 'live') throw corrupt('a tombstone row was read as a live session');
  return entry;
}

function recordParams(r: SessionRecord): Record<string, unknown> {
  return {
    id: r.id,
    handle: r.handle,
    user_id: r.userId,
    created_at: r.createdAt,
    last_seen_at: r.lastSeenAt,
    authenticated_at: r.authenticatedAt,
    idle_expires_at: r.idleExpiresAt,
    absolute_expires_at: r.absoluteExpiresAt,
    created_ip: r.createdIp,
    created_user_agent: r.createdUserAgent,
    last_ip: r.lastIp,
    last_user_agent: r.lastUserAgent,
    version: r.version,
    data: r.data,
    expires_at: Math.min(r.idleExpiresAt, r.absoluteExpiresAt),
  };
}

/** Refuse a record whose strings SQLite (UTF-8) could not keep exactly, before any write. */
function checkRecordStrings(r: SessionRecord): void {
  checkStoreString('sqlite', 'id', r.id);
  checkStoreString('sqlite', 'handle', r.handle);
  checkStoreString('sqlite', 'userId', r.userId);
}

/** 1 when a change is present (even if null), 0 when absent: the SQL keeps the old value then. */
function has(value: unknown): number {
  return value === undefined ? 0 : 1;
}

/**
 * Run the migrations this file lacks, under `BEGIN IMMEDIATE`: a second process starting at the
 * same moment waits for the lock (busy_timeout), then finds the schema current.
 */
function migrate(db: SQLiteDatabase, p: string): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${p}meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)`,
    );
    const row = db.prepare(`SELECT value FROM ${p}meta WHERE key = 'schema_version'`).get() as
      | { value: string }
      | undefined;
    const current = row === undefined ? 0 : Number(row.value);
    if (!Number.isSafeInteger(current) || current < 0 || current > MIGRATIONS.length) {
      throw corrupt(
        `the database holds schema version ${row?.value ?? '?'}, this version of tessera knows up to ${MIGRATIONS.length}; upgrade tessera-session`,
      );
    }
    for (const migration of MIGRATIONS.slice(current)) db.exec(migration(p));
    if (current < MIGRATIONS.length) {
      db.prepare(
        `INSERT INTO ${p}meta (key, value) VALUES ('schema_version', ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      ).run(String(MIGRATIONS.length));
    }
    db.exec('COMMIT');
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

/**
 * Switch to WAL. Changing the journal mode needs an exclusive lock and SQLite answers
 * SQLITE_BUSY at once instead of calling the busy handler, so two processes opening a fresh
 * file together would fail: retry with a short blocking pause (this runs once, at startup),
 * within the busy timeout.
 */
function enableWal(db: SQLiteDatabase, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || Date.now() >= deadline) throw e;
      Atomics.wait(pause, 0, 0, Math.min(5 * 2 ** Math.min(attempt, 4), 50));
    }
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function noop(): void {}

class SQLiteStore implements SessionStore, KeyValueStore {
  readonly name = 'sqlite';

  readonly #db: SQLiteDatabase;
  readonly #owned: boolean;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #sweeping = false;

  readonly #s: ReturnType<typeof prepareStatements>;
  readonly #rotate: (
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
    signIn: SignInOptions | undefined,
  ) => SignInResult | false;
  readonly #signInCreate: (record: SessionRecord, signIn: SignInOptions) => SignInResult;
  readonly #deleteByUser: (userId: string, options: DeleteByUserOptions) => number;
  readonly #listPush: (
    key: string,
    value: string,
    max: number,
    expiresAt: number | null,
    now: number,
  ) => void;
  readonly #kvDelete: (key: string) => boolean;

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

    const s = this.#s;
    /**
     * The epoch and limit checks of a sign-in, inside the caller's `BEGIN IMMEDIATE`
     * transaction (which holds the database's write lock, so sign-ins and revocations from every
     * connection and process are serialised): throws, or returns the handles to evict.
     */
    const gate = (record: SessionRecord, o: SignInOptions): string[] => {
      if (record.userId === null) return [];
      const e = s.epochGet.get(record.userId) as { epoch: number } | undefined;
      if (e !== undefined && (record.authenticatedAt === null || record.authenticatedAt <= e.epoch))
        throw signInRevoked();
      if (o.limit <= 0) return [];
      const live = s.liveHandles.all({
        user_id: record.userId,
        now: o.now,
        except: record.handle,
      }) as { handle: string }[];
      if (live.length < o.limit) return [];
      if (o.policy === 'reject') throw sessionLimitReached(o.limit);
      return live.slice(0, live.length - o.limit + 1).map((r) => r.handle);
    };
    this.#signInCreate = this.#db.transaction((record: SessionRecord, o: SignInOptions) => {
      const evicted = gate(record, o);
      for (const h of evicted) s.deleteByHandle.run(h);
      s.insert.run(recordParams(record));
      return { evicted };
    }).immediate;
    this.#rotate = this.#db.transaction(
      (
        oldId: string,
        expectedVersion: number,
        next: SessionRecord,
        tombstone: TombstoneRecord | null,
        signIn: SignInOptions | undefined,
      ) => {
        const evicted = signIn === undefined ? [] : gate(next, signIn);
        const changed =
          tombstone === null
            ? s.deleteLiveVersion.run(oldId, expectedVersion).changes
            : s.toTombstone.run({
                id: oldId,
                version: expectedVersion,
                handle: tombstone.handle,
                user_id: tombstone.userId,
                rotated_at: tombstone.rotatedAt,
                grace_until: tombstone.graceUntil,
                reason: tombstone.reason,
                expires_at: tombstone.expiresAt,
              }).changes;
        if (changed !== 1) return false;
        for (const h of evicted) s.deleteByHandle.run(h);
        s.insert.run(recordParams(next));
        return { evicted };
      },
    ).immediate;
    this.#deleteByUser = this.#db.transaction((userId: string, o: DeleteByUserOptions) => {
      if (o.epoch !== undefined) {
        s.epochRaise.run({ user_id: userId, epoch: o.epoch.at, expires_at: o.epoch.expiresAt });
      }
      const params = { user_id: userId, except: o.exceptHandle ?? null };
      s.deleteUserFamilyTombs.run(params);
      const live = s.deleteUserLive.run(params).changes;
      s.deleteUserTombs.run(params);
      return live;
    }).immediate;
    this.#listPush = this.#db.transaction(
      (key: string, value: string, max: number, expiresAt: number | null, now: number) => {
        const head = s.listHead.get(key) as
          | { type: string; count: number | null; expires_at: number | null }
          | undefined;
        const fresh =
          head === undefined ||
          head.type !== 'list' ||
          (head.expires_at !== null && head.expires_at <= now);
        if (fresh && head !== undefined) s.kvDelete.run(key);
        const seq = fresh ? 1 : (head?.count ?? 0) + 1;
        s.listHeadUpsert.run({ key, seq, expires_at: expiresAt });
        s.listInsert.run(key, seq, value);
        s.listTrim.run(key, seq - Math.max(0, max));
      },
    ).immediate;
    this.#kvDelete = this.#db.transaction(
      (key: string) => s.kvDelete.run(key).changes > 0,
    ).immediate;

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
      return row === undefined ? null : rowToEntry(row);
    });
  }

  getByHandle(handle: string): Promise<SessionRecord | null> {
    return this.#run(() => {
      const row = this.#s.getByHandle.get(handle) as SessionRow | undefined;
      return row === undefined ? null : rowToRecord(row);
    });
  }

  create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    return this.#run(() => {
      checkRecordStrings(record);
      try {
        if (signIn !== undefined && record.userId !== null) {
          return this.#signInCreate(record, signIn);
        }
        this.#s.insert.run(recordParams(record));
        return { evicted: [] };
      } catch (e) {
        if (isConstraintError(e)) throw conflict(e);
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
      checkRecordStrings(next);
      checkStoreString('sqlite', 'userId', tombstone?.userId);
      try {
        return this.#rotate(oldId, expectedVersion, next, tombstone, signIn);
      } catch (e) {
        if (isConstraintError(e)) throw conflict(e);
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
      return (this.#s.listByUser.all(userId, now) as SessionRow[]).map(rowToRecord);
    });
  }

  deleteByUser(userId: string, options: DeleteByUserOptions = {}): Promise<number> {
    return this.#run(() => {
      checkStoreString('sqlite', 'userId', userId);
      return this.#deleteByUser(userId, options);
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
      const limit = Math.max(1, Math.min(1_000, Math.trunc(options.limit)));
      const after = options.cursor ?? '';
      const rows = (
        options.userId === undefined
          ? this.#s.listAll.all(options.now, after, limit + 1)
          : this.#s.listUser.all(options.userId, options.now, after, limit + 1)
      ) as SessionRow[];
      const more = rows.length > limit;
      const records = (more ? rows.slice(0, limit) : rows).map(rowToRecord);
      const last = records[records.length - 1];
      return { records, nextCursor: more && last !== undefined ? last.id : null };
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
    let removed = 0;
    while (removed < max) {
      const batch = Math.min(SWEEP_BATCH, max - removed);
      const n = await this.#run(() => this.#s.sweepSessions.run(now, batch).changes);
      removed += n;
      if (n < batch) break;
      await yieldToEventLoop();
    }
    // Expired keys and epochs are not sessions: removed too, without counting against `limit`.
    for (const stmt of [this.#s.sweepKeys, this.#s.sweepEpochs]) {
      let keys = 0;
      while (keys < max) {
        const batch = Math.min(SWEEP_BATCH, max - keys);
        const n = await this.#run(() => stmt.run(now, batch).changes);
        keys += n;
        if (n < batch) break;
        await yieldToEventLoop();
      }
    }
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
    return this.#run(() => this.#kvDelete(key));
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

  listPush(key: string, value: string, max: number, expiresAt: number | null): Promise<void> {
    return this.#run(() => this.#listPush(key, value, max, expiresAt, this.#now()));
  }

  listRange(key: string, limit: number, now: number): Promise<string[]> {
    return this.#run(() =>
      (this.#s.listRange.all(key, now, Math.max(0, Math.trunc(limit))) as { value: string }[]).map(
        (r) => r.value,
      ),
    );
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

function prepareStatements(db: SQLiteDatabase, p: string) {
  const t = `${p}sessions`;
  const live = `kind = 'live'`;
  return {
    get: db.prepare(`SELECT * FROM ${t} WHERE id = ?`),
    getByHandle: db.prepare(`SELECT * FROM ${t} WHERE handle = ? AND ${live}`),
    insert: db.prepare(
      `INSERT INTO ${t} (id, kind, handle, user_id, created_at, last_seen_at, authenticated_at,
         idle_expires_at, absolute_expires_at, created_ip, created_user_agent, last_ip,
         last_user_agent, version, data, expires_at)
       VALUES (@id, 'live', @handle, @user_id, @created_at, @last_seen_at, @authenticated_at,
         @idle_expires_at, @absolute_expires_at, @created_ip, @created_user_agent, @last_ip,
         @last_user_agent, @version, @data, @expires_at)`,
    ),
    // Compare-and-set in one statement: the row changes only if its version is the one read.
    // Right-hand sides see the old row, so `expires_at` is computed from the new deadlines.
    update: db.prepare(
      `UPDATE ${t} SET
         data = CASE WHEN @has_data THEN @data ELSE data END,
         version = version + @has_data,
         user_id = CASE WHEN @has_user_id THEN @user_id ELSE user_id END,
         authenticated_at = CASE WHEN @has_authenticated_at THEN @authenticated_at ELSE authenticated_at END,
         last_seen_at = CASE WHEN @has_last_seen_at THEN @last_seen_at ELSE last_seen_at END,
         idle_expires_at = CASE WHEN @has_idle_expires_at THEN @idle_expires_at ELSE idle_expires_at END,
         absolute_expires_at = CASE WHEN @has_absolute_expires_at THEN @absolute_expires_at ELSE absolute_expires_at END,
         last_ip = CASE WHEN @has_last_ip THEN @last_ip ELSE last_ip END,
         last_user_agent = CASE WHEN @has_last_user_agent THEN @last_user_agent ELSE last_user_agent END,
         expires_at = MIN(
           CASE WHEN @has_idle_expires_at THEN @idle_expires_at ELSE idle_expires_at END,
           CASE WHEN @has_absolute_expires_at THEN @absolute_expires_at ELSE absolute_expires_at END)
       WHERE id = @id AND ${live} AND version = @version`,
    ),
    touch: db.prepare(
      `UPDATE ${t} SET
         last_seen_at = @last_seen_at,
         idle_expires_at = @idle_expires_at,
         last_ip = CASE WHEN @has_last_ip THEN @last_ip ELSE last_ip END,
         last_user_agent = CASE WHEN @has_last_user_agent THEN @last_user_agent ELSE last_user_agent END,
         expires_at = MIN(@idle_expires_at, absolute_expires_at)
       WHERE id = @id AND ${live}`,
    ),
    // A tombstone keeps no data or metadata of the live record it replaces.
    toTombstone: db.prepare(
      `UPDATE ${t} SET
         kind = 'rotated', handle = @handle, user_id = @user_id, rotated_at = @rotated_at,
         grace_until = @grace_until, reason = @reason, expires_at = @expires_at,
         created_at = NULL, last_seen_at = NULL, authenticated_at = NULL, idle_expires_at = NULL,
         absolute_expires_at = NULL, created_ip = NULL, created_user_agent = NULL, last_ip = NULL,
         last_user_agent = NULL, version = NULL, data = NULL
       WHERE id = @id AND ${live} AND version = @version`,
    ),
    deleteLiveVersion: db.prepare(`DELETE FROM ${t} WHERE id = ? AND ${live} AND version = ?`),
    delete: db.prepare(`DELETE FROM ${t} WHERE id = ?`),
    deleteByHandle: db.prepare(`DELETE FROM ${t} WHERE handle = ?`),
    listByUser: db.prepare(
      `SELECT * FROM ${t} WHERE user_id = ? AND ${live} AND expires_at > ?
       ORDER BY created_at, rowid`,
    ),
    deleteUserFamilyTombs: db.prepare(
      `DELETE FROM ${t} WHERE kind = 'rotated' AND handle IN (
         SELECT handle FROM ${t} WHERE user_id = @user_id AND ${live} AND handle IS NOT @except)`,
    ),
    deleteUserLive: db.prepare(
      `DELETE FROM ${t} WHERE user_id = @user_id AND ${live} AND handle IS NOT @except`,
    ),
    deleteUserTombs: db.prepare(
      `DELETE FROM ${t} WHERE user_id = @user_id AND kind = 'rotated' AND handle IS NOT @except`,
    ),
    // The user's live sessions other than one family, oldest first: the limit's candidates.
    liveHandles: db.prepare(
      `SELECT handle FROM ${t} WHERE user_id = @user_id AND ${live} AND expires_at > @now
         AND handle IS NOT @except ORDER BY created_at, rowid`,
    ),
    epochGet: db.prepare(`SELECT epoch FROM ${p}user_epochs WHERE user_id = ?`),
    epochGetLive: db.prepare(
      `SELECT epoch FROM ${p}user_epochs WHERE user_id = ? AND expires_at > ?`,
    ),
    epochRaise: db.prepare(
      `INSERT INTO ${p}user_epochs (user_id, epoch, expires_at) VALUES (@user_id, @epoch, @expires_at)
       ON CONFLICT (user_id) DO UPDATE SET
         epoch = MAX(epoch, excluded.epoch), expires_at = MAX(expires_at, excluded.expires_at)`,
    ),
    sweepEpochs: db.prepare(
      `DELETE FROM ${p}user_epochs WHERE rowid IN (
         SELECT rowid FROM ${p}user_epochs WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`,
    ),
    listAll: db.prepare(
      `SELECT * FROM ${t} WHERE ${live} AND expires_at > ? AND id > ? ORDER BY id LIMIT ?`,
    ),
    listUser: db.prepare(
      `SELECT * FROM ${t} WHERE user_id = ? AND ${live} AND expires_at > ? AND id > ?
       ORDER BY id LIMIT ?`,
    ),
    countAll: db.prepare(`SELECT count(*) AS n FROM ${t} WHERE ${live} AND expires_at > ?`),
    countUser: db.prepare(
      `SELECT count(*) AS n FROM ${t} WHERE user_id = ? AND ${live} AND expires_at > ?`,
    ),
    // Batches by rowid through the expiry index: each statement holds the write lock briefly.
    sweepSessions: db.prepare(
      `DELETE FROM ${t} WHERE rowid IN (
         SELECT rowid FROM ${t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`,
    ),
    sweepKeys: db.prepare(
      `DELETE FROM ${p}kv WHERE rowid IN (
         SELECT rowid FROM ${p}kv WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`,
    ),
    kvGet: db.prepare(
      `SELECT value FROM ${p}kv WHERE key = ? AND type = 'kv'
         AND (expires_at IS NULL OR expires_at > ?)`,
    ),
    kvSet: db.prepare(
      `INSERT INTO ${p}kv (key, type, value, count, expires_at) VALUES (?, 'kv', ?, NULL, ?)
       ON CONFLICT (key) DO UPDATE SET
         type = 'kv', value = excluded.value, count = NULL, expires_at = excluded.expires_at`,
    ),
    kvDelete: db.prepare(`DELETE FROM ${p}kv WHERE key = ?`),
    // A fixed window: the first hit (or the first after the window) starts at 1 and sets the
    // window's end; later hits keep it.
    increment: db.prepare(
      `INSERT INTO ${p}kv (key, type, value, count, expires_at)
         VALUES (@key, 'counter', NULL, 1, @window_ends_at)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN type = 'counter' AND (expires_at IS NULL OR expires_at > @now)
                   THEN count + 1 ELSE 1 END,
         expires_at = CASE WHEN type = 'counter' AND (expires_at IS NULL OR expires_at > @now)
                   THEN expires_at ELSE @window_ends_at END,
         type = 'counter', value = NULL
       RETURNING count, expires_at`,
    ),
    listHead: db.prepare(`SELECT type, count, expires_at FROM ${p}kv WHERE key = ?`),
    listHeadUpsert: db.prepare(
      `INSERT INTO ${p}kv (key, type, value, count, expires_at)
         VALUES (@key, 'list', NULL, @seq, @expires_at)
       ON CONFLICT (key) DO UPDATE SET count = @seq, expires_at = @expires_at`,
    ),
    listInsert: db.prepare(`INSERT INTO ${p}list_items (key, seq, value) VALUES (?, ?, ?)`),
    listTrim: db.prepare(`DELETE FROM ${p}list_items WHERE key = ? AND seq <= ?`),
    listRange: db.prepare(
      `SELECT i.value FROM ${p}list_items i JOIN ${p}kv k ON k.key = i.key
       WHERE k.key = ? AND k.type = 'list' AND (k.expires_at IS NULL OR k.expires_at > ?)
       ORDER BY i.seq DESC LIMIT ?`,
    ),
  };
}
