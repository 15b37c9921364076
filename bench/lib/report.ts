/**
 * Renders a run's results: the markdown report (`latest.md`) and a grouped bar chart of the
 * headline figure (`latest.svg`), drawn by hand so the benchmark needs no chart dependency.
 */
import type { MicroResult } from '../micro.js';
import { formatNs } from '../micro.js';
import type { MachineInfo } from './environment.js';
import { ownShares } from './floor.js';
import type { RateProbe } from './probe.js';
import type { ScalePoint } from './scale.js';
import type { ScaleSample } from './scale-plan.js';
import { renderTargets, scaleTargets, type TargetResult, throughputTargets } from './targets.js';
import { type Mode, type Sample, SCENARIOS, type Scenario, type Summary } from './throughput.js';

/** Everything a run produces, as written to the JSON file. */
export interface RunResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  profile: {
    name: string;
    rounds: number;
    warmupSeconds: number;
    durationSeconds: number;
    connections: number;
    pipelining: number;
    /** Absent in runs from before the fixed-rate mode (saturation only). */
    modes?: Mode[];
    rate?: number;
    rateChoice?: string;
    rateWarmupSeconds?: number;
    rateDurationSeconds?: number;
  };
  machine: MachineInfo;
  versions: Record<string, string>;
  settings: Record<string, string>;
  summaries: Summary[];
  /** Every measured window (raw), when the run kept them. */
  samples?: Sample[];
  /** `--rate auto`: the probe that chose the rate. */
  rateProbe?: RateProbe;
  pending: { config: string; reason: string }[];
  skipped: { config: string; reason: string }[];
  failures: { config: string; round: number; message: string }[];
  micro: { results: MicroResult[]; notes: string[] } | null;
  scale: ScalePoint[] | null;
  /** `--scale`: every fixed-rate window of the interleaved sizes. */
  scaleSamples?: ScaleSample[];
  /** The Redis the Redis configurations used: the run's own server, or `REDIS_URL`'s. */
  redis?: { mode: 'private' | 'shared'; url: string };
  /**
   * 1-minute load average at the end of each measured window (median and max), and the other
   * work on the host over the windows in cores (host busy CPU − server − harness; median, max).
   */
  loadDuringRun?: {
    median: number;
    max: number;
    otherBusyCoresMedian?: number;
    otherBusyCoresMax?: number;
  };
}

const fixed = (value: number | null, decimals: number): string =>
  value === null || !Number.isFinite(value) ? '–' : value.toFixed(decimals);

const signed = (value: number | null, decimals: number): string =>
  value === null || !Number.isFinite(value)
    ? '–'
    : `${value >= 0 ? '+' : ''}${value.toFixed(decimals)}`;

const ratio = (value: number | null): string =>
  value === null || !Number.isFinite(value) ? '–' : `${value.toFixed(2)}×`;

/**
 * Renders the markdown report.
 *
 * @param run - The run's results.
 * @returns Markdown text.
 * @example
 * ```ts
 * writeFileSync('bench/results/latest.md', renderMarkdown(run));
 * ```
 */
