import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions } from './engine.js';
import { isTesseraError, TesseraError } from './errors.js';
import type { SessionEvent } from './events.js';
import { type KeyInput, KeyRing } from './keys.js';
import {
  createSealedSessions,
  memoryRevocationStore,
  type RevocationStore,
  revocationStoreFrom,
  type SealedSession,
  type SealedSessionManager,
  type SealedSessionsOptions,
  storeRevocation,
} from './sealed.js';
import { mintToken } from './token.js';
import type { KeyValueStore, SessionStore } from './types.js';
// The deprecated `err.status` asserted below reads the adapters' status table.
import '../adapters/shared/status.js';

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});
/**
 * The key-value half of a store (what `revocationStoreFrom` uses), with expiry. Core tests do
 * not import a store (biome's boundary rule); the stores' own kv behaviour is covered by the
 * conformance suite in src/testing.
 */
function kvStore(): SessionStore & KeyValueStore {
  const m = new Map<string, { v: string; exp: number | null }>();
  const kv = {
    name: 'kv-test',
    async kvGet(k: string, now: number) {
      const e = m.get(k);
      return e && (e.exp === null || e.exp > now) ? e.v : null;
    },
    async kvSet(k: string, v: string, exp: number | null) {
      m.set(k, { v, exp });
    },
  };
  return new Proxy(kv as unknown as SessionStore & KeyValueStore, {
    get: (t, p) =>
      p in t
        ? t[p as keyof SessionStore]
        : () => Promise.reject(new Error(`${String(p)} is not used`)),
  });
}
const K1 = key('k1');
const K2 = key('k2');
const NAME = '__Host-tessera';

type Data = { count?: number; cart?: string[]; theme?: string; blob?: string } & Record<
  string,
  unknown
>;

