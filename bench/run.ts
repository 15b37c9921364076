/**
 * `npm run bench`: tessera against the session libraries users would pick instead, on this
 * machine, in one interleaved run. See bench/README.md for what is measured and how.
 *
 * Flags: `--quick` (≈2-minute smoke), `--all` (every store on every adapter), `--micro`
 * (micro-benchmarks only), `--no-micro`, `--scale` (memory and CPU with growing session counts
 * only; `--sizes 1000,100000,1000000`), `--only <substring[,substring…]>` (configurations
 * whose name contains one of them, plus the bare baselines they need; the reports go to
 * `latest-only.md` / `latest-only.svg`, not over the full run's), `--rounds <n>`, `--duration <s>`,
 * `--warmup <s>`, `--connections <n>`, `--render <results.json>` (rewrite the reports of an
 * earlier run without running anything).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, packageVersions, serviceReachable } from './lib/environment.js';
import { BARE, type BenchConfig, CONFIGS, pendingReason } from './lib/matrix.js';
import { type RunResults, renderMarkdown, renderSvg } from './lib/report.js';
import { keepsServerSessions, runScale, type ScalePoint } from './lib/scale.js';
import { killAllServers } from './lib/server-process.js';
import { median } from './lib/stats.js';
import { runThroughput, SCENARIOS, summarize } from './lib/throughput.js';
import { runMicro } from './micro.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
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
  warmupSeconds: numberFlag(flags.warmup, flags.quick ? 0.5 : 1),
  durationSeconds: numberFlag(flags.duration, flags.quick ? 1.5 : 4),
  connections: numberFlag(flags.connections, 10),
  pipelining: 1,
};

/** `--only a,b`: configurations whose name contains any of these. */
const only = flags.only
  ?.split(',')
  .map((part) => part.trim())
  .filter((part) => part !== '');

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const log = (line: string): void => console.log(line);

// Every server process dies with the harness, whatever the exit path.
process.on('exit', killAllServers);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every benchmark server`);
    killAllServers();
    process.exit(130);
  });
}

async function selectConfigs(): Promise<{
  run: BenchConfig[];
  pending: { config: string; reason: string }[];
  skipped: { config: string; reason: string }[];
}> {
  const pending: { config: string; reason: string }[] = [];
  const skipped: { config: string; reason: string }[] = [];
  const wanted = CONFIGS.filter(
    (c) =>
      // --scale covers every store (memory, SQLite, Redis, PostgreSQL) by default.
      (flags.all || flags.scale || !c.allOnly) &&
      (only === undefined || only.some((part) => c.name.includes(part)) || c.kind === 'bare'),
  );
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
  let throughput: { summaries: RunResults['summaries']; failures: RunResults['failures'] } = {
    summaries: [],
    failures: [],
  };
  let selection: Awaited<ReturnType<typeof selectConfigs>> = { run: [], pending: [], skipped: [] };
  let scale: ScalePoint[] | null = null;
  let loadDuringRun: RunResults['loadDuringRun'];
  if (flags.scale) {
    selection = await selectConfigs();
    // A tessera store costs the same under every adapter: measure it on node:http only.
    const stores = selection.run.filter(
      (c) => keepsServerSessions(c) && (c.kind !== 'tessera' || c.framework === 'node'),
    );
    const sizes = (flags.sizes ?? (flags.quick ? '1000,10000' : '1000,100000,1000000'))
      .split(',')
      .map((size) => numberFlag(size, 0));
    log(`scale: ${stores.map((c) => c.name).join(', ')} at ${sizes.join(' / ')} sessions`);
    scale = await runScale(stores, { ...profile, sizes, log });
    selection.run = stores;
  } else if (!flags.micro) {
    selection = await selectConfigs();
    const perRun = profile.warmupSeconds + profile.durationSeconds;
    const estimate = Math.ceil(
      (selection.run.length * profile.rounds * (SCENARIOS.length * perRun + 2)) / 60,
    );
    log(
      `${selection.run.length} configurations × ${SCENARIOS.length} scenarios × ${profile.rounds} round(s), ${profile.warmupSeconds} s warm-up + ${profile.durationSeconds} s each: about ${estimate} min`,
    );
    for (const p of selection.pending) log(`  pending: ${p.config}`);
    const { samples, failures } = await runThroughput(selection.run, { ...profile, log });
    throughput = { summaries: summarize(selection.run, samples), failures };
    const loads = samples.map((s) => s.loadAverage);
    if (loads.length > 0) loadDuringRun = { median: median(loads), max: Math.max(...loads) };
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
    pending: selection.pending,
    skipped: selection.skipped,
    failures: throughput.failures,
    micro,
    scale,
    ...(loadDuringRun ? { loadDuringRun } : {}),
  };
  mkdirSync(resultsDir, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  writeFileSync(`${resultsDir}${stamp}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeReports(results, [`${stamp}.json`]);
}

/** Writes latest*.md (and latest.svg for throughput runs) and prints the headline tables. */
function writeReports(results: RunResults, written: string[]): void {
  // Full throughput runs own latest.md / latest.svg; a partial run (--only) writes latest-only.*,
  // --scale and --micro alone write their own file.
  const partial = /(^|\s)--only(\s|=|$)/.test(results.command);
  const markdownName = results.scale
    ? 'latest-scale.md'
    : results.summaries.length === 0 && results.micro
      ? 'latest-micro.md'
      : partial
        ? 'latest-only.md'
        : 'latest.md';
  writeFileSync(`${resultsDir}${markdownName}`, renderMarkdown(results));
  written.push(markdownName);
  if (results.summaries.length > 0) {
    const svgName = partial ? 'latest-only.svg' : 'latest.svg';
    writeFileSync(`${resultsDir}${svgName}`, renderSvg(results));
    written.push(svgName);
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
}
