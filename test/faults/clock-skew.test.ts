/**
 * Clock skew between app instances (DESIGN decision 13): two instances over one store, one of
 * them with a clock that is 12 s fast, 12 s slow or 25 s slow, idle timeout 20 s. With
 * `clock: 'store'` both decide expiry, grace and theft on the store's clock, so the skewed one
 * neither ends a live session for everyone, nor writes deadlines that are already past, nor
 * takes an in-flight request for a theft. Run on SQLite, Redis and PostgreSQL; the skew
 * allowance the engine applies where clocks still disagree (`clockSkewMs`) is shown on the
 * memory store with injected local clocks.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessions, type SessionManager } from '../../src/core/engine.js';
import type { SessionEvent } from '../../src/core/events.js';
import type { SessionsOptions } from '../../src/core/options.js';
import { createSealedSessions, revocationStoreFrom } from '../../src/core/sealed.js';
import type { KeyValueStore, SessionStore } from '../../src/core/types.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import { migratePostgres, postgresStore } from '../../src/stores/postgres/index.js';
import { Keys } from '../../src/stores/redis/codec.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import { deletePrefix } from '../stores/fixtures/redis-worker.js';
import {
  DATABASE_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  requireService,
} from '../support/services.js';

const KEY = { id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 };
const IDLE = 20;
const COOKIE = '__Host-tessera';

/** One app instance: an engine whose local clock is `skewMs` off, plus the shared passage of time. */
interface Instance {
  engine: SessionManager;
  events: SessionEvent[];
}

/** Time passing for every instance at once (the store's clock is not moved: no test waits that long). */
interface World {
  ms: number;
}

function instance(
  store: SessionStore,
  skewMs: number,
  world: World,
  extra: Partial<SessionsOptions> = {},
): Instance {
  const engine = createSessions({
    store,
    keys: [KEY],
    idleTimeout: IDLE,
    absoluteTimeout: 3600,
    now: () => Date.now() + skewMs + world.ms,
    clock: 'store',
    ...extra,
  });
  const events: SessionEvent[] = [];
  engine.on('*', (e) => events.push(e));
  return { engine, events };
}

function tokenOf(setCookie: string | null): string | null {
  if (setCookie === null || setCookie.startsWith(`${COOKIE}=;`)) return null;
  return new RegExp(`^${COOKIE}=([^;]*)`).exec(setCookie)![1]!;
}

async function request(
  at: Instance,
  token: string | null,
  method = 'GET',
  fn?: (s: Awaited<ReturnType<SessionManager['load']>>) => Promise<void> | void,
) {
  const s = await at.engine.load({
    cookie: token ? `${COOKIE}=${token}` : undefined,
    method,
    userAgent: 'skew-test',
    ip: '127.0.0.1',
  });
  if (fn) await fn(s);
  const r = await at.engine.commit(s);
  return { s, setCookie: r.setCookie, token: tokenOf(r.setCookie) };
}

async function signIn(at: Instance, userId: string): Promise<{ token: string; handle: string }> {
  const r = await request(at, null, 'POST', async (s) => {
    s.set('n', 1);
    await s.authenticate(userId);
  });
  return { token: r.token!, handle: r.s.handle! };
}

const types = (at: Instance) => at.events.map((e) => e.type);

/** A shared store backend: stores for several instances over it, and what native expiry says. */
interface Backend {
  /** A store of its own for one instance, over the shared backend. */
  open(): SessionStore & KeyValueStore;
  /** Milliseconds until the backend expires the record `id` by itself, or null without native expiry. */
  ttl(id: string): Promise<number | null>;
}

