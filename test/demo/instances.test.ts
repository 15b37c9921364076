/**
 * Two demo instances started at once from one folder: one key file, one SQLite store. Sessions,
 * password changes, events, the login limit and parallel prefs writes are shared; sessions
 * survive a restart; neither the store nor the logs hold a token or a key.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeys } from 'tessera-session/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, COOKIE, call, type DemoProcess, signedIn, startDemo, tempDir } from './helpers.js';

let folder: ReturnType<typeof tempDir>;
let a: DemoProcess;
let b: DemoProcess;
const env = { TESSERA_LOGIN_LIMIT: '2' };
/** Every session token the tests saw, to look for in the store's files and the logs. */
const tokens = new Set<string>();

beforeAll(async () => {
  folder = tempDir();
  [a, b] = await Promise.all([
    startDemo(env, { dir: folder.dir }),
    startDemo(env, { dir: folder.dir }),
  ]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  folder?.remove();
});

/** The same browser talking to the other instance. */
function on(base: string, c: Client): Client {
  const other = new Client(base, c.userAgent);
  for (const [k, v] of c.jar) other.jar.set(k, v);
  other.token = c.token;
  return other;
}

function remember(c: Client): Client {
  if (c.session) tokens.add(c.session);
  return c;
}

describe('two demo instances on one store', () => {
  it('created the key file once and both use it', () => {
    const logs = [a.output(), b.output()];
    const created = logs.filter((l) => /generated a DEVELOPMENT session key/.test(l));
    expect(created).toHaveLength(1);
    const keys = parseKeys(readFileSync(join(folder.dir, '.tessera', 'keys.json'), 'utf8'));
    for (const l of logs) expect(l).toContain(`"keyIds":["${keys[0]!.id}"]`);
  });

  it('shares sessions: a login on one is signed in on the other', async () => {
    const c = remember(await signedIn(a.url, 'alice'));
    const there = on(b.url, c);
    const me = await there.get('/api/me');
    expect(me.status).toBe(200);
    expect(me.json<{ user: string }>().user).toBe('alice');
    expect((await there.get('/')).text).toContain('Signed in as alice');
    // The CSRF token minted by one instance is accepted by the other.
    expect((await there.send('PATCH', '/api/prefs', { json: { from: 'b' } })).status).toBe(200);
    expect((await c.get('/api/prefs')).json()).toEqual({ from: 'b' });
  });

  it('shares revocation: a session revoked on one is gone on the other', async () => {
    const first = remember(await signedIn(a.url, 'bob'));
    const second = remember(await signedIn(b.url, 'bob'));
    const handle = (await second.get('/api/sessions'))
      .json<{ handle: string; current: boolean }[]>()
      .find((s) => s.current)!.handle;
    expect((await first.post(`/api/sessions/${encodeURIComponent(handle)}/revoke`)).status).toBe(
      204,
    );
    expect((await second.get('/api/me')).status).toBe(401);
  });

  it('shares the event trail', async () => {
    const c = remember(await signedIn(a.url, 'alice'));
    await c.send('PATCH', '/api/prefs', { json: { x: 1 }, csrf: false });
    const events = (await on(b.url, c).get('/api/events')).json<{ type: string }[]>();
    expect(events[0]!.type).toBe('csrf_rejected');
    expect(events[1]!.type).toBe('login');
  });

  it('keeps every key of parallel PATCHes sent to both instances', async () => {
    const c = remember(await signedIn(a.url, 'alice'));
    const other = on(b.url, c);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? other : c).send('PATCH', '/api/prefs', { json: { [`k${i}`]: i } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
    const prefs = (await c.get('/api/prefs')).json<Record<string, number>>();
    expect(Object.keys(prefs)).toHaveLength(40);
  });

  it('shares the login limit', async () => {
    const ip = '127.0.0.31';
    expect((await new Client(a.url).login('alice', 'x', { localAddress: ip })).status).toBe(401);
    expect((await new Client(b.url).login('alice', 'y', { localAddress: ip })).status).toBe(401);
    const limited = await new Client(a.url).login('alice', 'alice-password', { localAddress: ip });
    expect(limited.status).toBe(429);
    expect(
      (await new Client(b.url).login('alice', 'alice-password', { localAddress: ip })).status,
    ).toBe(429);
  });

  it('shares a password change', async () => {
    const c = remember(await signedIn(a.url, 'bob'));
    const next = 'bob has a new password';
    expect(
      (await c.post('/api/password', { json: { current: 'bob-password', next } })).status,
    ).toBe(204);
    remember(c);
    expect((await new Client(b.url).login('bob', 'bob-password')).status).toBe(401);
    expect(remember(await signedIn(b.url, 'bob', next)).session).toBeTruthy();
  });

  it('keeps sessions across a restart', async () => {
    const c = remember(await signedIn(a.url, 'alice'));
    await a.stop();
    a = await startDemo(env, { dir: folder.dir });
    expect(a.output()).toMatch(/using the DEVELOPMENT session key/);
    expect(a.output()).not.toMatch(/generated a DEVELOPMENT session key/);
    const again = on(a.url, c);
    expect((await again.get('/api/me')).status).toBe(200);
  });

  it('never writes a token or a key to the store files or the logs', async () => {
    expect(tokens.size).toBeGreaterThan(5);
    const keys = parseKeys(readFileSync(join(folder.dir, '.tessera', 'keys.json'), 'utf8'));
    const dir = join(folder.dir, '.tessera');
    const store = readdirSync(dir)
      .filter((f) => f.startsWith('demo.db'))
      .map((f) => readFileSync(join(dir, f)).toString('latin1'))
      .join('\n');
    expect(store.length).toBeGreaterThan(0);
    const logs = a.output() + b.output();
    const secrets = keys.map((k) => String(k.secret));
    for (const haystack of [store, logs]) {
      for (const t of tokens) {
        // Every long random part of the token (its secret, its MAC).
        for (const part of t.split('.').filter((p) => p.length >= 16)) {
          expect(haystack).not.toContain(part);
        }
      }
      for (const s of secrets) {
        expect(haystack).not.toContain(s);
        expect(haystack).not.toContain(Buffer.from(s, 'base64').toString('base64url'));
      }
    }
    // A cookie from the store's point of view opens nothing: a forged cookie gets no session.
    const t = [...tokens][0]!;
    const forged = t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A');
    const probe = await call(b.url, 'GET', '/api/me', {
      headers: { cookie: `${COOKIE}=${forged}` },
    });
    expect(probe.status).toBe(401);
  });
});
