/**
 * Memory while Redis hangs: 256 concurrent request loops through the engine against a
 * redis-server paused (SIGSTOP) for 60 s, the heap sampled after a full GC every 5 s in a child
 * process (fixtures/heap-load.ts). Runs alone in this file: it takes about 70 s.
 *
 * The bound: the heap after GC stays within 4 MB of its level before the hang. Each call still
 * waiting for the server costs about 2 KB (its command, arguments and callbacks); the store lets
 * at most 1000 wait (`maxPendingCalls`), and a client from `connectRedis` drops the connection
 * after 5 s of silence (`socketTimeoutMs`), failing what waited on it. Measured here: +0.7 MB
 * (connectRedis client) and +2.2 MB (a plain client, held at 1000 waiting calls). Without those
 * bounds the same load grew the heap by 20 MB in the minute (7424 timed-out calls, 2.7 KB each),
 * released only when Redis answered.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type RedisServer,
  redisBinariesAvailable,
  startRedisServer,
} from '../stores/fixtures/redis-servers.js';

const run = promisify(execFile);
const child = join(import.meta.dirname, 'fixtures', 'heap-load.ts');
const HANG_MS = 60_000;
const BOUND_MB = 4;

interface Figures {
  baseline: number;
  samples: number[];
  max: number;
  after: number;
  recoveryMs: number | null;
  counts: { ok: number; unavailable: number; other: number };
}

const servers: RedisServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

async function hang(client: 'connect' | 'plain'): Promise<Figures> {
  const server = await startRedisServer();
  servers.push(server);
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', child], {
    env: {
      ...process.env,
      REDIS_URL: server.url,
      REDIS_PID: String(server.pid),
      CLIENT: client,
      WORKERS: '256',
      HANG_MS: String(HANG_MS),
      SAMPLE_MS: '5000',
    },
    timeout: HANG_MS + 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Figures;
}

function check(f: Figures): void {
  const growth = f.samples.map((mb) => +(mb - f.baseline).toFixed(2));
  expect(f.samples.length).toBeGreaterThanOrEqual(HANG_MS / 5_000);
  expect(Math.max(...growth), `heap growth per sample (MB): ${growth.join(', ')}`).toBeLessThan(
    BOUND_MB,
  );
  // Failing fast is the point: many requests were answered 503 during the hang, none otherwise.
  expect(f.counts.unavailable).toBeGreaterThan(256 * (HANG_MS / 2_000));
  expect(f.counts.other).toBe(0);
  // Redis answers again: a request succeeds soon after SIGCONT, with the same client.
  expect(f.recoveryMs).not.toBeNull();
  expect(f.recoveryMs!).toBeLessThan(10_000);
}

describe.skipIf(!redisBinariesAvailable())('heap while Redis hangs under load', () => {
  it(`stays within ${BOUND_MB} MB over a 60 s hang with 256 request loops (connectRedis client and a plain ioredis client)`, async () => {
    // Both at once, on two servers, so the file takes one hang's time.
    const [connect, plain] = await Promise.all([hang('connect'), hang('plain')]);
    console.log('heap while Redis hangs (MB):', JSON.stringify({ connect, plain }));
    check(connect);
    check(plain);
  }, 150_000);
});