function clock() {
  let t = 1_800_000_000_000;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function setup(opts: Partial<SealedSessionsOptions<Data>> = {}, c = clock()) {
  const events: SessionEvent[] = [];
  const sessions = createSealedSessions<Data>({ keys: [K1], now: c.now, ...opts });
  sessions.on('*', (e) => events.push(e));
  return { sessions, clock: c, events };
}

/** The cookie value of a Set-Cookie line, or null for none / a clearing cookie. */
function cookieValue(setCookie: string | null): string | null {
  if (!setCookie) return null;
  const v = setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
  return v === '' ? null : v;
}

async function request(
  sessions: SealedSessionManager<Data>,
  cookie: string | null,
  fn?: (s: SealedSession<Data>) => Promise<void> | void,
  method = 'GET',
) {
  const s = await sessions.load({
    cookie: cookie === null ? undefined : `${NAME}=${cookie}`,
    method,
  });
  if (fn) await fn(s);
  const r = await sessions.commit(s);
  return { s, ...r, value: cookieValue(r.setCookie) };
}

async function signedIn(sessions: SealedSessionManager<Data>, userId: string) {
  const r = await request(sessions, null, (s) => s.authenticate(userId), 'POST');
  return r.value!;
}

describe('SealedSessionManager', () => {
  it('round-trips a session through the cookie and sets nothing on a read-only request', async () => {
    const { sessions } = setup();
    const first = await request(sessions, null, (s) => {
      s.set('count', 1);
      s.set('cart', ['a', 'b']);
    });
    expect(first.setCookie).toMatch(
      /^__Host-tessera=v1\.k1\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect(first.private).toBe(true);
    const again = await request(sessions, first.value, (s) => {
      expect(s.state).toBe('active');
      expect(s.handle).toBe(first.s.handle);
      expect(s.userId).toBeNull();
      expect(s.data).toEqual({ count: 1, cart: ['a', 'b'] });
    });
    expect(again.setCookie).toBeNull();
    expect(again.private).toBe(true);
    const none = await request(sessions, null);
    expect(none).toMatchObject({ setCookie: null, private: false });
    expect(none.s.state).toBe('anonymous');
  });

  it('keeps data, user id and handle out of sight: the cookie is encrypted', async () => {
    const { sessions } = setup();
    const r = await request(sessions, null, async (s) => {
      await s.authenticate('alice@example.com');
      s.set('theme', 'secret-theme-value');
    });
    const raw = Buffer.from(r.value!.split('.')[2]!, 'base64url').toString('latin1');
    for (const plain of ['alice', 'secret-theme-value', r.s.handle!]) {
      expect(r.setCookie).not.toContain(plain);
      expect(raw).not.toContain(plain);
    }
  });

  it('refuses a seal with any one byte changed, anywhere, without an error', async () => {
    const { sessions, events } = setup();
    const good = (await request(sessions, null, (s) => s.set('count', 7))).value!;
    const alphabet = 'AQgw_-.19azZ!~';
    let tried = 0;
    for (let i = 0; i < good.length; i++) {
      for (const ch of alphabet) {
        if (ch === good[i]) continue;
        const bad = good.slice(0, i) + ch + good.slice(i + 1);
        const r = await request(sessions, bad);
        expect(r.s.state, `byte ${i} → ${ch}`).toBe('anonymous');
        expect(r.setCookie).toMatch(/^__Host-tessera=; /);
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(good.length * 10);
    const reasons = new Set(events.filter((e) => e.type === 'token_invalid').map((e) => e.reason));
    expect([...reasons].sort()).toEqual(['malformed', 'tampered', 'unknown_key']);
    // Truncated and extended seals too.
    for (const bad of [good.slice(0, -1), `${good}A`, `${good}AA`, good.slice(0, 20), 'v1.k1.']) {
      expect((await request(sessions, bad)).s.state).toBe('anonymous');
    }
    expect(JSON.stringify(events)).not.toContain(good.split('.')[2]!.slice(0, 40));
  });

  it('refuses random garbage of any shape (property)', async () => {
    const { sessions } = setup();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.base64String().map((s) => `v1.k1.${s.replace(/=/g, '')}`),
          fc
            .uint8Array({ minLength: 28, maxLength: 400 })
            .map((b) => `v1.k1.${Buffer.from(b).toString('base64url')}`),
        ),
        async (value) => {
          const s = await sessions.load({ cookie: `${NAME}=${value}`, method: 'GET' });
          expect(s.state).toBe('anonymous');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not open a seal made for another cookie name or by a server-side token', async () => {
    const { sessions } = setup();
    const other = createSealedSessions<Data>({ keys: [K1], cookie: { name: '__Host-other' } });
    const s = await other.load({ method: 'GET' });
    s.set('count', 1);
    const sealed = cookieValue((await other.commit(s)).setCookie)!;
    expect((await request(sessions, sealed)).s.state).toBe('anonymous');
    const { token } = mintToken(new KeyRing([K1]), 's');
    expect((await request(sessions, token)).s.state).toBe('anonymous');
  });

  it('opens seals of an older key and re-seals them under the primary; a retired key opens nothing', async () => {
    const c = clock();
    const old = setup({ keys: [K1] }, c).sessions;
    const underK1 = (await request(old, null, (s) => s.set('count', 1))).value!;
    // Phase 1: K2 added as a non-primary key everywhere — still seals with K1.
    const phase1 = setup({ keys: [K1, K2] }, c).sessions;
    expect((await request(phase1, null, (s) => s.set('count', 2))).value).toMatch(/^v1\.k1\./);
    // Phase 2: K2 promoted. K1 seals open, and are re-sealed under K2 on that request.
    const { sessions: phase2, events } = setup({ keys: [K2, K1] }, c);
    const r = await request(phase2, underK1);
    expect(r.s.get('count')).toBe(1);
    expect(r.value).toMatch(/^v1\.k2\./);
    expect(events.map((e) => e.type)).toContain('touched');
    // Retire K1: the old cookie ends cleanly, the re-sealed one lives.
    const { sessions: retired, events: ev } = setup({ keys: [K2] }, c);
    const dead = await request(retired, underK1);
    expect(dead.s.state).toBe('anonymous');
    expect(dead.setCookie).toMatch(/^__Host-tessera=; /);
    expect(ev).toContainEqual(
      expect.objectContaining({ type: 'token_invalid', reason: 'unknown_key' }),
    );
    expect((await request(retired, r.value)).s.get('count')).toBe(1);
  });

  it('enforces the idle deadline inside the seal, sliding it only when it moves enough', async () => {
    const { sessions, clock: c, events } = setup({ idleTimeout: 600, absoluteTimeout: 3600 });
    let v = (await request(sessions, null, (s) => s.set('count', 1))).value!;
    c.advance(30_000); // less than the touch fraction (60 s): nothing to send
    expect((await request(sessions, v)).setCookie).toBeNull();
    c.advance(120_000);
    const touched = await request(sessions, v);
    expect(touched.value).not.toBeNull();
    expect(touched.s.idleExpiresAt).toBe(c.now() + 600_000);
    v = touched.value!;
    c.advance(600_000);
    const late = await request(sessions, v);
    expect(late.s.state).toBe('anonymous');
    expect(late.setCookie).toMatch(/^__Host-tessera=; /);
    expect(events.at(-1)).toMatchObject({ type: 'expired', reason: 'idle' });
  });

  it('enforces the absolute deadline however active the session is, and replays of old seals too', async () => {
    const { sessions, clock: c, events } = setup({ idleTimeout: 600, absoluteTimeout: 3600 });
    const first = await signedIn(sessions, 'alice');
    let v = first;
    for (let i = 0; i < 11; i++) {
      c.advance(300_000);
      const r = await request(sessions, v, (s) => s.set('count', i));
      expect(r.s.state).toBe('active');
      v = r.value!;
    }
    c.advance(300_000); // 3600 s after sign-in
    expect((await request(sessions, v)).s.state).toBe('anonymous');
    expect(events.at(-1)).toMatchObject({ type: 'expired', reason: 'absolute' });
    expect((await request(sessions, first)).s.state).toBe('anonymous');
  });

  it('sets Max-Age up to the absolute deadline for a persistent cookie', async () => {
    const { sessions, clock: c } = setup({
      cookie: { persistent: true },
      idleTimeout: 7200,
      absoluteTimeout: 7200,
    });
    const v = await signedIn(sessions, 'alice');
    c.advance(3_600_000);
    const r = await request(sessions, v, (s) => s.set('count', 1));
    expect(r.setCookie).toContain('; Max-Age=3600;');
  });

  it('refuses data that would not fit in a 4096-byte cookie, and never sends a truncated one', async () => {
    const { sessions } = setup();
    // Find the largest string that still fits: the Set-Cookie line stays within 4096 bytes.
    let lo = 0;
    let hi = 4096;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const s = await sessions.load({ method: 'GET' });
      s.set('blob', 'x'.repeat(mid));
      try {
        await s.save();
        lo = mid;
      } catch (e) {
        expect(isTesseraError(e, 'ERR_DATA_TOO_LARGE')).toBe(true);
        hi = mid - 1;
      }
    }
    expect(lo).toBeGreaterThan(2800);
    const fits = await request(sessions, null, (s) => s.set('blob', 'x'.repeat(lo)));
    expect(Buffer.byteLength(fits.setCookie!)).toBeLessThanOrEqual(4096);
    expect(Buffer.byteLength(fits.setCookie!)).toBeGreaterThan(4090);
    expect((await request(sessions, fits.value)).s.get('blob')).toHaveLength(lo);

    const s = await sessions.load({ method: 'GET' });
    s.set('blob', 'x'.repeat(lo + 1));
    await expect(sessions.commit(s)).rejects.toMatchObject({
      code: 'ERR_DATA_TOO_LARGE',
      status: 413,
    });
    // Multi-byte characters count in bytes, and a huge value is refused before sealing.
    const euro = await sessions.load({ method: 'GET' });
    euro.set('blob', '€'.repeat(Math.ceil(lo / 2)));
    await expect(euro.save()).rejects.toMatchObject({ code: 'ERR_DATA_TOO_LARGE' });
    const huge = await sessions.load({ method: 'GET' });
    huge.set('blob', 'x'.repeat(5_000_000));
    await expect(sessions.commit(huge)).rejects.toMatchObject({ code: 'ERR_DATA_TOO_LARGE' });
    // The session that was too large can be fixed and sent.
    s.set('blob', 'small');
    expect(cookieValue((await sessions.commit(s)).setCookie)).toBeTruthy();
  });

  it('refuses data that is not JSON-serialisable with ERR_INVALID_DATA', async () => {
    const { sessions } = setup();
    const s = await sessions.load({ method: 'GET' });
    s.set('count', 10n as unknown as number);
    await expect(sessions.commit(s)).rejects.toMatchObject({ code: 'ERR_INVALID_DATA' });
  });

  it('starts a new session on sign-in: new handle, data dropped for another user, deadlines restarted', async () => {
    const { sessions, clock: c } = setup();
    const anon = await request(sessions, null, (s) => s.set('cart', ['x']));
    c.advance(60_000);
    const login = await request(sessions, anon.value, (s) => s.authenticate('alice'), 'POST');
    expect(login.s.userId).toBe('alice');
    expect(login.s.handle).not.toBe(anon.s.handle);
    expect(login.s.get('cart')).toEqual(['x']); // an anonymous visitor's cart survives their login
    expect(login.s.authenticatedAt).toBe(c.now());
    expect(login.s.issuedAt).toBe(c.now());
    expect(login.s.isFresh(1)).toBe(true);
    c.advance(120_000);
    const reauth = await request(sessions, login.value, (s) => s.authenticate('alice'), 'POST');
    expect(reauth.s.handle).toBe(login.s.handle);
    expect(reauth.s.createdAt).toBe(login.s.createdAt);
    expect(reauth.s.get('cart')).toEqual(['x']);
    expect(reauth.s.absoluteExpiresAt).toBe(c.now() + 43_200_000);
    const other = await request(sessions, reauth.value, (s) => s.authenticate('bob'), 'POST');
    expect(other.s.handle).not.toBe(reauth.s.handle);
    expect(other.s.data).toEqual({});
    await expect(request(sessions, null, (s) => s.authenticate(''))).rejects.toMatchObject({
      code: 'ERR_INVALID_ID',
    });
  });

  it('clears the cookie on destroy and refuses writes after it', async () => {
    const { sessions, events } = setup();
    const v = await signedIn(sessions, 'alice');
    const r = await request(
      sessions,
      v,
      async (s) => {
        await s.destroy();
        expect(s.state).toBe('destroyed');
        expect(() => s.set('count', 1)).toThrow(TesseraError);
      },
      'POST',
    );
    expect(r.setCookie).toMatch(
      /^__Host-tessera=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect(r.private).toBe(true);
    expect(events.map((e) => e.type)).toContain('destroyed');
    // The documented limit of sealed mode: a copy of the cookie still opens after logout,
    // until its deadline or a revokeAll (see the watermark tests).
    expect((await request(sessions, v)).s.userId).toBe('alice');
  });

  it('regenerates: same handle and data, new CSRF binding', async () => {
    const { sessions } = setup();
    const v = await signedIn(sessions, 'alice');
    const before = await sessions.load({ cookie: `${NAME}=${v}`, method: 'POST' });
    const token = before.csrfToken();
    await before.regenerate();
    expect(sessions.verifyCSRF(before, { method: 'POST' }, token)).toEqual({
      ok: false,
      reason: 'bad_token',
    });
    const after = cookieValue((await sessions.commit(before)).setCookie)!;
    const s = await sessions.load({ cookie: `${NAME}=${after}`, method: 'POST' });
    expect(s.handle).toBe(before.handle);
    expect(s.userId).toBe('alice');
    expect(sessions.verifyCSRF(s, { method: 'POST' }, token).ok).toBe(false);
    expect(sessions.verifyCSRF(s, { method: 'POST' }, s.csrfToken()).ok).toBe(true);
  });

  it('drops a session the validation hook refuses', async () => {
    const { sessions, events } = setup({
      validate: (d) => {
        if (typeof d.count !== 'number') throw new Error('bad');
        return d as Data;
      },
    });
    const good = (await request(sessions, null, (s) => s.set('count', 1))).value!;
    const bad = (await request(sessions, null, (s) => s.set('theme', 'x'))).value!;
    expect((await request(sessions, good)).s.get('count')).toBe(1);
    expect((await request(sessions, bad)).s.state).toBe('anonymous');
    expect(events.at(-1)).toMatchObject({ type: 'token_invalid', reason: 'invalid_data' });
  });

  it('treats duplicate and malformed cookies as no session', async () => {
    const { sessions } = setup();
    const v = (await request(sessions, null, (s) => s.set('count', 1))).value!;
    const dup = await sessions.load({ cookie: `${NAME}=${v}; ${NAME}=${v}`, method: 'GET' });
    expect(dup.state).toBe('anonymous');
    for (const bad of ['', 'x', 'v1..', 'v2.k1.AAAA', '"v1.k1.AAAA"', 'v1.k1.====']) {
      expect((await request(sessions, bad)).s.state).toBe('anonymous');
    }
  });

  it('commits once: a second commit sends nothing', async () => {
    const { sessions } = setup();
    const s = await sessions.load({ method: 'GET' });
    s.set('count', 1);
    expect((await sessions.commit(s)).setCookie).toBeTruthy();
    expect((await sessions.commit(s)).setCookie).toBeNull();
    expect(sessions.commitCookieNow(s)).toBe('');
  });
});

describe('sealed CSRF (signed double-submit)', () => {
  it('refuses forged, missing, other-session and cross-site tokens', async () => {
    const { sessions, events } = setup({ csrf: { origins: ['https://app.test'] } });
    const a = await signedIn(sessions, 'alice');
    const b = await signedIn(sessions, 'bob');
    const sa = await sessions.load({ cookie: `${NAME}=${a}`, method: 'POST' });
    const sb = await sessions.load({ cookie: `${NAME}=${b}`, method: 'POST' });
    const good = sa.csrfToken();
    expect(sa.csrfToken()).not.toBe(good); // a fresh nonce each time; both valid
    expect(sessions.verifyCSRF(sa, { method: 'POST' }, sa.csrfToken()).ok).toBe(true);
    expect(sessions.verifyCSRF(sa, { method: 'POST' }, good).ok).toBe(true);
    expect(sessions.verifyCSRF(sa, { method: 'POST' }, undefined)).toEqual({
      ok: false,
      reason: 'missing_token',
    });
    const forged = [
      `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`,
      good.replace(/\.[^.]+\./, `.${'A'.repeat(22)}.`),
      `k2${good.slice(2)}`,
      'k1.x.y',
      `k1.${'A'.repeat(22)}.${'A'.repeat(43)}`,
      `${good}x`,
    ];
    for (const f of forged) {
      expect(sessions.verifyCSRF(sa, { method: 'POST' }, f)).toEqual({
        ok: false,
        reason: 'bad_token',
      });
    }
    expect(sessions.verifyCSRF(sb, { method: 'POST' }, good)).toEqual({
      ok: false,
      reason: 'bad_token',
    });
    expect(sessions.verifyCSRF(sa, { method: 'POST', secFetchSite: 'cross-site' }, good)).toEqual({
      ok: false,
      reason: 'cross_site',
    });
    expect(sessions.verifyCSRF(sa, { method: 'POST', origin: 'https://evil.test' }, good)).toEqual({
      ok: false,
      reason: 'origin_mismatch',
    });
    expect(sessions.verifyCSRF(sa, { method: 'POST', origin: 'https://app.test' }, good).ok).toBe(
      true,
    );
    expect(
      sessions.verifyCSRF(sa, { method: 'GET', secFetchSite: 'cross-site' }, undefined).ok,
    ).toBe(true);
    const anon = await sessions.load({ method: 'POST' });
    expect(sessions.verifyCSRF(anon, { method: 'POST' }, good)).toEqual({
      ok: false,
      reason: 'no_session',
    });
    const rejected = events.filter((e) => e.type === 'csrf_rejected');
    expect(rejected.length).toBeGreaterThan(8);
    expect(JSON.stringify(rejected)).not.toContain(good);
  });

  it('gives a visitor without a session a token bound to a new anonymous seal', async () => {
    const { sessions } = setup();
    let token = '';
    const form = await request(sessions, null, (s) => {
      token = s.csrfToken();
    });
    expect(form.value).toBeTruthy();
    const post = await sessions.load({ cookie: `${NAME}=${form.value}`, method: 'POST' });
    expect(sessions.verifyCSRF(post, { method: 'POST' }, token).ok).toBe(true);
    // Login rotates the binding: the pre-login token no longer verifies.
    await post.authenticate('alice');
    expect(sessions.verifyCSRF(post, { method: 'POST' }, token).ok).toBe(false);
  });

  it('reports but lets through in reportOnly mode, and skips when disabled', async () => {
    const { sessions, events } = setup({ csrf: { reportOnly: true } });
    const s = await sessions.load({ method: 'POST' });
    expect(sessions.verifyCSRF(s, { method: 'POST' }, undefined).ok).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'csrf_rejected', reason: 'missing_token' });
    const off = setup({ csrf: { enabled: false } }).sessions;
    expect(
      off.verifyCSRF(await off.load({ method: 'POST' }), { method: 'POST' }, undefined).ok,
    ).toBe(true);
  });
});

/** A revocation store that counts lookups and can be switched off. */
function counting(inner: RevocationStore) {
  const calls = { get: 0, set: 0 };
  let down = false;
  const store: RevocationStore = {
    async getWatermark(userId) {
      calls.get++;
      if (down) throw new Error('connection refused');
      return inner.getWatermark(userId);
    },
    async setWatermark(userId, at, expiresAt) {
      calls.set++;
      if (down) throw new Error('connection refused');
      return inner.setWatermark(userId, at, expiresAt);
    },
  };
  return { store, calls, fail: (v: boolean) => (down = v) };
}

describe('sealed revocation watermark', () => {
  it('signs a user out everywhere: every older seal, replayed or re-sealed, stops opening', async () => {
    const c = clock();
    const { sessions, events } = setup(
      { revocation: { store: memoryRevocationStore({ now: c.now }) } },
      c,
    );
    const laptop = await signedIn(sessions, 'alice');
    c.advance(1000);
    const phone = await signedIn(sessions, 'alice');
    const bob = await signedIn(sessions, 'bob');
    c.advance(1000);
    // The laptop keeps working and gets a re-sealed cookie; both versions are now "old".
    const laptop2 = (await request(sessions, laptop, (s) => s.set('count', 1))).value!;
    c.advance(1000);
    await sessions.revokeAll('alice');
    for (const v of [laptop, laptop2, phone]) {
      const r = await request(sessions, v);
      expect(r.s.state).toBe('anonymous');
      expect(r.setCookie).toMatch(/^__Host-tessera=; /);
    }
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'revoked', reason: 'watermark', userId: 'alice' }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'revoked', reason: 'all', userId: 'alice' }),
    );
    expect((await request(sessions, bob)).s.userId).toBe('bob');
    // Signing in again after revokeAll returned gives a live session (with a real clock
    // revokeAll returns once the clock has moved past the watermark; this one is frozen).
    c.advance(1);
    const fresh = await signedIn(sessions, 'alice');
    expect((await request(sessions, fresh)).s.userId).toBe('alice');
    c.advance(10_000);
    expect((await request(sessions, laptop2)).s.state).toBe('anonymous');
  });

  it('reaches other instances through a shared store within cacheMs, and at once with cacheMs 0', async () => {
    const c = clock();
    const kv = kvStore();
    const shared = () => revocationStoreFrom(kv, { now: c.now });
    const a = setup({ revocation: { store: shared(), cacheMs: 5000 } }, c).sessions;
    const b = setup({ revocation: { store: shared(), cacheMs: 5000 } }, c).sessions;
    const z = setup({ revocation: { store: shared(), cacheMs: 0 } }, c).sessions;
    const v = await signedIn(a, 'alice');
    c.advance(10);
    expect((await request(b, v)).s.userId).toBe('alice'); // b caches "no watermark"
    await a.revokeAll('alice');
    expect((await request(a, v)).s.state).toBe('anonymous');
    expect((await request(z, v)).s.state).toBe('anonymous');
    // Inside b's cache window the old seal still opens — that is the documented bound — and a
    // write re-seals it, but the re-sealed cookie keeps its old issuedAt:
    const resealed = await request(b, v, (s) => s.set('count', 2));
    expect(resealed.s.state).toBe('active');
    c.advance(5000);
    expect((await request(b, v)).s.state).toBe('anonymous');
    expect((await request(b, resealed.value)).s.state).toBe('anonymous');
  });

  it('looks a user up once per cacheMs, and never for anonymous sessions', async () => {
    const c = clock();
    const { store, calls } = counting(memoryRevocationStore({ now: c.now }));
    const { sessions } = setup({ revocation: { store, cacheMs: 5000 } }, c);
    const anon = (await request(sessions, null, (s) => s.set('count', 1))).value!;
    const v = await signedIn(sessions, 'alice');
    await Promise.all(
      Array.from({ length: 50 }, () => sessions.load({ cookie: `${NAME}=${v}`, method: 'GET' })),
    );
    for (let i = 0; i < 50; i++) await request(sessions, anon);
    expect(calls.get).toBe(1);
    c.advance(5001);
    await request(sessions, v);
    expect(calls.get).toBe(2);
  });

  it('fails closed with ERR_STORE_UNAVAILABLE when the revocation store is down', async () => {
    const c = clock();
    const { store, fail } = counting(memoryRevocationStore({ now: c.now }));
    const { sessions, events } = setup({ revocation: { store, cacheMs: 0 } }, c);
    const v = await signedIn(sessions, 'alice');
    const anon = (await request(sessions, null, (s) => s.set('count', 1))).value!;
    fail(true);
    await expect(sessions.load({ cookie: `${NAME}=${v}`, method: 'GET' })).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      status: 503,
    });
    await expect(sessions.revokeAll('alice')).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    expect(events.at(-1)).toMatchObject({ type: 'store_error' });
    expect((await request(sessions, anon)).s.get('count')).toBe(1);
    fail(false);
    expect((await request(sessions, v)).s.userId).toBe('alice');
    // With a cache, parallel loads share one failing lookup: every one fails closed, typed, and
    // the failure is not cached.
    const cached = setup({ revocation: { store, cacheMs: 5000 } }, c).sessions;
    fail(true);
    const all = await Promise.allSettled(
      [1, 2, 3].map(() => cached.load({ cookie: `${NAME}=${v}`, method: 'GET' })),
    );
    for (const r of all) {
      expect(r.status).toBe('rejected');
      expect(isTesseraError((r as PromiseRejectedResult).reason, 'ERR_STORE_UNAVAILABLE')).toBe(
        true,
      );
    }
    fail(false);
    expect((await request(cached, v)).s.userId).toBe('alice');
  });

  it('revokes the other sessions and keeps this one; a revoked session cannot use it to survive', async () => {
    const c = clock();
    const store = memoryRevocationStore({ now: c.now });
    const a = setup({ revocation: { store }, now: c.now }, c).sessions;
    const b = setup({ revocation: { store }, now: c.now }, c).sessions;
    const laptop = await signedIn(a, 'alice');
    const phone = await signedIn(a, 'alice');
    c.advance(1000);
    // b caches "no watermark" for alice, then a revokes everything.
    expect((await request(b, phone)).s.userId).toBe('alice');
    const keep = await request(
      a,
      laptop,
      async (s) => {
        expect(await a.revokeOthers(s)).toBe(true);
      },
      'POST',
    );
    expect((await request(a, keep.value)).s.userId).toBe('alice');
    expect((await request(a, phone)).s.state).toBe('anonymous');
    expect((await request(a, laptop)).s.state).toBe('anonymous');
    // The phone, inside b's cache window, tries to revoke the others in turn: it is itself revoked.
    const phoneTry = await request(
      b,
      phone,
      async (s) => {
        expect(await b.revokeOthers(s)).toBe(false);
        expect(s.state).toBe('destroyed');
      },
      'POST',
    );
    expect(phoneTry.setCookie).toMatch(/^__Host-tessera=; /);
    expect((await request(b, keep.value)).s.userId).toBe('alice');
  });

  it('needs a revocation store: revokeAll and revokeOthers throw ERR_UNSUPPORTED without one', async () => {
    const { sessions } = setup();
    await expect(sessions.revokeAll('alice')).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED',
      status: 501,
    });
    const s = await sessions.load({ method: 'GET' });
    await expect(sessions.revokeOthers(s)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
  });
});

