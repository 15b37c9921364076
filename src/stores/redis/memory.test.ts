/**
 * What a signed-in session costs in Redis memory, on a private redis-server: `used_memory`
 * growth over 10,000 sessions (each signed in as its own user, with the benchmark's user agent
 * and a sealed payload of the engine's length), and `MEMORY USAGE` of each kind of key. The
 * breakdown is printed; docs/stores.md ("Memory") explains it and what a layout within issue
 * 14's 350 B would take. The bound asserted is today's layout, so that a change that grows it
 * fails here.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisServer,
  redisBinariesAvailable,
  startRedisServer,
} from '../../../test/stores/fixtures/redis-servers.js';
import { requireService } from '../../../test/support/services.js';
import { KeyRing } from '../../core/keys.js';
import { slotTagFor } from '../../core/token.js';
import { makeRecord } from '../../testing/index.js';
import { tagOf } from './codec.js';
import { connectRedis, redisStore } from './index.js';

const canSpawn = requireService('redis-server and redis-cli binaries', redisBinariesAvailable());
const SESSIONS = 10_000;

describe.skipIf(!canSpawn)('redisStore memory per session', () => {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    client = (await connectRedis(server.url)) as Redis;
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('keeps a signed-in session (record, handle, user index) in under 1,000 B of used_memory', async () => {
    const ring = new KeyRing([{ id: 'k1', secret: randomBytes(32), createdAt: 0 }]);
    const tagFor = (u: string) => slotTagFor(ring, u);
    const store = redisStore({ client, prefix: 'tessera:' });
    store.useSlotTags!(tagFor);
    const used = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
    const now = Date.now();
    const record = (i: number) => {
      const userId = `user-${i}`;
      const tag = tagFor(userId);
      return makeRecord({
        id: `${tag}.${randomBytes(32).toString('base64url')}`, // the engine's store id
        handle: `${tag}.${randomBytes(16).toString('base64url')}`,
        userId,
        createdAt: now,
        lastSeenAt: now,
        authenticatedAt: now,
        idleExpiresAt: now + 30 * 60_000,
        absoluteExpiresAt: now + 12 * 3_600_000,
        createdIp: '127.0.0.1',
        lastIp: '127.0.0.1',
        createdUserAgent: 'tessera-bench/1',
        lastUserAgent: 'tessera-bench/1',
        // The engine's sealed form of the benchmark's data: e2.<kid>.<base64url AES-GCM>.
        data: `e2.k1.${randomBytes(84).toString('base64url')}`,
      });
    };
    await store.create(record(-1)); // scripts loaded
    await client.flushall();
    const before = await used();
    const made: ReturnType<typeof record>[] = [];
    for (let i = 0; i < SESSIONS; i += 250) {
      const batch = Array.from({ length: 250 }, (_, k) => record(i + k));
      await Promise.all(batch.map((r) => store.create(r, { now, limit: 0, policy: 'reject' })));
      made.push(...batch.slice(0, 2));
    }
    const perSession = ((await used()) - before) / SESSIONS;
    const usage = async (keys: string[]) => {
      let total = 0;
      for (const k of keys) total += Number(await client.memory('USAGE', k, 'SAMPLES', '0'));
      return Math.round(total / keys.length);
    };
    const recordB = await usage(made.map((r) => `tessera:s{${tagOf(r.id)}}${r.id}`));
    const handleB = await usage(made.map((r) => `tessera:h{${tagOf(r.handle)}}${r.handle}`));
    const userB = await usage(made.map((r) => `tessera:u{${tagFor(r.userId!)}}${r.userId}`));
    const keys = Number(/keys=(\d+)/.exec(await client.info('keyspace'))?.[1]);
    console.info(
      `redisStore memory per signed-in session over ${SESSIONS}: used_memory ${Math.round(perSession)} B; MEMORY USAGE record ${recordB} B, handle ${handleB} B, user index ${userB} B; the rest (${Math.round(perSession - recordB - handleB - userB)} B) is the expiry table and the key space's hash tables`,
    );
    expect(keys).toBe(3 * SESSIONS);
    expect(perSession).toBeLessThan(1000);
    await client.flushall();
  }, 120_000);
});
