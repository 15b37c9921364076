/**
 * The throughput suite: every configuration in its own server process, interleaved round-robin
 * within each round, each scenario warmed up then measured, server CPU read from inside the
 * server over the measured window only. Two modes per scenario, in the same server process:
 *
 * - `fixed`: every configuration is driven at the same request rate (open loop, see
 *   `fixed-rate.ts`), so each does the same work per second and the CPU per request is the
 *   library's work plus the same per-request wake-up cost as its bare framework;
 * - `saturation`: autocannon as fast as the server answers (closed loop, 10 connections); the
 *   CPU per request then also depends on how many requests each wake-up of the server batches,
 *   which falls with the configuration's throughput.
 */
import type { MarkReport } from './control.js';
import { driveAtRate, type RateResult } from './fixed-rate.js';
import { type HostLoad, hostLoad, hostSnapshot } from './host-load.js';
import { drive, type LoadResult, obtainSessions } from './load.js';
import { BARE, type BenchConfig, hasSessions } from './matrix.js';
import { type RedisProbe, redisPerRequest } from './redis-server.js';
import { startServer } from './server-process.js';
import { median } from './stats.js';

/** The three request shapes every configuration is measured on. */
export const SCENARIOS = ['read', 'hit', 'new'] as const;

/** One scenario name. */
export type Scenario = (typeof SCENARIOS)[number];

const ROUTE: Record<Scenario, string> = { read: '/read', hit: '/hit', new: '/new' };

/** How a window drives the server. */
export type Mode = 'fixed' | 'saturation';

/** Durations of one run. */
export interface ThroughputOptions {
  rounds: number;
  /** Modes measured, in order, for every scenario. */
  modes: readonly Mode[];
  /** Saturation mode: warm-up and measured window, s. */
  warmupSeconds: number;
  durationSeconds: number;
  /** Fixed-rate mode: the rate (req/s), warm-up and measured window, s. */
  rate: number;
  rateWarmupSeconds: number;
  rateDurationSeconds: number;
  connections: number;
  /**
   * Reads the Redis server's INFO around each window of a Redis configuration (server-side
   * command counts, scripts' inner commands included, and Redis CPU per request).
   */
  redis?: RedisProbe;
  /** Called with a one-line progress message. */
  log: (line: string) => void;
}

/** One measured window. */
export interface Sample extends HostLoad {
  config: string;
  scenario: Scenario;
  mode: Mode;
  round: number;
  /** Fixed-rate mode: the rate asked for, what was achieved, and whether it was held. */
  targetRate?: number;
  achievedRate?: number;
  held?: boolean;
  maxBacklog?: number;
  drainMs?: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  latencyP50: number;
  latencyP99: number;
  failures: number;
  /** Server user + system CPU over the window, µs. */
  cpuMicros: number;
  cpuPerRequest: number;
  /** Server RSS at the end of the window, bytes. */
  rss: number;
  /**
   * Counter deltas over the window, per request: the server's own (`redisCommands`, `redis:GET`:
   * commands the client sent) and, for a Redis configuration, the Redis server's
   * (`redis-server:calls`, `redis-server:<COMMAND>`, `redis-server:cpuMicros`).
   */
  perRequest: Record<string, number>;
}

/** A configuration that could not be measured in a round. */
export interface Failure {
  config: string;
  round: number;
  message: string;
}

/** Medians over rounds for one configuration and scenario. */
export interface Summary {
  config: string;
  framework: string;
  kind: string;
  store: string;
  scenario: Scenario;
  mode: Mode;
  rounds: number;
  /** Fixed-rate mode: the target, the median achieved rate, and the rounds that did not hold it. */
  targetRate?: number;
  achievedRate?: number;
  roundsNotHeld?: number;
  /** Median over rounds of the other work on the host (cores) and the 1-minute load average. */
  otherBusyCores: number;
  loadAverage: number;
  requestsPerSecond: number;
  latencyP50: number;
  latencyP99: number;
  cpuPerRequest: number;
  /** Median over rounds of (this − bare of the same framework in the same round), µs. */
  extraCpuPerRequest: number | null;
  /** Median over rounds of (this ÷ bare) CPU per request. */
  cpuRatio: number | null;
  /** Median over rounds of (this ÷ bare) req/s. */
  requestsPerSecondRatio: number | null;
  perRequest: Record<string, number>;
  failures: number;
}

