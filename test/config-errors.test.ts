/**
 * Configuration mistakes adopters made, each answered at construction with a specific error
 * that says what is wrong and how to fix it (instead of a misleading one, silence, or a 503 on
 * every request later).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSealedSessions, memoryRevocationStore } from '../src/core/sealed.js';
import { createSessions, generateKey, TesseraError } from '../src/index.js';
import { openStore } from '../src/stores/index.js';
import { memoryStore } from '../src/stores/memory/index.js';
import { postgresStore } from '../src/stores/postgres/index.js';
import { connectRedis, redisStore } from '../src/stores/redis/index.js';
import { sqliteStore } from '../src/stores/sqlite/index.js';
import { makeRecord } from '../src/testing/fixtures.js';
import {
  type RedisServer,
  redisBinariesAvailable,
  startRedisServer,
} from './stores/fixtures/redis-servers.js';

/** The error `fn` throws (it must throw a TesseraError). */
function thrown(fn: () => unknown): TesseraError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TesseraError) return e;
    throw new Error(`not a TesseraError: ${String(e)}`);
  }
  throw new Error('did not throw');
}

const key = () => generateKey('k1');
const store = () => memoryStore();
// The options as a JavaScript app (or one with a loosely typed config object) passes them.
const loose = (o: Record<string, unknown>) =>
  createSessions(o as unknown as Parameters<typeof createSessions>[0]);

describe('the key ring at construction', () => {
  it('says to wrap a single key in a list (keys: generateKey()), not that the ring is empty', () => {
    const e = thrown(() => loose({ store: store(), keys: generateKey() }));
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/one object, not a list/);
    expect(e.message).toContain('keys: [generateKey()]');
    expect(e.message).not.toMatch(/empty/);
  });

  it("says a passphrase is not a key (keys: ['keyboard cat']) without repeating it", () => {
    const e = thrown(() => loose({ store: store(), keys: ['keyboard cat'] }));
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/keys\[0\] is a string, not a key/);
    expect(e.message).not.toMatch(/Key id undefined/);
    expect(e.message).not.toContain('keyboard cat');
    const whole = thrown(() => loose({ store: store(), keys: 'keyboard cat' }));
    expect(whole.code).toBe('ERR_KEY');
    expect(whole.message).toMatch(/keys is a string/);
    expect(whole.message).not.toContain('keyboard cat');
  });

  it('names the position of a key object without an id', () => {
    const { secret, createdAt } = key();
    const e = thrown(() => loose({ store: store(), keys: [key(), { secret, createdAt }] }));
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/keys\[1\] has no id/);
  });

  it('refuses a 64-character hex secret (docs/keys.md says base64 of 32 bytes)', () => {
    const hex = randomBytes(32).toString('hex');
    const e = thrown(() =>
      createSessions({ store: store(), keys: [{ id: 'k1', secret: hex, createdAt: 0 }] }),
    );
    expect(e.code).toBe('ERR_KEY');
    expect(e.message).toMatch(/hex secret \(64 hex digits\)/);
    expect(e.message).toContain("Buffer.from(hex, 'hex').toString('base64')");
    expect(e.message).not.toContain(hex);
    // Its conversion is accepted, and so are the bytes it was read as before (to keep sessions).
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    const before = Buffer.from(hex, 'base64');
    for (const secret of [b64, before])
      expect(() =>
        createSessions({ store: store(), keys: [{ id: 'k1', secret, createdAt: 0 }] }),
      ).not.toThrow();
  });
});

describe('options.store at construction', () => {
  it('says a store URL string must be opened first, not that the store is missing', () => {
    const e = thrown(() => loose({ store: 'redis://127.0.0.1:6379', keys: [key()] }));
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/options\.store is a string, not a store/);
    expect(e.message).toContain('openStore(url)');
    expect(e.message).not.toMatch(/missing/);
  });

  it('refuses a factory that was not called, a Redis client and a partial object', () => {
    const f = thrown(() => loose({ store: redisStore, keys: [key()] }));
    expect(f.code).toBe('ERR_CONFIG');
    expect(f.message).toMatch(/is a function \(redisStore\), not a store/);
    // An ioredis client has get(): it passed the old check, and every request then failed.
    const client = new Redis({ lazyConnect: true });
    try {
      const c = thrown(() => loose({ store: client, keys: [key()] }));
      expect(c.code).toBe('ERR_CONFIG');
      expect(c.message).toMatch(/not a session store/);
      expect(c.message).toContain('redisStore({ client })');
    } finally {
      client.disconnect();
    }
    const partial = thrown(() =>
      loose({ store: { name: 'x', get: async () => null }, keys: [key()] }),
    );
    expect(partial.code).toBe('ERR_CONFIG');
    expect(partial.message).toMatch(/lacks getByHandle, create/);
    expect(thrown(() => loose({ keys: [key()] })).message).toMatch(/options\.store is missing/);
  });
});

