/**
 * Every example starts as a user would run it (tsx, importing the built `tessera-session/...`)
 * on a free loopback port, and answers a short browser-like session: two visits, sign-in through
 * the form with its `_csrf` field, sign-out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTs } from '../test/support/process.js';

const root = join(import.meta.dirname, '..');
const SESSION_COOKIE = /^__Host-tessera=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(stops.map((s) => s()));
});

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'adapters', 'fetch', 'index.js')))
    throw new Error('The examples import the built package: run `npm run build` first.');
});

async function start(file: string): Promise<string> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startTs(join(root, 'examples', file), { PORT: String(port) }, `${base}/`);
  stops.push(server.stop);
  return base;
}

const cookieOf = (res: Response) => {
  const all = res.headers.getSetCookie();
  expect(all).toHaveLength(1);
  return all[0]!;
};

describe('examples', () => {
  for (const framework of ['node', 'express', 'fastify', 'hono', 'fetch']) {
    it(`${framework}: counts visits, signs in through the form with _csrf, signs out`, async () => {
      const base = await start(`${framework}/server.ts`);
      const get = (cookie?: string) =>
        fetch(`${base}/`, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
      const post = (path: string, cookie: string, form: Record<string, string>) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(form).toString(),
          redirect: 'manual',
        });

      const first = await get();
      expect(first.status).toBe(200);
      expect(first.headers.get('cache-control')).toBe('no-store');
      const set = cookieOf(first);
      expect(set).toMatch(SESSION_COOKIE);
      const cookie = set.split(';')[0]!;
      const html = await first.text();
      expect(html).toContain('guest, visit 1');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

      expect(await (await get(cookie)).text()).toContain('guest, visit 2');

      const forged = await post('/login', cookie, { user: 'alice', _csrf: `${csrf}x` });
      expect(forged.status).toBe(403);
      expect(await forged.json()).toEqual({ error: 'csrf' });

      const login = await post('/login', cookie, { user: 'alice', _csrf: csrf });
      expect(login.status).toBe(303);
      expect(login.headers.get('location')).toBe('/');
      const rotated = cookieOf(login).split(';')[0]!;
      expect(rotated).not.toBe(cookie);
      const signedIn = await get(rotated);
      const signedInHtml = await signedIn.text();
      expect(signedInHtml).toContain('alice, visit 3');

      const token = /name="_csrf" value="([^"]+)"/.exec(signedInHtml)![1]!;
      const logout = await post('/logout', rotated, { _csrf: token });
      expect(logout.status).toBe(303);
      expect(cookieOf(logout)).toMatch(/^__Host-tessera=; Path=\/; Max-Age=0;/);
      expect(await (await get(rotated)).text()).toContain('guest, visit 1');
    });
  }

  describe('Express quick start', () => {
    const file = 'quickstart-express.ts';

    it('is at most 20 lines of code', () => {
      const code = readFileSync(join(root, 'examples', file), 'utf8')
        .split('\n')
        .filter((l) => l.trim() && !l.trim().startsWith('//'));
      expect(code.length).toBeLessThanOrEqual(20);
    });

    it('counts views, and login needs the CSRF token and rotates the cookie', async () => {
      const base = await start(file);
      const first = await fetch(`${base}/`);
      expect(first.status).toBe(200);
      const set = cookieOf(first);
      expect(set).toMatch(SESSION_COOKIE);
      const cookie = set.split(';')[0]!;
      const body = (await first.json()) as { views: number; csrf: string };
      expect(body.views).toBe(1);
      const second = (await (await fetch(`${base}/`, { headers: { cookie } })).json()) as {
        views: number;
      };
      expect(second.views).toBe(2);

      const missing = await fetch(`${base}/login`, { method: 'POST', headers: { cookie } });
      expect(missing.status).toBe(403);
      const login = await fetch(`${base}/login`, {
        method: 'POST',
        headers: { cookie, 'x-csrf-token': body.csrf, 'sec-fetch-site': 'same-origin' },
      });
      expect(login.status).toBe(204);
      const rotated = cookieOf(login).split(';')[0]!;
      expect(rotated).not.toBe(cookie);
      const after = (await (await fetch(`${base}/`, { headers: { cookie: rotated } })).json()) as {
        views: number;
      };
      expect(after.views).toBe(3);
    });
  });
});
