/**
 * Bulk fill for the disk stores in `--scale` (SQLite, PostgreSQL): filling 1M sessions through
 * the engine takes ≈1 h on PostgreSQL (≈300 sessions/s) and minutes on SQLite, while the
 * measured windows only ever read the sessions the harness made over HTTP. So a fill makes its
 * first {@link ENGINE_FILL} sessions through the engine as before (real tokens, real encrypted
 * data) and the rest as **copies** of the last signed-in row the engine wrote, read back from the
 * store's own table: the same columns, sizes and deadlines, each with its own random id (43
 * base64url characters) and handle (22), and a user of its own (`user-<n>`, numbered after the
 * engine's), so the primary key, handle, user and expiry indexes hold as many entries of the
 * same shape as an engine fill would leave. A copy's data is the template's ciphertext: it is
 * never opened (no request carries its id).
 */
import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';

/** Sessions of a fill that go through the engine before the rest are bulk copies. */
export const ENGINE_FILL = 1000;

/** Rows per PostgreSQL `INSERT … SELECT` and per SQLite transaction. */
export const COPY_BATCH = 100_000;

/** The identifying fields of one filler row. */
export interface FillerKeys {
  id: string;
  handle: string;
  userId: string;
}

/**
 * How a fill of `count` sessions splits between the engine and bulk copies.
 *
 * @param count - Sessions to add.
 * @param engine - Sessions made through the engine first ({@link ENGINE_FILL}).
 * @returns Sessions through the engine, and copies.
 * @example
 * ```ts
 * splitFill(1_000_000); // { engine: 1000, copies: 999000 }
 * ```
 */
export function splitFill(count: number, engine = ENGINE_FILL): { engine: number; copies: number } {
  const through = Math.max(0, Math.min(count, engine));
  return { engine: through, copies: Math.max(0, count - through) };
}

/**
 * The id, handle and user id of a filler row, in the format of the engine's: a 256-bit id and
 * a 128-bit handle in unpadded base64url, and `user-<n>`.
 *
 * @param random - At least 48 random bytes (32 for the id, 16 for the handle).
 * @param user - The user's number.
 * @returns The row's keys.
 * @example
 * ```ts
 * fillerKeys(randomBytes(48), 1_002_001); // { id: '…43 chars…', handle: '…22 chars…', userId: 'user-1002001' }
 * ```
 */
export function fillerKeys(random: Uint8Array, user: number): FillerKeys {
  if (random.length < 48) throw new RangeError('fillerKeys needs 48 random bytes');
  const bytes = Buffer.from(random.buffer, random.byteOffset, 48);
  return {
    id: bytes.subarray(0, 32).toString('base64url'),
    handle: bytes.subarray(32, 48).toString('base64url'),
    userId: `user-${user}`,
  };
}

/**
 * Inserts `count` copies of the last signed-in live row of a SQLite store's table, in
 * transactions of {@link COPY_BATCH} rows through one prepared statement.
 *
 * @param db - A connection to the store's database file (its own: WAL lets it write while the
 *   store's connection is idle).
 * @param table - The sessions table (`<prefix>sessions`).
 * @param count - Rows to add.
 * @param firstUser - The number of the first copy's user (see `reserveUsers`).
 * @param batch - Rows per transaction.
 * @returns Rows added.
 * @throws When the table holds no signed-in live row to copy.
 * @example
 * ```ts
 * copySqliteRows(db, 'tessera_sessions', 999_000, reserveUsers(999_000));
 * ```
 */
