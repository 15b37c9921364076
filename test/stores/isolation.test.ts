/**
 * Several apps on one Redis / PostgreSQL / SQLite: what a user reported — one app's
 * `sessions.list('alice')` returned another app's session and its `revoke` removed it — is what
 * one shared prefix (schema, table prefix) means, since the store is keyed by user id. With a
 * prefix per app (docs/deploying.md, "Several apps on one store") nothing crosses: lists,
 * revocations by handle, "sign out everywhere" and cookies stay each app's own. Every case runs on
 * the shared services with random prefixes / schemas, removed at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessions, type SessionManager } from '../../src/core/engine.js';
import type { KeyInput } from '../../src/core/keys.js';
import type { SessionStore } from '../../src/core/types.js';
import { postgresStore } from '../../src/stores/postgres/index.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import {
  DATABASE_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  requireService,
} from '../support/services.js';
import { deletePrefix } from './fixtures/redis-worker.js';

const runRedis = requireService(`Redis at ${REDIS_URL}`, await redisAvailable(REDIS_URL));
const runPostgres = requireService(
  `PostgreSQL at ${DATABASE_URL}`,
  await postgresAvailable(DATABASE_URL),
);
const runId = randomBytes(5).toString('hex');

const key = (id: string): KeyInput => ({
  id,
  secret: randomBytes(32).toString('base64'),
  createdAt: 0,
});

/** An app: an engine with its own keys, as two apps deployed apart have. */
function app(store: SessionStore): SessionManager {
  return createSessions({ store, keys: [key('k1')], guessLimiter: false, logger: false });
}

/** Sign `userId` in on a new session of `engine`: its cookie and handle. */
async function signIn(
  engine: SessionManager,
  userId: string,
): Promise<{ cookie: string; handle: string }> {
  const s = await engine.load({ cookie: undefined, method: 'POST' });
  await s.authenticate(userId);
  const cookie = (await engine.commit(s)).setCookie!.split(';')[0]!;
  return { cookie, handle: s.handle! };
}

/** Whether `engine` opens the session of this cookie. */
async function opens(engine: SessionManager, cookie: string): Promise<boolean> {
  return (await engine.load({ cookie, method: 'GET' })).state === 'active';
}

/**
 * The cases for one backing service.
 * @param stores - two stores on one service: `[a, b]` with different prefixes, and `shared`
 *   with the same prefix as `a`
 */
function isolationCases(
  stores: () => { a: SessionStore; b: SessionStore; shared: SessionStore },
  { listsCross = true }: { listsCross?: boolean } = {},
): void {
  it('with a prefix per app, neither lists, revokes nor opens the other app’s sessions', async () => {
    const { a, b } = stores();
    const [shop, blog] = [app(a), app(b)];
    const user = `alice-${randomBytes(4).toString('hex')}`;
    const inShop = await signIn(shop, user);
    const inBlog = await signIn(blog, user);

    expect((await shop.list(user)).map((s) => s.handle)).toEqual([inShop.handle]);
    expect((await blog.list(user)).map((s) => s.handle)).toEqual([inBlog.handle]);
    expect(await blog.revoke(inShop.handle)).toBe(false);
    expect(await opens(blog, inShop.cookie)).toBe(false);

    expect(await blog.revokeAll(user)).toBe(1);
    expect(await opens(shop, inShop.cookie)).toBe(true);
    expect((await shop.list(user)).map((s) => s.handle)).toEqual([inShop.handle]);
    // A sign-in to the shop after the blog's "sign out everywhere" is not refused by its epoch.
    const later = await signIn(shop, user);
    expect(await opens(shop, later.cookie)).toBe(true);
  });

  it('with one prefix, the apps see each other’s sessions (what the docs warn about)', async () => {
    const { a, shared } = stores();
    const [shop, blog] = [app(a), app(shared)];
    const user = `alice-${randomBytes(4).toString('hex')}`;
    const inShop = await signIn(shop, user);
    // On Redis a user's index sits under a slot tag keyed by the app's key ring, so apps with
    // their own keys do not list each other's users there; a handle still reaches across.
    expect((await blog.list(user)).map((s) => s.handle)).toEqual(listsCross ? [inShop.handle] : []);
    expect(await blog.revoke(inShop.handle)).toBe(true);
    expect(await opens(shop, inShop.cookie)).toBe(false);
  });
}

describe('several apps on one SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-isolation-'));
  const path = join(dir, 'sessions.db');
  const open: SessionStore[] = [];
  afterAll(async () => {
    for (const s of open) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const make = (tablePrefix: string) => {
    const s = sqliteStore({ path, tablePrefix, sweepIntervalMs: 0 });
    open.push(s);
    return s;
  };
  isolationCases(() => ({ a: make('shop_'), b: make('blog_'), shared: make('shop_') }));
});

describe.skipIf(!runRedis)('several apps on one Redis', () => {
  let client: Redis;
  const prefixes = [`tessera-test:${runId}:shop:`, `tessera-test:${runId}:blog:`];
  beforeAll(async () => {
    client = (await connectRedis(REDIS_URL)) as Redis;
  });
  afterAll(async () => {
    if (!client) return;
    for (const p of prefixes) await deletePrefix(client, p);
    client.disconnect();
  });
  isolationCases(
    () => ({
      a: redisStore({ client, prefix: prefixes[0]! }),
      b: redisStore({ client, prefix: prefixes[1]! }),
      shared: redisStore({ client, prefix: prefixes[0]! }),
    }),
    { listsCross: false },
  );
});

describe.skipIf(!runPostgres)('several apps on one PostgreSQL database', () => {
  let pool: pg.Pool;
  const schemas = [`tessera_test_${runId}_shop`, `tessera_test_${runId}_blog`];
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  });
  afterAll(async () => {
    if (!pool) return;
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pool.end();
  });
  isolationCases(() => ({
    a: postgresStore({ pool, schema: schemas[0]! }),
    b: postgresStore({ pool, schema: schemas[1]! }),
    shared: postgresStore({ pool, schema: schemas[0]! }),
  }));
});
