/**
 * The demo's audit trail and login credits on the shared key-value space (demo/ring.ts): parallel
 * writers lose nothing below the cap and never exceed it, on every store the demo runs on
 * (memory and SQLite in-process; Redis and PostgreSQL skip loudly when missing, and fail
 * instead with `CI_REQUIRE_SERVICES=1`). Two store handles on one backend stand for two demo
 * instances.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail, TRAIL_LENGTH, type TrailEvent } from '../../demo/audit.js';
import { ringPush, ringRead } from '../../demo/ring.js';
import type { KeyValueStore, SessionStore } from '../../src/core/types.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import { migratePostgres, postgresStore } from '../../src/stores/postgres/index.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import { clearNamespace, testNamespace } from '../support/namespace.js';
import {
  DATABASE_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  requireService,
} from '../support/services.js';

type KV = SessionStore & KeyValueStore;

const redisOk = requireService(`Redis at ${REDIS_URL}`, await redisAvailable());
const postgresOk = requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable());
const ns = testNamespace('demotrail');
const silent = pino({ level: 'silent' });
let user = 0;
/** A user id no other case uses. */
const nextUser = () => `user-${++user}`;

function event(i: number): TrailEvent {
  return {
    type: 'login',
    at: new Date(0).toISOString(),
    ip: null,
    userAgent: null,
    reason: `r${i}`,
  };
}

/** The cases, on two handles (`a`, `b`) of one backend. */
function trailCases(open: () => { a: KV; b: KV }): void {
  let a: KV;
  let b: KV;
  beforeAll(() => {
    ({ a, b } = open());
  });

  it(`keeps every one of ${TRAIL_LENGTH - 10} parallel events below the cap`, async () => {
    const id = nextUser();
    const trails = [new AuditTrail(a, silent), new AuditTrail(b, silent)];
    const n = TRAIL_LENGTH - 10;
    await Promise.all(Array.from({ length: n }, (_, i) => trails[i % 2]!.record(id, event(i))));
    const got = (await trails[0]!.list(id)).map((e) => e.reason);
    expect(got).toHaveLength(n);
    expect(new Set(got)).toEqual(new Set(Array.from({ length: n }, (_, i) => `r${i}`)));
  });

  it(`keeps exactly the newest ${TRAIL_LENGTH} of 200 parallel events, newest first`, async () => {
    const id = nextUser();
    const trails = [new AuditTrail(a, silent), new AuditTrail(b, silent)];
    await Promise.all(Array.from({ length: 200 }, (_, i) => trails[i % 2]!.record(id, event(i))));
    const got = (await trails[1]!.list(id)).map((e) => e.reason);
    expect(got).toHaveLength(TRAIL_LENGTH);
    expect(new Set(got).size).toBe(TRAIL_LENGTH);
    // Each pushed event is in the trail or was pushed out by one of the 50 newer ones.
    for (const r of got) expect(r).toMatch(/^r\d+$/);
  });

  it('numbers parallel pushes to a ring that expires apart, keeps the newest, and forgets it', async () => {
    const key = `demo:ring:${nextUser()}`;
    const now = Date.now();
    const push = (i: number) => ringPush(i % 2 ? a : b, key, `v${i}`, 8, now + 60_000, now);
    await Promise.all(Array.from({ length: 8 }, (_, i) => push(i)));
    expect(new Set(await ringRead(a, key, 8, now))).toEqual(
      new Set(Array.from({ length: 8 }, (_, i) => `v${i}`)),
    );
    // Pushed one by one, the order is the push order; the ring keeps 8 keys, not 20.
    for (let i = 8; i < 20; i++) await push(i);
    expect(await ringRead(b, key, 8, now)).toEqual(
      Array.from({ length: 8 }, (_, i) => `v${19 - i}`),
    );
    expect(await ringRead(a, key, 20, now)).toHaveLength(8);
    expect(await ringRead(b, key, 8, now + 60_000)).toEqual([]);
  });

  it('reads an empty ring as empty, and a read does not move the head', async () => {
    const key = `demo:ring:${nextUser()}`;
    const now = Date.now();
    expect(await ringRead(a, key, 4, now)).toEqual([]);
    expect(await ringRead(b, key, 4, now)).toEqual([]);
    await ringPush(a, key, 'x', 4, null, now);
    expect(await ringRead(b, key, 4, now)).toEqual(['x']);
    expect(await ringRead(a, key, 4, now)).toEqual(['x']);
    await ringPush(b, key, 'y', 4, null, now);
    expect(await ringRead(a, key, 4, now)).toEqual(['y', 'x']);
  });
}

describe('the demo trail on the memory store', () => {
  const store = memoryStore({ sweepIntervalMs: 0 });
  afterAll(() => store.close());
  trailCases(() => ({ a: store, b: store }));

  it('goes on, newest first, when a counter flood evicted its counter', async () => {
    const s = memoryStore({ maxCounters: 2, sweepIntervalMs: 0 });
    const key = 'demo:events:flooded';
    for (let i = 1; i <= 5; i++) await ringPush(s, key, `old${i}`, 4, null, 1_000);
    // A flood of other counters pushes the ring's counters out: they start again.
    await s.increment('flood:1', 2_000, 9_000);
    await s.increment('flood:2', 2_000, 9_000);
    await ringPush(s, key, 'new1', 4, null, 3_000);
    await ringPush(s, key, 'new2', 4, null, 3_000);
    expect(await ringRead(s, key, 4, 3_000)).toEqual(['new2', 'new1']);
    await s.close();
  });
});

describe('the demo trail on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-trail-'));
  const path = join(dir, 'store.db');
  const stores: KV[] = [];
  afterAll(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  trailCases(() => {
    const a = sqliteStore({ path, sweepIntervalMs: 0 });
    const b = sqliteStore({ path, sweepIntervalMs: 0 });
    stores.push(a, b);
    return { a, b };
  });
});

describe.skipIf(!redisOk)('the demo trail on Redis', () => {
  const clients: Redis[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) clients.push((await connectRedis(REDIS_URL)) as Redis);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await clearNamespace(ns);
  });
  trailCases(() => ({
    a: redisStore({ client: clients[0]!, prefix: ns.prefix }),
    b: redisStore({ client: clients[1]!, prefix: ns.prefix }),
  }));
});

describe.skipIf(!postgresOk)('the demo trail on PostgreSQL', () => {
  const pools: pg.Pool[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) pools.push(new pg.Pool({ connectionString: DATABASE_URL }));
    await migratePostgres(pools[0]!, { schema: ns.schema });
  });
  afterAll(async () => {
    for (const p of pools) await p.end();
    await clearNamespace(ns);
  });
  trailCases(() => ({
    a: postgresStore({ pool: pools[0]!, schema: ns.schema }),
    b: postgresStore({ pool: pools[1]!, schema: ns.schema }),
  }));
});
