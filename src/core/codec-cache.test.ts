/**
 * The opened-seal cache of encrypted-at-rest data (codec.ts, opened-cache.ts) under attack: a
 * store writer who moves or rewrites a cached seal, a tampered seal with the same prefix, a
 * retired key, an expired session, and a request that changes its data in place. The tests know
 * when a seal was opened with AES-GCM by counting the `data` key lookups that come right before.
 */
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { type DataBinding, decodeData, encodeData } from './codec.js';
import { createSessions, type Session, type SessionManager } from './engine.js';
import type { SessionEvent } from './events.js';
import { type KeyInput, KeyRing } from './keys.js';
import type { SessionRecord } from './types.js';

const ringGet = vi.spyOn(KeyRing.prototype, 'get');
/** How many data seals were opened with AES-GCM (each open looks its `data` key up first). */
const opens = (): number => ringGet.mock.calls.filter(([purpose]) => purpose === 'data').length;
beforeEach(() => {
  ringGet.mockClear();
});

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});
const K1 = key('k1');
const K2 = key('k2');

const BINDING: DataBinding = {
  id: 'store-key-of-alice',
  handle: 'handle-a',
  userId: 'alice',
  authenticatedAt: 1_800_000_000_000,
  absoluteExpiresAt: 1_800_086_400_000,
};
const DATA = { count: 1, cart: ['a'], prefs: { theme: 'dark' } };

describe('decodeData with its opened-seal cache', () => {
  it('opens a seal once for the same record fields', () => {
    const ring = new KeyRing([K1]);
    // Sealed by another instance (another ring object, the same keys): this one opens it once.
    const sealed = encodeData(new KeyRing([K1]), DATA, BINDING, true, { id: 'old-id', until: 5 });
    for (let i = 0; i < 4; i++) {
      expect(decodeData(ring, sealed, BINDING, true)).toEqual({
        ok: true,
        value: DATA,
        kid: 'k1',
        grace: { id: 'old-id', until: 5 },
      });
    }
    expect(opens()).toBe(1);
  });

  it('knows what it just sealed, exactly as an open would give it (JSON semantics included)', () => {
    const ring = new KeyRing([K1]);
    const odd = {
      date: new Date(0),
      gone: undefined,
      nan: Number.NaN,
      nested: { toJSON: () => ['x'] },
      list: [undefined, () => 1],
    } as unknown as Record<string, unknown>;
    for (const grace of [null, { id: 'old-id', until: 7 }]) {
      const sealed = encodeData(ring, odd, BINDING, true, grace);
      const cached = decodeData(ring, sealed, BINDING, true);
      expect(opens()).toBe(0);
      const fresh = decodeData(new KeyRing([K1]), sealed, BINDING, true);
      expect(opens()).toBe(1);
      expect(cached).toEqual(fresh);
      expect(JSON.stringify(cached)).toBe(JSON.stringify(fresh));
      ringGet.mockClear();
    }
  });

  it('never opens a cached seal for other record fields (a store writer moving it)', () => {
    const ring = new KeyRing([K1]);
    const sealed = encodeData(ring, DATA, BINDING, true);
    expect(decodeData(ring, sealed, BINDING, true).ok).toBe(true);
    for (const moved of [
      { ...BINDING, id: 'store-key-of-mallory' },
      { ...BINDING, handle: 'handle-m' },
      { ...BINDING, userId: 'bob' },
      { ...BINDING, userId: null },
      { ...BINDING, authenticatedAt: BINDING.authenticatedAt! + 1 },
      { ...BINDING, authenticatedAt: null },
      { ...BINDING, absoluteExpiresAt: BINDING.absoluteExpiresAt + 86_400_000 },
    ]) {
      expect(decodeData(ring, sealed, moved, true)).toEqual({ ok: false, reason: 'tampered' });
    }
    // And the genuine record still opens, from the cache.
    ringGet.mockClear();
    expect(decodeData(ring, sealed, BINDING, true).ok).toBe(true);
    expect(opens()).toBe(0);
  });

  it('never serves a seal that differs in one character, with the same prefix', () => {
    const ring = new KeyRing([K1]);
    const sealed = encodeData(ring, DATA, BINDING, true);
    decodeData(ring, sealed, BINDING, true);
    for (let i = sealed.length - 30; i < sealed.length; i++) {
      for (const ch of 'AQgw-_') {
        if (ch === sealed[i]) continue;
        const bad = sealed.slice(0, i) + ch + sealed.slice(i + 1);
        expect(decodeData(ring, bad, BINDING, true).ok, `char ${i} → ${ch}`).toBe(false);
      }
    }
    for (const bad of [sealed.slice(0, -1), `${sealed}A`, sealed.replace('e2.k1.', 'e2.k2.')])
      expect(decodeData(ring, bad, BINDING, true).ok).toBe(false);
  });

  it('opens nothing under a retired key, though a ring with the key opened it before', () => {
    const both = new KeyRing([K2, K1]);
    const underK1 = encodeData(new KeyRing([K1]), DATA, BINDING, true);
    expect(decodeData(both, underK1, BINDING, true).ok).toBe(true);
    expect(decodeData(new KeyRing([K2]), underK1, BINDING, true)).toEqual({
      ok: false,
      reason: 'retired_key',
    });
  });

  it('hands out a copy: changing a decoded value changes nothing for the next decode', () => {
    const ring = new KeyRing([K1]);
    const sealed = encodeData(ring, DATA, BINDING, true);
    for (let i = 0; i < 3; i++) {
      const r = decodeData(ring, sealed, BINDING, true);
      if (!r.ok) throw new Error('did not open');
      expect(r.value).toEqual(DATA);
      (r.value['cart'] as string[]).push('stolen');
      (r.value['prefs'] as { theme: string }).theme = 'light';
      r.value['count'] = 99;
    }
  });

  it('keeps no seal over the length bound: it is opened every time', () => {
    const ring = new KeyRing([K1]);
    const sealed = encodeData(ring, { blob: 'x'.repeat(2000) }, BINDING, true);
    expect(sealed.length).toBeGreaterThan(2048);
    for (let i = 0; i < 3; i++) expect(decodeData(ring, sealed, BINDING, true).ok).toBe(true);
    expect(opens()).toBe(3);
  });
});

