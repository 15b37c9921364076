/**
 * The demo in a real browser (Debian's Chromium through playwright-core): signing in through the
 * form, a session cookie scripts cannot read, revoking another browser's session from the
 * sessions page (and its confirmation), a cross-site form POST from another local origin being
 * refused, and every page laid out on a 390 px wide phone screen. Also an app with the
 * `allowInsecure` development flag opened on a host that is not loopback (`devbox.test`, which
 * the browser resolves to 127.0.0.1), where the session must stick over plain http.
 * Without /usr/bin/chromium the suite skips with a loud notice, or fails with CI_REQUIRE_BROWSER=1.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { session as nodeSession } from '../../src/adapters/node/index.js';
import { createSessions } from '../../src/core/engine.js';
import type { LogFields } from '../../src/core/logger.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import { COOKIE, type DemoProcess, freePort, startDemo } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** An iPhone-sized screen: 390 CSS px wide, the width the layout must fit. */
const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 1,
  isMobile: true,
  hasTouch: true,
  userAgent:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
};

/**
 * What is wrong with the layout of the page as shown: the document wider than the screen, a
 * button (or button-styled link) outside the screen, cut by a scrolling or clipping ancestor, or
 * too narrow for its own text. Empty when all is well.
 */
function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const root = document.documentElement;
    const width = root.clientWidth;
    if (window.innerWidth !== width)
      problems.push(`viewport ${window.innerWidth} px, not ${width}`);
    if (root.scrollWidth > width) problems.push(`document ${root.scrollWidth} px wide in ${width}`);
    if (document.body.scrollWidth > width)
      problems.push(`body ${document.body.scrollWidth} px wide in ${width}`);
    for (const el of document.querySelectorAll<HTMLElement>('button, .btn')) {
      const name = `button "${(el.textContent ?? '').trim()}"`;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) {
        problems.push(`${name} is not shown`);
        continue;
      }
      if (box.left < 0 || box.right > width)
        problems.push(`${name} spans ${box.left}–${box.right} px of ${width}`);
      if (el.scrollWidth > el.clientWidth + 1) problems.push(`${name} is narrower than its text`);
      for (let a = el.parentElement; a && a !== root; a = a.parentElement) {
        const style = getComputedStyle(a);
        if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
        const outer = a.getBoundingClientRect();
        const left = outer.left + a.clientLeft;
        if (box.left < left - 0.5 || box.right > left + a.clientWidth + 0.5)
          problems.push(`${name} is cut by <${a.tagName.toLowerCase()} class="${a.className}">`);
      }
    }
    return problems;
  });
}

/** Each date of the sessions list: its text, its width and how many lines it wraps onto. */
function sessionDates(page: Page): Promise<{ text: string; width: number; lines: number }[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('table.sessions time')].map((t) => {
      const range = document.createRange();
      range.selectNodeContents(t);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      return {
        text: t.textContent ?? '',
        width: t.getBoundingClientRect().width,
        lines: tops.size,
      };
    }),
  );
}

function browserAvailable(): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    if (process.env.CI_REQUIRE_BROWSER === '1') {
      throw new Error(`${CHROMIUM} is missing and CI_REQUIRE_BROWSER=1`);
    }
    const line = '!'.repeat(78);
    console.warn(
      `\n${line}\n!!! SKIPPING the demo's browser tests: ${CHROMIUM} is not installed.\n!!! These tests did NOT run. Install it (apt-get install -y chromium), or set\n!!! CI_REQUIRE_BROWSER=1 to make this an error.\n${line}\n`,
    );
    return false;
  }
}

const run = browserAvailable();

