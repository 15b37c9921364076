/**
 * PostgreSQL: a same-user rotation (regenerate, re-authentication) whose statement is under way
 * while `deleteByUser` runs must not leave its new session behind. Without the user's lock on
 * the rotation, the revocation's DELETE (READ COMMITTED) waits for the old row, then re-checks
 * only that row: the row the rotation inserted is not in its snapshot and survives the revocation.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratePostgres, postgresStore } from '../../src/stores/postgres/index.js';
import { makeRecord } from '../../src/testing/index.js';
import { testNamespace } from '../support/namespace.js';
import { DATABASE_URL, postgresAvailable, requireService } from '../support/services.js';

const run = requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable(DATABASE_URL));
const { schema } = testNamespace('revokerace');

let pool: pg.Pool;

type QueryConfig = { text?: string } | string;
const textOf = (q: QueryConfig): string => (typeof q === 'string' ? q : (q.text ?? ''));
const isRotation = (q: QueryConfig): boolean => /^WITH old AS/.test(textOf(q));

/** Poll (bounded) until another backend waits on a lock taken for this schema's user `userId`. */
async function revocationWaiting(userId: string): Promise<void> {
  const key = createHash('sha256').update(`${schema}\0${userId}`).digest().readInt32BE(0);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = await pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND (query LIKE $1 OR query LIKE $2)`,
      [`%"${schema}".user_epochs%`, `%pg_advisory_xact_lock(%, ${key})%`],
    );
    if (r.rows[0].n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the revocation never waited on the rotation');
}

/**
 * A pool whose next rotation statement keeps its transaction open (locks held) until the
 * revocation started by the test waits on it; `held` resolves once the statement has run.
 */
function holdingPool(userId: string) {
  let armed = false;
  let reached!: () => void;
  const held = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const hold = async (run: () => Promise<unknown>): Promise<unknown> => {
    const out = await run();
    reached();
    await revocationWaiting(userId);
    return out;
  };
  const wrapClient = (c: pg.PoolClient): pg.PoolClient =>
    new Proxy(c, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return (q: QueryConfig, ...rest: unknown[]) => {
          // Inside the store's own transaction: its COMMIT follows our return.
          if (armed && isRotation(q)) {
            armed = false;
            return hold(() => target.query(q as never, ...(rest as [])));
          }
          return target.query(q as never, ...(rest as []));
        };
      },
    });
  const proxy = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'connect') return async () => wrapClient(await target.connect());
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return async (q: QueryConfig, ...rest: unknown[]) => {
        if (!(armed && isRotation(q))) return target.query(q as never, ...(rest as []));
        armed = false;
        // An autocommit statement: run it in a transaction we commit once the revocation waits.
        const c = await target.connect();
        try {
          await c.query('BEGIN');
          const out = await hold(() => c.query(q as never, ...(rest as [])));
          await c.query('COMMIT');
          return out;
        } finally {
          c.release();
        }
      };
    },
  });
  return {
    pool: proxy,
    held,
    arm: () => {
      armed = true;
    },
  };
}

describe.skipIf(!run)('postgresStore: revocation racing a same-user rotation', () => {
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
    await migratePostgres(pool, { schema });
  });
  afterAll(async () => {
    if (!pool) return;
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it('deleteByUser deletes the session a same-user rotation under way writes', async () => {
    const userId = `u-${randomBytes(4).toString('hex')}`;
    const h = holdingPool(userId);
    const store = postgresStore({ pool: h.pool, schema, migrate: false });
    const now = Date.now();
    const old = makeRecord({ userId, authenticatedAt: now - 1000 });
    await store.create(old);
    const next = makeRecord({ handle: old.handle, userId, authenticatedAt: now, version: 2 });
    const tomb = {
      kind: 'rotated' as const,
      id: old.id,
      handle: old.handle,
      userId,
      rotatedAt: now,
      graceUntil: now + 5000,
      expiresAt: next.absoluteExpiresAt,
      reason: 'regenerate' as const,
    };
    h.arm();
    const rotation = store.rotate(old.id, old.version, next, tomb);
    await h.held;
    const revoked = store.deleteByUser(userId, {
      epoch: { at: now + 1, expiresAt: now + 3_600_000 },
    });
    const [rotated, n] = await Promise.all([rotation, revoked]);
    expect(rotated).toEqual({ evicted: [] });
    // The rotation landed first, so the revocation must have deleted what it wrote.
    expect(await store.get(next.id)).toBeNull();
    expect(await store.getByHandle(old.handle)).toBeNull();
    expect(await store.count(now, userId)).toBe(0);
    expect(n).toBe(1);
  });
});