type Data = { count?: number; cart?: string[] } & Record<string, unknown>;

function setup() {
  let t = 1_800_000_000_000;
  const inner = memoryStore({ sweepIntervalMs: 0 });
  // A store writer's rewrite of the user column, applied to what the engine reads.
  const rewrite: { userId: string | null } = { userId: null };
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop !== 'get') return (v as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        const e = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        return rewrite.userId !== null && e && (e as SessionRecord).kind === 'live'
          ? { ...(e as SessionRecord), userId: rewrite.userId }
          : e;
      };
    },
  });
  const events: SessionEvent[] = [];
  const engine = createSessions<Data>({
    store,
    keys: [K1],
    now: () => t,
    encryptData: true,
    idleTimeout: 600,
  });
  engine.on('*', (e) => events.push(e));
  return { engine, rewrite, events, advance: (ms: number) => (t += ms) };
}

async function request(
  engine: SessionManager<Data>,
  token: string | null,
  fn?: (s: Session<Data>) => Promise<void> | void,
) {
  const s = await engine.load({
    cookie: token ? `__Host-tessera=${token}` : undefined,
    method: 'POST',
    userAgent: 'ua',
    ip: '127.0.0.1',
  });
  if (fn) await fn(s);
  const r = await engine.commit(s);
  const m = r.setCookie ? /^__Host-tessera=([^;]+)/.exec(r.setCookie) : null;
  return { s, token: m?.[1] ?? null };
}

describe('server-side engine over the data cache', () => {
  it('reads the data it wrote without opening the seal, and never serves an expired session', async () => {
    const { engine, events, advance } = setup();
    const token = (await request(engine, null, (s) => s.set('cart', ['a'])))!.token!;
    // Written by this instance: its seal is known without an open.
    for (let i = 0; i < 3; i++) expect((await request(engine, token)).s.get('cart')).toEqual(['a']);
    expect(opens()).toBe(0);
    advance(601_000);
    expect((await request(engine, token)).s.state).toBe('anonymous');
    expect(events).toContainEqual(expect.objectContaining({ type: 'expired', reason: 'idle' }));
  });

  it('hands each request its own data: in-place changes without set() never reach the next', async () => {
    const { engine } = setup();
    const token = (await request(engine, null, (s) => s.set('cart', ['a'])))!.token!;
    for (let i = 0; i < 3; i++) {
      await request(engine, token, (s) => {
        expect(s.data).toEqual({ cart: ['a'] });
        s.get('cart')!.push('stolen');
        (s.data as Record<string, unknown>)['extra'] = true;
      });
    }
    expect((await request(engine, token)).s.data).toEqual({ cart: ['a'] });
  });

  it('opens nothing for a record whose user a store writer rewrote after it was cached', async () => {
    const { engine, rewrite, events } = setup();
    const token = (await request(engine, null, (s) => s.authenticate('alice')))!.token!;
    const first = await request(engine, token, (s) => s.set('cart', ['a']));
    expect(first.s.userId).toBe('alice');
    expect((await request(engine, token)).s.get('cart')).toEqual(['a']);
    rewrite.userId = 'bob';
    const r = await request(engine, token, (s) => void s.get('cart'));
    expect(r.s.state).toBe('anonymous');
    expect(r.s.userId).toBeNull();
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'token_invalid', reason: 'corrupt_data' }),
    );
  });
});
