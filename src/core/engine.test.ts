import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions, type Session, type SessionManager } from './engine.js';
import { TesseraError } from './errors.js';
import type { SessionEvent } from './events.js';
import type { KeyInput } from './keys.js';
import type { SessionsOptions } from './options.js';
import type { SessionRecord, SessionStore } from './types.js';
// The deprecated `err.status` asserted below reads the adapters' status table.
import '../adapters/shared/status.js';

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});
const K1 = key('k1');
const K2 = key('k2');

/** A store wrapper that counts calls, to prove what does and does not reach the store. */
function spy(inner: SessionStore) {
  const calls: string[] = [];
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const writes = () =>
    calls.filter(
      (c) => !['get', 'getByHandle', 'listByUser', 'list', 'count', 'kvGet'].includes(c),
    );
  return { store, calls, writes };
}

type Data = { count?: number; cart?: string[]; a?: number; b?: number; theme?: string } & Record<
  string,
  unknown
>;

function setup(opts: Partial<SessionsOptions<Data>> = {}) {
  let t = 1_800_000_000_000;
  const clock = {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
  // The store keeps real time, so expired records stay visible to the engine (which reports them).
  const inner = memoryStore({ sweepIntervalMs: 0 });
  const s = spy(inner);
  const events: SessionEvent[] = [];
  const engine = createSessions<Data>({ store: s.store, keys: [K1], now: clock.now, ...opts });
  engine.on('*', (e) => events.push(e));
  return { engine, clock, spy: s, events, inner };
}

function tokenOf(setCookie: string | null): string {
  expect(setCookie).toBeTruthy();
  return /^__Host-tessera=([^;]*)/.exec(setCookie!)![1]!;
}

async function request<D extends Data>(
  engine: SessionManager<D>,
  token: string | null,
  method = 'GET',
  fn?: (s: Session<D>) => Promise<void> | void,
  extra: { ua?: string; ip?: string } = {},
) {
  const s = await engine.load({
    cookie: token ? `__Host-tessera=${token}` : undefined,
    method,
    userAgent: extra.ua ?? 'test-agent',
    ip: extra.ip ?? '127.0.0.1',
  });
  if (fn) await fn(s);
  const r = await engine.commit(s);
  return {
    s,
    ...r,
    token: r.setCookie && !r.setCookie.startsWith('__Host-tessera=;') ? tokenOf(r.setCookie) : null,
  };
}

async function newSession(engine: SessionManager<Data>, userId?: string) {
  const r = await request(engine, null, 'POST', async (s) => {
    s.set('count', 1);
    if (userId) await s.authenticate(userId);
  });
  return r.token!;
}

describe('SessionManager', () => {
  it('writes nothing and sets no cookie for a visitor who stores nothing', async () => {
    const { engine, spy } = setup();
    const r = await request(engine, null, 'GET', (s) => {
      expect(s.get('count')).toBeUndefined();
    });
    expect(r.setCookie).toBeNull();
    expect(spy.calls).toEqual([]);
  });

  it('creates a session on first write with a __Host- cookie and never stores the token', async () => {
    const { engine, inner } = setup();
    const r = await request(engine, null, 'POST', (s) => s.set('theme', 'dark'));
    expect(r.setCookie).toMatch(
      /^__Host-tessera=s\.k1\.\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    const token = r.token!;
    expect(token.length).toBeGreaterThanOrEqual(43 + 22);
    const page = await inner.list({ limit: 10, now: Date.now() - 1e13 });
    const dump = JSON.stringify(page.records);
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(token.split('.')[3]);
    expect(page.records).toHaveLength(1);
  });

  it('reads a session back and writes nothing on a read-only request', async () => {
    const { engine, spy } = setup();
    const token = await newSession(engine);
    spy.calls.length = 0;
    const r = await request(engine, token, 'GET', (s) => {
      expect(s.get('count')).toBe(1);
      expect(s.state).toBe('active');
    });
    expect(spy.calls).toEqual(['get']);
    expect(r.setCookie).toBeNull();
    expect(r.private).toBe(true);
  });

  it('writes a touch only when it moves the idle deadline by more than the touch fraction', async () => {
    const { engine, clock, spy } = setup();
    const token = await newSession(engine);
    clock.advance(60_000); // 1 min < 10% of 30 min
    spy.calls.length = 0;
    await request(engine, token);
    expect(spy.writes()).toEqual([]);
    clock.advance(4 * 60_000);
    const r = await request(engine, token);
    expect(spy.writes()).toEqual(['touch']);
    expect(r.s.idleExpiresAt).toBe(clock.now() + 30 * 60_000);
  });

  it('reports the idle deadline a pending touch will write, before the commit', async () => {
    const { engine, clock } = setup();
    const token = await newSession(engine);
    clock.advance(10 * 60_000);
    const s = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'GET' });
    expect(s.idleExpiresAt).toBe(clock.now() + 30 * 60_000);
  });

  it('expires a session after the idle timeout (fake clock)', async () => {
    const { engine, clock, events } = setup({ idleTimeout: 60, absoluteTimeout: 3600 });
    const token = await newSession(engine);
    clock.advance(61_000);
    const r = await request(engine, token);
    expect(r.s.state).toBe('anonymous');
    expect(r.setCookie).toMatch(
      /^__Host-tessera=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax/,
    );
    expect(events.find((e) => e.type === 'expired')?.reason).toBe('idle');
  });

  it('expires a session at the absolute deadline however active it is', async () => {
    const { engine, clock, events } = setup({
      idleTimeout: 60,
      absoluteTimeout: 300,
      touchFraction: 0,
    });
    const token = await newSession(engine);
    for (let i = 0; i < 5; i++) {
      clock.advance(50_000);
      const r = await request(engine, token);
      expect(r.s.state).toBe('active');
      expect(r.s.idleExpiresAt!).toBeLessThanOrEqual(r.s.absoluteExpiresAt!);
    }
    clock.advance(50_001);
    const r = await request(engine, token);
    expect(r.s.state).toBe('anonymous');
    expect(events.find((e) => e.type === 'expired')?.reason).toBe('absolute');
  });

  it('rejects a tampered, forged or random token without any store call', async () => {
    const { engine, spy, events } = setup();
    const token = await newSession(engine);
    spy.calls.length = 0;
    const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);
    expect((await request(engine, flipped)).s.state).toBe('anonymous');
    for (let i = 0; i < 10_000; i++) {
      const random = `s.k1..${randomBytes(32).toString('base64url')}.${randomBytes(16).toString('base64url')}`;
      const s = await engine.load({ cookie: `__Host-tessera=${random}`, method: 'GET' });
      expect(s.state).toBe('anonymous');
    }
    expect(spy.calls).toEqual([]);
    expect(events.filter((e) => e.type === 'token_invalid' && e.reason === 'bad_mac')).toHaveLength(
      10_001,
    );
    expect(JSON.stringify(events)).not.toContain(token.split('.')[3]);
  });

  it('treats malformed, oversized and duplicate cookies as no session', async () => {
    const { engine, spy } = setup();
    const token = await newSession(engine);
    spy.calls.length = 0;
    for (const cookie of [
      `__Host-tessera=${token}; __Host-tessera=${token}`,
      `__Host-tessera=${'a'.repeat(5000)}`,
      '__Host-tessera="unterminated',
      '__Host-tessera=\u0000\u00ff',
      '__Host-tessera',
      ';;;===;;',
    ]) {
      const s = await engine.load({ cookie, method: 'GET' });
      expect(s.state).toBe('anonymous');
    }
    expect(spy.calls).toEqual([]);
  });

  it('rotates on regenerate: new token, same handle and data; the old one serves GET read-only within the grace', async () => {
    const { engine, clock, events } = setup({ rotationGrace: 10 });
    const token = await newSession(engine, 'alice');
    const first = await request(engine, token);
    const handle = first.s.handle;
    const rot = await request(engine, token, 'POST', (s) => s.regenerate());
    const fresh = rot.token!;
    expect(fresh).not.toBe(token);
    expect(rot.s.handle).toBe(handle);
    const grace = await request(engine, token, 'GET', (s) => {
      expect(s.state).toBe('grace');
      expect(s.get('count')).toBe(1);
      expect(() => s.set('count', 2)).toThrow(TesseraError);
    });
    expect(grace.setCookie).toBeNull();
    const unsafe = await request(engine, token, 'POST');
    expect(unsafe.s.state).toBe('anonymous');
    expect(events.some((e) => e.type === 'theft_suspected')).toBe(false);
    expect((await request(engine, fresh)).s.state).toBe('active');
    clock.advance(10_001);
    expect((await request(engine, fresh)).s.state).toBe('active');
  });

  it('revokes the whole family when a rotated-out authenticated token is replayed after the grace', async () => {
    const { engine, clock, events } = setup({ rotationGrace: 5 });
    const token = await newSession(engine, 'alice');
    const fresh = (await request(engine, token, 'POST', (s) => s.regenerate())).token!;
    clock.advance(5_001);
    const replay = await request(engine, token);
    expect(replay.s.state).toBe('anonymous');
    expect(events.filter((e) => e.type === 'theft_suspected')).toHaveLength(1);
    expect(events.find((e) => e.type === 'theft_suspected')?.userId).toBe('alice');
    expect((await request(engine, fresh)).s.state).toBe('anonymous');
  });

  it('keeps the family when the theft policy is event-only', async () => {
    const { engine, clock, events } = setup({ rotationGrace: 0, theftPolicy: 'event' });
    const token = await newSession(engine, 'alice');
    const fresh = (await request(engine, token, 'POST', (s) => s.regenerate())).token!;
    clock.advance(1);
    await request(engine, token);
    expect(events.filter((e) => e.type === 'theft_suspected')).toHaveLength(1);
    expect((await request(engine, fresh)).s.state).toBe('active');
  });

  it('never lets a pre-login token read the signed-in session, and its reuse is no theft signal', async () => {
    const { engine, events } = setup({ rotationGrace: 60 });
    const anon = await newSession(engine);
    const login = await request(engine, anon, 'POST', (s) => s.authenticate('bob'));
    expect(login.s.userId).toBe('bob');
    expect(login.s.get('count')).toBe(1);
    const old = await request(engine, anon, 'GET');
    expect(old.s.state).toBe('anonymous');
    expect(old.s.userId).toBeNull();
    expect(events.some((e) => e.type === 'theft_suspected')).toBe(false);
    expect(events.find((e) => e.type === 'token_invalid')?.reason).toBe('rotated_by_login');
  });

  it('binds a pre-session CSRF token without a store write, and login rotates it', async () => {
    const { engine, spy } = setup();
    const pre = await request(engine, null, 'GET', (s) => {
      s.csrfToken();
    });
    expect(spy.calls).toEqual([]);
    const preToken = pre.token!;
    expect(preToken.startsWith('p.k1.')).toBe(true);
    const s1 = await engine.load({ cookie: `__Host-tessera=${preToken}`, method: 'GET' });
    const csrf = s1.csrfToken();
    const post = await engine.load({ cookie: `__Host-tessera=${preToken}`, method: 'POST' });
    expect(engine.verifyCSRF(post, { method: 'POST' }, csrf)).toEqual({ ok: true });
    await post.authenticate('alice');
    expect(post.csrfToken()).not.toBe(csrf);
    expect(engine.verifyCSRF(post, { method: 'POST' }, csrf)).toEqual({
      ok: false,
      reason: 'bad_token',
    });
  });

  it('refuses forged, missing, other-session and cross-site CSRF', async () => {
    const { engine } = setup({ csrf: { origins: ['http://app.test'] } });
    const a = await newSession(engine, 'alice');
    const b = await newSession(engine, 'bob');
    const sa = await engine.load({ cookie: `__Host-tessera=${a}`, method: 'POST' });
    const sb = await engine.load({ cookie: `__Host-tessera=${b}`, method: 'POST' });
    const good = sa.csrfToken();
    expect(good).toBe(sa.csrfToken());
    expect(engine.verifyCSRF(sa, { method: 'POST' }, good).ok).toBe(true);
    expect(engine.verifyCSRF(sa, { method: 'POST' }, undefined)).toEqual({
      ok: false,
      reason: 'missing_token',
    });
    expect(engine.verifyCSRF(sa, { method: 'POST' }, `${good.slice(0, -1)}x`)).toEqual({
      ok: false,
      reason: 'bad_token',
    });
    expect(engine.verifyCSRF(sb, { method: 'POST' }, good)).toEqual({
      ok: false,
      reason: 'bad_token',
    });
    expect(engine.verifyCSRF(sa, { method: 'POST', secFetchSite: 'cross-site' }, good)).toEqual({
      ok: false,
      reason: 'cross_site',
    });
    expect(engine.verifyCSRF(sa, { method: 'POST', origin: 'http://evil.test' }, good)).toEqual({
      ok: false,
      reason: 'origin_mismatch',
    });
    expect(engine.verifyCSRF(sa, { method: 'POST', origin: 'null' }, good)).toEqual({
      ok: false,
      reason: 'origin_null',
    });
    expect(engine.verifyCSRF(sa, { method: 'POST', referer: 'http://evil.test/x' }, good)).toEqual({
      ok: false,
      reason: 'referer_mismatch',
    });
    expect(engine.verifyCSRF(sa, { method: 'POST', origin: 'http://app.test' }, good).ok).toBe(
      true,
    );
    expect(engine.verifyCSRF(sa, { method: 'POST', secFetchSite: 'same-origin' }, good).ok).toBe(
      true,
    );
    expect(engine.verifyCSRF(sa, { method: 'GET', secFetchSite: 'cross-site' }, undefined).ok).toBe(
      true,
    );
  });

  it('ends the session on destroy, and a replay of the destroyed token is no session', async () => {
    const { engine, inner } = setup();
    const token = await newSession(engine, 'alice');
    const r = await request(engine, token, 'POST', (s) => s.destroy());
    expect(r.setCookie).toMatch(/Max-Age=0/);
    expect((await request(engine, token)).s.state).toBe('anonymous');
    expect(await inner.count(0)).toBe(0);
  });

  it('lists and revokes sessions per user: one, others, all', async () => {
    const { engine } = setup();
    const t1 = await newSession(engine, 'alice');
    const t2 = await newSession(engine, 'alice');
    const t3 = await newSession(engine, 'alice');
    const tb = await newSession(engine, 'bob');
    const list = await engine.list('alice');
    expect(list).toHaveLength(3);
    expect(JSON.stringify(list)).not.toContain(t1.split('.')[3]);
    const h2 = (await request(engine, t2)).s.handle!;
    expect(await engine.revoke(h2, { userId: 'bob' })).toBe(false);
    expect(await engine.revoke(h2, { userId: 'alice' })).toBe(true);
    expect((await request(engine, t2)).s.state).toBe('anonymous');
    const s1 = (await request(engine, t1)).s;
    expect(await engine.revokeOthers(s1)).toBe(1);
    expect((await request(engine, t3)).s.state).toBe('anonymous');
    expect((await request(engine, t1)).s.state).toBe('active');
    expect(await engine.revokeAll('alice')).toBe(1);
    expect((await request(engine, t1)).s.state).toBe('anonymous');
    expect((await request(engine, tb)).s.state).toBe('active');
  });

  it('keeps both writes when parallel requests change different keys', async () => {
    const { engine } = setup();
    const token = await newSession(engine);
    const sessions = await Promise.all(
      Array.from({ length: 50 }, () =>
        engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' }),
      ),
    );
    sessions.forEach((s, i) => {
      s.set(`k${i}`, i);
    });
    await Promise.all(sessions.map((s) => engine.commit(s)));
    const after = await request(engine, token);
    for (let i = 0; i < 50; i++) expect(after.s.data[`k${i}`]).toBe(i);
  });

  it('loses no increment with update(fn), and reports a same-key conflict of plain sets', async () => {
    const { engine, events } = setup();
    const token = await newSession(engine);
    const ss = await Promise.all(
      Array.from({ length: 40 }, () =>
        engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' }),
      ),
    );
    for (const s of ss) s.update('count', (n) => (n ?? 0) + 1);
    await Promise.all(ss.map((s) => engine.commit(s)));
    expect((await request(engine, token)).s.get('count')).toBe(41);
    const [x, y] = await Promise.all(
      [0, 1].map(() => engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' })),
    );
    x!.set('theme', 'dark');
    y!.set('theme', 'light');
    await engine.commit(x!);
    await engine.commit(y!);
    expect((await request(engine, token)).s.get('theme')).toBe('light');
    expect(events.filter((e) => e.type === 'conflict').map((e) => e.keys)).toEqual([['theme']]);
  });

  it('encrypts data at rest, bound to its session: a swapped or bit-flipped record opens nothing', async () => {
    const { engine, inner, events } = setup({ encryptData: true });
    const a = await newSession(engine, 'alice');
    const b = await newSession(engine, 'bob');
    const ra = (await request(engine, a)).s;
    const rb = (await request(engine, b)).s;
    const recA = (await inner.getByHandle(ra.handle!)) as SessionRecord;
    const recB = (await inner.getByHandle(rb.handle!)) as SessionRecord;
    expect(recA.data.startsWith('e2.k1.')).toBe(true);
    expect(recA.data).not.toContain('count');
    const corrupt = () =>
      events.filter((e) => e.type === 'store_error' && e.reason === 'ERR_STORE_CORRUPT').length;
    // Swap: put alice's ciphertext into bob's record. The record opens nothing: no session.
    expect(await inner.update(recB.id, recB.version, { data: recA.data })).toBe(true);
    const swapped = await request(engine, b, 'GET', (s) => void s.get('count'));
    expect(swapped.s.state).toBe('anonymous');
    expect(swapped.s.get('count')).toBeUndefined();
    expect(corrupt()).toBe(1);
    // Bit flip in alice's own ciphertext.
    const raw = Buffer.from(recA.data.slice(6), 'base64url');
    raw[raw.length - 20]! ^= 1;
    expect(
      await inner.update(recA.id, recA.version, { data: `e2.k1.${raw.toString('base64url')}` }),
    ).toBe(true);
    expect((await request(engine, a, 'GET')).s.state).toBe('anonymous');
    expect(corrupt()).toBe(2);
    expect(JSON.stringify(events)).not.toContain(a.split('.')[3]);
  });

  it('survives key rotation: add a key, promote it, old sessions open and are re-sealed; retiring the old key ends them', async () => {
    const base = setup({ encryptData: true });
    const token = await newSession(base.engine, 'alice');
    const rotated = createSessions<Data>({
      store: base.inner,
      keys: [K2, K1],
      now: base.clock.now,
      encryptData: true,
    });
    const r = await request(rotated, token, 'POST', (s) => {
      expect(s.get('count')).toBe(1);
      s.set('count', 2);
    });
    expect(r.s.state).toBe('active');
    const rec = (await base.inner.getByHandle(r.s.handle!))!;
    expect(rec.data.startsWith('e2.k2.')).toBe(true);
    const retired = createSessions<Data>({ store: base.inner, keys: [K2], now: base.clock.now });
    const events: SessionEvent[] = [];
    retired.on('token_invalid', (e) => events.push(e));
    expect((await request(retired, token)).s.state).toBe('anonymous');
    expect(events[0]?.reason).toBe('unknown_key');
  });

  it('emits user-agent and IP change signals, and revokes on UA change when asked', async () => {
    const { engine, events } = setup({ userAgentPolicy: 'revoke' });
    const token = await newSession(engine, 'alice');
    await request(engine, token, 'GET', undefined, { ip: '10.0.0.9' });
    expect(events.some((e) => e.type === 'ip_changed')).toBe(true);
    const r = await request(engine, token, 'GET', undefined, { ua: 'other-agent' });
    expect(r.s.state).toBe('anonymous');
    expect(events.some((e) => e.type === 'user_agent_changed')).toBe(true);
  });

  it('enforces a per-user session limit by evicting the oldest or rejecting', async () => {
    const evict = setup({ sessionLimit: { max: 2 } });
    const t1 = await newSession(evict.engine, 'u');
    await newSession(evict.engine, 'u');
    await newSession(evict.engine, 'u');
    expect(await evict.engine.list('u')).toHaveLength(2);
    expect((await request(evict.engine, t1)).s.state).toBe('anonymous');
    const reject = setup({ sessionLimit: { max: 1, policy: 'reject' } });
    await newSession(reject.engine, 'u');
    await expect(newSession(reject.engine, 'u')).rejects.toMatchObject({
      code: 'ERR_SESSION_LIMIT',
    });
  });

  it('turns a failing store into ERR_STORE_UNAVAILABLE and a store_error event', async () => {
    // Every other method delegates to a working store (a store must have the whole contract).
    const inner = memoryStore();
    const broken = new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'name') return 'broken';
        if (prop === 'get') return () => Promise.reject(new Error('ECONNREFUSED'));
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as SessionStore;
    const engine = createSessions({ store: broken, keys: [K1] });
    const events: string[] = [];
    engine.on('store_error', (e) => events.push(e.reason!));
    const token = `s.k1..${'a'.repeat(43)}.${'b'.repeat(22)}`;
    // Forged tokens never reach the store, so mint a real one through a working engine first.
    const ok = setup();
    const real = await newSession(ok.engine);
    await expect(
      engine.load({ cookie: `__Host-tessera=${real}`, method: 'GET' }),
    ).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 });
    expect(events).toEqual(['ERR_STORE_UNAVAILABLE']);
    expect((await engine.load({ cookie: `__Host-tessera=${token}`, method: 'GET' })).state).toBe(
      'anonymous',
    );
  });

  it('refuses data over maxDataBytes and non-JSON data with typed errors, losing nothing stored', async () => {
    const { engine } = setup({ maxDataBytes: 200 });
    const token = await newSession(engine);
    await expect(
      request(engine, token, 'POST', (s) => s.set('cart', ['x'.repeat(500)])),
    ).rejects.toMatchObject({ code: 'ERR_DATA_TOO_LARGE' });
    await expect(
      request(engine, token, 'POST', (s) => s.set('a', 1n as unknown as number)),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_DATA' });
    expect((await request(engine, token)).s.get('count')).toBe(1);
  });

  it('runs the validation hook on load and drops a session it refuses', async () => {
    const { engine, inner } = setup();
    const token = await newSession(engine);
    const strict = createSessions<Data>({
      store: inner,
      keys: [K1],
      validate: (d) => {
        if (typeof d.count !== 'string') throw new Error('count must be a string');
        return d as Data;
      },
    });
    expect((await request(strict, token)).s.state).toBe('anonymous');
  });
});