describe('unknown options at construction', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ maxAge: 3_600_000 }, /Unknown option maxAge — did you mean absoluteTimeout/],
    [{ idleTimout: 600 }, /Unknown option idleTimout — did you mean idleTimeout\?/],
    [{ IdleTimeout: 600 }, /did you mean idleTimeout\?/],
    [{ secret: 'keyboard cat' }, /Unknown option secret — did you mean keys\?/],
    [{ name: 'sid' }, /Unknown option name — did you mean cookie\.name\?/],
    [{ resave: false }, /tessera has no resave/],
    [{ saveUninitialized: false }, /tessera has no saveUninitialized/],
    [{ secure: false }, /Unknown option secure — did you mean cookie\.secure\?/],
    [{ cookie: { maxAge: 1000 } }, /Unknown option cookie\.maxAge — .*persistent: true/],
    [{ cookie: { sameSite: 'Lax', httpOnyl: true } }, /did you mean cookie\.httpOnly\?/],
    [{ csrf: { origin: ['https://a.example'] } }, /did you mean csrf\.origins\?/],
    [{ sessionLimit: { maximum: 3 } }, /did you mean sessionLimit\.max\?/],
    [{ csrf: true }, /Option csrf must be an object/],
    [{ zzzzzzzzz: 1 }, /Unknown option zzzzzzzzz; known options: store, keys, /],
  ];
  for (const [extra, message] of cases) {
    it(`refuses ${JSON.stringify(extra)} with ERR_CONFIG naming what to use`, () => {
      const e = thrown(() => loose({ store: store(), keys: [key()], ...extra }));
      expect(e.code).toBe('ERR_CONFIG');
      expect(e.message).toMatch(message);
    });
  }

  it('accepts every documented option, and sealed mode its own revocation option', () => {
    expect(() =>
      createSessions({
        store: store(),
        keys: [key()],
        preset: 'nist-aal2',
        idleTimeout: 600,
        absoluteTimeout: 3600,
        cookie: { name: '__Host-x', sameSite: 'Strict', path: '/' },
        csrf: { enabled: true, origins: ['https://a.example'], headerName: 'x-t' },
        sessionLimit: { max: 3, policy: 'reject' },
        now: Date.now,
      }),
    ).not.toThrow();
    expect(() =>
      createSealedSessions({ keys: [key()], revocation: { store: memoryRevocationStore() } }),
    ).not.toThrow();
    const e = thrown(() =>
      createSealedSessions({ keys: [key()], maxAge: 60 } as unknown as Parameters<
        typeof createSealedSessions
      >[0]),
    );
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/did you mean absoluteTimeout/);
  });
});

/** The error a promise rejects with (it must reject with a TesseraError). */
async function rejected(p: Promise<unknown>): Promise<TesseraError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TesseraError) return e;
    throw new Error(`not a TesseraError: ${String(e)}`);
  }
  throw new Error('did not reject');
}

