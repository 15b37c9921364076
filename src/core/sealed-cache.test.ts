/**
 * The opened-seal cache of sealed mode (sealed/payload.ts, opened-cache.ts) under attack: it
 * must never open what the AEAD would not, never skip a per-request check, and never let one
 * request's changes reach the next. The tests know when a load was served from the cache by
 * counting the seal-key lookups that come right before every AES-GCM open.
 */
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { gcMeasured } from '../../test/support/process.js';
import type { SessionEvent } from './events.js';
import { type KeyInput, KeyRing } from './keys.js';
import {
  createSealedSessions,
  memoryRevocationStore,
  type SealedSession,
  type SealedSessionManager,
  type SealedSessionsOptions,
} from './sealed.js';

const ringGet = vi.spyOn(KeyRing.prototype, 'get');
/** How many seals were opened with AES-GCM (each open looks its `seal` key up first). */
const opens = {
  count: () => ringGet.mock.calls.filter(([purpose]) => purpose === 'seal').length,
  clear: (): void => {
    ringGet.mockClear();
  },
};

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});
const K1 = key('k1');
const K2 = key('k2');
const NAME = '__Host-tessera';
type Data = { count?: number; cart?: string[]; prefs?: { theme: string } } & Record<
  string,
  unknown
>;

function setup(opts: Partial<SealedSessionsOptions<Data>> = {}) {
  let t = 1_800_000_000_000;
  const events: SessionEvent[] = [];
  const sessions = createSealedSessions<Data>({ keys: [K1], now: () => t, ...opts });
  sessions.on('*', (e) => events.push(e));
  return { sessions, events, advance: (ms: number) => (t += ms), now: () => t };
}

async function request(
  sessions: SealedSessionManager<Data>,
  cookie: string | null,
  fn?: (s: SealedSession<Data>) => Promise<void> | void,
) {
  const s = await sessions.load({
    cookie: cookie === null ? undefined : `${NAME}=${cookie}`,
    method: 'GET',
  });
  if (fn) await fn(s);
  const r = await sessions.commit(s);
  const v = r.setCookie?.slice(r.setCookie.indexOf('=') + 1, r.setCookie.indexOf(';')) ?? null;
  return { s, setCookie: r.setCookie, value: v === '' ? null : v };
}

const DATA = { count: 1, cart: ['a'], prefs: { theme: 'dark' } };

async function made(sessions: SealedSessionManager<Data>, data: Data = DATA) {
  return (
    await request(sessions, null, (s) => {
      for (const [k, v] of Object.entries(structuredClone(data))) s.set(k, v);
    })
  ).value!;
}

beforeEach(() => {
  opens.clear();
});

