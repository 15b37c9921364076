/**
 * The SQLite store's statements, prepared once per database and table prefix.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { SQLiteDatabase } from './options.js';

/** The names of the store's statements. */
type StatementName =
  | 'get'
  | 'getByHandle'
  | 'insert'
  | 'update'
  | 'touch'
  | 'toTombstone'
  | 'deleteLiveVersion'
  | 'delete'
  | 'deleteByHandle'
  | 'listByUser'
  | 'deleteUserFamilyTombs'
  | 'deleteUserLive'
  | 'deleteUserTombs'
  | 'liveHandles'
  | 'epochGet'
  | 'epochGetLive'
  | 'epochRaise'
  | 'sweepEpochs'
  | 'listAll'
  | 'listUser'
  | 'countAll'
  | 'countUser'
  | 'sweepSessions'
  | 'sweepKeys'
  | 'kvGet'
  | 'kvSet'
  | 'kvDelete'
  | 'increment';

/** The prepared statements of one store. */
export type Statements = Record<StatementName, BetterSqlite3.Statement>;

/**
 * Prepare every statement of the store.
 * @param db - the open database, migrated
 * @param p - the table prefix
 */
export function prepareStatements(
  db: SQLiteDatabase,
  p: string,
): Record<StatementName, BetterSqlite3.Statement> {
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
  };
}
