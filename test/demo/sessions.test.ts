/**
 * The demo over HTTP: listing and revoking sessions, re-authentication and the rotation table,
 * password changes, and the security-event trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  COOKIE,
  call,
  type DemoProcess,
  isClearing,
  parseSetCookie,
  signedIn,
  startDemo,
  waitFor,
} from './helpers.js';

const GRACE_MS = 1000;
let demo: DemoProcess;
let base: string;

beforeAll(async () => {
  demo = await startDemo({ TESSERA_ROTATION_GRACE: '1', TESSERA_LOGIN_LIMIT: '0' });
  base = demo.url;
});

afterAll(async () => {
  await demo?.stop();
});

interface ApiSession {
  handle: string;
  createdAt: string;
  lastSeenAt: string;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
}
interface ApiEvent {
  type: string;
  at: string;
  ip: string | null;
  userAgent: string | null;
  handle?: string;
  reason?: string;
}

/** A client signed in as `user` whose session is the user's only one. */
async function only(user: string, ua?: string, password?: string): Promise<Client> {
  const c = await signedIn(base, user, password, ua);
  const a = await c.post('/api/sessions/revoke-others');
  if (a.status !== 204) throw new Error(`revoke-others answered ${a.status}`);
  return c;
}

async function sessionsOf(c: Client): Promise<ApiSession[]> {
  const a = await c.get('/api/sessions');
  expect(a.status).toBe(200);
  return a.json<ApiSession[]>();
}

async function eventsOf(c: Client): Promise<ApiEvent[]> {
  const a = await c.get('/api/events');
  expect(a.status).toBe(200);
  return a.json<ApiEvent[]>();
}

function me(c: Client) {
  return c.get('/api/me');
}

