/**
 * The shared adapter suite: the same cases, the same expected cookies and status codes, over
 * real HTTP on 127.0.0.1, for every adapter and both engines (server-side sessions and sealed
 * cookies). An adapter that behaves differently is a bug.
 *
 * A case runs in both modes unless it tests what only a session store can do; those are
 * registered with `serverOnly` (each says why), and what sealed mode does instead with
 * `sealedOnly`.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Extra } from './apps.js';
import { deploySuite } from './deploy-suite.js';
import {
  type AppData,
  type AppEngine,
  captureLogger,
  cookieOf,
  type ModeName,
  modeEngine,
  type RunningApp,
  type SendOptions,
  send,
  type TestStore,
} from './support.js';

/** `__Host-tessera=<token>` with the exact default attributes, in order. */
const SESSION_COOKIE = /^__Host-tessera=[A-Za-z0-9_.-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;
/** `__Host-tessera=v1.<kid>.<seal>` with the exact default attributes, in order. */
const SEALED_COOKIE =
  /^__Host-tessera=v1\.k1\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;
const CLEAR_COOKIE =
  '__Host-tessera=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax';
/** Lines of a stack trace, or source paths. */
const STACK = /\n\s+at |\.ts:\d+|node_modules|BoomError/;

/** Serve the shared app (see apps.ts) with an engine of either mode. */
export type Start = (engine: AppEngine, extra?: Extra) => Promise<RunningApp>;

/** What differs between the modes in what a client sees. */
const MODES: Record<ModeName, { title: string; preCookie: RegExp; sessionCookie: RegExp }> = {
  // A pre-session (`p.`) cookie carries only the CSRF binding; a stored session's is `s.`.
  server: { title: '', preCookie: /^__Host-tessera=p\./, sessionCookie: /^__Host-tessera=s\./ },
  // Every sealed cookie is a seal: `v1.<kid>.<base64url>`.
  sealed: { title: ' (sealed)', preCookie: SEALED_COOKIE, sessionCookie: SEALED_COOKIE },
};

/**
 * Register the suite for one adapter, once per engine.
 * @param name - the adapter's name in test titles
 * @param start - serve the shared app (see apps.ts) with this engine
 */
export function adapterSuite(name: string, start: Start) {
  for (const mode of ['server', 'sealed'] as const) {
    deploySuite(name, mode, start);
    modeSuite(name, mode, start);
  }
}

function modeSuite(name: string, mode: ModeName, start: Start) {
  const { title, preCookie, sessionCookie } = MODES[mode];
  /** A case only a session store makes true (sealed mode has none). */
  const serverOnly = mode === 'server' ? it : () => {};
  /** What sealed mode does instead. */
  const sealedOnly = mode === 'sealed' ? it : () => {};
  describe(`adapter: ${name}${title}`, () => {
    let app: RunningApp;
    let store: TestStore;
    let engine: AppEngine;
    let advance: (ms: number) => void;
    let base: string;
    const req = (method: string, path: string, options?: SendOptions) =>
      send(base, method, path, options);

    beforeAll(async () => {
      // Its lines are looked at in deploy-suite.ts; here they only stay out of the test output.
      const t = modeEngine(mode, { logger: captureLogger().logger });
      store = t.store;
      engine = t.engine;
      advance = t.advance;
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

    /**
     * A signed-in user's cookie and the token of that session (a sealed session's GET /csrf may
     * re-seal it: then its cookie is the one to use).
     */
    async function signedIn(): Promise<{ cookie: string; token: string }> {
      const v = await visitor();
      const login = await req('POST', '/login', {
        cookie: v.cookie,
        headers: { 'x-csrf-token': v.token },
      });
      expect(login.status).toBe(200);
      const cookie = cookieOf(login)!;
      const pre = await req('GET', '/csrf', { cookie });
      return { cookie: cookieOf(pre) ?? cookie, token: (pre.json() as { token: string }).token };
    }

    /**
     * The cookie of a session whose load asks the store: a stored session, or in sealed mode a
     * signed-in one (its revocation watermark is read on every load).
     */
    async function loadsFromStore(): Promise<{ cookie: string; token: string }> {
      return mode === 'server' ? visitor() : signedIn();
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
      expect(pre.setCookies[0]).toMatch(preCookie);
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
      expect(set.setCookies[0]).toMatch(sessionCookie);
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
      /** The cookie that holds a write: the same one, or in sealed mode the new seal. */
      const written = (res: Awaited<ReturnType<typeof req>>, cookie: string) =>
        mode === 'sealed' ? cookieOf(res)! : cookie;
      const colorOf = async (cookie: string) =>
        ((await req('GET', '/read', { cookie })).json() as { data: AppData }).data.color;

      it('refuses an unsafe request without a token, and nothing is written', async () => {
        const { cookie } = await visitor();
        refused(await set(cookie, {}));
        expect(await colorOf(cookie)).toBe('blue');
      });

      it('refuses a forged token', async () => {
        const { cookie, token } = await visitor();
        // Two characters changed: 'AA', or 'BB' when the genuine token ends in 'AA' (1 in 4,096),
        // so that the forgery is never the token itself.
        const tail = token.endsWith('AA') ? 'BB' : 'AA';
        refused(await set(cookie, { 'x-csrf-token': `${token.slice(0, -2)}${tail}` }));
        refused(await set(cookie, { 'x-csrf-token': 'k1.forged' }));
        refused(await set(cookie, { 'x-csrf-token': 'x'.repeat(token.length) }));
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
        expect(await colorOf(written(res, cookie))).toBe('red');
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
        expect(await colorOf(written(res, cookie))).toBe('green');
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

    // Sealed: a copy of the old seal opens until its deadline (no server state to end it).
    serverOnly(
      'rotates the cookie on login; the old cookie no longer opens the session',
      async () => {
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
      },
    );

    // Sealed: logout clears the cookie, but a copy of it opens until its deadline.
    serverOnly(
      'clears the cookie on logout (Max-Age=0, Secure, Path=/) and ends the session',
      async () => {
        const { cookie, token } = await visitor();
        const res = await req('POST', '/logout', { cookie, headers: { 'x-csrf-token': token } });
        expect(res.status).toBe(200);
        expect(res.setCookies).toEqual([CLEAR_COOKIE]);
        expect(res.headers['cache-control']).toBe('no-store');
        const after = await req('GET', '/read', { cookie });
        expect(after.json()).toMatchObject({ state: 'anonymous', data: {} });
      },
    );

    // Sealed: no grace state; the old seal stays what it was.
    serverOnly(
      'regenerates: a new cookie, the same data, the old token read-only in its grace',
      async () => {
        const { cookie, token } = await visitor();
        const res = await req('POST', '/regenerate', {
          cookie,
          headers: { 'x-csrf-token': token },
        });
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
      },
    );

    sealedOnly('rotates the seal and the CSRF binding on login', async () => {
      const v = await visitor();
      const login = await req('POST', '/login', {
        cookie: v.cookie,
        headers: { 'x-csrf-token': v.token },
      });
      expect(login.status).toBe(200);
      expect(login.setCookies[0]).toMatch(SEALED_COOKIE);
      expect(login.headers['cache-control']).toBe('no-store');
      const cookie = cookieOf(login)!;
      expect(cookie).not.toBe(v.cookie);
      expect((await req('GET', '/read', { cookie })).json()).toMatchObject({
        state: 'active',
        userId: 'alice',
        data: { color: 'blue' },
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

    sealedOnly('clears the cookie on logout (Max-Age=0, Secure, Path=/)', async () => {
      const { cookie, token } = await signedIn();
      const out = await req('POST', '/logout', { cookie, headers: { 'x-csrf-token': token } });
      expect(out.status).toBe(200);
      expect(out.setCookies).toEqual([CLEAR_COOKIE]);
      expect(out.headers['cache-control']).toBe('no-store');
    });

    sealedOnly(
      'regenerates: a new seal, the same data, the old CSRF token refused with it',
      async () => {
        const { cookie, token } = await visitor();
        const res = await req('POST', '/regenerate', {
          cookie,
          headers: { 'x-csrf-token': token },
        });
        expect(res.status).toBe(200);
        expect(res.setCookies[0]).toMatch(SEALED_COOKIE);
        const next = cookieOf(res)!;
        expect(next).not.toBe(cookie);
        expect((await req('GET', '/read', { cookie: next })).json()).toMatchObject({
          state: 'active',
          data: { color: 'blue' },
        });
        const stale = await req('POST', '/set', {
          cookie: next,
          headers: { 'x-csrf-token': token },
          json: { key: 'a', value: 1 },
        });
        expect(stale.status).toBe(403);
      },
    );

    it('treats a tampered cookie as no session: 200, the cookie cleared, never 4xx or 500', async () => {
      const { cookie } = await visitor();
      const last = cookie.at(-1) === 'A' ? 'B' : 'A';
      // One byte inside the seal, too: the last base64url character may hold only padding bits.
      const i = cookie.length - 10;
      const inside = `${cookie.slice(0, i)}${cookie[i] === 'A' ? 'B' : 'A'}${cookie.slice(i + 1)}`;
      for (const bad of [
        `${cookie.slice(0, -1)}${last}`,
        '__Host-tessera=not-a-token',
        `${cookie}; ${cookie}`,
        ...(mode === 'sealed' ? [inside] : []),
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
        const { cookie } = await loadsFromStore();
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

      // Sealed: a commit writes only the cookie (its store failure is the 413 below).
      serverOnly(
        'answers 503 {"error":"store_unavailable"} when saving fails, without a cookie',
        async () => {
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
        },
      );
    });

    sealedOnly(
      'answers 413 {"error":"too_large"} when the data does not fit in a cookie',
      async () => {
        const { cookie, token } = await visitor();
        const res = await req('POST', '/set', {
          cookie,
          headers: { 'x-csrf-token': token },
          json: { key: 'blob', value: 'x'.repeat(5000) },
        });
        expect(res.status).toBe(413);
        expect(res.text).toBe('{"error":"too_large"}');
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.setCookies).toEqual([]);
        // The old cookie still holds the session as it was.
        const read = await req('GET', '/read', { cookie });
        expect(read.json()).toMatchObject({ state: 'active', data: { color: 'blue' } });
      },
    );

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

    // Sealed: the write is a new seal, sent with the head (the sealed case below).
    serverOnly(
      'streams a response to a stored session with no-store, saving a write made before streaming',
      async () => {
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
      },
    );

    sealedOnly(
      'streams with no-store, sending the new seal of a write made before streaming',
      async () => {
        let { cookie } = await visitor();
        for (const n of [1, 2]) {
          const res = await req('GET', '/stream?set=1', { cookie });
          expect(res.status).toBe(200);
          expect(res.text).toBe('chunk0\nchunk1\nchunk2\n');
          expect(res.headers['cache-control']).toBe('no-store');
          expect(res.setCookies).toHaveLength(1);
          expect(res.setCookies[0]).toMatch(SEALED_COOKIE);
          cookie = cookieOf(res)!;
          expect((await req('GET', '/read', { cookie })).json()).toMatchObject({
            data: { color: 'blue', streamed: n },
          });
        }
      },
    );

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

    // Sealed: each response carries its own seal and the browser keeps the last one; there is
    // no server state to merge parallel writes into (docs/sealed.md).
    serverOnly('keeps every key of parallel POSTs to one session', async () => {
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

    it('ends every older cookie of the user after revokeAll, and a later sign-in opens', async () => {
      // The sealed engine's clock moves on between the steps, so that each sign-in and the
      // revocation fall in different milliseconds (the server engine keeps its store's clock).
      const old = await signedIn();
      advance(1000);
      const current = await signedIn();
      expect((await req('GET', '/read', { cookie: old.cookie })).json()).toMatchObject({
        userId: 'alice',
      });
      advance(1000);
      const revoke = await req('POST', '/revoke-all', {
        cookie: current.cookie,
        headers: { 'x-csrf-token': current.token },
      });
      expect(revoke.status).toBe(200);
      advance(1000);
      for (const cookie of [old.cookie, current.cookie]) {
        const res = await req('GET', '/read', { cookie });
        expect(res.json()).toEqual({ state: 'anonymous', userId: null, data: {} });
        expect(res.setCookies).toEqual([CLEAR_COOKIE]);
      }
      const fresh = await signedIn();
      expect((await req('GET', '/read', { cookie: fresh.cookie })).json()).toMatchObject({
        userId: 'alice',
      });
    });
  });
}
