/**
 * The engine on a store that asks for slot tags (Redis Cluster): every session's keys in one
 * slot, a user's sessions in the user's slot, and the sign-in of a visitor as a new session.
 * The store here is the memory store declaring the capability, as the Redis store does.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../stores/memory/index.js';
import { createSessions, type Session, type SessionManager } from './engine.js';
import { storeUnavailable } from './errors.js';
import type { SessionEvent } from './events.js';
import { type KeyInput, KeyRing } from './keys.js';
import { slotTagFor, tagOfId } from './token.js';
import type { SessionStore } from './types.js';

const key = (id: string, createdAt: number): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt,
});
const K1 = key('k1', 0);
const K2 = key('k2', 1);

type Data = Record<string, unknown>;

/** A memory store with `slotTags`, recording the tagger it is given; `failDeletes` fails deleteByHandle. */
function taggingStore() {
  const inner = memoryStore({ sweepIntervalMs: 0 });
  const state = {
    tagFor: null as ((userId: string) => string) | null,
    failDeletes: false,
    creates: [] as { userId: string | null; signIn: boolean }[],
  };
  const store = new Proxy(inner, {
    get(t, p) {
      if (p === 'slotTags') return true;
      if (p === 'useSlotTags') {
        return (f: (userId: string) => string) => {
          state.tagFor = f;
        };
      }
      if (p === 'deleteByHandle' && state.failDeletes) {
        return async () => {
          throw storeUnavailable('memory', new Error('the master of this slot is down'));
        };
      }
      if (p === 'create') {
        return (r: Parameters<SessionStore['create']>[0], o?: unknown) => {
          state.creates.push({ userId: r.userId, signIn: o !== undefined });
          return o === undefined ? t.create(r) : t.create(r, o as never);
        };
      }
      const v = Reflect.get(t, p, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  }) as SessionStore;
  return { store, state };
}

function engineOn(store: SessionStore, keys: KeyInput[] = [K1]) {
  const events: SessionEvent[] = [];
  const engine = createSessions<Data>({ store, keys, sessionLimit: { max: 1, policy: 'reject' } });
  engine.on('*', (e) => events.push(e));
  return { engine, events };
}

async function request(
  engine: SessionManager<Data>,
  token: string | null,
  method = 'GET',
  fn?: (s: Session<Data>) => Promise<void> | void,
) {
  const s = await engine.load({
    cookie: token ? `__Host-tessera=${token}` : undefined,
    method,
    userAgent: 'test-agent',
    ip: '127.0.0.1',
  });
  if (fn) await fn(s);
  const r = await engine.commit(s);
  const m = r.setCookie ? /^__Host-tessera=([^;]+)/.exec(r.setCookie) : null;
  return { s, ...r, token: m ? m[1]! : token };
}

/** A visitor's session holding a cart: its token and handle. */
async function visitor(engine: SessionManager<Data>) {
  const r = await request(engine, null, 'POST', (s) => s.set('cart', ['book']));
  return { token: r.token!, handle: r.s.handle! };
}

const tagOfToken = (token: string) => token.split('.')[2]!;

describe('slot tags', () => {
  it("gives a visitor's session a keyed tag of its own, on its token and handle, kept by rotation", async () => {
    const { store } = taggingStore();
    const { engine } = engineOn(store);
    const a = await visitor(engine);
    const b = await visitor(engine);
    const tag = tagOfToken(a.token);
    expect(tag).toMatch(/^[A-Za-z0-9_-]{4}$/);
    expect(tagOfId(a.handle)).toBe(tag);
    expect(tagOfToken(b.token)).not.toBe(tag);
    const rotated = await request(engine, a.token, 'POST', (s) => s.regenerate());
    expect(rotated.token).not.toBe(a.token);
    expect(tagOfToken(rotated.token!)).toBe(tag);
    expect(rotated.s.handle).toBe(a.handle);
  });

  it('hands the store the keyed tagger of the ids it mints for a user', async () => {
    const { store, state } = taggingStore();
    const { engine } = engineOn(store);
    expect(state.tagFor).not.toBeNull();
    const token = (await request(engine, null, 'POST', (s) => s.authenticate('alice'))).token!;
    expect(state.tagFor!('alice')).toBe(tagOfToken(token));
    expect(state.tagFor!('alice')).toBe(slotTagFor(new KeyRing([K1]), 'alice'));
  });

  it("signs a visitor in as a new session in the user's slot, with the data, and deletes the visitor's family", async () => {
    const { store, state } = taggingStore();
    const { engine, events } = engineOn(store);
    const v = await visitor(engine);
    state.creates.length = 0;
    const signed = await request(engine, v.token, 'POST', (s) => s.authenticate('alice'));
    const tag = slotTagFor(new KeyRing([K1]), 'alice');
    expect(tagOfToken(signed.token!)).toBe(tag);
    expect(tagOfId(signed.s.handle!)).toBe(tag);
    expect(signed.s.handle).not.toBe(v.handle);
    expect(signed.s.get('cart')).toEqual(['book']);
    // One create, with the epoch and limit checks, in the user's slot.
    expect(state.creates).toEqual([{ userId: 'alice', signIn: true }]);
    expect(await store.getByHandle(v.handle)).toBeNull();
    expect(events.some((e) => e.type === 'destroyed' && e.reason === 'signed_in')).toBe(true);
    const old = await request(engine, v.token);
    expect(old.s.state).toBe('anonymous');
    const back = await request(engine, signed.token);
    expect(back.s.userId).toBe('alice');
    expect(back.s.get('cart')).toEqual(['book']);
    // The limit is checked in that one step: a second visitor is refused and keeps their session.
    const w = await visitor(engine);
    await expect(
      request(engine, w.token, 'POST', (s) => s.authenticate('alice')),
    ).rejects.toMatchObject({ code: 'ERR_SESSION_LIMIT' });
    expect((await request(engine, w.token)).s.get('cart')).toEqual(['book']);
  });

  it('keeps a sign-in whose visitor family cannot be deleted, and deletes it once the store answers', async () => {
    const { store, state } = taggingStore();
    const { engine, events } = engineOn(store);
    const v = await visitor(engine);
    state.failDeletes = true;
    const signed = await request(engine, v.token, 'POST', (s) => s.authenticate('alice'));
    expect(signed.s.userId).toBe('alice');
    expect(events.some((e) => e.type === 'store_error')).toBe(true);
    // Until the delete lands, the old token is still that visitor's session, never signed in.
    const old = await request(engine, v.token);
    expect(old.s.state).toBe('active');
    expect(old.s.userId).toBeNull();
    state.failDeletes = false;
    const until = Date.now() + 10_000;
    while ((await store.getByHandle(v.handle)) !== null) {
      expect(Date.now()).toBeLessThan(until);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await request(engine, v.token)).s.state).toBe('anonymous');
    expect((await request(engine, signed.token)).s.userId).toBe('alice');
  }, 15_000);

  it("ends a signed-in session whose tag is no longer its user's: the ring's oldest key retired", async () => {
    // Tags come from the oldest key (k1); the session's token and data are under k2. Retiring k1
    // leaves both valid, but the user's index now lives under another tag, where revokeAll and
    // the limit would not see the session.
    const { store } = taggingStore();
    const before = engineOn(store, [K2, K1]).engine;
    const token = (await request(before, null, 'POST', (s) => s.authenticate('alice'))).token!;
    const visitorToken = (await visitor(before)).token;
    const { engine: after, events } = engineOn(store, [K2]);
    const s = (await request(after, token)).s;
    expect(s.state).toBe('anonymous');
    expect(events.some((e) => e.type === 'token_invalid' && e.reason === 'slot_tag')).toBe(true);
    // A visitor's session has no user index to be out of reach of.
    expect((await request(after, visitorToken)).s.get('cart')).toEqual(['book']);
    // On a store without slot tags the same retirement keeps the session.
    const plain = memoryStore({ sweepIntervalMs: 0 });
    const t = (
      await request(engineOn(plain, [K2, K1]).engine, null, 'POST', (x) => x.authenticate('alice'))
    ).token!;
    expect((await request(engineOn(plain, [K2]).engine, t)).s.userId).toBe('alice');
  });
});
