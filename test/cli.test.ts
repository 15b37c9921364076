import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessions, generateKey, KeyRing } from '../src/index.js';
import { sqliteStore } from '../src/stores/sqlite/index.js';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli', 'index.js');
const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
const db = join(dir, 'cli.db');
const store = `sqlite:${db}`;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TESSERA_STORE: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const tokens: string[] = [];

describe('tessera CLI', () => {
  beforeAll(async () => {
    const engine = createSessions({ store: sqliteStore({ path: db }), keys: [generateKey('k1')] });
    for (const user of ['alice', 'alice', 'bob']) {
      const s = await engine.load({ method: 'POST' });
      await s.authenticate(user);
      tokens.push((await engine.commit(s)).setCookie!.split(';')[0]!.split('=')[1]!);
    }
    await engine.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keygen prints a key the key ring accepts', () => {
    const r = run('keygen', '--id', 'k9', '--json');
    expect(r.code).toBe(0);
    const k = JSON.parse(r.out);
    expect(k.id).toBe('k9');
    expect(() => new KeyRing([k])).not.toThrow();
  });

  it('lists sessions (all and per user) without ever printing a token', () => {
    const all = run('sessions', 'list', '--store', store, '--json');
    expect(all.code).toBe(0);
    const rows = JSON.parse(all.out) as { handle: string; user: string }[];
    expect(rows.map((r) => r.user).sort()).toEqual(['alice', 'alice', 'bob']);
    for (const t of tokens) expect(all.out).not.toContain(t.split('.')[3]);
    const bob = JSON.parse(
      run('sessions', 'list', '--user', 'bob', '--store', store, '--json').out,
    );
    expect(bob).toHaveLength(1);
    const human = run('sessions', 'list', '--store', store);
    expect(human.out).toMatch(/^handle\s+user\s+created/);
  });

  it('stats counts live sessions', () => {
    const s = JSON.parse(run('stats', '--store', store, '--json').out);
    expect(s).toMatchObject({ live: 3, authenticated: 3, anonymous: 0, users: 2, maxPerUser: 2 });
  });

  it('revokes one session by handle, then a whole user, with exit codes scripts can rely on', () => {
    const bob = JSON.parse(
      run('sessions', 'list', '--user', 'bob', '--store', store, '--json').out,
    )[0];
    expect(run('sessions', 'revoke', bob.handle, '--store', store).code).toBe(0);
    expect(run('sessions', 'revoke', bob.handle, '--store', store).code).toBe(1);
    const r = run('sessions', 'revoke-user', 'alice', '--store', store, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ user: 'alice', revoked: 2 });
    expect(JSON.parse(run('stats', '--store', store, '--json').out).live).toBe(0);
  });

  it('sweep runs', () => {
    const r = run('sweep', '--store', store, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).removed).toBeGreaterThanOrEqual(0);
  });

  it('doctor passes the defaults at L2 and fails a weak configuration, naming the rules', () => {
    const good = join(dir, 'good.json');
    writeFileSync(
      good,
      JSON.stringify({ keys: [{ id: 'k1', createdAt: new Date().toISOString() }] }),
    );
    const ok = run('doctor', good, '--json');
    expect(ok.code).toBe(0);
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        idleTimeout: 86_400,
        absoluteTimeout: 604_800,
        cookie: { name: 'sid', httpOnly: false },
        csrf: { enabled: false },
        keys: [{ id: 'old', createdAt: '2020-01-01' }],
      }),
    );
    const r = run('doctor', bad, '--level', 'L3');
    expect(r.code).toBe(1);
    expect(r.out).toContain('ASVS 4.0.3 V3.3.2 (L3)');
    expect(r.out).toContain('V3.4.2');
    expect(r.out).toContain('NIST SP 800-63B');
    expect(r.out).toMatch(/CSRF protection is off/);
    const j = JSON.parse(run('doctor', bad, '--json').out);
    expect(j.fails).toBeGreaterThanOrEqual(4);
  });

  it('answers a bad URL with exit 2 and an unreachable store with exit 3', () => {
    const bad = run('stats', '--store', 'mysql://x');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/Unknown store URL/);
    const down = run('stats', '--store', 'redis://127.0.0.1:1');
    expect(down.code).toBe(3);
    expect(down.err).toMatch(/unavailable/);
    expect(run('frobnicate').code).toBe(2);
    expect(run('--help').code).toBe(0);
  });
});
