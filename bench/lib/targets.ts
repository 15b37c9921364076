/**
 * The bar of issue 14, checked against a run's medians: each target is met, missed, or pending
 * (its configuration was not measured in this run).
 */
import { ownShares } from './floor.js';
import type { ScalePoint } from './scale.js';
import type { Sample, Scenario, Summary } from './throughput.js';

/** One target's verdict. */
export interface TargetResult {
  target: string;
  /** Which figure of the run decides it (mode, configuration, compared with what). */
  judgedBy: string;
  measured: string;
  verdict: 'met' | 'missed' | 'pending';
  /**
   * `own-share`: a supplementary line judged on tessera's own share (its extra minus its
   * framework floor's, `bench/lib/floor.ts`), beside the issue's raw verdict; not in the issue's count.
   */
  basis?: 'own-share';
}

/**
 * The verdict of a figure against a bound.
 *
 * @param value - The measured figure, or null when not measured.
 * @param limit - The bound, or null when the figure it derives from was not measured.
 * @param direction - `at-most` (value ≤ limit meets it) or `at-least`.
 * @returns `met`, `missed`, or `pending` when either side is missing or not finite.
 * @example
 * ```ts
 * verdict(4.2, 5, 'at-most'); // 'met'
 * ```
 */
export function verdict(
  value: number | null | undefined,
  limit: number | null | undefined,
  direction: 'at-most' | 'at-least' = 'at-most',
): TargetResult['verdict'] {
  if (value == null || limit == null || !Number.isFinite(value) || !Number.isFinite(limit)) {
    return 'pending';
  }
  return (direction === 'at-most' ? value <= limit : value >= limit) ? 'met' : 'missed';
}

/**
 * Counts verdicts.
 *
 * @param results - Verdicts.
 * @returns How many are met, missed and pending.
 * @example
 * ```ts
 * const { met, missed } = countVerdicts(results);
 * ```
 */
export function countVerdicts(
  results: readonly TargetResult[],
): Record<TargetResult['verdict'], number> {
  const counts = { met: 0, missed: 0, pending: 0 };
  for (const r of results) counts[r.verdict]++;
  return counts;
}

const extra = (summaries: readonly Summary[], config: string, scenario: Scenario) =>
  summaries.find((s) => s.config === config && s.scenario === scenario)?.extraCpuPerRequest ?? null;

const perRequest = (
  summaries: readonly Summary[],
  config: string,
  scenario: Scenario,
  counter: string,
) => summaries.find((s) => s.config === config && s.scenario === scenario)?.perRequest[counter];

/**
 * Redis commands that write (those a read-only request must not send), including the Redis
 * store's write scripts by name (`EVALSHA:TOUCH`); a script whose name is unknown is not judged.
 */
const REDIS_WRITES =
  /^redis:(SET|SETEX|PSETEX|GETEX|GETDEL|EXPIRE|PEXPIRE|PEXPIREAT|DEL|UNLINK|HSET|HMSET|HDEL|ZADD|ZREM|SADD|SREM|INCR|INCRBY|MULTI|EVALSHA:(CREATE|UPDATE|TOUCH|ROTATE|DELETE\w*|SWEEP_ONE|FIX|INCREMENT|LIST_PUSH))$/;

/**
 * Checks the throughput targets of issue 14 on one mode's medians (the issue judges them in
 * fixed-rate mode).
 *
 * When the run measured the framework floors (`--floor`), each adapter's 1.5× line is followed
 * by a second one on the own-share basis (tessera's extra minus its framework floor's, against
 * 1.5 × node:http's own share), marked `basis: 'own-share'`; the raw verdict stays the issue's.
 *
 * @param summaries - The run's medians, one mode.
 * @param samples - The run's windows, when kept (the own shares are then paired within rounds).
 * @returns One verdict per target.
 * @example
 * ```ts
 * const verdicts = throughputTargets(summarize(configs, samples), samples);
 * ```
 */
