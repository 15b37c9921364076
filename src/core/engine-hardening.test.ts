/**
 * Hardening tests of the server-side engine: each attacks one seam named in the hardening issue.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions, type Session, type SessionManager } from './engine.js';
import type { SessionEvent } from './events.js';
import type { KeyInput } from './keys.js';
import type { SessionsOptions } from './options.js';
import { createSealedSessions } from './sealed.js';

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});
const K1 = key('k1');

type Data = Record<string, unknown>;

function setup(opts: Partial<SessionsOptions<Data>> = {}) {
  let t = 1_800_000_000_000;
  const clock = {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
  const store = memoryStore({ sweepIntervalMs: 0 });
  const events: SessionEvent[] = [];
  const engine = createSessions<Data>({ store, keys: [K1], now: clock.now, ...opts });
  engine.on('*', (e) => events.push(e));
  return { engine, clock, events, store };
}

async function request(
  engine: SessionManager<Data>,
  token: string | null,
  method = 'GET',
  fn?: (s: Session<Data>) => Promise<void> | void,
  ip = '127.0.0.1',
) {
  const s = await engine.load({
    cookie: token ? `__Host-tessera=${token}` : undefined,
    method,
    userAgent: 'test-agent',
    ip,
  });
  if (fn) await fn(s);
  const r = await engine.commit(s);
  const m = r.setCookie ? /^__Host-tessera=([^;]+)/.exec(r.setCookie) : null;
  return { s, ...r, token: m ? m[1]! : null };
}

async function signedIn(engine: SessionManager<Data>, userId: string): Promise<string> {
  const r = await request(engine, null, 'POST', async (s) => {
    s.set('n', 1);
    await s.authenticate(userId);
  });
  return r.token!;
}

/** Replace character `i` by a non-ASCII one with the same low byte (what a latin1 read keeps). */
function spoof(token: string, i: number): string {
  return token.slice(0, i) + String.fromCharCode(0x100 + token.charCodeAt(i)) + token.slice(i + 1);
}

describe('CSRF token comparison', () => {
  it('refuses U+01xx spellings of a valid synchronizer token, in every position', async () => {
    const { engine } = setup();
    const token = await signedIn(engine, 'alice');
    const s = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    const good = s.csrfToken();
    expect(engine.verifyCSRF(s, { method: 'POST' }, good)).toEqual({ ok: true });
    for (let i = good.indexOf('.') + 1; i < good.length; i++) {
      expect(engine.verifyCSRF(s, { method: 'POST' }, spoof(good, i))).toEqual({
        ok: false,
        reason: 'bad_token',
      });
    }
  });

  it('refuses U+01xx spellings of a valid double-submit token (sealed mode)', async () => {
    const sealed = createSealedSessions<Data>({ keys: [K1] });
    const s = await sealed.load({ method: 'POST' });
    const good = s.csrfToken();
    expect(sealed.verifyCSRF(s, { method: 'POST' }, good)).toEqual({ ok: true });
    for (let i = 0; i < good.length; i++) {
      expect(sealed.verifyCSRF(s, { method: 'POST' }, spoof(good, i)).ok).toBe(false);
    }
  });
});

