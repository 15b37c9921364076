import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessions, generateKey, KeyRing } from '../src/index.js';
import { loadKeys } from '../src/keys/index.js';
import { postgresStore } from '../src/stores/postgres/index.js';
import { connectRedis, redisStore } from '../src/stores/redis/index.js';
import { sqliteStore } from '../src/stores/sqlite/index.js';
import { makeRecord } from '../src/testing/fixtures.js';
import {
  type RedisServer,
  redisBinariesAvailable,
  startRedisServer,
} from './stores/fixtures/redis-servers.js';
import { DATABASE_URL, postgresAvailable, requireService } from './support/services.js';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli', 'index.js');
const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
const db = join(dir, 'cli.db');
const store = `sqlite:${db}`;

function runIn(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, TESSERA_STORE: '', ...env },
    timeout: 20_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function run(...args: string[]) {
  return runIn(root, args);
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
    const rows = JSON.parse(all.out) as { handle: string; userId: string }[];
    expect(rows.map((r) => r.userId).sort()).toEqual(['alice', 'alice', 'bob']);
    for (const t of tokens) expect(all.out).not.toContain(t.split('.')[3]);
    const bob = JSON.parse(
      run('sessions', 'list', '--user', 'bob', '--store', store, '--json').out,
    );
    expect(bob).toHaveLength(1);
    const human = run('sessions', 'list', '--store', store);
    expect(human.out).toMatch(/^handle\s+userId\s+createdAt/);
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
    expect(JSON.parse(r.out)).toEqual({ userId: 'alice', revoked: 2 });
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

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe('tessera CLI as adopters used it', () => {
  const work = mkdtempSync(join(tmpdir(), 'tessera-cli-adopt-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('keygen prints only the key ring on stdout, so TESSERA_KEYS="$(tessera keygen)" loads', () => {
    const r = run('keygen');
    expect(r.code).toBe(0);
    // What the shell's $(…) keeps: stdout without its trailing newline.
    const env = r.out.replace(/\n$/, '');
    expect(env.split('\n')).toHaveLength(1);
    const keys = loadKeys({ env, dir: work, production: true });
    expect(keys).toHaveLength(1);
    expect(() => new KeyRing(keys)).not.toThrow();
    expect(r.err).toMatch(/never commit it/i);
  });

  it('sessions list without --store or TESSERA_STORE exits 2 and creates nothing', () => {
    const app = join(work, 'app');
    mkdirSync(app);
    const r = runIn(app, ['sessions', 'list']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--store/);
    expect(r.err).toMatch(/TESSERA_STORE/);
    expect(existsSync(join(app, '.tessera'))).toBe(false);
    // TESSERA_STORE alone is enough.
    const db = join(work, 'env.db');
    expect(runIn(app, ['stats', '--json'], { TESSERA_STORE: `sqlite:${db}` }).code).toBe(0);
    expect(existsSync(db)).toBe(true);
  });

  it('doctor exits 2, not 3, for a config module that cannot be loaded or is no configuration', () => {
    const throws = join(work, 'throws.mjs');
    writeFileSync(throws, "throw new Error('DATABASE_URL is not set');\n");
    const a = run('doctor', throws);
    expect(a.code).toBe(2);
    expect(a.err).toContain('DATABASE_URL is not set');
    const app = join(work, 'app.mjs');
    writeFileSync(app, 'export default function handler(req, res) {}\n');
    const b = run('doctor', app);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/does not hold a session configuration/);
    const typo = join(work, 'typo.json');
    writeFileSync(typo, JSON.stringify({ maxAge: 3_600_000 }));
    const c = run('doctor', typo);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/maxAge — did you mean absoluteTimeout/);
    expect(run('doctor', join(work, 'missing.js')).code).toBe(2);
  });

  it('doctor on a .ts config: exit 2 saying how without tsx, and loads it with the project tsx', () => {
    const project = join(work, 'ts-project');
    mkdirSync(join(project, 'src'), { recursive: true });
    const config = join(project, 'src', 'server.ts');
    writeFileSync(
      config,
      [
        "import { createSessions, generateKey } from 'tessera-session';",
        "import { memoryStore } from 'tessera-session/memory';",
        'const idleTimeout: number = 600;',
        "export const sessions = createSessions({ store: memoryStore(), keys: [generateKey('k1')], idleTimeout });",
        '',
      ].join('\n'),
    );
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(root, join(project, 'node_modules', 'tessera-session'), 'dir');
    const without = runIn(project, ['doctor', './src/server.ts']);
    expect(without.code).toBe(2);
    expect(without.err).toMatch(/does not run TypeScript/);
    expect(without.err).toMatch(/tsx/);
    expect(without.err).toMatch(/\.js/);
    symlinkSync(join(root, 'node_modules', 'tsx'), join(project, 'node_modules', 'tsx'), 'dir');
    const withTsx = runIn(project, ['doctor', './src/server.ts', '--json']);
    expect(withTsx.code).toBe(0);
    const { findings } = JSON.parse(withTsx.out) as { findings: { message: string }[] };
    expect(findings.map((f) => f.message)).toContain('idle timeout 600s is within 1800s');
  });

  it('doctor on a sealed-mode engine says the data is sealed in the cookie, not "stored unencrypted"', () => {
    const config = join(work, 'sealed.mjs');
    const entry = join(root, 'dist', 'index.js');
    writeFileSync(
      config,
      `import { createSealedSessions, generateKey } from ${JSON.stringify(entry)};\n` +
        "export const sessions = createSealedSessions({ keys: [generateKey('k1')] });\n",
    );
    const r = run('doctor', config, '--level', 'L3', '--json');
    const { findings } = JSON.parse(r.out) as { findings: { message: string; status: string }[] };
    const messages = findings.map((f) => f.message);
    expect(messages).not.toContain('session data is stored unencrypted');
    expect(messages).toContain('session data is sealed in the cookie (AES-256-GCM)');
  });

  it('doctor calls a key made while the config loaded "less than a day old", never "-1 days"', () => {
    const config = join(work, 'fresh-key.mjs');
    // As a compact TESSERA_KEYS key without a date: made when the config is read. The timer
    // stands for the server or pool an app module starts: doctor must still end.
    writeFileSync(
      config,
      "setInterval(() => {}, 60_000);\nexport const options = { keys: [{ id: 'k1', createdAt: Date.now() }] };\n",
    );
    const r = run('doctor', config);
    expect(r.code).toBe(0);
    expect(r.out).toContain('primary key "k1" is less than a day old');
    expect(r.out).not.toMatch(/-1 days/);
  });

  it('names host:port and ECONNREFUSED when Redis is down at start-up (exit 3)', async () => {
    const port = await closedPort();
    const r = run('stats', '--store', `redis://127.0.0.1:${port}`);
    expect(r.code).toBe(3);
    expect(r.err).toContain(`127.0.0.1:${port}`);
    expect(r.err).toContain('ECONNREFUSED');
  });

  it('takes a SQLite table prefix (--table-prefix) and refuses a namespace of another store', () => {
    const db = join(work, 'shared.db');
    const s = sqliteStore({ path: db, tablePrefix: 'appa_' });
    return s
      .create(makeRecord({ userId: 'ann' }))
      .then(() => s.close())
      .then(() => {
        const mine = run(
          'sessions',
          'list',
          '--store',
          `sqlite:${db}`,
          '--table-prefix',
          'appa_',
          '--json',
        );
        expect(mine.code).toBe(0);
        expect((JSON.parse(mine.out) as { userId: string }[]).map((r) => r.userId)).toEqual([
          'ann',
        ]);
        const other = run('sessions', 'list', '--store', `sqlite:${db}`, '--json');
        expect(JSON.parse(other.out)).toEqual([]);
        const wrong = run('stats', '--store', `sqlite:${db}`, '--schema', 'appa');
        expect(wrong.code).toBe(2);
        expect(wrong.err).toMatch(/schema applies to postgres stores only/);
      });
  });
});