export function throughputTargets(
  summaries: readonly Summary[],
  samples?: readonly Sample[],
): TargetResult[] {
  const out: TargetResult[] = [];
  const mode = summaries[0]?.mode === 'fixed' ? `@${summaries[0]?.targetRate} req/s` : 'saturation';
  const us = (value: number | null): string =>
    value === null || !Number.isFinite(value)
      ? '–'
      : `${value >= 0 ? '+' : ''}${value.toFixed(1)} µs`;
  const bound = (config: string, scenario: Scenario, limit: number): void => {
    const value = extra(summaries, config, scenario);
    out.push({
      target: `${config} ${scenario} ≤ +${limit} µs`,
      judgedBy: `extra CPU/req over the bare framework, ${mode}, median of paired rounds`,
      measured: us(value),
      verdict: verdict(value, limit),
    });
  };
  const node = 'tessera-node-memory';
  bound(node, 'read', 5);
  bound(node, 'hit', 10);
  bound(node, 'new', 12);
  // Own shares, when the run measured the floors (`--floor`): judged beside the raw figure.
  const shares = summaries.some((s) => s.kind === 'floor') ? ownShares(summaries, samples) : [];
  const share = (config: string, scenario: Scenario) =>
    shares.find((s) => s.config === config && s.scenario === scenario);
  // Every other adapter: no more than 1.5× node:http's figure for the same engine and store.
  for (const framework of ['fastify', 'express', 'express4', 'hono', 'fetch']) {
    const config = `tessera-${framework}-memory`;
    for (const scenario of SCENARIO_LIST) {
      const mine = extra(summaries, config, scenario);
      const base = extra(summaries, node, scenario);
      const limit = base === null ? null : 1.5 * Math.max(base, 0);
      out.push({
        target: `${config} ${scenario} ≤ 1.5× ${node}'s`,
        judgedBy: `extra CPU/req over its own bare framework vs 1.5 × ${node}'s, ${mode}`,
        measured:
          mine === null || limit === null ? '–' : `${us(mine)} vs ≤ +${limit.toFixed(1)} µs`,
        verdict: verdict(mine, limit),
      });
      if (shares.length === 0) continue;
      const own = share(config, scenario);
      const nodeOwn = share(node, scenario)?.own ?? null;
      const ownLimit = nodeOwn === null ? null : 1.5 * Math.max(nodeOwn, 0);
      out.push({
        target: `↳ own share: ${config} ${scenario} ≤ 1.5× ${node}'s own share`,
        judgedBy: `own-share basis (supplementary, not the issue's figure): extra CPU/req minus its framework floor's (floor-${framework}; ${node} minus floor-node), ${own?.basis === 'medians' ? 'difference of medians' : 'paired within rounds'}, ${mode}`,
        measured:
          own?.own == null || ownLimit === null
            ? '–'
            : `${us(own.own)} (raw ${us(own.raw)} − floor ${us(own.floorExtra)}) vs ≤ +${ownLimit.toFixed(1)} µs`,
        verdict: verdict(own?.own, ownLimit),
        basis: 'own-share',
      });
    }
  }
  // Redis: one round trip on a read (GET), two on a hit (GET + one script), one on a new visitor.
  const expected: Record<Scenario, number> = { read: 1, hit: 2, new: 1 };
  for (const framework of ['node', 'express', 'fastify']) {
    const config = `tessera-${framework}-redis`;
    if (!summaries.some((s) => s.config === config)) continue;
    for (const scenario of SCENARIO_LIST) {
      const commands = perRequest(summaries, config, scenario, 'redisCommands');
      const server = perRequest(summaries, config, scenario, 'redis-server:calls');
      const row = summaries.find((s) => s.config === config && s.scenario === scenario);
      out.push({
        target: `${config} ${scenario}: ${expected[scenario]} round trip(s) per request`,
        judgedBy:
          "commands sent per request, counted in the server's Redis client (none pipelined: one command, one round trip); the Redis server's own count beside it (INFO commandstats: a script's inner commands count too)",
        measured:
          commands === undefined || !row
            ? '–'
            : `${commands.toFixed(2)} sent (${byName(row.perRequest, 'redis:')})${
                server === undefined
                  ? ''
                  : `; server ran ${server.toFixed(2)} (${byName(row.perRequest, 'redis-server:')})`
              }`,
        verdict:
          commands === undefined
            ? 'pending'
            : Math.abs(commands - expected[scenario]) < 0.01
              ? 'met'
              : 'missed',
      });
    }
    const row = summaries.find((s) => s.config === config && s.scenario === 'read');
    const writes = row
      ? Object.entries(row.perRequest)
          .filter(([name]) => REDIS_WRITES.test(name))
          .reduce((sum, [, value]) => sum + value, 0)
      : undefined;
    out.push({
      target: `${config}: 0 writes on an unchanged request`,
      judgedBy: 'write commands and write scripts sent per read request',
      measured: writes === undefined ? '–' : `${writes.toFixed(2)} writes/req`,
      verdict: verdict(writes, 0.005),
    });
    bound(config, 'read', 30);
  }
  // Sealed mode: at or below @fastify/secure-session's overhead on the same framework (Fastify;
  // the node:http row is compared with it too, each over its own bare framework), and ≥ 20×
  // below iron-session's (on node:http).
  for (const framework of ['fastify', 'node', 'express', 'hono', 'fetch']) {
    const config = `tessera-${framework}-sealed`;
    // Fastify and node:http are in the default matrix: listed (pending) even when not measured.
    const listed = framework === 'fastify' || framework === 'node';
    if (!listed && !summaries.some((s) => s.config === config)) continue;
    for (const scenario of ['read', 'hit'] as const) {
      const mine = extra(summaries, config, scenario);
      const secure = extra(summaries, 'fastify-secure-session', scenario);
      out.push({
        target: `${config} ${scenario} ≤ @fastify/secure-session's`,
        judgedBy: `extra CPU/req, ${mode}${framework === 'fastify' ? ', both on Fastify' : `, each over its own bare framework (${framework} vs Fastify)`}`,
        measured: mine === null || secure === null ? '–' : `${us(mine)} vs ${us(secure)}`,
        verdict: verdict(mine, secure),
      });
      const iron = extra(summaries, 'iron-session-node', scenario);
      const ratio = mine !== null && iron !== null ? iron / Math.max(mine, 0.1) : null;
      out.push({
        target: `${config} ${scenario} ≥ 20× below iron-session's`,
        judgedBy: `iron-session's extra CPU/req ÷ ${config}'s (floored at 0.1 µs), ${mode}`,
        measured:
          mine === null || iron === null
            ? '–'
            : `${us(mine)} vs ${us(iron)} (${ratio!.toFixed(1)}×)`,
        verdict: verdict(ratio, 20, 'at-least'),
      });
    }
  }
  return out;
}

