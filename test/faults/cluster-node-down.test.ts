/**
 * One master of a Redis Cluster dies under load. Run against the test's own 3-master Cluster
 * (no replicas, `cluster-require-full-coverage no`, a 1 s node timeout), through the engine:
 * visitors' sessions holding data and signed-in sessions, spread over every master, each reading,
 * writing, touching, rotating and signing in continuously while one master is SIGKILLed.
 *
 * - every session whose slot lives on a surviving master sees no error at all, before, during
 *   and after the death (and for 2 s after the Cluster has flagged the master as failed);
 * - the sessions on the dead master get `ERR_STORE_UNAVAILABLE` (503), never anything else;
 * - with `cluster-require-full-coverage yes` (the redis-server default) the survivors refuse
 *   every command once the master is flagged failed: the setting is what keeps them serving.
 *
 * A session is on the master that owns its record's slot; a visitor who signs in moves to the
 * slot of the user's sessions, so live visitors sign in as users whose slot is live too.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
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
  outcomes: { op: Op; port: number; outcome: string; afterFail: boolean }[];
}

const run = redisBinariesAvailable();

/** What one run measured. */
interface Outcome {
  /** Requests of sessions on the surviving masters that did not succeed. */
  liveFailures: { op: Op; outcome: string; afterFail: boolean }[];
  liveRequests: Record<Op, number>;
  /** Outcomes of requests made while the session was on the dead master. */
  deadOutcomes: string[];
  report: string;
}

/**
 * Start a 3-master Cluster, spread visitors and signed-in sessions over it, run them all, kill
 * one master, keep running until the survivors have flagged it failed and 2 s more, and report.
 */
async function scenario(requireFullCoverage: boolean): Promise<Outcome> {
  const prefix = `tessera-down:${randomBytes(6).toString('base64url')}:`;
  const cluster = await startRedisCluster(3, { nodeTimeoutMs: 1000, requireFullCoverage });
  const client = (await connectRedis(cluster.url)) as Cluster;
  try {
    const owner: number[] = [];
    const ranges = (await client.cluster('SLOTS')) as unknown as [
      number,
      number,
      [string, number],
    ][];
    for (const [from, to, [, port]] of ranges) for (let i = from; i <= to; i++) owner[i] = port;
    const sessions = createSessions({
      store: redisStore({ client, prefix, commandTimeoutMs: 1000 }),
      keys,
      rotationGrace: 0,
      sessionLimit: { max: 50, policy: 'evict-oldest' },
    });
    const portOf = async (key: string) => owner[Number(await client.cluster('KEYSLOT', key))]!;
    return await load(cluster, client, sessions, prefix, portOf);
  } finally {
    await deletePrefix(client, prefix).catch(() => {});
    client.disconnect();
    await cluster.stop();
  }
}

function cookieOf(setCookie: string | null, was: string): string {
  if (setCookie === null) return was;
  return setCookie.split(';')[0]!;
}