export function renderMarkdown(run: RunResults): string {
  const lines: string[] = [];
  const { machine, profile } = run;
  lines.push(`# Benchmark results (${profile.name})`, '');
  lines.push(`- Command: \`${run.command}\``);
  lines.push(`- Started ${run.startedAt}, finished ${run.finishedAt}`);
  lines.push(
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform} ${machine.kernel}; Node ${machine.node}; load average at start ${machine.loadAverage.join(' / ')}`,
  );
  if (run.loadDuringRun) {
    const { median, max, otherBusyCoresMedian, otherBusyCoresMax } = run.loadDuringRun;
    const others =
      otherBusyCoresMedian === undefined
        ? ''
        : `; other processes' CPU over the windows (host busy − server − harness, from /proc/stat): median ${otherBusyCoresMedian.toFixed(2)}, max ${(otherBusyCoresMax ?? Number.NaN).toFixed(2)} cores`;
    const busy = max > machine.cores * 1.5 || (otherBusyCoresMedian ?? 0) > 0.5;
    lines.push(
      `- Host load average during the measured windows: median ${median.toFixed(2)}, max ${max.toFixed(2)} (${machine.cores} cores)${others}${busy ? ' — **the host was busy with other work: figures are noisy, prefer a rerun on a quiet machine**' : ''}`,
    );
  }
  if (run.scale) {
    lines.push(
      run.scale.some((p) => p.fill !== undefined)
        ? `- Load: the fixed-rate driver at ${profile.rate} req/s over ${profile.connections} keep-alive connections; CPU is the server's user + system time per request (\`process.cpuUsage()\` in the server, over IPC).`
        : `- Load: autocannon, ${profile.connections} connections, pipelining ${profile.pipelining}; after each fill, read and hit get ${profile.warmupSeconds} s warm-up + ${profile.durationSeconds} s measured; CPU is the server's user + system time per request (\`process.cpuUsage()\` in the server, over IPC).`,
      '',
    );
  }
  if (run.redis) {
    lines.push(
      run.redis.mode === 'private'
        ? `- Redis: the run's own redis-server (${run.redis.url}; no snapshots, no AOF, stopped at the end): INFO commandstats, cpu and memory read around every window count only the benchmark's work.`
        : `- Redis: the shared server at ${run.redis.url} (\`--redis shared\`): its INFO figures include other clients' work.`,
    );
  }
  const targets = runTargets(run);
  if (targets.results.length > 0) {
    lines.push(
      '',
      '## Targets (issue 14)',
      '',
      targets.note,
      '',
      ...renderTargets(targets.results),
      '',
    );
  }
  if (run.summaries.length > 0) renderThroughput(run, lines);
  else if (!run.scale) lines.push('');
  if (run.micro) {
    lines.push('## Micro-benchmarks (median ns/op over batches, in the harness process)', '');
    lines.push('| group | case | median | fastest batch | slowest batch |');
    lines.push('|---|---|---:|---:|---:|');
    for (const m of run.micro.results) {
      lines.push(
        `| ${m.group} | ${m.name} | ${formatNs(m.nsPerOp)} | ${formatNs(m.minNsPerOp)} | ${formatNs(m.maxNsPerOp)} |`,
      );
    }
    for (const note of run.micro.notes) lines.push('', `Note: ${note}`);
    lines.push('');
  }

  if (run.scale) renderScale(run, run.scale, lines);

  if (run.pending.length + run.skipped.length + run.failures.length > 0) {
    lines.push('## Not measured', '');
    for (const p of run.pending) lines.push(`- ${p.config}: ${p.reason}`);
    for (const s of run.skipped) lines.push(`- ${s.config}: ${s.reason}`);
    for (const f of run.failures) lines.push(`- ${f.config} (round ${f.round + 1}): ${f.message}`);
    lines.push('');
  }

  lines.push('## Settings of each configuration', '');
  for (const [config, setting] of Object.entries(run.settings)) {
    lines.push(`- **${config}**: ${setting}`);
  }
  lines.push('', '## Versions', '');
  lines.push(
    Object.entries(run.versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(' · '),
  );
  lines.push('');
  return lines.join('\n');
}

const modeOf = (s: { mode?: Mode }): Mode => s.mode ?? 'saturation';

/**
 * Redis rows: round trips (commands the client sent), what the Redis server ran for them, its
 * CPU, and the server's extra CPU; `hit − read` is the commit path on top of the load (one
 * more round trip and the engine's write), as the issue asks to report.
 */