function registerSkewSuite(
  name: string,
  run: boolean,
  setup: () => Promise<Backend>,
  teardown: () => Promise<void>,
) {
  describe.skipIf(!run)(`clock skew between instances on ${name}`, () => {
    let backend: Backend;
    const opened: SessionStore[] = [];
    const open = () => {
      const s = backend.open();
      opened.push(s);
      return s;
    };
    beforeAll(async () => {
      backend = await setup();
    });
    afterAll(async () => {
      for (const s of opened) await s.close();
      await teardown();
    });

    /** Two instances over the backend, both on the store's clock once their first sample is in. */
    async function pair(skewMs: number) {
      const world: World = { ms: 0 };
      const normal = instance(open(), 0, world);
      const skewed = instance(open(), skewMs, world);
      await Promise.all([normal.engine.syncClock(), skewed.engine.syncClock()]);
      return { world, normal, skewed };
    }

    it("reads the store's clock with time()", async () => {
      const store = open();
      const before = Date.now();
      const t = await store.time!();
      // The server runs on this machine: its clock is this machine's, within a round trip.
      expect(t).toBeGreaterThanOrEqual(before - 50);
      expect(t).toBeLessThanOrEqual(Date.now() + 50);
    });

    it('a 12 s fast instance neither ends nor deletes a session idle for 10 s', async () => {
      const { world, normal, skewed: fast } = await pair(12_000);
      const { token, handle } = await signIn(normal, `u-${randomBytes(4).toString('hex')}`);
      world.ms = 10_000;
      const r = await request(fast, token);
      expect(r.s.state).toBe('active');
      expect(types(fast)).not.toContain('expired');
      // And every instance still serves it afterwards.
      expect((await request(normal, token)).s.state).toBe('active');
      expect(await open().getByHandle(handle)).not.toBeNull();
    });

    it('a session created on a 25 s slow instance is live for every instance, its TTL in the future', async () => {
      const { normal, skewed: slow } = await pair(-25_000);
      const created = await request(slow, null, 'POST', (s) => s.set('n', 1));
      expect(created.setCookie).not.toBeNull();
      const handle = created.s.handle!;
      const served = await request(normal, created.token);
      expect(served.s.state).toBe('active');
      expect(served.s.get('n')).toBe(1);
      const store = open();
      const rec = await store.getByHandle(handle);
      expect(rec).not.toBeNull();
      // Its deadline is ahead of the store's clock by about the idle timeout, not behind it…
      expect(rec!.idleExpiresAt - (await store.time!())).toBeGreaterThan((IDLE - 2) * 1000);
      // …and so is the backend's own expiry of it (Redis PXAT).
      const ttl = await backend.ttl(rec!.id);
      if (ttl !== null) expect(ttl).toBeGreaterThan((IDLE - 2) * 1000);
    });

    it('regenerate() on a 12 s slow instance, then the old token on another: no theft signal', async () => {
      const { world, normal, skewed: slow } = await pair(-12_000);
      const { token, handle } = await signIn(slow, `u-${randomBytes(4).toString('hex')}`);
      const fresh = (await request(slow, token, 'POST', (s) => s.regenerate())).token!;
      expect(fresh).toBeTruthy();
      // An in-flight GET with the old token reaches the normal instance at once: inside the
      // 10 s grace. (Stamped by the slow local clock, that grace ended 2 s before it began.)
      const old = await request(normal, token);
      expect(old.s.state).toBe('grace');
      expect(types(normal)).not.toContain('theft_suspected');
      expect((await request(normal, fresh)).s.state).toBe('active');
      expect(await open().getByHandle(handle)).not.toBeNull();
      // Past the grace by the one clock (by far more than the estimates' error, a few ms here),
      // the replay is a theft signal, wherever it arrives.
      world.ms = 10_000 + 500;
      const late = await request(normal, token);
      expect(late.s.state).toBe('anonymous');
      expect(types(normal)).toContain('theft_suspected');
      expect((await request(slow, fresh)).s.state).toBe('anonymous');
    });

    it('a sealed session made on a 25 s slow instance opens on another (revocation store clock)', async () => {
      const world: World = { ms: 0 };
      const sealed = (skewMs: number) =>
        createSealedSessions({
          keys: [KEY],
          idleTimeout: IDLE,
          absoluteTimeout: 3600,
          now: () => Date.now() + skewMs + world.ms,
          clock: 'store',
          revocation: { store: revocationStoreFrom(open()), cacheMs: 0 },
        });
      const slow = sealed(-25_000);
      const normal = sealed(0);
      await Promise.all([slow.syncClock(), normal.syncClock()]);
      const s = await slow.load({ method: 'POST' });
      s.set('n', 1);
      const token = tokenOf((await slow.commit(s)).setCookie);
      const back = await normal.load({ cookie: `${COOKIE}=${token}`, method: 'GET' });
      expect(back.state).toBe('active');
      expect(back.get('n')).toBe(1);
    });
  });
}

// ---- SQLite: every process sharing the file runs on one machine, whose clock is the store's.
let dir = '';
registerSkewSuite(
  'SQLite',
  true,
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-skew-'));
    const path = join(dir, 'sessions.db');
    return { open: () => sqliteStore({ path, sweepIntervalMs: 0 }), ttl: async () => null };
  },
  async () => {
    rmSync(dir, { recursive: true, force: true });
  },
);

