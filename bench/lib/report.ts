/**
 * Renders a run's results: the markdown report (`latest.md`) and a grouped bar chart of the
 * headline figure (`latest.svg`), drawn by hand so the benchmark needs no chart dependency.
 */
import type { MicroResult } from '../micro.js';
import { formatNs } from '../micro.js';
import type { MachineInfo } from './environment.js';
import type { ScalePoint } from './scale.js';
import { renderTargets, scaleTargets, throughputTargets } from './targets.js';
import { SCENARIOS, type Scenario, type Summary } from './throughput.js';

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
  };
  machine: MachineInfo;
  versions: Record<string, string>;
  settings: Record<string, string>;
  summaries: Summary[];
  pending: { config: string; reason: string }[];
  skipped: { config: string; reason: string }[];
  failures: { config: string; round: number; message: string }[];
  micro: { results: MicroResult[]; notes: string[] } | null;
  scale: ScalePoint[] | null;
  /** 1-minute load average at the end of each measured window: median and max. */
  loadDuringRun?: { median: number; max: number };
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
    const { median, max } = run.loadDuringRun;
    lines.push(
      `- Host load average during the measured windows: median ${median.toFixed(2)}, max ${max.toFixed(2)} (${machine.cores} cores)${max > machine.cores * 1.5 ? ' — **the host was busy with other work: figures are noisy, prefer a rerun on a quiet machine**' : ''}`,
    );
  }
  if (run.scale) {
    lines.push(
      `- Load: autocannon, ${profile.connections} connections, pipelining ${profile.pipelining}; after each fill, read and hit get ${profile.warmupSeconds} s warm-up + ${profile.durationSeconds} s measured; CPU is the server's user + system time per request (\`process.cpuUsage()\` in the server, over IPC).`,
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

  if (run.scale) {
    lines.push('## Scale: cost per request and memory per session as live sessions grow', '');
    const verdicts = scaleTargets(run.scale);
    if (verdicts.length > 0) lines.push(...renderTargets(verdicts), '');
    lines.push(
      'Memory is the growth over the fill (after a full GC in the server), divided by the sessions added; Redis is `used_memory` growth of the shared server. CPU ×smallest compares with the same configuration at the smallest size.',
      '',
    );
    lines.push(
      '| configuration | sessions | RSS B/session | heap B/session | Redis B/session | read CPU µs/req | hit CPU µs/req | read ×smallest | hit ×smallest | fill s | failed fills |',
    );
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const p of run.scale) {
      const smallest = run.scale
        .filter((q) => q.config === p.config)
        .reduce((a, b) => (b.sessions < a.sessions ? b : a));
      lines.push(
        `| ${p.config} | ${p.sessions.toLocaleString('en')} | ${fixed(p.rssPerSession, 0)} | ${fixed(p.heapPerSession, 0)} | ${fixed(p.redisBytesPerSession, 0)} | ${fixed(p.readCpuPerRequest, 1)} | ${fixed(p.hitCpuPerRequest, 1)} | ${ratio(p.readCpuPerRequest / smallest.readCpuPerRequest)} | ${ratio(p.hitCpuPerRequest / smallest.hitCpuPerRequest)} | ${fixed(p.populateSeconds, 1)} | ${p.populateFailures} |`,
      );
    }
    lines.push('');
  }

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

function renderThroughput(run: RunResults, lines: string[]): void {
  const { profile } = run;
  lines.push(
    `- Load: autocannon, ${profile.connections} connections, pipelining ${profile.pipelining}; ${profile.rounds} round(s), each scenario ${profile.warmupSeconds} s warm-up + ${profile.durationSeconds} s measured; configurations interleaved (round-robin, rotated start per round); figures are medians over rounds.`,
  );
  lines.push(
    '- CPU: user + system time of the server process over the measured window (`process.cpuUsage()` inside the server, asked over IPC), divided by completed requests. "Extra" is the paired difference with the bare server of the same framework in the same round (median over rounds).',
    '',
  );

  const peers = run.summaries.filter((s) => s.kind !== 'bare');
  lines.push('## Extra server CPU per request over the bare framework (µs, median)', '');
  lines.push('| configuration | framework | store | read | hit | new | req/s ×bare (read) |');
  lines.push('|---|---|---|---:|---:|---:|---:|');
  const names = [...new Set(peers.map((s) => s.config))];
  for (const name of names) {
    const of = (scenario: Scenario): Summary | undefined =>
      peers.find((s) => s.config === name && s.scenario === scenario);
    const first = of('read') ?? of('hit') ?? of('new')!;
    lines.push(
      `| ${name} | ${first.framework} | ${first.store} | ${signed(of('read')?.extraCpuPerRequest ?? null, 1)} | ${signed(of('hit')?.extraCpuPerRequest ?? null, 1)} | ${signed(of('new')?.extraCpuPerRequest ?? null, 1)} | ${ratio(of('read')?.requestsPerSecondRatio ?? null)} |`,
    );
  }
  for (const pending of run.pending) {
    lines.push(`| ${pending.config} | | | pending | pending | pending | |`);
  }
  lines.push('');

  lines.push('## Targets (issue 6), from this run', '');
  lines.push(...renderTargets(throughputTargets(run.summaries)), '');

  lines.push('## All figures', '');
  lines.push(
    '| configuration | scenario | req/s | p50 ms | p99 ms | CPU µs/req | extra CPU µs/req | CPU ×bare | req/s ×bare | Redis cmds/req | failed reqs |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const byName = (perRequest: Record<string, number>): string =>
    Object.entries(perRequest)
      .filter(([name, value]) => name.startsWith('redis:') && value >= 0.005)
      .map(([name, value]) => `${name.slice(6)} ${value.toFixed(2)}`)
      .join(', ');
  for (const s of run.summaries) {
    const redis = s.perRequest['redisCommands'];
    lines.push(
      `| ${s.config} | ${s.scenario} | ${Math.round(s.requestsPerSecond)} | ${fixed(s.latencyP50, 2)} | ${fixed(s.latencyP99, 2)} | ${fixed(s.cpuPerRequest, 1)} | ${s.kind === 'bare' ? '–' : signed(s.extraCpuPerRequest, 1)} | ${s.kind === 'bare' ? '–' : ratio(s.cpuRatio)} | ${s.kind === 'bare' ? '–' : ratio(s.requestsPerSecondRatio)} | ${redis === undefined ? '' : `${fixed(redis, 2)} (${byName(s.perRequest)})`} | ${s.failures} |`,
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
  const rows = run.summaries.filter((s) => s.kind !== 'bare');
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
    `<text x="10" y="18" font-size="14" font-weight="bold">Extra server CPU per request over the bare framework (µs, median; lower is better)</text>`,
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