function renderRedis(run: RunResults, lines: string[]): void {
  const modes = new Set(run.summaries.map(modeOf));
  const mode: Mode = modes.has('fixed') ? 'fixed' : 'saturation';
  const rows = run.summaries.filter(
    (s) => modeOf(s) === mode && s.kind !== 'bare' && s.perRequest['redisCommands'] !== undefined,
  );
  if (rows.length === 0) return;
  lines.push(
    `## Redis: round trips, Redis's own work and the commit path (${mode === 'fixed' ? `${run.profile.rate} req/s` : 'saturation'}, medians)`,
    '',
    "| configuration | scenario | round trips (commands sent) | commands Redis ran (scripts' inner ones included) | Redis CPU µs/req | server extra CPU µs/req | commit path: hit − read, µs |",
    '|---|---|---:|---:|---:|---:|---:|',
  );
  for (const s of rows) {
    const read = rows.find((r) => r.config === s.config && r.scenario === 'read');
    const commit =
      s.scenario === 'hit' &&
      read &&
      s.extraCpuPerRequest !== null &&
      read.extraCpuPerRequest !== null
        ? signed(s.extraCpuPerRequest - read.extraCpuPerRequest, 1)
        : '';
    lines.push(
      `| ${s.config} | ${s.scenario} | ${fixed(s.perRequest['redisCommands'] ?? null, 2)} | ${fixed(s.perRequest['redis-server:calls'] ?? null, 2)} | ${fixed(s.perRequest['redis-server:cpuMicros'] ?? null, 1)} | ${signed(s.extraCpuPerRequest, 1)} | ${commit} |`,
    );
  }
  lines.push('');
}

function renderScale(run: RunResults, points: readonly ScalePoint[], lines: string[]): void {
  const { profile } = run;
  lines.push('## Scale: cost per request and memory per session as live sessions grow', '');
  const current = points.some((p) => p.fill !== undefined);
  if (current) {
    lines.push(
      `One server per size, all alive at once, each warmed up the same way (2,000 sessions, read and hit windows) and then filled: tessera in process through its engine (\`fillSessions\`: load → authenticate as a user of its own → the data of /new → commit, what the app's /login does, without HTTP; fill **engine+copies**, SQLite and PostgreSQL: the first 1,000 sessions so, the rest bulk-inserted copies of the engine's last row with their own id, handle and user, \`lib/bulk-fill.ts\`, so their fill CPU is the bulk insert's, not the engine's), a peer through its /new route. Then fixed-rate windows (${profile.rate} req/s, ${profile.rateWarmupSeconds ?? '?'} s warm-up + ${profile.rateDurationSeconds ?? '?'} s measured, read then hit) alternate between the sizes, round by round with the start rotated (${profile.rounds} round(s)); **×smallest** is this size's CPU/req ÷ the smallest size's in the same round, median over rounds.`,
      '',
      "Memory: **B/session vs smallest** = (RSS or heap of this server after fill + full GC − the same of the smallest size's server) ÷ the difference of their sessions: code, JIT and the young generation (sized at start with `--min-semi-space-size=16`) cancel out. **own fill** = growth of this server over its own fill, after a full GC. Redis = `used_memory` growth over the fill (user index and handle included). Fill CPU = server CPU over the fill ÷ sessions (and Redis's own CPU).",
      '',
    );
  } else {
    lines.push(
      'Memory is the growth over the fill (after a full GC in the server), divided by the sessions added; Redis is `used_memory` growth of the shared server. CPU ×smallest compares with the same configuration at the smallest size.',
      '',
    );
  }
  lines.push(
    '| configuration | fill | sessions | RSS B/session vs smallest | heap B/session vs smallest | RSS B/session own fill | heap B/session own fill | Redis B/session | read CPU µs/req | hit CPU µs/req | read ×smallest | hit ×smallest | fill s | fill CPU µs/session | failed fills | windows not held | load avg | other load (cores) |',
  );
  lines.push(`|---|---|${'---:|'.repeat(16)}`);
  for (const p of points) {
    const smallest = points
      .filter((q) => q.config === p.config)
      .reduce((a, b) => (b.sessions < a.sessions ? b : a));
    const readRatio = p.readRatio ?? p.readCpuPerRequest / smallest.readCpuPerRequest;
    const hitRatio = p.hitRatio ?? p.hitCpuPerRequest / smallest.hitCpuPerRequest;
    const fillCpu =
      p.fillCpuPerSession === undefined
        ? '–'
        : `${fixed(p.fillCpuPerSession, 1)}${p.fillRedisCpuPerSession === undefined ? '' : ` (+ Redis ${fixed(p.fillRedisCpuPerSession, 1)})`}`;
    lines.push(
      `| ${p.config} | ${p.fill ?? p.fillPath ?? '/new'} | ${p.sessions.toLocaleString('en')} | ${fixed(p.rssPerSessionVsSmallest ?? null, 0)} | ${fixed(p.heapPerSessionVsSmallest ?? null, 0)} | ${fixed(p.rssPerSession, 0)} | ${fixed(p.heapPerSession, 0)} | ${fixed(p.redisBytesPerSession, 0)} | ${fixed(p.readCpuPerRequest, 1)} | ${fixed(p.hitCpuPerRequest, 1)} | ${ratio(readRatio)} | ${ratio(hitRatio)} | ${fixed(p.populateSeconds, 1)} | ${fillCpu} | ${p.populateFailures} | ${p.windowsNotHeld ?? '–'} | ${fixed(p.loadAverage ?? null, 2)} | ${fixed(p.otherBusyCores ?? null, 2)} |`,
    );
  }
  lines.push('');
}

