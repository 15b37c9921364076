import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import { SQLITE_SCHEMA_VERSION, sqliteStore } from '../../src/stores/sqlite/index.js';
import {
  conformanceCases,
  makeRecord,
  makeTombstone,
  registerConformance,
} from '../../src/testing/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'));
const sharedFile = join(dir, 'conformance.db');
const workerModule = fileURLToPath(new URL('./fixtures/sqlite-store.ts', import.meta.url));
const childScript = fileURLToPath(new URL('./fixtures/sqlite-child.ts', import.meta.url));
let fileCount = 0;
const freshFile = () => join(dir, `store-${++fileCount}.db`);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

registerConformance(
  {
    name: 'sqlite (path)',
    create: () => sqliteStore({ path: sharedFile, sweepIntervalMs: 0 }),
    worker: {
      module: workerModule,
      exportName: 'createStore',
      env: { TESSERA_TEST_SQLITE_PATH: sharedFile },
    },
  },
  { describe, it },
);

const injected = new Database(join(dir, 'injected.db'));
afterAll(() => {
  injected.close();
});
registerConformance(
  {
    name: 'sqlite (injected database, tablePrefix auth_)',
    create: () => sqliteStore({ database: injected, tablePrefix: 'auth_', sweepIntervalMs: 0 }),
  },
  { describe, it },
);

