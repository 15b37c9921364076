/**
 * One master of a Redis Cluster dies under load. Run against the test's own 3-master Cluster
 * (no replicas, `cluster-require-full-coverage no`, a 1 s node timeout), through the engine:
 * visitors' sessions holding data and signed-in sessions, spread over every master, each reading,
 * writing, touching, rotating and signing in continuously while one master is SIGKILLed.
 *
 * - every session whose slot lives on a surviving master sees no error at all, before, during
 *   and after the death (and after the Cluster has flagged the master as failed);
 * - the sessions on the dead master get `ERR_STORE_UNAVAILABLE` (503), never anything else.
 *
 * A session is on the master that owns its record's slot; a visitor who signs in moves to the
 * slot of the user's sessions, so live visitors sign in as users whose slot is live too.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import { KeyRing } from '../../src/core/keys.js';
import { slotTagFor, verifyToken } from '../../src/core/token.js';
import { createSessions, generateKey, type SessionManager } from '../../src/index.js';
import { Keys } from '../../src/stores/redis/codec.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import {
  type RedisCluster,
  redisBinariesAvailable,
  startRedisCluster,
  waitFor,
} from '../stores/fixtures/redis-servers.js';
import { deletePrefix } from '../stores/fixtures/redis-worker.js';

const prefix = `tessera-down:${randomBytes(6).toString('base64url')}:`;
const keys = [generateKey('k1')];
const ring = new KeyRing(keys);
/** Sessions of each kind (visitor, signed-in) wanted on every master. */
const PER_MASTER = 6;

type Op = 'read' | 'touch' | 'write' | 'rotate' | 'sign-in' | 're-auth';

/** One browser: its cookie, and where its session lives. */
interface Browser {
  kind: 'visitor' | 'signed-in';
  cookie: string;
  /** The user it is or will be signed in as. */
  user: string;
  signedIn: boolean;
  /** The port of the master that owns its session's slot (after a sign-in: the user's). */
  port: number;
  /** The port of the master that owns the user's slot. */
  userPort: number;
  cycles: number;
  outcomes: { op: Op; port: number; outcome: string }[];
}

const run = redisBinariesAvailable();