describe.skipIf(!redisBinariesAvailable())('tessera CLI on its own redis-server', () => {
  let server: RedisServer;
  const prefix = `cli${randomBytes(4).toString('hex')}:`;
  beforeAll(async () => {
    server = await startRedisServer();
    const client = await connectRedis(server.url);
    const store = redisStore({ client, prefix });
    // A store with slot tags needs the app's tagger to write a user's index (any one here: the
    // CLI lists every session by scanning, without naming the user).
    store.useSlotTags?.(() => 'cli');
    await store.create(makeRecord({ userId: 'other-app-user' }));
    client.disconnect();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses an out-of-range database (/99) with exit 2 instead of listing database 0', () => {
    const r = run('sessions', 'list', '--store', `${server.url}/99`, '--prefix', prefix, '--json');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/refuses database 99/);
    expect(r.err).toContain(`${server.url}/99`);
  });

  it("reads the app's key prefix (--prefix)", () => {
    const mine = run(
      'sessions',
      'list',
      '--store',
      `${server.url}/0`,
      '--prefix',
      prefix,
      '--json',
    );
    expect(mine.code).toBe(0);
    expect((JSON.parse(mine.out) as { userId: string }[]).map((r) => r.userId)).toEqual([
      'other-app-user',
    ]);
    const dflt = run('sessions', 'list', '--store', server.url, '--json');
    expect(JSON.parse(dflt.out)).toEqual([]);
  });
});

const pgUp = requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable());
describe.skipIf(!pgUp)('tessera CLI on PostgreSQL', () => {
  const schema = `cli_${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    const pg = (await import('pg')).default;
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  });

  it("reads the app's schema (--schema)", async () => {
    const pg = (await import('pg')).default;
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    const store = postgresStore({ pool, schema });
    await store.create(makeRecord({ userId: 'pg-user' }));
    await store.close();
    await pool.end();
    const r = run('sessions', 'list', '--store', DATABASE_URL, '--schema', schema, '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { userId: string }[]).map((x) => x.userId)).toEqual(['pg-user']);
  });
});
