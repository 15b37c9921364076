import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { DRIFT_MS, EngineClock, MAX_OFFSET_MS } from './clock.js';
import { createSessions } from './engine.js';
import { isTesseraError } from './errors.js';
import { resolveOptions } from './options.js';
import { createSealedSessions, memoryRevocationStore, revocationStoreFrom } from './sealed.js';
import type { KeyValueStore, SessionStore } from './types.js';

const KEY = { id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 };

/** A store clock the test answers by hand, counting how often it is asked. */
function manualSource() {
  const pending: { resolve: (t: number) => void; reject: (e: Error) => void }[] = [];
  const source = () =>
    new Promise<number>((resolve, reject) => {
      pending.push({ resolve, reject });
    });
  return {
    source,
    get asked() {
      return pending.length;
    },
    answer(t: number) {
      pending[pending.length - 1]!.resolve(t);
    },
    fail() {
      pending[pending.length - 1]!.reject(new Error('store down'));
    },
  };
}

/** A settable clock. */
function settable(t: number) {
  const c = { t, now: () => c.t };
  return c;
}

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isTesseraError(e) ? e.code : e;
  }
}

describe('EngineClock', () => {
  it('reads the local clock alone without a store clock', () => {
    const local = settable(1_000);
    const clock = new EngineClock({ local: local.now });
    expect(clock.now).toBe(local.now);
    expect(clock.synced).toBe(false);
  });

  it('uses the local clock until the first sample, then the midpoint estimate of the offset', async () => {
    const local = settable(10_000);
    const src = manualSource();
    const clock = new EngineClock({ local: local.now, source: src.source });
    expect(src.asked).toBe(1);
    expect(clock.now()).toBe(10_000);
    // The round trip takes 20 ms of the local clock; the store read 60_010 in the middle of it.
    local.t = 10_020;
    src.answer(60_010);
    await clock.sync();
    expect(clock.offset).toBe(50_000);
    expect(clock.synced).toBe(true);
    expect(clock.now()).toBe(60_020);
    // Afterwards the engine's clock moves with the local clock.
    local.t = 11_000;
    expect(clock.now()).toBe(61_000);
  });

  it('takes no offset from a reading inside the round trip (the same clock)', async () => {
    let t = 5_000;
    const clock = new EngineClock({ local: () => t++, source: async () => 5_000.5 });
    await clock.sync();
    expect(clock.offset).toBe(0);
    expect(clock.synced).toBe(true);
  });

  it('resamples after 30 s of real time, triggered by a request, never by the injected clock', async () => {
    const local = settable(0);
    const real = settable(0);
    let store = 1_000;
    let asked = 0;
    const clock = new EngineClock({
      local: local.now,
      real: real.now,
      source: async () => {
        asked++;
        return store;
      },
    });
    await clock.sync();
    expect(asked).toBe(1);
    expect(clock.offset).toBe(1_000);
    // An hour of the injected clock is no reason to resample.
    local.t += 3_600_000;
    clock.tick();
    real.t = 29_999;
    clock.tick();
    expect(asked).toBe(1);
    real.t = 30_000;
    store = local.t + 2_500;
    clock.tick();
    clock.tick(); // one sample in flight at a time
    expect(asked).toBe(2);
    await clock.sync();
    expect(clock.offset).toBe(2_500);
    expect(asked).toBe(2);
  });

  it('keeps the last offset when a sample fails, and retries after a second of real time', async () => {
    const local = settable(0);
    const real = settable(0);
    const src = manualSource();
    const clock = new EngineClock({ local: local.now, real: real.now, source: src.source });
    src.answer(700);
    await clock.sync();
    expect(clock.offset).toBe(700);
    real.t = 30_000;
    clock.tick();
    expect(src.asked).toBe(2);
    src.fail();
    await clock.sync();
    expect(clock.offset).toBe(700);
    expect(clock.now()).toBe(700);
    real.t = 30_999;
    clock.tick();
    expect(src.asked).toBe(2);
    real.t = 31_000;
    clock.tick();
    expect(src.asked).toBe(3);
  });

  it('ignores a sample whose round trip took too long, and one that is not a number', async () => {
    const local = settable(0);
    const real = settable(0);
    let answer: unknown = 9_000;
    let roundTrip = 1_001;
    const clock = new EngineClock({
      local: local.now,
      real: real.now,
      source: async () => {
        real.t += roundTrip;
        return answer as number;
      },
    });
    await clock.sync();
    expect(clock.synced).toBe(false);
    expect(clock.offset).toBe(0);
    roundTrip = 0;
    answer = 'soon';
    await clock.sync();
    expect(clock.synced).toBe(false);
    answer = 9_000;
    await clock.sync();
    expect(clock.offset).toBe(9_000);
  });
  it('ignores a reading more than a year off: a time() in seconds, microseconds or 0', async () => {
    const now = 1_800_000_000_000;
    for (const answer of [now / 1000, now * 1000, 0, -now, now + MAX_OFFSET_MS + 1]) {
      const clock = new EngineClock({ local: () => now, source: async () => answer });
      await clock.sync();
      expect(clock.synced).toBe(false);
      expect(clock.now()).toBe(now);
    }
    // A store clock an hour (or a month) off is still followed: its TTLs run on it.
    for (const off of [3_600_000, -30 * 86_400_000, MAX_OFFSET_MS]) {
      const clock = new EngineClock({ local: () => now, source: async () => now + off });
      await clock.sync();
      expect(clock.offset).toBe(off);
    }
  });
});

