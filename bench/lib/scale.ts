/**
 * The scale suite (`--scale`): per store configuration, one server per population size, all
 * alive at once. Each server is warmed up the same way (2,000 sessions, read and hit windows),
 * measured after a full GC, then filled: a tessera server fills in process through its engine
 * (`fillSessions`: the records its `/login` route leaves, signed-in sessions of one user each,
 * without the HTTP work; on SQLite and PostgreSQL the first 1,000 so, the rest bulk-inserted
 * copies of the engine's last row, `bulk-fill.ts`), a peer through its own `/new` route. Then fixed-rate `read` and `hit`
 * windows alternate between the sizes round by round (`scaleSchedule`), and the CPU per request
 * at each size is compared with the smallest size's in the same round (`pairedRatio`).
 *
 * Memory per session is judged from two servers (`perSessionDelta`): memory after fill + GC of
 * a size minus that of the smallest size, over the difference of their sessions; the growth of
 * one server over its own fill is reported beside it. Redis: `used_memory` growth over the fill
 * (on the run's private server nothing else writes to it).
 */
import type { FillResult, MarkReport } from './control.js';
import { driveAtRate } from './fixed-rate.js';
import { hostLoad, hostSnapshot } from './host-load.js';
import { drive, obtainSessions } from './load.js';
import { type BenchConfig, hasSessions } from './matrix.js';
import type { RedisProbe } from './redis-server.js';
import { pairedRatio, perSessionDelta, type ScaleSample, scaleSchedule } from './scale-plan.js';
import { type ServerProcess, startServer } from './server-process.js';
import { median } from './stats.js';

/** Settings of a scale run. */
export interface ScaleOptions {
  sizes: number[];
  rounds: number;
  /** Fixed-rate windows: rate (req/s), warm-up and measured seconds. */
  rate: number;
  rateWarmupSeconds: number;
  rateDurationSeconds: number;
  connections: number;
  /** The Redis server's stats (used_memory, CPU) for Redis configurations. */
  redis?: RedisProbe;
  log: (line: string) => void;
}

/** One configuration at one population size. */
export interface ScalePoint {
  config: string;
  sessions: number;
  /**
   * How the store was filled: `engine` (in process, signed-in sessions), `engine+copies` (the
   * first sessions through the engine, the rest bulk copies of its last row: SQLite, PostgreSQL)
   * or `/new` (HTTP).
   */
  fill?: 'engine' | 'engine+copies' | '/new';
  /** Rows of the fill bulk-inserted as copies (`engine+copies`). */
  copies?: number;
  /** Earlier runs: the route that filled the store. */
  fillPath?: string;
  /** Sessions that failed to fill (should be 0). */
  populateFailures: number;
  populateSeconds: number;
  /** Server CPU per session added by the fill, µs (in-process fill: the engine's work alone). */
  fillCpuPerSession?: number;
  /** Redis CPU per session added by the fill, µs. */
  fillRedisCpuPerSession?: number;
  /** Growth of this server over its own fill (after a full GC), per session. */
  rssPerSession: number;
  heapPerSession: number;
  /** After fill + GC, bytes (the input of the paired figures). */
  rssAfterFill?: number;
  heapAfterFill?: number;
  /** (this − smallest size) ÷ (sessions − smallest's sessions), after fill + GC; the judged figure. */
  rssPerSessionVsSmallest?: number | null;
  heapPerSessionVsSmallest?: number | null;
  /** Growth of Redis `used_memory` over this server's fill, per session. */
  redisBytesPerSession: number | null;
  /** Medians over rounds (fixed-rate windows). */
  readCpuPerRequest: number;
  hitCpuPerRequest: number;
  /** Median over rounds of (this ÷ smallest size) CPU per request, paired within the round. */
  readRatio?: number;
  hitRatio?: number;
  readRequestsPerSecond: number;
  hitRequestsPerSecond: number;
  /** Windows that did not hold the rate. */
  windowsNotHeld?: number;
  /** 1-minute load average and other processes' CPU (cores), medians over the windows. */
  loadAverage?: number;
  otherBusyCores?: number;
}

/** What a scale run returns: the points and every window. */
export interface ScaleRun {
  points: ScalePoint[];
  samples: ScaleSample[];
}

/** Sessions every server gets before its baseline (warms the fill path up). */
const WARM_SESSIONS = 2000;

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
  return hasSessions(config) && config.store !== 'cookie' && config.store !== 'sealed';
}

const cpuOf = (mark: MarkReport): number => mark.userMicros + mark.systemMicros;

interface Filled {
  size: number;
  server: ServerProcess;
  cookies: string[];
  point: ScalePoint;
}