describe('demo session list', () => {
  it('lists the live sessions with public handles, the current one marked', async () => {
    const a = await only('alice', 'agent-A');
    const b = await signedIn(base, 'alice', undefined, 'agent-B');
    await signedIn(base, 'bob');
    const list = await sessionsOf(a);
    expect(list).toHaveLength(2);
    expect(list.filter((s) => s.current)).toHaveLength(1);
    const mine = list.find((s) => s.current)!;
    expect(mine.userAgent).toBe('agent-A');
    expect(list.find((s) => !s.current)!.userAgent).toBe('agent-B');
    for (const s of list) {
      expect(Object.keys(s).sort()).toEqual(
        ['createdAt', 'current', 'handle', 'ip', 'lastSeenAt', 'userAgent'].sort(),
      );
      expect(s.ip).toBe('127.0.0.1');
      expect(s.createdAt).toMatch(/Z$/);
      expect(s.lastSeenAt).toMatch(/Z$/);
      // The handle is public and shares nothing with either token.
      for (const token of [a.session!, b.session!]) {
        expect(token).not.toContain(s.handle);
        for (const part of token.split('.'))
          if (part.length > 8) expect(s.handle).not.toContain(part);
      }
    }
    expect((await sessionsOf(b)).find((s) => s.current)!.handle).not.toBe(mine.handle);
  });

  it('renders the sessions page with a revoke form per session, the current one marked, and the trail', async () => {
    const a = await only('alice', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36');
    await signedIn(base, 'alice', undefined, 'curl/8.0 <script>alert(1)</script>');
    const page = await a.get('/sessions');
    expect(page.status).toBe(200);
    expect(page.header('cache-control')).toBe('no-store');
    const list = await sessionsOf(a);
    for (const s of list) {
      expect(page.text).toContain(`action="/api/sessions/${encodeURIComponent(s.handle)}/revoke"`);
    }
    expect(page.text.match(/name="_csrf"/g)!.length).toBeGreaterThanOrEqual(list.length + 1);
    expect(page.text).toContain('current session');
    expect(page.text).toContain('Signed in as alice');
    expect(page.text).toMatch(/<form method="post" action="\/logout"/);
    expect(page.text).toContain('Recent security events');
    expect(page.text).toContain('Signed in');
    expect(page.text).not.toContain('<script>');
    expect(page.text).toContain('&lt;script&gt;');
  });
});

describe('demo revocation', () => {
  it('revokes a session by handle: it stops working at once', async () => {
    const a = await only('alice');
    const b = await signedIn(base, 'alice');
    const other = (await sessionsOf(a)).find((s) => !s.current)!;
    const r = await a.post(`/api/sessions/${encodeURIComponent(other.handle)}/revoke`);
    expect(r.status).toBe(204);
    const gone = await me(b);
    expect(gone.status).toBe(401);
    expect(await sessionsOf(a)).toHaveLength(1);
    const events = await eventsOf(a);
    expect(events[0]).toMatchObject({ type: 'revoke', handle: other.handle });
  });

  it("answers 404 for another user's handle, an unknown one, or a malformed one", async () => {
    const a = await only('alice');
    const bob = await signedIn(base, 'bob');
    const bobs = (await sessionsOf(bob)).find((s) => s.current)!;
    for (const h of [
      encodeURIComponent(bobs.handle),
      'AAAAAAAAAAAAAAAAAAAAAA',
      '%E0%A4%A',
      'a%2Fb',
    ]) {
      const r = await a.post(`/api/sessions/${h}/revoke`);
      expect(r.status, h).toBe(404);
      expect(r.json()).toEqual({ error: 'not_found' });
    }
    expect((await me(bob)).status).toBe(200);
  });

  it('revokes through the HTML form with _csrf and 303s back to the page', async () => {
    const a = await only('alice');
    const b = await signedIn(base, 'alice');
    const other = (await sessionsOf(a)).find((s) => !s.current)!;
    const r = await a.post(`/api/sessions/${encodeURIComponent(other.handle)}/revoke`, {
      form: { _csrf: a.token! },
      csrf: false,
    });
    expect(r.status).toBe(303);
    expect(r.header('location')).toBe('/sessions');
    expect((await me(b)).status).toBe(401);
  });

  it('revokes every other session of the user, and only those', async () => {
    const a = await only('alice');
    const others = [await signedIn(base, 'alice'), await signedIn(base, 'alice')];
    const bob = await signedIn(base, 'bob');
    const r = await a.post('/api/sessions/revoke-others', {
      form: { _csrf: a.token! },
      csrf: false,
    });
    expect(r.status).toBe(303);
    expect(r.header('location')).toBe('/sessions');
    for (const o of others) expect((await me(o)).status).toBe(401);
    expect((await me(a)).status).toBe(200);
    expect((await me(bob)).status).toBe(200);
    expect((await eventsOf(a))[0]!.type).toBe('revoke_others');
  });

  it('revoking the current session signs it out', async () => {
    const a = await only('alice');
    const mine = (await sessionsOf(a)).find((s) => s.current)!;
    const r = await a.post(`/api/sessions/${encodeURIComponent(mine.handle)}/revoke`);
    expect(r.status).toBe(204);
    expect((await me(a)).status).toBe(401);
  });
});

describe('demo re-authentication and rotation', () => {
  it('rotates the token on /api/reauth, keeps the handle, restarts both deadlines', async () => {
    const c = await only('alice');
    const before = (await me(c)).json<{ session: Record<string, string> }>().session;
    const handle = (await sessionsOf(c)).find((s) => s.current)!.handle;
    const [oldToken, oldCsrf] = [c.session, c.token];
    const r = await c.post('/api/reauth', { json: { password: 'alice-password' } });
    expect(r.status).toBe(204);
    const set = r.cookies.map(parseSetCookie).find((x) => x.name === COOKIE)!;
    expect(set.value).not.toBe(oldToken);
    expect(r.header('x-csrf-token')).toBeTruthy();
    expect(r.header('x-csrf-token')).not.toBe(oldCsrf);
    expect(await c.csrf()).toBe(r.header('x-csrf-token'));
    const after = (await me(c)).json<{ session: Record<string, string> }>().session;
    expect(Date.parse(after.authenticatedAt!)).toBeGreaterThan(Date.parse(before.authenticatedAt!));
    expect(Date.parse(after.absoluteExpiresAt!)).toBeGreaterThan(
      Date.parse(before.absoluteExpiresAt!),
    );
    expect(Date.parse(after.idleExpiresAt!)).toBeGreaterThan(Date.parse(before.idleExpiresAt!));
    expect(after.createdAt).toBe(before.createdAt);
    expect((await sessionsOf(c)).find((s) => s.current)!.handle).toBe(handle);
    expect((await eventsOf(c))[0]!.type).toBe('reauth');
  });

  it('answers a wrong re-auth password with 401 and no rotation', async () => {
    const c = await only('alice');
    const [token, csrf] = [c.session, c.token];
    const r = await c.post('/api/reauth', { json: { password: 'nope' } });
    expect(r.status).toBe(401);
    expect(r.cookies).toEqual([]);
    expect(r.header('x-csrf-token')).toBeUndefined();
    expect(c.session).toBe(token);
    expect(await c.csrf()).toBe(csrf);
    expect((await eventsOf(c))[0]).toMatchObject({ type: 'login_failed', reason: 'reauth' });
  });

  it('re-authenticates through the /reauth form and 303s to ?next=', async () => {
    const c = await only('alice');
    const page = await c.get('/reauth?next=/sessions');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/name="password"/);
    const old = c.session;
    const r = await c.post('/reauth?next=/sessions', {
      form: { password: 'alice-password', _csrf: c.token! },
      csrf: false,
    });
    expect(r.status).toBe(303);
    expect(r.header('location')).toBe('/sessions');
    expect(c.session).not.toBe(old);
    const evil = await c.post('/reauth?next=//evil.test/', {
      form: { password: 'alice-password', _csrf: c.token! },
      csrf: false,
    });
    expect(evil.status).toBe(303);
    expect(evil.header('location')).toBe('/');
  });

  it('serves the old token read-only within the grace, then treats it as theft', async () => {
    const c = await only('alice');
    const old = c.session!;
    const oldCookie = { cookie: `${COOKIE}=${old}` };
    const r = await c.post('/api/reauth', { json: { password: 'alice-password' } });
    expect(r.status).toBe(204);
    const rotatedAt = Date.now();
    // Within the grace: GET and HEAD are served, read-only, with no Set-Cookie.
    const get = await call(base, 'GET', '/api/me', { headers: oldCookie });
    const head = await call(base, 'HEAD', '/api/me', { headers: oldCookie });
    const page = await call(base, 'GET', '/', { headers: oldCookie });
    const unsafe = await call(base, 'POST', '/api/sessions/revoke-others', {
      headers: { ...oldCookie, 'x-csrf-token': c.token! },
    });
    expect(Date.now() - rotatedAt).toBeLessThan(GRACE_MS);
    expect(get.status).toBe(200);
    expect(get.json<{ user: string }>().user).toBe('alice');
    expect(get.cookies).toEqual([]);
    expect(get.header('cache-control')).toBe('no-store');
    expect(head.status).toBe(200);
    expect(head.cookies).toEqual([]);
    expect(page.text).toContain('Signed in as alice');
    expect(page.cookies).toEqual([]);
    // An unsafe method within the grace: 401, and nothing is revoked.
    expect(unsafe.status).toBe(401);
    expect((await me(c)).status).toBe(200);
    // After the grace: 401 with a clearing cookie, the whole session revoked, one theft event.
    await waitFor('the grace to pass', () => Date.now() > rotatedAt + GRACE_MS + 150);
    const late = await call(base, 'GET', '/api/me', { headers: oldCookie });
    expect(late.status).toBe(401);
    const cleared = late.cookies.map(parseSetCookie).find((x) => x.name === COOKIE)!;
    expect(isClearing(cleared)).toBe(true);
    expect(cleared.attrs.get('secure')).toBe(true);
    expect(cleared.attrs.get('path')).toBe('/');
    expect((await me(c)).status).toBe(401);
    expect((await call(base, 'GET', '/api/me', { headers: oldCookie })).status).toBe(401);
    const fresh = await signedIn(base, 'alice');
    const theft = (await eventsOf(fresh)).filter((e) => e.type === 'theft_suspected');
    expect(theft).toHaveLength(1);
    expect(Date.parse(theft[0]!.at)).toBeGreaterThanOrEqual(rotatedAt);
  });

  it('treats the pre-login token as no session and its later use as no theft', async () => {
    const c = new Client(base);
    await c.csrf();
    const pre = c.session!;
    expect((await c.login('bob', 'bob-password')).status).toBe(303);
    const login = Date.now();
    const early = await call(base, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${pre}` } });
    expect(early.status).toBe(401);
    await waitFor('the grace to pass', () => Date.now() > login + GRACE_MS + 150);
    expect(
      (await call(base, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${pre}` } })).status,
    ).toBe(401);
    expect((await me(c)).status).toBe(200);
    const events = await eventsOf(c);
    expect(events.filter((e) => e.type === 'theft_suspected' && Date.parse(e.at) >= login)).toEqual(
      [],
    );
  });
});

