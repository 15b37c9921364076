/**
 * The demo's start-up: environment parsing (in-process), the login limiter's window (fake
 * clock), small helpers, and the start-up of the real process (errors, the key ring from
 * TESSERA_KEYS or from the development key file). The key file itself — atomic creation, mode
 * 0600, several processes at once — is tested with the library (src/keys/index.test.ts); two
 * demo instances sharing it are tested in instances.test.ts.
 */
import { chmodSync, chownSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { generateKey } from 'tessera-session';
import { memoryStore } from 'tessera-session/memory';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, parseConfig } from '../../demo/config.js';
import { localPath } from '../../demo/http.js';
import { AttemptLimiter, CREDIT_SLOTS, LIMIT_WINDOW_MS } from '../../demo/limits.js';
import { escapeHtml } from '../../demo/pages.js';
import { freePort, startDemo, startDemoExpectingFailure, tempDir } from './helpers.js';

const folders: ReturnType<typeof tempDir>[] = [];
function folder(): string {
  const f = tempDir();
  folders.push(f);
  return f.dir;
}
afterAll(() => {
  for (const f of folders) f.remove();
});

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  return [];
}

describe('parseConfig', () => {
  it('applies the documented defaults', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      store: 'sqlite:.tessera/demo.db',
      storePrefix: null,
      storeSchema: null,
      keys: null,
      idleTimeout: 1800,
      absoluteTimeout: 43_200,
      freshAge: 300,
      rotationGrace: 10,
      loginLimit: 10,
      stateDir: DEFAULTS.stateDir,
      developmentKey: true,
    });
    expect(c.origins).toEqual(['http://127.0.0.1:3000', 'http://localhost:3000']);
  });

  it('allows HOST, 127.0.0.1 and localhost on PORT, plus TESSERA_ORIGINS', () => {
    const c = parseConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      TESSERA_ORIGINS: 'https://App.Example.com, http://localhost:5173/',
    });
    expect(c.origins).toEqual([
      'http://0.0.0.0:8080',
      'http://127.0.0.1:8080',
      'http://localhost:8080',
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    expect(parseConfig({ HOST: '::1', PORT: '4000' }).origins[0]).toBe('http://[::1]:4000');
  });

  it('reads every setting', () => {
    const c = parseConfig({
      TESSERA_STORE: 'memory',
      TESSERA_IDLE_TIMEOUT: '60',
      TESSERA_ABSOLUTE_TIMEOUT: '60',
      TESSERA_FRESH_AGE: '5',
      TESSERA_ROTATION_GRACE: '0',
      TESSERA_LOGIN_LIMIT: '0',
      TESSERA_STORE_PREFIX: 'demo-2:',
      TESSERA_STORE_SCHEMA: 'demo_2',
    });
    expect(c).toMatchObject({
      store: 'memory',
      storePrefix: 'demo-2:',
      storeSchema: 'demo_2',
      idleTimeout: 60,
      absoluteTimeout: 60,
      freshAge: 5,
      rotationGrace: 0,
      loginLimit: 0,
    });
    for (const store of [
      'sqlite:/tmp/x.db',
      'redis://127.0.0.1:6379',
      'rediss://u:p@host:6380/2',
      'redis+cluster://a:1,b:2',
      'postgres://postgres@127.0.0.1:5432/test',
      'postgresql://h/db',
    ]) {
      expect(parseConfig({ TESSERA_STORE: store }).store).toBe(store);
    }
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '0' }, 'PORT'],
    [{ PORT: '65536' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ HOST: 'bad host/' }, 'HOST'],
    [{ TESSERA_STORE: 'mysql://x' }, 'TESSERA_STORE'],
    [{ TESSERA_STORE: 'sqlite:' }, 'TESSERA_STORE'],
    [{ TESSERA_IDLE_TIMEOUT: '0' }, 'TESSERA_IDLE_TIMEOUT'],
    [{ TESSERA_ABSOLUTE_TIMEOUT: '0' }, 'TESSERA_ABSOLUTE_TIMEOUT'],
    [{ TESSERA_IDLE_TIMEOUT: '-5' }, 'TESSERA_IDLE_TIMEOUT'],
    [{ TESSERA_IDLE_TIMEOUT: '1e3' }, 'TESSERA_IDLE_TIMEOUT'],
    [{ TESSERA_IDLE_TIMEOUT: '100', TESSERA_ABSOLUTE_TIMEOUT: '50' }, 'longer than'],
    [{ TESSERA_FRESH_AGE: '0' }, 'TESSERA_FRESH_AGE'],
    [{ TESSERA_ROTATION_GRACE: '61' }, 'TESSERA_ROTATION_GRACE'],
    [{ TESSERA_LOGIN_LIMIT: '-1' }, 'TESSERA_LOGIN_LIMIT'],
    [{ TESSERA_ORIGINS: 'ftp://x' }, 'TESSERA_ORIGINS'],
    [{ TESSERA_ORIGINS: 'https://a.example/path' }, 'TESSERA_ORIGINS'],
    [{ TESSERA_KEYS: 'garbage' }, 'TESSERA_KEYS'],
    [{ TESSERA_KEYS: 'k1:dG9vLXNob3J0' }, 'TESSERA_KEYS'],
    [{ TESSERA_KEYS: '[{"id":"k1"}]' }, 'TESSERA_KEYS'],
    [{ TESSERA_STORE_PREFIX: 'a{b}:' }, 'TESSERA_STORE_PREFIX'],
    [{ TESSERA_STORE_SCHEMA: 'Demo' }, 'TESSERA_STORE_SCHEMA'],
    [{ TESSERA_STORE_SCHEMA: 'a-b' }, 'TESSERA_STORE_SCHEMA'],
    [{ TESSERA_STORE_SCHEMA: `s${'x'.repeat(63)}` }, 'TESSERA_STORE_SCHEMA'],
  ])('refuses %j with a message naming %s', (env, name) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
  });

  it('reports every problem at once', () => {
    expect(
      problemsOf({ PORT: 'x', TESSERA_IDLE_TIMEOUT: '0', TESSERA_STORE: 'nope' }),
    ).toHaveLength(3);
  });

  it('reads TESSERA_KEYS in the JSON and the compact form, primary first', () => {
    const a = generateKey('a');
    const b = generateKey('b');
    expect(parseConfig({ TESSERA_KEYS: JSON.stringify([a, b]) }).keys).toEqual([a, b]);
    expect(parseConfig({ TESSERA_KEYS: `a:${a.secret}:2026-01-02, b:${b.secret}` }).keys).toEqual([
      { id: 'a', secret: a.secret, createdAt: '2026-01-02' },
      { id: 'b', secret: b.secret, createdAt: expect.any(Number) },
    ]);
  });

  it('never repeats a key secret in its messages', () => {
    const secret = generateKey('k1').secret.slice(0, 20);
    for (const p of problemsOf({ TESSERA_KEYS: `k1:${secret}` })) expect(p).not.toContain(secret);
    // An unquoted secret: JSON.parse's own message would quote the text around it.
    const bare = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY';
    const problems = problemsOf({ TESSERA_KEYS: `[{"id":"k1","secret":${bare}}]` });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('TESSERA_KEYS is not valid');
    expect(problems[0]).not.toContain(bare.slice(0, 6));
  });
});

