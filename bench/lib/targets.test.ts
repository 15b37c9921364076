import { describe, expect, it } from 'vitest';
import type { ScalePoint } from './scale.js';
import {
  countVerdicts,
  renderTargets,
  scaleTargets,
  type TargetResult,
  throughputTargets,
  verdict,
} from './targets.js';
import type { Scenario, Summary } from './throughput.js';

const row = (
  config: string,
  scenario: Scenario,
  extraCpuPerRequest: number | null,
  perRequest: Record<string, number> = {},
): Summary => ({
  config,
  framework: config.split('-')[1] ?? 'node',
  kind: config.startsWith('tessera') ? 'tessera' : 'peer',
  store: 'memory',
  scenario,
  mode: 'fixed',
  rounds: 3,
  targetRate: 2000,
  achievedRate: 2000,
  roundsNotHeld: 0,
  otherBusyCores: 0,
  loadAverage: 1,
  requestsPerSecond: 2000,
  latencyP50: 0.1,
  latencyP99: 0.2,
  cpuPerRequest: 30,
  extraCpuPerRequest,
  cpuRatio: null,
  requestsPerSecondRatio: null,
  perRequest,
  failures: 0,
});

const find = (results: readonly TargetResult[], target: string): TargetResult => {
  const found = results.find((r) => r.target === target);
  if (!found)
    throw new Error(`no target '${target}' in ${results.map((r) => r.target).join('; ')}`);
  return found;
};

describe('verdict', () => {
  it('meets a bound at or under it, misses it above, and is pending without a figure', () => {
    expect(verdict(5, 5)).toBe('met');
    expect(verdict(5.01, 5)).toBe('missed');
    expect(verdict(20, 20, 'at-least')).toBe('met');
    expect(verdict(19.9, 20, 'at-least')).toBe('missed');
    expect(verdict(null, 5)).toBe('pending');
    expect(verdict(5, null)).toBe('pending');
    expect(verdict(Number.NaN, 5)).toBe('pending');
  });
});

describe('throughputTargets', () => {
  const summaries: Summary[] = [
    row('tessera-node-memory', 'read', 4.9),
    row('tessera-node-memory', 'hit', 10.5),
    row('tessera-node-memory', 'new', 12),
    row('tessera-express-memory', 'read', 7.3),
    row('tessera-express-memory', 'hit', 15.8),
    row('tessera-node-redis', 'read', 29, {
      redisCommands: 1,
      'redis:GET': 1,
      'redis-server:calls': 1,
    }),
    row('tessera-node-redis', 'hit', 60, {
      redisCommands: 2,
      'redis:GET': 1,
      'redis:EVALSHA:UPDATE': 1,
      'redis-server:calls': 4,
    }),
    row('tessera-node-redis', 'new', 40, { redisCommands: 2, 'redis:EVALSHA:CREATE': 2 }),
    row('tessera-fastify-sealed', 'read', 8),
    row('tessera-fastify-sealed', 'hit', 30),
    row('fastify-secure-session', 'read', 8),
    row('fastify-secure-session', 'hit', 25),
    row('iron-session-node', 'read', 170),
    row('iron-session-node', 'hit', 329),
  ];
  const results = throughputTargets(summaries);

  it('judges the memory store on node:http against its absolute bounds', () => {
    expect(find(results, 'tessera-node-memory read ≤ +5 µs').verdict).toBe('met');
    expect(find(results, 'tessera-node-memory hit ≤ +10 µs').verdict).toBe('missed');
    expect(find(results, 'tessera-node-memory new ≤ +12 µs').verdict).toBe('met');
    expect(find(results, 'tessera-node-memory read ≤ +5 µs').judgedBy).toContain('@2000 req/s');
  });

  it("judges another adapter against 1.5× node:http's figure of the same scenario", () => {
    const read = find(results, "tessera-express-memory read ≤ 1.5× tessera-node-memory's");
    expect(read.verdict).toBe('met'); // 7.3 ≤ 7.35
    expect(read.measured).toBe('+7.3 µs vs ≤ +7.4 µs');
    expect(find(results, "tessera-express-memory hit ≤ 1.5× tessera-node-memory's").verdict).toBe(
      'missed', // 15.8 > 15.75
    );
    expect(find(results, "tessera-hono-memory read ≤ 1.5× tessera-node-memory's").verdict).toBe(
      'pending',
    );
  });

  it('counts Redis round trips from the commands the client sent, and shows the server-side count', () => {
    const read = find(results, 'tessera-node-redis read: 1 round trip(s) per request');
    expect(read.verdict).toBe('met');
    const hit = find(results, 'tessera-node-redis hit: 2 round trip(s) per request');
    expect(hit.verdict).toBe('met');
    expect(hit.measured).toContain('server ran 4.00');
    expect(find(results, 'tessera-node-redis new: 1 round trip(s) per request').verdict).toBe(
      'missed',
    );
    expect(find(results, 'tessera-node-redis read ≤ +30 µs').verdict).toBe('met');
    expect(find(results, 'tessera-node-redis: 0 writes on an unchanged request').verdict).toBe(
      'met',
    );
  });

  it("judges sealed mode against @fastify/secure-session's and iron-session's overhead", () => {
    expect(find(results, "tessera-fastify-sealed read ≤ @fastify/secure-session's").verdict).toBe(
      'met',
    );
    expect(find(results, "tessera-fastify-sealed hit ≤ @fastify/secure-session's").verdict).toBe(
      'missed',
    );
    expect(find(results, "tessera-fastify-sealed read ≥ 20× below iron-session's").verdict).toBe(
      'met', // 170 / 8 = 21.25
    );
    expect(find(results, "tessera-fastify-sealed hit ≥ 20× below iron-session's").verdict).toBe(
      'missed', // 329 / 30 ≈ 11
    );
    // node:http sealed was not measured: listed as pending, not left out.
    expect(find(results, "tessera-node-sealed read ≤ @fastify/secure-session's").verdict).toBe(
      'pending',
    );
  });
});

