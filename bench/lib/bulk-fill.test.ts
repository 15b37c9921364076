import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import {
  COPY_BATCH,
  copyPostgresRows,
  copyPostgresSql,
  copySqliteRows,
  fillerKeys,
  splitFill,
} from './bulk-fill.js';

const template = {
  id: 'FlPxQyh_v9xwTPZh8J2XnxQ2DRG0l1Aw_mLZsdIooHs',
  kind: 'live',
  handle: 'tFQX19q_L0rpIsLOfawtBA',
  user_id: 'user-1',
  created_at: Date.now(),
  last_seen_at: Date.now(),
  authenticated_at: Date.now(),
  idle_expires_at: Date.now() + 1_800_000,
  absolute_expires_at: Date.now() + 43_200_000,
  created_ip: '127.0.0.1',
  created_user_agent: 'tessera-bench/1',
  last_ip: '127.0.0.1',
  last_user_agent: 'tessera-bench/1',
  version: 2,
  data: 'e2.k20261203IKsx.ryI1S9CaGh3SbUn-BO7hxeuHqlx0Yo9n7QP7UX0BJ5rfUNv_jUfU0AR1d2edF1cnJwXBlcHHTdTtSxk8rWN06qs80wiGHfyruw7Eppah',
  expires_at: Date.now() + 1_800_000,
};

describe('splitFill', () => {
  it('sends the first sessions through the engine and copies the rest', () => {
    expect(splitFill(1_000_000)).toEqual({ engine: 1000, copies: 999_000 });
    expect(splitFill(1000)).toEqual({ engine: 1000, copies: 0 });
    expect(splitFill(300)).toEqual({ engine: 300, copies: 0 });
    expect(splitFill(0)).toEqual({ engine: 0, copies: 0 });
    expect(splitFill(5000, 10)).toEqual({ engine: 10, copies: 4990 });
  });
});

describe('fillerKeys', () => {
  it('has the format and length of the engine’s id, handle and user', () => {
    const keys = fillerKeys(new Uint8Array(48).fill(0xfb), 1_002_001);
    expect(keys.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keys.handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(keys.id.length).toBe(template.id.length);
    expect(keys.handle.length).toBe(template.handle.length);
    expect(keys.userId).toBe('user-1002001');
    // The id takes the first 32 bytes, the handle the next 16.
    const bytes = new Uint8Array(48);
    bytes[33] = 1;
    const other = fillerKeys(bytes, 1);
    expect(other.id).toBe(fillerKeys(new Uint8Array(48), 1).id);
    expect(other.handle).not.toBe(fillerKeys(new Uint8Array(48), 1).handle);
  });

  it('reads 48 bytes from the view it is given, not from the start of its buffer', () => {
    const buffer = new Uint8Array(96);
    buffer.fill(7, 48);
    expect(fillerKeys(buffer.subarray(48), 1)).toEqual(fillerKeys(new Uint8Array(48).fill(7), 1));
    expect(() => fillerKeys(new Uint8Array(47), 1)).toThrow(RangeError);
  });
});

describe('copySqliteRows', () => {
  it('inserts copies of the last signed-in row that the store reads as live sessions', async () => {
    const db = new Database(':memory:');
    const store = sqliteStore({ database: db, sweepIntervalMs: 0 });
    // The store's own migrations ran: insert the template row as the engine would leave it.
    const columns = Object.keys(template);
    const insert = db.prepare(
      `INSERT INTO tessera_sessions (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
    );
    insert.run({ ...template, id: 'x'.repeat(43), handle: 'y'.repeat(22), user_id: null });
    insert.run(template);
    const count = 2005; // three transactions of at most 1,000
    expect(copySqliteRows(db, 'tessera_sessions', count, 5000, 1000)).toBe(count);
    const rows = db
      .prepare(`SELECT * FROM tessera_sessions WHERE id NOT IN (?, ?) ORDER BY rowid`)
      .all(template.id, 'x'.repeat(43)) as Record<string, unknown>[];
    expect(rows).toHaveLength(count);
    expect(new Set(rows.map((r) => r['id'])).size).toBe(count);
    expect(new Set(rows.map((r) => r['handle'])).size).toBe(count);
    expect(rows[0]!['user_id']).toBe('user-5000');
    expect(rows.at(-1)!['user_id']).toBe(`user-${5000 + count - 1}`);
    const { id, handle, user_id, ...rest } = rows.at(-1)!;
    const { id: _i, handle: _h, user_id: _u, ...same } = template;
    expect(rest).toMatchObject(same);
    expect(String(id)).toHaveLength(43);
    expect(String(handle)).toHaveLength(22);
    const record = await store.get(String(id));
    expect(record?.userId).toBe(user_id);
    expect((await store.listByUser(String(user_id), Date.now())).map((r) => r.id)).toEqual([id]);
    await store.close();
    db.close();
  });

  it('refuses a table with no signed-in row to copy', () => {
    const db = new Database(':memory:');
    sqliteStore({ database: db, sweepIntervalMs: 0 });
    expect(() => copySqliteRows(db, 'tessera_sessions', 10, 1)).toThrow(/no signed-in row/);
    db.close();
  });
});

describe('copyPostgresRows', () => {
  it('copies in batches that cover every index once, then analyzes the table', async () => {
    const calls: { sql: string; values: unknown[] }[] = [];
    const pool = {
      query: async (sql: string, values: unknown[] = []) => {
        calls.push({ sql, values });
        if (sql.startsWith('SELECT')) return { rows: [template] };
        if (sql.startsWith('INSERT')) {
          return { rows: [], rowCount: Number(values[3]) - Number(values[2]) + 1 };
        }
        return { rows: [] };
      },
    };
    const count = 2 * COPY_BATCH + 7;
    expect(await copyPostgresRows(pool, 'bench_1', count, 1001)).toBe(count);
    expect(await copyPostgresRows(pool, 'bench_1', 25, 1001, 10)).toBe(25);
    const inserts = calls.filter((c) => c.sql.startsWith('INSERT'));
    expect(inserts.map((c) => [c.values[2], c.values[3]])).toEqual([
      [0, COPY_BATCH - 1],
      [COPY_BATCH, 2 * COPY_BATCH - 1],
      [2 * COPY_BATCH, count - 1],
      [0, 9],
      [10, 19],
      [20, 24],
    ]);
    // One seed per fill, a new one for the next fill.
    expect(new Set(inserts.slice(0, 3).map((c) => c.values[0])).size).toBe(1);
    expect(inserts[3]!.values[0]).not.toBe(inserts[0]!.values[0]);
    expect(inserts[0]!.values[1]).toBe(1001);
    expect(inserts[0]!.values[4]).toBe(template.id);
    expect(calls.at(-1)!.sql).toBe('ANALYZE bench_1.sessions');
  });

  it('makes id, handle and user from the seed and index, and copies every other column', () => {
    const sql = copyPostgresSql('bench_1', ['id', 'kind', 'handle', 'user_id', 'data']);
    expect(sql).toContain('INSERT INTO bench_1.sessions (id, kind, handle, user_id, data)');
    expect(sql).toContain("rtrim(translate(encode(sha256(convert_to($1::text || 'i' || g::text");
    expect(sql).toContain(
      "substring(sha256(convert_to($1::text || 'h' || g::text, 'UTF8')) from 1 for 16)",
    );
    expect(sql).toContain("'user-' || ($2::bigint + g)::text, t.data");
    expect(sql).toContain('generate_series($3::bigint, $4::bigint) g');
    expect(sql).toContain('WHERE t.id = $5');
  });
});