const tmp = mkdtempSync(join(tmpdir(), 'tessera-config-errors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('store factories refuse what is not their input', () => {
  it('redisStore(client) instead of redisStore({ client }) fails at construction', () => {
    const client = new Redis({ lazyConnect: true });
    try {
      // ioredis has a client() method (the CLIENT command): this passed before, then every call 503'd.
      const e = thrown(() => redisStore(client as never));
      expect(e.code).toBe('ERR_CONFIG');
      expect(e.message).toContain('you passed the client itself, write redisStore({ client })');
      const url = thrown(() => redisStore({ client: 'redis://127.0.0.1:6379' as never }));
      expect(url.code).toBe('ERR_CONFIG');
      expect(url.message).toMatch(/connectRedis\(url\)/);
    } finally {
      client.disconnect();
    }
  });

  it('postgresStore refuses a URL string or the bare pool as its pool', () => {
    const e = thrown(() => postgresStore({ pool: 'postgres://u@db/x' as never }));
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/connectPostgres\(url\)/);
    const bare = thrown(() => postgresStore({ query: () => {}, connect: () => {} } as never));
    expect(bare.message).toMatch(/you passed the pool itself/);
  });

  it('sqliteStore({ path }) creates a missing folder instead of reporting a store outage', async () => {
    const path = join(tmp, 'data', 'nested', 'x.db');
    const store = sqliteStore({ path });
    try {
      const r = makeRecord({ userId: 'u1' });
      await store.create(r);
      expect((await store.get(r.id))?.kind).toBe('live');
      expect(existsSync(path)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('sqliteStore says what is wrong with a path it cannot use, and with a non-database', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    const e = thrown(() => sqliteStore({ path: join(file, 'x.db') }));
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toContain(`cannot create the folder ${file}`);
    const dir = join(tmp, 'a-folder');
    mkdirSync(dir);
    const d = thrown(() => sqliteStore({ path: dir }));
    expect(d.code).toBe('ERR_CONFIG');
    expect(d.message).toContain(`cannot open the database file ${dir}`);
    expect(thrown(() => sqliteStore({ database: 'x.db' as never })).message).toMatch(
      /database is a string: pass \{ path \}/,
    );
    expect(thrown(() => sqliteStore('x.db' as never)).message).toContain(
      'sqliteStore({ path: "x.db" })',
    );
  });

  it('openStore passes the namespace to the store and refuses one of another store', async () => {
    const path = join(tmp, 'ns.db');
    const store = await openStore(`sqlite:${path}`, { tablePrefix: 'app_' });
    const r = makeRecord();
    await store.create(r);
    await store.close();
    const same = sqliteStore({ path, tablePrefix: 'app_' });
    expect((await same.get(r.id))?.id).toBe(r.id);
    await same.close();
    for (const [url, o] of [
      [`sqlite:${path}`, { schema: 'app' }],
      [`sqlite:${path}`, { prefix: 'app:' }],
      ['memory', { tablePrefix: 'app_' }],
      ['redis://127.0.0.1:1', { schema: 'app' }],
      ['postgres://u@127.0.0.1:1/x', { prefix: 'app:' }],
    ] as const) {
      const e = await rejected(openStore(url, o));
      expect(e.code).toBe('ERR_CONFIG');
      expect(e.message).toMatch(/applies to (redis|postgres|sqlite) stores only/);
    }
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

describe('connectRedis', () => {
  it('names host:port and ECONNREFUSED when Redis is down at start-up', async () => {
    const port = await closedPort();
    const e = await rejected(connectRedis(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 500 }));
    expect(e.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(e.message).toContain(`127.0.0.1:${port}`);
    expect(e.message).toContain('ECONNREFUSED');
  });

  it('refuses every URL part it would misread, before connecting', async () => {
    for (const [url, message] of [
      ['redis://127.0.0.1:6379/abc', /the path "\/abc" is not a database number/],
      ['redis://127.0.0.1:6379/1/2', /is not a database number/],
      ['redis://127.0.0.1:6379/?dbb=2', /unknown URL parameter "dbb"/],
      ['redis://127.0.0.1:6379/1?db=2', /given twice/],
      ['redis://127.0.0.1:6379/#x', /fragment/],
      ['redis://127.0.0.1:0', /port 0/],
      ['redis://127.0.0.1:99999', /malformed/],
      ['redis+cluster://127.0.0.1:7000,127.0.0.1:7001/3', /Cluster has only database 0/],
      ['redis://:s3cret@127.0.0.1:6379/x', /redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/x/],
    ] as const) {
      const e = await rejected(connectRedis(url));
      expect(e.code, url).toBe('ERR_CONFIG');
      expect(e.message, url).toMatch(message);
      expect(e.message).not.toContain('s3cret');
    }
  });
});

describe.skipIf(!redisBinariesAvailable())('connectRedis on its own redis-server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('fails with ERR_CONFIG on a database the server does not have, instead of using database 0', async () => {
    const e = await rejected(connectRedis(`${server.url}/99`));
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toContain('refuses database 99');
    expect(e.message).toContain(`${server.url}/99`);
    const q = await rejected(connectRedis(`${server.url}?db=16`));
    expect(q.message).toContain('refuses database 16');
  });

  it('selects a database the server has, and stays on it', async () => {
    const client = (await connectRedis(`${server.url}/15`)) as Redis;
    try {
      expect(String(await client.client('INFO'))).toMatch(/\bdb=15\b/);
    } finally {
      client.disconnect();
    }
  });
});

describe('tessera-session/fastify without fastify-plugin', () => {
  it('says to install the optional peer dependency, as the store drivers do', () => {
    const root = join(import.meta.dirname, '..');
    if (!existsSync(join(root, 'dist', 'adapters', 'fastify', 'index.js')))
      throw new Error('dist/ is not built: run `npm run build`');
    // An app with tessera-session installed and fastify-plugin not.
    const app = join(tmp, 'fastify-app');
    const pkg = join(app, 'node_modules', 'tessera-session');
    mkdirSync(pkg, { recursive: true });
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
    writeFileSync(
      join(app, 'main.mjs'),
      [
        "import { createSessions, generateKey } from 'tessera-session';",
        "import { memoryStore } from 'tessera-session/memory';",
        "import { session } from 'tessera-session/fastify';",
        'try {',
        "  session(createSessions({ store: memoryStore(), keys: [generateKey('k1')] }));",
        "  console.log('no error');",
        '} catch (e) {',
        '  console.log(JSON.stringify({ code: e.code, message: e.message }));',
        '}',
        '',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      code: 'ERR_CONFIG',
      message:
        "tessera-session/fastify needs the optional peer dependency 'fastify-plugin': npm install fastify-plugin",
    });
  });
});
