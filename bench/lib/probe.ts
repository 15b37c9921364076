/**
 * `--rate auto`: a short saturation probe that picks the fixed rate. Every configuration is
 * driven as fast as it answers for one second per scenario (after a short warm-up); the rate is
 * 70 % of the slowest configuration's slowest scenario, rounded down to a hundred, so every
 * configuration can hold it with room for the other work on the host.
 */
import { drive, obtainSessions } from './load.js';
import { type BenchConfig, hasSessions } from './matrix.js';
import { startServer } from './server-process.js';
import { SCENARIOS } from './throughput.js';

/** What the probe found. */
export interface RateProbe {
  /** The chosen rate, req/s. */
  rate: number;
  /** The slowest configuration and scenario, and its saturation req/s. */
  slowest: { config: string; scenario: string; requestsPerSecond: number };
  /** Every configuration's slowest scenario, req/s. */
  ceilings: Record<string, number>;
}

/**
 * Probes every configuration at saturation and picks the fixed rate.
 *
 * @param configs - The configurations of the run.
 * @param options - Connections and logging.
 * @returns The rate and the ceilings it came from.
 * @throws When no configuration could be probed.
 * @example
 * ```ts
 * const { rate } = await probeRate(configs, { connections: 10, log: console.log });
 * ```
 */
export async function probeRate(
  configs: readonly BenchConfig[],
  options: { connections: number; log: (line: string) => void },
): Promise<RateProbe> {
  const ceilings: Record<string, number> = {};
  let slowest: RateProbe['slowest'] | null = null;
  for (const config of configs) {
    let server: Awaited<ReturnType<typeof startServer>> | null = null;
    try {
      server = await startServer(config.name);
      const base = `http://127.0.0.1:${server.port}`;
      const cookies = hasSessions(config) ? await obtainSessions(base, options.connections) : null;
      let lowest = Number.POSITIVE_INFINITY;
      for (const scenario of SCENARIOS) {
        const url = `${base}/${scenario}`;
        const sendCookies = scenario === 'new' ? null : cookies;
        await drive(url, sendCookies, { durationSeconds: 0.5, connections: options.connections });
        const load = await drive(url, sendCookies, {
          durationSeconds: 1,
          connections: options.connections,
        });
        lowest = Math.min(lowest, load.requestsPerSecond);
        if (!slowest || load.requestsPerSecond < slowest.requestsPerSecond) {
          slowest = { config: config.name, scenario, requestsPerSecond: load.requestsPerSecond };
        }
      }
      ceilings[config.name] = lowest;
      options.log(`probe · ${config.name}: slowest scenario ${Math.round(lowest)} req/s`);
    } catch (error) {
      options.log(`probe · ${config.name}: ${error instanceof Error ? error.message : error}`);
    } finally {
      await server?.stop();
    }
  }
  if (!slowest) throw new Error('--rate auto: no configuration could be probed');
  const rate = Math.max(100, Math.floor((slowest.requestsPerSecond * 0.7) / 100) * 100);
  options.log(
    `--rate auto: ${rate} req/s (70 % of ${slowest.config} ${slowest.scenario}, ${Math.round(slowest.requestsPerSecond)} req/s)`,
  );
  return { rate, slowest, ceilings };
}