describe('sealed revocation: one rule with the server-side epoch', () => {
  it('ends a cookie issued in the same millisecond as revokeAll', async () => {
    const c = clock();
    const { sessions } = setup({ revocation: { store: memoryRevocationStore({ now: c.now }) } }, c);
    const v = await signedIn(sessions, 'alice');
    await sessions.revokeAll('alice');
    expect((await request(sessions, v)).s.state).toBe('anonymous');
  });

  it('ends a sign-in whose request began before revokeAll, though it completes after', async () => {
    const c = clock();
    const { sessions } = setup({ revocation: { store: memoryRevocationStore({ now: c.now }) } }, c);
    const s = await sessions.load({ method: 'POST' });
    c.advance(10);
    await sessions.revokeAll('alice');
    c.advance(10); // the password check of the login ends after the revocation
    await s.authenticate('alice');
    expect(s.issuedAt).toBe(s.authenticatedAt);
    const v = cookieValue((await sessions.commit(s)).setCookie)!;
    c.advance(1);
    expect((await request(sessions, v)).s.state).toBe('anonymous');
    // One that begins after the revocation lives.
    const fresh = await signedIn(sessions, 'alice');
    expect((await request(sessions, fresh)).s.userId).toBe('alice');
  });

  it('never lets a sign-in begun before revokeAll outlive the watermark, however long its request took', async () => {
    const c = clock();
    const { sessions } = setup(
      {
        idleTimeout: 7200,
        absoluteTimeout: 7200,
        revocation: { store: memoryRevocationStore({ now: c.now }), cacheMs: 0 },
      },
      c,
    );
    const s = await sessions.load({ method: 'POST' });
    c.advance(10);
    await sessions.revokeAll('alice');
    c.advance(10 * 60_000); // a sign-in that takes ten minutes after the revocation
    await s.authenticate('alice');
    const v = cookieValue((await sessions.commit(s)).setCookie)!;
    // The watermark is kept for the absolute timeout plus its slack (5 minutes); the seal's
    // absolute deadline counts from its stamp, so it has ended before the watermark goes.
    c.advance(7200_000 - 10 * 60_000 + 7 * 60_000);
    expect((await request(sessions, v)).s.state).toBe('anonymous');
  });

  it('returns from revokeAll and revokeOthers once the clock has passed the watermark', async () => {
    const store = memoryRevocationStore();
    const { sessions } = setup({ revocation: { store, cacheMs: 0 }, now: Date.now }, clock());
    for (let i = 0; i < 10; i++) {
      await sessions.revokeAll('alice');
      expect(Date.now()).toBeGreaterThan((await store.getWatermark('alice'))!);
      // A sign-in right after it is never caught by it.
      const v = await signedIn(sessions, 'alice');
      const r = await request(sessions, v, async (s) => {
        expect(await sessions.revokeOthers(s)).toBe(true);
      });
      expect(r.s.issuedAt!).toBeGreaterThan((await store.getWatermark('alice'))!);
      expect((await request(sessions, r.value)).s.userId).toBe('alice');
    }
  });

  it('shares the per-user epoch of a session store with the server-side engine (storeRevocation)', async () => {
    const c = clock();
    const shared = memoryStore({ sweepIntervalMs: 0 });
    const server = createSessions({ store: shared, keys: [K1], now: c.now });
    const { sessions } = setup(
      { revocation: { store: storeRevocation(shared, { now: c.now }), cacheMs: 0 } },
      c,
    );
    const serverLogin = async () => {
      const s = await server.load({ method: 'POST' });
      await s.authenticate('alice');
      return (await server.commit(s)).setCookie!.split(';')[0]!;
    };
    const opens = async (cookie: string) =>
      (await server.load({ cookie, method: 'GET' })).state === 'active';
    // A sealed revokeAll ends the server-side sessions of the user too, and vice versa.
    const a = await serverLogin();
    const sealedA = await signedIn(sessions, 'alice');
    c.advance(1);
    await sessions.revokeAll('alice');
    expect(await opens(a)).toBe(false);
    expect((await request(sessions, sealedA)).s.state).toBe('anonymous');
    expect(await shared.getRevocationEpoch('alice', c.now())).toBe(c.now());
    c.advance(1);
    const sealedB = await signedIn(sessions, 'alice');
    const b = await serverLogin();
    c.advance(1);
    expect(await server.revokeAll('alice')).toBe(1);
    expect(await opens(b)).toBe(false);
    expect((await request(sessions, sealedB)).s.state).toBe('anonymous');
  });
});

