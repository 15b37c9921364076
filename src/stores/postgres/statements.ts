/**
 * The PostgreSQL store's statements (named, prepared once per connection), built once per schema.
 */
import type { SessionRecord } from '../../core/types.js';
import { LIVE_COLUMNS, recordToRow } from '../sql/shared.js';

/** A live row's columns in `INSERT` order: `id`, `kind`, the other {@link LIVE_COLUMNS}, `expires_at`. */
const INSERT_COLUMNS = `id, kind, ${LIVE_COLUMNS.slice(1).join(', ')}, expires_at`;

/** A live record's parameters, in {@link LIVE_COLUMNS} order (what {@link liveInsert} binds). */
export function liveValues(r: SessionRecord): unknown[] {
  const row = recordToRow(r);
  return LIVE_COLUMNS.map((c) => row[c]);
}

/** `INSERT` column list and `VALUES` for a live row whose parameters start at `$from`. */
export function liveInsert(s: string, from: number): { head: string; values: string } {
  const p = (i: number): string => `$${from + i}`;
  return {
    head: `INSERT INTO ${s}.sessions (${INSERT_COLUMNS})`,
    values: `${p(0)}, 'live', ${p(1)}, ${p(2)}, ${p(3)}::bigint, ${p(4)}::bigint, ${p(5)}::bigint, ${p(6)}::bigint, ${p(7)}::bigint, ${p(8)}, ${p(9)}, ${p(10)}, ${p(11)}, ${p(12)}::int, ${p(13)}, LEAST(${p(6)}::bigint, ${p(7)}::bigint)`,
  };
}

/** The statements, built once per schema. */
export function statements(s: string) {
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

/** The name of one of the store's statements. */
export type StatementName = keyof ReturnType<typeof statements>;
