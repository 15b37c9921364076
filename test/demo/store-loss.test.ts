/**
 * The demo when its store loses its data: a Redis started by this test, without persistence,
 * killed and started again empty while the demo keeps running. The demo's users must still be
 * able to sign in — with the password they last set, not the first one — without a restart of
 * the demo. The shared Redis is never touched. Skips loudly without the redis-server binary
 * (fails instead with `CI_REQUIRE_SERVICES=1`).
 */
import { generateKey } from 'tessera-session';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REDIS_SERVER,
  type RedisServer,
  redisBinariesAvailable,
  startRedisServer,
} from '../stores/fixtures/redis-servers.js';
import { requireService } from '../support/services.js';
import { Client, COOKIE, call, type DemoProcess, startDemo, waitFor } from './helpers.js';

const ok = requireService(`redis-server (${REDIS_SERVER})`, redisBinariesAvailable());

describe.skipIf(!ok)('demo after its Redis restarts empty', () => {
  let server: RedisServer;
  let demo: DemoProcess;

  beforeAll(async () => {
    server = await startRedisServer();
    demo = await startDemo({
      TESSERA_STORE: server.url,
      TESSERA_KEYS: JSON.stringify([generateKey()]),
    });
  });

  afterAll(async () => {
    await demo?.stop();
    await server?.stop();
  });

  /** Sign in, waiting out the 503s of a store that is still coming back; the first other status. */
  async function login(user: string, password: string): Promise<number> {
    let status = 0;
    await waitFor(`an answer other than 503 to a login as ${user}`, async () => {
      status = (await new Client(demo.url).login(user, password)).status;
      return status !== 503;
    });
    return status;
  }

  it('signs users in again, with the password they last set, without restarting the demo', async () => {
    const alice = new Client(demo.url);
    expect((await alice.login('alice', 'alice-password')).status).toBe(303);
    const bob = new Client(demo.url);
    expect((await bob.login('bob', 'bob-password')).status).toBe(303);
    const changed = 'a changed password';
    const r = await bob.post('/api/password', { json: { current: 'bob-password', next: changed } });
    expect(r.status).toBe(204);

    await server.kill();
    await server.restart(); // no persistence: the store is empty now
    const pid = demo.child.pid;

    // The sessions were in the store, so they are gone: the demo says so, it does not crash.
    await waitFor('the old session to be answered 401', async () => {
      const me = await call(demo.url, 'GET', '/api/me', {
        headers: { cookie: `${COOKIE}=${alice.session!}` },
      });
      return me.status === 401;
    });
    expect(await login('alice', 'alice-password')).toBe(303);
    expect(await login('bob', changed)).toBe(303);
    expect(await login('bob', 'bob-password')).toBe(401);
    expect(demo.output()).toMatch(/"user":"alice".*the store had lost this demo user/);
    expect(demo.child.pid).toBe(pid);
    expect(demo.child.exitCode).toBeNull();
  });
});
