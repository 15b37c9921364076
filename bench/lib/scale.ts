/**
 * The scale suite (`--scale`): for each store configuration and each population size, a fresh
 * server is filled with that many live sessions (through its own `/new` route, so the records are
 * exactly what real visitors leave), then `read` and `hit` are measured as in the throughput
 * suite. It reports the memory each session costs (server RSS and heap after a full GC, and Redis
 * `used_memory` for Redis stores) and whether the per-request CPU stays flat as sessions grow.
 */
import { createClient } from 'redis';
import { SERVICE_URLS } from './environment.js';
import { hostLoad, hostSnapshot } from './host-load.js';
import { drive, obtainSessions } from './load.js';
import type { BenchConfig } from './matrix.js';
import { startServer } from './server-process.js';

/** Settings of a scale run. */
export interface ScaleOptions {
  sizes: number[];
  /**
   * How tessera configurations are filled: `login` (default) signs each session in as its own
   * user through `/login`, so a store also keeps the user index; `new` fills anonymous sessions
   * through `/new`. Peers are always filled through `/new`.
   */
  fill: 'login' | 'new';
  warmupSeconds: number;
  durationSeconds: number;
  connections: number;
  log: (line: string) => void;
}

/** One configuration at one population size. */
export interface ScalePoint {
  config: string;
  sessions: number;
  /** The route that filled the store (`/login`: signed-in sessions, one user each). */
  fillPath?: string;
  /** Requests to `/new` that did not answer 2xx while filling (should be 0). */
  populateFailures: number;
  populateSeconds: number;
  rssPerSession: number;
  heapPerSession: number;
  /** Growth of Redis `used_memory` per session (shared server: other clients add noise). */
  redisBytesPerSession: number | null;
  readCpuPerRequest: number;
  hitCpuPerRequest: number;
  readRequestsPerSecond: number;
  hitRequestsPerSecond: number;
  /** 1-minute load average at the end of the point, and the other processes' CPU over it (cores). */
  loadAverage?: number;
  otherBusyCores?: number;
}

/**
 * Whether a configuration keeps sessions on the server (the only ones the scale suite measures).
 *
 * @param config - A configuration.
 * @returns True for a server-side store.
 * @example
 * ```ts
 * const stores = configs.filter(keepsServerSessions);
 * ```
 */
export function keepsServerSessions(config: BenchConfig): boolean {
  return config.kind !== 'bare' && config.store !== 'cookie' && config.store !== 'sealed';
}

async function redisUsedMemory(): Promise<number> {
  const client = createClient({ url: SERVICE_URLS.redis });
  await client.connect();
  try {
    const info = await client.info('memory');
    const match = /used_memory:(\d+)/.exec(info);
    return match ? Number(match[1]) : Number.NaN;
  } finally {
    await client.quit();
  }
}

/**
 * Runs the scale suite.
 *
 * @param configs - Configurations to measure (filtered with {@link keepsServerSessions}).
 * @param options - Sizes, durations and logging.
 * @returns One point per configuration and size (failed points are logged and left out).
 * @example
 * ```ts
 * const points = await runScale(configs, { sizes: [1000, 100_000], warmupSeconds: 1, durationSeconds: 4, connections: 10, log: console.log });
 * ```
 */
export async function runScale(
  configs: readonly BenchConfig[],
  options: ScaleOptions,
): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  for (const config of configs.filter(keepsServerSessions)) {
    for (const size of options.sizes) {
      options.log(`scale · ${config.name} · ${size.toLocaleString('en')} sessions`);
      try {
        points.push(await measurePoint(config, size, options));
        const p = points.at(-1)!;
        options.log(
          `  ${Math.round(p.rssPerSession)} B RSS/session, ${Math.round(p.heapPerSession)} B heap/session` +
            (p.redisBytesPerSession === null
              ? ''
              : `, ${Math.round(p.redisBytesPerSession)} B Redis/session`) +
            `; read ${p.readCpuPerRequest.toFixed(1)} µs, hit ${p.hitCpuPerRequest.toFixed(1)} µs CPU/req`,
        );
      } catch (error) {
        options.log(`  ! ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return points;
}

async function measurePoint(
  config: BenchConfig,
  size: number,
  options: ScaleOptions,
): Promise<ScalePoint> {
  const usesRedis = config.services.includes('redis');
  const server = await startServer(config.name, {
    // Room for the fill, the 2,000 warm-up sessions and the checked sessions: signed-in
    // sessions are never evicted, so a full memory store answers 503.
    env: { BENCH_CAPACITY: String(Math.ceil(size * 1.1) + 5000) },
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const fillPath = config.kind === 'tessera' && options.fill === 'login' ? '/login' : '/new';
    // Warm the fill path up before the baseline, so JIT code is not counted as session memory.
    await drive(`${base}${fillPath}`, null, { durationSeconds: 1, amount: 2000, connections: 10 });
    const redisBefore = usesRedis ? await redisUsedMemory() : Number.NaN;
    const before = await server.mark({ gc: true });
    const host0 = hostSnapshot();
    const started = performance.now();
    const fill = await drive(`${base}${fillPath}`, null, {
      durationSeconds: 1,
      amount: size,
      connections: options.connections,
    });
    const populateSeconds = (performance.now() - started) / 1000;
    const after = await server.mark({ gc: true });
    const redisAfter = usesRedis ? await redisUsedMemory() : Number.NaN;
    const cookies = await obtainSessions(base, options.connections);
    const cpu: Record<'read' | 'hit', { perRequest: number; rps: number }> = {
      read: { perRequest: 0, rps: 0 },
      hit: { perRequest: 0, rps: 0 },
    };
    for (const scenario of ['read', 'hit'] as const) {
      const url = `${base}/${scenario}`;
      await drive(url, cookies, {
        durationSeconds: options.warmupSeconds,
        connections: options.connections,
      });
      const m0 = await server.mark();
      const load = await drive(url, cookies, {
        durationSeconds: options.durationSeconds,
        connections: options.connections,
      });
      const m1 = await server.mark();
      const micros = m1.userMicros + m1.systemMicros - (m0.userMicros + m0.systemMicros);
      cpu[scenario] = { perRequest: micros / load.requests, rps: load.requestsPerSecond };
    }
    const end = await server.mark();
    const load = hostLoad(
      host0,
      hostSnapshot(),
      end.userMicros + end.systemMicros - before.userMicros - before.systemMicros,
    );
    return {
      config: config.name,
      sessions: size,
      fillPath,
      loadAverage: load.loadAverage,
      otherBusyCores: load.otherBusyCores,
      populateFailures: fill.failures + Math.max(0, size - fill.requests),
      populateSeconds,
      rssPerSession: (after.rss - before.rss) / size,
      heapPerSession: (after.heapUsed - before.heapUsed) / size,
      redisBytesPerSession: usesRedis ? (redisAfter - redisBefore) / size : null,
      readCpuPerRequest: cpu.read.perRequest,
      hitCpuPerRequest: cpu.hit.perRequest,
      readRequestsPerSecond: cpu.read.rps,
      hitRequestsPerSecond: cpu.hit.rps,
    };
  } finally {
    await server.stop();
  }
}