/**
 * The targets this run can judge: throughput targets on the fixed-rate medians (saturation
 * when the run has no fixed-rate mode), and memory / scale targets when it has a scale run.
 */
function runTargets(run: RunResults): { note: string; results: TargetResult[] } {
  const modes = new Set(run.summaries.map(modeOf));
  const mode: Mode = modes.has('fixed') ? 'fixed' : 'saturation';
  const throughput =
    run.summaries.length > 0
      ? throughputTargets(
          run.summaries.filter((s) => modeOf(s) === mode),
          run.samples?.filter((s) => modeOf(s) === mode),
        )
      : [];
  const scale = run.scale ? scaleTargets(run.scale) : [];
  const parts: string[] = [];
  if (throughput.length > 0) {
    parts.push(
      mode === 'fixed'
        ? `CPU targets judged on this run's fixed-rate medians (${run.profile.rate} req/s, ${run.profile.rounds} round(s)), as the issue asks`
        : 'CPU targets judged on saturation medians: **this run has no fixed-rate mode, which the issue asks for**',
    );
  }
  if (scale.length > 0) parts.push("memory and scale targets on this run's --scale points");
  else if (throughput.length > 0)
    parts.push('memory and scale targets need a `--scale` run (see bench/README.md)');
  return {
    note: `${parts.join('; ')}. Computed by bench/lib/targets.ts from the figures below.`,
    results: [...throughput, ...scale],
  };
}