describe.skipIf(!run)('a Redis Cluster with one master killed under load', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  let sessions: SessionManager;
  /** Slot → port of its master. */
  const owner: number[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster(3, { nodeTimeoutMs: 1000, requireFullCoverage: false });
    client = (await connectRedis(cluster.url)) as Cluster;
    const ranges = (await client.cluster('SLOTS')) as unknown as [
      number,
      number,
      [string, number],
    ][];
    for (const [from, to, [, port]] of ranges) for (let i = from; i <= to; i++) owner[i] = port;
    const store = redisStore({ client, prefix, commandTimeoutMs: 1000 });
    sessions = createSessions({
      store,
      keys,
      rotationGrace: 0,
      sessionLimit: { max: 50, policy: 'evict-oldest' },
    });
  }, 60_000);

  afterAll(async () => {
    if (client) {
      await deletePrefix(client, prefix).catch(() => {});
      client.disconnect();
    }
    await cluster?.stop();
  });

  /** The port of the master owning the slot of a key (or of a bare hash tag). */
  async function portOf(key: string): Promise<number> {
    return owner[Number(await client.cluster('KEYSLOT', key))]!;
  }

  /** The port that owns the record the cookie's token names. */
  async function recordPort(cookie: string): Promise<number> {
    const parsed = verifyToken(ring, cookie.slice(cookie.indexOf('=') + 1));
    if (typeof parsed === 'string') throw new Error(`not a token: ${parsed}`);
    return portOf(new Keys(prefix).record(parsed.id));
  }

  /** A user whose sessions live on `port`, or anywhere when `port` is undefined. */
  async function userOn(port: number | undefined): Promise<{ user: string; port: number }> {
    for (;;) {
      const user = `user-${randomBytes(6).toString('hex')}`;
      const p = await portOf(`{${slotTagFor(ring, user)}}`);
      if (port === undefined || p === port) return { user, port: p };
    }
  }

  function cookieOf(setCookie: string | null, was: string): string {
    if (setCookie === null) return was;
    return setCookie.split(';')[0]!;
  }

  /** One request through the engine; its outcome: 'ok', an error code, or 'lost' (no session). */
  async function step(b: Browser, op: Op, i: number): Promise<string> {
    try {
      const ip = op === 'touch' ? `198.51.100.${i % 250}` : '203.0.113.1';
      const s = await sessions.load({
        method: op === 'read' || op === 'touch' ? 'GET' : 'POST',
        cookie: b.cookie,
        ip,
      });
      if (s.state !== 'active') return 'lost';
      if (op === 'write') s.set('n', i);
      if (op === 'rotate') await s.regenerate();
      if (op === 'sign-in' || op === 're-auth') await s.authenticate(b.user);
      const { setCookie } = await sessions.commit(s);
      b.cookie = cookieOf(setCookie, b.cookie);
      if (setCookie !== null && !setCookie.includes('=s.')) return 'lost';
      if (op === 'sign-in') {
        b.signedIn = true;
        b.port = b.userPort;
      }
      return 'ok';
    } catch (e) {
      return isTesseraError(e) ? e.code : String(e);
    }
  }

  /** Every request a browser makes, in turn, until `stop()` says so. */
  async function drive(b: Browser, stop: () => boolean): Promise<void> {
    for (let i = 0; !stop(); i++) {
      const ops: Op[] = ['read', 'write', 'touch'];
      if (i % 4 === 3) ops.push('rotate');
      if (!b.signedIn && i === 2) ops.push('sign-in');
      else if (b.signedIn && i % 5 === 4) ops.push('re-auth');
      for (const op of ops) {
        const port = b.port;
        const outcome = await step(b, op, i);
        b.outcomes.push({ op, port, outcome });
        // A request that failed at once is not retried in a tight loop.
        if (outcome !== 'ok') await new Promise((r) => setTimeout(r, 20));
      }
      b.cycles++;
    }
  }

  it('serves every session of the surviving masters without one error, and 503s those of the dead one', async () => {
    const [victim] = cluster.ports as [number];
    const browsers: Browser[] = [];
    // Visitors holding data, until every master has PER_MASTER of them.
    const visitors = new Map<number, number>(cluster.ports.map((p) => [p, 0]));
    for (let n = 0; [...visitors.values()].some((c) => c < PER_MASTER); n++) {
      expect(n).toBeLessThan(500);
      const s = await sessions.load({ method: 'POST' });
      s.set('cart', ['book']);
      const cookie = cookieOf((await sessions.commit(s)).setCookie, '');
      const port = await recordPort(cookie);
      if (visitors.get(port)! >= PER_MASTER) continue;
      visitors.set(port, visitors.get(port)! + 1);
      // A visitor of a live master signs in as a user of a live master.
      const u = await userOn(port === victim ? undefined : port);
      browsers.push({
        kind: 'visitor',
        cookie,
        user: u.user,
        signedIn: false,
        port,
        userPort: u.port,
        cycles: 0,
        outcomes: [],
      });
    }
    // Signed-in sessions, PER_MASTER on every master.
    for (const port of cluster.ports) {
      for (let i = 0; i < PER_MASTER; i++) {
        const { user } = await userOn(port);
        const s = await sessions.load({ method: 'POST' });
        s.set('cart', ['pen']);
        await s.authenticate(user);
        const cookie = cookieOf((await sessions.commit(s)).setCookie, '');
        expect(await recordPort(cookie)).toBe(port);
        browsers.push({
          kind: 'signed-in',
          cookie,
          user,
          signedIn: true,
          port,
          userPort: port,
          cycles: 0,
          outcomes: [],
        });
      }
    }

    let stopped = false;
    const load = Promise.all(browsers.map((b) => drive(b, () => stopped)));
    const live = browsers.filter((b) => b.port !== victim && b.userPort !== victim);
    const cyclesOfLive = () => Math.min(...live.map((b) => b.cycles));
    try {
      await waitFor('every session to run under load', () => cyclesOfLive() >= 2, 30_000);
      await cluster.kill(victim);
      // The survivors flag the dead master as failed (a Cluster with full coverage required
      // would now refuse every command on every master).
      const survivor = cluster.ports.find((p) => p !== victim)!;
      const node = client.nodes('master').find((n) => n.options.port === survivor)!;
      await waitFor(
        'the survivors to flag the dead master as failed',
        async () => {
          const nodes = String(await node.cluster('NODES'));
          return nodes.split('\n').some((l) => l.includes(`:${victim}@`) && /\bfail\b/.test(l));
        },
        30_000,
        100,
      );
      const after = cyclesOfLive();
      await waitFor('every live session to run 3 more cycles', () => cyclesOfLive() >= after + 3);
    } finally {
      stopped = true;
      await load;
    }

    const tally = (bs: Browser[]) => {
      const t: Record<string, Record<string, number>> = {};
      for (const o of bs.flatMap((b) => b.outcomes)) {
        t[o.op] ??= {};
        t[o.op]![o.outcome] = (t[o.op]![o.outcome] ?? 0) + 1;
      }
      return t;
    };
    const onLive = live.flatMap((b) => b.outcomes).filter((o) => o.port !== victim);
    const onDead = browsers.flatMap((b) => b.outcomes).filter((o) => o.port === victim);
    const report = { live: tally(live), all: tally(browsers) };
    // Every request of a session on a surviving master succeeded: reads, data writes, touches,
    // rotations, sign-ins and re-authentications.
    expect(
      onLive.filter((o) => o.outcome !== 'ok'),
      JSON.stringify(report),
    ).toEqual([]);
    for (const op of ['read', 'touch', 'write', 'rotate', 'sign-in', 're-auth'] as const) {
      expect(onLive.filter((o) => o.op === op).length, op).toBeGreaterThan(0);
    }
    // The sessions on the dead master failed, with 503 only.
    const failed = onDead.filter((o) => o.outcome !== 'ok');
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed.map((o) => o.outcome))).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
    console.info('cluster-node-down', JSON.stringify(report));
  }, 120_000);
});
