/**
 * The deployment cases of the shared adapter suite, run for every adapter (from suite.ts): plain
 * http refused outside loopback with a hint in the 421 and one log line per host, a forwarding
 * header that is present but not trusted, the session served behind a trusted proxy, store
 * failures and CSRF refusals logged without flooding and without a token, and the `onError`
 * hook answering a refused form post with the app's own page — for each engine: in sealed mode
 * the store is the one behind the revocation watermarks, read when a signed-in session loads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorContext } from '../../src/adapters/shared/answer.js';
import type { AdapterOptions } from '../../src/adapters/shared/http.js';
import type { Start } from './suite.js';
import {
  captureLogger,
  cookieOf,
  type LogLine,
  type ModeName,
  modeEngine,
  type RunningApp,
  type SendOptions,
  send,
  type TestResponse,
  type TestStore,
} from './support.js';

/** The page an app renders for a refused form: the form again, with a fresh CSRF token. */
function formPage(action: string, token: string | undefined): string {
  return `<!doctype html><title>This form expired</title><form method="post" action="${action}"><input type="hidden" name="_csrf" value="${token ?? ''}"><button>Send again</button></form>`;
}

/** The HTML `Accept` of a browser's page load or form post. */
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/**
 * Register the deployment cases for one adapter and engine.
 * @param name - the adapter's name in test titles
 * @param mode - the engine: server-side sessions or sealed cookies
 * @param start - serve the shared app (see apps.ts) with this engine and extra options
 */
