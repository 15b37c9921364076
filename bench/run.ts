/**
 * `npm run bench`: tessera against the session libraries users would pick instead, on this
 * machine, in one interleaved run. See bench/README.md for what is measured and how.
 *
 * Flags: `--quick` (≈2-minute smoke), `--all` (every store on every adapter), `--micro`
 * (micro-benchmarks only), `--no-micro`, `--scale` (memory and CPU with growing session counts
 * only; `--sizes 1000,100000,1000000`), `--only <substring[,substring…]>` (configurations
 * whose name contains one of them, plus the bare baselines they need; the reports go to
 * `latest-only.md` / `latest-only.svg`, not over the full run's), `--rounds <n>`, `--duration <s>`,
 * `--warmup <s>`, `--connections <n>`, `--floor` (adds the framework floors, `floor-<framework>`:
 * the bare server plus one no-op session-shaped middleware, and tessera's own share over them),
 * `--render <results.json>` (rewrite the reports of an
 * earlier run without running anything), `--redis private|shared` (default private: the run
 * starts its own redis-server for the Redis configurations and stops it at the end; shared uses
 * `REDIS_URL`). `--quick` reports to `latest-quick.*`, never over a full run's `latest.*`.
 *
 * Modes (`--mode both|fixed|saturation`, default both): `fixed` drives every configuration at
 * the same rate (`--rate <req/s>`, default 2000; `--rate auto` picks 70 % of the slowest
 * configuration's ceiling from a short saturation probe), open loop, with its own
 * `--rate-warmup` / `--rate-duration`; `saturation` is autocannon as fast as the server answers.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, packageVersions, SERVICE_URLS, serviceReachable } from './lib/environment.js';
import { BARE, type BenchConfig, CONFIGS, pendingReason } from './lib/matrix.js';
import { probeRate } from './lib/probe.js';
import {
  type PrivateRedis,
  type RedisProbe,
  redisProbe,
  startPrivateRedis,
} from './lib/redis-server.js';
import { type RunResults, renderMarkdown, renderSvg } from './lib/report.js';
import { keepsServerSessions, runScale, type ScaleRun } from './lib/scale.js';
import { killAllServers } from './lib/server-process.js';
import { median } from './lib/stats.js';
import { type Mode, runThroughput, SCENARIOS, summarize } from './lib/throughput.js';
import { runMicro } from './micro.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    micro: { type: 'boolean', default: false },
    'no-micro': { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    only: { type: 'string' },
    sizes: { type: 'string' },
    render: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    out: { type: 'string' },
    mode: { type: 'string' },
    rate: { type: 'string' },
    'rate-warmup': { type: 'string' },
    'rate-duration': { type: 'string' },
    redis: { type: 'string' },
  },
  strict: true,
});

const numberFlag = (value: string | undefined, fallback: number): number => {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`not a positive number: ${value}`);
  return parsed;
};

const profile = {
  name: flags.scale
    ? 'scale'
    : flags.micro
      ? 'micro'
      : flags.quick
        ? 'quick'
        : flags.all
          ? 'all'
          : 'default',
  rounds: numberFlag(flags.rounds, flags.quick ? 1 : 3),
  modes: parseModes(flags.mode),
  // Saturation runs first for each scenario and warms the code up; the fixed-rate window follows.
  warmupSeconds: numberFlag(flags.warmup, flags.quick ? 0.5 : 1),
  durationSeconds: numberFlag(flags.duration, flags.quick ? 1.5 : 2.5),
  /** Fixed-rate mode's rate, req/s (set after the probe with `--rate auto`). */
  rate: flags.rate === 'auto' ? Number.NaN : numberFlag(flags.rate, 2000),
  rateChoice: flags.rate === 'auto' ? 'auto' : flags.rate === undefined ? 'default' : 'explicit',
  rateWarmupSeconds: numberFlag(flags['rate-warmup'], 0.5),
  rateDurationSeconds: numberFlag(flags['rate-duration'], flags.quick ? 1.5 : 2.5),
  connections: numberFlag(flags.connections, 10),
  pipelining: 1,
};

function parseModes(value: string | undefined): Mode[] {
  if (value === undefined || value === 'both') return ['saturation', 'fixed'];
  if (value === 'fixed' || value === 'saturation') return [value];
  throw new Error(`--mode: both, fixed or saturation, not ${value}`);
}

/** `--only a,b`: configurations whose name contains any of these. */
const only = flags.only
  ?.split(',')
  .map((part) => part.trim())
  .filter((part) => part !== '');

const redisMode = flags.redis ?? 'private';
if (redisMode !== 'private' && redisMode !== 'shared') {
  throw new Error(`--redis: private or shared, not ${redisMode}`);
}
let privateRedis = null as PrivateRedis | null;
let redisStats = null as RedisProbe | null;

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const log = (line: string): void => console.log(line);

