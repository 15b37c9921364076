import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startTs } from './support/process.js';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const block = /<!-- quickstart:start -->\s*```ts\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(
  readme,
)?.[1];

describe('README quick start', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  it('is at most ~20 lines of code', () => {
    expect(block).toBeTruthy();
    const code = block!.split('\n').filter((l) => l.trim() && !l.trim().startsWith('//'));
    expect(code.length).toBeLessThanOrEqual(20);
  });

  it('runs as printed: counts views, and login needs the CSRF token', async () => {
    const dir = join(root, 'test', '.tmp');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'readme-quickstart.ts');
    writeFileSync(file, block!);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = await startTs(file, { PORT: String(port) }, `${base}/`);
    stops.push(server.stop);

    const first = await fetch(`${base}/`);
    expect(first.status).toBe(200);
    const setCookie = first.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^__Host-tessera=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const cookie = setCookie.split(';')[0]!;
    const body = (await first.json()) as { views: number; csrf: string };
    expect(body.views).toBe(1);
    const second = (await (await fetch(`${base}/`, { headers: { cookie } })).json()) as {
      views: number;
    };
    expect(second.views).toBe(2);

    const forged = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': `${body.csrf}x` },
    });
    expect(forged.status).toBe(403);
    expect(await forged.json()).toEqual({ error: 'csrf' });
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': body.csrf, 'sec-fetch-site': 'same-origin' },
    });
    expect(login.status).toBe(204);
    const rotated = login.headers.get('set-cookie')!.split(';')[0]!;
    expect(rotated).not.toBe(cookie);
    const after = (await (await fetch(`${base}/`, { headers: { cookie: rotated } })).json()) as {
      views: number;
    };
    expect(after.views).toBe(3);
  });
});