/**
 * Runs the scale suite.
 *
 * @param configs - Configurations to measure (filtered with {@link keepsServerSessions}).
 * @param options - Sizes, rounds, the fixed rate and logging.
 * @returns One point per configuration and size (a configuration that fails is logged and left
 *   out) and every window.
 * @example
 * ```ts
 * const { points } = await runScale(configs, { sizes: [1000, 100_000], rounds: 3, rate: 2000, rateWarmupSeconds: 0.5, rateDurationSeconds: 2.5, connections: 10, log: console.log });
 * ```
 */
export async function runScale(
  configs: readonly BenchConfig[],
  options: ScaleOptions,
): Promise<ScaleRun> {
  const run: ScaleRun = { points: [], samples: [] };
  const sizes = [...new Set(options.sizes)].sort((a, b) => a - b);
  for (const config of configs.filter(keepsServerSessions)) {
    const filled: Filled[] = [];
    try {
      for (const size of sizes) filled.push(await fillServer(config, size, options));
      const samples = await measureInterleaved(config, filled, options);
      run.samples.push(...samples);
      run.points.push(...summarizePoints(filled, samples));
      for (const p of run.points.filter((q) => q.config === config.name)) {
        options.log(
          `  ${config.name} · ${p.sessions.toLocaleString('en')}: read ${p.readCpuPerRequest.toFixed(1)} µs (${(p.readRatio ?? Number.NaN).toFixed(2)}×), hit ${p.hitCpuPerRequest.toFixed(1)} µs (${(p.hitRatio ?? Number.NaN).toFixed(2)}×)` +
            (p.rssPerSessionVsSmallest == null
              ? ''
              : `; ${Math.round(p.rssPerSessionVsSmallest)} B RSS, ${Math.round(p.heapPerSessionVsSmallest ?? Number.NaN)} B heap per session vs smallest`) +
            (p.redisBytesPerSession === null
              ? ''
              : `; ${Math.round(p.redisBytesPerSession)} B Redis/session`),
        );
      }
    } catch (error) {
      options.log(`  ! ${config.name}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      for (const f of filled) await f.server.stop();
    }
  }
  return run;
}

async function fillServer(
  config: BenchConfig,
  size: number,
  options: ScaleOptions,
): Promise<Filled> {
  const redis = config.services.includes('redis') ? options.redis : undefined;
  const inProcess = config.kind === 'tessera';
  options.log(
    `scale · ${config.name} · ${size.toLocaleString('en')} sessions (${inProcess ? 'in process' : 'through /new'})`,
  );
  const server = await startServer(config.name, {
    // Room for the fill, the warm-up and the checked sessions: signed-in sessions are never
    // evicted, so a full memory store would answer 503.
    env: { BENCH_CAPACITY: String(Math.ceil(size * 1.1) + 3 * WARM_SESSIONS) },
    // The young generation at its full size from the start: its growth during a fill would
    // otherwise be counted as session memory (≈250 B/session in the memory store at 100k).
    nodeArgs: ['--min-semi-space-size=16'],
    timeoutMs: 60_000,
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const fill = async (count: number): Promise<FillResult> => {
      if (inProcess) return server.fill(count);
      const result = await drive(`${base}/new`, null, {
        durationSeconds: 1,
        amount: count,
        connections: options.connections,
      });
      return { failures: result.failures + Math.max(0, count - result.requests) };
    };
    // The same warm-up on every server: fill code, read and hit paths, GC heuristics.
    await fill(WARM_SESSIONS);
    const cookies = await obtainSessions(base, options.connections);
    for (const scenario of ['read', 'hit'] as const) {
      await driveAtRate(`${base}/${scenario}`, cookies, {
        rate: options.rate,
        durationSeconds: 1,
        connections: options.connections,
      });
    }
    const redis0 = await redis?.read();
    const before = await server.mark({ gc: true });
    const started = performance.now();
    const { failures, copies } = await fill(size);
    const populateSeconds = (performance.now() - started) / 1000;
    const filledMark = await server.mark();
    const redis1 = await redis?.read();
    const after = await server.mark({ gc: true });
    const point: ScalePoint = {
      config: config.name,
      sessions: size,
      fill: !inProcess ? '/new' : copies ? 'engine+copies' : 'engine',
      ...(copies ? { copies } : {}),
      populateFailures: failures,
      populateSeconds,
      fillCpuPerSession: (cpuOf(filledMark) - cpuOf(before)) / size,
      ...(redis0 && redis1
        ? { fillRedisCpuPerSession: (redis1.cpuMicros - redis0.cpuMicros) / size }
        : {}),
      rssPerSession: (after.rss - before.rss) / size,
      heapPerSession: (after.heapUsed - before.heapUsed) / size,
      rssAfterFill: after.rss,
      heapAfterFill: after.heapUsed,
      redisBytesPerSession:
        redis0 && redis1 ? (redis1.usedMemory - redis0.usedMemory) / size : null,
      readCpuPerRequest: Number.NaN,
      hitCpuPerRequest: Number.NaN,
      readRequestsPerSecond: Number.NaN,
      hitRequestsPerSecond: Number.NaN,
    };
    if (copies) {
      options.log(
        `  method: ${(size - copies).toLocaleString('en')} sessions through the engine, ${copies.toLocaleString('en')} filler rows bulk-inserted (copies of the engine's last row, own id, handle and user each; bench/lib/bulk-fill.ts): fill CPU below is the bulk insert's, not the engine's`,
      );
    }
    options.log(
      `  filled in ${populateSeconds.toFixed(1)} s (${point.fillCpuPerSession!.toFixed(1)} µs server CPU/session${failures > 0 ? `, ${failures} FAILED` : ''}); +${Math.round(point.rssPerSession)} B RSS, +${Math.round(point.heapPerSession)} B heap per session over its own fill` +
        (point.redisBytesPerSession === null
          ? ''
          : `, +${Math.round(point.redisBytesPerSession)} B Redis used_memory`),
    );
    return { size, server, cookies, point };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function measureInterleaved(
  config: BenchConfig,
  filled: readonly Filled[],
  options: ScaleOptions,
): Promise<ScaleSample[]> {
  const samples: ScaleSample[] = [];
  const schedule = scaleSchedule(
    filled.map((f) => f.size),
    options.rounds,
  );
  for (const [round, order] of schedule.entries()) {
    for (const size of order) {
      const { server, cookies } = filled.find((f) => f.size === size)!;
      for (const scenario of ['read', 'hit'] as const) {
        const url = `http://127.0.0.1:${server.port}/${scenario}`;
        const window = (seconds: number) =>
          driveAtRate(url, cookies, {
            rate: options.rate,
            durationSeconds: seconds,
            connections: options.connections,
          });
        await window(options.rateWarmupSeconds);
        const m0 = await server.mark();
        const host0 = hostSnapshot();
        const load = await window(options.rateDurationSeconds);
        const host1 = hostSnapshot();
        const m1 = await server.mark();
        const micros = cpuOf(m1) - cpuOf(m0);
        const host = hostLoad(host0, host1, micros);
        samples.push({
          config: config.name,
          sessions: size,
          scenario,
          round,
          cpuPerRequest: load.requests > 0 ? micros / load.requests : Number.NaN,
          requests: load.requests,
          held: load.held,
          achievedRate: load.achievedRate,
          loadAverage: host.loadAverage,
          otherBusyCores: host.otherBusyCores,
        });
        const s = samples.at(-1)!;
        options.log(
          `  round ${round + 1}/${options.rounds} · ${size.toLocaleString('en').padStart(9)} · ${scenario.padEnd(4)} @${options.rate}/s ${s.cpuPerRequest.toFixed(1).padStart(6)} µs CPU/req  other load ${s.otherBusyCores.toFixed(2)} cores${s.held ? '' : '  (RATE NOT HELD)'}${load.failures > 0 ? `  (${load.failures} failed requests!)` : ''}`,
        );
      }
    }
  }
  return samples;
}

function summarizePoints(filled: readonly Filled[], samples: readonly ScaleSample[]): ScalePoint[] {
  const smallest = filled[0]!;
  return filled.map(({ size, point }) => {
    const own = (scenario: 'read' | 'hit') =>
      samples.filter((s) => s.sessions === size && s.scenario === scenario);
    const vsSmallest = (key: 'rssAfterFill' | 'heapAfterFill'): number | null =>
      size === smallest.size
        ? null
        : perSessionDelta(
            { sessions: smallest.size, bytes: smallest.point[key]! },
            { sessions: size, bytes: point[key]! },
          );
    const ratio = (scenario: 'read' | 'hit') =>
      pairedRatio(samples, point.config, scenario, size, smallest.size).median;
    const windows = samples.filter((s) => s.sessions === size);
    return {
      ...point,
      rssPerSessionVsSmallest: vsSmallest('rssAfterFill'),
      heapPerSessionVsSmallest: vsSmallest('heapAfterFill'),
      readCpuPerRequest: median(own('read').map((s) => s.cpuPerRequest)),
      hitCpuPerRequest: median(own('hit').map((s) => s.cpuPerRequest)),
      readRatio: ratio('read'),
      hitRatio: ratio('hit'),
      readRequestsPerSecond: median(own('read').map((s) => s.achievedRate)),
      hitRequestsPerSecond: median(own('hit').map((s) => s.achievedRate)),
      windowsNotHeld: windows.filter((s) => !s.held).length,
      loadAverage: median(windows.map((s) => s.loadAverage)),
      otherBusyCores: median(windows.map((s) => s.otherBusyCores)),
    };
  });
}