describe('revocation stores', () => {
  for (const [name, make] of [
    ['memoryRevocationStore', (now: () => number) => memoryRevocationStore({ now })],
    ['revocationStoreFrom(store)', (now: () => number) => revocationStoreFrom(kvStore(), { now })],
  ] as const) {
    it(`${name} raises but never lowers a watermark, and forgets it after its expiry`, async () => {
      const now = () => 1_000_000;
      const store = make(now);
      expect(await store.getWatermark('u')).toBeNull();
      await store.setWatermark('u', 100, now() + 60_000);
      await store.setWatermark('u', 50, now() + 60_000);
      expect(await store.getWatermark('u')).toBe(100);
      await store.setWatermark('u', 200, now() - 1);
      expect(await store.getWatermark('u')).toBeNull();
      await store.setWatermark('u', 300);
      expect(await store.getWatermark('u')).toBe(300);
      expect(await store.getWatermark('v')).toBeNull();
    });
  }

  it('revocationStoreFrom refuses a corrupt watermark with ERR_STORE_CORRUPT', async () => {
    const kv = kvStore();
    await kv.kvSet('tessera:watermark:u', 'not-a-number', null);
    await expect(revocationStoreFrom(kv).getWatermark('u')).rejects.toMatchObject({
      code: 'ERR_STORE_CORRUPT',
    });
  });
});