/** Start the child fixture; `lines` collects its stdout, `exit` resolves with its exit code. */
function startChild(mode: 'open' | 'write', path: string, rounds = 1) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', childScript, mode, path, String(rounds)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    err += c;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  /** Resolve once stdout holds `text`; reject if the child exits first or after 20 s. */
  const waitFor = async (text: string): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!out.includes(text)) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`child exited before "${text}": ${err}`);
      }
      if (Date.now() > deadline) throw new Error(`child never printed "${text}": ${err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { child, exit, waitFor, out: () => out, err: () => err };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('sqliteStore', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens the file in WAL mode with a versioned schema and its indexes', async () => {
    const path = freshFile();
    const store = sqliteStore({ path, sweepIntervalMs: 0 });
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(
        db.prepare(`SELECT value FROM tessera_meta WHERE key = 'schema_version'`).pluck().get(),
      ).toBe(String(SQLITE_SCHEMA_VERSION));
      const indexes = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'tessera_%'`)
        .pluck()
        .all();
      expect(indexes).toEqual(
        expect.arrayContaining([
          'tessera_sessions_live_handle',
          'tessera_sessions_handle',
          'tessera_sessions_user',
          'tessera_sessions_expires',
        ]),
      );
      const plan = (sql: string) =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
          .map((r) => r.detail)
          .join(' | ');
      expect(plan(`SELECT * FROM tessera_sessions WHERE id = 'x'`)).toMatch(/INDEX/);
      expect(plan(`SELECT * FROM tessera_sessions WHERE handle = 'x' AND kind = 'live'`)).toMatch(
        /tessera_sessions_live_handle/,
      );
      expect(
        plan(
          `SELECT * FROM tessera_sessions WHERE user_id = 'u' AND kind = 'live' AND expires_at > 0`,
        ),
      ).toMatch(/tessera_sessions_user/);
      expect(
        plan(
          'SELECT rowid FROM tessera_sessions WHERE expires_at <= 5 ORDER BY expires_at LIMIT 10',
        ),
      ).toMatch(/tessera_sessions_expires/);
    } finally {
      db.close();
    }
  });

  it('migrates safely when two processes open a fresh file at once', async () => {
    // Switching a fresh file to WAL can fail with SQLITE_BUSY without waiting when another
    // process switches it at the same instant. The window is short and this machine is shared,
    // so the processes race on many fresh files, one per round, to make the race likely.
    const rounds = 20;
    const prefix = freshFile();
    const children = [startChild('open', prefix, rounds), startChild('open', prefix, rounds)];
    await Promise.all(children.map((c) => c.waitFor('ready\n')));
    const at = Date.now() + 100;
    for (const c of children) c.child.stdin.end(`go ${at}\n`);
    const exits = await Promise.all(children.map((c) => c.exit));
    expect(exits.map((e, i) => ({ code: e.code, err: children[i]!.err() }))).toEqual(
      children.map(() => ({ code: 0, err: '' })),
    );
    const ids = children.map((c) => (JSON.parse(c.out().split('\n')[1]!) as { ids: string[] }).ids);
    for (let i = 0; i < rounds; i++) {
      const store = sqliteStore({ path: `${prefix}-${i}`, sweepIntervalMs: 0 });
      try {
        for (const c of ids) expect((await store.get(c[i]!))?.kind).toBe('live');
        expect(await store.count(0)).toBe(2);
      } finally {
        await store.close();
      }
    }
  });

  it('keeps every committed write when its process is killed with SIGKILL', async () => {
    const path = freshFile();
    const w = startChild('write', path);
    await w.waitFor('written\n');
    w.child.kill('SIGKILL');
    expect((await w.exit).signal).toBe('SIGKILL');
    const store = sqliteStore({ path, sweepIntervalMs: 0 });
    try {
      expect(await store.count(0, 'u-durable')).toBe(50);
      const first = await store.get('durable-0');
      assert.ok(first !== null && first.kind === 'live');
      expect(first.data).toBe('{"i":"updated"}');
      expect(first.version).toBe(2);
      expect((await store.getByHandle('h-49'))?.data).toBe('{"i":49}');
      expect(await store.kvGet('durable:kv', 0)).toBe('value');
      expect((await store.increment('durable:counter', 0, Number.MAX_SAFE_INTEGER)).count).toBe(3);
      expect(await store.kvGet('durable:replaced', 0)).toBe('b');
    } finally {
      await store.close();
    }
  });

  it('fails the cross-process case when update is not a compare-and-set', async () => {
    const path = freshFile();
    const broken = conformanceCases({
      name: 'sqlite, last writer wins',
      create: () => sqliteStore({ path, sweepIntervalMs: 0 }),
      worker: {
        module: workerModule,
        exportName: 'createLastWriterWinsStore',
        env: { TESSERA_TEST_SQLITE_PATH: path },
      },
    }).find((c) => c.name.startsWith('concurrent compare-and-set merges from two processes'));
    assert.ok(broken !== undefined);
    await expect(broken.run()).rejects.toThrow(/lost updates/);
  }, 60_000);

  it('rejects with ERR_STORE_UNAVAILABLE while another connection holds the write lock', async () => {
    const path = freshFile();
    const store = sqliteStore({ path, sweepIntervalMs: 0, busyTimeoutMs: 50 });
    const r = makeRecord();
    await store.create(r);
    const other = new Database(path);
    try {
      other.exec('BEGIN IMMEDIATE');
      const e = await rejection(store.create(makeRecord()));
      expect(isTesseraError(e, 'ERR_STORE_UNAVAILABLE')).toBe(true);
      expect((e as Error).cause).toMatchObject({ code: 'SQLITE_BUSY' });
      expect(
        isTesseraError(
          await rejection(store.update(r.id, 1, { data: 'x' })),
          'ERR_STORE_UNAVAILABLE',
        ),
      ).toBe(true);
      // WAL: readers are not blocked by the writer.
      expect((await store.get(r.id))?.kind).toBe('live');
      other.exec('ROLLBACK');
      expect(await store.update(r.id, 1, { data: 'x' })).toBe(true);
    } finally {
      other.close();
      await store.close();
    }
  });

  it('rejects a duplicate with ERR_CONFLICT', async () => {
    const store = sqliteStore({ path: ':memory:', sweepIntervalMs: 0 });
    const r = makeRecord();
    await store.create(r);
    expect(isTesseraError(await rejection(store.create(r)), 'ERR_CONFLICT')).toBe(true);
    await store.close();
  });

  it('closes only a database it opened, and rejects calls after close', async () => {
    const db = new Database(':memory:');
    const store = sqliteStore({ database: db, sweepIntervalMs: 0 });
    await store.close();
    await store.close();
    expect(db.open).toBe(true);
    expect(isTesseraError(await rejection(store.get('x')), 'ERR_STORE_UNAVAILABLE')).toBe(true);
    db.close();

    const path = freshFile();
    const own = sqliteStore({ path, sweepIntervalMs: 0 });
    await own.close();
    // The file is no longer held: another connection can take an exclusive lock at once.
    const check = new Database(path, { timeout: 0 });
    check.exec('BEGIN EXCLUSIVE; COMMIT');
    check.close();
  });

  it('turns a failure of an injected database into ERR_STORE_UNAVAILABLE, never a crash', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const db = new Database(':memory:');
    const store = sqliteStore({ database: db, sweepIntervalMs: 1_000 });
    db.close();
    expect(isTesseraError(await rejection(store.get('x')), 'ERR_STORE_UNAVAILABLE')).toBe(true);
    expect(isTesseraError(await rejection(store.sweep(0)), 'ERR_STORE_UNAVAILABLE')).toBe(true);
    // The background sweep fails quietly too (an unhandled rejection would fail this test).
    vi.advanceTimersByTime(1_000);
    await new Promise((r) => setImmediate(r));
    await store.close();
  });

  it('sweeps expired rows on its interval and stops when closed', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const db = new Database(':memory:');
    const store = sqliteStore({ database: db, sweepIntervalMs: 1_000, now: () => 5_000 });
    const expired = makeRecord({ idleExpiresAt: 4_000, absoluteExpiresAt: 4_500 });
    const lasting = makeRecord();
    await store.create(expired);
    await store.create(lasting);
    await store.kvSet('k', 'v', 4_000);
    const rows = () => db.prepare('SELECT count(*) FROM tessera_sessions').pluck().get();
    const keys = () => db.prepare('SELECT count(*) FROM tessera_kv').pluck().get();
    expect(rows()).toBe(2);
    vi.advanceTimersByTime(1_000);
    for (let i = 0; rows() !== 1 || keys() !== 0; i++) {
      assert.ok(i < 1_000, 'the background sweep did not run');
      await new Promise((r) => setImmediate(r));
    }
    expect(await store.get(lasting.id)).not.toBeNull();
    expect(vi.getTimerCount()).toBe(1);
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
    db.close();
  });

  it('sweeps in batches larger than one statement', async () => {
    const store = sqliteStore({ path: ':memory:', sweepIntervalMs: 0 });
    for (let i = 0; i < 1_234; i++) {
      await store.create(makeRecord({ idleExpiresAt: 10, absoluteExpiresAt: 20 }));
    }
    expect(await store.sweep(100, 1_100)).toBe(1_100);
    expect(await store.sweep(100)).toBe(134);
    expect(await store.sweep(100)).toBe(0);
    await store.close();
  });

  it('keeps no data or metadata in a tombstone row', async () => {
    const db = new Database(':memory:');
    const store = sqliteStore({ database: db, sweepIntervalMs: 0 });
    const r = makeRecord({ data: '{"secret":"x"}', lastIp: '192.0.2.1' });
    await store.create(r);
    expect(await store.rotate(r.id, 1, { ...r, id: makeRecord().id }, makeTombstone(r))).toEqual({
      evicted: [],
    });
    const row = db.prepare('SELECT * FROM tessera_sessions WHERE id = ?').get(r.id) as Record<
      string,
      unknown
    >;
    expect(row['kind']).toBe('rotated');
    expect(row['data']).toBeNull();
    expect(row['last_ip']).toBeNull();
    await store.close();
    db.close();
  });

  it('refuses a file with a newer schema with ERR_STORE_CORRUPT', () => {
    const db = new Database(':memory:');
    db.exec(`CREATE TABLE tessera_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO tessera_meta VALUES ('schema_version', '${SQLITE_SCHEMA_VERSION + 1}')`);
    expect(() => sqliteStore({ database: db })).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }),
    );
    expect(db.inTransaction).toBe(false);
    db.close();
  });

  it('rejects wrong options with ERR_CONFIG', () => {
    const bad: unknown[] = [
      { path: ':memory:', tablePrefix: 'x; DROP TABLE y' },
      { path: ':memory:', sweepIntervalMs: -1 },
      { path: ':memory:', busyTimeoutMs: 0.5 },
      {},
    ];
    for (const options of bad) {
      expect(() => sqliteStore(options as never)).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG' }),
      );
    }
  });

  it('says how to install better-sqlite3 when a path is given without it', () => {
    type Resolve = (request: string, ...rest: unknown[]) => string;
    const mod = Module as unknown as { _resolveFilename: Resolve };
    const original = mod._resolveFilename;
    mod._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
      if (request === 'better-sqlite3') {
        throw Object.assign(new Error(`Cannot find module '${request}'`), {
          code: 'MODULE_NOT_FOUND',
        });
      }
      return original.call(this, request, ...rest);
    };
    try {
      expect(() => sqliteStore({ path: ':memory:' })).toThrow(
        expect.objectContaining({
          code: 'ERR_CONFIG',
          message: expect.stringMatching(/npm install better-sqlite3/),
        }),
      );
    } finally {
      mod._resolveFilename = original;
    }
  });
});
