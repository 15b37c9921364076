import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotTagFor, tagOf } from '../../src/stores/redis/codec.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import * as scripts from '../../src/stores/redis/scripts.js';
import { makeRecord, makeTombstone, registerConformance } from '../../src/testing/index.js';
import { requireService } from '../support/services.js';
import { expectNoLostPatches } from './fixtures/redis-postgres-patchers.js';
import {
  type RedisCluster,
  redisBinariesAvailable,
  startRedisCluster,
} from './fixtures/redis-servers.js';
import { deletePrefix, WORKER_ENV } from './fixtures/redis-worker.js';

const run = requireService(
  'redis-server and redis-cli binaries (for a throwaway Redis Cluster)',
  redisBinariesAvailable(),
);
const prefix = `tessera-test:${randomBytes(6).toString('base64url')}:`;
const WORKER = fileURLToPath(new URL('./fixtures/redis-worker.ts', import.meta.url));

let cluster: RedisCluster | undefined;
let client: Cluster;
/** The Cluster URL, known once the Cluster runs; the worker env reads it lazily. */
const env: Record<string, string> = { [WORKER_ENV.prefix]: prefix };

/** Count the client methods a store calls. */
function spyOn(target: Cluster): { client: Cluster; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { client: proxy, calls };
}

describe.skipIf(!run)('redisStore on a Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    env[WORKER_ENV.url] = cluster.url;
    client = (await connectRedis(cluster.url)) as Cluster;
  }, 60_000);
  afterAll(async () => {
    if (client) {
      await deletePrefix(client, prefix);
      client.disconnect();
    }
    await cluster?.stop();
  });

  registerConformance(
    {
      name: 'redis-cluster',
      create: () => redisStore({ client, prefix }),
      worker: { module: WORKER, exportName: 'createRedisWorkerStore', env },
    },
    { describe, it },
  );

  it('runs on three masters', async () => {
    expect(client.nodes('master')).toHaveLength(3);
  });

  it("puts a signed-in session, its family and its user's index in one slot", async () => {
    const userId = `user-${randomBytes(4).toString('hex')}`;
    const tag = slotTagFor(userId);
    const r = makeRecord({
      id: `${tag}.${randomBytes(32).toString('base64url')}`,
      handle: `${tag}.${randomBytes(16).toString('base64url')}`,
      userId,
    });
    // Load the scripts everywhere first, so that no EVALSHA meets NOSCRIPT (and retries).
    for (const node of client.nodes('master')) {
      for (const script of Object.values(scripts)) await node.script('LOAD', script.lua);
    }
    const { client: spy, calls } = spyOn(client);
    const store = redisStore({ client: spy, prefix });
    await store.create(r);
    const keys = [
      `${prefix}s{${tagOf(r.id)}}${r.id}`,
      `${prefix}h{${tagOf(r.handle)}}${r.handle}`,
      `${prefix}u{${tag}}${userId}`,
    ];
    const slots = await Promise.all(keys.map((k) => client.cluster('KEYSLOT', k)));
    expect(new Set(slots).size).toBe(1);
    for (const k of keys) expect(await client.exists(k)).toBe(1);

    // Each step of a same-slot session is a single script call: atomic, one round trip.
    const t = Date.now();
    const ops: [string, () => Promise<unknown>][] = [
      ['touch', () => store.touch(r.id, { lastSeenAt: t, idleExpiresAt: t + 60_000 })],
      ['update', () => store.update(r.id, 1, { data: '{"a":1}' })],
      [
        'rotate',
        () =>
          store.rotate(
            r.id,
            2,
            { ...r, id: `${tag}.${randomBytes(32).toString('base64url')}`, version: 3 },
            makeTombstone(r),
          ),
      ],
      ['deleteByUser', () => store.deleteByUser(userId)],
    ];
    for (const [name, op] of ops) {
      calls.length = 0;
      await op();
      expect(calls, name).toEqual(['evalsha']);
    }
    expect(await client.exists(keys[1]!)).toBe(0);
  });

  it('loses no patch among 200 fired at once from two processes', async () => {
    const store = redisStore({ client, prefix });
    await expectNoLostPatches(store, {
      module: WORKER,
      exportName: 'createRedisWorkerStore',
      env: env,
      processes: 2,
      perProcess: 100,
    });
  }, 90_000);

  it('checks sign-ins whose records live outside the user slot, and undoes a refused one', async () => {
    const store = redisStore({ client, prefix });
    const userId = `user-${randomBytes(4).toString('hex')}`;
    const t = Date.now();
    const remote = (createdAt: number) =>
      makeRecord({
        userId,
        authenticatedAt: t,
        createdAt,
        id: randomBytes(32).toString('base64url'),
      });
    const [a, b, c, d] = [remote(t), remote(t + 1), remote(t + 2), remote(t + 3)];
    const limit = { now: t, limit: 2, policy: 'reject' } as const;
    expect(await store.create(a, limit)).toEqual({ evicted: [] });
    expect(await store.create(b, limit)).toEqual({ evicted: [] });
    await expect(store.create(c, limit)).rejects.toMatchObject({ code: 'ERR_SESSION_LIMIT' });
    expect(await store.get(c.id)).toBeNull();
    expect(await store.getByHandle(c.handle)).toBeNull();
    expect(await store.create(c, { ...limit, policy: 'evict-oldest' })).toEqual({
      evicted: [a.handle],
    });
    expect(await store.get(a.id)).toBeNull();
    await store.deleteByUser(userId, { epoch: { at: t, expiresAt: t + 60_000 } });
    await expect(store.create(d, limit)).rejects.toMatchObject({ code: 'ERR_SESSION_REVOKED' });
    expect(await store.get(d.id)).toBeNull();
    expect(await client.exists(`${prefix}h{${tagOf(d.handle)}}${d.handle}`)).toBe(0);
    expect(await store.listByUser(userId, t)).toEqual([]);
  });

  it('creates, rotates and revokes an anonymous session whose keys span slots', async () => {
    const store = redisStore({ client, prefix });
    const r = makeRecord({ id: randomBytes(32).toString('base64url') });
    await store.create(r);
    const next = { ...r, id: randomBytes(32).toString('base64url'), version: 2 };
    expect(await store.rotate(r.id, 1, next, makeTombstone(r))).toEqual({ evicted: [] });
    expect((await store.getByHandle(r.handle))?.id).toBe(next.id);
    expect(await store.deleteByHandle(r.handle)).toBe(2);
    expect(await store.get(r.id)).toBeNull();
    expect(await store.get(next.id)).toBeNull();
    expect(await client.exists(`${prefix}h{${tagOf(r.handle)}}${r.handle}`)).toBe(0);
  });
});
