/**
 * The shared adapter suite: the same cases, the same expected cookies and status codes, over
 * real HTTP on 127.0.0.1, for every adapter. An adapter that behaves differently is a bug.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SessionManager } from '../../src/core/engine.js';
import type { Extra } from './apps.js';
import { deploySuite } from './deploy-suite.js';
import {
  type AppData,
  captureLogger,
  cookieOf,
  type RunningApp,
  type SendOptions,
  send,
  type TestStore,
  testEngine,
} from './support.js';

/** `__Host-tessera=<token>` with the exact default attributes, in order. */
const SESSION_COOKIE = /^__Host-tessera=[A-Za-z0-9_.-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;
const CLEAR_COOKIE =
  '__Host-tessera=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax';
/** Lines of a stack trace, or source paths. */
const STACK = /\n\s+at |\.ts:\d+|node_modules|BoomError/;

/**
 * Register the suite for one adapter.
 * @param name - the adapter's name in test titles
 * @param start - serve the shared app (see apps.ts) with this engine
 */
export function adapterSuite(
  name: string,
  start: (engine: SessionManager<AppData>, extra?: Extra) => Promise<RunningApp>,
) {
  deploySuite(name, start);
  describe(`adapter: ${name}`, () => {
    let app: RunningApp;
    let store: TestStore;
    let engine: SessionManager<AppData>;
    let base: string;
    const req = (method: string, path: string, options?: SendOptions) =>
      send(base, method, path, options);

    beforeAll(async () => {
      // Its lines are looked at in deploy-suite.ts; here they only stay out of the test output.
      const t = testEngine({ logger: captureLogger().logger });
      store = t.store;
      engine = t.engine;
      app = await start(t.engine);
      base = app.url;
    });
    afterAll(async () => {
      await app?.close();
    });

    /** A visitor with a stored session holding `color=blue`, and its CSRF token. */
    async function visitor(): Promise<{ cookie: string; token: string }> {
      const pre = await req('GET', '/csrf');
      const preCookie = cookieOf(pre)!;
      const { token } = pre.json() as { token: string };
      const set = await req('POST', '/set', {
        cookie: preCookie,
        headers: { 'x-csrf-token': token },
        json: { key: 'color', value: 'blue' },
      });
      expect(set.status).toBe(200);
      return { cookie: cookieOf(set)!, token };
    }

    it('sends no cookie to a visitor without one on a read', async () => {
      const res = await req('GET', '/read');
      expect(res.status).toBe(200);
      expect(res.setCookies).toEqual([]);
      expect(res.headers['cache-control']).not.toBe('no-store');
      expect(res.json()).toEqual({ state: 'anonymous', userId: null, data: {} });
    });

    it('sets __Host-tessera with the exact attributes, a pre-session cookie first, then the session', async () => {
      const pre = await req('GET', '/csrf');
      expect(pre.status).toBe(200);
      expect(pre.setCookies).toHaveLength(1);
      expect(pre.setCookies[0]).toMatch(SESSION_COOKIE);
      expect(pre.setCookies[0]).toMatch(/^__Host-tessera=p\./);
      expect(pre.headers['cache-control']).toBe('no-store');
      const { token } = pre.json() as { token: string };

      const set = await req('POST', '/set', {
        cookie: cookieOf(pre),
        headers: { 'x-csrf-token': token },
        json: { key: 'color', value: 'blue' },
      });
      expect(set.status).toBe(200);
      expect(set.json()).toEqual({ ok: true, key: 'color', value: 'blue' });
      expect(set.setCookies).toHaveLength(1);
      expect(set.setCookies[0]).toMatch(SESSION_COOKIE);
      expect(set.setCookies[0]).toMatch(/^__Host-tessera=s\./);
      expect(set.headers['cache-control']).toBe('no-store');
    });

    it('never takes a session token from the URL (query or path), only from the cookie', async () => {
      const { cookie } = await visitor();
      const token = cookie.slice('__Host-tessera='.length);
      for (const path of [
        `/read?__Host-tessera=${token}`,
        `/read?session=${token}`,
        `/read?token=${token}`,
      ]) {
        const res = await req('GET', path);
        expect(res.status).toBe(200);
        expect(res.json()).toEqual({ state: 'anonymous', userId: null, data: {} });
      }
    });

    it('reads the data back with no-store and no new cookie', async () => {
      const { cookie } = await visitor();
      const res = await req('GET', '/read', { cookie });
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ state: 'active', userId: null, data: { color: 'blue' } });
      expect(res.setCookies).toEqual([]);
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('writes nothing to the store on a read-only request', async () => {
      const { cookie } = await visitor();
      const before = store.writes;
      for (let i = 0; i < 3; i++) {
        const res = await req('GET', '/read', { cookie });
        expect(res.status).toBe(200);
        expect(res.setCookies).toEqual([]);
      }
      expect(store.writes).toBe(before);
    });

    describe('CSRF', () => {
      const refused = (res: Awaited<ReturnType<typeof req>>) => {
        expect(res.status).toBe(403);
        expect(res.json()).toEqual({ error: 'csrf' });
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(res.headers['cache-control']).toBe('no-store');
      };
      const set = (cookie: string, headers: Record<string, string>) =>
        req('POST', '/set', { cookie, headers, json: { key: 'color', value: 'red' } });
      const colorOf = async (cookie: string) =>
        ((await req('GET', '/read', { cookie })).json() as { data: AppData }).data.color;

      it('refuses an unsafe request without a token, and nothing is written', async () => {
        const { cookie } = await visitor();
        refused(await set(cookie, {}));
        expect(await colorOf(cookie)).toBe('blue');
      });

      it('refuses a forged token', async () => {
        const { cookie, token } = await visitor();
        refused(await set(cookie, { 'x-csrf-token': `${token.slice(0, -2)}AA` }));
        refused(await set(cookie, { 'x-csrf-token': 'k1.forged' }));
        expect(await colorOf(cookie)).toBe('blue');
      });

      it("refuses another session's token", async () => {
        const a = await visitor();
        const b = await visitor();
        refused(await set(a.cookie, { 'x-csrf-token': b.token }));
      });

      it('refuses a cross-site Sec-Fetch-Site even with a valid token', async () => {
        const { cookie, token } = await visitor();
        refused(await set(cookie, { 'x-csrf-token': token, 'sec-fetch-site': 'cross-site' }));
        refused(await set(cookie, { 'x-csrf-token': token, 'sec-fetch-site': 'same-site' }));
      });

      it('refuses a mismatched Origin even with a valid token', async () => {
        const { cookie, token } = await visitor();
        refused(await set(cookie, { 'x-csrf-token': token, origin: 'http://evil.example' }));
        refused(await set(cookie, { 'x-csrf-token': token, origin: 'null' }));
      });

      it('accepts the header token with a same-origin Origin and Sec-Fetch-Site', async () => {
        const { cookie, token } = await visitor();
        const res = await set(cookie, {
          'x-csrf-token': token,
          origin: base,
          'sec-fetch-site': 'same-origin',
        });
        expect(res.status).toBe(200);
        expect(await colorOf(cookie)).toBe('red');
      });

      it('accepts the urlencoded _csrf field, and the handler still sees the form body', async () => {
        const { cookie, token } = await visitor();
        const res = await req('POST', '/set', {
          cookie,
          headers: { origin: base },
          form: { _csrf: token, key: 'color', value: 'green' },
        });
        expect(res.status).toBe(200);
        expect(res.json()).toEqual({ ok: true, key: 'color', value: 'green' });
        expect(await colorOf(cookie)).toBe('green');
      });

      it('refuses a wrong urlencoded _csrf field', async () => {
        const { cookie, token } = await visitor();
        refused(
          await req('POST', '/set', {
            cookie,
            form: { _csrf: `${token}x`, key: 'color', value: 'green' },
          }),
        );
      });

      it('answers 413 when the form it must read for _csrf is over bodyLimit', async () => {
        const { cookie, token } = await visitor();
        const res = await req('POST', '/set', {
          cookie,
          form: `_csrf=${token}&key=big&value=${'x'.repeat(70_000)}`,
        });
        expect(res.status).toBe(413);
        expect(res.json()).toEqual({ error: 'too_large' });
      });

      it('refuses a simple content type without the header on a jsonOnly route with 415', async () => {
        const { cookie, token } = await visitor();
        const res = await req('POST', '/regenerate', { cookie, form: { _csrf: token } });
        expect(res.status).toBe(415);
        expect(res.json()).toEqual({ error: 'unsupported_media_type' });
        expect(res.headers['cache-control']).toBe('no-store');
      });

      it('sends Vary: Sec-Fetch-Site, Origin when the CSRF outcome depended on them', async () => {
        const { cookie, token } = await visitor();
        const ok = await set(cookie, { 'x-csrf-token': token });
        expect(ok.status).toBe(200);
        expect(ok.headers.vary).toBe('Sec-Fetch-Site, Origin');
        const refusedRes = await set(cookie, {});
        expect(refusedRes.headers.vary).toBe('Sec-Fetch-Site, Origin');
        expect((await req('GET', '/read', { cookie })).headers.vary).toBeUndefined();
      });

      it('lets a skipCSRF route through without a token', async () => {
        const { cookie } = await visitor();
        const res = await req('POST', '/webhook', { cookie, json: {} });
        expect(res.status).toBe(200);
        expect(res.json()).toEqual({ ok: true });
      });
    });

    describe('verifyCSRF inside a skipCSRF route (401 before 403)', () => {
      /** A signed-in user's cookie and the token of that session. */
      async function signedIn(): Promise<{ cookie: string; token: string }> {
        const v = await visitor();
        const login = await req('POST', '/login', {
          cookie: v.cookie,
          headers: { 'x-csrf-token': v.token },
        });
        expect(login.status).toBe(200);
        const cookie = cookieOf(login)!;
        const { token } = (await req('GET', '/csrf', { cookie })).json() as { token: string };
        return { cookie, token };
      }

      it('answers 401 to an anonymous visitor without a token, before any CSRF check', async () => {
        const { cookie } = await visitor();
        const res = await req('POST', '/deferred', { cookie });
        expect(res.status).toBe(401);
        expect(res.json()).toEqual({ error: 'unauthenticated' });
      });

      it('answers 403 csrf to a signed-in user without a token and emits csrf_rejected', async () => {
        const { cookie } = await signedIn();
        const events: string[] = [];
        const off = engine.on('csrf_rejected', (e) => events.push(String(e.reason)));
        try {
          const res = await req('POST', '/deferred', { cookie });
          expect(res.status).toBe(403);
          expect(res.json()).toEqual({ error: 'csrf' });
          expect(res.headers.vary).toBe('Sec-Fetch-Site, Origin');
        } finally {
          off();
        }
        expect(events).toEqual(['missing_token']);
      });

      it('answers 403 to a cross-site request even with a valid token', async () => {
        const { cookie, token } = await signedIn();
        const res = await req('POST', '/deferred', {
          cookie,
          headers: { 'x-csrf-token': token, 'sec-fetch-site': 'cross-site' },
        });
        expect(res.status).toBe(403);
        expect(res.json()).toEqual({ error: 'csrf' });
      });

      it('passes a signed-in user with the header token', async () => {
        const { cookie, token } = await signedIn();
        const res = await req('POST', '/deferred', { cookie, headers: { 'x-csrf-token': token } });
        expect(res.status).toBe(200);
        expect(res.json()).toEqual({ ok: true, note: null });
        expect(res.headers.vary).toBe('Sec-Fetch-Site, Origin');
      });

      it('passes a signed-in user with an urlencoded _csrf and leaves the form to the handler', async () => {
        const { cookie, token } = await signedIn();
        const res = await req('POST', '/deferred', { cookie, form: { _csrf: token, note: 'hi' } });
        expect(res.status).toBe(200);
        expect(res.json()).toEqual({ ok: true, note: 'hi' });
      });

      it('passes a GET at once without a token', async () => {
        const { cookie } = await signedIn();
        const res = await req('GET', '/deferred', { cookie });
        expect(res.status).toBe(200);
        expect(res.json()).toEqual({ ok: true, note: null });
      });
    });

    it('rotates the cookie on login; the old cookie no longer opens the session', async () => {
      const { cookie, token } = await visitor();
      const res = await req('POST', '/login', { cookie, headers: { 'x-csrf-token': token } });
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ userId: 'alice' });
      expect(res.setCookies).toHaveLength(1);
      expect(res.setCookies[0]).toMatch(SESSION_COOKIE);
      expect(res.headers['cache-control']).toBe('no-store');
      const rotated = cookieOf(res)!;
      expect(rotated).not.toBe(cookie);
      const after = (await req('GET', '/read', { cookie: rotated })).json();
      expect(after).toEqual({ state: 'active', userId: 'alice', data: { color: 'blue' } });
      const old = await req('GET', '/read', { cookie });
      expect(old.status).toBe(200);
      expect(old.json()).toMatchObject({ state: 'anonymous', userId: null });
      expect(old.setCookies).toEqual([CLEAR_COOKIE]);
    });

    it('clears the cookie on logout (Max-Age=0, Secure, Path=/) and ends the session', async () => {
      const { cookie, token } = await visitor();
      const res = await req('POST', '/logout', { cookie, headers: { 'x-csrf-token': token } });
      expect(res.status).toBe(200);
      expect(res.setCookies).toEqual([CLEAR_COOKIE]);
      expect(res.headers['cache-control']).toBe('no-store');
      const after = await req('GET', '/read', { cookie });
      expect(after.json()).toMatchObject({ state: 'anonymous', data: {} });
    });

    it('regenerates: a new cookie, the same data, the old token read-only in its grace', async () => {
      const { cookie, token } = await visitor();
      const res = await req('POST', '/regenerate', { cookie, headers: { 'x-csrf-token': token } });
      expect(res.status).toBe(200);
      const next = cookieOf(res)!;
      expect(res.setCookies[0]).toMatch(SESSION_COOKIE);
      expect(next).not.toBe(cookie);
      expect((await req('GET', '/read', { cookie: next })).json()).toMatchObject({
        state: 'active',
        data: { color: 'blue' },
      });
      expect((await req('GET', '/read', { cookie })).json()).toMatchObject({
        state: 'grace',
        data: { color: 'blue' },
      });
    });

    it('treats a tampered cookie as no session: 200, the cookie cleared, never 4xx or 500', async () => {
      const { cookie } = await visitor();
      const last = cookie.at(-1) === 'A' ? 'B' : 'A';
      for (const bad of [
        `${cookie.slice(0, -1)}${last}`,
        '__Host-tessera=not-a-token',
        `${cookie}; ${cookie}`,
      ]) {
        const res = await req('GET', '/read', { cookie: bad });
        expect(res.status).toBe(200);
        expect(res.json()).toMatchObject({ state: 'anonymous', data: {} });
        expect(res.setCookies).toEqual([CLEAR_COOKIE]);
      }
    });

    it('refuses plain http outside loopback with 421 {"error":"insecure_transport"}', async () => {
      const res = await req('GET', '/read', { headers: { host: 'app.example.com' } });
      expect(res.status).toBe(421);
      expect(res.json()).toEqual({
        error: 'insecure_transport',
        hint: expect.stringContaining('trustProxy'),
      });
      expect(res.setCookies).toEqual([]);
    });

    describe('store outage', () => {
      it('answers 503 {"error":"store_unavailable"} when loading fails, then recovers', async () => {
        const { cookie } = await visitor();
        store.down = true;
        try {
          const res = await req('GET', '/read', { cookie });
          expect(res.status).toBe(503);
          expect(res.json()).toEqual({ error: 'store_unavailable' });
          expect(res.headers['cache-control']).toBe('no-store');
          expect(res.headers['retry-after']).toBe('1');
          expect(res.setCookies).toEqual([]);
        } finally {
          store.down = false;
        }
        expect((await req('GET', '/read', { cookie })).status).toBe(200);
      });

      it('answers 503 {"error":"store_unavailable"} when saving fails, without a cookie', async () => {
        const pre = await req('GET', '/csrf');
        const { token } = pre.json() as { token: string };
        store.down = true;
        try {
          const res = await req('POST', '/set', {
            cookie: cookieOf(pre),
            headers: { 'x-csrf-token': token },
            json: { key: 'color', value: 'blue' },
          });
          expect(res.status).toBe(503);
          expect(res.json()).toEqual({ error: 'store_unavailable' });
          expect(res.headers['cache-control']).toBe('no-store');
          expect(res.setCookies).toEqual([]);
        } finally {
          store.down = false;
        }
      });
    });

    it('answers a handler error with 500 and no stack trace', async () => {
      const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
      try {
        const { cookie } = await visitor();
        const res = await req('GET', '/throw', { cookie });
        expect(res.status).toBe(500);
        expect(res.text).not.toMatch(STACK);
      } finally {
        quiet.mockRestore();
      }
    });

    it('streams a response to a stored session with no-store, saving a write made before streaming', async () => {
      const { cookie } = await visitor();
      for (const n of [1, 2]) {
        const res = await req('GET', '/stream?set=1', { cookie });
        expect(res.status).toBe(200);
        expect(res.text).toBe('chunk0\nchunk1\nchunk2\n');
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.setCookies).toEqual([]);
        expect((await req('GET', '/read', { cookie })).json()).toMatchObject({
          data: { color: 'blue', streamed: n },
        });
      }
    });

    it("sends the cookie of a visitor's first write made before streaming", async () => {
      const res = await req('GET', '/stream?set=1');
      expect(res.status).toBe(200);
      expect(res.text).toBe('chunk0\nchunk1\nchunk2\n');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.setCookies).toHaveLength(1);
      expect(res.setCookies[0]).toMatch(SESSION_COOKIE);
      expect((await req('GET', '/read', { cookie: cookieOf(res) })).json()).toMatchObject({
        state: 'active',
        data: { streamed: 1 },
      });
    });

    it('keeps every key of parallel POSTs to one session', async () => {
      const { cookie, token } = await visitor();
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
      const results = await Promise.all(
        keys.map((key, i) =>
          req('POST', '/set', {
            cookie,
            headers: { 'x-csrf-token': token },
            json: { key, value: i },
          }),
        ),
      );
      for (const r of results) expect(r.status).toBe(200);
      const { data } = (await req('GET', '/read', { cookie })).json() as { data: AppData };
      expect(data).toEqual({ color: 'blue', ...Object.fromEntries(keys.map((k, i) => [k, i])) });
    });
  });
}
