/**
 * The Redis client and store on a hung server (a redis-server paused with SIGSTOP): calls past
 * the in-flight bound fail at once, and a silent connection is dropped and made again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import { makeRecord } from '../../src/testing/fixtures.js';
import {
  type RedisServer,
  redisBinariesAvailable,
  startRedisServer,
  waitFor,
} from '../stores/fixtures/redis-servers.js';

async function outcome(p: Promise<unknown>): Promise<{ code: string; ms: number; why: string }> {
  const t = Date.now();
  try {
    await p;
    return { code: 'ok', ms: Date.now() - t, why: '' };
  } catch (e) {
    const why = String((e as { cause?: Error }).cause?.message ?? '');
    return { code: isTesseraError(e) ? e.code : String(e), ms: Date.now() - t, why };
  }
}

describe.skipIf(!redisBinariesAvailable())('Redis on a hung server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    server.resume();
    await server.stop();
  });

  it('refuses calls past maxPendingCalls at once, sending nothing, and frees the slots when the server answers', async () => {
    const client = await connectRedis(server.url, { socketTimeoutMs: 0 });
    try {
      const store = redisStore({
        client,
        prefix: 'pend:',
        commandTimeoutMs: 200,
        maxPendingCalls: 5,
      });
      const r = makeRecord();
      await store.create(r);
      await (client as Redis).config('RESETSTAT');
      server.pause();
      const first = await Promise.all(Array.from({ length: 5 }, () => outcome(store.get(r.id))));
      expect(first.map((o) => o.code)).toEqual(Array(5).fill('ERR_STORE_UNAVAILABLE'));
      // Timed out, but still queued in the client: the next ones fail at once.
      const more = await Promise.all(Array.from({ length: 50 }, () => outcome(store.get(r.id))));
      expect(new Set(more.map((o) => o.code))).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
      // Refused by the bound, not timed out: nothing was sent or queued for them.
      expect(more.filter((o) => !o.why.includes('still waiting for the server'))).toEqual([]);
      server.resume();
      // A PING answered means every command sent before it was run: only the first five GETs.
      await waitFor(
        'the server to answer',
        async () => (await outcome(client.ping())).code === 'ok',
      );
      const info = await (client as Redis).info('commandstats');
      expect(Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1])).toBe(5);
      expect((await store.get(r.id))?.id).toBe(r.id);
    } finally {
      server.resume();
      client.disconnect();
    }
  }, 30_000);

  it('drops a connection that stays silent for socketTimeoutMs, failing what waited on it, and reconnects', async () => {
    const client = (await connectRedis(server.url, { socketTimeoutMs: 500 })) as Redis;
    try {
      expect(client.options.keepAlive).toBe(10_000);
      await client.set('sock:k', 'v');
      server.pause();
      const started = Date.now();
      // Called on the client directly: nothing but the socket time-out can end this wait.
      const r = await outcome(client.get('sock:k'));
      expect(r.code).toMatch(/Socket timeout|Connection is closed|MaxRetriesPerRequest/);
      expect(Date.now() - started).toBeLessThan(3_000);
      // While the server hangs, new commands fail at once (the new connection is not ready).
      await sleep(100);
      const during = await outcome(client.get('sock:k'));
      expect(during.code).not.toBe('ok');
      expect(during.ms).toBeLessThan(1_000);
      server.resume();
      await waitFor(
        'a command to succeed again',
        async () => (await outcome(client.get('sock:k'))).code === 'ok',
      );
    } finally {
      server.resume();
      client.disconnect();
    }
  }, 30_000);

  it('refuses a negative or non-numeric socketTimeoutMs or keepAliveMs with ERR_CONFIG', async () => {
    for (const o of [{ socketTimeoutMs: -1 }, { keepAliveMs: Number.NaN }]) {
      expect((await outcome(connectRedis(server.url, o))).code).toBe('ERR_CONFIG');
    }
    expect(() => redisStore({ client: {} as Redis, maxPendingCalls: 0 })).toThrowError(
      /maxPendingCalls/,
    );
  });
});
