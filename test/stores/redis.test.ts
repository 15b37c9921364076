import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import { KeyRing } from '../../src/core/keys.js';
import { createSealedSessions, storeRevocation } from '../../src/core/sealed.js';
import { slotTagFor as engineSlotTagFor } from '../../src/core/token.js';
import type { SessionStore } from '../../src/core/types.js';
import { tagOf } from '../../src/stores/redis/codec.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import {
  makeRecord,
  makeTombstone,
  randomHandle,
  registerConformance,
} from '../../src/testing/index.js';
import { testNamespace } from '../support/namespace.js';
import { REDIS_URL, redisAvailable, requireService } from '../support/services.js';
import { expectNoLostPatches } from './fixtures/redis-postgres-patchers.js';
import { redisBinariesAvailable, startRedisServer, waitFor } from './fixtures/redis-servers.js';
import { deletePrefix, WORKER_ENV } from './fixtures/redis-worker.js';
// The deprecated `err.status` asserted below reads the adapters' status table.
import '../../src/adapters/shared/status.js';

const run = requireService(`Redis at ${REDIS_URL}`, await redisAvailable(REDIS_URL));
const canSpawn = requireService('redis-server and redis-cli binaries', redisBinariesAvailable());
const { prefix } = testNamespace('redis');
const WORKER = fileURLToPath(new URL('./fixtures/redis-worker.ts', import.meta.url));
const UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

let client: Redis;
const ring = new KeyRing([{ id: 'k1', secret: randomBytes(32), createdAt: 0 }]);
/** The keyed slot tag the engine gives a user's sessions (and the store, through useSlotTags). */
const slotTagFor = (userId: string): string => engineSlotTagFor(ring, userId);

/** A store as an engine leaves it: with the engine's slot tags. */
function tagging(options: Partial<Parameters<typeof redisStore>[0]> = {}): SessionStore {
  const store = redisStore({ client, prefix, ...options });
  store.useSlotTags!(slotTagFor);
  return store;
}

/** What an error a store call rejected with is: its code, or the error itself. */
async function codeOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isTesseraError(e) ? e.code : e;
  }
}