function renderThroughput(run: RunResults, lines: string[]): void {
  const { profile } = run;
  const modes = [...new Set(run.summaries.map(modeOf))];
  const rate = profile.rate;
  if (modes.includes('fixed')) {
    lines.push(
      `- Fixed-rate mode: every configuration driven at ${rate} req/s (${profile.rateChoice === 'auto' ? `chosen by --rate auto: 70 % of ${run.rateProbe?.slowest.config ?? '?'} ${run.rateProbe?.slowest.scenario ?? ''} at saturation, ${Math.round(run.rateProbe?.slowest.requestsPerSecond ?? Number.NaN)} req/s` : profile.rateChoice === 'explicit' ? 'set with --rate' : 'the default rate'}), open loop (requests scheduled on a fixed clock over ${profile.connections} keep-alive connections, latency counted from the scheduled time), ${profile.rateWarmupSeconds} s warm-up + ${profile.rateDurationSeconds} s measured per scenario. A window that answered < 97 % of the rate inside it, or drained > 100 ms late, did not hold the rate: flagged ⚠ below.`,
    );
  }
  if (modes.includes('saturation')) {
    lines.push(
      `- Saturation mode: autocannon, ${profile.connections} connections, pipelining ${profile.pipelining}, ${profile.warmupSeconds} s warm-up + ${profile.durationSeconds} s measured per scenario${modes.includes('fixed') ? '; it runs first for each scenario (warming the code up), then the fixed-rate window in the same server process' : ''}.`,
    );
  }
  lines.push(
    `- ${profile.rounds} round(s); configurations interleaved (round-robin, rotated start per round, a fresh server process each); figures are medians over rounds.`,
    '- CPU: user + system time of the server process over the measured window (`process.cpuUsage()` inside the server, asked over IPC), divided by answered requests. "Extra" is the paired difference with the bare server of the same framework in the same round and mode (median over rounds).',
    '- Which figure means what: the **fixed-rate** extra CPU is the library\'s own work per request at a realistic load (every configuration does the same work per second, so the bare server\'s per-request wake-up and syscall cost is the same and cancels out); it is the figure to compare libraries by. The **saturation** figure also moves with throughput: a slower configuration batches fewer requests per wake-up of the event loop, so its syscall and wake-up cost per request grows, and that growth is counted as "extra". req/s ×bare is the saturation ceiling.',
    '',
  );

  const peers = run.summaries.filter((s) => s.kind !== 'bare');
  const names = [...new Set(peers.map((s) => s.config))];
  const of = (name: string, scenario: Scenario, mode: Mode): Summary | undefined =>
    peers.find((s) => s.config === name && s.scenario === scenario && modeOf(s) === mode);
  const cell = (summary: Summary | undefined): string => {
    if (!summary) return '–';
    const flag = (summary.roundsNotHeld ?? 0) > 0 ? ' ⚠' : '';
    return `${signed(summary.extraCpuPerRequest, 1)}${flag}`;
  };
  const label = (mode: Mode): string => (mode === 'fixed' ? `@${rate}/s` : 'sat.');
  lines.push('## Extra server CPU per request over the bare framework (µs, median)', '');
  const columns = SCENARIOS.flatMap((scenario) =>
    modes.map((mode) => `${scenario} ${label(mode)}`),
  );
  lines.push(
    `| configuration | framework | store | ${columns.join(' | ')} | req/s ×bare (read, sat.) |`,
  );
  lines.push(`|---|---|---|${columns.map(() => '---:').join('|')}|---:|`);
  for (const name of names) {
    const first = peers.find((s) => s.config === name)!;
    const cells = SCENARIOS.flatMap((scenario) =>
      modes.map((mode) => cell(of(name, scenario, mode))),
    );
    lines.push(
      `| ${name} | ${first.framework} | ${first.store} | ${cells.join(' | ')} | ${ratio(of(name, 'read', 'saturation')?.requestsPerSecondRatio ?? null)} |`,
    );
  }
  for (const pending of run.pending) {
    lines.push(`| ${pending.config} | | | ${columns.map(() => 'pending').join(' | ')} | |`);
  }
  lines.push('');
  const notHeld = run.summaries.filter((s) => (s.roundsNotHeld ?? 0) > 0);
  if (notHeld.length > 0) {
    lines.push(
      `⚠ Did not hold ${rate} req/s in every round (its fixed-rate figure is measured at a lower rate and is not comparable): ${notHeld.map((s) => `${s.config} ${s.scenario} (achieved ${Math.round(s.achievedRate ?? Number.NaN)} req/s median, ${s.roundsNotHeld}/${s.rounds} rounds short)`).join('; ')}.`,
      '',
    );
  }

  renderOwnShares(run, modes, columns, lines);

  const bareRows = run.summaries.filter((s) => s.kind === 'bare');
  if (bareRows.length > 0) {
    lines.push('## Bare frameworks (CPU µs per request, median)', '');
    lines.push(`| baseline | ${columns.join(' | ')} | req/s (read, sat.) |`);
    lines.push(`|---|${columns.map(() => '---:').join('|')}|---:|`);
    for (const name of [...new Set(bareRows.map((s) => s.config))]) {
      const find = (scenario: Scenario, mode: Mode) =>
        bareRows.find((s) => s.config === name && s.scenario === scenario && modeOf(s) === mode);
      const cells = SCENARIOS.flatMap((scenario) =>
        modes.map((mode) => fixed(find(scenario, mode)?.cpuPerRequest ?? null, 1)),
      );
      const rps = find('read', 'saturation')?.requestsPerSecond;
      lines.push(
        `| ${name} | ${cells.join(' | ')} | ${rps === undefined ? '–' : Math.round(rps)} |`,
      );
    }
    lines.push('');
  }

  renderRedis(run, lines);

  lines.push('## All figures', '');
  lines.push(
    '| configuration | scenario | mode | req/s | p50 ms | p99 ms | CPU µs/req | extra CPU µs/req | CPU ×bare | req/s ×bare | other load (cores) | Redis cmds/req sent | Redis server: cmds/req run, CPU µs/req | failed reqs |',
  );
  lines.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const byName = (perRequest: Record<string, number>): string =>
    Object.entries(perRequest)
      .filter(([name, value]) => name.startsWith('redis:') && value >= 0.005)
      .map(([name, value]) => `${name.slice(6)} ${value.toFixed(2)}`)
      .join(', ');
  for (const s of run.summaries) {
    const redis = s.perRequest['redisCommands'];
    const ran = s.perRequest['redis-server:calls'];
    const ranCell =
      ran === undefined
        ? ''
        : `${fixed(ran, 2)} (${Object.entries(s.perRequest)
            .filter(
              ([name, value]) =>
                name.startsWith('redis-server:') &&
                name !== 'redis-server:calls' &&
                name !== 'redis-server:cpuMicros' &&
                value >= 0.005,
            )
            .map(([name, value]) => `${name.slice(13)} ${value.toFixed(2)}`)
            .join(', ')}), ${fixed(s.perRequest['redis-server:cpuMicros'] ?? null, 1)} µs`;
    const mode = modeOf(s);
    const modeCell =
      mode === 'fixed'
        ? `@${s.targetRate ?? rate}/s${(s.roundsNotHeld ?? 0) > 0 ? ` ⚠ ${s.roundsNotHeld} round(s) not held` : ''}`
        : 'saturation';
    lines.push(
      `| ${s.config} | ${s.scenario} | ${modeCell} | ${Math.round(s.requestsPerSecond)} | ${fixed(s.latencyP50, 2)} | ${fixed(s.latencyP99, 2)} | ${fixed(s.cpuPerRequest, 1)} | ${s.kind === 'bare' ? '–' : signed(s.extraCpuPerRequest, 1)} | ${s.kind === 'bare' ? '–' : ratio(s.cpuRatio)} | ${s.kind === 'bare' ? '–' : ratio(s.requestsPerSecondRatio)} | ${fixed(s.otherBusyCores ?? null, 2)} | ${redis === undefined ? '' : `${fixed(redis, 2)} (${byName(s.perRequest)})`} | ${ranCell} | ${s.failures} |`,
    );
  }
  lines.push('');
}