const cpuOf = (report: MarkReport): number => report.userMicros + report.systemMicros;

/**
 * Runs every configuration for every scenario, `rounds` times, interleaved.
 *
 * @param configs - The configurations (bare servers of their frameworks included).
 * @param options - Durations and logging.
 * @returns Every sample and every failure.
 * @throws Never for a server that fails: the failure is recorded and the run goes on.
 * @example
 * ```ts
 * const { samples } = await runThroughput(configs, { rounds: 3, warmupSeconds: 2, durationSeconds: 4, connections: 10, log: console.log });
 * ```
 */
export async function runThroughput(
  configs: readonly BenchConfig[],
  options: ThroughputOptions,
): Promise<{ samples: Sample[]; failures: Failure[] }> {
  const samples: Sample[] = [];
  const failures: Failure[] = [];
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the start of each round so no configuration always runs first or last.
    const order = configs.map((_, i) => configs[(i + round) % configs.length]!);
    for (const config of order) {
      options.log(`round ${round + 1}/${options.rounds} · ${config.name}`);
      try {
        samples.push(...(await measureConfig(config, round, options)));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        options.log(`  ! ${config.name}: ${message}`);
        failures.push({ config: config.name, round, message });
      }
    }
  }
  return { samples, failures };
}

async function measureConfig(
  config: BenchConfig,
  round: number,
  options: ThroughputOptions,
): Promise<Sample[]> {
  const server = await startServer(config.name);
  const samples: Sample[] = [];
  const redis = config.services.includes('redis') ? options.redis : undefined;
  try {
    const base = `http://127.0.0.1:${server.port}`;
    // One session per connection: ten visitors, each replaying its own cookie (ten parallel
    // writers on one session would measure write-conflict handling, not the common case).
    const cookies = hasSessions(config) ? await obtainSessions(base, options.connections) : null;
    // `new` last: it fills the store, which must not weigh on `read` and `hit`.
    for (const scenario of SCENARIOS) {
      const url = `${base}${ROUTE[scenario]}`;
      const sendCookies = scenario === 'new' ? null : cookies;
      for (const mode of options.modes) {
        const window = (warmup: boolean): Promise<LoadResult | RateResult> =>
          mode === 'fixed'
            ? driveAtRate(url, sendCookies, {
                rate: options.rate,
                durationSeconds: warmup ? options.rateWarmupSeconds : options.rateDurationSeconds,
                connections: options.connections,
              })
            : drive(url, sendCookies, {
                durationSeconds: warmup ? options.warmupSeconds : options.durationSeconds,
                connections: options.connections,
              });
        await window(true);
        const redis0 = await redis?.read();
        const before = await server.mark();
        const host0 = hostSnapshot();
        const load = await window(false);
        const host1 = hostSnapshot();
        const after = await server.mark();
        const redis1 = await redis?.read();
        const cpuMicros = cpuOf(after) - cpuOf(before);
        const perRequest: Record<string, number> = {};
        for (const [name, value] of Object.entries(after.counters)) {
          if (name === 'sessions') continue;
          perRequest[name] =
            load.requests > 0 ? (value - (before.counters[name] ?? 0)) / load.requests : 0;
        }
        if (redis0 && redis1)
          Object.assign(perRequest, redisPerRequest(redis0, redis1, load.requests));
        const rate =
          'targetRate' in load
            ? {
                targetRate: load.targetRate,
                achievedRate: load.achievedRate,
                held: load.held,
                maxBacklog: load.maxBacklog,
                drainMs: load.drainMs,
              }
            : {};
        samples.push({
          config: config.name,
          scenario,
          mode,
          round,
          ...rate,
          requests: load.requests,
          seconds: load.seconds,
          requestsPerSecond: load.requestsPerSecond,
          latencyP50: load.latencyP50,
          latencyP99: load.latencyP99,
          failures: load.failures,
          cpuMicros,
          cpuPerRequest: load.requests > 0 ? cpuMicros / load.requests : Number.NaN,
          rss: after.rss,
          perRequest,
          ...hostLoad(host0, host1, cpuMicros),
        });
        const last = samples.at(-1)!;
        options.log(
          `  ${scenario.padEnd(4)} ${mode === 'fixed' ? `@${options.rate}/s` : 'sat.  '} ${Math.round(last.requestsPerSecond).toString().padStart(6)} req/s  ` +
            `${last.cpuPerRequest.toFixed(1).padStart(6)} µs CPU/req  other load ${last.otherBusyCores.toFixed(2)} cores` +
            (last.held === false ? '  (RATE NOT HELD)' : '') +
            (last.failures > 0 ? `  (${last.failures} failed requests!)` : ''),
        );
      }
    }
  } finally {
    await server.stop();
  }
  return samples;
}

