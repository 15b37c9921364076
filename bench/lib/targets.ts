/**
 * The bar of issue 14, checked against a run's medians: each target is met, missed, or pending
 * (its configuration was not measured in this run).
 */
import type { ScalePoint } from './scale.js';
import type { Scenario, Summary } from './throughput.js';

/** One target's verdict. */
export interface TargetResult {
  target: string;
  measured: string;
  verdict: 'met' | 'missed' | 'pending';
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
 * @param summaries - The run's medians, one mode.
 * @returns One verdict per target.
 * @example
 * ```ts
 * const verdicts = throughputTargets(summarize(configs, samples));
 * ```
 */
export function throughputTargets(summaries: readonly Summary[]): TargetResult[] {
  const out: TargetResult[] = [];
  const bound = (config: string, scenario: Scenario, limit: number): void => {
    const value = extra(summaries, config, scenario);
    out.push({
      target: `${config} ${scenario} ≤ +${limit} µs`,
      measured: value === null ? '–' : `${value >= 0 ? '+' : ''}${value.toFixed(1)} µs`,
      verdict: value === null ? 'pending' : value <= limit ? 'met' : 'missed',
    });
  };
  const node = 'tessera-node-memory';
  bound(node, 'read', 5);
  bound(node, 'hit', 10);
  bound(node, 'new', 12);
  // Every other adapter: no more than 1.5× node:http's figure for the same engine and store.
  for (const framework of ['fastify', 'express', 'express4', 'hono', 'fetch']) {
    const config = `tessera-${framework}-memory`;
    for (const scenario of ['read', 'hit', 'new'] as const) {
      const mine = extra(summaries, config, scenario);
      const base = extra(summaries, node, scenario);
      const limit = base === null ? null : 1.5 * Math.max(base, 0);
      out.push({
        target: `${config} ${scenario} ≤ 1.5× ${node}'s`,
        measured:
          mine === null || limit === null
            ? '–'
            : `+${mine.toFixed(1)} vs ≤ +${limit.toFixed(1)} µs`,
        verdict: mine === null || limit === null ? 'pending' : mine <= limit ? 'met' : 'missed',
      });
    }
  }
  const ratioTarget = (
    label: string,
    mine: string,
    theirs: string,
    scenario: Scenario,
    factor: number,
  ): void => {
    const a = extra(summaries, mine, scenario);
    const b = extra(summaries, theirs, scenario);
    const ratio = a !== null && b !== null ? b / Math.max(a, 0.1) : null;
    out.push({
      target: label,
      measured:
        a === null || b === null
          ? '–'
          : `+${a.toFixed(1)} vs +${b.toFixed(1)} µs (${ratio!.toFixed(1)}×)`,
      verdict: ratio === null ? 'pending' : ratio >= factor ? 'met' : 'missed',
    });
  };
  // Redis: one round trip on a read (GET), two on a hit (GET + one script), one on a new visitor.
  const expected: Record<Scenario, number> = { read: 1, hit: 2, new: 1 };
  for (const framework of ['node', 'express', 'fastify']) {
    const config = `tessera-${framework}-redis`;
    if (!summaries.some((s) => s.config === config)) continue;
    for (const scenario of SCENARIO_LIST) {
      const commands = perRequest(summaries, config, scenario, 'redisCommands');
      const row = summaries.find((s) => s.config === config && s.scenario === scenario);
      out.push({
        target: `${config} ${scenario}: ${expected[scenario]} Redis command(s) per request`,
        measured:
          commands === undefined || !row
            ? '–'
            : `${commands.toFixed(2)} (${Object.entries(row.perRequest)
                .filter(([name, value]) => name.startsWith('redis:') && value >= 0.005)
                .map(([name, value]) => `${name.slice(6)} ${value.toFixed(2)}`)
                .join(', ')})`,
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
      measured: writes === undefined ? '–' : `${writes.toFixed(2)} writes/req`,
      verdict: writes === undefined ? 'pending' : writes < 0.01 ? 'met' : 'missed',
    });
    bound(config, 'read', 30);
  }
  // Sealed mode: at or below @fastify/secure-session's overhead (on Fastify when that row was
  // measured, else node:http against it), ≥ 20× below iron-session's.
  for (const framework of ['node', 'fastify', 'express', 'hono', 'fetch']) {
    const config = `tessera-${framework}-sealed`;
    if (!summaries.some((s) => s.config === config) && framework !== 'node') continue;
    for (const scenario of ['read', 'hit'] as const) {
      const mine = extra(summaries, config, scenario);
      const secure = extra(summaries, 'fastify-secure-session', scenario);
      out.push({
        target: `${config} ${scenario} ≤ @fastify/secure-session's overhead`,
        measured:
          mine === null || secure === null
            ? '–'
            : `+${mine.toFixed(1)} vs +${secure.toFixed(1)} µs`,
        verdict: mine === null || secure === null ? 'pending' : mine <= secure ? 'met' : 'missed',
      });
      ratioTarget(
        `${config} ${scenario} overhead ≥ 20× less than iron-session's`,
        config,
        'iron-session-node',
        scenario,
        20,
      );
    }
  }
  return out;
}

const SCENARIO_LIST: readonly Scenario[] = ['read', 'hit', 'new'];

/**
 * Checks the scale targets (memory per session at 100k, CPU flat from smallest to largest).
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
    const at100k = own.find((p) => p.sessions === 100_000);
    if (config.endsWith('-memory')) {
      out.push({
        target: `${config}: ≤ 400 B RSS per small session at 100k`,
        measured: at100k ? `${Math.round(at100k.rssPerSession)} B` : '–',
        verdict: at100k ? (at100k.rssPerSession <= 400 ? 'met' : 'missed') : 'pending',
      });
    }
    if (config.endsWith('-redis')) {
      const bytes = at100k?.redisBytesPerSession ?? null;
      out.push({
        target: `${config}: ≤ 350 B in Redis per session (with the user index) at 100k`,
        measured: bytes === null ? '–' : `${Math.round(bytes)} B`,
        verdict: bytes === null ? 'pending' : bytes <= 350 ? 'met' : 'missed',
      });
    }
    const first = own[0];
    const last = own.at(-1);
    if (first && last && last !== first) {
      for (const key of ['readCpuPerRequest', 'hitCpuPerRequest'] as const) {
        const ratio = last[key] / first[key];
        out.push({
          target: `${config}: ${key.slice(0, key.indexOf('Cpu'))} CPU/req within 1.2× from ${first.sessions.toLocaleString('en')} to ${last.sessions.toLocaleString('en')} sessions`,
          measured: `${first[key].toFixed(1)} → ${last[key].toFixed(1)} µs (${ratio.toFixed(2)}×)`,
          verdict: ratio <= 1.2 ? 'met' : 'missed',
        });
      }
    }
  }
  return out;
}

/**
 * Renders verdicts as a markdown table.
 *
 * @param results - Verdicts.
 * @returns Markdown lines.
 * @example
 * ```ts
 * lines.push(...renderTargets(throughputTargets(summaries)));
 * ```
 */
export function renderTargets(results: readonly TargetResult[]): string[] {
  const mark = { met: '✅ met', missed: '❌ missed', pending: '⏳ pending' } as const;
  return [
    '| target | measured | verdict |',
    '|---|---|---|',
    ...results.map((r) => `| ${r.target} | ${r.measured} | ${mark[r.verdict]} |`),
  ];
}
