/**
 * The node:http adapter hosting sealed-cookie mode (`createSealedSessions`), over real HTTP on
 * 127.0.0.1: cookie attributes, read-back, CSRF, login rotation, logout, tampering, the cookie
 * size limit and revocation watermarks.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSession, session } from '../../src/adapters/node/index.js';
import {
  createSealedSessions,
  revocationStoreFrom,
  type SealedSession,
  type SealedSessionManager,
} from '../../src/core/sealed.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import {
  type AppData,
  close,
  cookieOf,
  listen,
  parseBody,
  type SendOptions,
  send,
} from './support.js';

/** `__Host-tessera=v1.<kid>.<seal>` with the exact default attributes, in order. */
const SEALED_COOKIE =
  /^__Host-tessera=v1\.k1\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;
const CLEAR_COOKIE =
  '__Host-tessera=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax';

describe('node adapter: sealed-cookie mode', () => {
  /** A clock the test moves, so that a revocation is strictly after the sign-ins it ends. */
  let clock = Date.now();
  const now = () => clock;
  let sessions: SealedSessionManager<AppData>;
  let base: string;
  let server: ReturnType<typeof createServer>;

  const req = (method: string, path: string, options?: SendOptions) =>
    send(base, method, path, options);

  beforeAll(async () => {
    sessions = createSealedSessions<AppData>({
      keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
      revocation: { store: revocationStoreFrom(memoryStore({ sweepIntervalMs: 0 }), { now }) },
      now,
    });
    server = createServer(
      session(sessions)(async (rq, res) => {
        // The overload types req.session as a SealedSession (a type error otherwise).
        const s: SealedSession<AppData> = rq.session;
        expect(getSession(rq)).toBe(s);
        const json = (v: unknown) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(v));
        };
        const body = async () => {
          // The adapter exposes the form it parsed for CSRF as req.body; otherwise read it here.
          if (rq.body !== undefined) return rq.body as Record<string, unknown>;
          let text = '';
          for await (const c of rq) text += String(c);
          return parseBody(rq.headers['content-type'], text);
        };
        switch (`${rq.method} ${rq.url}`) {
          case 'GET /read':
            return json({ state: s.state, userId: s.userId, data: s.data });
          case 'GET /csrf':
            return json({ token: s.csrfToken() });
          case 'POST /set': {
            const b = await body();
            s.set(String(b.key), b.value);
            return json({ ok: true });
          }
          case 'POST /login':
            await s.authenticate(String((await body()).user ?? 'alice'));
            return json({ userId: s.userId });
          case 'POST /logout':
            await s.destroy();
            return json({ ok: true });
          case 'POST /revoke-all':
            await sessions.revokeAll(s.userId!);
            return json({ ok: true });
          default:
            res.statusCode = 404;
            res.end();
        }
      }),
    );
    base = await listen(server);
  });
  afterAll(async () => {
    await close(server);
  });

  /** A visitor's sealed cookie (`name=value`) and CSRF token, from GET /csrf. */
  async function visitor(): Promise<{ cookie: string; token: string }> {
    const pre = await req('GET', '/csrf');
    expect(pre.status).toBe(200);
    return { cookie: cookieOf(pre)!, token: (pre.json() as { token: string }).token };
  }

  /** A signed-in user's cookie and token (a token minted after the sign-in's rotation). */
  async function signedIn(user: string): Promise<{ cookie: string; token: string }> {
    const v = await visitor();
    const login = await req('POST', '/login', {
      cookie: v.cookie,
      headers: { 'x-csrf-token': v.token },
      json: { user },
    });
    expect(login.status).toBe(200);
    const cookie = cookieOf(login)!;
    const pre = await req('GET', '/csrf', { cookie });
    return { cookie: cookieOf(pre) ?? cookie, token: (pre.json() as { token: string }).token };
  }

  it('sends no cookie to a visitor without one on a read', async () => {
    const res = await req('GET', '/read');
    expect(res.status).toBe(200);
    expect(res.setCookies).toEqual([]);
    expect(res.json()).toEqual({ state: 'anonymous', userId: null, data: {} });
  });

  it('sets a sealed __Host-tessera cookie with the exact attributes and reads the data back', async () => {
    const pre = await req('GET', '/csrf');
    expect(pre.setCookies).toHaveLength(1);
    expect(pre.setCookies[0]).toMatch(SEALED_COOKIE);
    expect(pre.headers['cache-control']).toBe('no-store');
    const { token } = pre.json() as { token: string };

    const set = await req('POST', '/set', {
      cookie: cookieOf(pre)!,
      headers: { 'x-csrf-token': token },
      json: { key: 'color', value: 'blue' },
    });
    expect(set.status).toBe(200);
    expect(set.setCookies).toHaveLength(1);
    expect(set.setCookies[0]).toMatch(SEALED_COOKIE);
    expect(set.headers['cache-control']).toBe('no-store');

    const read = await req('GET', '/read', { cookie: cookieOf(set)! });
    expect(read.status).toBe(200);
    expect(read.json()).toEqual({ state: 'active', userId: null, data: { color: 'blue' } });
    // Nothing changed and no touch is due: no new seal.
    expect(read.setCookies).toEqual([]);
  });

  it('answers 403 {"error":"csrf"} to a write without a token or with a forged one', async () => {
    const { cookie, token } = await visitor();
    const missing = await req('POST', '/set', { cookie, json: { key: 'a', value: 1 } });
    expect(missing.status).toBe(403);
    expect(missing.text).toBe('{"error":"csrf"}');

    const other = await visitor();
    const forged = [`${token.slice(0, -2)}AA`, other.token, 'x'.repeat(token.length)];
    for (const f of forged) {
      const res = await req('POST', '/set', {
        cookie,
        headers: { 'x-csrf-token': f },
        json: { key: 'a', value: 1 },
      });
      expect(res.status).toBe(403);
      expect(res.text).toBe('{"error":"csrf"}');
    }

    const crossSite = await req('POST', '/set', {
      cookie,
      headers: { 'x-csrf-token': token, 'sec-fetch-site': 'cross-site' },
      json: { key: 'a', value: 1 },
    });
    expect(crossSite.status).toBe(403);

    const ok = await req('POST', '/set', {
      cookie,
      headers: { 'x-csrf-token': token },
      json: { key: 'a', value: 1 },
    });
    expect(ok.status).toBe(200);
  });

  it('accepts the token in an urlencoded form field', async () => {
    const { cookie, token } = await visitor();
    const res = await req('POST', '/set', {
      cookie,
      form: { _csrf: token, key: 'via', value: 'form' },
    });
    expect(res.status).toBe(200);
    const read = await req('GET', '/read', { cookie: cookieOf(res)! });
    expect((read.json() as { data: unknown }).data).toEqual({ via: 'form' });
  });

  it('rotates the seal and the CSRF binding on login', async () => {
    const v = await visitor();
    const login = await req('POST', '/login', {
      cookie: v.cookie,
      headers: { 'x-csrf-token': v.token },
      json: { user: 'bob' },
    });
    expect(login.status).toBe(200);
    expect(login.setCookies[0]).toMatch(SEALED_COOKIE);
    const cookie = cookieOf(login)!;
    expect(cookie).not.toBe(v.cookie);
    expect((await req('GET', '/read', { cookie })).json()).toMatchObject({
      state: 'active',
      userId: 'bob',
    });
    // The pre-login token is bound to the old seal: refused with the new cookie.
    const stale = await req('POST', '/set', {
      cookie,
      headers: { 'x-csrf-token': v.token },
      json: { key: 'a', value: 1 },
    });
    expect(stale.status).toBe(403);
    expect(stale.text).toBe('{"error":"csrf"}');
  });

  it('clears the cookie on logout', async () => {
    const { cookie, token } = await signedIn('carol');
    const out = await req('POST', '/logout', { cookie, headers: { 'x-csrf-token': token } });
    expect(out.status).toBe(200);
    expect(out.setCookies).toEqual([CLEAR_COOKIE]);
    expect(out.headers['cache-control']).toBe('no-store');
  });

  it('treats a tampered cookie as no session and clears it', async () => {
    const { cookie } = await signedIn('dave');
    const i = cookie.length - 10;
    const flipped = cookie[i] === 'A' ? 'B' : 'A';
    const tampered = cookie.slice(0, i) + flipped + cookie.slice(i + 1);
    const res = await req('GET', '/read', { cookie: tampered });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ state: 'anonymous', userId: null, data: {} });
    expect(res.setCookies).toEqual([CLEAR_COOKIE]);
  });

  it('answers 413 {"error":"too_large"} when the data does not fit in a cookie', async () => {
    const { cookie, token } = await visitor();
    const res = await req('POST', '/set', {
      cookie,
      headers: { 'x-csrf-token': token },
      json: { key: 'blob', value: 'x'.repeat(5000) },
    });
    expect(res.status).toBe(413);
    expect(res.text).toBe('{"error":"too_large"}');
    expect(res.setCookies).toEqual([]);
    // The old cookie still holds the session as it was.
    const read = await req('GET', '/read', { cookie });
    expect(read.json()).toMatchObject({ state: 'active', data: {} });
  });

  it('ends an older cookie of the user after revokeAll (watermark in a shared store)', async () => {
    const old = await signedIn('erin');
    clock += 1000;
    const current = await signedIn('erin');
    expect((await req('GET', '/read', { cookie: old.cookie })).json()).toMatchObject({
      userId: 'erin',
    });
    clock += 1000;
    const revoke = await req('POST', '/revoke-all', {
      cookie: current.cookie,
      headers: { 'x-csrf-token': current.token },
    });
    expect(revoke.status).toBe(200);
    clock += 1000;
    for (const cookie of [old.cookie, current.cookie]) {
      const res = await req('GET', '/read', { cookie });
      expect(res.json()).toEqual({ state: 'anonymous', userId: null, data: {} });
      expect(res.setCookies).toEqual([CLEAR_COOKIE]);
    }
    // A sign-in after the revocation opens again.
    const fresh = await signedIn('erin');
    expect((await req('GET', '/read', { cookie: fresh.cookie })).json()).toMatchObject({
      userId: 'erin',
    });
  });
});