describe.skipIf(!run)('redisStore', () => {
  beforeAll(async () => {
    client = (await connectRedis(REDIS_URL)) as Redis;
  });
  afterAll(async () => {
    if (!client) return;
    await deletePrefix(client, prefix);
    client.disconnect();
  });

  registerConformance(
    {
      name: 'redis',
      create: () => redisStore({ client, prefix }),
      worker: {
        module: WORKER,
        exportName: 'createRedisWorkerStore',
        env: { [WORKER_ENV.url]: REDIS_URL, [WORKER_ENV.prefix]: prefix },
      },
    },
    { describe, it },
  );

  it('reads a session with exactly one GET and writes nothing', async () => {
    const calls: string[] = [];
    const spy = new Proxy(client, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const store = tagging({ client: spy });
    const r = makeRecord({ userId: `u-${randomBytes(4).toString('hex')}` });
    await store.create(r);
    calls.length = 0;
    const got = await store.get(r.id);
    expect(got?.kind).toBe('live');
    expect(calls).toEqual(['get']);
  });

  it('keeps a session, its family and its index entry in a few hundred bytes', async () => {
    const store = tagging();
    const measure = async (ua: string, data: string): Promise<number> => {
      const userId = `user-${randomBytes(4).toString('hex')}@example.com`;
      const n = 50;
      let total = 0;
      for (let i = 0; i < n; i++) {
        const r = makeRecord({
          id: `${slotTagFor(userId)}.${randomBytes(32).toString('base64url')}`,
          userId,
          createdIp: '203.0.113.7',
          lastIp: '203.0.113.7',
          createdUserAgent: ua,
          lastUserAgent: ua,
          authenticatedAt: Date.now(),
          data,
        });
        await store.create(r);
        total += Number(await client.memory('USAGE', `${prefix}s{${tagOf(r.id)}}${r.id}`));
        total += Number(await client.memory('USAGE', `${prefix}h{${tagOf(r.handle)}}${r.handle}`));
      }
      total += Number(await client.memory('USAGE', `${prefix}u{${slotTagFor(userId)}}${userId}`));
      return Math.round(total / n);
    };
    const small = await measure('curl/8.5', '{}');
    const browser = await measure(UA, `v1.${randomBytes(48).toString('base64url')}`);
    console.info(
      `redisStore memory per session (MEMORY USAGE of record + family + index share): ${small} B small, ${browser} B with a browser UA and a sealed payload`,
    );
    expect(small).toBeLessThan(600);
    expect(browser).toBeLessThan(800);
  });

  it("keeps a user's index bounded over 10,000 logins in a simulated month", async () => {
    const store = tagging();
    const userId = `busy-${randomBytes(4).toString('hex')}`;
    const index = `${prefix}u{${slotTagFor(userId)}}${userId}`;
    const idleMs = 30 * 60_000;
    const month = 30 * 24 * 3_600_000;
    const logins = 10_000;
    const step = month / logins;
    const t0 = Date.now();
    let largest = 0;
    let lastExpiry = 0;
    for (let i = 0; i < logins; i += 1) {
      const t = Math.round(t0 + i * step);
      await store.create(
        makeRecord({
          id: `${slotTagFor(userId)}.${randomBytes(32).toString('base64url')}`,
          userId,
          createdAt: t,
          lastSeenAt: t,
          idleExpiresAt: t + idleMs,
          absoluteExpiresAt: t + 24 * 3_600_000,
        }),
      );
      if (i % 500 === 0 || i === logins - 1) {
        largest = Math.max(largest, await client.zcard(index));
        lastExpiry = t + idleMs;
      }
    }
    // Sessions idle out after 30 min and one login comes every ~4.3 min: at most 7 are live.
    expect(largest).toBeLessThanOrEqual(Math.ceil(idleMs / step) + 1);
    expect(await client.pexpiretime(index)).toBe(lastExpiry);
    const now = Math.round(t0 + (logins - 1) * step);
    expect((await store.listByUser(userId, now)).length).toBe(Math.ceil(idleMs / step));
    await deletePrefix(client, `${prefix}s{${slotTagFor(userId)}}`);
  }, 60_000);

  it("names a user's index and epoch with the engine's keyed tag, the slot of the user's sessions", async () => {
    const store = tagging();
    expect(store.slotTags).toBe(true);
    for (const userId of ['alice', 'bob@example.com', 'Zoë 🦊', '{x}']) {
      const uid = `${userId}-${randomBytes(4).toString('hex')}`;
      const tag = slotTagFor(uid);
      const r = makeRecord({
        id: `${tag}.${randomBytes(32).toString('base64url')}`,
        userId: uid,
        authenticatedAt: Date.now(),
      });
      await store.create(r);
      expect(await client.exists(`${prefix}u{${tag}}${uid}`)).toBe(1);
      expect((await store.listByUser(uid, Date.now())).map((x) => x.id)).toEqual([r.id]);
      expect(
        await store.deleteByUser(uid, { epoch: { at: 1, expiresAt: Date.now() + 60_000 } }),
      ).toBe(1);
      expect(await client.get(`${prefix}e{${tag}}${uid}`)).toBe('1');
      expect(await store.get(r.id)).toBeNull();
    }
  });

  it('refuses a call that names a user before it has the slot tags, and a second key ring', async () => {
    const store = redisStore({ client, prefix });
    const userId = `u-${randomBytes(4).toString('hex')}`;
    const t = Date.now();
    for (const call of [
      () => store.listByUser(userId, t),
      () => store.deleteByUser(userId),
      () => store.getRevocationEpoch(userId, t),
      () => store.count(t, userId),
      () => store.create(makeRecord({ userId })),
    ]) {
      expect(await codeOf(call())).toBe('ERR_USAGE');
    }
    // A visitor's session needs no user tag.
    await store.create(makeRecord());
    store.useSlotTags!(slotTagFor);
    store.useSlotTags!((u) => slotTagFor(u)); // the same ring again: fine
    const other = new KeyRing([{ id: 'k2', secret: randomBytes(32), createdAt: 0 }]);
    expect(() => store.useSlotTags!((u) => engineSlotTagFor(other, u))).toThrowError(/key ring/);
    expect(await store.listByUser(userId, t)).toEqual([]);
  });

  it('keeps sealed-mode revocation epochs under the keyed tag without a server-side engine', async () => {
    // createSealedSessions hands storeRevocation's store the tagger, as createSessions does.
    const store = redisStore({ client, prefix });
    const sealed = createSealedSessions({
      keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
      revocation: { store: storeRevocation(store), cacheMs: 0 },
    });
    const ring2 = sealed.ring;
    const userId = `sealed-${randomBytes(4).toString('hex')}`;
    await sealed.revokeAll(userId);
    const at = await store.getRevocationEpoch(userId, Date.now());
    expect(at).toBeGreaterThan(0);
    expect(await client.get(`${prefix}e{${engineSlotTagFor(ring2, userId)}}${userId}`)).toBe(
      String(at),
    );
  });

  it('derives the same slot tags in Lua as in TypeScript for odd ids and handles', async () => {
    const store = tagging();
    const odd = ['é{x}ab.cd', 'toolongtag_123.rest', 'a.b', '...', '{}', '日本語ですよ', '-_'];
    for (const [i, s] of odd.entries()) {
      const userId = `odd-${i}-${s}`;
      const r = makeRecord({ id: `${s}#${i}`, handle: `${s}@${i}`, userId });
      await store.create(r);
      const next = makeRecord({ ...r, id: `${s}!${i}`, version: 2 });
      expect(await store.rotate(r.id, 1, next, makeTombstone(r))).toEqual({ evicted: [] });
      expect((await store.getByHandle(r.handle))?.id).toBe(next.id);
      expect((await store.listByUser(userId, Date.now())).map((x) => x.id)).toEqual([next.id]);
      expect(await store.deleteByHandle(r.handle)).toBe(2);
      // The Lua side found and removed the family and index keys the TypeScript side named.
      expect(await client.exists(`${prefix}h{${tagOf(r.handle)}}${r.handle}`)).toBe(0);
      expect(await client.zcard(`${prefix}u{${slotTagFor(userId)}}${userId}`)).toBe(0);
    }
  });

  it('loses no patch among 200 fired at once from two processes', async () => {
    const store = redisStore({ client, prefix });
    await expectNoLostPatches(store, {
      module: WORKER,
      exportName: 'createRedisWorkerStore',
      env: { [WORKER_ENV.url]: REDIS_URL, [WORKER_ENV.prefix]: prefix },
      processes: 2,
      perProcess: 100,
    });
  }, 90_000);

  it('keeps handles unique under concurrent creates', async () => {
    const store = redisStore({ client, prefix });
    const handle = randomHandle();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => store.create(makeRecord({ handle }))),
    );
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
  });

  it('refuses a user id that is not well-formed UTF-16 with a 400, writing nothing', async () => {
    const store = tagging();
    for (const userId of ['user\ud800', 'user\udc00', '\ud83d']) {
      const r = makeRecord({ userId });
      await expect(store.create(r)).rejects.toMatchObject({ code: 'ERR_INVALID_ID', status: 400 });
      expect(await client.exists(`${prefix}s{${tagOf(r.id)}}${r.id}`)).toBe(0);
      expect(await client.exists(`${prefix}h{${tagOf(r.handle)}}${r.handle}`)).toBe(0);
      await expect(store.deleteByUser(userId)).rejects.toMatchObject({ status: 400 });
      await expect(store.listByUser(userId, Date.now())).rejects.toMatchObject({ status: 400 });
    }
  });

  it('changes nothing when a script cannot decode a record: it decodes before its first write', async () => {
    const store = tagging();
    const userId = `u-${randomBytes(4).toString('hex')}`;
    const r = makeRecord({
      userId,
      id: `${slotTagFor(userId)}.${randomBytes(32).toString('base64url')}`,
    });
    await store.create(r);
    // What an older version wrote for a user id with a lone surrogate: JSON the scripts'
    // decoder (cjson) refuses.
    const recordKey = `${prefix}s{${tagOf(r.id)}}${r.id}`;
    const raw = (await client.get(recordKey))!;
    const bad = raw.replace(JSON.stringify(userId), '"u-\\ud800"');
    expect(bad).not.toBe(raw);
    await client.set(recordKey, bad, 'KEEPTTL');
    const keys = [
      recordKey,
      `${prefix}h{${tagOf(r.handle)}}${r.handle}`,
      `${prefix}u{${slotTagFor(userId)}}${userId}`,
    ];
    const snapshot = async () =>
      Promise.all(keys.map(async (k) => [await client.dump(k), (await client.pttl(k)) > 0]));
    const before = await snapshot();
    const t = Date.now();
    const next = { ...r, id: `${slotTagFor(userId)}.${randomBytes(32).toString('base64url')}` };
    const attempts: [string, () => Promise<unknown>][] = [
      ['touch', () => store.touch(r.id, { lastSeenAt: t, idleExpiresAt: t + 60_000 })],
      ['update', () => store.update(r.id, 1, { data: '{"a":1}', lastSeenAt: t })],
      ['rotate', () => store.rotate(r.id, 1, next, makeTombstone(r))],
      ['delete', () => store.delete(r.id)],
      ['deleteByHandle', () => store.deleteByHandle(r.handle)],
      [
        'deleteByUser',
        () => store.deleteByUser(userId, { epoch: { at: t, expiresAt: t + 60_000 } }),
      ],
    ];
    for (const [name, attempt] of attempts) {
      expect(await codeOf(attempt()), name).toBe('ERR_STORE_UNAVAILABLE');
      expect(await snapshot(), `${name} wrote before failing`).toEqual(before);
    }
    expect(await client.exists(`${prefix}s{${tagOf(next.id)}}${next.id}`)).toBe(0);
    expect(await client.exists(`${prefix}e{${slotTagFor(userId)}}${userId}`)).toBe(0);
    await client.del(recordKey);
  });

  it('rejects a corrupt record with ERR_STORE_CORRUPT', async () => {
    const store = redisStore({ client, prefix });
    const id = `bad.${randomBytes(8).toString('hex')}`;
    await client.set(`${prefix}s{${tagOf(id)}}${id}`, '1\x01not json', 'PX', 60_000);
    expect(await codeOf(store.get(id))).toBe('ERR_STORE_CORRUPT');
  });

  it('refuses a prefix with a hash-tag brace, a missing client and an ioredis keyPrefix', () => {
    expect(() => redisStore({ client, prefix: 'app{1}:' })).toThrowError(/prefix/);
    expect(() => redisStore({} as never)).toThrowError(/client/);
    const prefixed = Object.create(client, { options: { value: { keyPrefix: 'app:' } } });
    expect(() => redisStore({ client: prefixed as Redis })).toThrowError(/keyPrefix/);
  });

  it('refuses URLs it does not understand with ERR_CONFIG', async () => {
    expect(await codeOf(connectRedis('http://127.0.0.1:6379'))).toBe('ERR_CONFIG');
    expect(await codeOf(connectRedis('redis+cluster://no-port-here'))).toBe('ERR_CONFIG');
  });

  it('fails with ERR_STORE_UNAVAILABLE when nothing listens', async () => {
    const started = Date.now();
    expect(await codeOf(connectRedis('redis://127.0.0.1:1', { connectTimeoutMs: 500 }))).toBe(
      'ERR_STORE_UNAVAILABLE',
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe.skipIf(!canSpawn)('redisStore when Redis fails', () => {
  it('rejects promptly while Redis is down and recovers with the same client', async () => {
    const server = await startRedisServer();
    const own = await connectRedis(server.url);
    try {
      const store: SessionStore = redisStore({ client: own, prefix });
      const r = makeRecord({ data: '{}' });
      await store.create(r);
      const outcomes: unknown[] = [];
      let stop = false;
      // Load: several loops of read-modify-write while the server dies underneath.
      const load = Array.from({ length: 4 }, async (_, w) => {
        let i = 0;
        while (!stop) {
          const started = Date.now();
          try {
            const cur = await store.get(r.id);
            if (cur?.kind === 'live')
              await store.update(r.id, cur.version, { data: `{"w${w}":${i++}}` });
            else await store.create(makeRecord());
            outcomes.push('ok');
          } catch (e) {
            outcomes.push({
              code: isTesseraError(e) ? e.code : String(e),
              ms: Date.now() - started,
            });
          }
          // Failing fast means failing synchronously-soon: yield so timers and I/O still run.
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
      await waitFor('some successful calls', () => outcomes.length > 20);
      await server.kill();
      const killedAt = outcomes.length;
      await waitFor('failures after the kill', () =>
        outcomes.slice(killedAt).some((o) => o !== 'ok'),
      );
      const failures = outcomes
        .slice(killedAt)
        .filter((o): o is { code: string; ms: number } => o !== 'ok');
      expect(new Set(failures.map((f) => f.code))).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
      expect(Math.max(...failures.map((f) => f.ms))).toBeLessThan(2_500);
      expect(await codeOf(store.get(r.id))).toBe('ERR_STORE_UNAVAILABLE');

      await server.restart();
      // The server restarted empty (no persistence): a fresh write must succeed on the old client.
      await waitFor(
        'the store to work again',
        async () => {
          try {
            await store.create(makeRecord());
            return true;
          } catch {
            return false;
          }
        },
        10_000,
        50,
      );
      stop = true;
      await Promise.all(load);
      const fresh = makeRecord();
      await store.create(fresh);
      expect((await store.get(fresh.id))?.id).toBe(fresh.id);
    } finally {
      own.disconnect();
      await server.stop();
    }
  }, 30_000);

  it('times out on a hung server instead of waiting forever', async () => {
    const server = await startRedisServer();
    const own = await connectRedis(server.url);
    try {
      const store = redisStore({ client: own, prefix, commandTimeoutMs: 300 });
      const r = makeRecord();
      await store.create(r);
      server.pause();
      const started = Date.now();
      expect(await codeOf(store.get(r.id))).toBe('ERR_STORE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(1_500);
      server.resume();
      await waitFor('the hung server to answer again', async () => {
        try {
          return (await store.get(r.id))?.id === r.id;
        } catch {
          return false;
        }
      });
    } finally {
      own.disconnect();
      await server.stop();
    }
  }, 20_000);
});