// Every server process dies with the harness, whatever the exit path.
const killPrivateRedis = (): void => {
  if (privateRedis) {
    try {
      process.kill(privateRedis.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
};
process.on('exit', () => {
  killAllServers();
  killPrivateRedis();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every benchmark server`);
    killAllServers();
    killPrivateRedis();
    process.exit(130);
  });
}

/** The configurations the flags ask for, before any check of their server file or service. */
function wantedConfigs(): BenchConfig[] {
  return CONFIGS.filter(
    (c) =>
      // --scale covers every store (memory, SQLite, Redis, PostgreSQL) by default.
      (flags.all || flags.scale || !c.allOnly) &&
      // The framework floors (≈6–7 min more over 3 rounds): only when asked for.
      (flags.floor || !c.floorOnly) &&
      (only === undefined || only.some((part) => c.name.includes(part)) || c.kind === 'bare'),
  );
}

/** A URL without its user name and password, for the report. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

/**
 * `--redis private` (default): when a Redis configuration is wanted, start the run's own
 * redis-server and point `REDIS_URL` (read by the servers and the reachability check) at it.
 */
async function prepareRedis(): Promise<RunResults['redis']> {
  if (flags.micro || !wantedConfigs().some((c) => c.services.includes('redis'))) return undefined;
  if (redisMode === 'private') {
    try {
      privateRedis = await startPrivateRedis();
      process.env['REDIS_URL'] = privateRedis.url;
      log(`private redis-server (pid ${privateRedis.pid}) at ${privateRedis.url}`);
    } catch (error) {
      console.warn(
        `\n!!! --redis private: ${error instanceof Error ? error.message : String(error)}; using REDIS_URL (shared) instead !!!\n`,
      );
    }
  }
  try {
    redisStats = await redisProbe(SERVICE_URLS.redis);
  } catch {
    // Unreachable: the Redis configurations are skipped with a notice by selectConfigs.
  }
  return {
    mode: privateRedis ? 'private' : 'shared',
    url: withoutCredentials(SERVICE_URLS.redis),
  };
}

async function selectConfigs(): Promise<{
  run: BenchConfig[];
  pending: { config: string; reason: string }[];
  skipped: { config: string; reason: string }[];
}> {
  const pending: { config: string; reason: string }[] = [];
  const skipped: { config: string; reason: string }[] = [];
  const wanted = wantedConfigs();
  const reachable = new Map<string, boolean>();
  const run: BenchConfig[] = [];
  for (const config of wanted) {
    const reason = pendingReason(config);
    if (reason) {
      pending.push({ config: config.name, reason });
      continue;
    }
    const down: string[] = [];
    for (const service of config.services) {
      if (!reachable.has(service)) reachable.set(service, await serviceReachable(service));
      if (!reachable.get(service)) down.push(service);
    }
    if (down.length > 0) {
      const reason = `${down.join(', ')} not reachable: skipped`;
      console.warn(`\n!!! ${config.name}: ${reason} !!!\n`);
      skipped.push({ config: config.name, reason });
      continue;
    }
    run.push(config);
  }
  // Keep only the bare baselines of the frameworks that are measured.
  const frameworks = new Set(run.filter((c) => c.kind !== 'bare').map((c) => c.framework));
  const onlyBare = run.every((c) => c.kind === 'bare');
  return {
    run: run.filter(
      (c) => c.kind !== 'bare' || onlyBare || [...frameworks].some((f) => BARE[f] === c.name),
    ),
    pending,
    skipped,
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const machine = machineInfo();
  log(
    `tessera bench (${profile.name}) · ${machine.cpu} · ${machine.cores} cores · Node ${machine.node}`,
  );
  let throughput: {
    summaries: RunResults['summaries'];
    failures: RunResults['failures'];
    samples?: RunResults['samples'];
  } = {
    summaries: [],
    failures: [],
  };
  let rateProbe: RunResults['rateProbe'];
  let selection: Awaited<ReturnType<typeof selectConfigs>> = { run: [], pending: [], skipped: [] };
  let scale: ScaleRun | null = null;
  let loadDuringRun: RunResults['loadDuringRun'];
  const redis = await prepareRedis();
  if (flags.scale) {
    selection = await selectConfigs();
    // A tessera store costs the same under every adapter: measure it on node:http only.
    const stores = selection.run.filter(
      (c) => keepsServerSessions(c) && (c.kind !== 'tessera' || c.framework === 'node'),
    );
    // 1M sessions on every store does not fit the bench's time: its own command (README).
    const sizes = (flags.sizes ?? (flags.quick ? '1000,10000' : '1000,100000'))
      .split(',')
      .map((size) => numberFlag(size, 0));
    log(
      `scale: ${stores.map((c) => c.name).join(', ')} at ${sizes.join(' / ')} sessions, ${profile.rounds} round(s) at ${profile.rate} req/s`,
    );
    if (Number.isNaN(profile.rate)) throw new Error('--scale takes a numeric --rate');
    scale = await runScale(stores, {
      ...profile,
      sizes,
      log,
      ...(redisStats ? { redis: redisStats } : {}),
    });
    selection.run = stores;
  } else if (!flags.micro) {
    selection = await selectConfigs();
    if (profile.modes.includes('fixed') && profile.rateChoice === 'auto') {
      const probe = await probeRate(selection.run, { connections: profile.connections, log });
      profile.rate = probe.rate;
      rateProbe = probe;
    }
    const perRun =
      (profile.modes.includes('saturation') ? profile.warmupSeconds + profile.durationSeconds : 0) +
      (profile.modes.includes('fixed')
        ? profile.rateWarmupSeconds + profile.rateDurationSeconds
        : 0);
    const estimate = Math.ceil(
      (selection.run.length * profile.rounds * (SCENARIOS.length * perRun + 2.5)) / 60,
    );
    log(
      `${selection.run.length} configurations × ${SCENARIOS.length} scenarios × ${profile.rounds} round(s), modes ${profile.modes.join(' + ')}${profile.modes.includes('fixed') ? ` (fixed rate ${profile.rate} req/s)` : ''}: about ${estimate} min`,
    );
    for (const p of selection.pending) log(`  pending: ${p.config}`);
    const { samples, failures } = await runThroughput(selection.run, {
      ...profile,
      log,
      ...(redisStats ? { redis: redisStats } : {}),
    });
    throughput = { summaries: summarize(selection.run, samples), failures, samples };
    const loads = samples.map((s) => s.loadAverage);
    const others = samples.map((s) => s.otherBusyCores).filter(Number.isFinite);
    if (loads.length > 0) {
      loadDuringRun = {
        median: median(loads),
        max: Math.max(...loads),
        ...(others.length > 0
          ? { otherBusyCoresMedian: median(others), otherBusyCoresMax: Math.max(...others) }
          : {}),
      };
    }
  }
  let micro: RunResults['micro'] = null;
  if (flags.micro || (!flags['no-micro'] && !flags.scale)) {
    log('micro-benchmarks');
    micro = await runMicro({ quick: flags.quick, log });
  }

  const configs = flags.micro ? [] : [...selection.run];
  const results: RunResults = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: [
      'npm run bench',
      ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
    ].join(' '),
    profile,
    machine,
    versions: packageVersions([
      'tessera-session',
      'autocannon',
      'iron-session',
      'cookie',
      ...configs.flatMap((c) => c.packages),
    ]),
    settings: Object.fromEntries(configs.map((c) => [c.name, c.settings])),
    summaries: throughput.summaries,
    ...(throughput.samples ? { samples: throughput.samples } : {}),
    ...(rateProbe ? { rateProbe } : {}),
    pending: selection.pending,
    skipped: selection.skipped,
    failures: throughput.failures,
    micro,
    scale: scale?.points ?? null,
    ...(scale ? { scaleSamples: scale.samples } : {}),
    ...(redis ? { redis } : {}),
    ...(loadDuringRun ? { loadDuringRun } : {}),
  };
  mkdirSync(resultsDir, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  writeFileSync(`${resultsDir}${stamp}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeReports(results, [`${stamp}.json`]);
}

/**
 * Writes the run's reports: `<base>.md`, `<base>.json` (the raw results, as the dated file) and,
 * for throughput runs, `<base>.svg`. The base is `--out <name>` when given (`latest-<name>`), else
 * `latest` for a full throughput run, `latest-only` for `--only`, `latest-scale` for `--scale`,
 * `latest-micro` for `--micro` alone and `latest-quick` for `--quick`: a partial or smoke run
 * never replaces the full run's files.
 */
function writeReports(results: RunResults, written: string[]): void {
  const partial = /(^|\s)--only(\s|=|$)/.test(results.command);
  const quick = /(^|\s)--quick(\s|$)/.test(results.command);
  const base = flags.out
    ? `latest-${flags.out}`
    : quick
      ? 'latest-quick'
      : results.scale
        ? 'latest-scale'
        : results.summaries.length === 0 && results.micro
          ? 'latest-micro'
          : partial
            ? 'latest-only'
            : 'latest';
  writeFileSync(`${resultsDir}${base}.md`, renderMarkdown(results));
  written.push(`${base}.md`);
  if (!flags.render) {
    writeFileSync(`${resultsDir}${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
    written.push(`${base}.json`);
  }
  if (results.summaries.length > 0) {
    writeFileSync(`${resultsDir}${base}.svg`, renderSvg(results));
    written.push(`${base}.svg`);
  }
  log(`\nwrote bench/results/{${written.join(', ')}}`);
  log('');
  log(renderMarkdown(results).split('## All figures')[0] ?? '');
}

try {
  if (flags.render) {
    // Re-render the reports of an earlier run (e.g. after the report format changed).
    const results = JSON.parse(readFileSync(flags.render, 'utf8')) as RunResults;
    writeReports({ ...results, scale: results.scale ?? null }, []);
  } else {
    await main();
  }
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
} finally {
  killAllServers();
  await redisStats?.close().catch(() => {});
  await privateRedis?.stop();
}