describe('guessing limiter', () => {
  /** A limiter that records what it is asked, never delaying. */
  function recorder() {
    const hits: string[] = [];
    return {
      hits,
      limiter: {
        hit(c: string) {
          hits.push(c);
          return { delayMs: 0, firstOverLimit: false };
        },
      },
    };
  }

  it('does not count genuine tokens whose record is gone (a store restart) as guesses', async () => {
    const { engine: before } = setup();
    const tokens: string[] = [];
    for (let i = 0; i < 60; i++) tokens.push(await signedIn(before, `user${i}`));
    // The same keys over an empty store: what every returning user sees after a Redis restart.
    const rec = recorder();
    const { engine, events } = setup({ guessLimiter: rec.limiter });
    for (const t of tokens) {
      const r = await request(engine, t, 'GET', undefined, '203.0.113.7');
      expect(r.s.state).toBe('anonymous');
    }
    expect(events.filter((e) => e.type === 'token_invalid' && e.reason === 'unknown')).toHaveLength(
      60,
    );
    expect(rec.hits).toEqual([]);
    // A forged token (bad MAC) from the same client still counts.
    const forged = `${tokens[0]!.slice(0, -2)}${tokens[0]!.endsWith('AA') ? 'BB' : 'AA'}`;
    await request(engine, forged, 'GET', undefined, '203.0.113.7');
    expect(rec.hits).toEqual(['203.0.113.7']);
  });

  it('counts forged tokens from one IPv6 /64 together, however the addresses rotate', async () => {
    const { memoryGuessLimiter } = await import('./limiter.js');
    const { engine, events } = setup({
      guessLimiter: memoryGuessLimiter({ limit: 5, stepMs: 1, maxDelayMs: 1 }),
    });
    for (let i = 1; i <= 6; i++) {
      const forged = `s.k1..${randomBytes(32).toString('base64url')}.${'x'.repeat(22)}`;
      const ip = i % 2 ? `2001:db8:7:7::${i.toString(16)}` : `2001:DB8:7:7:${i}:0:0:1`;
      await request(engine, forged, 'GET', undefined, ip);
    }
    const suspected = events.filter((e) => e.type === 'guessing_suspected');
    expect(suspected).toHaveLength(1);
    expect(suspected[0]!.ip).toBe('2001:DB8:7:7:6:0:0:1');
  });
});

describe('switching user', () => {
  it("gives the new user a new handle and family, so bob's old rotated token cannot sign alice out", async () => {
    const { engine, clock, events } = setup({ rotationGrace: 5 });
    const bob1 = await signedIn(engine, 'bob');
    const bobHandle = (await request(engine, bob1)).s.handle;
    // bob's token rotates (e.g. a privilege change); bob1 is now a rotated-out token of his family.
    const bob2 = (await request(engine, bob1, 'POST', (s) => s.regenerate())).token!;
    const sw = await request(engine, bob2, 'POST', (s) => s.authenticate('alice'));
    const alice = sw.token!;
    expect(sw.s.userId).toBe('alice');
    expect(sw.s.handle).not.toBe(bobHandle);
    expect(sw.s.get('n')).toBeUndefined();
    expect(await engine.list('bob')).toEqual([]);
    clock.advance(5_001);
    const replay = await request(engine, bob1);
    expect(replay.s.state).toBe('anonymous');
    expect(events.some((e) => e.type === 'theft_suspected')).toBe(false);
    const after = await request(engine, alice);
    expect(after.s.state).toBe('active');
    expect(after.s.userId).toBe('alice');
    expect((await request(engine, bob2)).s.state).toBe('anonymous');
  });

  it('keeps the handle when the same user re-authenticates, and an anonymous session signs in', async () => {
    const { engine } = setup();
    const anon = (await request(engine, null, 'POST', (s) => s.set('cart', 1))).token!;
    const handle = (await request(engine, anon)).s.handle;
    const login = await request(engine, anon, 'POST', (s) => s.authenticate('alice'));
    expect(login.s.handle).toBe(handle);
    expect(login.s.get('cart')).toBe(1);
    const again = await request(engine, login.token!, 'POST', (s) => s.authenticate('alice'));
    expect(again.s.handle).toBe(handle);
  });
});

describe('grace window', () => {
  it('refuses destroy() through a rotated-out token, and the live session survives', async () => {
    const { engine } = setup({ rotationGrace: 10 });
    const old = await signedIn(engine, 'alice');
    const fresh = (await request(engine, old, 'POST', (s) => s.regenerate())).token!;
    const s = await engine.load({ cookie: `__Host-tessera=${old}`, method: 'GET' });
    expect(s.state).toBe('grace');
    await expect(s.destroy()).rejects.toMatchObject({ code: 'ERR_SESSION_READ_ONLY' });
    const live = await request(engine, fresh);
    expect(live.s.state).toBe('active');
    expect(live.s.userId).toBe('alice');
  });
});