const byName = (counters: Record<string, number>, prefix: string): string =>
  Object.entries(counters)
    .filter(
      ([name, value]) =>
        name.startsWith(prefix) &&
        name !== 'redis-server:calls' &&
        name !== 'redis-server:cpuMicros' &&
        value >= 0.005,
    )
    .map(([name, value]) => `${name.slice(prefix.length)} ${value.toFixed(2)}`)
    .join(', ');

const SCENARIO_LIST: readonly Scenario[] = ['read', 'hit', 'new'];

/** The size at which the memory targets are judged. */
const MEMORY_SIZE = 100_000;

/**
 * Checks the scale targets: memory per session at 100k (memory store ≤ 400 B RSS, Redis ≤ 350 B
 * `used_memory`), and CPU per request within 1.2× from the smallest to the largest size.
 *
 * @param points - The scale run's points.
 * @returns One verdict per target.
 * @example
 * ```ts
 * const verdicts = scaleTargets(points);
 * ```
 */
export function scaleTargets(points: readonly ScalePoint[]): TargetResult[] {
  const out: TargetResult[] = [];
  const configs = [...new Set(points.map((p) => p.config))].filter((c) => c.startsWith('tessera'));
  for (const config of configs) {
    const own = points.filter((p) => p.config === config).sort((a, b) => a.sessions - b.sessions);
    const at100k = own.find((p) => p.sessions === MEMORY_SIZE);
    const smallest = own[0];
    if (config.endsWith('-memory')) {
      // Earlier runs have only the growth over the fill; the paired figure is judged when present.
      const paired = at100k?.rssPerSessionVsSmallest;
      const bytes = paired ?? at100k?.rssPerSession ?? null;
      out.push({
        target: `${config}: ≤ 400 B RSS per small session at 100k`,
        judgedBy:
          at100k && paired == null
            ? 'RSS growth over the fill after a full GC ÷ sessions'
            : `RSS after fill + full GC, 100k server − smallest size's server, ÷ the session difference`,
        measured:
          bytes === null
            ? '–'
            : `${Math.round(bytes)} B${paired == null ? '' : ` (own fill: ${Math.round(at100k!.rssPerSession)} B; heap ${Math.round(at100k!.heapPerSessionVsSmallest ?? Number.NaN)} B)`}`,
        verdict: verdict(bytes, 400),
      });
    }
    if (config.endsWith('-redis')) {
      const bytes = at100k?.redisBytesPerSession ?? null;
      out.push({
        target: `${config}: ≤ 350 B in Redis per session (user index and handle included) at 100k`,
        judgedBy: 'Redis used_memory growth over the fill of 100k signed-in sessions ÷ sessions',
        measured: bytes === null ? '–' : `${Math.round(bytes)} B`,
        verdict: verdict(bytes, 350),
      });
    }
    const last = own.at(-1);
    if (smallest && last && last !== smallest) {
      for (const scenario of ['read', 'hit'] as const) {
        const key = scenario === 'read' ? 'readCpuPerRequest' : 'hitCpuPerRequest';
        const paired = scenario === 'read' ? last.readRatio : last.hitRatio;
        const ratio = paired ?? last[key] / smallest[key];
        out.push({
          target: `${config}: ${scenario} CPU/req within 1.2× from ${smallest.sessions.toLocaleString('en')} to ${last.sessions.toLocaleString('en')} sessions`,
          judgedBy:
            paired === undefined
              ? 'ratio of the medians'
              : 'server CPU/req at the large size ÷ at the small size, fixed rate, paired within each round, median over rounds',
          measured: `${smallest[key].toFixed(1)} → ${last[key].toFixed(1)} µs (${ratio.toFixed(2)}×)`,
          verdict: verdict(ratio, 1.2),
        });
      }
    }
  }
  return out;
}