async function load(
  cluster: RedisCluster,
  client: Cluster,
  sessions: SessionManager,
  prefix: string,
  portOf: (key: string) => Promise<number>,
): Promise<Outcome> {
  /** The port that owns the record the cookie's token names. */
  const recordPort = async (cookie: string): Promise<number> => {
    const parsed = verifyToken(ring, cookie.slice(cookie.indexOf('=') + 1));
    if (typeof parsed === 'string') throw new Error(`not a token: ${parsed}`);
    return portOf(new Keys(prefix).record(parsed.id));
  };
  /** A user whose sessions live on `port`, or anywhere when `port` is undefined. */
  const userOn = async (port: number | undefined): Promise<{ user: string; port: number }> => {
    for (;;) {
      const user = `user-${randomBytes(6).toString('hex')}`;
      const p = await portOf(`{${slotTagFor(ring, user)}}`);
      if (port === undefined || p === port) return { user, port: p };
    }
  };

  /** One request through the engine; its outcome: 'ok', an error code, or 'lost' (no session). */
  const step = async (b: Browser, op: Op, i: number): Promise<string> => {
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
  };

  let failedAt = Number.POSITIVE_INFINITY;
  /** Every request a browser makes, in turn, until `stop()` says so. */
  const drive = async (b: Browser, stop: () => boolean): Promise<void> => {
    for (let i = 0; !stop(); i++) {
      const ops: Op[] = ['read', 'write', 'touch'];
      if (i % 4 === 3) ops.push('rotate');
      if (!b.signedIn && i === 2) ops.push('sign-in');
      else if (b.signedIn && i % 5 === 4) ops.push('re-auth');
      for (const op of ops) {
        const port = b.port;
        const outcome = await step(b, op, i);
        b.outcomes.push({ op, port, outcome, afterFail: Date.now() >= failedAt });
        // A request that failed at once is not retried in a tight loop.
        if (outcome !== 'ok') await new Promise((r) => setTimeout(r, 20));
      }
      b.cycles++;
    }
  };

  const [victim] = cluster.ports as [number];
  const browsers: Browser[] = [];
  const browser = (b: Omit<Browser, 'cycles' | 'outcomes'>): Browser => ({
    ...b,
    cycles: 0,
    outcomes: [],
  });
  // Visitors holding data, until every master has PER_MASTER of them.
  const visitors = new Map<number, number>(cluster.ports.map((p) => [p, 0]));
  for (let n = 0; [...visitors.values()].some((c) => c < PER_MASTER); n++) {
    if (n > 500) throw new Error('visitors do not spread over the masters');
    const s = await sessions.load({ method: 'POST' });
    s.set('cart', ['book']);
    const cookie = cookieOf((await sessions.commit(s)).setCookie, '');
    const port = await recordPort(cookie);
    if (visitors.get(port)! >= PER_MASTER) continue;
    visitors.set(port, visitors.get(port)! + 1);
    // A visitor of a live master signs in as a user of a live master.
    const u = await userOn(port === victim ? undefined : port);
    browsers.push(
      browser({ kind: 'visitor', cookie, user: u.user, signedIn: false, port, userPort: u.port }),
    );
  }
  // Signed-in sessions, PER_MASTER on every master.
  for (const port of cluster.ports) {
    for (let i = 0; i < PER_MASTER; i++) {
      const { user } = await userOn(port);
      const s = await sessions.load({ method: 'POST' });
      s.set('cart', ['pen']);
      await s.authenticate(user);
      const cookie = cookieOf((await sessions.commit(s)).setCookie, '');
      if ((await recordPort(cookie)) !== port) throw new Error('a session is not in its user slot');
      browsers.push(
        browser({ kind: 'signed-in', cookie, user, signedIn: true, port, userPort: port }),
      );
    }
  }

  let stopped = false;
  const running = Promise.all(browsers.map((b) => drive(b, () => stopped)));
  const live = browsers.filter((b) => b.port !== victim && b.userPort !== victim);
  const cyclesOfLive = () => Math.min(...live.map((b) => b.cycles));
  try {
    await waitFor('every session to run under load', () => cyclesOfLive() >= 2, 30_000);
    await cluster.kill(victim);
    // The survivors flag the dead master as failed.
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
    failedAt = Date.now();
    const after = cyclesOfLive();
    await waitFor(
      'every live session to run 3 more cycles, for 2 s at least',
      () => cyclesOfLive() >= after + 3 && Date.now() >= failedAt + 2_000,
      30_000,
    );
  } finally {
    stopped = true;
    await running;
  }

  const tally = (bs: Browser[]) => {
    const t: Record<string, Record<string, number>> = {};
    for (const o of bs.flatMap((b) => b.outcomes)) {
      t[o.op] ??= {};
      t[o.op]![o.outcome] = (t[o.op]![o.outcome] ?? 0) + 1;
    }
    return t;
  };
  const liveOutcomes = live.flatMap((b) => b.outcomes);
  const liveRequests = {} as Record<Op, number>;
  for (const o of liveOutcomes) liveRequests[o.op] = (liveRequests[o.op] ?? 0) + 1;
  const report = {
    liveSessions: live.length,
    liveSessionsWithErrors: live.filter((b) => b.outcomes.some((o) => o.outcome !== 'ok')).length,
    live: tally(live),
    all: tally(browsers),
  };
  return {
    liveFailures: liveOutcomes.filter((o) => o.outcome !== 'ok'),
    liveRequests,
    deadOutcomes: browsers
      .flatMap((b) => b.outcomes)
      .filter((o) => o.port === victim)
      .map((o) => o.outcome),
    report: JSON.stringify(report),
  };
}

describe.skipIf(!run)('a Redis Cluster with one master killed under load', () => {
  it('serves every session of the surviving masters without one error, and 503s those of the dead one', async () => {
    const r = await scenario(false);
    console.info('cluster-node-down (cluster-require-full-coverage no)', r.report);
    // Every request of a session on a surviving master succeeded: reads, data writes, touches,
    // rotations, sign-ins and re-authentications.
    expect(r.liveFailures, r.report).toEqual([]);
    for (const op of ['read', 'touch', 'write', 'rotate', 'sign-in', 're-auth'] as const) {
      expect(r.liveRequests[op], op).toBeGreaterThan(0);
    }
    // The sessions on the dead master failed, with 503 only.
    const failed = r.deadOutcomes.filter((o) => o !== 'ok');
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed)).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
  }, 120_000);

  it('stops every master once the dead one is flagged failed, with full coverage required', async () => {
    const r = await scenario(true);
    console.info('cluster-node-down (cluster-require-full-coverage yes)', r.report);
    expect(r.liveFailures.filter((o) => o.afterFail).length, r.report).toBeGreaterThan(0);
    expect(new Set(r.liveFailures.map((o) => o.outcome))).toEqual(
      new Set(['ERR_STORE_UNAVAILABLE']),
    );
  }, 120_000);
});
