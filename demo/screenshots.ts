/**
 * Take the README's screenshots of the demo: `npx tsx demo/screenshots.ts` (needs `npm run build`
 * and Debian's Chromium at /usr/bin/chromium, or CHROMIUM_PATH). Runs the demo in-process on the
 * memory store with a throw-away key, signs in from three "devices" (one of them a 390 px wide
 * phone), and writes docs/screenshots/*.png.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { generateKey } from 'tessera-session';
import { startDemo } from './server.js';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const DEVICES = {
  laptop:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
  phone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  desktop: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0',
} as const;

/** A 390 × 844 CSS px phone screen (an iPhone's), the narrowest the demo's layout is tested at. */
const PHONE_SCREEN: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  isMobile: true,
  hasTouch: true,
};

async function device(
  browser: Browser,
  userAgent: string,
  colorScheme: 'light' | 'dark' = 'light',
  screen: BrowserContextOptions = { viewport: { width: 1120, height: 760 } },
): Promise<Page> {
  const context = await browser.newContext({ userAgent, colorScheme, ...screen });
  return context.newPage();
}

async function signIn(page: Page, base: string, user: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type="submit"]')]);
}

async function main(): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), 'tessera-shots-'));
  const port = 3000 + Math.floor(Math.random() * 1000) + 2000;
  const demo = await startDemo(
    {
      PORT: String(port),
      TESSERA_STORE: 'memory',
      TESSERA_KEYS: JSON.stringify([generateKey('screenshots')]),
    },
    cwd,
  );
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    mkdirSync(OUT, { recursive: true });
    const base = demo.url;
    const shot = (page: Page, name: string, fullPage = false) =>
      page.screenshot({ path: join(OUT, `${name}.png`), fullPage });

    const visitor = await device(browser, DEVICES.laptop);
    await visitor.goto(`${base}/`);
    await shot(visitor, 'home-signed-out');
    await visitor.goto(`${base}/login`);
    await visitor.fill('input[name="username"]', 'alice');
    await visitor.fill('input[name="password"]', 'not-the-password');
    await visitor.click('button[type="submit"]');
    await visitor.waitForSelector('.alert-error');
    await shot(visitor, 'login');

    const phone = await device(browser, DEVICES.phone, 'light', PHONE_SCREEN);
    await signIn(phone, base, 'alice', 'alice-password');
    const desktop = await device(browser, DEVICES.desktop);
    await signIn(desktop, base, 'alice', 'alice-password');
    const laptop = await device(browser, DEVICES.laptop);
    await signIn(laptop, base, 'alice', 'alice-password');

    // Preferences, and a forged request that the CSRF check refuses (it shows in the trail).
    const token = (
      (await (await laptop.request.get(`${base}/api/csrf`)).json()) as { token: string }
    ).token;
    await laptop.request.patch(`${base}/api/prefs`, {
      headers: { 'x-csrf-token': token },
      data: { theme: 'light', language: 'en-GB', compact: true },
    });
    await laptop.request.post(`${base}/api/sessions/revoke-others`, {
      headers: { 'sec-fetch-site': 'cross-site' },
    });

    await laptop.goto(`${base}/`);
    await shot(laptop, 'home');
    await laptop.goto(`${base}/sessions`);
    await shot(laptop, 'sessions', true);
    await laptop.goto(`${base}/reauth?next=%2Fsessions`);
    await shot(laptop, 'reauth');

    // The phone revokes the desktop's session through its form: the notice, then the cards.
    await phone.goto(`${base}/sessions`);
    const desktopHandle = (
      (await (await desktop.request.get(`${base}/api/sessions`)).json()) as {
        handle: string;
        current: boolean;
      }[]
    ).find((s) => s.current)!.handle;
    await Promise.all([
      phone.waitForResponse(
        (r) => r.url() === `${base}/sessions` && r.request().method() === 'GET',
      ),
      phone.click(
        `form[action="/api/sessions/${encodeURIComponent(desktopHandle)}/revoke"] button`,
      ),
    ]);
    await phone.waitForSelector('.alert-ok');
    await shot(phone, 'sessions-phone');

    const dark = await device(browser, DEVICES.laptop, 'dark');
    await signIn(dark, base, 'bob', 'bob-password');
    await dark.goto(`${base}/sessions`);
    await shot(dark, 'sessions-dark', true);
    process.stdout.write(`screenshots written to ${OUT}\n`);
  } finally {
    await browser.close();
    await demo.close();
    rmSync(cwd, { recursive: true, force: true });
  }
}

await main();