describe('createSessions configuration', () => {
  const store = memoryStore();
  const cases: [string, Partial<SessionsOptions>][] = [
    ['idle > absolute', { idleTimeout: 100, absoluteTimeout: 10 }],
    ['zero timeout', { idleTimeout: 0 }],
    ['grace over 60 s', { rotationGrace: 61 }],
    ['__Host- with a Domain', { cookie: { domain: 'example.com' } }],
    ['__Host- without Secure', { cookie: { secure: false } }],
    ['SameSite=None without Secure', { cookie: { name: 'sid', sameSite: 'None', secure: false } }],
    ['a bad origin', { csrf: { origins: ['not a url'] } }],
  ];
  for (const [name, o] of cases) {
    it(`refuses ${name} with ERR_CONFIG`, () => {
      expect(() => createSessions({ store, keys: [K1], ...o })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG' }),
      );
    });
  }
  it('refuses short, duplicate, reused and missing keys with ERR_KEY', () => {
    const bad: KeyInput[][] = [
      [],
      [{ id: 'k', secret: Buffer.alloc(16, 7).toString('base64'), createdAt: 0 }],
      [K1, { ...K1 }],
      [K1, { ...K1, id: 'other' }],
      [{ id: 'k', secret: Buffer.alloc(32, 0).toString('base64'), createdAt: 0 }],
      [{ id: 'bad id!', secret: K1.secret, createdAt: 0 }],
    ];
    for (const keys of bad)
      expect(() => createSessions({ store, keys })).toThrow(
        expect.objectContaining({ code: 'ERR_KEY' }),
      );
  });
});