describe('EngineClock allowance', () => {
  it('is skewMs on the local clock, and the estimate error on the store clock, capped by skewMs', async () => {
    const real = settable(0);
    expect(new EngineClock({ local: () => 0, skewMs: 2_000 }).allowance).toBe(2_000);
    let roundTrip = 4.2;
    const clock = new EngineClock({
      local: () => 0,
      real: real.now,
      skewMs: 2_000,
      source: async () => {
        real.t += roundTrip;
        return 123_456;
      },
    });
    // Before the first sample the engine runs on its local clock: the full allowance.
    expect(clock.allowance).toBe(2_000);
    await clock.sync();
    expect(clock.allowance).toBe(5 + DRIFT_MS);
    roundTrip = 900;
    real.t += 30_000;
    await clock.sync();
    expect(clock.allowance).toBe(900 + DRIFT_MS);
    const capped = new EngineClock({
      local: () => 0,
      real: real.now,
      skewMs: 10,
      source: async () => 1,
    });
    await capped.sync();
    expect(capped.allowance).toBe(10);
  });
});

describe('clock options', () => {
  it("defaults to the store's clock, and to the local one when `now` is injected", async () => {
    const base = { store: memoryStore(), keys: [KEY] };
    expect(resolveOptions(base)).toMatchObject({ clock: 'store', clockSkewMs: 2000 });
    const now = () => 1;
    expect(resolveOptions({ ...base, now })).toMatchObject({ clock: 'local', clockSkewMs: 0 });
    expect(resolveOptions({ ...base, now, clock: 'store' })).toMatchObject({
      clock: 'store',
      clockSkewMs: 2000,
    });
    expect(resolveOptions({ ...base, clockSkewMs: 0 })).toMatchObject({ clockSkewMs: 0 });
  });

  it('never asks the store for the time when `now` is injected: the injected clock decides', async () => {
    let asked = 0;
    const store: SessionStore = Object.assign(memoryStore(), {
      time: async () => {
        asked++;
        return 42;
      },
    });
    const engine = createSessions({ store, keys: [KEY], now: () => 1_800_000_000_000 });
    await engine.syncClock();
    expect(asked).toBe(0);
    expect(engine.now()).toBe(1_800_000_000_000);
  });

  it("runs on the store's clock by default", async () => {
    const t = Date.now() + 3_600_000;
    const store: SessionStore = Object.assign(memoryStore(), { time: async () => t });
    const engine = createSessions({ store, keys: [KEY] });
    await engine.syncClock();
    expect(Math.abs(engine.now() - t)).toBeLessThan(1_000);
  });

  it("refuses clock: 'store' over a store without time(), and a bad clock or clockSkewMs", () => {
    const store = memoryStore() as SessionStore;
    const bare = new Proxy(store, {
      get: (target, prop) => (prop === 'time' ? undefined : Reflect.get(target, prop)),
    });
    expect(codeOf(() => createSessions({ store: bare, keys: [KEY], clock: 'store' }))).toBe(
      'ERR_CONFIG',
    );
    expect(codeOf(() => createSessions({ store: bare, keys: [KEY] }))).toBe('ok');
    for (const clockSkewMs of [-1, Number.NaN, 60_001]) {
      expect(codeOf(() => createSessions({ store, keys: [KEY], clockSkewMs }))).toBe('ERR_CONFIG');
    }
    expect(
      codeOf(() => createSessions({ store, keys: [KEY], clock: 'server' as unknown as 'store' })),
    ).toBe('ERR_CONFIG');
  });

  it('keeps sign-ins working over a store whose time() answers seconds', async () => {
    const store: SessionStore = Object.assign(memoryStore(), {
      time: async () => Date.now() / 1000,
    });
    const engine = createSessions({ store, keys: [KEY] });
    await engine.syncClock();
    expect(Math.abs(engine.now() - Date.now())).toBeLessThan(1_000);
    const s = await engine.load({ method: 'POST', ip: '127.0.0.1', userAgent: 'ua' });
    s.set('n', 1);
    await s.authenticate('u1');
    const token = /^[^=]+=([^;]*)/.exec((await engine.commit(s)).setCookie!)![1]!;
    const again = await engine.load({
      method: 'GET',
      cookie: `${engine.cookieName}=${token}`,
      ip: '127.0.0.1',
      userAgent: 'ua',
    });
    expect(again.state).toBe('active');
    expect(again.get('n')).toBe(1);
  });

  it("runs sealed mode on its revocation store's clock", async () => {
    const t = Date.now() - 3_600_000;
    const kv: SessionStore & KeyValueStore = Object.assign(memoryStore(), { time: async () => t });
    const sealed = createSealedSessions({
      keys: [KEY],
      revocation: { store: revocationStoreFrom(kv) },
    });
    await sealed.syncClock();
    expect(Math.abs(sealed.now() - t)).toBeLessThan(1_000);
    // A revocation store without a clock leaves it local; asking for the store's then fails.
    const local = createSealedSessions({
      keys: [KEY],
      revocation: { store: memoryRevocationStore() },
    });
    await local.syncClock();
    expect(Math.abs(local.now() - Date.now())).toBeLessThan(1_000);
    expect(
      codeOf(() =>
        createSealedSessions({
          keys: [KEY],
          clock: 'store',
          revocation: { store: memoryRevocationStore() },
        }),
      ),
    ).toBe('ERR_CONFIG');
    expect(codeOf(() => createSealedSessions({ keys: [KEY], clockSkewMs: 5 } as never))).toBe(
      'ERR_UNSUPPORTED',
    );
  });
});

