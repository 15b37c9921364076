/**
 * What a 503 means when the store hangs: the write was sent, the call timed out, and the server
 * applies the write when it resumes. Run against the test's own redis-server and PostgreSQL,
 * paused (SIGSTOP) at the moment of the write and resumed (SIGCONT) after the 503 — for Redis
 * only once the client has dropped the hung connection (the writes sent on it still land).
 *
 * - a sign-in (a new session, or a rotation of a visitor's session) answered 503 leaves no
 *   session in the user's list, nor in their count towards the limit, once the store answers;
 * - a data update answered 503 is applied at most once, and the engine does not retry it;
 * - a counter increment answered 503 counts at most once (at-least-once from the caller's side).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import type {
  KeyValueStore,
  SessionRecord,
  SessionStore as SessionsOnly,
} from '../../src/core/types.js';

/** The stores these tests pause implement both contracts (sessions and the key-value space). */
type SessionStore = SessionsOnly & KeyValueStore;

import { createSessions, generateKey } from '../../src/index.js';
import { connectPostgres, postgresStore } from '../../src/stores/postgres/index.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import { redisBinariesAvailable, startRedisServer } from '../stores/fixtures/redis-servers.js';
import { waitFor } from '../support/process.js';
import { postgresBinariesAvailable, startPostgresServer } from './fixtures/postgres-server.js';

/** A store that pauses the server right before the next write while armed, and counts calls. */
interface Pausing {
  store: SessionStore;
  /** Pause the server before the next create, rotate, update or increment. */
  arm(): void;
  calls: Record<string, number>;
  /** Records removed by deletes (as the deletes answered). */
  removed: number;
}

const WRITES = new Set(['create', 'rotate', 'update', 'increment']);

function pausing(inner: SessionStore, pause: () => void): Pausing {
  const p: Pausing = { store: inner, arm: () => {}, calls: {}, removed: 0 };
  let armed = false;
  p.arm = () => {
    armed = true;
  };
  p.store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        p.calls[prop] = (p.calls[prop] ?? 0) + 1;
        if (armed && WRITES.has(prop)) {
          armed = false;
          pause();
        }
        const r = (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (prop === 'deleteByHandle' || prop === 'delete') {
          void r.then(
            (n) => {
              p.removed += typeof n === 'number' ? n : n ? 1 : 0;
            },
            () => {},
          );
        }
        return r;
      };
    },
  });
  return p;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isTesseraError(e) ? e.code : String(e);
  }
}

/** One store on its own paused-able server. */
interface Setup {
  store: SessionStore;
  /** Whether the hang has lasted long enough to resume (for Redis: the connection was dropped). */
  dropped(): boolean;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

async function redisSetup(): Promise<Setup> {
  const server = await startRedisServer();
  // The connection is dropped 500 ms into the hang; the writes already sent still land.
  const client = (await connectRedis(server.url, { socketTimeoutMs: 500 })) as Redis;
  const store = redisStore({ client, prefix: 'nd:', commandTimeoutMs: 300 });
  let drops = 0;
  client.on('close', () => {
    drops++;
  });
  return {
    store,
    dropped: () => drops > 0,
    pause: () => {
      drops = 0;
      server.pause();
    },
    resume: () => server.resume(),
    close: async () => {
      server.resume();
      client.disconnect();
      await server.stop();
    },
  };
}

async function postgresSetup(): Promise<Setup> {
  const server = await startPostgresServer();
  // Resumed while the hung connections are still open (the store's call bound is 300 ms, the
  // client-side query time-out 1.3 s): the statements run and commit when the backends resume.
  // Had the connections been closed first, a backend may notice the lost client and roll back,
  // so whether a write lands is then a matter of chance (measured: 1 to 10 of 10).
  const pool = await connectPostgres(server.url, { statementTimeoutMs: 300 });
  const store = postgresStore({ pool, schema: 'nd', statementTimeoutMs: 300 });
  await store.count(Date.now()); // migrate before any pause
  return {
    store,
    dropped: () => true,
    pause: () => server.pause(),
    resume: () => server.resume(),
    close: async () => {
      server.resume();
      await pool.end();
      await server.stop();
    },
  };
}

const cases = [
  { name: 'Redis', available: redisBinariesAvailable(), setup: redisSetup },
  { name: 'PostgreSQL', available: postgresBinariesAvailable(), setup: postgresSetup },
];

for (const c of cases) {
  describe.skipIf(!c.available)(`a 503 on a paused ${c.name}`, () => {
    let s: Setup;
    let p: Pausing;
    const keys = [generateKey('k1')];
    beforeAll(async () => {
      s = await c.setup();
      p = pausing(s.store, () => s.pause());
      // Warm up: every write once with the server up (Redis loads its scripts on first use; a
      // script sent to a hung server would only ever answer NOSCRIPT and write nothing).
      const sessions = engine();
      const v = await sessions.load({ method: 'POST' });
      v.set('n', 1);
      const cookie = (await sessions.commit(v)).setCookie!.split(';')[0]!;
      const again = await sessions.load({ method: 'POST', cookie });
      again.set('n', 2);
      await sessions.commit(again);
      await again.authenticate('warm-up');
      await sessions.revokeAll('warm-up');
      await s.store.increment('warm-up', Date.now(), Date.now() + 1000);
    }, 60_000);
    afterAll(async () => {
      await s?.close();
    });

    const engine = () =>
      createSessions({ store: p.store, keys, sessionLimit: { max: 10, policy: 'reject' } });

    /** Hold the pause until the setup says so (Redis: the hung connection is dropped), then resume. */
    async function resumeAfterDrop(): Promise<void> {
      await waitFor('the client to drop the hung connection', () => s.dropped(), 10_000, 20);
      s.resume();
    }

    /** Poll until the user has no session, in the engine's list and in the store's count. */
    async function noSessionsOf(user: string, sessions: ReturnType<typeof engine>) {
      await waitFor(
        `no orphaned session of ${user}`,
        async () =>
          (await sessions.list(user)).length === 0 && (await s.store.count(Date.now(), user)) === 0,
        30_000,
        100,
      );
    }

    it('leaves no session of 10 sign-ins answered 503 in the list or the limit once the store answers', async () => {
      const sessions = engine();
      const user = `u${randomBytes(6).toString('hex')}`;
      const removedBefore = p.removed;
      p.arm();
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const v = await sessions.load({ method: 'POST' });
          return codeOf(v.authenticate(user));
        }),
      );
      expect(outcomes).toEqual(Array(10).fill('ERR_STORE_UNAVAILABLE'));
      await resumeAfterDrop();
      await noSessionsOf(user, sessions);
      // The writes did land late (so this exercised the orphans) and the follow-ups removed them.
      expect(p.removed - removedBefore).toBeGreaterThan(0);
      // Nothing counts towards the limit: ten sign-ins fit again.
      for (let i = 0; i < 10; i++) {
        const v = await sessions.load({ method: 'POST' });
        await v.authenticate(user);
      }
      expect(await s.store.count(Date.now(), user)).toBe(10);
      await sessions.revokeAll(user);
    }, 60_000);

