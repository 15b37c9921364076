/**
 * The demo's login limit over HTTP: N failures per case-folded user name and client IP in a fixed
 * window, then 429 with Retry-After for right and wrong attempts alike; CSRF-rejected attempts
 * do not count, a success does not reset; the same limit guards /api/reauth and /api/password.
 * Other client IPs are other loopback addresses (127.0.0.x) as the connection's source.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, Client, call, type DemoProcess, signedIn, startDemo } from './helpers.js';

const LIMIT = 3;
let demo: DemoProcess;
let open: DemoProcess;
/** The default limit, 10. */
let standard: DemoProcess;

beforeAll(async () => {
  [demo, open, standard] = await Promise.all([
    startDemo({ TESSERA_LOGIN_LIMIT: String(LIMIT) }),
    startDemo({ TESSERA_LOGIN_LIMIT: '0' }),
    startDemo(),
  ]);
});

afterAll(async () => {
  await Promise.all([demo?.stop(), open?.stop(), standard?.stop()]);
});

/** A counter of `/metrics`, e.g. `tessera_logins_total{result="failure"}` (0 when absent). */
async function metric(base: string, series: string): Promise<number> {
  const text = (await call(base, 'GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** A login attempt from `ip`. */
async function attempt(
  user: string,
  password: string,
  ip: string,
  base = demo.url,
): Promise<Answer> {
  return new Client(base).login(user, password, { localAddress: ip });
}

function expectLimited(a: Answer) {
  expect(a.status).toBe(429);
  expect(a.json()).toEqual({ error: 'rate_limited' });
  const after = Number(a.header('retry-after'));
  expect(after).toBeGreaterThanOrEqual(1);
  expect(after).toBeLessThanOrEqual(60);
}

describe('demo login limit', () => {
  it('refuses every attempt after N failures, right or wrong, for the case-folded name', async () => {
    const ip = '127.0.0.11';
    for (let i = 0; i < LIMIT; i++) expect((await attempt('alice', 'wrong', ip)).status).toBe(401);
    expectLimited(await attempt('alice', 'alice-password', ip));
    expectLimited(await attempt('ALICE', 'alice-password', ip));
    expectLimited(await attempt('  Alice', 'wrong', ip));
  });

  it('keeps other client IPs and other names open', async () => {
    const ip = '127.0.0.12';
    for (let i = 0; i < LIMIT; i++) expect((await attempt('bob', 'wrong', ip)).status).toBe(401);
    expectLimited(await attempt('bob', 'bob-password', ip));
    expect((await attempt('bob', 'bob-password', '127.0.0.13')).status).toBe(303);
    expect((await attempt('alice', 'alice-password', ip)).status).toBe(303);
  });

  it('counts unknown names too', async () => {
    const ip = '127.0.0.14';
    for (let i = 0; i < LIMIT; i++) expect((await attempt('mallory', 'x', ip)).status).toBe(401);
    expectLimited(await attempt('Mallory', 'x', ip));
  });

  it('does not count CSRF-rejected attempts', async () => {
    const ip = '127.0.0.15';
    for (let i = 0; i < LIMIT + 2; i++) {
      const c = new Client(demo.url);
      await c.csrf();
      const a = await c.post('/login', {
        form: { username: 'alice', password: 'wrong' },
        csrf: false,
        localAddress: ip,
      });
      expect(a.status).toBe(403);
    }
    for (let i = 0; i < LIMIT - 1; i++)
      expect((await attempt('alice', 'wrong', ip)).status).toBe(401);
    expect((await attempt('alice', 'alice-password', ip)).status).toBe(303);
  });

  it('does not reset the count on a success', async () => {
    const ip = '127.0.0.16';
    expect((await attempt('alice', 'wrong', ip)).status).toBe(401);
    expect((await attempt('alice', 'alice-password', ip)).status).toBe(303);
    for (let i = 1; i < LIMIT; i++) expect((await attempt('alice', 'wrong', ip)).status).toBe(401);
    expectLimited(await attempt('alice', 'alice-password', ip));
  });

  it('guards /api/reauth and the current password of /api/password with the same count', async () => {
    const ip = '127.0.0.17';
    const c = new Client(demo.url);
    expect((await c.login('bob', 'bob-password', { localAddress: ip })).status).toBe(303);
    for (let i = 0; i < LIMIT; i++) {
      const r = await c.post('/api/reauth', { json: { password: 'wrong' }, localAddress: ip });
      expect(r.status).toBe(401);
    }
    expectLimited(
      await c.post('/api/reauth', { json: { password: 'bob-password' }, localAddress: ip }),
    );
    expectLimited(
      await c.post('/api/password', {
        json: { current: 'bob-password', next: 'a new long password' },
        localAddress: ip,
      }),
    );
    expectLimited(await attempt('bob', 'bob-password', ip));
    // The refused password change changed nothing.
    expect((await attempt('bob', 'bob-password', '127.0.0.18')).status).toBe(303);
  });

  it('counts wrong current passwords of /api/password', async () => {
    const ip = '127.0.0.19';
    const c = await signedIn(demo.url, 'alice');
    for (let i = 0; i < LIMIT; i++) {
      const r = await c.post('/api/password', {
        json: { current: 'wrong', next: 'a new long password' },
        localAddress: ip,
      });
      expect(r.status).toBe(401);
    }
    expectLimited(await attempt('alice', 'alice-password', ip));
  });

  it('re-renders the login form with 429 and Retry-After for a browser', async () => {
    const ip = '127.0.0.11';
    const c = new Client(demo.url);
    const token = await c.csrf();
    const a = await c.post('/login', {
      form: { username: 'alice', password: 'alice-password', _csrf: token },
      csrf: false,
      localAddress: ip,
      headers: { accept: 'text/html' },
    });
    expect(a.status).toBe(429);
    expect(a.header('retry-after')).toMatch(/^\d+$/);
    expect(a.text).toContain('Too many failed attempts');
  });

  it('is off with TESSERA_LOGIN_LIMIT=0', async () => {
    const ip = '127.0.0.20';
    for (let i = 0; i < 12; i++) {
      expect((await attempt('alice', 'wrong', ip, open.url)).status).toBe(401);
    }
    expect((await attempt('alice', 'alice-password', ip, open.url)).status).toBe(303);
  });
});

describe('demo login limit under a burst', () => {
  const FAILED = 'tessera_logins_total{result="failure"}';
  const LIMITED = 'tessera_logins_total{result="limited"}';

  it('checks at most 10 of 30 wrong passwords sent at once, then refuses the right one', async () => {
    const ip = '127.0.0.31';
    const base = standard.url;
    const [failed, limited] = [await metric(base, FAILED), await metric(base, LIMITED)];
    // Each client fetches its CSRF token first, so the 30 posts leave together.
    const clients = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const c = new Client(base);
        await c.csrf();
        return c;
      }),
    );
    const answers = await Promise.all(
      clients.map((c) =>
        c.post('/login', {
          form: { username: 'alice', password: 'wrong', _csrf: c.token! },
          csrf: false,
          localAddress: ip,
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    // Password checks, as the server counted them: 10 verified failures, 20 refused unchecked.
    expect((await metric(base, FAILED)) - failed).toBe(10);
    expect((await metric(base, LIMITED)) - limited).toBe(20);
    expectLimited(await attempt('alice', 'alice-password', ip, base));
  });

  it('checks at most 10 of 30 wrong re-auth passwords sent at once, then refuses the right one', async () => {
    const ip = '127.0.0.32';
    const base = standard.url;
    const c = new Client(base);
    expect((await c.login('bob', 'bob-password', { localAddress: ip })).status).toBe(303);
    const failed = await metric(base, FAILED);
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        c.post('/api/reauth', { json: { password: 'wrong' }, localAddress: ip }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    expect((await metric(base, FAILED)) - failed).toBe(10);
    expectLimited(
      await c.post('/api/reauth', { json: { password: 'bob-password' }, localAddress: ip }),
    );
    expectLimited(await attempt('bob', 'bob-password', ip, base));
  });
});

describe('demo trail under failed logins', () => {
  it("keeps at most 5 login_failed entries per source in a user's trail, counting the rest", async () => {
    const base = open.url; // no login limit: every failure is checked and answered 401
    for (let i = 0; i < 8; i++)
      expect((await attempt('bob', 'wrong', '127.0.0.41', base)).status).toBe(401);
    for (let i = 0; i < 3; i++)
      expect((await attempt('bob', 'wrong', '127.0.0.42', base)).status).toBe(401);
    const bob = new Client(base);
    expect((await bob.login('bob', 'bob-password', { localAddress: '127.0.0.43' })).status).toBe(
      303,
    );
    const events = (await bob.get('/api/events')).json<{ type: string; ip: string }[]>();
    const failed = (ip: string) =>
      events.filter((e) => e.type === 'login_failed' && e.ip === ip).length;
    expect(failed('127.0.0.41')).toBe(5);
    expect(failed('127.0.0.42')).toBe(3);
    expect(events[0]!.type).toBe('login');
    // The ones left out are still counted, in the audit log.
    expect(open.output()).toMatch(/"suppressed":true.*"fromSource":8/);
  });
});