describe('a step of the store clock that this instance has not sampled yet', () => {
  const C = '__Host-tessera';
  const req = (token: string | null, method = 'GET') => ({
    method,
    cookie: token ? `${C}=${token}` : undefined,
    ip: '1.2.3.4',
    userAgent: 'ua',
  });
  const tokenOf = (setCookie: string | null) => /=([^;]*)/.exec(setCookie!)![1]!;

  // Real time (performance.now) is faked: a sample is taken again before a theft or a deletion
  // only when the last one is more than a second of real time old.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Two instances over one memory store whose clock the test steps; one local clock. */
  async function twoInstances(extra: Record<string, unknown> = {}) {
    const local = settable(1_800_000_000_000);
    const store = { step: 0 };
    const shared = memoryStore({ now: () => local.t + store.step });
    const opts = { keys: [KEY], now: local.now, clock: 'store' as const, ...extra };
    const a = createSessions({ ...opts, store: shared });
    const b = createSessions({ ...opts, store: shared });
    await Promise.all([a.syncClock(), b.syncClock()]);
    const events: string[] = [];
    b.on('*', (e) => events.push(`${e.type}:${e.reason ?? ''}`));
    return { a, b, local, store, events };
  }

  it('raises no theft on an instance that samples again before calling it one', async () => {
    const { a, b, store, events } = await twoInstances({ rotationGrace: 2 });
    const s = await b.load(req(null, 'POST'));
    await s.authenticate('u1');
    const t1 = tokenOf((await b.commit(s)).setCookie);
    store.step = -5_000; // the store host's clock is stepped back 5 s (an NTP step)
    vi.advanceTimersByTime(2_000); // two seconds of real time after both samples
    await a.syncClock(); // A's background sample lands first; B's is up to 30 s away
    const s2 = await a.load(req(t1, 'POST'));
    await s2.regenerate();
    const t2 = tokenOf((await a.commit(s2)).setCookie);
    // The page's parallel request with the old cookie reaches B at once: inside the grace.
    const late = await b.load(req(t1));
    expect(late.state).toBe('grace');
    expect(
      events.filter((e) => e.startsWith('theft_suspected') || e.startsWith('revoked')),
    ).toEqual([]);
    expect((await b.load(req(t2))).state).toBe('active');
  });

  it('deletes no session that is live on the stepped store clock', async () => {
    const { a, b, local, store, events } = await twoInstances({ idleTimeout: 20 });
    store.step = -5_000; // stepped back 5 s: A samples it and stamps deadlines on it
    await a.syncClock();
    const s = await a.load(req(null, 'POST'));
    await s.authenticate('u1');
    const t1 = tokenOf((await a.commit(s)).setCookie);
    local.t += 17_000; // idle 17 s on the store's clock, 22 s on B's stale one
    vi.advanceTimersByTime(17_000);
    const onB = await b.load(req(t1));
    expect(onB.state).toBe('active');
    expect(events.filter((e) => e.startsWith('expired'))).toEqual([]);
    expect((await a.load(req(t1))).state).toBe('active');
  });
});