describe('AttemptLimiter', () => {
  /** One attempt whose password turns out wrong: reserved, and the slot kept. */
  async function wrong(limiter: AttemptLimiter, name: string, ip: string): Promise<void> {
    expect((await limiter.reserve(name, ip)).limited).toBe(false);
  }

  /** One attempt whose password turns out right: reserved, then refunded. */
  async function right(limiter: AttemptLimiter, name: string, ip: string): Promise<boolean> {
    const a = await limiter.reserve(name, ip);
    if (a.limited) return false;
    await a.refund();
    return true;
  }

  it('locks after N failures until the fixed window from the first attempt ends', async () => {
    let now = 1_000_000;
    const limiter = new AttemptLimiter(memoryStore({ now: () => now }), 3, () => now);
    await wrong(limiter, 'Alice', '10.0.0.1');
    now += 20_000;
    await wrong(limiter, 'ALICE', '10.0.0.1');
    now += 20_000;
    await wrong(limiter, 'alice', '10.0.0.1');
    expect(await limiter.reserve('alice', '10.0.0.1')).toEqual({ limited: true, retryAfter: 20 });
    expect(await right(limiter, 'alice', '10.0.0.2')).toBe(true);
    expect(await right(limiter, 'bob', '10.0.0.1')).toBe(true);
    now = 1_000_000 + LIMIT_WINDOW_MS - 1;
    expect(await limiter.reserve('alice', '10.0.0.1')).toEqual({ limited: true, retryAfter: 1 });
    now = 1_000_000 + LIMIT_WINDOW_MS;
    // A new window starts at the next attempt.
    await wrong(limiter, 'alice', '10.0.0.1');
    expect(await right(limiter, 'alice', '10.0.0.1')).toBe(true);
  });

  it('lets exactly N of 30 parallel attempts through', async () => {
    const limiter = new AttemptLimiter(memoryStore(), 10);
    const all = await Promise.all(Array.from({ length: 30 }, () => limiter.reserve('a', 'ip')));
    expect(all.filter((a) => !a.limited)).toHaveLength(10);
    expect(all.filter((a) => a.limited)).toHaveLength(20);
    expect((await limiter.reserve('a', 'ip')).limited).toBe(true);
  });

  it('gives a right password its slot back, in order or in parallel', async () => {
    const limiter = new AttemptLimiter(memoryStore(), 3);
    for (let i = 0; i < 12; i++) expect(await right(limiter, 'a', 'ip')).toBe(true);
    // N attempts may be unsettled at once; their parallel refunds are all credited.
    const parallel = await Promise.all(Array.from({ length: 3 }, () => right(limiter, 'a', 'ip')));
    expect(parallel).toEqual([true, true, true]);
    for (let i = 0; i < 3; i++) await wrong(limiter, 'a', 'ip');
    expect((await limiter.reserve('a', 'ip')).limited).toBe(true);
    expect(await right(limiter, 'a', 'ip')).toBe(false);
  });

  it('never lets more than N attempts be unsettled at once, right passwords included', async () => {
    const limiter = new AttemptLimiter(memoryStore(), 3);
    const held = await Promise.all(Array.from({ length: 8 }, () => limiter.reserve('b', 'ip')));
    expect(held.filter((a) => !a.limited)).toHaveLength(3);
    // More refunds at once than the credit list keeps: some may be lost, which only makes the
    // limit stricter — never looser.
    const other = new AttemptLimiter(memoryStore(), CREDIT_SLOTS * 2);
    const many = await Promise.all(
      Array.from({ length: CREDIT_SLOTS * 2 }, () => other.reserve('c', 'ip')),
    );
    await Promise.all(many.map((a) => (a.limited ? null : a.refund())));
    let wrongs = 0;
    while (!(await other.reserve('c', 'ip')).limited) wrongs++;
    expect(wrongs).toBeLessThanOrEqual(CREDIT_SLOTS * 2);
    expect(wrongs).toBeGreaterThan(0);
  });

  it('does nothing when the limit is 0', async () => {
    const limiter = new AttemptLimiter(memoryStore(), 0);
    for (let i = 0; i < 20; i++) await wrong(limiter, 'a', 'ip');
    expect((await limiter.reserve('a', 'ip')).limited).toBe(false);
  });
});