export function deploySuite(name: string, mode: ModeName, start: Start) {
  const title = mode === 'sealed' ? ' (sealed)' : '';
  describe(`adapter: ${name}${title} — deployment, errors and logging`, () => {
    let lines: LogLine[];
    let store: TestStore;
    let app: RunningApp;
    let proxied: RunningApp;
    /** Every cookie value and CSRF token this suite saw: none may reach a log line. */
    const secrets = new Set<string>();
    const contexts: ErrorContext[] = [];

    const onError: NonNullable<AdapterOptions['onError']> = (error, ctx) => {
      contexts.push(ctx);
      if (ctx.header('x-break-hook')) throw new Error('the page template broke');
      if (!ctx.wantsHTML) return undefined;
      if (error.code === 'ERR_CSRF')
        return { status: 403, body: formPage(ctx.path, ctx.csrfToken?.()) };
      if (error.code === 'ERR_STORE_UNAVAILABLE')
        return { body: '<!doctype html><p>Sessions are down; try again in a moment.</p>' };
      return undefined;
    };

    beforeAll(async () => {
      const captured = captureLogger();
      lines = captured.lines;
      const t = modeEngine(mode, { logger: captured.logger });
      store = t.store;
      [app, proxied] = await Promise.all([
        start(t.engine, { onError }),
        start(t.engine, { trustProxy: 1 }),
      ]);
    });
    afterAll(async () => {
      await Promise.all([app?.close(), proxied?.close()]);
    });

    const req = (method: string, path: string, options?: SendOptions) =>
      send(app.url, method, path, options).then(remember);
    const viaProxy = (method: string, path: string, options?: SendOptions) =>
      send(proxied.url, method, path, options).then(remember);
    function remember(res: TestResponse): TestResponse {
      for (const c of res.setCookies) secrets.add(c.split(';')[0]!.split('=')[1]!);
      const token = /"token":"([^"]+)"|name="_csrf" value="([^"]+)"/.exec(res.text);
      if (token) secrets.add(token[1] ?? token[2]!);
      return res;
    }
    const of = (event: string) => lines.filter((l) => l.fields.event === event);

    async function visitor(): Promise<{ cookie: string; token: string }> {
      const pre = await req('GET', '/csrf');
      return { cookie: cookieOf(pre)!, token: (pre.json() as { token: string }).token };
    }

    /**
     * The cookie of a session whose load asks the store: one the store holds (a pre-session
     * cookie never reaches it), or in sealed mode a signed-in one (its watermark is read).
     */
    async function stored(): Promise<string> {
      const { cookie, token } = await visitor();
      const set = await req('POST', '/set', {
        cookie,
        headers: { 'x-csrf-token': token },
        json: { key: 'color', value: 'blue' },
      });
      expect(set.status).toBe(200);
      if (mode === 'server') return cookieOf(set)!;
      const login = await req('POST', '/login', {
        cookie: cookieOf(set),
        headers: { 'x-csrf-token': token },
      });
      expect(login.status).toBe(200);
      return cookieOf(login)!;
    }

    describe('plain http outside loopback', () => {
      it('answers a LAN address, a container name and a public name with 421, a hint, and logs each host once', async () => {
        const hosts = ['192.168.1.20:3000', 'web:3000', 'app.example.com'];
        for (const host of hosts) {
          for (let i = 0; i < 3; i++) {
            const res = await req('GET', '/read', { headers: { host } });
            expect(res.status).toBe(421);
            expect(res.setCookies).toEqual([]);
            const body = res.json() as { error: string; hint: string };
            expect(body.error).toBe('insecure_transport');
            expect(body.hint).toMatch(/trustProxy/);
            expect(body.hint).toMatch(/allowInsecure: true/);
          }
        }
        const logged = of('insecure_transport');
        expect(logged.map((l) => l.fields.host)).toEqual(hosts);
        for (const [i, l] of logged.entries()) {
          expect(l.level).toBe('warn');
          expect(l.message).toContain(`"${hosts[i]}"`);
          expect(l.message).toMatch(/plain http, the host is not loopback/);
          expect(l.message).toMatch(/set the adapter's trustProxy option/);
          expect(l.message).toMatch(/allowInsecure: true/);
        }
      });

      it('says so when X-Forwarded-Proto or Forwarded is present but trustProxy is off', async () => {
        const xfp = await req('GET', '/read', {
          headers: { host: 'behind-a-proxy.example', 'x-forwarded-proto': 'https' },
        });
        expect(xfp.status).toBe(421);
        expect((xfp.json() as { hint: string }).hint).toContain(
          'X-Forwarded-Proto is present but trustProxy is off',
        );
        const fwd = await req('GET', '/read', {
          headers: { host: 'rfc7239.example', forwarded: 'for=203.0.113.9;proto=https' },
        });
        expect(fwd.status).toBe(421);
        expect((fwd.json() as { hint: string }).hint).toContain(
          'Forwarded is present but trustProxy is off',
        );
        const logged = of('insecure_transport').filter((l) =>
          ['behind-a-proxy.example', 'rfc7239.example'].includes(String(l.fields.host)),
        );
        expect(logged.map((l) => l.fields.why)).toEqual([
          'X-Forwarded-Proto is present but trustProxy is off',
          'Forwarded is present but trustProxy is off',
        ]);
      });

      it('serves the session behind a trusted proxy, and names the header a trusted proxy did not set', async () => {
        const host = 'shop.example';
        const https = { host, 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' };
        const pre = await viaProxy('GET', '/csrf', { headers: https });
        expect(pre.status).toBe(200);
        const { token } = pre.json() as { token: string };
        const set = await viaProxy('POST', '/set', {
          cookie: cookieOf(pre),
          headers: { ...https, origin: `https://${host}`, 'x-csrf-token': token },
          json: { key: 'color', value: 'teal' },
        });
        expect(set.status).toBe(200);
        const read = await viaProxy('GET', '/read', { cookie: cookieOf(set), headers: https });
        expect(read.json()).toMatchObject({ state: 'active', data: { color: 'teal' } });

        const bare = await viaProxy('GET', '/read', { headers: { host } });
        expect(bare.status).toBe(421);
        expect((bare.json() as { hint: string }).hint).toContain(
          'trustProxy is on but the request carries no X-Forwarded-Proto',
        );
        const other = await viaProxy('GET', '/read', {
          headers: { host, forwarded: 'for=203.0.113.9;proto=https' },
        });
        expect((other.json() as { hint: string }).hint).toContain(
          "Forwarded is present but the adapter reads X-Forwarded-Proto: set proxyHeader: 'forwarded'",
        );
      });
    });

    describe('logging', () => {
      it('logs CSRF refusals at info, once per reason and window, not once per request', async () => {
        const { cookie } = await visitor();
        const before = of('csrf_rejected').length;
        for (let i = 0; i < 5; i++) {
          const res = await req('POST', '/set', { cookie, json: { key: 'k', value: i } });
          expect(res.status).toBe(403);
        }
        const logged = of('csrf_rejected').slice(before);
        expect(logged).toHaveLength(1);
        expect(logged[0]).toMatchObject({ level: 'info', fields: { reason: 'missing_token' } });
      });

      it('warns once when a form from this host over https arrives as plain http (TLS ends at an untrusted proxy)', async () => {
        const { cookie, token } = await visitor();
        const host = new URL(app.url).host;
        for (let i = 0; i < 2; i++) {
          const res = await req('POST', '/set', {
            cookie,
            headers: { origin: `https://${host}`, 'x-csrf-token': token },
            json: { key: 'k', value: i },
          });
          expect(res.status).toBe(403);
        }
        const logged = of('csrf_scheme_mismatch');
        expect(logged).toHaveLength(1);
        expect(logged[0]!.level).toBe('warn');
        expect(logged[0]!.message).toContain(`https://${host}`);
        expect(logged[0]!.message).toMatch(/trustProxy/);
      });

      it('logs a store outage once with the cause, not once per 503', async () => {
        const session = await stored();
        expect(of('store_error')).toHaveLength(0);
        store.down = true;
        try {
          for (let i = 0; i < 5; i++)
            expect((await req('GET', '/read', { cookie: session })).status).toBe(503);
        } finally {
          store.down = false;
        }
        expect((await req('GET', '/read', { cookie: session })).status).toBe(200);
        const logged = of('store_error');
        expect(logged).toHaveLength(1);
        expect(logged[0]!.level).toBe('error');
        expect(logged[0]!.message).toContain('connection refused (test outage)');
        expect(logged[0]!.message).toMatch(/503/);
      });
    });

    describe('onError', () => {
      it("answers a refused form post with the app's page, whose form then goes through", async () => {
        const refused = await req('POST', '/set', {
          headers: { accept: BROWSER, 'sec-fetch-site': 'same-origin' },
          form: { key: 'color', value: 'red' },
        });
        expect(refused.status).toBe(403);
        expect(refused.headers['content-type']).toMatch(/^text\/html/);
        expect(refused.headers['cache-control']).toBe('no-store');
        const token = /name="_csrf" value="([^"]+)"/.exec(refused.text)?.[1];
        expect(token).toBeTruthy();
        // The page's token belongs to the pre-session cookie (a seal) the refusal sets.
        const cookie = cookieOf(refused);
        expect(cookie).toMatch(mode === 'server' ? /=p\./ : /=v1\.k1\./);

        const again = await req('POST', '/set', {
          cookie,
          headers: { accept: BROWSER, 'sec-fetch-site': 'same-origin' },
          form: { _csrf: token!, key: 'color', value: 'red' },
        });
        expect(again.status).toBe(200);
        const read = await req('GET', '/read', { cookie: cookieOf(again) });
        expect(read.json()).toMatchObject({ state: 'active', data: { color: 'red' } });
        expect(contexts.at(-1)).toMatchObject({ method: 'POST', path: '/set', status: 403 });
      });

      it('keeps the JSON answer for a JSON request', async () => {
        const { cookie } = await visitor();
        const res = await req('POST', '/set', {
          cookie,
          headers: { accept: 'application/json' },
          json: { key: 'color', value: 'red' },
        });
        expect(res.status).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(res.json()).toEqual({ error: 'csrf' });
        expect(contexts.at(-1)).toMatchObject({ wantsHTML: false, body: '{"error":"csrf"}' });
      });

      it('renders the store-down page for a browser, keeping Retry-After and no-store', async () => {
        const cookie = await stored();
        store.down = true;
        let res: TestResponse;
        try {
          res = await req('GET', '/read', { cookie, headers: { accept: BROWSER } });
        } finally {
          store.down = false;
        }
        expect(res.status).toBe(503);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.text).toContain('Sessions are down');
        expect(res.headers['retry-after']).toBe('1');
        expect(res.headers['cache-control']).toBe('no-store');
        // No session could be loaded: no token to render.
        expect(contexts.at(-1)?.csrfToken).toBeUndefined();
      });

      it('answers with the JSON error and logs it when the hook throws', async () => {
        const res = await req('POST', '/set', {
          headers: { accept: BROWSER, 'x-break-hook': '1' },
          form: { key: 'color', value: 'red' },
        });
        expect(res.status).toBe(403);
        expect(res.json()).toEqual({ error: 'csrf' });
        const logged = of('on_error_failed');
        expect(logged.at(-1)?.level).toBe('error');
        expect(logged.at(-1)?.message).toContain('the page template broke');
      });
    });

    it('never logs a token, a cookie value or a CSRF token', () => {
      expect(secrets.size).toBeGreaterThan(5);
      const text = lines
        .map(
          (l) =>
            `${l.message} ${JSON.stringify(l.fields, (_k, v) => (v instanceof Error ? v.message : v))}`,
        )
        .join('\n');
      for (const secret of secrets) {
        expect(text).not.toContain(secret);
        // The part after the prefix and key id, too (a token without its framing).
        expect(text).not.toContain(secret.slice(-20));
      }
    });
  });
}
