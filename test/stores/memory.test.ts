import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSessions } from '../../src/core/engine.js';
import { isTesseraError, TesseraError } from '../../src/core/errors.js';
import { revocationStoreFrom } from '../../src/core/sealed.js';
import type { SessionRecord, SessionStore, SignInOptions } from '../../src/core/types.js';
import { type MemoryStoreFullEvent, memoryStore } from '../../src/stores/memory/index.js';
import {
  conformanceCases,
  lastWriterWinsStore,
  makeRecord,
  makeTombstone,
  registerConformance,
} from '../../src/testing/index.js';
// The deprecated `err.status` asserted below reads the adapters' status table.
import '../../src/adapters/shared/status.js';

registerConformance(
  { name: 'memory', create: () => memoryStore({ sweepIntervalMs: 0 }) },
  { describe, it },
);

/**
 * A store whose sign-in reads the epoch and counts the user's sessions, lets other calls run,
 * then inserts: every check right, but not in one step with the write. It exists to prove that
 * the conformance suite catches that.
 */
function checkThenInsertStore(inner: SessionStore): SessionStore {
  const yieldOnce = () => new Promise<void>((resolve) => setImmediate(resolve));
  const signIn = async (record: SessionRecord, o: SignInOptions): Promise<string[]> => {
    const epoch = await inner.getRevocationEpoch(record.userId!, o.now);
    const live = (await inner.listByUser(record.userId!, o.now)).filter(
      (r) => r.handle !== record.handle,
    );
    await yieldOnce();
    if (epoch !== null && (record.authenticatedAt ?? 0) <= epoch)
      throw new TesseraError('ERR_SESSION_REVOKED', 'revoked');
    if (o.limit === 0 || live.length < o.limit) return [];
    if (o.policy === 'reject')
      throw new TesseraError('ERR_SESSION_LIMIT', 'limit', {
        details: { limit: o.limit, policy: 'reject' },
      });
    const victims = live.slice(0, live.length - o.limit + 1).map((r) => r.handle);
    for (const h of victims) await inner.deleteByHandle(h);
    return victims;
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'create') {
        return async (record: SessionRecord, o?: SignInOptions) => {
          if (o === undefined || record.userId === null) return target.create(record, o);
          const evicted = await signIn(record, o);
          await target.create(record);
          return { evicted };
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('memoryStore', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is marked in-process and named memory', () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    expect(store.inProcess).toBe(true);
    expect(store.name).toBe('memory');
  });

  it('evicts the session idle longest when full, and stays within the bound', async () => {
    const store = memoryStore({ maxSessions: 3, sweepIntervalMs: 0 });
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => makeRecord());
    await store.create(a!);
    await store.create(b!);
    await store.create(c!);
    // Touch a and update b: c is now the one idle longest, then a, then b.
    expect(await store.touch(a!.id, { lastSeenAt: 1, idleExpiresAt: a!.idleExpiresAt })).toBe(true);
    expect(await store.update(b!.id, 1, { data: '{"x":1}' })).toBe(true);
    await store.create(d!);
    expect(await store.get(c!.id)).toBeNull();
    expect(await store.getByHandle(c!.handle)).toBeNull();
    // getByHandle looks without using (a get would count as use and save a).
    expect(await store.getByHandle(a!.handle)).not.toBeNull();
    await store.create(e!);
    expect(await store.get(a!.id)).toBeNull();
    expect(await store.get(b!.id)).not.toBeNull();
    expect(await store.count(0)).toBe(3);
  });

  it('drops an evicted session from its user index', async () => {
    const store = memoryStore({ maxSessions: 1, sweepIntervalMs: 0 });
    const a = makeRecord({ userId: 'u1' });
    await store.create(a);
    await store.create(makeRecord({ userId: 'u2' }));
    expect(await store.listByUser('u1', 0)).toEqual([]);
    expect(await store.count(0, 'u1')).toBe(0);
    // The evicted handle is free again.
    await store.create(makeRecord({ handle: a.handle, userId: 'u3' }));
  });

  it('bounds tombstones separately, evicting the oldest', async () => {
    const store = memoryStore({ maxSessions: 2, sweepIntervalMs: 0 });
    const r = makeRecord();
    await store.create(r);
    let current = r;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const next = { ...current, id: makeRecord().id };
      expect(await store.rotate(current.id, 1, next, makeTombstone(current))).toEqual({
        evicted: [],
      });
      ids.push(current.id);
      current = next;
    }
    expect(await store.get(ids[0]!)).toBeNull();
    expect((await store.get(ids[1]!))?.kind).toBe('rotated');
    expect((await store.get(ids[2]!))?.kind).toBe('rotated');
    expect(await store.deleteByHandle(r.handle)).toBe(3);
  });

  it('bounds values by maxKeys and counters by maxCounters, apart, in one key space', async () => {
    const store = memoryStore({ maxKeys: 2, maxCounters: 1, sweepIntervalMs: 0 });
    await store.kvSet('a', '1', null);
    await store.increment('b', 0, 100);
    await store.kvSet('c', 'x', null);
    expect(await store.kvGet('a', 0)).toBe('1');
    expect((await store.increment('b', 1, 100)).count).toBe(2);
    expect(await store.kvGet('c', 0)).toBe('x');
    // A second counter takes the first one's place, and nothing else's.
    await store.increment('d', 1, 100);
    expect((await store.increment('b', 1, 100)).count).toBe(1);
    expect(await store.kvGet('a', 0)).toBe('1');
    await expect(store.kvSet('e', '1', null)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    // One key space: a value replaces the counter under its key, and a counter the value.
    expect(await store.kvDelete('a')).toBe(true);
    await store.kvSet('b', 'v', null);
    expect(await store.kvGet('b', 1)).toBe('v');
    expect((await store.increment('b', 1, 100)).count).toBe(1);
    expect(await store.kvGet('b', 1)).toBeNull();
    expect(await store.kvDelete('b')).toBe(true);
    expect(await store.kvDelete('b')).toBe(false);
  });

  it('drops an expired record on get by its own clock', async () => {
    let clock = 1_000;
    const store = memoryStore({ sweepIntervalMs: 0, now: () => clock });
    const r = makeRecord({ createdAt: 1_000, idleExpiresAt: 2_000, absoluteExpiresAt: 9_000 });
    await store.create(r);
    expect(await store.get(r.id)).toStrictEqual(await store.get(r.id));
    expect((await store.get(r.id))?.kind).toBe('live');
    clock = 2_000;
    expect(await store.get(r.id)).toBeNull();
    expect(await store.getByHandle(r.handle)).toBeNull();
  });

  it('sweeps expired entries on its interval and stops when closed', async () => {
    vi.useFakeTimers();
    let clock = 1_000;
    const store = memoryStore({ sweepIntervalMs: 1_000, now: () => clock });
    const short = makeRecord({ idleExpiresAt: 1_500, absoluteExpiresAt: 9_000 });
    const long = makeRecord({ idleExpiresAt: 8_000, absoluteExpiresAt: 9_000 });
    await store.create(short);
    await store.create(long);
    await store.kvSet('k', 'v', 1_500);
    clock = 2_000;
    vi.advanceTimersByTime(1_000);
    // `count` with an old `now` sees what is still stored, without expiring anything itself.
    expect(await store.count(0)).toBe(1);
    expect(await store.getByHandle(short.handle)).toBeNull();
    expect(await store.getByHandle(long.handle)).not.toBeNull();
    await store.close();
    clock = 10_000;
    vi.advanceTimersByTime(5_000);
    expect(await store.count(0)).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('starts no timer when sweepIntervalMs is 0', () => {
    vi.useFakeTimers();
    memoryStore({ sweepIntervalMs: 0 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects options out of range with ERR_CONFIG', () => {
    for (const options of [
      { maxSessions: 0 },
      { maxKeys: 1.5 },
      { maxCounters: 0 },
      { maxTombstonesPerUser: 0 },
      { sweepIntervalMs: -1 },
      { onFull: 'log' as never },
    ]) {
      let caught: unknown;
      try {
        memoryStore(options);
      } catch (e) {
        caught = e;
      }
      expect(isTesseraError(caught, 'ERR_CONFIG')).toBe(true);
    }
  });

  it('rejects a duplicate with ERR_CONFLICT', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const r = makeRecord();
    await store.create(r);
    await expect(store.create(r)).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
  });

  it('never mutates a record a caller holds, nor the one it was given', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const input = makeRecord({ data: '{"a":1}' });
    await store.create(input);
    input.data = 'changed by the caller';
    const held = await store.get(input.id);
    assert.ok(held !== null && held.kind === 'live');
    expect(held.data).toBe('{"a":1}');
    expect(await store.update(input.id, 1, { data: '{"a":2}' })).toBe(true);
    expect(await store.touch(input.id, { lastSeenAt: 5, idleExpiresAt: input.idleExpiresAt })).toBe(
      true,
    );
    expect(held.data).toBe('{"a":1}');
    expect(held.version).toBe(1);
    expect(held.lastSeenAt).toBe(input.lastSeenAt);
  });

  it('hands out copies: changing a returned record or tombstone changes nothing stored', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const r = makeRecord({ userId: 'u', data: '{"a":1}' });
    await store.create(r);
    const expected = { ...r };
    const reads = [
      await store.get(r.id),
      await store.getByHandle(r.handle),
      ...(await store.listByUser('u', 0)),
      ...(await store.list({ limit: 10, now: 0 })).records,
      store.getNow(r.id),
    ];
    for (const got of reads) {
      assert.ok(got !== null && got.kind === 'live');
      got.data = 'changed';
      got.userId = 'someone else';
      got.idleExpiresAt = 0;
      got.lastUserAgent = 'changed';
      got.version = 99;
    }
    expect(await store.get(r.id)).toStrictEqual(expected);
    expect(await store.count(0, 'u')).toBe(1);
    const next = { ...r, id: makeRecord().id };
    expect(await store.rotate(r.id, 1, next, makeTombstone(r))).toEqual({ evicted: [] });
    const t = await store.get(r.id);
    assert.ok(t !== null && t.kind === 'rotated');
    t.handle = 'changed';
    t.expiresAt = 0;
    expect((await store.get(r.id))?.kind).toBe('rotated');
    // The family is still found by its handle: the stored tombstone kept its own.
    expect(await store.deleteByHandle(r.handle)).toBe(2);
  });

  it('moves a hot session in the LRU order once, not on every read or touch', async () => {
    const store = memoryStore({ maxSessions: 100, sweepIntervalMs: 0 });
    const records = Array.from({ length: 100 }, () => makeRecord());
    for (const r of records) await store.create(r);
    const hot = records[0]!;
    const sets = vi.spyOn(Map.prototype, 'set');
    try {
      for (let i = 0; i < 500; i++) {
        expect(await store.get(hot.id)).not.toBeNull();
        expect(await store.touch(hot.id, { lastSeenAt: i, idleExpiresAt: hot.idleExpiresAt })).toBe(
          true,
        );
      }
      // The first read finds it the oldest and moves it (one Map set); it is young after that.
      expect(sets.mock.calls.filter(([key]) => key === hot.id)).toHaveLength(1);
    } finally {
      sets.mockRestore();
    }
  });

  it('evicts approximately least recently used: a read in the younger half keeps its place', async () => {
    const store = memoryStore({ maxSessions: 4, sweepIntervalMs: 0 });
    const [a, b, c, d, e, f] = Array.from({ length: 6 }, () => makeRecord());
    for (const r of [a!, b!, c!, d!]) await store.create(r);
    // c is in the younger half (only d is younger): the read leaves it in place. a is the
    // oldest: the read moves it to the young end.
    expect(await store.get(c!.id)).not.toBeNull();
    expect(await store.get(a!.id)).not.toBeNull();
    await store.create(e!);
    expect(await store.getByHandle(b!.handle)).toBeNull();
    await store.create(f!);
    // Exact LRU would have evicted d (c was read after d was created).
    expect(await store.getByHandle(c!.handle)).toBeNull();
    for (const r of [a!, d!, e!, f!]) expect(await store.getByHandle(r.handle)).not.toBeNull();
  });

  it('moves a session whose owner changes into the other class as its youngest', async () => {
    const store = memoryStore({ maxSessions: 3, sweepIntervalMs: 0 });
    const [a, b, c] = Array.from({ length: 3 }, () => makeRecord());
    for (const r of [a!, b!, c!]) await store.create(r);
    // Signing b in (an update of userId) takes it out of the anonymous eviction order.
    expect(await store.update(b!.id, 1, { userId: 'u' })).toBe(true);
    for (let i = 0; i < 3; i++) await store.create(makeRecord());
    expect((await store.get(b!.id))?.kind).toBe('live');
    expect(await store.count(0, 'u')).toBe(1);
    expect(await store.getByHandle(a!.handle)).toBeNull();
    expect(await store.getByHandle(c!.handle)).toBeNull();
    // And signing out puts it back among the anonymous ones, youngest.
    expect(await store.update(b!.id, 1, { userId: null })).toBe(true);
    expect(await store.count(0, 'u')).toBe(0);
    await store.create(makeRecord());
    expect((await store.get(b!.id))?.kind).toBe('live');
  });

  it('passes the concurrency case only because update is a compare-and-set', async () => {
    const broken = lastWriterWinsStore(memoryStore({ sweepIntervalMs: 0 }));
    const cases = conformanceCases({ name: 'last-writer-wins', create: () => broken });
    const cas = cases.find((c) => c.name.startsWith('concurrent compare-and-set'));
    assert.ok(cas !== undefined);
    await expect(cas.run()).rejects.toThrow(/lost updates/);
    // The same case passes against the real store.
    const good = conformanceCases({
      name: 'memory',
      create: () => memoryStore({ sweepIntervalMs: 0 }),
    });
    await good.find((c) => c.name === cas.name)!.run();
  });

  it('fails the atomic sign-in cases when the checks and the insert are separate steps', async () => {
    const racy = () => checkThenInsertStore(memoryStore({ sweepIntervalMs: 0 }));
    const cases = conformanceCases({ name: 'check-then-insert', create: racy });
    const good = conformanceCases({
      name: 'memory',
      create: () => memoryStore({ sweepIntervalMs: 0 }),
    });
    for (const name of [
      'the per-user limit holds under parallel sign-ins (reject)',
      'the per-user limit holds under parallel sign-ins (evict-oldest)',
      'parallel sign-ins racing deleteByUser with an epoch: none begun before it survives',
    ]) {
      const broken = cases.find((c) => c.name === name);
      assert.ok(broken !== undefined, name);
      await expect(broken.run(), name).rejects.toThrow(assert.AssertionError);
      await good.find((c) => c.name === name)!.run();
    }
  });

  it('has no cross-process cases without a worker', () => {
    const names = conformanceCases({ name: 'memory', create: () => memoryStore() }).map(
      (c) => c.name,
    );
    expect(names.some((n) => n.includes('two processes'))).toBe(false);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('memoryStore under a flood', () => {
  /** A store with a recorded `onFull` and its own clock. */
  function flooded(options: Parameters<typeof memoryStore>[0] = {}) {
    const events: MemoryStoreFullEvent[] = [];
    const clock = { t: Date.now() };
    const store = memoryStore({
      sweepIntervalMs: 0,
      now: () => clock.t,
      onFull: (e) => events.push(e),
      ...options,
    });
    return { store, events, clock };
  }
  const kinds = (events: MemoryStoreFullEvent[]) => {
    const n: Record<string, number> = {};
    for (const e of events) {
      const k = e.type === 'session_evicted' ? `${e.type}:${e.signedIn}` : e.type;
      n[k] = (n[k] ?? 0) + 1;
    }
    return n;
  };

  it('never evicts a signed-in session for an anonymous one: 2,000 anonymous creates, cap 1,000', async () => {
    const { store, events } = flooded({ maxSessions: 1_000 });
    const signedIn = Array.from({ length: 100 }, (_, i) => makeRecord({ userId: `u${i}` }));
    for (const r of signedIn) await store.create(r);
    for (let i = 0; i < 2_000; i++) await store.create(makeRecord());
    for (const r of signedIn) expect((await store.get(r.id))?.kind).toBe('live');
    expect(await store.count(0)).toBe(1_000);
    expect(await store.count(0, 'u0')).toBe(1);
    // 100 signed-in + 900 anonymous fit; the other 1,100 anonymous creates each evicted one.
    expect(kinds(events)).toEqual({ 'session_evicted:false': 1_100 });
  });

  it('keeps sessions that are read: 20 readers survive 2,000 anonymous creates, cap 1,000', async () => {
    const { store } = flooded({ maxSessions: 1_000 });
    // Anonymous readers, so that only recency (not the signed-in budget) can keep them.
    const readers = Array.from({ length: 20 }, () => makeRecord());
    for (const r of readers) await store.create(r);
    for (let i = 0; i < 2_000; i++) {
      await store.create(makeRecord());
      // "Every 20 ms" against a flood of 5,000 creates a second: a read per 100 creates.
      if (i % 100 === 99) for (const r of readers) expect(await store.get(r.id)).not.toBeNull();
    }
    for (const r of readers) expect((await store.get(r.id))?.kind).toBe('live');
    expect(await store.count(0)).toBe(1_000);
  });

  it('takes the least recently used anonymous slot for a signed-in session, then a signed-in one, reported', async () => {
    const { store, events } = flooded({ maxSessions: 3 });
    const anon = makeRecord();
    const a = makeRecord({ userId: 'a' });
    const b = makeRecord({ userId: 'b' });
    await store.create(a);
    await store.create(anon);
    await store.create(b);
    const c = makeRecord({ userId: 'c' });
    await store.create(c);
    expect(await store.get(anon.id)).toBeNull();
    expect(events).toEqual([
      { type: 'session_evicted', signedIn: false, handle: anon.handle, userId: null },
    ]);
    // Every slot is signed-in now: a read of a makes b the least recently used.
    expect(await store.get(a.id)).not.toBeNull();
    await store.create(makeRecord({ userId: 'd' }));
    expect(await store.getByHandle(b.handle)).toBeNull();
    expect(await store.getByHandle(a.handle)).not.toBeNull();
    expect(events[1]).toEqual({
      type: 'session_evicted',
      signedIn: true,
      handle: b.handle,
      userId: 'b',
    });
  });

  it('refuses a new anonymous session with ERR_STORE_UNAVAILABLE when every slot is signed-in, and reports it', async () => {
    const { store, events, clock } = flooded({ maxSessions: 2 });
    const t = clock.t;
    const short = makeRecord({ userId: 'a', idleExpiresAt: t + 1_000 });
    const long = makeRecord({ userId: 'b' });
    await store.create(short);
    await store.create(long);
    const anon = makeRecord();
    let caught: unknown;
    try {
      await store.create(anon);
    } catch (e) {
      caught = e;
    }
    expect(isTesseraError(caught, 'ERR_STORE_UNAVAILABLE')).toBe(true);
    expect(events).toEqual([{ type: 'session_refused' }]);
    expect(await store.getByHandle(anon.handle)).toBeNull();
    expect(await store.count(0)).toBe(2);
    // An expired signed-in session is no reason to refuse: its slot is reclaimed, silently, even
    // when it is not the least recently used one (a read of short made long the oldest).
    expect(await store.get(short.id)).not.toBeNull();
    clock.t = t + 5_000;
    await store.create(anon);
    expect((await store.get(anon.id))?.kind).toBe('live');
    expect(await store.getByHandle(short.handle)).toBeNull();
    expect(events).toHaveLength(1);
  });

  it('never lets a counter flood evict a watermark, an app table or an audit-trail entry', async () => {
    const { store, events, clock } = flooded({ maxKeys: 10, maxCounters: 100 });
    const t = clock.t;
    // The sealed mode's watermark carries an expiry (the absolute lifetime); the demo's password
    // hashes and audit trails carry none. A login-counter flood must push out none of them.
    const marks = revocationStoreFrom(store, { now: () => clock.t });
    await marks.setWatermark('victim', t, t + 12 * 3_600_000);
    await store.kvSet('demo:user:alice', '{"hash":"…"}', null);
    // The demo's trail is a ring of values (demo/ring.ts): its entries are values too.
    await store.kvSet('demo:events:alice:1', '[1,1,"{\\"event\\":\\"login\\"}"]', null);
    for (let i = 0; i < 10_000; i++)
      await store.increment(`login:10.0.${i >> 8}.${i & 255}`, t, t + 60_000);
    expect(await marks.getWatermark('victim')).toBe(t);
    expect(await store.kvGet('demo:user:alice', t)).toBe('{"hash":"…"}');
    expect(await store.kvGet('demo:events:alice:1', t)).toBe('[1,1,"{\\"event\\":\\"login\\"}"]');
    // Counters evict among themselves: the newest stays counted, the oldest started again.
    expect((await store.increment('login:10.0.39.15', t, t + 60_000)).count).toBe(2);
    expect((await store.increment('login:10.0.0.0', t, t + 60_000)).count).toBe(1);
    expect(kinds(events)).toEqual({ counter_evicted: 9_901 });
  });

  it('drops expired revocation epochs before an unexpired one when maxKeys epochs are kept', async () => {
    const { store, clock } = flooded({ maxKeys: 2 });
    const t = clock.t;
    // The victim's epoch (a password change) is set first and kept for a day; a short one after it.
    await store.deleteByUser('victim', { epoch: { at: t, expiresAt: t + 86_400_000 } });
    await store.deleteByUser('short', { epoch: { at: t, expiresAt: t + 1_000 } });
    clock.t = t + 2_000;
    await store.deleteByUser('next', { epoch: { at: clock.t, expiresAt: clock.t + 86_400_000 } });
    // The expired epoch made the room: the victim's still refuses a sign-in begun before it.
    expect(await store.getRevocationEpoch('victim', clock.t)).toBe(t);
    expect(await store.getRevocationEpoch('next', clock.t)).toBe(clock.t);
    const login = makeRecord({ userId: 'victim', authenticatedAt: t - 1 });
    await expect(
      store.create(login, { now: clock.t, limit: 0, policy: 'reject' }),
    ).rejects.toMatchObject({ code: 'ERR_SESSION_REVOKED' });
  });

  it('refuses a new key with ERR_STORE_UNAVAILABLE when maxKeys is reached, reclaiming expired keys first', async () => {
    const { store, events, clock } = flooded({ maxKeys: 2 });
    const t = clock.t;
    await store.kvSet('lock', '1', t + 1_000);
    await store.kvSet('table', 'row', null);
    await expect(store.kvSet('mark', String(t), null)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    await expect(store.kvSet('trail', 'x', null)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    expect(events).toEqual([
      { type: 'key_refused', key: 'mark' },
      { type: 'key_refused', key: 'trail' },
    ]);
    // Replacing a key never needs room, and counters have their own budget.
    await store.kvSet('table', 'row 2', null);
    expect((await store.increment('counter', t, t + 1_000)).count).toBe(1);
    expect(await store.kvGet('table', t)).toBe('row 2');
    // Once the lock has expired its slot is taken back, without an event.
    clock.t = t + 2_000;
    await store.kvSet('mark', String(t), null);
    expect(await store.kvGet('mark', clock.t)).toBe(String(t));
    expect(events).toHaveLength(2);
  });

  it("never lets one user's rotations push out another user's tombstones", async () => {
    const { store, events } = flooded({ maxSessions: 100, maxTombstonesPerUser: 8 });
    const rotateOnce = async (r: SessionRecord) => {
      const next = { ...r, id: makeRecord().id, version: r.version + 1 };
      expect(await store.rotate(r.id, r.version, next, makeTombstone(r))).toEqual({ evicted: [] });
      return next;
    };
    const victim = makeRecord({ userId: 'victim' });
    await store.create(victim);
    await rotateOnce(victim);
    let flooder = makeRecord({ userId: 'flooder' });
    await store.create(flooder);
    const flooderIds: string[] = [];
    for (let i = 0; i < 1_000; i++) {
      flooderIds.push(flooder.id);
      flooder = await rotateOnce(flooder);
    }
    expect((await store.get(victim.id))?.kind).toBe('rotated');
    // The flooder keeps only its own newest 8.
    for (const id of flooderIds.slice(-8)) expect((await store.get(id))?.kind).toBe('rotated');
    expect(await store.get(flooderIds[flooderIds.length - 9]!)).toBeNull();
    expect(kinds(events)).toEqual({ tombstone_evicted: 992 });
    expect(events[0]).toMatchObject({ userId: 'flooder' });
  });

  it('never lets anonymous tombstones push out signed-in ones', async () => {
    const { store, events } = flooded({ maxSessions: 4 });
    const signed = makeRecord({ userId: 'u' });
    await store.create(signed);
    const next = { ...signed, id: makeRecord().id, version: 2 };
    expect(await store.rotate(signed.id, 1, next, makeTombstone(signed))).toEqual({ evicted: [] });
    let anon = makeRecord();
    await store.create(anon);
    for (let i = 0; i < 50; i++) {
      const n = { ...anon, id: makeRecord().id, version: anon.version + 1 };
      expect(await store.rotate(anon.id, anon.version, n, makeTombstone(anon))).toEqual({
        evicted: [],
      });
      anon = n;
    }
    expect((await store.get(signed.id))?.kind).toBe('rotated');
    expect(events.every((e) => e.type === 'tombstone_evicted' && e.userId === null)).toBe(true);
    expect(events).toHaveLength(47);
  });

  it('keeps one tombstone per user with maxTombstonesPerUser 1', async () => {
    const { store } = flooded({ maxTombstonesPerUser: 1 });
    const r = makeRecord({ userId: 'u' });
    await store.create(r);
    const next = { ...r, id: makeRecord().id, version: 2 };
    expect(await store.rotate(r.id, 1, next, makeTombstone(r))).toEqual({ evicted: [] });
    const last = { ...next, id: makeRecord().id, version: 3 };
    expect(await store.rotate(next.id, 2, last, makeTombstone(next))).toEqual({ evicted: [] });
    expect(await store.get(r.id)).toBeNull();
    expect((await store.get(next.id))?.kind).toBe('rotated');
  });

  it('keeps visitors who keep reading through the engine: 2,000 cookieless writes, cap 1,000', async () => {
    const events: MemoryStoreFullEvent[] = [];
    const store = memoryStore({
      maxSessions: 1_000,
      sweepIntervalMs: 0,
      onFull: (e) => events.push(e),
    });
    const sessions = createSessions<{ n?: number }>({
      store,
      keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
    });
    const visit = async (cookie: string | undefined, write: boolean) => {
      const s = await sessions.load({ cookie, method: 'GET', ip: '127.0.0.1', userAgent: 't' });
      if (write) s.set('n', 1);
      const read = s.get('n');
      const { setCookie } = await sessions.commit(s);
      return { read, cookie: setCookie?.split(';')[0] };
    };
    const readers: string[] = [];
    for (let i = 0; i < 20; i++) readers.push((await visit(undefined, true)).cookie!);
    for (let i = 0; i < 2_000; i++) {
      await visit(undefined, true);
      if (i % 100 === 99) for (const c of readers) expect((await visit(c, false)).read).toBe(1);
    }
    for (const c of readers) expect((await visit(c, false)).read).toBe(1);
    expect(await store.count(0)).toBe(1_000);
    expect(events).toHaveLength(1_020);
  });

  it('answers a refused anonymous session through the engine with ERR_STORE_UNAVAILABLE and a store_error event', async () => {
    const full: MemoryStoreFullEvent[] = [];
    const store = memoryStore({ maxSessions: 2, sweepIntervalMs: 0, onFull: (e) => full.push(e) });
    const sessions = createSessions<{ n?: number }>({
      store,
      keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
    });
    const reasons: (string | undefined)[] = [];
    sessions.on('store_error', (e) => reasons.push(e.reason));
    const req = { method: 'POST', ip: '127.0.0.1', userAgent: 't' };
    for (const user of ['alice', 'bob']) {
      const s = await sessions.load(req);
      await s.authenticate(user);
      await sessions.commit(s);
    }
    const s = await sessions.load(req);
    s.set('n', 1);
    await expect(sessions.commit(s)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      status: 503,
    });
    expect(reasons).toEqual(['ERR_STORE_UNAVAILABLE']);
    expect(full).toEqual([{ type: 'session_refused' }]);
    expect(await store.count(0, 'alice')).toBe(1);
    expect(await store.count(0, 'bob')).toBe(1);
  });

  it('ignores a throwing onFull: the store stays consistent', async () => {
    let calls = 0;
    const store = memoryStore({
      maxSessions: 1,
      sweepIntervalMs: 0,
      onFull: () => {
        calls++;
        throw new Error('metrics down');
      },
    });
    const a = makeRecord();
    const b = makeRecord();
    await store.create(a);
    await store.create(b);
    expect(calls).toBe(1);
    expect(await store.get(a.id)).toBeNull();
    expect((await store.get(b.id))?.kind).toBe('live');
  });
});

describe('memoryStore getNow / touchNow / updateNow (synchronous twins of get, touch and update)', () => {
  it('getNow answers what get answers, synchronously, dropping an expired record', async () => {
    let clock = 1_000;
    const store = memoryStore({ sweepIntervalMs: 0, now: () => clock });
    const r = makeRecord({ createdAt: 1_000, idleExpiresAt: 2_000, absoluteExpiresAt: 9_000 });
    await store.create(r);
    const got = store.getNow(r.id);
    expect(got).toStrictEqual(r);
    expect(got).toStrictEqual(await store.get(r.id));
    expect(store.getNow(makeRecord().id)).toBeNull();
    const next = { ...r, id: makeRecord().id };
    expect(await store.rotate(r.id, 1, next, makeTombstone(r, { expiresAt: 1_500 }))).toEqual({
      evicted: [],
    });
    expect(store.getNow(r.id)).toStrictEqual(await store.get(r.id));
    expect(store.getNow(r.id)?.kind).toBe('rotated');
    clock = 2_000;
    expect(store.getNow(next.id)).toBeNull();
    expect(store.getNow(r.id)).toBeNull();
    expect(await store.getByHandle(r.handle)).toBeNull();
  });

  it('touchNow applies a touch synchronously and answers false for a missing id or a tombstone', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const r = makeRecord();
    await store.create(r);
    const changes = {
      lastSeenAt: r.lastSeenAt + 5,
      idleExpiresAt: r.idleExpiresAt + 5,
      lastIp: '198.51.100.1',
      lastUserAgent: null,
    };
    expect(store.touchNow(r.id, changes)).toBe(true);
    expect(await store.get(r.id)).toStrictEqual({ ...r, ...changes });
    expect(store.touchNow(makeRecord().id, changes)).toBe(false);
    const next = { ...r, id: makeRecord().id };
    expect(await store.rotate(r.id, 1, next, makeTombstone(r))).toEqual({ evicted: [] });
    expect(store.touchNow(r.id, changes)).toBe(false);
    expect((await store.get(r.id))?.kind).toBe('rotated');
  });

  it('updateNow is a synchronous compare-and-set', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const r = makeRecord({ data: '{"n":1}' });
    await store.create(r);
    expect(store.updateNow(r.id, 1, { data: '{"n":2}', lastSeenAt: r.lastSeenAt + 1 })).toBe(true);
    expect(store.updateNow(r.id, 1, { data: '{"n":3}' })).toBe(false);
    expect(await store.get(r.id)).toStrictEqual({
      ...r,
      data: '{"n":2}',
      version: 2,
      lastSeenAt: r.lastSeenAt + 1,
    });
    expect(store.updateNow(makeRecord().id, 1, { data: '{}' })).toBe(false);
  });
});
