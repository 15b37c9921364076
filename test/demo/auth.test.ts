/**
 * The demo over HTTP: pages, sign-in and sign-out, the cookie, CSRF, security headers, and what
 * malformed cookies and requests get. One demo process on the default SQLite store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  Client,
  COOKIE,
  call,
  type DemoProcess,
  isClearing,
  parseSetCookie,
  raw,
  signedIn,
  startDemo,
  tempDir,
} from './helpers.js';

let demo: DemoProcess;
let base: string;
let folder: ReturnType<typeof tempDir>;
const EXTRA_ORIGIN = 'https://app.example.test';

beforeAll(async () => {
  folder = tempDir();
  demo = await startDemo(
    { TESSERA_ORIGINS: `${EXTRA_ORIGIN}, http://other.test:8080` },
    {
      dir: folder.dir,
    },
  );
  base = demo.url;
});

afterAll(async () => {
  await demo?.stop();
  folder?.remove();
});

function sessionCookies(a: Answer) {
  return a.cookies.map(parseSetCookie).filter((c) => c.name === COOKIE);
}

function expectSecurityHeaders(a: Answer) {
  const csp = a.header('content-security-policy') ?? '';
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  expect(csp).toContain("default-src 'none'");
  expect(a.header('x-content-type-options')).toBe('nosniff');
  expect(a.header('referrer-policy')).toBe('same-origin');
  expect(a.header('cache-control')).toBe('no-store');
}

describe('demo pages', () => {
  it('renders the home page signed out, with security headers and no cookie', async () => {
    const a = await call(base, 'GET', '/');
    expect(a.status).toBe(200);
    expect(a.header('content-type')).toMatch(/^text\/html/);
    expect(a.text).not.toContain('Signed in as');
    expect(a.text).toContain('href="/login"');
    expect(a.cookies).toEqual([]);
    expectSecurityHeaders(a);
  });

  it('serves the login form with a pre-session cookie that writes nothing to the store', async () => {
    const before = await call(base, 'GET', '/metrics');
    const active = (t: string) => Number(/^tessera_active_sessions (\d+)/m.exec(t)?.[1]);
    const a = await call(base, 'GET', '/login');
    expect(a.status).toBe(200);
    expect(a.text).toMatch(/<form method="post" action="\/login"/);
    expect(a.text).toMatch(/name="username"/);
    expect(a.text).toMatch(/name="password" type="password"/);
    const field = /<input type="hidden" name="_csrf" value="([^"]+)">/.exec(a.text);
    expect(field?.[1]).toBeTruthy();
    const [c] = sessionCookies(a);
    expect(c).toBeDefined();
    expect(c!.attrs.get('httponly')).toBe(true);
    expect(c!.attrs.get('secure')).toBe(true);
    expect(c!.attrs.get('samesite')).toBe('Lax');
    expect(c!.attrs.get('path')).toBe('/');
    expect(c!.attrs.has('domain')).toBe(false);
    expectSecurityHeaders(a);
    const after = await call(base, 'GET', '/metrics');
    expect(active(after.text)).toBe(active(before.text));
  });

  it('serves the stylesheet and exposes Prometheus metrics', async () => {
    const css = await call(base, 'GET', '/style.css');
    expect(css.status).toBe(200);
    expect(css.header('content-type')).toMatch(/^text\/css/);
    const m = await call(base, 'GET', '/metrics');
    expect(m.status).toBe(200);
    for (const name of [
      'tessera_active_sessions',
      'tessera_logins_total',
      'tessera_rejections_total',
      'tessera_store_latency_seconds',
    ]) {
      expect(m.text).toContain(name);
    }
  });

  it('answers unknown paths with a JSON 404', async () => {
    const a = await call(base, 'GET', '/nope');
    expect(a.status).toBe(404);
    expect(a.json()).toEqual({ error: 'not_found' });
  });
});

describe('demo sign-in', () => {
  it('signs in through the form: 303 to /, a new token, and the pre-session token reads nothing', async () => {
    const c = new Client(base);
    const page = await c.get('/login');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const pre = c.session!;
    const a = await c.post('/login', {
      form: { username: 'alice', password: 'alice-password', _csrf: token },
      csrf: false,
      headers: { 'sec-fetch-site': 'same-origin', origin: base },
    });
    expect(a.status).toBe(303);
    expect(a.header('location')).toBe('/');
    expect(a.header('cache-control')).toBe('no-store');
    const [cookie] = sessionCookies(a);
    expect(cookie!.value).not.toBe(pre);
    expect(cookie!.attrs.get('secure')).toBe(true);
    expect(cookie!.attrs.get('httponly')).toBe(true);
    // The login rotated the CSRF token too; the answer carries the new one.
    const rotated = a.header('x-csrf-token');
    expect(rotated).toBeTruthy();
    expect(rotated).not.toBe(token);
    expect(await c.csrf()).toBe(rotated);
    const home = await c.get('/');
    expect(home.text).toContain('Signed in as alice');
    // A visible logout on every signed-in page (ASVS 5.0 7.4.4).
    for (const page of ['/', '/sessions', '/reauth']) {
      const html = (await c.get(page)).text;
      expect(html, page).toMatch(/<form method="post" action="\/logout"/);
    }
    // The pre-login token never reads the signed-in session.
    const old = await call(base, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${pre}` } });
    expect(old.status).toBe(401);
    expect(old.json()).toEqual({ error: 'unauthenticated' });
  });

  it('answers /api/me with the user and ISO timestamps, and 401 when signed out', async () => {
    const c = await signedIn(base, 'alice');
    const a = await c.get('/api/me');
    expect(a.status).toBe(200);
    expect(a.header('cache-control')).toBe('no-store');
    const me = a.json<{ user: string; session: Record<string, string> }>();
    expect(me.user).toBe('alice');
    for (const k of ['createdAt', 'idleExpiresAt', 'absoluteExpiresAt', 'authenticatedAt']) {
      expect(me.session[k]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const idle = Date.parse(me.session.idleExpiresAt!);
    expect(idle).toBeGreaterThan(Date.now() + 1700_000);
    expect(idle).toBeLessThanOrEqual(Date.parse(me.session.absoluteExpiresAt!));
    const anon = await call(base, 'GET', '/api/me');
    expect(anon.status).toBe(401);
  });

  it('refuses bad credentials with 401, known user or not', async () => {
    for (const [u, p] of [
      ['alice', 'wrong-password'],
      ['mallory', 'whatever-password'],
      ['alice', ''],
    ]) {
      const c = new Client(base);
      const a = await c.login(u!, p!);
      expect(a.status).toBe(401);
      expect(a.json()).toEqual({ error: 'invalid_credentials' });
      expect((await c.get('/api/me')).status).toBe(401);
    }
  });

  it('re-renders the form with the error for a browser posting bad credentials', async () => {
    const c = new Client(base);
    const token = await c.csrf();
    const a = await c.post('/login', {
      form: { username: 'alice<b>', password: 'nope', _csrf: token },
      csrf: false,
      headers: { accept: 'text/html,application/xhtml+xml' },
    });
    expect(a.status).toBe(401);
    expect(a.text).toContain('Wrong user name or password');
    expect(a.text).toContain('value="alice&lt;b&gt;"');
    expect(a.text).not.toContain('alice<b>');
  });

  it('accepts the CSRF token in the x-csrf-token header too', async () => {
    const c = new Client(base);
    await c.csrf();
    const a = await c.post('/login', { form: { username: 'bob', password: 'bob-password' } });
    expect(a.status).toBe(303);
  });

  it('signs in a user name case-insensitively', async () => {
    const c = new Client(base);
    expect((await c.login('Alice', 'alice-password')).status).toBe(303);
    expect((await c.get('/api/me')).json<{ user: string }>().user).toBe('alice');
  });

  it('keeps the CSRF token stable until the session rotates', async () => {
    const c = await signedIn(base, 'bob');
    const t1 = c.token;
    expect(await c.csrf()).toBe(t1);
    expect(await c.csrf()).toBe(t1);
  });

  it('signing in again over a live session starts a new one and ends the old', async () => {
    const c = await signedIn(base, 'alice');
    const old = c.session!;
    expect((await c.login('alice', 'alice-password')).status).toBe(303);
    expect(c.session).not.toBe(old);
    expect((await c.get('/api/me')).status).toBe(200);
    const stale = await call(base, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${old}` } });
    expect(stale.status).toBe(401);
    // No theft signal: the new session still works after the old token came back.
    expect((await c.get('/api/me')).status).toBe(200);
  });
});

describe('demo CSRF', () => {
  async function attempt(headers: Record<string, string>, token?: string) {
    const c = new Client(base);
    const real = await c.csrf();
    return c.post('/login', {
      form: { username: 'alice', password: 'alice-password', _csrf: token ?? real },
      csrf: false,
      headers,
    });
  }

  it('refuses a login without a token, or with a wrong one', async () => {
    const c = new Client(base);
    await c.csrf();
    const none = await c.post('/login', {
      form: { username: 'alice', password: 'alice-password' },
      csrf: false,
    });
    expect(none.status).toBe(403);
    expect(none.json()).toEqual({ error: 'csrf' });
    const wrong = await attempt({}, 'k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(wrong.status).toBe(403);
  });

  it('refuses a token bound to another visitor', async () => {
    const other = new Client(base);
    const foreign = await other.csrf();
    const a = await attempt({}, foreign);
    expect(a.status).toBe(403);
  });

  it('refuses cross-site and same-site Fetch Metadata, and foreign or null origins', async () => {
    for (const h of [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'http://evil.test' },
      { origin: 'null' },
      { referer: 'http://evil.test/page' },
      { origin: `http://127.0.0.1:${demo.port + 1}` },
    ]) {
      const a = await attempt(h);
      expect(a.status, JSON.stringify(h)).toBe(403);
      expect(a.json()).toEqual({ error: 'csrf' });
    }
  });

  it('accepts same-origin and none Fetch Metadata, and each allowed origin', async () => {
    for (const h of [
      { 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
      { origin: `http://127.0.0.1:${demo.port}` },
      { origin: `http://localhost:${demo.port}` },
      { origin: EXTRA_ORIGIN },
      { origin: 'http://other.test:8080' },
      { referer: `http://localhost:${demo.port}/login` },
    ]) {
      const a = await attempt(h);
      expect(a.status, JSON.stringify(h)).toBe(303);
    }
  });

  it('checks CSRF on the API for a signed-in user, and records csrf_rejected', async () => {
    const c = await signedIn(base, 'bob');
    const a = await c.send('PATCH', '/api/prefs', { json: { x: 1 }, csrf: false });
    expect(a.status).toBe(403);
    expect(a.json()).toEqual({ error: 'csrf' });
    const b = await c.send('PATCH', '/api/prefs', {
      json: { x: 1 },
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(b.status).toBe(403);
    const events = (await c.get('/api/events')).json<{ type: string; reason?: string }[]>();
    expect(
      events
        .filter((e) => e.type === 'csrf_rejected')
        .slice(0, 2)
        .map((e) => e.reason),
    ).toEqual(['cross_site', 'missing_token']);
  });

  it('checks 401 before 403: an unauthenticated unsafe request without a token is 401', async () => {
    for (const [m, p] of [
      ['POST', '/api/sessions/revoke-others'],
      ['POST', '/api/reauth'],
      ['PATCH', '/api/prefs'],
      ['POST', '/api/password'],
      ['POST', '/logout'],
      ['POST', '/api/sessions/abc/revoke'],
      ['POST', '/api/nothing-here'],
    ]) {
      const a = await call(base, m!, p!, {
        headers: { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(a.status, `${m} ${p}`).toBe(401);
      expect(a.json()).toEqual({ error: 'unauthenticated' });
    }
  });

  it('checks 403 csrf before 404 for a signed-in user', async () => {
    const c = await signedIn(base, 'bob');
    const a = await c.post('/api/nothing-here', { csrf: false });
    expect(a.status).toBe(403);
    const b = await c.post('/api/nothing-here');
    expect(b.status).toBe(404);
  });
});

describe('demo sign-out', () => {
  it('needs the CSRF token', async () => {
    const c = await signedIn(base, 'alice');
    const a = await c.post('/logout', { form: {}, csrf: false });
    expect(a.status).toBe(403);
    expect((await c.get('/api/me')).status).toBe(200);
  });

  it('destroys the session, clears the cookie and site data, and 303s to /', async () => {
    const c = await signedIn(base, 'alice');
    const token = c.session!;
    const a = await c.post('/logout', { form: { _csrf: c.token! }, csrf: false });
    expect(a.status).toBe(303);
    expect(a.header('location')).toBe('/');
    expect(a.header('clear-site-data')).toContain('"cookies"');
    const [cleared] = sessionCookies(a);
    expect(cleared && isClearing(cleared)).toBe(true);
    expect(cleared!.attrs.get('secure')).toBe(true);
    expect(cleared!.attrs.get('path')).toBe('/');
    const again = await call(base, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${token}` } });
    expect(again.status).toBe(401);
    const home = await call(base, 'GET', '/', { headers: { cookie: `${COOKIE}=${token}` } });
    expect(home.status).toBe(200);
    expect(home.text).not.toContain('Signed in as');
  });

  it('answers 401 to a signed-out logout', async () => {
    const c = new Client(base);
    await c.csrf();
    expect((await c.post('/logout', { form: { _csrf: c.token! } })).status).toBe(401);
  });
});

describe('demo with bad cookies and bad requests', () => {
  const forged = [
    ['garbage', 'not-a-token'],
    ['forged', 's.k1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
    ['oversized', 'x'.repeat(5000)],
    ['bad characters', 'a"b\\c'],
    ['empty', ''],
  ] as const;

  for (const [what, value] of forged) {
    it(`treats a ${what} cookie as no session`, async () => {
      const cookie = `${COOKIE}=${value}`;
      const page = await call(base, 'GET', '/', { headers: { cookie } });
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('Signed in as');
      const sessions = await call(base, 'GET', '/sessions', { headers: { cookie } });
      expect(sessions.status).toBe(200);
      expect(sessions.text).toContain('You are signed out');
      const api = await call(base, 'GET', '/api/me', { headers: { cookie } });
      expect(api.status).toBe(401);
      const csrf = await call(base, 'GET', '/api/csrf', { headers: { cookie } });
      expect(csrf.status).toBe(200);
    });
  }

  it('treats a tampered real token as no session', async () => {
    const c = await signedIn(base, 'alice');
    const t = c.session!;
    const flipped = t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1);
    const a = await call(base, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${flipped}` } });
    expect(a.status).toBe(401);
    const dup = await call(base, 'GET', '/api/me', {
      headers: { cookie: `${COOKIE}=${t}; ${COOKIE}=${t}` },
    });
    expect(dup.status).toBe(401);
  });

  it('answers malformed bodies with 4xx, never 500', async () => {
    const c = await signedIn(base, 'bob');
    const badForm = await c.post('/login', {
      body: 'username=%E0%A4%A&password=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(badForm.status).toBe(400);
    const badJson = await c.send('PATCH', '/api/prefs', {
      body: '{"a":',
      headers: { 'content-type': 'application/json' },
    });
    expect(badJson.status).toBe(400);
    const huge = await c.send('PATCH', '/api/prefs', {
      body: JSON.stringify({ a: 'x'.repeat(100_000) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(huge.status).toBe(413);
    const notStrings = await c.post('/login', { json: { username: 1, password: [] } });
    expect(notStrings.status).toBe(400);
    expect((await c.get('/api/me')).status).toBe(200);
  });

  it('answers huge headers and odd URLs with 4xx', async () => {
    const big = await call(base, 'GET', '/', { headers: { 'x-big': 'a'.repeat(20_000) } });
    expect(big.status).toBe(431);
    for (const p of ['//%%', '/api/sessions/%E0%A4%A/revoke', '/%00', '/login?next=%ZZ']) {
      const a = await call(base, 'GET', p);
      expect(a.status, p).toBeLessThan(500);
    }
    expect((await call(base, 'GET', '/healthz')).status).toBe(200);
  });

  it('answers raw malformed requests with 4xx and keeps running', async () => {
    const p = demo.port;
    const h = `Host: 127.0.0.1:${p}\r\nConnection: close\r\n`;
    const cases: [string, string | Buffer, number][] = [
      ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', 400],
      ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n', 400],
      [
        'a foreign Host',
        'GET /api/me HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n',
        421,
      ],
      ['not HTTP', 'HELLO\r\n\r\n', 400],
      ['an unknown method', `BREW / HTTP/1.1\r\n${h}\r\n`, 400],
      ['a control character in the path', `GET /\x01 HTTP/1.1\r\n${h}\r\n`, 400],
      [
        'a short body',
        `POST /login HTTP/1.1\r\n${h}Content-Length: 5\r\nContent-Type: application/json\r\n\r\n{"a":1}`,
        400,
      ],
      [
        'a chunked malformed form',
        `POST /login HTTP/1.1\r\n${h}Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\na=%ZZ\r\n0\r\n\r\n`,
        400,
      ],
      [
        'a non-UTF-8 cookie',
        Buffer.concat([
          Buffer.from(`GET /api/me HTTP/1.1\r\n${h}Cookie: ${COOKIE}=`),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('\r\n\r\n'),
        ]),
        401,
      ],
      ['an absolute-form target', `GET http://evil.test/api/me HTTP/1.1\r\n${h}\r\n`, 404],
    ];
    for (const [what, bytes, status] of cases) expect(await raw(p, bytes), what).toBe(status);
    expect((await call(base, 'GET', '/healthz')).status).toBe(200);
  });

  it('answers a wrong method with 405 and Allow', async () => {
    const a = await call(base, 'PUT', '/login');
    expect(a.status).toBe(405);
    expect(a.header('allow')).toContain('POST');
  });
});