describe('createSealedSessions configuration', () => {
  it('has no server-state operations in its type, and throws ERR_UNSUPPORTED if called anyway', async () => {
    const { sessions } = setup();
    expectTypeOf(sessions).not.toHaveProperty('list');
    expectTypeOf(sessions).not.toHaveProperty('revoke');
    expectTypeOf(sessions).not.toHaveProperty('sweep');
    expectTypeOf(sessions).not.toHaveProperty('store');
    const loose = sessions as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of ['list', 'revoke', 'sweep']) {
      await expect(loose[name]!('alice')).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
    }
  });

  it('refuses options that need server state with ERR_UNSUPPORTED', () => {
    for (const extra of [
      { store: kvStore() },
      { sessionLimit: { max: 3 } },
      { theftPolicy: 'revoke' },
      { guessLimiter: false },
    ]) {
      expect(() =>
        createSealedSessions({ keys: [K1], ...(extra as object) } as SealedSessionsOptions),
      ).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED' }));
    }
  });

  it('names the server-only option it refuses, and the nearest known name of an unknown one', () => {
    for (const name of ['store', 'rotationGrace', 'clockSkewMs', 'maxRetries']) {
      expect(() =>
        createSealedSessions({ keys: [K1], [name]: 1 } as unknown as SealedSessionsOptions),
      ).toThrow(new RegExp(`option "${name}" needs server-side session state`));
    }
    // Left undefined, a server-only name is no option at all.
    expect(() =>
      createSealedSessions({ keys: [K1], store: undefined } as unknown as SealedSessionsOptions),
    ).not.toThrow();
    expect(() =>
      createSealedSessions({ keys: [K1], idleTimout: 60 } as unknown as SealedSessionsOptions),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_CONFIG',
        message: expect.stringMatching(/idleTimout — did you mean idleTimeout\?/),
      }),
    );
  });

  it('refuses insecure or wrong settings as the server-side engine does', () => {
    const bad: [string, Partial<SealedSessionsOptions>][] = [
      ['no keys', { keys: [] }],
      ['a short key', { keys: [{ id: 'k', secret: 'c2hvcnQ=', createdAt: 0 }] }],
      ['idle > absolute', { idleTimeout: 10, absoluteTimeout: 5 }],
      ['a non-Secure cookie', { cookie: { secure: false, name: 'sid' } }],
      ['a bad revocation store', { revocation: { store: {} as RevocationStore } }],
      ['a negative cacheMs', { revocation: { store: memoryRevocationStore(), cacheMs: -1 } }],
    ];
    for (const [, o] of bad) {
      expect(() => createSealedSessions({ keys: [K1], ...o })).toThrow(TesseraError);
    }
  });
});