    it("leaves no session of a sign-in over a visitor's session answered 503", async () => {
      const sessions = engine();
      const user = `u${randomBytes(6).toString('hex')}`;
      const visitor = await sessions.load({ method: 'POST' });
      visitor.set('cart', ['book']);
      const cookie = (await sessions.commit(visitor)).setCookie!.split(';')[0]!;
      const removedBefore = p.removed;
      const v = await sessions.load({ method: 'POST', cookie });
      p.arm();
      expect(await codeOf(v.authenticate(user))).toBe('ERR_STORE_UNAVAILABLE');
      await resumeAfterDrop();
      await noSessionsOf(user, sessions);
      // A sign-in whose COMMIT was already sent lands when the server resumes, possibly after the
      // check above; the follow-up repeats a delete that found nothing once its settle window
      // (1 s, default) has passed. Judge the outcome after that window, not before it.
      await sleep(2_500);
      await noSessionsOf(user, sessions);
      // Either the rotation landed late and its record was deleted, or it never landed (a
      // multi-statement sign-in transaction on PostgreSQL is never committed once its client gave
      // up), and then the visitor's own session is untouched: never both gone, never an orphan.
      const landed = p.removed - removedBefore > 0;
      if (!landed) {
        const back = await sessions.load({ method: 'GET', cookie });
        expect(back.state).toBe('active');
        expect(back.get('cart')).toEqual(['book']);
      }
    }, 60_000);

    it('applies a data update answered 503 at most once, and the engine does not retry it', async () => {
      const sessions = engine();
      const first = await sessions.load({ method: 'POST' });
      first.set('n', 0);
      const cookie = (await sessions.commit(first)).setCookie!.split(';')[0]!;
      const id = (await s.store.getByHandle(first.handle!))!.id;
      const before = (await s.store.get(id)) as SessionRecord;
      const updatesBefore = p.calls.update ?? 0;
      const v = await sessions.load({ method: 'POST', cookie });
      v.update('n', (n) => (n as number) + 1);
      p.arm();
      expect(await codeOf(sessions.commit(v))).toBe('ERR_STORE_UNAVAILABLE');
      expect((p.calls.update ?? 0) - updatesBefore).toBe(1);
      await resumeAfterDrop();
      // The late update may land a little after the store answers again (on another
      // connection): watch the record until it has, or for 5 s, and check every snapshot.
      const snapshots: { moved: number; n: unknown }[] = [];
      const until = Date.now() + 5_000;
      while (Date.now() < until && snapshots.at(-1)?.moved !== 1) {
        try {
          const rec = (await s.store.get(id)) as SessionRecord;
          snapshots.push({ moved: rec.version - before.version, n: sessions._decode(rec).n });
        } catch {
          // not answering yet
        }
        await sleep(50);
      }
      expect(snapshots.length).toBeGreaterThan(0);
      for (const snap of snapshots) {
        expect(snap.moved).toBeLessThanOrEqual(1);
        expect(snap.n).toBe(snap.moved);
      }
      expect((p.calls.update ?? 0) - updatesBefore).toBe(1);
    }, 60_000);

    it('counts an increment answered 503 at most once', async () => {
      const key = `ctr:${randomBytes(6).toString('hex')}`;
      const t = Date.now();
      p.arm();
      expect(await codeOf(p.store.increment(key, t, t + 60_000))).toBe('ERR_STORE_UNAVAILABLE');
      await resumeAfterDrop();
      await waitFor('the store to answer', async () => (await s.store.kvGet('x', t)) === null);
      const r = await s.store.increment(key, Date.now(), t + 60_000);
      // This increment counted once; the one answered 503 counted at most once.
      expect(r.count).toBeGreaterThanOrEqual(1);
      expect(r.count).toBeLessThanOrEqual(2);
    }, 60_000);
  });
}