describe('guessing limiter', () => {
  it('fires guessing_suspected once per burst and still answers "no session", without the store', async () => {
    const { memoryGuessLimiter } = await import('./limiter.js');
    const { engine, spy, events } = setup({
      guessLimiter: memoryGuessLimiter({ limit: 5, stepMs: 1, maxDelayMs: 2 }),
    });
    for (let i = 0; i < 12; i++) {
      const s = await engine.load({
        cookie: `__Host-tessera=s.k1..${randomBytes(32).toString('base64url')}.${'x'.repeat(22)}`,
        method: 'GET',
        ip: '198.51.100.1',
      });
      expect(s.state).toBe('anonymous');
    }
    expect(events.filter((e) => e.type === 'guessing_suspected')).toHaveLength(1);
    expect(events.find((e) => e.type === 'guessing_suspected')?.ip).toBe('198.51.100.1');
    expect(spy.calls).toEqual([]);
  });
});

describe('insecure configuration', () => {
  it('refuses a non-Secure cookie unless the development flag is set', () => {
    const store = memoryStore();
    expect(() =>
      createSessions({ store, keys: [K1], cookie: { name: 'sid', secure: false } }),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() =>
      createSessions({
        store,
        keys: [K1],
        cookie: { name: 'sid', secure: false },
        allowInsecure: true,
      }),
    ).not.toThrow();
  });
});

