/**
 * The Redis store's round trips per request, counted by the server: through the engine, a read
 * is one `GET`, a hit one `GET` and one script, a new visitor one script (issue 14's targets;
 * docs/stores.md "What a request costs"). A `MONITOR` connection watches what the store's own
 * connection sends; a marker (`ECHO`) after each request says when all of it has arrived.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearNamespace, testNamespace } from '../../../test/support/namespace.js';
import { REDIS_URL, redisAvailable, requireService } from '../../../test/support/services.js';
import type { Session, SessionManager } from '../../core/engine.js';
import { generateKey } from '../../core/keys.js';
import { createSessions } from '../../core/server/manager.js';
import { connectRedis, redisStore } from './index.js';
import * as scripts from './scripts.js';

const run = requireService(`Redis at ${REDIS_URL}`, await redisAvailable(REDIS_URL));
const ns = testNamespace('redistrips');

/** What the server received from one connection, in order, from MONITOR. */
class Watch {
  readonly seen: string[][] = [];
  #source = '';
  #monitor: Redis | null = null;

  /** Watch `client`'s connection on the server. */
  async start(monitorClient: Redis, client: Redis): Promise<void> {
    // The connection's address as the server sees it (what MONITOR names it by).
    const info = String(await client.call('CLIENT', 'INFO'));
    this.#source = /\baddr=(\S+)/.exec(info)?.[1] ?? '';
    if (this.#source === '') throw new Error(`no addr in CLIENT INFO: ${info}`);
    this.#monitor = await monitorClient.monitor();
    this.#monitor.on('monitor', (_time: string, args: string[], source: string) => {
      // `source` is the client's address, or `lua` for what a script calls.
      if (source === this.#source) this.seen.push(args);
    });
  }

  /**
   * What the watched connection sent while `work` ran: everything before a marker it sends
   * afterwards (MONITOR reports one connection's commands in the order the server ran them).
   */
  async during(client: Redis, work: () => Promise<unknown>): Promise<string[]> {
    const before = await this.#mark(client);
    await work();
    const after = await this.#mark(client);
    return this.seen.slice(before + 1, after).map((args) => String(args[0]).toLowerCase());
  }

  /** Send a marker and wait (bounded) until MONITOR shows it; its index in `seen`. */
  async #mark(client: Redis): Promise<number> {
    const marker = `tessera-marker-${randomBytes(6).toString('hex')}`;
    await client.echo(marker);
    const deadline = Date.now() + 5000;
    for (;;) {
      const at = this.seen.findIndex((a) => a[0]?.toLowerCase() === 'echo' && a[1] === marker);
      if (at >= 0) return at;
      if (Date.now() > deadline) throw new Error('MONITOR did not show the marker within 5 s');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  stop(): void {
    this.#monitor?.disconnect();
  }
}

describe.skipIf(!run)('redisStore round trips through the engine', () => {
  let client: Redis;
  let monitorClient: Redis;
  let sessions: SessionManager;
  const watch = new Watch();

  beforeAll(async () => {
    client = (await connectRedis(REDIS_URL)) as Redis;
    monitorClient = (await connectRedis(REDIS_URL)) as Redis;
    // Every script in the server's cache, so that no EVALSHA meets NOSCRIPT (and re-sends).
    for (const s of Object.values(scripts)) await client.script('LOAD', s.lua);
    await watch.start(monitorClient, client);
    sessions = createSessions({
      store: redisStore({ client, prefix: ns.prefix }),
      keys: [generateKey('k1')],
    });
    // The engine samples the store's clock (TIME) at construction and then every 30 s, in the
    // background: let the first sample arrive before counting.
    await watch.during(client, async () => {
      const deadline = Date.now() + 5000;
      while (!watch.seen.some((a) => a[0]?.toLowerCase() === 'time')) {
        if (Date.now() > deadline) throw new Error('the engine never sampled the store clock');
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });

  afterAll(async () => {
    watch.stop();
    await sessions?.close();
    client?.disconnect();
    monitorClient?.disconnect();
    await clearNamespace(ns);
  });

  /** One request through the engine; the commands it sent, and its cookie. */
  async function request(
    cookie: string | undefined,
    fn: (s: Session) => unknown,
  ): Promise<{ sent: string[]; cookie: string }> {
    let next = cookie ?? '';
    const sent = await watch.during(client, async () => {
      const s = await sessions.load({
        method: 'GET',
        ...(cookie === undefined ? {} : { cookie }),
        ip: '127.0.0.1',
        userAgent: 'round-trips/1',
      });
      await fn(s);
      const { setCookie } = await sessions.commit(s);
      if (setCookie) next = setCookie.split(';', 1)[0]!;
    });
    return { sent, cookie: next };
  }

  it('stores a new visitor with one script', async () => {
    const created = await request(undefined, (s) => {
      s.set('userId', 'u1');
      s.set('count', 0);
      s.set('prefs', { theme: 'dark' });
    });
    expect(created.sent).toEqual(['evalsha']);
    expect(created.cookie).not.toBe('');
  });

  it('reads a session with one GET, and hits it with one GET and one script', async () => {
    const { cookie } = await request(undefined, (s) => s.set('count', 0));
    for (let i = 1; i <= 3; i++) {
      const read = await request(cookie, (s) => s.get('count'));
      expect(read.sent).toEqual(['get']);
      const hit = await request(cookie, (s) => s.update('count', (c) => (c as number) + 1));
      expect(hit.sent).toEqual(['get', 'evalsha']);
    }
    const last = await request(cookie, (s) => expect(s.get('count')).toBe(3));
    expect(last.sent).toEqual(['get']);
  });

  it("does the same for a signed-in session, whose user's index the script keeps", async () => {
    const userId = `user-${randomBytes(4).toString('hex')}`;
    // A new visitor signing in within one request: one script (record, family, index, checks).
    // authenticate() writes at once, with the data set before it.
    const signedIn = await request(undefined, async (s) => {
      s.set('count', 0);
      await s.authenticate(userId);
    });
    expect(signedIn.sent).toEqual(['evalsha']);
    const read = await request(signedIn.cookie, (s) => expect(s.userId).toBe(userId));
    expect(read.sent).toEqual(['get']);
    const hit = await request(signedIn.cookie, (s) => s.update('count', (c) => (c as number) + 1));
    expect(hit.sent).toEqual(['get', 'evalsha']);
    expect((await sessions.list(userId)).length).toBe(1);
  });
});