/**
 * Renders verdicts as a markdown table, with the count of each verdict under it.
 *
 * @param results - Verdicts.
 * @returns Markdown lines.
 * @example
 * ```ts
 * lines.push(...renderTargets(throughputTargets(summaries)));
 * ```
 */
export function renderTargets(results: readonly TargetResult[]): string[] {
  const mark = { met: '✅ met', missed: '❌ missed', pending: '⏳ not measured' } as const;
  // The issue's targets are counted; the own-share lines beside them are counted apart.
  const counts = countVerdicts(results.filter((r) => r.basis === undefined));
  const own = results.filter((r) => r.basis === 'own-share');
  const ownCounts = countVerdicts(own);
  return [
    '| target | judged by | measured | verdict |',
    '|---|---|---|---|',
    ...results.map((r) => `| ${r.target} | ${r.judgedBy} | ${r.measured} | ${mark[r.verdict]} |`),
    '',
    `**${counts.met} met, ${counts.missed} missed**${counts.pending > 0 ? `, ${counts.pending} not measured in this run` : ''}.`,
    ...(own.length > 0
      ? [
          '',
          `Own-share lines (↳, supplementary: tessera's extra minus its framework floor's, not counted above): ${ownCounts.met} met, ${ownCounts.missed} missed${ownCounts.pending > 0 ? `, ${ownCounts.pending} not measured` : ''}.`,
        ]
      : []),
  ];
}
