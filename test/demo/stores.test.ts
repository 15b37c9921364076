/**
 * The demo on every store `TESSERA_STORE` names: memory, Redis and PostgreSQL (SQLite, the
 * default, runs in the other files). On the shared stores, two instances with the same
 * `TESSERA_KEYS` (and separate folders, so no shared key file) serve one user's session, in the
 * suite's own key prefix / schema (`TESSERA_STORE_PREFIX` / `TESSERA_STORE_SCHEMA`), removed at
 * the end.
 * Redis and PostgreSQL suites skip loudly when the service is missing, and fail instead with
 * `CI_REQUIRE_SERVICES=1`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateKey } from 'tessera-session';
import { afterAll, describe, expect, it } from 'vitest';
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
import { Client, COOKIE, call, type DemoProcess, signedIn, startDemo } from './helpers.js';

const running: DemoProcess[] = [];
const stopAll = () => Promise.all(running.splice(0).map((d) => d.stop()));
afterAll(stopAll);

async function start(env: Record<string, string>): Promise<DemoProcess> {
  const d = await startDemo(env);
  running.push(d);
  return d;
}

/** Whether a store subpath has been built (the PostgreSQL store may land after the demo). */
function built(subpath: string): boolean {
  const file = fileURLToPath(new URL(`../../dist/stores/${subpath}/index.js`, import.meta.url));
  if (existsSync(file)) return true;
  if (process.env.CI_REQUIRE_SERVICES === '1') throw new Error(`${file} is missing`);
  const line = '!'.repeat(78);
  console.warn(
    `\n${line}\n!!! SKIPPING the demo on ${subpath}: ${file} is not built.\n!!! These tests did NOT run.\n${line}\n`,
  );
  return false;
}

/** One user's journey across two instances `a` and `b` sharing a store. */
async function journey(a: string, b: string, user: string): Promise<void> {
  const c = await signedIn(a, user, undefined, `journey-${Date.now()}`);
  const there = new Client(b, c.userAgent);
  there.jar.set(COOKIE, c.session!);
  there.token = c.token;
  const me = await there.get('/api/me');
  expect(me.status).toBe(200);
  expect(me.json<{ user: string }>().user).toBe(user);
  expect((await c.send('PATCH', '/api/prefs', { json: { store: 'yes' } })).status).toBe(200);
  expect((await there.get('/api/prefs')).json()).toEqual({ store: 'yes' });
  const mine = (await there.get('/api/sessions'))
    .json<{ handle: string; current: boolean; userAgent: string }[]>()
    .filter((s) => s.current);
  expect(mine).toHaveLength(1);
  expect(mine[0]!.userAgent).toBe(c.userAgent);
  // Re-auth on b rotates the token; a serves the old one read-only within the grace.
  const old = c.session!;
  const r = await there.post('/api/reauth', { json: { password: `${user}-password` } });
  expect(r.status).toBe(204);
  const rotated = there.session!;
  expect(rotated).not.toBe(old);
  const grace = await call(a, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${old}` } });
  expect(grace.status).toBe(200);
  expect(grace.cookies).toEqual([]);
  // Logout on b ends the session on a.
  const out = await there.post('/logout', { form: { _csrf: there.token! }, csrf: false });
  expect(out.status).toBe(303);
  const ended = await call(a, 'GET', '/api/me', { headers: { cookie: `${COOKIE}=${rotated}` } });
  expect(ended.status).toBe(401);
  const again = await signedIn(b, user);
  const types = (await again.get('/api/events')).json<{ type: string }[]>().map((e) => e.type);
  expect(types.slice(0, 4)).toEqual(['login', 'logout', 'reauth', 'login']);
}

describe('demo on the memory store', () => {
  it('runs the whole journey', async () => {
    const d = await start({ TESSERA_STORE: 'memory' });
    await journey(d.url, d.url, 'alice');
  });
});

const redisOk = requireService(`Redis at ${REDIS_URL}`, await redisAvailable());
describe.skipIf(!redisOk)('demo on Redis', () => {
  const ns = testNamespace('demoredis');
  afterAll(async () => {
    await stopAll();
    await clearNamespace(ns);
  });

  it('serves one session from two instances, under TESSERA_STORE_PREFIX', async () => {
    const keys = JSON.stringify([generateKey()]);
    const env = { TESSERA_STORE: REDIS_URL, TESSERA_KEYS: keys, TESSERA_STORE_PREFIX: ns.prefix };
    const [a, b] = await Promise.all([start(env), start(env)]);
    await journey(a.url, b.url, 'bob');
    // The demo's users (kept without a TTL) are in the suite's prefix, not in the default one.
    const redis = (await sharedRedis())!;
    try {
      const mine = await redisKeysUnder(redis, ns.prefix);
      expect(mine).toEqual(
        expect.arrayContaining([`${ns.prefix}k:demo:user:alice`, `${ns.prefix}k:demo:user:bob`]),
      );
    } finally {
      redis.disconnect();
    }
  });
});

const postgresOk =
  requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable()) && built('postgres');
describe.skipIf(!postgresOk)('demo on PostgreSQL', () => {
  const ns = testNamespace('demopg');
  afterAll(async () => {
    await stopAll();
    await clearNamespace(ns);
  });

  it('serves one session from two instances, in TESSERA_STORE_SCHEMA', async () => {
    const keys = JSON.stringify([generateKey()]);
    const env = {
      TESSERA_STORE: DATABASE_URL,
      TESSERA_KEYS: keys,
      TESSERA_STORE_SCHEMA: ns.schema,
    };
    const [a, b] = await Promise.all([start(env), start(env)]);
    await journey(a.url, b.url, 'alice');
    // The demo's tables, users included, are in the suite's schema, not in the default one.
    const db = (await sharedPostgres())!;
    try {
      expect(await schemasStartingWith(db, ns.schema)).toEqual([ns.schema]);
      const users = await db.query(
        `SELECT key FROM "${ns.schema}".kv WHERE key LIKE 'demo:user:%'`,
      );
      expect(users.rows.map((r) => r.key).sort()).toEqual(['demo:user:alice', 'demo:user:bob']);
    } finally {
      await db.end();
    }
  });
});
