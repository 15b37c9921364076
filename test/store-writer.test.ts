/**
 * What an attacker who can write the store can and cannot do (SECURITY.md, "someone who writes
 * the store"), attacked on a real SQLite store file with a second connection, the way such an
 * attacker would: SQL on the rows, encryption on (the default for SQLite).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createSessions, type SessionManager } from '../src/core/engine.js';
import type { SessionEvent } from '../src/core/events.js';
import { createSealedSessions, revocationStoreFrom } from '../src/core/sealed.js';
import { sqliteStore } from '../src/stores/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-store-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keys = [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }];
type Row = Record<string, unknown>;

function setup() {
  const path = join(dir, `${randomBytes(6).toString('hex')}.db`);
  let t = 1_800_000_000_000;
  const clock = {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
  const store = sqliteStore({ path, sweepIntervalMs: 0 });
  const engine = createSessions({ store, keys, now: clock.now, rotationGrace: 10 });
  const events: SessionEvent[] = [];
  engine.on('*', (e) => events.push(e));
  // The attacker's own connection to the same file.
  const db = new Database(path);
  const row = (handle: string) =>
    db
      .prepare(`SELECT * FROM tessera_sessions WHERE handle = ? AND kind = 'live'`)
      .get(handle) as Row;
  const set = (handle: string, column: string, value: unknown) =>
    db
      .prepare(`UPDATE tessera_sessions SET ${column} = ? WHERE handle = ? AND kind = 'live'`)
      .run(value, handle);
  const corrupt = () =>
    events.filter((e) => e.type === 'store_error' && e.reason === 'ERR_STORE_CORRUPT').length;
  return { engine, clock, events, db, row, set, corrupt };
}

async function visit(
  engine: SessionManager,
  token: string | null,
  method = 'GET',
  fn?: (s: Awaited<ReturnType<SessionManager['load']>>) => Promise<void> | void,
) {
  const s = await engine.load({
    cookie: token ? `__Host-tessera=${token}` : undefined,
    method,
    userAgent: 'ua',
    ip: '192.0.2.1',
  });
  if (fn) await fn(s);
  const r = await engine.commit(s);
  const m = r.setCookie ? /^__Host-tessera=([^;]+)/.exec(r.setCookie) : null;
  return { s, token: m ? m[1]! : token };
}

async function signIn(engine: SessionManager, userId: string, data: Row = { role: userId }) {
  const r = await visit(engine, null, 'POST', async (s) => {
    for (const [k, v] of Object.entries(data)) s.set(k, v);
    await s.authenticate(userId);
  });
  return { token: r.token!, handle: r.s.handle! };
}

describe('a store writer cannot', () => {
  it("turn alice's cookie into bob's session by rewriting user_id in the SQLite file", async () => {
    const { engine, set, corrupt, events } = setup();
    const alice = await signIn(engine, 'alice');
    await signIn(engine, 'bob');
    // A first visit lets the engine remember the opened seal; the rewrite must still be caught.
    expect((await visit(engine, alice.token)).s.userId).toBe('alice');
    set(alice.handle, 'user_id', 'bob');
    const r = await visit(engine, alice.token);
    expect(r.s.state).toBe('anonymous');
    expect(r.s.userId).toBeNull();
    expect(corrupt()).toBe(1);
    expect(events.some((e) => e.type === 'token_invalid' && e.reason === 'corrupt_data')).toBe(
      true,
    );
    expect(await engine.list('bob')).toHaveLength(2); // the row now claims bob, but opens as nobody
  });

  it('set any data: plain JSON data is refused when encryption is on', async () => {
    const { engine, set, corrupt } = setup();
    const alice = await signIn(engine, 'alice');
    set(alice.handle, 'data', JSON.stringify({ role: 'admin' }));
    const r = await visit(engine, alice.token);
    expect(r.s.state).toBe('anonymous');
    expect(r.s.get('role')).toBeUndefined();
    expect(corrupt()).toBe(1);
  });

  it('forge freshness or lengthen a session: authenticated_at and absolute_expires_at are sealed', async () => {
    const { engine, clock, set, row, corrupt } = setup();
    const a = await signIn(engine, 'alice');
    const b = await signIn(engine, 'bob');
    clock.advance(10 * 60_000);
    set(a.handle, 'authenticated_at', clock.now());
    expect((await visit(engine, a.token)).s.state).toBe('anonymous');
    const later = Number(row(b.handle).absolute_expires_at) + 86_400_000;
    set(b.handle, 'absolute_expires_at', later);
    set(b.handle, 'expires_at', later);
    expect((await visit(engine, b.token)).s.state).toBe('anonymous');
    expect(corrupt()).toBe(2);
  });

  it("move alice's row under the attacker's own token", async () => {
    const { engine, db, row, corrupt } = setup();
    const alice = await signIn(engine, 'alice');
    const mallory = await signIn(engine, 'mallory');
    const a = row(alice.handle);
    const m = row(mallory.handle);
    db.prepare('DELETE FROM tessera_sessions WHERE id IN (?, ?)').run(a.id, m.id);
    const cols = Object.keys(a);
    db.prepare(
      `INSERT INTO tessera_sessions (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`,
    ).run({ ...a, id: m.id });
    const r = await visit(engine, mallory.token);
    expect(r.s.state).toBe('anonymous');
    expect(r.s.userId).toBeNull();
    expect(corrupt()).toBe(1);
  });

  it('open a record sealed by 0.1.0 (e1, bound to the handle alone): its user signs in again', async () => {
    const { engine, set, row, events, corrupt } = setup();
    const alice = await signIn(engine, 'alice');
    // The shape 0.1.0 wrote: `e1.<kid>.<blob>`.
    set(alice.handle, 'data', `e1.${String(row(alice.handle).data).slice(3)}`);
    expect((await visit(engine, alice.token)).s.state).toBe('anonymous');
    expect(events.some((e) => e.type === 'token_invalid' && e.reason === 'legacy_data')).toBe(true);
    expect(corrupt()).toBe(0);
  });
  it("read another session through the writer's own token, by turning that token's row into a tombstone of the session's family", async () => {
    // A tombstone carries no seal; the live record's seal names the one token that may read it
    // in its grace window, so a forged tombstone opens nothing.
    const { engine, clock, db, row, events } = setup();
    const alice = await signIn(engine, 'alice', { secret: 'alice-data' });
    const mallory = await signIn(engine, 'mallory');
    const far = clock.now() + 86_400_000;
    db.prepare(
      `UPDATE tessera_sessions SET kind = 'rotated', handle = ?, reason = 'regenerate',
         rotated_at = ?, grace_until = ?, expires_at = ? WHERE id = ?`,
    ).run(alice.handle, clock.now(), far, far, row(mallory.handle).id);
    const r = await visit(engine, mallory.token, 'GET');
    expect(r.s.state).toBe('anonymous');
    expect(r.s.userId).toBeNull();
    expect(r.s.get('secret')).toBeUndefined();
    expect(events.some((e) => e.type === 'token_grace_used')).toBe(false);
    expect((await visit(engine, alice.token)).s.get('secret')).toBe('alice-data');
  });
});

describe('a store writer can still', () => {
  it('delete a session (sign its user out)', async () => {
    const { engine, db } = setup();
    const alice = await signIn(engine, 'alice');
    db.prepare('DELETE FROM tessera_sessions WHERE handle = ?').run(alice.handle);
    expect((await visit(engine, alice.token)).s.state).toBe('anonymous');
  });

  it('roll a whole row back to an older state: older data, or a session that was signed out', async () => {
    const { engine, db, row } = setup();
    const alice = await signIn(engine, 'alice', { plan: 'free' });
    const before = row(alice.handle);
    await visit(engine, alice.token, 'POST', (s) => s.set('plan', 'paid'));
    expect((await visit(engine, alice.token)).s.get('plan')).toBe('paid');
    const cols = Object.keys(before);
    const restore = () =>
      db
        .prepare(
          `INSERT OR REPLACE INTO tessera_sessions (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`,
        )
        .run(before);
    restore();
    expect((await visit(engine, alice.token)).s.get('plan')).toBe('free');
    await visit(engine, alice.token, 'POST', (s) => s.destroy());
    expect((await visit(engine, alice.token)).s.state).toBe('anonymous');
    restore();
    const back = await visit(engine, alice.token);
    expect(back.s.state).toBe('active');
    expect(back.s.userId).toBe('alice');
  });

  it('keep a session alive past its idle timeout, but never past its absolute deadline', async () => {
    const { engine, clock, set, row } = setup();
    const alice = await signIn(engine, 'alice');
    const absolute = Number(row(alice.handle).absolute_expires_at);
    set(alice.handle, 'idle_expires_at', absolute);
    clock.advance(2 * 3_600_000); // the idle timeout is 30 minutes
    expect((await visit(engine, alice.token)).s.state).toBe('active');
    clock.advance(absolute - clock.now());
    expect((await visit(engine, alice.token)).s.state).toBe('anonymous');
  });

  it('change the metadata a session list shows (IP, user agent, times)', async () => {
    const { engine, set } = setup();
    const alice = await signIn(engine, 'alice');
    set(alice.handle, 'last_ip', '203.0.113.66');
    set(alice.handle, 'last_user_agent', 'forged');
    const [info] = await engine.list('alice');
    expect(info).toMatchObject({ ip: '203.0.113.66', userAgent: 'forged' });
    expect((await visit(engine, alice.token)).s.state).toBe('active');
  });

  it('undo a sign-out-everywhere in sealed mode by deleting the revocation watermark row', async () => {
    // The shared key-value space (watermarks, counters) is not sealed: deleting or lowering a
    // watermark is a rollback of that row.
    const path = join(dir, `${randomBytes(6).toString('hex')}.db`);
    const store = sqliteStore({ path, sweepIntervalMs: 0 });
    let t = 1_800_000_000_000;
    const sealed = createSealedSessions({
      keys,
      now: () => t,
      revocation: { store: revocationStoreFrom(store, { now: () => t }), cacheMs: 0 },
    });
    const s = await sealed.load({ method: 'POST' });
    await s.authenticate('alice');
    const cookie = (await sealed.commit(s)).setCookie!.split(';')[0]!;
    t += 1000;
    await sealed.revokeAll('alice');
    t += 1000;
    expect((await sealed.load({ cookie, method: 'GET' })).userId).toBeNull();
    const db = new Database(path);
    expect(db.prepare(`DELETE FROM tessera_kv WHERE key LIKE '%alice'`).run().changes).toBe(1);
    expect((await sealed.load({ cookie, method: 'GET' })).userId).toBe('alice');
    db.close();
    await store.close();
  });
});