/**
 * Reduces samples to medians per configuration and scenario, with the overhead over the bare
 * server of the same framework computed round by round (paired), then the median taken.
 *
 * @param configs - The configurations measured.
 * @param samples - Every sample.
 * @returns One summary per configuration and scenario that has samples.
 * @example
 * ```ts
 * const table = summarize(configs, samples);
 * ```
 */
export function summarize(configs: readonly BenchConfig[], samples: readonly Sample[]): Summary[] {
  const summaries: Summary[] = [];
  const find = (
    config: string,
    scenario: Scenario,
    mode: Mode,
    round: number,
  ): Sample | undefined =>
    samples.find(
      (s) => s.config === config && s.scenario === scenario && s.mode === mode && s.round === round,
    );
  const modes = [...new Set(samples.map((s) => s.mode ?? 'saturation'))];
  for (const mode of modes)
    for (const config of configs) {
      for (const scenario of SCENARIOS) {
        const own = samples.filter(
          (s) =>
            s.config === config.name &&
            s.scenario === scenario &&
            (s.mode ?? 'saturation') === mode,
        );
        if (own.length === 0) continue;
        const extra: number[] = [];
        const cpuRatio: number[] = [];
        const rpsRatio: number[] = [];
        for (const sample of own) {
          const bare = find(BARE[config.framework], scenario, mode, sample.round);
          if (!bare) continue;
          extra.push(sample.cpuPerRequest - bare.cpuPerRequest);
          cpuRatio.push(sample.cpuPerRequest / bare.cpuPerRequest);
          rpsRatio.push(sample.requestsPerSecond / bare.requestsPerSecond);
        }
        const counterNames = new Set(own.flatMap((s) => Object.keys(s.perRequest)));
        const perRequest: Record<string, number> = {};
        for (const name of counterNames) {
          perRequest[name] = median(own.map((s) => s.perRequest[name] ?? Number.NaN));
        }
        summaries.push({
          config: config.name,
          framework: config.framework,
          kind: config.kind,
          store: config.store,
          scenario,
          mode,
          rounds: own.length,
          ...(mode === 'fixed'
            ? {
                targetRate: own[0]!.targetRate ?? Number.NaN,
                achievedRate: median(own.map((s) => s.achievedRate ?? Number.NaN)),
                roundsNotHeld: own.filter((s) => s.held === false).length,
              }
            : {}),
          otherBusyCores: median(own.map((s) => s.otherBusyCores ?? Number.NaN)),
          loadAverage: median(own.map((s) => s.loadAverage)),
          requestsPerSecond: median(own.map((s) => s.requestsPerSecond)),
          latencyP50: median(own.map((s) => s.latencyP50)),
          latencyP99: median(own.map((s) => s.latencyP99)),
          cpuPerRequest: median(own.map((s) => s.cpuPerRequest)),
          extraCpuPerRequest: extra.length > 0 ? median(extra) : null,
          cpuRatio: cpuRatio.length > 0 ? median(cpuRatio) : null,
          requestsPerSecondRatio: rpsRatio.length > 0 ? median(rpsRatio) : null,
          perRequest,
          failures: own.reduce((sum, s) => sum + s.failures, 0),
        });
      }
    }
  return summaries;
}
