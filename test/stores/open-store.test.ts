/**
 * `openStore(url, { prefix, schema })` on the shared Redis and PostgreSQL: the store writes under
 * the prefix / in the schema it is given (so several apps — or test runs — share one server), and
 * a bad one is refused without leaving a connection open.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import { openStore } from '../../src/stores/index.js';
import { makeRecord } from '../../src/testing/index.js';
import {
  redisKeysUnder,
  schemasStartingWith,
  sharedPostgres,
  sharedRedis,
} from '../support/cleanup.js';
import { clearNamespace, testNamespace } from '../support/namespace.js';
import {
  DATABASE_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  requireService,
} from '../support/services.js';

const redisOk = requireService(`Redis at ${REDIS_URL}`, await redisAvailable(REDIS_URL));
const pgOk = requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable(DATABASE_URL));
const ns = testNamespace('openstore');
afterAll(() => clearNamespace(ns));

async function codeOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isTesseraError(e) ? e.code : e;
  }
}

describe('openStore with a prefix or a schema', () => {
  it.skipIf(!redisOk)('writes every Redis key under the prefix it is given', async () => {
    const store = await openStore(REDIS_URL, { prefix: ns.prefix });
    // A signed-in record's user index needs the app's slot tagger (createSessions hands it over).
    store.useSlotTags?.(() => 'openstore');
    const r = makeRecord({ userId: 'open-store-user' });
    try {
      await store.create(r);
      expect((await store.get(r.id))?.handle).toBe(r.handle);
    } finally {
      await store.close();
    }
    const redis = (await sharedRedis())!;
    try {
      const keys = await redisKeysUnder(redis, ns.prefix);
      // The record, its handle and the user's index: all under the prefix.
      expect(keys.length).toBeGreaterThanOrEqual(3);
      expect(keys.filter((k) => k.includes(r.handle))).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  });

  it.skipIf(!pgOk)('creates and uses the PostgreSQL schema it is given', async () => {
    const store = await openStore(DATABASE_URL, { schema: ns.schema });
    const r = makeRecord({ userId: 'open-store-user' });
    try {
      await store.create(r);
      expect((await store.get(r.id))?.handle).toBe(r.handle);
    } finally {
      await store.close();
    }
    const db = (await sharedPostgres())!;
    try {
      expect(await schemasStartingWith(db, ns.schema)).toEqual([ns.schema]);
      const rows = await db.query(`SELECT handle FROM "${ns.schema}".sessions`);
      expect(rows.rows).toEqual([{ handle: r.handle }]);
    } finally {
      await db.end();
    }
  });

  it.skipIf(!redisOk || !pgOk)('refuses a bad prefix or schema with ERR_CONFIG', async () => {
    expect(await codeOf(openStore(REDIS_URL, { prefix: 'a{b}:' }))).toBe('ERR_CONFIG');
    expect(await codeOf(openStore(DATABASE_URL, { schema: 'Bad-Name' }))).toBe('ERR_CONFIG');
  });
});
