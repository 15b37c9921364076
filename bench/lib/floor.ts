/**
 * Tessera's own share of its extra CPU per request: its extra over the bare framework minus the
 * floor's (the bare app plus one no-op session-shaped middleware, `floor-<framework>`), i.e.
 * what tessera costs beyond what any session middleware costs on that framework.
 */
import { FLOOR, type Framework } from './matrix.js';
import { median } from './stats.js';
import type { Mode, Sample, Scenario, Summary } from './throughput.js';

/** One tessera row beside its framework's floor. */
export interface OwnShare {
  config: string;
  framework: string;
  /** The floor configuration it is compared with. */
  floor: string;
  scenario: Scenario;
  mode: Mode;
  /** Tessera's extra CPU/req over the bare framework (the report's raw figure), µs. */
  raw: number | null;
  /** The floor's extra CPU/req over the same bare framework, µs. */
  floorExtra: number | null;
  /** Tessera's own share: tessera − floor, µs (null when either side is missing). */
  own: number | null;
  /**
   * How `own` was computed: `paired` = median over rounds of (tessera − floor CPU/req in the same
   * round and mode; the bare server cancels out), from the run's samples; `medians` = the
   * difference of the two medians (a run saved without samples).
   */
  basis: 'paired' | 'medians';
}

const modeOf = (s: { mode?: Mode }): Mode => s.mode ?? 'saturation';

/**
 * Tessera's own share for every tessera row whose framework's floor was measured in the same
 * mode and scenario.
 *
 * @param summaries - The run's medians (any modes).
 * @param samples - The run's windows, when kept: the share is then paired within rounds.
 * @returns One entry per tessera row with a floor, in the order of `summaries`.
 * @example
 * ```ts
 * const shares = ownShares(run.summaries, run.samples);
 * ```
 */
export function ownShares(summaries: readonly Summary[], samples?: readonly Sample[]): OwnShare[] {
  const out: OwnShare[] = [];
  for (const s of summaries) {
    if (s.kind !== 'tessera') continue;
    const floor = FLOOR[s.framework as Framework];
    if (floor === undefined) continue;
    const f = summaries.find(
      (x) => x.config === floor && x.scenario === s.scenario && modeOf(x) === modeOf(s),
    );
    if (!f) continue;
    const raw = s.extraCpuPerRequest;
    const floorExtra = f.extraCpuPerRequest;
    const window = (config: string) =>
      (samples ?? []).filter(
        (x) => x.config === config && x.scenario === s.scenario && modeOf(x) === modeOf(s),
      );
    const floorWindows = window(floor);
    const differences: number[] = [];
    for (const mine of window(s.config)) {
      const theirs = floorWindows.find((x) => x.round === mine.round);
      if (theirs) differences.push(mine.cpuPerRequest - theirs.cpuPerRequest);
    }
    const own =
      differences.length > 0
        ? median(differences)
        : raw === null || floorExtra === null
          ? null
          : raw - floorExtra;
    out.push({
      config: s.config,
      framework: s.framework,
      floor,
      scenario: s.scenario,
      mode: modeOf(s),
      raw,
      floorExtra,
      own,
      basis: differences.length > 0 ? 'paired' : 'medians',
    });
  }
  return out;
}