// ---- Redis: TIME; native expiry by PXAT.
const redisRun = requireService(`Redis at ${REDIS_URL}`, await redisAvailable(REDIS_URL));
const prefix = `tessera-test:skew:${randomBytes(6).toString('base64url')}:`;
let client: Redis | undefined;
registerSkewSuite(
  'Redis',
  redisRun,
  async () => {
    client = (await connectRedis(REDIS_URL)) as Redis;
    const keys = new Keys(prefix);
    const c = client;
    return {
      open: () => redisStore({ client: c, prefix }),
      ttl: async (id) => c.pttl(keys.record(id)),
    };
  },
  async () => {
    if (!client) return;
    await deletePrefix(client, prefix);
    client.disconnect();
  },
);

// ---- PostgreSQL: clock_timestamp(); expiry by stamp and sweep.
const pgRun = requireService(
  `PostgreSQL at ${DATABASE_URL}`,
  await postgresAvailable(DATABASE_URL),
);
const schema = `tessera_test_skew_${randomBytes(5).toString('hex')}`;
let pool: pg.Pool | undefined;
registerSkewSuite(
  'PostgreSQL',
  pgRun,
  async () => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
    pool.setMaxListeners(64); // every postgresStore on it listens for idle-client errors
    await migratePostgres(pool, { schema });
    const p = pool;
    return {
      open: () => postgresStore({ pool: p, schema, migrate: false }),
      ttl: async () => null,
    };
  },
  async () => {
    if (!pool) return;
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  },
);

// ---- The skew allowance, with local clocks that disagree by less than it.
describe('the skew allowance (clockSkewMs) on local clocks', () => {
  // Far ahead of the memory store's own clock, so the store never expires anything by itself.
  const T0 = 4_000_000_000_000;

  function local(store: SessionStore, at: { t: number }, skewMs: number): Instance {
    const engine = createSessions({
      store,
      keys: [KEY],
      idleTimeout: IDLE,
      absoluteTimeout: 3600,
      now: () => at.t + skewMs,
      clockSkewMs: 2_000,
    });
    const events: SessionEvent[] = [];
    engine.on('*', (e) => events.push(e));
    return { engine, events };
  }

  it('refuses a session expired by less than the allowance, but leaves it to the instance whose clock is behind', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const at = { t: T0 };
    const normal = local(store, at, 0);
    const fast = local(store, at, 1_500);
    const { token, handle } = await signIn(normal, 'alice');
    at.t = T0 + 19_000;
    const r = await request(fast, token);
    expect(r.s.state).toBe('anonymous');
    expect(types(fast)).toContain('expired');
    expect(r.setCookie).toBeNull();
    expect(await store.getByHandle(handle)).not.toBeNull();
    expect((await request(normal, token)).s.state).toBe('active');
    // Expired by more than the allowance: deleted for everyone, the cookie cleared.
    at.t = T0 + 19_000 + IDLE * 1000 + 2_000;
    const gone = await request(normal, token);
    expect(gone.s.state).toBe('anonymous');
    expect(gone.setCookie).toMatch(/^__Host-tessera=;/);
    expect(await store.getByHandle(handle)).toBeNull();
  });

  it('takes a rotated-out token just past its grace for a late request, not a theft', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const at = { t: T0 };
    const normal = local(store, at, 0);
    const slow = local(store, at, -1_500);
    const { token } = await signIn(slow, 'bob');
    const fresh = (await request(slow, token, 'POST', (s) => s.regenerate())).token!;
    at.t = T0 + 10_000; // the slow clock's grace (10 s) ended 1.5 s ago by the normal clock
    const late = await request(normal, token);
    expect(late.s.state).toBe('anonymous');
    expect(late.setCookie).toBeNull();
    expect(types(normal)).not.toContain('theft_suspected');
    expect(normal.events.find((e) => e.type === 'token_invalid')?.reason).toBe('rotated_skew');
    expect((await request(normal, fresh)).s.state).toBe('active');
    at.t = T0 + 10_600;
    await request(normal, token);
    expect(types(normal)).toContain('theft_suspected');
    expect((await request(normal, fresh)).s.state).toBe('anonymous');
  });

  it('sweeps only what is expired by more than the allowance', async () => {
    const store = memoryStore({ sweepIntervalMs: 0 });
    const at = { t: T0 };
    const normal = local(store, at, 0);
    const older = await signIn(normal, 'carol');
    at.t = T0 + 2_500;
    const newer = await signIn(normal, 'dave');
    at.t = T0 + 2_500 + IDLE * 1000 + 1_000; // `newer` expired 1 s ago, `older` 3.5 s ago
    expect(await normal.engine.sweep()).toBe(1);
    expect(await store.getByHandle(older.handle)).toBeNull();
    expect(await store.getByHandle(newer.handle)).not.toBeNull();
  });
});