describe('demo password change', () => {
  let bobPassword = 'bob-password';

  it('refuses a wrong current password (401) and weak new ones (400)', async () => {
    const c = await only('bob', undefined, bobPassword);
    const wrong = await c.post('/api/password', {
      json: { current: 'nope', next: 'long-enough-1' },
    });
    expect(wrong.status).toBe(401);
    for (const next of ['short', bobPassword, '1234567']) {
      const r = await c.post('/api/password', { json: { current: bobPassword, next } });
      expect(r.status, next).toBe(400);
      expect(r.json()).toEqual({ error: 'weak_password' });
    }
    const missing = await c.post('/api/password', { json: { current: bobPassword } });
    expect(missing.status).toBe(400);
    expect((await signedIn(base, 'bob', bobPassword)).session).toBeTruthy();
  });

  it('changes the password: other sessions end, this one rotates, every login sees it', async () => {
    const c = await only('bob', undefined, bobPassword);
    const other = await signedIn(base, 'bob', bobPassword);
    const [oldToken, oldCsrf] = [c.session!, c.token];
    const next = 'correct horse battery staple';
    const r = await c.post('/api/password', { json: { current: bobPassword, next } });
    expect(r.status).toBe(204);
    expect(r.header('x-csrf-token')).toBeTruthy();
    expect(r.header('x-csrf-token')).not.toBe(oldCsrf);
    expect(c.session).not.toBe(oldToken);
    bobPassword = next;
    expect((await me(other)).status).toBe(401);
    expect((await me(c)).status).toBe(200);
    expect(
      (await call(base, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${oldToken}` } })).status,
    ).toBe(200);
    expect((await new Client(base).login('bob', 'bob-password')).status).toBe(401);
    expect((await new Client(base).login('bob', next)).status).toBe(303);
    const types = (await eventsOf(c)).map((e) => e.type);
    expect(types).toContain('password_changed');
    // The rotated CSRF token works for the next unsafe request.
    expect((await c.post('/api/sessions/revoke-others')).status).toBe(204);
  });

  it('changes the password through the HTML form and 303s to the sessions page', async () => {
    const c = await only('bob', undefined, bobPassword);
    const next = 'another long passphrase';
    const r = await c.post('/api/password', {
      form: { current: bobPassword, next, _csrf: c.token! },
      csrf: false,
    });
    expect(r.status).toBe(303);
    expect(r.header('location')).toBe('/sessions');
    bobPassword = next;
    expect((await c.get('/sessions')).status).toBe(200);
  });
});

describe('demo security events', () => {
  it('keeps the last 50 events, newest first, typed, with ISO times and no token', async () => {
    const c = await only('alice');
    for (let i = 0; i < 55; i++) {
      const r = await c.send('PATCH', '/api/prefs', { json: { i }, csrf: false });
      expect(r.status).toBe(403);
    }
    const a = await c.get('/api/events');
    const events = a.json<ApiEvent[]>();
    expect(events).toHaveLength(50);
    expect(events.every((e) => e.type === 'csrf_rejected')).toBe(true);
    const times = events.map((e) => Date.parse(e.at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    const text = a.text;
    for (const part of [c.session!, ...c.session!.split('.').filter((p) => p.length > 8)]) {
      expect(text).not.toContain(part);
    }
    expect(text).not.toContain(c.token!);
  });

  it('records every kind of event with the documented names', async () => {
    const c = await signedIn(base, 'alice');
    await new Client(base).login('alice', 'wrong');
    await c.post('/api/reauth', { json: { password: 'alice-password' } });
    const extra = await signedIn(base, 'alice');
    const handle = (await sessionsOf(c)).find((s) => !s.current)!.handle;
    await c.post(`/api/sessions/${encodeURIComponent(handle)}/revoke`);
    await c.post('/api/sessions/revoke-others');
    await c.post('/logout', { form: { _csrf: c.token! }, csrf: false });
    expect((await me(extra)).status).toBe(401);
    const check = await signedIn(base, 'alice');
    const types = new Set((await eventsOf(check)).map((e) => e.type));
    for (const t of ['login', 'login_failed', 'reauth', 'revoke', 'revoke_others', 'logout']) {
      expect(types.has(t), t).toBe(true);
    }
    const allowed = new Set([
      'login',
      'login_failed',
      'logout',
      'reauth',
      'revoke',
      'revoke_others',
      'password_changed',
      'csrf_rejected',
      'theft_suspected',
      'expired',
    ]);
    for (const t of types) expect(allowed.has(t), t).toBe(true);
  });
});