describe('scaleTargets', () => {
  const point = (config: string, sessions: number, extra: Partial<ScalePoint>): ScalePoint => ({
    config,
    sessions,
    fill: 'engine',
    populateFailures: 0,
    populateSeconds: 1,
    rssPerSession: 900,
    heapPerSession: 600,
    redisBytesPerSession: null,
    readCpuPerRequest: 30,
    hitCpuPerRequest: 40,
    readRequestsPerSecond: 2000,
    hitRequestsPerSecond: 2000,
    ...extra,
  });
  const results = scaleTargets([
    point('tessera-node-memory', 1000, {}),
    point('tessera-node-memory', 100_000, {
      rssPerSessionVsSmallest: 380,
      heapPerSessionVsSmallest: 300,
      readCpuPerRequest: 36,
      hitCpuPerRequest: 100,
      readRatio: 1.19,
      hitRatio: 1.25,
    }),
    point('tessera-node-redis', 1000, { redisBytesPerSession: 400 }),
    point('tessera-node-redis', 100_000, { redisBytesPerSession: 351, readRatio: 1, hitRatio: 1 }),
    point('express-session-memory', 100_000, {}),
  ]);

  it('judges memory per session on the paired figure when the run has it', () => {
    const memory = find(results, 'tessera-node-memory: ≤ 400 B RSS per small session at 100k');
    expect(memory.verdict).toBe('met'); // 380 paired, although 900 over its own fill
    expect(memory.measured).toBe('380 B (own fill: 900 B; heap 300 B)');
    expect(
      find(
        results,
        'tessera-node-redis: ≤ 350 B in Redis per session (user index and handle included) at 100k',
      ).verdict,
    ).toBe('missed');
  });

  it('judges CPU flatness on the paired per-round ratio, not the ratio of medians', () => {
    // Medians give 100 / 40 = 2.5× for hit; the paired median says 1.25×: both miss, read meets.
    expect(
      find(results, 'tessera-node-memory: read CPU/req within 1.2× from 1,000 to 100,000 sessions')
        .verdict,
    ).toBe('met');
    const hit = find(
      results,
      'tessera-node-memory: hit CPU/req within 1.2× from 1,000 to 100,000 sessions',
    );
    expect(hit.measured).toBe('40.0 → 100.0 µs (1.25×)');
    expect(hit.verdict).toBe('missed');
  });

  it('judges no peer', () => {
    expect(results.some((r) => r.target.startsWith('express-session'))).toBe(false);
  });
});

describe('renderTargets', () => {
  it('renders target, judged by, measured and verdict, and counts the verdicts', () => {
    const results: TargetResult[] = [
      { target: 'a', judgedBy: 'x', measured: '1', verdict: 'met' },
      { target: 'b', judgedBy: 'x', measured: '2', verdict: 'missed' },
      { target: 'c', judgedBy: 'x', measured: '3', verdict: 'met' },
      { target: 'd', judgedBy: 'x', measured: '–', verdict: 'pending' },
    ];
    expect(countVerdicts(results)).toEqual({ met: 2, missed: 1, pending: 1 });
    const lines = renderTargets(results);
    expect(lines[0]).toBe('| target | judged by | measured | verdict |');
    expect(lines).toContain('| b | x | 2 | ❌ missed |');
    expect(lines.at(-1)).toBe('**2 met, 1 missed**, 1 not measured in this run.');
  });
});
