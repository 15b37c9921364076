/**
 * The engine on every store, under the two races of the hardening issue: logins that checked the
 * old password while a password change ran (`revokeOthers`), and parallel logins against the
 * per-user session limit. In one process, and for the shared stores across two processes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/core/events.js';
import type { SessionStore } from '../../src/core/types.js';
import { generateKey } from '../../src/index.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import { migratePostgres, postgresStore } from '../../src/stores/postgres/index.js';
import { connectRedis, redisStore } from '../../src/stores/redis/index.js';
import { sqliteStore } from '../../src/stores/sqlite/index.js';
import { testNamespace } from '../support/namespace.js';
import {
  DATABASE_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  requireService,
} from '../support/services.js';
import {
  type LoginOutcome,
  loadLogins,
  login,
  raceEngine,
  turns,
} from './fixtures/engine-races.js';
import { deletePrefix } from './fixtures/redis-worker.js';

const redisOk = requireService(`Redis at ${REDIS_URL}`, await redisAvailable(REDIS_URL));
const pgOk = requireService(`PostgreSQL at ${DATABASE_URL}`, await postgresAvailable(DATABASE_URL));
const dir = mkdtempSync(join(tmpdir(), 'tessera-races-'));
const { prefix: redisPrefix, schema: pgSchema } = testNamespace('races');
const RACER = join(import.meta.dirname, 'fixtures', 'login-racer.ts');
const keys = [generateKey('k1')];

let redis: Redis | undefined;
let pool: pg.Pool | undefined;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (redis) {
    await deletePrefix(redis, redisPrefix);
    redis.disconnect();
  }
  if (pool) {
    await pool.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
    await pool.end();
  }
});

interface Target {
  name: string;
  run: boolean;
  open(): Promise<SessionStore>;
  /** How a child process reaches the same store. */
  child?: Record<string, string>;
}

const targets: Target[] = [
  { name: 'memory', run: true, open: async () => memoryStore({ sweepIntervalMs: 0 }) },
  {
    name: 'sqlite',
    run: true,
    open: async () => sqliteStore({ path: join(dir, 'races.db'), sweepIntervalMs: 0 }),
    child: { STORE_URL: `sqlite:${join(dir, 'races.db')}` },
  },
  {
    name: 'redis',
    run: redisOk,
    open: async () => {
      redis ??= (await connectRedis(REDIS_URL)) as Redis;
      return redisStore({ client: redis, prefix: redisPrefix });
    },
    child: { STORE_URL: REDIS_URL, REDIS_PREFIX: redisPrefix },
  },
  {
    name: 'postgres',
    run: pgOk,
    open: async () => {
      if (!pool) {
        pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
        await migratePostgres(pool, { schema: pgSchema });
      }
      return postgresStore({ pool, schema: pgSchema });
    },
    child: { STORE_URL: DATABASE_URL, PG_SCHEMA: pgSchema },
  },
];

const user = () => `user-${randomBytes(6).toString('hex')}`;

/** Whether a cookie (`name=value`) still opens a session. */
async function opens(engine: ReturnType<typeof raceEngine>, cookie: string): Promise<boolean> {
  return (await engine.load({ cookie, method: 'GET' })).state === 'active';
}

