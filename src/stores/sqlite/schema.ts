/**
 * The SQLite store's schema (versioned migrations run under `BEGIN IMMEDIATE`), and opening a
 * database file: WAL mode, its folder, and errors that say how to fix a wrong path.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { storeUnavailable, TesseraError } from '../../core/errors.js';
import { corrupt as corruptOf } from '../sql/shared.js';
import type { SQLiteDatabase } from './options.js';

const corrupt = (message: string) => corruptOf('sqlite', message);

/**
 * The schema, one entry per version. Never edit a shipped entry: append a new one.
 * `kind` is `live` or `rotated` (one table, so an id is unique across both). `expires_at` is
 * the earlier of the idle and absolute deadlines for a live row, the tombstone's `expiresAt`
 * for a tombstone. `list_items` and its two triggers held `KeyValueStore` lists, which are gone:
 * nothing writes or reads them, and they stay so that no migration is needed (the triggers still
 * drop a list left by an earlier version when its key is replaced, deleted or swept).
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

/** `ERR_CONFIG` from `sqliteStore`, with the fix in its message. */
export function config(message: string, cause?: unknown): TesseraError {
  return new TesseraError('ERR_CONFIG', `sqliteStore: ${message}`, { cause });
}

export function checkCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw config(`${name} must be an integer >= 0, got ${String(value)}`);
  }
  return value;
}

export function openDatabase(path: string): SQLiteDatabase {
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

/**
 * Run the migrations this file lacks, under `BEGIN IMMEDIATE`: a second process starting at the
 * same moment waits for the lock (busy_timeout), then finds the schema current.
 */
export function migrate(db: SQLiteDatabase, p: string): void {
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
export function enableWal(db: SQLiteDatabase, busyTimeoutMs: number): void {
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
