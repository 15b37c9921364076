/**
 * The PostgreSQL pool and store on a hung server (the test's own postgres, postmaster and
 * backends paused with SIGSTOP): calls past the in-flight bound fail at once instead of queueing
 * in the pool, and a query the server never answers fails and gives its connection back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import { connectPostgres, postgresStore } from '../../src/stores/postgres/index.js';
import { makeRecord } from '../../src/testing/fixtures.js';
import { waitFor } from '../stores/fixtures/redis-servers.js';
import {
  type PostgresServer,
  postgresBinariesAvailable,
  startPostgresServer,
} from './fixtures/postgres-server.js';

async function outcome(p: Promise<unknown>): Promise<{ code: string; ms: number; why: string }> {
  const t = Date.now();
  try {
    await p;
    return { code: 'ok', ms: Date.now() - t, why: '' };
  } catch (e) {
    const why = String((e as { cause?: Error }).cause?.message ?? '');
    return { code: isTesseraError(e) ? e.code : (e as Error).message, ms: Date.now() - t, why };
  }
}

describe.skipIf(!postgresBinariesAvailable())('PostgreSQL on a hung server', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgresServer();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses calls past maxPendingCalls at once instead of queueing them in the pool', async () => {
    // The app's own pool, with pg's defaults: no connection or query time-out, so nothing but
    // the store's bound stops its queue of waiting queries from growing.
    const pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {});
    try {
      const store = postgresStore({
        pool,
        schema: 'pend',
        statementTimeoutMs: 200,
        maxPendingCalls: 5,
      });
      const r = makeRecord();
      await store.create(r);
      server.pause();
      const first = await Promise.all(Array.from({ length: 5 }, () => outcome(store.get(r.id))));
      expect(first.map((o) => o.code)).toEqual(Array(5).fill('ERR_STORE_UNAVAILABLE'));
      const more = await Promise.all(Array.from({ length: 50 }, () => outcome(store.get(r.id))));
      expect(new Set(more.map((o) => o.code))).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
      // Refused by the bound, not timed out: nothing was sent or queued for them.
      expect(more.filter((o) => !o.why.includes('still waiting for the server'))).toEqual([]);
      // Two queries hang on the two connections; only three wait for one, not 53.
      expect(pool.waitingCount).toBe(3);
      server.resume();
      await waitFor(
        'the store to answer again',
        async () => (await outcome(store.get(r.id))).code === 'ok',
        20_000,
        50,
      );
      expect(pool.waitingCount).toBe(0);
    } finally {
      server.resume();
      await pool.end();
    }
  }, 60_000);

  it('fails a query the hung server never answers and gives its connection back (connectPostgres)', async () => {
    const pool = await connectPostgres(server.url, {
      statementTimeoutMs: 300,
      connectTimeoutMs: 500,
    });
    try {
      await pool.query('SELECT 1');
      server.pause();
      // Straight on the pool: nothing but the client-side query time-out can end this wait.
      const hung = await outcome(
        Promise.race([
          pool.query('SELECT 1'),
          sleep(5_000).then(() => Promise.reject(new Error('still waiting after 5 s'))),
        ]),
      );
      expect(hung.code).toMatch(/timeout/i);
      expect(hung.ms).toBeLessThan(3_000);
      // The connection was closed, not kept busy: the pool holds no client for it.
      expect(pool.totalCount).toBe(0);
      server.resume();
      await waitFor(
        'a query to succeed again',
        async () => (await outcome(pool.query('SELECT 1'))).code === 'ok',
        20_000,
        50,
      );
    } finally {
      server.resume();
      await pool.end();
    }
  }, 60_000);

  it('refuses a negative queryTimeoutMs or keepAliveMs and a zero maxPendingCalls with ERR_CONFIG', async () => {
    for (const o of [{ queryTimeoutMs: -1 }, { keepAliveMs: Number.NaN }]) {
      expect((await outcome(connectPostgres(server.url, o))).code).toBe('ERR_CONFIG');
    }
    const pool = new pg.Pool({ connectionString: server.url });
    expect(() => postgresStore({ pool, maxPendingCalls: 0 })).toThrowError(/maxPendingCalls/);
    await pool.end();
  });
});
