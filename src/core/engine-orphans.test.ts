/**
 * The engine's follow-ups after a write answered 503 whose record nobody holds a token for.
 * The store here applies the write and then reports it unavailable: the worst case of a hung
 * server that resumes (see test/faults/not-done.test.ts for real paused servers).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions } from './engine.js';
import { TesseraError } from './errors.js';
import type { SessionEvent } from './events.js';
import type { SessionStore } from './types.js';

const keys = [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }];

/** A store whose next `method` call is applied, then answered ERR_STORE_UNAVAILABLE. */
function lateWrites(inner: SessionStore) {
  const failNext = new Set<string>();
  const calls: string[] = [];
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return async (...args: unknown[]) => {
        calls.push(prop);
        const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (failNext.delete(prop)) {
          throw new TesseraError('ERR_STORE_UNAVAILABLE', 'redis call timed out after 2000 ms');
        }
        return r;
      };
    },
  });
  return { store, failNext, calls };
}

describe('engine follow-ups after a write answered 503', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('deletes the session a sign-in answered 503 may have made, so it neither lists nor counts', async () => {
    const inner = memoryStore();
    const { store, failNext } = lateWrites(inner);
    const sessions = createSessions({ store, keys, sessionLimit: { max: 1, policy: 'reject' } });
    const s = await sessions.load({ method: 'POST' });
    failNext.add('create');
    await expect(s.authenticate('alice')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(await sessions.list('alice')).toHaveLength(1); // landed, and nobody has its token
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await sessions.list('alice')).toEqual([]);
    expect(await inner.count(Date.now(), 'alice')).toBe(0);
    // The limit of one is free again.
    const again = await sessions.load({ method: 'POST' });
    await again.authenticate('alice');
    expect(await sessions.list('alice')).toHaveLength(1);
  });

  it("deletes the rotated record of a sign-in over a visitor's session answered 503, and nothing else", async () => {
    const inner = memoryStore();
    const { store, failNext } = lateWrites(inner);
    const sessions = createSessions({ store, keys });
    const v = await sessions.load({ method: 'POST' });
    v.set('cart', ['book']);
    const cookie = (await sessions.commit(v)).setCookie!.split(';')[0]!;
    const visitor = await sessions.load({ method: 'POST', cookie });
    failNext.add('rotate');
    await expect(visitor.authenticate('bob')).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    expect(await sessions.list('bob')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await sessions.list('bob')).toEqual([]);
  });

  it("leaves the visitor's session alone when the sign-in's rotation never landed", async () => {
    const inner = memoryStore();
    const sessions = createSessions({
      store: new Proxy(inner, {
        get(target, prop, receiver) {
          if (prop === 'rotate') {
            return async () => {
              throw new TesseraError('ERR_STORE_UNAVAILABLE', 'timed out');
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
      keys,
    });
    const v = await sessions.load({ method: 'POST' });
    v.set('cart', ['book']);
    const cookie = (await sessions.commit(v)).setCookie!.split(';')[0]!;
    const visitor = await sessions.load({ method: 'POST', cookie });
    await expect(visitor.authenticate('carol')).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    await vi.advanceTimersByTimeAsync(10_000);
    const back = await sessions.load({ method: 'GET', cookie });
    expect(back.state).toBe('active');
    expect(back.get('cart')).toEqual(['book']);
  });

  it('queues nothing for a create the store refused, or whose token the client already has', async () => {
    const inner = memoryStore();
    const { store, failNext, calls } = lateWrites(inner);
    // A refused create (the id exists) is a definite answer: nothing to clean up.
    const refusing = createSessions({
      store: new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'create') {
            return async () => {
              throw new TesseraError('ERR_CONFLICT', 'exists');
            };
          }
          return Reflect.get(target, prop, receiver);
        },
      }),
      keys,
    });
    const s = await refusing.load({ method: 'POST' });
    await expect(s.authenticate('dan')).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    // A streamed response sent its cookie before the create: the record is the client's.
    const sessions = createSessions({ store, keys });
    const streamed = await sessions.load({ method: 'POST' });
    streamed.set('n', 1);
    const cookie = sessions.commitCookieNow(streamed)!.split(';')[0]!;
    failNext.add('create');
    await expect(sessions.commit(streamed)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect((await sessions.load({ method: 'GET', cookie })).get('n')).toBe(1);
  });

  it('reports a follow-up it cannot queue as a store_error event, never growing', async () => {
    const inner = memoryStore();
    const { store, failNext } = lateWrites(inner);
    const sessions = createSessions({ store, keys });
    const events: SessionEvent[] = [];
    sessions.on('store_error', (e) => events.push(e));
    await sessions.close();
    const s = await sessions.load({ method: 'POST' });
    failNext.add('create');
    await expect(s.authenticate('erin')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(events.find((e) => e.reason === 'follow_up_dropped')).toMatchObject({
      type: 'store_error',
      userId: 'erin',
    });
    expect(events.some((e) => e.reason === 'ERR_STORE_UNAVAILABLE')).toBe(true);
  });

  it("never deletes a visitor's session whose cookie a retried first write handed out", async () => {
    // The first write reuses the pre-session cookie's secret, so its store key is the same on a
    // retry: the retry joins the record the 503'd write left, and the client holds its cookie.
    const inner = memoryStore();
    const { store, failNext } = lateWrites(inner);
    const sessions = createSessions({ store, keys });
    const page = await sessions.load({ method: 'GET' });
    page.csrfToken();
    const pre = (await sessions.commit(page)).setCookie!.split(';')[0]!;
    const first = await sessions.load({ method: 'POST', cookie: pre });
    first.set('cart', ['book']);
    failNext.add('create');
    await expect(sessions.commit(first)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    const retry = await sessions.load({ method: 'POST', cookie: pre });
    retry.set('cart', ['book']);
    const cookie = (await sessions.commit(retry)).setCookie!.split(';')[0]!;
    await vi.advanceTimersByTimeAsync(60_000);
    const back = await sessions.load({ method: 'GET', cookie });
    expect(back.state).toBe('active');
    expect(back.get('cart')).toEqual(['book']);
  });

  it('queues no clean-up after a refusal that wrote nothing (a full memory store)', async () => {
    const store = memoryStore({ maxSessions: 1 });
    const sessions = createSessions({ store, keys });
    const events: SessionEvent[] = [];
    sessions.on('store_error', (e) => events.push(e));
    const alice = await sessions.load({ method: 'POST' });
    await alice.authenticate('alice');
    for (let i = 0; i < 1_100; i++) {
      const s = await sessions.load({ method: 'POST' });
      s.set('n', i);
      await expect(sessions.commit(s)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    }
    await vi.advanceTimersByTimeAsync(60_000);
    // Every refusal is reported as what it is, and none fills the follow-up queue.
    expect(events).toHaveLength(1_100);
    expect(events.every((e) => e.reason === 'ERR_STORE_UNAVAILABLE')).toBe(true);
    expect(await sessions.list('alice')).toHaveLength(1);
  });
});
