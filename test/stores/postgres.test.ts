import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/core/errors.js';
import {
  connectPostgres,
  migratePostgres,
  POSTGRES_SCHEMA_VERSION,
  postgresStore,
} from '../../src/stores/postgres/index.js';
import { makeRecord, registerConformance } from '../../src/testing/index.js';
import { testNamespace } from '../support/namespace.js';
import { DATABASE_URL, postgresAvailable, requireService } from '../support/services.js';
import { WORKER_ENV } from './fixtures/postgres-worker.js';
import { expectNoLostPatches } from './fixtures/redis-postgres-patchers.js';
// The deprecated `err.status` asserted below reads the adapters' status table.
import '../../src/adapters/shared/status.js';

const run = requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable(DATABASE_URL));
const runId = randomBytes(5).toString('hex');
const { schema } = testNamespace('pg');
const WORKER = fileURLToPath(new URL('./fixtures/postgres-worker.ts', import.meta.url));

let pool: pg.Pool;
/** Schemas this run created, dropped at the end. */
const schemas = new Set<string>([schema]);

function freshSchema(name: string): string {
  const s = `${schema}_${name}`;
  schemas.add(s);
  return s;
}

async function codeOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isTesseraError(e) ? e.code : e;
  }
}

describe.skipIf(!run)('postgresStore', () => {
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
    await migratePostgres(pool, { schema });
  });
  afterAll(async () => {
    if (!pool) return;
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pool.end();
  });

  registerConformance(
    {
      name: 'postgres',
      create: () => postgresStore({ pool, schema }),
      worker: {
        module: WORKER,
        exportName: 'createPostgresWorkerStore',
        env: { [WORKER_ENV.url]: DATABASE_URL, [WORKER_ENV.schema]: schema },
      },
    },
    { describe, it },
  );

  it('migrates a fresh schema once when four instances start at the same time', async () => {
    const s = freshSchema('race');
    const pools = Array.from(
      { length: 4 },
      () => new pg.Pool({ connectionString: DATABASE_URL, max: 1 }),
    );
    try {
      const results = await Promise.all(pools.map((p) => migratePostgres(p, { schema: s })));
      expect(results.filter((r) => r.from === 0)).toHaveLength(1);
      expect(results.every((r) => r.to === POSTGRES_SCHEMA_VERSION)).toBe(true);
      const rows = await pool.query(`SELECT version FROM "${s}".migrations ORDER BY version`);
      expect(rows.rows.map((r) => r.version)).toEqual(
        Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
      );
      // And stores on it work at once.
      const store = postgresStore({ pool: pools[0]!, schema: s, migrate: false });
      const r = makeRecord();
      await store.create(r);
      expect((await store.get(r.id))?.id).toBe(r.id);
      await store.close();
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuses to run on a schema that is missing or newer when it may not migrate', async () => {
    const missing = postgresStore({ pool, schema: freshSchema('missing'), migrate: false });
    expect(await codeOf(missing.get('x'))).toBe('ERR_CONFIG');
    const s = freshSchema('newer');
    await migratePostgres(pool, { schema: s });
    await pool.query(`INSERT INTO "${s}".migrations (version) VALUES (999)`);
    expect(await codeOf(postgresStore({ pool, schema: s }).get('x'))).toBe('ERR_STORE_CORRUPT');
    expect(await codeOf(migratePostgres(pool, { schema: s }))).toBe('ERR_STORE_CORRUPT');
  });

  it('reads with one named prepared statement and writes nothing', async () => {
    const seen: { name?: string; text: string }[] = [];
    const spy = new Proxy(pool, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'query' || typeof v !== 'function') return v;
        return (config: { name?: string; text: string }, ...rest: unknown[]) => {
          seen.push(config);
          return (v as (...a: unknown[]) => unknown).call(target, config, ...rest);
        };
      },
    });
    const store = postgresStore({ pool: spy, schema });
    const r = makeRecord();
    await store.create(r);
    seen.length = 0;
    expect((await store.get(r.id))?.id).toBe(r.id);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.text).toMatch(/^SELECT/);
    expect(seen[0]!.name).toMatch(/^tessera_[0-9a-f]{10}_get$/);
    await store.close();
  });

  it('sweeps around rows another transaction holds, without waiting for it', async () => {
    const s = freshSchema('sweep');
    const store = postgresStore({ pool, schema: s });
    const t = Date.now();
    const expired = Array.from({ length: 5 }, () =>
      makeRecord({ createdAt: t, lastSeenAt: t, idleExpiresAt: t + 1_000 }),
    );
    for (const r of expired) await store.create(r);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${s}".sessions WHERE id = $1 FOR UPDATE`, [
        expired[0]!.id,
      ]);
      const started = Date.now();
      expect(await store.sweep(t + 60_000)).toBe(4);
      expect(Date.now() - started).toBeLessThan(2_000);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    expect(await store.sweep(t + 60_000)).toBe(1);
    await store.close();
  });

  it('loses no patch among 200 fired at once from two processes', async () => {
    const store = postgresStore({ pool, schema });
    await expectNoLostPatches(store, {
      module: WORKER,
      exportName: 'createPostgresWorkerStore',
      env: { [WORKER_ENV.url]: DATABASE_URL, [WORKER_ENV.schema]: schema },
      processes: 2,
      perProcess: 100,
    });
    await store.close();
  }, 90_000);

  it('survives its connections being terminated mid-load and recovers', async () => {
    const app = `tessera-fault-${runId}`;
    // A bare pool, as an app would pass it: the store must catch its idle-client errors.
    const own = new pg.Pool({ connectionString: DATABASE_URL, max: 4, application_name: app });
    const store = postgresStore({ pool: own, schema });
    const r = makeRecord({ data: '{}' });
    await store.create(r);
    const outcomes: string[] = [];
    let stop = false;
    const load = Array.from({ length: 6 }, async (_, w) => {
      let i = 0;
      while (!stop) {
        try {
          const cur = await store.get(r.id);
          if (cur?.kind === 'live')
            await store.update(r.id, cur.version, { data: `{"w${w}":${i++}}` });
          outcomes.push('ok');
        } catch (e) {
          outcomes.push(isTesseraError(e) ? e.code : `raw: ${String(e)}`);
        }
      }
    });
    const terminate = async (): Promise<number> => {
      const res = await pool.query(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [app],
      );
      return res.rows[0].n as number;
    };
    try {
      let killed = 0;
      for (let round = 0; round < 5; round++) {
        const before = outcomes.length;
        while (outcomes.length < before + 30) await new Promise((resolve) => setImmediate(resolve));
        killed += await terminate();
      }
      expect(killed).toBeGreaterThan(0);
      const failures = outcomes.filter((o) => o !== 'ok');
      expect(failures.length).toBeGreaterThan(0);
      expect(new Set(failures)).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
      // After the last kill, calls succeed again on the same pool and store.
      const mark = outcomes.length;
      while (outcomes.slice(mark).filter((o) => o === 'ok').length < 50) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      stop = true;
      await Promise.all(load);
      await store.close();
      await own.end();
    }
    const fresh = makeRecord();
    const again = postgresStore({ pool, schema });
    await again.create(fresh);
    expect((await again.get(fresh.id))?.id).toBe(fresh.id);
  }, 30_000);

  it('refuses NUL and lone surrogates in ids, and NUL in any value, with a 400 instead of a 503', async () => {
    const store = postgresStore({ pool, schema });
    for (const userId of ['u\0x', 'u\ud800']) {
      const r = makeRecord({ userId });
      await expect(store.create(r)).rejects.toMatchObject({ code: 'ERR_INVALID_ID', status: 400 });
      expect(await store.get(r.id)).toBeNull();
      for (const call of [
        store.listByUser(userId, Date.now()),
        store.deleteByUser(userId),
        store.count(Date.now(), userId),
        store.getRevocationEpoch(userId, Date.now()),
      ]) {
        await expect(call).rejects.toMatchObject({ code: 'ERR_INVALID_ID', status: 400 });
      }
    }
    await expect(store.kvSet('k\0', 'v', null)).rejects.toMatchObject({ status: 400 });
    await expect(store.kvGet('k', Date.now())).resolves.toBeNull();
  });

  it('refuses bad options and URLs with ERR_CONFIG', async () => {
    expect(() => postgresStore({ pool, schema: 'Bad-Name' })).toThrowError(/schema/);
    expect(() => postgresStore({} as never)).toThrowError(/pool/);
    expect(await codeOf(connectPostgres('mysql://x'))).toBe('ERR_CONFIG');
  });

  it('fails with ERR_STORE_UNAVAILABLE when nothing listens', async () => {
    const dead = await connectPostgres('postgres://postgres@127.0.0.1:1/test', {
      connectTimeoutMs: 500,
    });
    try {
      const started = Date.now();
      expect(await codeOf(postgresStore({ pool: dead, schema }).get('x'))).toBe(
        'ERR_STORE_UNAVAILABLE',
      );
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await dead.end();
    }
  });
});