describe.skipIf(!run)('demo in Chromium', () => {
  let demo: DemoProcess;
  let browser: Browser;
  let attacker: Server;
  let attackerPort: number;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    [demo, browser, attackerPort] = await Promise.all([
      startDemo(),
      chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          // A development host that is not loopback (a LAN name): Host is devbox.test, and the
          // page is not a secure context, as on http://192.168.1.20 or http://web:3000.
          '--host-resolver-rules=MAP devbox.test 127.0.0.1',
        ],
      }),
      freePort(),
    ]);
    // Another local origin: a page that posts a form to the demo as soon as it loads.
    attacker = createServer((req, res) => {
      const target = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/logout';
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><title>Win a prize</title>
<form id="f" method="post" action="${demo.url}${target}">
  <input type="hidden" name="_csrf" value="k1.forged-token">
  <input type="hidden" name="current" value="alice-password">
  <input type="hidden" name="next" value="attacker-chosen-password">
</form>
<script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => attacker.listen(attackerPort, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
    await browser?.close();
    await new Promise((r) => (attacker ? attacker.close(r) : r(null)));
    await demo?.stop();
  });

  async function newPage(options: BrowserContextOptions = {}): Promise<Page> {
    const context = await browser.newContext(options);
    contexts.push(context);
    return context.newPage();
  }

  /** Sign in through the real login form. */
  async function signIn(page: Page, user = 'alice'): Promise<void> {
    await page.goto(`${demo.url}/login`);
    await page.fill('input[name="username"]', user);
    await page.fill('input[name="password"]', `${user}-password`);
    await Promise.all([page.waitForURL(`${demo.url}/`), page.click('button[type="submit"]')]);
    await expect.poll(() => page.textContent('body')).toContain(`Signed in as ${user}`);
  }

  async function currentHandle(page: Page): Promise<string> {
    const r = await page.request.get(`${demo.url}/api/sessions`);
    const list = (await r.json()) as { handle: string; current: boolean }[];
    return list.find((s) => s.current)!.handle;
  }

  it('signs in through the form with a session cookie scripts cannot read', async () => {
    const page = await newPage();
    await signIn(page);
    expect(await page.evaluate(() => document.cookie)).not.toContain(COOKIE);
    const cookies = await page.context().cookies(demo.url);
    const session = cookies.find((c) => c.name === COOKIE)!;
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    expect(session.domain).toBe('127.0.0.1');
    expect(await page.locator('form[action="/logout"] button').count()).toBe(1);
  });

  it("revokes another browser's session from the sessions page, which signs it out", async () => {
    const [first, second] = [await newPage(), await newPage()];
    await signIn(first);
    await signIn(second);
    const handle = await currentHandle(second);
    await first.goto(`${demo.url}/sessions`);
    expect(await first.locator('tr.current').textContent()).toContain('current session');
    await Promise.all([
      first.waitForURL(`${demo.url}/sessions`),
      first.click(`form[action="/api/sessions/${encodeURIComponent(handle)}/revoke"] button`),
    ]);
    expect(await first.locator(`form[action*="${handle}"]`).count()).toBe(0);
    await second.reload();
    const body = await second.textContent('body');
    expect(body).not.toContain('Signed in as');
    expect(await second.locator('a[href="/login"]').count()).toBeGreaterThan(0);
    expect((await second.request.get(`${demo.url}/api/me`)).status()).toBe(401);
    await first.goto(`${demo.url}/`);
    expect(await first.textContent('body')).toContain('Signed in as alice');
  });

  it('refuses a cross-site form POST from another local origin', async () => {
    const page = await newPage();
    await signIn(page);
    for (const [origin, to] of [
      [`http://127.0.0.1:${attackerPort}`, '/logout'],
      [`http://127.0.0.1:${attackerPort}`, '/api/password'],
      [`http://localhost:${attackerPort}`, '/logout'],
    ] as const) {
      const answer = page.waitForResponse((r) => r.url() === `${demo.url}${to}`);
      await page.goto(`${origin}/?to=${encodeURIComponent(to)}`);
      const r = await answer;
      // Same-site (another port of 127.0.0.1) carries the cookie and fails the CSRF check;
      // cross-site (localhost) does not even carry the SameSite=Lax cookie.
      expect([401, 403], `${origin} → ${to}`).toContain(r.status());
      if (origin.includes('127.0.0.1')) expect(await r.json()).toEqual({ error: 'csrf' });
    }
    await page.goto(`${demo.url}/`);
    expect(await page.textContent('body')).toContain('Signed in as alice');
    const events = (await (await page.request.get(`${demo.url}/api/events`)).json()) as {
      type: string;
      reason?: string;
    }[];
    expect(events.filter((e) => e.type === 'csrf_rejected').length).toBeGreaterThanOrEqual(2);
    expect(events[0]).toMatchObject({ type: 'csrf_rejected', reason: 'cross_site' });
  });

  it('logs out with the button on the page', async () => {
    const page = await newPage();
    await signIn(page, 'bob');
    await Promise.all([
      page.waitForURL(`${demo.url}/`),
      page.click('form[action="/logout"] button'),
    ]);
    expect(await page.textContent('body')).not.toContain('Signed in as');
    const cookies = await page.context().cookies(demo.url);
    expect(cookies.find((c) => c.name === COOKIE)).toBeUndefined();
  });

  /** A phone signed in as `user` whose sessions list holds itself and one laptop, exactly. */
  async function phoneWithTwoSessions(user: string): Promise<{ phone: Page; laptop: Page }> {
    const phone = await newPage(PHONE);
    await signIn(phone, user);
    const { token } = (await (await phone.request.get(`${demo.url}/api/csrf`)).json()) as {
      token: string;
    };
    const others = await phone.request.post(`${demo.url}/api/sessions/revoke-others`, {
      headers: { 'x-csrf-token': token },
    });
    expect(others.status()).toBe(204);
    const laptop = await newPage();
    await signIn(laptop, user);
    await phone.goto(`${demo.url}/sessions`);
    expect(await phone.locator('table.sessions tbody tr').count()).toBe(2);
    // A revoke through the API (no form) leaves no notice behind for the page.
    expect(await phone.getByRole('status').count()).toBe(0);
    return { phone, laptop };
  }

  it('fits every page into a 390 px phone screen: no sideways scroll, whole buttons, readable dates', async () => {
    const { phone } = await phoneWithTwoSessions('bob');
    expect(await layoutProblems(phone)).toEqual([]);
    const dates = await sessionDates(phone);
    expect(dates).toHaveLength(4);
    for (const d of dates) {
      expect(d.text).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
      expect(d.lines, d.text).toBeLessThanOrEqual(2);
      expect(d.width, d.text).toBeGreaterThanOrEqual(100);
    }
    for (const path of ['/', '/reauth?next=%2Fsessions']) {
      await phone.goto(`${demo.url}${path}`);
      expect(await layoutProblems(phone), path).toEqual([]);
    }
    const visitor = await newPage(PHONE);
    for (const path of ['/', '/login', '/sessions']) {
      await visitor.goto(`${demo.url}${path}`);
      expect(await layoutProblems(visitor), `${path} signed out`).toEqual([]);
    }
  });

  it('confirms a revoke, a sign-out of the others and a password change on the sessions page, once', async () => {
    const { phone, laptop } = await phoneWithTwoSessions('bob');
    const handle = await currentHandle(laptop);
    const revoked = phone.waitForResponse(
      (r) => r.url() === `${demo.url}/sessions` && r.request().method() === 'GET',
    );
    await phone.click(`form[action="/api/sessions/${encodeURIComponent(handle)}/revoke"] button`);
    await revoked;
    await phone.waitForLoadState();
    const notice = phone.getByRole('status').filter({ hasText: 'Session revoked' });
    await expect.poll(() => notice.count()).toBe(1);
    expect(await notice.isVisible()).toBe(true);
    const box = (await notice.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    expect(await phone.locator('table.sessions tbody tr').count()).toBe(1);
    expect(await layoutProblems(phone)).toEqual([]);
    expect((await laptop.request.get(`${demo.url}/api/me`)).status()).toBe(401);
    await phone.reload();
    expect(await phone.locator('table.sessions tbody tr').count()).toBe(1);
    expect(await phone.getByRole('status').filter({ hasText: 'Session revoked' }).count()).toBe(0);

    // Signing out every other session is confirmed the same way.
    const tablet = await newPage();
    await signIn(tablet, 'bob');
    await phone.reload();
    expect(await phone.locator('table.sessions tbody tr').count()).toBe(2);
    const all = phone.waitForResponse(
      (r) => r.url() === `${demo.url}/sessions` && r.request().method() === 'GET',
    );
    await phone.click('form[action="/api/sessions/revoke-others"] button');
    await all;
    await phone.waitForLoadState();
    await expect
      .poll(() => phone.getByRole('status').filter({ hasText: 'Every other session' }).count())
      .toBe(1);
    expect(await phone.locator('table.sessions tbody tr').count()).toBe(1);
    expect((await tablet.request.get(`${demo.url}/api/me`)).status()).toBe(401);

    // And a password change; then the password goes back, for the other tests.
    await phone.fill('input[name="current"]', 'bob-password');
    await phone.fill('input[name="next"]', 'bob-password-changed');
    const changed = phone.waitForResponse(
      (r) => r.url() === `${demo.url}/sessions` && r.request().method() === 'GET',
    );
    await phone.click('form[action="/api/password"] button');
    await changed;
    await phone.waitForLoadState();
    await expect
      .poll(() => phone.getByRole('status').filter({ hasText: 'Password changed' }).count())
      .toBe(1);
    const { token } = (await (await phone.request.get(`${demo.url}/api/csrf`)).json()) as {
      token: string;
    };
    const back = await phone.request.post(`${demo.url}/api/password`, {
      headers: { 'x-csrf-token': token },
      data: { current: 'bob-password-changed', next: 'bob-password' },
    });
    expect(back.status()).toBe(204);
  });

  it('shows the wrong-password message in the page, not raw JSON', async () => {
    const page = await newPage();
    await page.goto(`${demo.url}/login`);
    await page.fill('input[name="username"]', 'alice');
    await page.fill('input[name="password"]', 'not-her-password');
    const answer = page.waitForResponse(
      (r) => r.url() === `${demo.url}/login` && r.request().method() === 'POST',
    );
    await page.click('button[type="submit"]');
    expect((await answer).status()).toBe(401);
    await expect.poll(() => page.textContent('body')).toContain('Wrong user name or password');
  });

  it('keeps the session of an allowInsecure app on a plain-http host that is not loopback', async () => {
    const warnings: LogFields[] = [];
    const logged = (fields: LogFields) => {
      warnings.push(fields);
    };
    const engine = createSessions({
      store: memoryStore({ sweepIntervalMs: 0 }),
      keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
      allowInsecure: true,
      logger: { warn: logged, error: logged },
    });
    const server = createServer(
      nodeSession(engine)(async (req, res) => {
        const s = req.session;
        if (req.url !== '/') {
          res.writeHead(404).end();
          return;
        }
        if (req.method === 'POST') {
          // The adapter checked the form's _csrf and left the form in req.body.
          s.set('note', String((req.body as Record<string, string>).note));
          res.writeHead(303, { location: '/' }).end();
          return;
        }
        s.update('visits', (n) => (Number(n) || 0) + 1);
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(`<!doctype html><title>dev</title>
<p id="visits">visits: ${String(s.get('visits'))}</p>
<p id="note">note: ${String(s.get('note') ?? '')}</p>
<form method="post" action="/"><input type="hidden" name="_csrf" value="${s.csrfToken()}">
<input name="note"><button>Save</button></form>`);
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://devbox.test:${(server.address() as AddressInfo).port}/`;
    try {
      const page = await newPage();
      await page.goto(url);
      expect(await page.textContent('#visits')).toBe('visits: 1');
      await page.reload();
      expect(await page.textContent('#visits')).toBe('visits: 2');
      await page.fill('input[name="note"]', 'sticks');
      await Promise.all([page.waitForURL(url), page.click('button')]);
      expect(await page.textContent('#note')).toBe('note: sticks');
      expect(await page.textContent('#visits')).toBe('visits: 3');
      const cookies = await page.context().cookies(url);
      expect(cookies.map((c) => [c.name, c.secure, c.httpOnly])).toEqual([
        ['tessera', false, true],
      ]);
      expect(warnings.filter((w) => w.event === 'allow_insecure')).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