describe('review findings (regressions)', () => {
  it("never writes a request begun before an account switch into the new user's session", async () => {
    const { engine } = setup();
    const token = await newSession(engine, 'alice');
    const r1 = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    const r2 = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    await r2.authenticate('bob');
    const bob = (await engine.commit(r2)).setCookie!.split(';')[0]!.split('=')[1]!;
    r1.set('a', 42);
    await engine.commit(r1);
    const after = await request(engine, bob);
    expect(after.s.userId).toBe('bob');
    expect(after.s.get('a')).toBeUndefined();
    expect(r1.userId).toBeNull();
  });

  it('follows a same-user rotation with a write begun before it', async () => {
    const { engine } = setup();
    const token = await newSession(engine, 'alice');
    const r1 = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    const r2 = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    await r2.regenerate();
    const fresh = (await engine.commit(r2)).setCookie!.split(';')[0]!.split('=')[1]!;
    r1.set('a', 7);
    await engine.commit(r1);
    expect((await request(engine, fresh)).s.get('a')).toBe(7);
  });

  it('joins parallel first writes from one pre-session cookie into one session', async () => {
    const { engine } = setup();
    const pre = (await request(engine, null, 'GET', (s) => void s.csrfToken())).token!;
    const [x, y] = await Promise.all(
      [0, 1].map(() => engine.load({ cookie: `__Host-tessera=${pre}`, method: 'POST' })),
    );
    x!.set('a', 1);
    y!.set('b', 2);
    const [cx, cy] = await Promise.all([engine.commit(x!), engine.commit(y!)]);
    expect(cx.setCookie).toBe(cy.setCookie);
    const after = await request(engine, tokenOf(cx.setCookie));
    expect(after.s.data).toMatchObject({ a: 1, b: 2 });
  });

  it('counts bytes, not characters, against maxDataBytes', async () => {
    const { engine } = setup({ maxDataBytes: 1000 });
    await expect(
      request(engine, null, 'POST', (s) => s.set('theme', 'é'.repeat(900))),
    ).rejects.toMatchObject({ code: 'ERR_DATA_TOO_LARGE' });
  });

  it('drops a pre-session token when an anonymous session regenerates', async () => {
    const { engine } = setup();
    const r = await request(engine, null, 'GET', async (s) => {
      s.csrfToken();
      await s.regenerate();
    });
    expect(r.setCookie).toBeNull();
  });

  it('refuses a __proto__ key instead of changing the prototype', async () => {
    const { engine } = setup();
    await request(engine, null, 'POST', (s) => {
      expect(() => s.set('__proto__' as 'theme', 'x' as never)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_DATA' }),
      );
      s.set('theme', 'dark');
      expect((s.data as Record<string, unknown>).isAdmin).toBeUndefined();
    });
  });
});

