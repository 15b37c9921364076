import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createSessions, generateKey } from '../src/index.js';
import { openStore } from '../src/stores/index.js';
import { clearNamespace, namespaceFor, testNamespace } from './support/namespace.js';
import { postgresAvailable, redisAvailable, requireService } from './support/services.js';

const run = promisify(execFile);
const fixture = join(import.meta.dirname, 'fixtures', 'engine-patcher.ts');
const dir = mkdtempSync(join(tmpdir(), 'tessera-mp-'));
// Its own key prefix and schema on the shared Redis and PostgreSQL, removed at the end.
const ns = testNamespace('multiprocess');
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await clearNamespace(ns);
});

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisOk = requireService('Redis', await redisAvailable(REDIS));
const pgOk = requireService('PostgreSQL', await postgresAvailable(PG));

async function parallelPatches(storeUrl: string, perProcess: number) {
  const keys = [generateKey('k1')];
  const store = await openStore(storeUrl, namespaceFor(storeUrl, ns));
  const engine = createSessions({ store, keys });
  const s = await engine.load({ method: 'POST' });
  s.set('seed', 1);
  const token = (await engine.commit(s)).setCookie!.split(';')[0]!.split('=')[1]!;
  const env = {
    ...process.env,
    STORE_URL: storeUrl,
    STORE_PREFIX: ns.prefix,
    STORE_SCHEMA: ns.schema,
    KEYS: JSON.stringify(keys),
    TOKEN: token,
    N: String(perProcess),
  };
  const results = await Promise.all(
    ['a', 'b'].map((prefix) =>
      run(process.execPath, ['--import', 'tsx', fixture], {
        env: { ...env, PREFIX: prefix },
        timeout: 60_000,
      }),
    ),
  );
  for (const r of results) {
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out, JSON.stringify(out.errors)).toMatchObject({ ok: true, failed: 0 });
  }
  const after = await engine.load({ cookie: `__Host-tessera=${token}`, method: 'GET' });
  const data = after.data as Record<string, unknown>;
  const missing: string[] = [];
  for (const p of ['a', 'b'])
    for (let i = 0; i < perProcess; i++) if (data[`${p}${i}`] !== i) missing.push(`${p}${i}`);
  expect(missing).toEqual([]);
  expect(data.seed).toBe(1);
  await after.destroy();
  await store.close();
}

describe('parallel patches from two processes through the engine', () => {
  it('loses no update on SQLite (2 × 50)', async () => {
    await parallelPatches(`sqlite:${join(dir, 'mp.db')}`, 50);
  }, 90_000);
  it.skipIf(!redisOk)(
    'loses no update on Redis (2 × 100)',
    async () => {
      await parallelPatches(REDIS, 100);
    },
    90_000,
  );
  it.skipIf(!pgOk)(
    'loses no update on PostgreSQL (2 × 100)',
    async () => {
      await parallelPatches(PG, 100);
    },
    90_000,
  );
});