/**
 * Tessera's own share beside its raw extra, per framework: its extra minus its framework floor's
 * (`floor-<framework>`, run with `--floor`), paired within rounds when the run kept its windows.
 */
function renderOwnShares(
  run: RunResults,
  modes: readonly Mode[],
  columns: readonly string[],
  lines: string[],
): void {
  const shares = ownShares(run.summaries, run.samples);
  if (shares.length === 0) return;
  lines.push(
    "## Tessera's own share: extra over the bare framework minus the framework floor's (µs, median)",
    '',
    "Each `floor-<framework>` server is the bare one plus one no-op middleware doing what any session layer must (run per request, attach `session = null`, add `Cache-Control: no-store` through the framework's normal path when the route answers): its extra is what any session middleware costs on that framework. Cells: **own share** (raw extra, floor's extra); the own share is tessera − floor CPU/req paired within each round, median over rounds" +
      (shares.some((s) => s.basis === 'medians')
        ? ' (or the difference of the medians when the run has no windows)'
        : '') +
      '.',
    '',
    `| configuration | floor | ${columns.join(' | ')} |`,
    `|---|---|${columns.map(() => '---:').join('|')}|`,
  );
  for (const name of [...new Set(shares.map((s) => s.config))]) {
    const cells = SCENARIOS.flatMap((scenario) =>
      modes.map((mode) => {
        const s = shares.find(
          (x) => x.config === name && x.scenario === scenario && x.mode === mode,
        );
        return s
          ? `**${signed(s.own, 1)}** (${signed(s.raw, 1)}, ${signed(s.floorExtra, 1)})`
          : '–';
      }),
    );
    lines.push(
      `| ${name} | ${shares.find((s) => s.config === name)!.floor} | ${cells.join(' | ')} |`,
    );
  }
  lines.push('');
}

