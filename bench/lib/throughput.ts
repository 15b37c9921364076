/**
 * The throughput suite: every configuration in its own server process, interleaved round-robin
 * within each round, each scenario warmed up then measured, server CPU read from inside the
 * server over the measured window only.
 */
import { loadavg } from 'node:os';
import type { MarkReport } from './control.js';
import { drive, obtainSessions } from './load.js';
import { BARE, type BenchConfig } from './matrix.js';
import { startServer } from './server-process.js';
import { median } from './stats.js';

/** The three request shapes every configuration is measured on. */
export const SCENARIOS = ['read', 'hit', 'new'] as const;

/** One scenario name. */
export type Scenario = (typeof SCENARIOS)[number];

const ROUTE: Record<Scenario, string> = { read: '/read', hit: '/hit', new: '/new' };

/** Durations of one run. */
export interface ThroughputOptions {
  rounds: number;
  warmupSeconds: number;
  durationSeconds: number;
  connections: number;
  /** Called with a one-line progress message. */
  log: (line: string) => void;
}

/** One measured window. */
export interface Sample {
  config: string;
  scenario: Scenario;
  round: number;
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
  /** Counter deltas over the window (e.g. `redisCommands`), per request. */
  perRequest: Record<string, number>;
  /** The machine's 1-minute load average at the end of the window (other work on the host). */
  loadAverage: number;
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
  rounds: number;
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
  try {
    const base = `http://127.0.0.1:${server.port}`;
    // One session per connection: ten visitors, each replaying its own cookie (ten parallel
    // writers on one session would measure write-conflict handling, not the common case).
    const cookies = config.kind === 'bare' ? null : await obtainSessions(base, options.connections);
    // `new` last: it fills the store, which must not weigh on `read` and `hit`.
    for (const scenario of SCENARIOS) {
      const url = `${base}${ROUTE[scenario]}`;
      const sendCookies = scenario === 'new' ? null : cookies;
      await drive(url, sendCookies, {
        durationSeconds: options.warmupSeconds,
        connections: options.connections,
      });
      const before = await server.mark();
      const load = await drive(url, sendCookies, {
        durationSeconds: options.durationSeconds,
        connections: options.connections,
      });
      const after = await server.mark();
      const cpuMicros = cpuOf(after) - cpuOf(before);
      const perRequest: Record<string, number> = {};
      for (const [name, value] of Object.entries(after.counters)) {
        if (name === 'sessions') continue;
        perRequest[name] =
          load.requests > 0 ? (value - (before.counters[name] ?? 0)) / load.requests : 0;
      }
      samples.push({
        config: config.name,
        scenario,
        round,
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
        loadAverage: loadavg()[0] ?? 0,
      });
      const last = samples.at(-1)!;
      options.log(
        `  ${scenario.padEnd(4)} ${Math.round(last.requestsPerSecond).toString().padStart(6)} req/s  ` +
          `${last.cpuPerRequest.toFixed(1).padStart(6)} µs CPU/req` +
          (last.failures > 0 ? `  (${last.failures} failed requests!)` : ''),
      );
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
  const find = (config: string, scenario: Scenario, round: number): Sample | undefined =>
    samples.find((s) => s.config === config && s.scenario === scenario && s.round === round);
  for (const config of configs) {
    for (const scenario of SCENARIOS) {
      const own = samples.filter((s) => s.config === config.name && s.scenario === scenario);
      if (own.length === 0) continue;
      const extra: number[] = [];
      const cpuRatio: number[] = [];
      const rpsRatio: number[] = [];
      for (const sample of own) {
        const bare = find(BARE[config.framework], scenario, sample.round);
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
        rounds: own.length,
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