describe('slot tags', () => {
  /** The pre-fix tag: 36 bits of an unsalted SHA-256 of the user id. */
  const unsalted = (userId: string) =>
    createHash('sha256').update(userId).digest('base64url').slice(0, 6);

  it('puts nothing derived from the user in tokens or handles on a store that wants no slot tags', async () => {
    const { engine } = setup();
    const token = await signedIn(engine, 'alice');
    const s = (await request(engine, token)).s;
    expect(token).toMatch(/^s\.k1\.\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    expect(s.handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(token).not.toContain(unsalted('alice'));
    const again = (await request(engine, token, 'POST', (x) => x.regenerate())).token!;
    expect(again.split('.')[2]).toBe('');
  });

  it('tags a tagging store keyed and stable per user, never with the unsalted hash', async () => {
    const inner = memoryStore({ sweepIntervalMs: 0 });
    // The memory store with the capability Redis declares.
    const store = new Proxy(inner, {
      get(t, p) {
        if (p === 'slotTags') return true;
        const v = Reflect.get(t, p, t);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    const K2 = key('k2');
    const k1 = { ...K1, createdAt: 0 };
    const k2 = { ...K2, createdAt: 1 };
    const engine = createSessions<Data>({ store, keys: [k1] });
    const rotated = createSessions<Data>({ store, keys: [k2, k1] });
    const tagOf = (t: string) => t.split('.')[2]!;
    const a1 = await signedIn(engine, 'alice');
    const a2 = await signedIn(rotated, 'alice');
    const b1 = await signedIn(engine, 'bob');
    expect(tagOf(a1)).toMatch(/^[A-Za-z0-9_-]{4}$/);
    expect(tagOf(a1)).toBe(tagOf(a2));
    expect(tagOf(a1)).not.toBe(tagOf(b1));
    for (const [t, user] of [
      [a1, 'alice'],
      [b1, 'bob'],
    ] as const) {
      expect(tagOf(t)).not.toBe(unsalted(user).slice(0, 4));
      expect(t).not.toContain(unsalted(user));
      const s = (await request(engine, t)).s;
      expect(s.handle!.split('.')[0]).toBe(tagOf(t));
    }
  });
});

describe('grace window with encrypted data', () => {
  it('serves the rotated-out token read-only within its grace, also after the new token wrote', async () => {
    const { engine, clock, events } = setup({ encryptData: true, rotationGrace: 10 });
    const old = await signedIn(engine, 'alice');
    const fresh = (await request(engine, old, 'POST', (s) => s.regenerate())).token!;
    await request(engine, fresh, 'POST', (s) => s.set('n', 2));
    const g = await request(engine, old, 'GET');
    expect(g.s.state).toBe('grace');
    expect(g.s.get('n')).toBe(2);
    clock.advance(10_001);
    expect((await request(engine, old, 'GET')).s.state).toBe('anonymous');
    expect(events.some((e) => e.type === 'theft_suspected')).toBe(true);
  });

  it('serves only the latest rotated-out token: after two rotations the first one reads nothing', async () => {
    const { engine, events } = setup({ encryptData: true, rotationGrace: 10 });
    const a = await signedIn(engine, 'alice');
    const b = (await request(engine, a, 'POST', (s) => s.regenerate())).token!;
    const c = (await request(engine, b, 'POST', (s) => s.regenerate())).token!;
    expect((await request(engine, b, 'GET')).s.state).toBe('grace');
    const first = await request(engine, a, 'GET');
    expect(first.s.state).toBe('anonymous');
    expect(events.some((e) => e.type === 'theft_suspected')).toBe(false);
    expect((await request(engine, c)).s.state).toBe('active');
  });
});
