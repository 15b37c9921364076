/**
 * The arithmetic of the scale suite, apart from any process so that it is unit-tested
 * (`bench/lib/scale-plan.test.ts`): which size runs when, the per-round paired ratio of CPU per
 * request between a size and the smallest, and memory per session from two filled servers.
 */
import { median } from './stats.js';

/**
 * The order in which the filled servers are measured, round by round: every size once per
 * round, the start rotated each round, so that no size always runs first (warmest host) or last.
 *
 * @param sizes - Population sizes (each its own server).
 * @param rounds - Rounds.
 * @returns One list of sizes per round.
 * @example
 * ```ts
 * scaleSchedule([1000, 100_000], 3); // [[1000, 100000], [100000, 1000], [1000, 100000]]
 * ```
 */
export function scaleSchedule(sizes: readonly number[], rounds: number): number[][] {
  return Array.from({ length: rounds }, (_, round) =>
    sizes.map((_, i) => sizes[(i + round) % sizes.length]!),
  );
}

/** One measured window of the scale suite. */
export interface ScaleSample {
  config: string;
  sessions: number;
  scenario: 'read' | 'hit';
  round: number;
  cpuPerRequest: number;
  requests: number;
  /** Fixed-rate windows: whether the rate was held. */
  held: boolean;
  achievedRate: number;
  loadAverage: number;
  otherBusyCores: number;
}

/**
 * The ratio of CPU per request at `sessions` to that at `baseSessions`, paired within each
 * round (both windows of a pair ran minutes apart at most, under the same host load), then the
 * median over rounds.
 *
 * @param samples - Every window of the run.
 * @param config - The configuration.
 * @param scenario - `read` or `hit`.
 * @param sessions - The size compared.
 * @param baseSessions - The size it is compared with (the smallest).
 * @returns The median ratio and the per-round ratios (NaN median when no round has both).
 * @example
 * ```ts
 * pairedRatio(samples, 'tessera-node-memory', 'read', 1_000_000, 1000).median; // 1.04
 * ```
 */
export function pairedRatio(
  samples: readonly ScaleSample[],
  config: string,
  scenario: 'read' | 'hit',
  sessions: number,
  baseSessions: number,
): { median: number; ratios: number[] } {
  const of = (size: number) =>
    samples.filter((s) => s.config === config && s.scenario === scenario && s.sessions === size);
  const base = of(baseSessions);
  const ratios: number[] = [];
  for (const sample of of(sessions)) {
    const pair = base.find((s) => s.round === sample.round);
    if (pair && pair.cpuPerRequest > 0) ratios.push(sample.cpuPerRequest / pair.cpuPerRequest);
  }
  return { median: median(ratios), ratios };
}

/**
 * Memory per session from two servers filled the same way, each measured after its fill and a
 * full GC: the difference of their memory over the difference of their sessions. What both
 * servers hold besides the sessions (code, JIT, the young generation, buffers) cancels out.
 *
 * @param small - The smaller population and its memory, bytes.
 * @param large - The larger one.
 * @returns Bytes per session (NaN when the populations are equal).
 * @example
 * ```ts
 * perSessionDelta({ sessions: 1000, bytes: 60e6 }, { sessions: 101_000, bytes: 100e6 }); // 400
 * ```
 */
export function perSessionDelta(
  small: { sessions: number; bytes: number },
  large: { sessions: number; bytes: number },
): number {
  const sessions = large.sessions - small.sessions;
  return sessions === 0 ? Number.NaN : (large.bytes - small.bytes) / sessions;
}