describe('the engine on every store', () => {
  for (const target of targets) {
    describe.skipIf(!target.run)(target.name, () => {
      it('lets no login that began before a password change outlive it (revokeOthers)', async () => {
        const store = await target.open();
        const engine = raceEngine(store, keys);
        const alice = user();
        // The session that changes the password.
        const changer = (await loadLogins(engine, 1))[0]!;
        await login(engine, changer, alice);
        // Logins that checked the old password: loaded before the change.
        const early = await loadLogins(engine, 30);
        const done = await Promise.all(early.slice(0, 5).map((s) => login(engine, s, alice)));
        const racing = early.slice(5, 25).map(async (s, i) => {
          await turns(i % 6);
          return login(engine, s, alice);
        });
        const change = (async () => {
          await turns(2);
          return engine.revokeOthers(changer);
        })();
        const raced = await Promise.all(racing);
        const revoked = await change;
        // Logins that checked the old password, but reach authenticate() after the change.
        const late = await Promise.all(early.slice(25).map((s) => login(engine, s, alice)));

        expect(late.map((o) => o.outcome)).toEqual(Array(5).fill('ERR_SESSION_REVOKED'));
        for (const o of [...done, ...raced]) {
          expect(['ok', 'ERR_SESSION_REVOKED']).toContain(o.outcome);
          if (o.cookie) expect(await opens(engine, o.cookie)).toBe(false);
        }
        expect(revoked).toBe(5 + raced.filter((o) => o.outcome === 'ok').length);
        expect((await engine.list(alice)).map((i) => i.handle)).toEqual([changer.handle]);
        // A login that begins after the change returned is not refused.
        const fresh = await login(engine, (await loadLogins(engine, 1))[0]!, alice);
        expect(fresh.outcome).toBe('ok');
        expect(await opens(engine, fresh.cookie!)).toBe(true);
        await store.close();
      });

      for (const policy of ['reject', 'evict-oldest'] as const) {
        it(`keeps the session limit under 20 parallel logins (${policy})`, async () => {
          const store = await target.open();
          const engine = raceEngine(store, keys, { max: 2, policy });
          const events: SessionEvent[] = [];
          engine.on('*', (e) => events.push(e));
          const bob = user();
          const logins = await loadLogins(engine, 20);
          const outcomes = await Promise.all(logins.map((s) => login(engine, s, bob)));
          const live = await engine.list(bob);
          expect(live).toHaveLength(2);
          const ok = outcomes.filter((o) => o.outcome === 'ok');
          if (policy === 'reject') {
            expect(ok).toHaveLength(2);
            expect(outcomes.filter((o) => o.outcome === 'ERR_SESSION_LIMIT')).toHaveLength(18);
            expect(events.filter((e) => e.type === 'session_limit')).toHaveLength(18);
          } else {
            expect(ok).toHaveLength(20);
            const evicted = events
              .filter((e) => e.type === 'revoked' && e.reason === 'session_limit')
              .map((e) => e.handle);
            expect(new Set(evicted).size).toBe(18);
            expect(live.some((i) => evicted.includes(i.handle))).toBe(false);
          }
          let opening = 0;
          for (const o of ok) if (await opens(engine, o.cookie!)) opening++;
          expect(opening).toBe(2);
          await store.close();
        });
      }

      const child = target.child;
      if (child === undefined) return;
      it('lets no login in another process that began before a password change outlive it', async () => {
        const store = await target.open();
        const engine = raceEngine(store, keys);
        const alice = user();
        const changer = (await loadLogins(engine, 1))[0]!;
        await login(engine, changer, alice);
        const children = [0, 1].map(() => startRacer(child, alice, 20));
        await Promise.all(children.map((c) => c.ready));
        for (const c of children) c.send('race');
        await turns(3);
        await engine.revokeOthers(changer);
        for (const c of children) c.send('after');
        const outcomes = (await Promise.all(children.map((c) => c.done))).flat();
        expect(outcomes).toHaveLength(40);
        for (const [i, o] of outcomes.entries()) {
          // The second half of each child signs in only after the change returned.
          if (i % 20 >= 10) expect(o.outcome).toBe('ERR_SESSION_REVOKED');
          else expect(['ok', 'ERR_SESSION_REVOKED']).toContain(o.outcome);
          if (o.cookie) expect(await opens(engine, o.cookie)).toBe(false);
        }
        expect((await engine.list(alice)).map((i) => i.handle)).toEqual([changer.handle]);
        await store.close();
      }, 60_000);
    });
  }
});

/** Start a login-racer child process (see fixtures/login-racer.ts). */
function startRacer(env: Record<string, string>, userId: string, n: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', RACER], {
    env: { ...process.env, ...env, USER_ID: userId, N: String(n), KEYS: JSON.stringify(keys) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout });
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const done = new Promise<LoginOutcome[]>((resolve, reject) => {
    let last = '';
    lines.on('line', (line) => {
      if (line === 'ready') onReady();
      else last = line;
    });
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(last) as LoginOutcome[]);
      else reject(new Error(`login racer exited with ${code}: ${stderr}`));
    });
  });
  // A child that dies before `ready` must fail the test, not hang it.
  done.catch(() => onReady());
  return { ready, done, send: (line: string) => child.stdin.write(`${line}\n`) };
}
