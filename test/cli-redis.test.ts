/**
 * The CLI on Redis: a user's sessions are under a slot tag keyed by the app's key ring, so the
 * commands that name a user take the ring from TESSERA_KEYS, and say so without it. Runs the
 * built CLI (`npm run build` first) against the test's own redis-server.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessions, generateKey } from '../src/index.js';
import { connectRedis, redisStore } from '../src/stores/redis/index.js';
import {
  type RedisServer,
  redisBinariesAvailable,
  startRedisServer,
} from './stores/fixtures/redis-servers.js';

const cli = new URL('../dist/cli/index.js', import.meta.url).pathname;
const keys = [generateKey('k1')];

function run(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TESSERA_STORE: '', TESSERA_KEYS: '', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!redisBinariesAvailable())('tessera CLI on Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
    const client = await connectRedis(server.url);
    // The CLI opens the store with the default prefix, on this test's own server.
    const sessions = createSessions({ store: redisStore({ client }), keys });
    for (const user of ['alice', 'alice', 'bob']) {
      const s = await sessions.load({ method: 'POST' });
      await s.authenticate(user);
      await sessions.commit(s);
    }
    client.disconnect();
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("lists and revokes a user's sessions with the keys from TESSERA_KEYS, and says it needs them without", () => {
    const store = ['--store', server.url, '--json'];
    const without = run({}, 'sessions', 'revoke-user', 'alice', ...store);
    expect(without.code).toBe(2);
    expect(without.err).toMatch(/TESSERA_KEYS/);
    expect(run({}, 'sessions', 'list', '--user', 'alice', ...store).code).toBe(2);
    // Commands that name no user need no keys.
    expect(JSON.parse(run({}, 'stats', ...store).out)).toMatchObject({ live: 3, users: 2 });

    const env = { TESSERA_KEYS: JSON.stringify(keys) };
    expect(JSON.parse(run(env, 'sessions', 'list', '--user', 'alice', ...store).out)).toHaveLength(
      2,
    );
    const r = run(env, 'sessions', 'revoke-user', 'alice', ...store);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ userId: 'alice', revoked: 2 });
    expect(JSON.parse(run({}, 'stats', ...store).out)).toMatchObject({ live: 1, users: 1 });
  }, 30_000);
});