describe('demo helpers', () => {
  it('keeps redirects on this origin', () => {
    expect(localPath('/sessions')).toBe('/sessions');
    expect(localPath('/a?b=c#d')).toBe('/a?b=c#d');
    for (const bad of [
      '//evil.test',
      '/\\evil.test',
      'https://evil.test',
      'sessions',
      '/a\\b',
      '/a b',
      '/é',
      42,
      undefined,
    ]) {
      expect(localPath(bad), String(bad)).toBe('/');
    }
  });

  it('escapes HTML', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&`)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;',
    );
  });
});

describe('demo start-up', () => {
  it.each([
    [{ PORT: 'abc' }, /PORT="abc" is not valid/],
    [{ TESSERA_IDLE_TIMEOUT: '0' }, /TESSERA_IDLE_TIMEOUT="0" is not valid/],
    [{ TESSERA_IDLE_TIMEOUT: '600', TESSERA_ABSOLUTE_TIMEOUT: '60' }, /must not exceed/],
    [{ TESSERA_STORE: 'mongodb://x' }, /TESSERA_STORE/],
    [{ TESSERA_KEYS: 'nonsense' }, /TESSERA_KEYS is not valid/],
    [{ TESSERA_STORE: 'redis://127.0.0.1:1' }, /Cannot open the store redis:\/\/127\.0\.0\.1:1/],
  ])('exits non-zero with a clear message for %j', async (env, message) => {
    const r = await startDemoExpectingFailure({ PORT: '3999', ...env }, folder());
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('tessera demo: cannot start');
    expect(r.output).toMatch(message);
  });

  it('exits non-zero when the port is taken', async () => {
    const port = await freePort();
    const blocker = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const r = await startDemoExpectingFailure({ PORT: String(port) }, folder());
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(`Port ${port} on 127.0.0.1 is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('uses TESSERA_KEYS without writing a key file, and creates the SQLite folder', async () => {
    const dir = folder();
    const key = generateKey('envkey');
    const demo = await startDemo(
      { TESSERA_KEYS: JSON.stringify([key]), TESSERA_STORE: 'sqlite:data/nested/demo.db' },
      { dir },
    );
    try {
      expect(demo.output()).toContain('key ring read from TESSERA_KEYS');
      expect(existsSync(join(dir, '.tessera', 'keys.json'))).toBe(false);
      expect(existsSync(join(dir, 'data', 'nested', 'demo.db'))).toBe(true);
    } finally {
      await demo.stop();
    }
  });

  it('opts into the development key explicitly, whatever NODE_ENV says, and says so', async () => {
    for (const NODE_ENV of [undefined, 'production']) {
      const dir = folder();
      const demo = await startDemo({ NODE_ENV }, { dir });
      try {
        expect(demo.output()).toMatch(
          /"level":40.*"developmentKey":true.*generated a DEVELOPMENT session key .*because production: false was passed.*developmentKey in demo\/config\.ts/,
        );
        expect(existsSync(join(dir, '.tessera', 'keys.json'))).toBe(true);
      } finally {
        await demo.stop();
      }
    }
  });

  it('refuses a key file owned by another user, or a key folder others can write', async () => {
    if (process.platform === 'win32' || process.getuid?.() !== 0) return; // chown needs root
    const dir = folder();
    const state = join(dir, '.tessera');
    const keyFile = join(state, 'keys.json');
    const demo = await startDemo({}, { dir });
    await demo.stop();
    chownSync(keyFile, 54_321, 54_321);
    const foreign = await startDemoExpectingFailure({ PORT: '3999' }, dir);
    expect(foreign.code).not.toBe(0);
    expect(foreign.output).toContain('belongs to another user');
    chownSync(keyFile, 0, 0);
    chmodSync(state, 0o777);
    const open = await startDemoExpectingFailure({ PORT: '3999' }, dir);
    expect(open.code).not.toBe(0);
    expect(open.output).toContain('writable by other users');
  });

  it('says loudly when it creates the key file, and refuses a readable or broken one', async () => {
    const dir = folder();
    const keyFile = join(dir, '.tessera', 'keys.json');
    const demo = await startDemo({}, { dir });
    try {
      expect(demo.output()).toMatch(/"level":40.*"keyFile":.*generated a DEVELOPMENT session key/);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dir, '.tessera', 'demo.db'))).toBe(true);
    } finally {
      await demo.stop();
    }
    chmodSync(keyFile, 0o644);
    const readable = await startDemoExpectingFailure({ PORT: '3999' }, dir);
    expect(readable.code).not.toBe(0);
    expect(readable.output).toContain('tessera demo: cannot start');
    expect(readable.output).toContain('chmod 600');
    chmodSync(keyFile, 0o600);
    writeFileSync(keyFile, 'not keys');
    const broken = await startDemoExpectingFailure({ PORT: '3999' }, dir);
    expect(broken.code).not.toBe(0);
    expect(broken.output).toContain('does not hold a valid key ring');
  });
});
