import assert from 'node:assert/strict';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isTesseraError, TesseraError } from '../../src/core/errors.js';
import type { SessionRecord, SessionStore, SignInOptions } from '../../src/core/types.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import {
  conformanceCases,
  lastWriterWinsStore,
  makeRecord,
  makeTombstone,
  registerConformance,
} from '../../src/testing/index.js';

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
    if (o.policy === 'reject') throw new TesseraError('ERR_SESSION_LIMIT', 'limit');
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
    expect(await store.get(a!.id)).not.toBeNull();
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
    await store.create(makeRecord({ handle: a.handle }));
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

  it('bounds the key-value space by maxKeys', async () => {
    const store = memoryStore({ maxKeys: 2, sweepIntervalMs: 0 });
    await store.kvSet('a', '1', null);
    await store.increment('b', 0, 100);
    await store.listPush('c', 'x', 5, null);
    expect(await store.kvGet('a', 0)).toBeNull();
    expect((await store.increment('b', 1, 100)).count).toBe(2);
    expect(await store.listRange('c', 5, 0)).toEqual(['x']);
  });

  it('drops an expired record on get by its own clock', async () => {
    let clock = 1_000;
    const store = memoryStore({ sweepIntervalMs: 0, now: () => clock });
    const r = makeRecord({ createdAt: 1_000, idleExpiresAt: 2_000, absoluteExpiresAt: 9_000 });
    await store.create(r);
    expect(await store.get(r.id)).toBe(await store.get(r.id));
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
    for (const options of [{ maxSessions: 0 }, { maxKeys: 1.5 }, { sweepIntervalMs: -1 }]) {
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
