import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../src/core/engine.js';
import { KeyRing } from '../../src/core/keys.js';
import { slotTagFor } from '../../src/core/token.js';
import { createSessions, generateKey } from '../../src/index.js';
import { tagOf } from '../../src/stores/redis/codec.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import * as scripts from '../../src/stores/redis/scripts.js';
import { makeRecord, registerConformance } from '../../src/testing/index.js';
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

const keys = [generateKey('k1')];
const ring = new KeyRing(keys);

/** Load the scripts on every master, so that no EVALSHA meets NOSCRIPT (and retries). */
async function loadScripts(): Promise<void> {
  for (const node of client.nodes('master')) {
    for (const script of Object.values(scripts)) await node.script('LOAD', script.lua);
  }
}

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

  it("puts every session's keys, and a user's sessions with the user's index, in one slot", async () => {
    const { client: spy, calls } = spyOn(client);
    await loadScripts();
    const sessions = createSessions({
      store: redisStore({ client: spy, prefix }),
      keys,
      sessionLimit: { max: 5 },
    });
    const userId = `user-${randomBytes(4).toString('hex')}`;
    /** One request; what the store sent for it. */
    const request = async (
      cookie: string | undefined,
      method: string,
      fn: (s: Session) => unknown = () => {},
      ip = '192.0.2.1',
    ): Promise<{ cookie: string; sent: string[]; s: Session }> => {
      calls.length = 0;
      const s = await sessions.load({ method, cookie, ip });
      await fn(s);
      const { setCookie } = await sessions.commit(s);
      return { cookie: setCookie?.split(';')[0] ?? cookie ?? '', sent: [...calls], s };
    };
    const first = await request(undefined, 'POST', (s) => s.set('cart', ['book']));
    expect(first.sent).toEqual(['evalsha']);
    const visitor = first.s.handle!;
    const write = await request(first.cookie, 'POST', (s) => s.set('n', 1));
    expect(write.sent).toEqual(['get', 'evalsha']);
    const rotated = await request(write.cookie, 'POST', (s) => s.regenerate());
    expect(rotated.sent).toEqual(['get', 'evalsha']);
    expect(rotated.s.handle).toBe(visitor);
    // Signing the visitor in: one script in the user's slot (record, family, index, epoch and
    // limit checks), then the visitor's family is deleted in its own slot.
    const signedIn = await request(rotated.cookie, 'POST', (s) => s.authenticate(userId));
    expect(signedIn.sent).toEqual(['get', 'evalsha', 'evalsha']);
    expect(signedIn.s.get('cart')).toEqual(['book']);
    const reauth = await request(signedIn.cookie, 'POST', (s) => s.authenticate(userId));
    expect(reauth.sent).toEqual(['get', 'evalsha']);
    // A new address: the read writes a touch.
    const touched = await request(reauth.cookie, 'GET', () => {}, '198.51.100.7');
    expect(touched.sent).toEqual(['get', 'evalsha']);

    const slotOf = (k: string) => client.cluster('KEYSLOT', k);
    const idOf = async (handle: string) => (await sessions.store.getByHandle(handle))!.id;
    const id = await idOf(reauth.s.handle!);
    const tag = tagOf(id);
    const userKeys = [
      `${prefix}s{${tag}}${id}`,
      `${prefix}h{${tagOf(reauth.s.handle!)}}${reauth.s.handle!}`,
      `${prefix}u{${tag}}${userId}`,
    ];
    expect(new Set(await Promise.all(userKeys.map(slotOf))).size).toBe(1);
    for (const k of userKeys) expect(await client.exists(k)).toBe(1);
    expect(await sessions.store.getByHandle(visitor)).toBeNull();
    expect(await sessions.revokeAll(userId)).toBe(1);
    expect(await client.exists(userKeys[1]!)).toBe(0);
  });

  it('refuses, writing nothing, a write whose keys would span slots', async () => {
    const store = redisStore({ client, prefix });
    store.useSlotTags!((u) => slotTagFor(ring, u));
    const userId = `user-${randomBytes(4).toString('hex')}`;
    const other = (n: number) =>
      `zz${randomBytes(2).toString('hex')}.${randomBytes(n).toString('base64url')}`;
    const visitor = makeRecord();
    const cases: [string, () => Promise<unknown>][] = [
      ['a handle of another slot', () => store.create(makeRecord({ handle: other(16) }))],
      ['a user of another slot', () => store.create(makeRecord({ userId }))],
      [
        'a rotation to another slot',
        async () => {
          await store.create(visitor);
          return store.rotate(visitor.id, 1, { ...visitor, id: other(32), version: 2 }, null);
        },
      ],
      ['an update to a user of another slot', () => store.update(visitor.id, 1, { userId })],
    ];
    for (const [name, write] of cases) {
      await expect(write(), name).rejects.toMatchObject({ code: 'ERR_USAGE' });
    }
    expect(await store.get(visitor.id)).toMatchObject({ kind: 'live', userId: null, version: 1 });
    expect(await store.listByUser(userId, Date.now())).toEqual([]);
  });

  it('falls back to EVAL when a node lost its scripts, also behind a redirections error', async () => {
    // maxRedirections 0: ioredis wraps any error reply as "Too many Cluster redirections. Last
    // error: ReplyError: NOSCRIPT …", as it does once a fail-over's redirections used up its budget.
    for (const maxRedirections of [16, 0]) {
      const own = (await connectRedis(cluster!.url, { cluster: { maxRedirections } })) as Cluster;
      try {
        const store = redisStore({ client: own, prefix });
        const r = makeRecord();
        await store.create(r);
        for (const node of client.nodes('master')) await node.script('FLUSH');
        expect(await store.update(r.id, 1, { data: '{"a":1}' })).toBe(true);
        for (const node of client.nodes('master')) await node.script('FLUSH');
        expect(await store.deleteByHandle(r.handle)).toBe(1);
      } finally {
        own.disconnect();
      }
    }
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
});