export function copySqliteRows(
  db: BetterSqlite3.Database,
  table: string,
  count: number,
  firstUser: number,
  batch = COPY_BATCH,
): number {
  const template = db
    .prepare(
      `SELECT * FROM ${table} WHERE kind = 'live' AND user_id IS NOT NULL ORDER BY rowid DESC LIMIT 1`,
    )
    .get() as Record<string, unknown> | undefined;
  if (!template) throw new Error(`no signed-in row in ${table} to copy`);
  const columns = Object.keys(template);
  const insert = db.prepare(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
  );
  const row = { ...template };
  const copy = db.transaction((from: number, to: number) => {
    const random = randomBytes(48 * (to - from));
    for (let i = from; i < to; i++) {
      const keys = fillerKeys(random.subarray(48 * (i - from)), firstUser + i);
      row['id'] = keys.id;
      row['handle'] = keys.handle;
      row['user_id'] = keys.userId;
      insert.run(row);
    }
  });
  for (let from = 0; from < count; from += batch) copy(from, Math.min(count, from + batch));
  return count;
}

/**
 * The statement that inserts copies of one row of a PostgreSQL store's table: `$1` a seed (text),
 * `$2` the first copy's user number, `$3` the first and `$4` the last copy's index, `$5` the
 * template's id. Ids and handles are SHA-256 of seed and index, in unpadded base64url (43 and
 * 22 characters, as the engine's).
 *
 * @param schema - The store's schema, quoted if needed.
 * @param columns - The table's columns (the template's).
 * @returns The SQL.
 * @example
 * ```ts
 * await pool.query(copyPostgresSql('bench_123', columns), [seed, 1002001, 0, 99_999, templateId]);
 * ```
 */
export function copyPostgresSql(schema: string, columns: readonly string[]): string {
  const b64url = (bytes: string) => `rtrim(translate(encode(${bytes}, 'base64'), '+/', '-_'), '=')`;
  const digest = (tag: string) => `sha256(convert_to($1::text || '${tag}' || g::text, 'UTF8'))`;
  const value = (column: string): string => {
    if (column === 'id') return b64url(digest('i'));
    if (column === 'handle') return b64url(`substring(${digest('h')} from 1 for 16)`);
    if (column === 'user_id') return `'user-' || ($2::bigint + g)::text`;
    return `t.${column}`;
  };
  return `INSERT INTO ${schema}.sessions (${columns.join(', ')})
    SELECT ${columns.map(value).join(', ')}
    FROM ${schema}.sessions t, generate_series($3::bigint, $4::bigint) g
    WHERE t.id = $5`;
}

/** The part of a `pg` pool the PostgreSQL copy uses. */
interface PoolLike {
  query(
    sql: string,
    values?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount?: number | null }>;
}

/**
 * Inserts `count` copies of the last signed-in live row of a PostgreSQL store's table, one
 * `INSERT … SELECT … generate_series` per {@link COPY_BATCH} rows, then `ANALYZE`s the table.
 *
 * @param pool - A pool on the store's database.
 * @param schema - The store's schema.
 * @param count - Rows to add.
 * @param firstUser - The number of the first copy's user.
 * @param batch - Rows per statement.
 * @returns Rows added.
 * @throws When the table holds no signed-in live row, or a statement fails.
 * @example
 * ```ts
 * await copyPostgresRows(pool, 'bench_123', 999_000, reserveUsers(999_000));
 * ```
 */
export async function copyPostgresRows(
  pool: PoolLike,
  schema: string,
  count: number,
  firstUser: number,
  batch = COPY_BATCH,
): Promise<number> {
  const { rows } = await pool.query(
    `SELECT * FROM ${schema}.sessions WHERE kind = 'live' AND user_id IS NOT NULL
       ORDER BY created_at DESC, id LIMIT 1`,
  );
  const template = rows[0];
  if (!template) throw new Error(`no signed-in row in ${schema}.sessions to copy`);
  const sql = copyPostgresSql(schema, Object.keys(template));
  const seed = randomBytes(16).toString('hex');
  let added = 0;
  for (let from = 0; from < count; from += batch) {
    const to = Math.min(count, from + batch) - 1;
    const result = await pool.query(sql, [seed, firstUser, from, to, template['id']]);
    added += result.rowCount ?? 0;
  }
  await pool.query(`ANALYZE ${schema}.sessions`);
  return added;
}