describe('cookie and CSRF options', () => {
  it('sets a narrowed cookie path for a non-__Host- cookie (ASVS 3.4.5)', async () => {
    const { engine } = setup({ cookie: { name: '__Secure-app', path: '/app' } });
    const s = await engine.load({ method: 'POST' });
    s.set('a', 1);
    const r = await engine.commit(s);
    expect(r.setCookie).toMatch(
      /^__Secure-app=s\.[^;]+; Path=\/app; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect(engine.clearCookie()).toMatch(/^__Secure-app=; Path=\/app; Max-Age=0;/);
  });

  it('reports but lets through in reportOnly mode (log-only rollout)', async () => {
    const { engine, events } = setup({ csrf: { reportOnly: true } });
    const token = await newSession(engine);
    const s = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    expect(engine.verifyCSRF(s, { method: 'POST', secFetchSite: 'cross-site' }, undefined)).toEqual(
      {
        ok: true,
      },
    );
    expect(events.filter((e) => e.type === 'csrf_rejected').map((e) => e.reason)).toEqual([
      'cross_site',
    ]);
  });
});

describe('user-agent changes', () => {
  it('writes one touch for a changed or missing user agent, not one per request', async () => {
    const { engine, spy, events } = setup();
    const token = await newSession(engine);
    spy.calls.length = 0;
    for (let i = 0; i < 3; i++) {
      const s = await engine.load({
        cookie: `__Host-tessera=${token}`,
        method: 'GET',
        ip: '127.0.0.1',
      });
      await engine.commit(s);
    }
    expect(spy.writes()).toEqual(['touch']);
    expect(events.filter((e) => e.type === 'user_agent_changed')).toHaveLength(1);
  });
});

describe('touch near the absolute deadline', () => {
  it('extends an active session to its absolute deadline even when the last step is under the touch fraction', async () => {
    const { engine, clock } = setup({ idleTimeout: 60, absoluteTimeout: 100 });
    const token = await newSession(engine); // idle t+60, absolute t+100; touch fraction 6 s
    clock.advance(38_000);
    await request(engine, token); // idle → t+98
    clock.advance(4_000);
    const s = (await request(engine, token)).s; // 2 s short of the cap: still extended to it
    expect(s.idleExpiresAt).toBe(s.absoluteExpiresAt);
    clock.advance(57_000); // t+99: past the old idle deadline, before the absolute one
    expect((await request(engine, token)).s.state).toBe('active');
  });
});

describe('revocation epoch and sign-in stamps', () => {
  it('stamps a sign-in with the moment its request began', async () => {
    const { engine, clock } = setup();
    const start = clock.now();
    const s = await engine.load({ method: 'POST' });
    clock.advance(1_000); // the password check
    await s.authenticate('alice');
    expect(s.authenticatedAt).toBe(start);
    expect(s.createdAt).toBe(start + 1_000);
    // An adapter (or an app) may say when the request began; never later than now.
    const early = await engine.load({ method: 'POST', startedAt: start + 10 });
    await early.authenticate('alice');
    expect(early.authenticatedAt).toBe(start + 10);
    const future = await engine.load({ method: 'POST', startedAt: start + 99_999 });
    await future.authenticate('alice');
    expect(future.authenticatedAt).toBe(clock.now());
  });

  it('refuses a sign-in whose request began before revokeAll with ERR_SESSION_REVOKED (401)', async () => {
    const { engine, clock, events } = setup();
    const fresh = await engine.load({ method: 'POST' });
    const stored = await engine.load({ method: 'POST' });
    stored.set('cart', ['book']);
    await engine.commit(stored);
    clock.advance(5);
    await engine.revokeAll('alice');
    clock.advance(5);
    // A new session (create) and an anonymous one signing in (rotate): both began before.
    await expect(fresh.authenticate('alice')).rejects.toMatchObject({
      code: 'ERR_SESSION_REVOKED',
      status: 401,
    });
    await expect(stored.authenticate('alice')).rejects.toMatchObject({
      code: 'ERR_SESSION_REVOKED',
    });
    expect(stored.state).toBe('active');
    expect(stored.userId).toBeNull();
    expect(stored.get('cart')).toEqual(['book']);
    expect(await engine.list('alice')).toEqual([]);
    expect(events.filter((e) => e.type === 'authenticated')).toEqual([]);
    // Another user is not affected, and a sign-in begun after the revocation goes through.
    await newSession(engine, 'bob');
    await newSession(engine, 'alice');
    expect(await engine.list('alice')).toHaveLength(1);
  });

  it('keeps the session that called revokeOthers, which may re-authenticate and regenerate', async () => {
    const { engine, clock } = setup();
    const token = await newSession(engine, 'alice');
    await newSession(engine, 'alice');
    const s = (await request(engine, token)).s;
    clock.advance(5);
    const r = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'POST' });
    expect(await engine.revokeOthers(r)).toBe(1);
    // The same request goes on: same-user rotations are no sign-in, so the epoch does not apply.
    await r.authenticate('alice');
    await r.regenerate();
    const after = await engine.commit(r);
    expect((await request(engine, tokenOf(after.setCookie))).s.handle).toBe(s.handle);
    expect((await engine.list('alice')).map((i) => i.handle)).toEqual([s.handle]);
  });

  it('returns from revokeAll once the clock has passed the epoch, and never hangs on a frozen clock', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const engine = createSessions({ store, keys: [K1] });
    for (let i = 0; i < 20; i++) {
      await engine.revokeAll('alice');
      const epoch = await store.getRevocationEpoch('alice', Date.now());
      expect(Date.now()).toBeGreaterThan(epoch!);
    }
    const frozen = setup();
    const started = performance.now();
    await frozen.engine.revokeAll('alice');
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('user ids and handles', () => {
  it('refuses user ids and handles that are not well-formed UTF-16, hold NUL or are too long (400), writing nothing', async () => {
    const { engine, spy } = setup();
    const bad = ['user\ud800', 'user\udc00x', '\ud83d', 'user\0', 'x'.repeat(1025), ''];
    for (const id of [...bad, 42 as unknown as string]) {
      const s = await engine.load({ method: 'POST' });
      for (const p of [
        s.authenticate(id),
        engine.list(id),
        engine.revokeAll(id),
        engine.revoke(id),
        engine.revoke('handle', { userId: id }),
      ]) {
        await expect(p).rejects.toMatchObject({ code: 'ERR_INVALID_ID', status: 400 });
      }
    }
    expect(spy.writes()).toEqual([]);
    // Long, odd but well-formed ids are fine.
    await newSession(engine, `🦊 {x} *?[]%_\\ '" ${'y'.repeat(1000)}`);
  });
});