const COLORS: Record<Scenario, string> = { read: '#4c78a8', hit: '#f58518', new: '#54a24b' };

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Renders the headline figure as a horizontal grouped bar chart: one group per configuration,
 * one bar per scenario, length = extra server CPU µs per request over the bare framework.
 *
 * @param run - The run's results.
 * @returns SVG text.
 * @example
 * ```ts
 * writeFileSync('bench/results/latest.svg', renderSvg(run));
 * ```
 */
export function renderSvg(run: RunResults): string {
  // The chart shows the fixed-rate figure when the run has one (the comparable one).
  const chartMode: Mode = run.summaries.some((s) => modeOf(s) === 'fixed') ? 'fixed' : 'saturation';
  const rows = run.summaries.filter((s) => s.kind !== 'bare' && modeOf(s) === chartMode);
  const names = [...new Set(rows.map((s) => s.config))];
  const labelWidth = 210;
  const chartWidth = 560;
  const barHeight = 11;
  const groupGap = 12;
  const top = 58;
  const groupHeight = SCENARIOS.length * barHeight + groupGap;
  const height = top + names.length * groupHeight + 40;
  const width = labelWidth + chartWidth + 90;
  const max = Math.max(1, ...rows.map((s) => Math.max(0, s.extraCpuPerRequest ?? 0)));
  const scale = chartWidth / max;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${escapeXml(`Extra server CPU per request over the bare framework (µs, median, ${chartMode === 'fixed' ? `fixed rate ${run.profile.rate} req/s` : 'saturation'}; lower is better)`)}</text>`,
    `<text x="10" y="34" fill="#555">${escapeXml(`${run.machine.cpu}, ${run.machine.cores} cores, Node ${run.machine.node} · ${run.profile.rounds} round(s) · ${run.startedAt}`)}</text>`,
  );
  SCENARIOS.forEach((scenario, i) => {
    const x = labelWidth + i * 70;
    out.push(
      `<rect x="${x}" y="42" width="10" height="10" fill="${COLORS[scenario]}"/>`,
      `<text x="${x + 14}" y="51">${scenario}</text>`,
    );
  });
  names.forEach((name, g) => {
    const y0 = top + g * groupHeight;
    out.push(
      `<text x="${labelWidth - 8}" y="${y0 + (SCENARIOS.length * barHeight) / 2 + 4}" text-anchor="end">${escapeXml(name)}</text>`,
    );
    SCENARIOS.forEach((scenario, i) => {
      const summary = rows.find((s) => s.config === name && s.scenario === scenario);
      const value = summary?.extraCpuPerRequest ?? null;
      const y = y0 + i * barHeight;
      const length = value === null ? 0 : Math.max(1, Math.max(0, value) * scale);
      out.push(
        `<rect x="${labelWidth}" y="${y}" width="${length.toFixed(1)}" height="${barHeight - 2}" fill="${COLORS[scenario]}"/>`,
        `<text x="${labelWidth + length + 4}" y="${y + barHeight - 3}" font-size="9" fill="#333">${value === null ? 'n/a' : value.toFixed(1)}</text>`,
      );
    });
  });
  const axisY = top + names.length * groupHeight;
  out.push(
    `<line x1="${labelWidth}" y1="${top - 4}" x2="${labelWidth}" y2="${axisY}" stroke="#999"/>`,
    `<text x="10" y="${axisY + 20}" fill="#555">${escapeXml(`pending: ${run.pending.map((p) => p.config).join(', ') || 'none'}`)}</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