describe('sealed opened-seal cache', () => {
  it('serves a replayed cookie without a second AES-GCM open', async () => {
    const { sessions } = setup();
    const v = await made(sessions);
    for (let i = 0; i < 5; i++) expect((await request(sessions, v)).s.data).toEqual(DATA);
    expect(opens.count()).toBe(1);
  });

  it('never serves a cookie that differs in one character, with the same prefix, from the cache', async () => {
    const { sessions, events } = setup();
    const v = await made(sessions);
    await request(sessions, v);
    const alphabet = 'AQgw_-';
    let tried = 0;
    // Every position of the blob's last 40 characters, and the key id.
    for (let i = v.length - 40; i < v.length; i++) {
      for (const ch of alphabet) {
        if (ch === v[i]) continue;
        const bad = v.slice(0, i) + ch + v.slice(i + 1);
        const r = await request(sessions, bad);
        expect(r.s.state, `char ${i} → ${ch}`).toBe('anonymous');
        tried++;
      }
    }
    for (const bad of [`${v}A`, v.slice(0, -1), v.replace('v1.k1.', 'v1.k2.')])
      expect((await request(sessions, bad)).s.state).toBe('anonymous');
    // A prefix or extension of the cached value is another string: it misses the cache.
    expect(tried).toBeGreaterThan(150);
    expect(events.filter((e) => e.type === 'token_invalid').length).toBe(tried + 3);
    // The genuine cookie still opens, from the cache.
    opens.clear();
    expect((await request(sessions, v)).s.data).toEqual(DATA);
    expect(opens.count()).toBe(0);
  });

  it('judges idle and absolute deadlines on every load, cached or not', async () => {
    const { sessions, events, advance } = setup({ idleTimeout: 600, absoluteTimeout: 3600 });
    const v = await made(sessions);
    advance(30_000);
    expect((await request(sessions, v)).s.state).toBe('active');
    advance(600_000);
    const late = await request(sessions, v);
    expect(late.s.state).toBe('anonymous');
    expect(late.setCookie).toMatch(/^__Host-tessera=; /);
    expect(events.at(-1)).toMatchObject({ type: 'expired', reason: 'idle' });
    expect(opens.count()).toBe(1);

    // Absolute: kept alive by reads inside the idle window, replaying one cached cookie.
    const b = setup({ idleTimeout: 3000, absoluteTimeout: 3600 });
    const w = await made(b.sessions);
    b.advance(1_800_000);
    expect((await request(b.sessions, w)).s.state).toBe('active');
    b.advance(1_800_000);
    expect((await request(b.sessions, w)).s.state).toBe('anonymous');
    expect(b.events.at(-1)).toMatchObject({ type: 'expired', reason: 'absolute' });
  });

  it('judges the revocation watermark on every load of a cached cookie', async () => {
    const c = { t: 1_800_000_000_000 };
    const now = () => c.t;
    const { sessions, events } = setup({
      now,
      revocation: { store: memoryRevocationStore({ now }), cacheMs: 0 },
    });
    const v = (await request(sessions, null, (s) => s.authenticate('alice'))).value!;
    expect((await request(sessions, v)).s.userId).toBe('alice');
    c.t += 1000;
    await sessions.revokeAll('alice');
    c.t += 1;
    const r = await request(sessions, v);
    expect(r.s.state).toBe('anonymous');
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'revoked', reason: 'watermark' }),
    );
  });

  it("opens nothing under a retired key, and still re-seals an older key's cookie on every cached load", async () => {
    const old = setup({ keys: [K1] });
    const underK1 = await made(old.sessions);
    const rotated = setup({ keys: [K2, K1] });
    // Each load of the K1 cookie re-seals it under K2, the cached one included.
    for (let i = 0; i < 3; i++)
      expect((await request(rotated.sessions, underK1)).value).toMatch(/^v1\.k2\./);
    expect(opens.count()).toBe(1);
    const retired = setup({ keys: [K2] });
    const dead = await request(retired.sessions, underK1);
    expect(dead.s.state).toBe('anonymous');
    expect(retired.events).toContainEqual(
      expect.objectContaining({ type: 'token_invalid', reason: 'unknown_key' }),
    );
  });

  it('hands each request its own data: changes without set() never reach the next request', async () => {
    const { sessions } = setup();
    const v = await made(sessions);
    // The first load (a cache miss) and the later ones (hits) alike.
    for (let i = 0; i < 3; i++) {
      const r = await request(sessions, v, (s) => {
        expect(s.data).toEqual(DATA);
        s.get('cart')!.push('stolen');
        s.get('prefs')!.theme = 'light';
        (s.data as Record<string, unknown>)['count'] = 99;
        (s.data as Record<string, unknown>)['extra'] = true;
      });
      expect(r.setCookie).toBeNull();
    }
    expect((await request(sessions, v)).s.data).toEqual(DATA);
  });

  it('hands each request its own payload: a write re-seals what that request changed only', async () => {
    const { sessions } = setup();
    const v = await made(sessions);
    const w = await request(sessions, v, (s) => {
      const cart = s.get('cart')!;
      cart.push('b');
      s.set('cart', cart);
    });
    expect((await request(sessions, w.value)).s.get('cart')).toEqual(['a', 'b']);
    expect((await request(sessions, v)).s.get('cart')).toEqual(['a']);
    expect((await request(sessions, v)).s.idleExpiresAt).toBe(
      (await request(sessions, v)).s.idleExpiresAt,
    );
  });

  it('runs the validation hook on every load, and what it changes stays in that request', async () => {
    let calls = 0;
    const { sessions } = setup({
      validate: (d) => {
        calls++;
        if (typeof d['count'] !== 'number') throw new Error('bad');
        (d as Data).cart?.push('added-by-validate');
        return d as Data;
      },
    });
    const v = await made(sessions);
    calls = 0;
    for (let i = 0; i < 3; i++)
      expect((await request(sessions, v)).s.get('cart')).toEqual(['a', 'added-by-validate']);
    expect(calls).toBe(3);
  });

  it('does not keep a seal over the length bound: it is opened on every load', async () => {
    const { sessions } = setup();
    const v = await made(sessions, { ...DATA, cart: ['x'.repeat(900)] });
    expect(v.length).toBeGreaterThan(1024);
    for (let i = 0; i < 3; i++) expect((await request(sessions, v)).s.get('count')).toBe(1);
    expect(opens.count()).toBe(3);
  });

  it('keeps no request header alive: what it holds is its own', () => {
    // In a child process with --expose-gc: 300 cookies loaded from 50 KB Cookie headers. Each
    // cookie value (and its key id) is a slice of its header, which V8 keeps alive while a slice
    // is held; the cache must hold copies (0.4 MB here, against 15 MB for the headers).
    const sealed = new URL('./sealed.ts', import.meta.url).pathname;
    const script = `
      import { createSealedSessions } from ${JSON.stringify(sealed)};
      const e = createSealedSessions({ keys: [{ id: 'k20261203abcd', secret: ${JSON.stringify(K1.secret)}, createdAt: 0 }] });
      const cookies = [];
      for (let i = 0; i < 300; i++) {
        const s = await e.load({ method: 'GET' });
        s.set('i', i);
        cookies.push((await e.commit(s)).setCookie.split(';')[0]);
      }
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (const c of cookies) {
        const s = await e.load({ method: 'GET', cookie: c + '; big=' + 'x'.repeat(50000) + Math.random() });
        if (s.state !== 'active') throw new Error('did not open');
      }
      globalThis.gc(); globalThis.gc();
      console.log(process.memoryUsage().heapUsed - before);
    `;
    expect(gcMeasured(script)).toBeLessThan(3_000_000);
  });

  it('stays bounded: 2 × 256 cookies; an older one is opened again, the recent ones are not', async () => {
    const { sessions } = setup();
    const cookies: string[] = [];
    for (let i = 0; i < 600; i++) cookies.push(await made(sessions, { count: i }));
    for (const v of cookies) await request(sessions, v);
    opens.clear();
    for (const v of cookies.slice(-256)) await request(sessions, v);
    expect(opens.count()).toBe(0);
    await request(sessions, cookies[0]!);
    expect(opens.count()).toBe(1);
  });
});
