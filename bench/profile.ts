/**
 * `node --import tsx bench/profile.ts --config <name> --scenario read|hit|new [--baseline <bare>]`
 * (after `npm run build`):
 * profiles one configuration at a fixed rate with the V8 CPU profiler started and stopped inside
 * the server process around the measured window only (after a saturation and a fixed-rate
 * warm-up), and prints where the time goes per request: self time per function, inclusive time
 * of tessera's own functions, time by category (tessera, framework, node internals, GC, native),
 * and with `--baseline` the difference to the bare framework's profile at the same rate.
 *
 * `--tool perf` samples the server with Linux `perf record -e cpu-clock` instead (on-CPU time
 * only, kernel included, JIT symbols from `--perf-basic-prof`): the V8 profiler samples wall
 * time of the JS thread, so it also counts the time the server was preempted (on a busy 2-core
 * host, mostly inside `writev`, when the woken load driver takes the core).
 *
 * Flags: `--rate <req/s>` (2000), `--seconds <s>` (8), `--interval <µs>` (100, sampling),
 * `--top <n>` (25), `--connections <n>` (10), `--out <file.md>` (also write the report there).
 * The `.cpuprofile` files land in `bench/results/profiles/` (not committed; open them in Chrome
 * DevTools or speedscope).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/environment.js';
import { driveAtRate } from './lib/fixed-rate.js';
import { hostLoad, hostSnapshot } from './lib/host-load.js';
import { drive, obtainSessions } from './lib/load.js';
import { BARE, CONFIGS } from './lib/matrix.js';
import { killAllServers, startServer } from './lib/server-process.js';

const { values: flags } = parseArgs({
  options: {
    config: { type: 'string' },
    scenario: { type: 'string', default: 'read' },
    baseline: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '8' },
    interval: { type: 'string', default: '100' },
    top: { type: 'string', default: '25' },
    connections: { type: 'string', default: '10' },
    out: { type: 'string' },
    tool: { type: 'string', default: 'v8' },
  },
  strict: true,
});

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One profiled window. */
interface Profiled {
  config: string;
  requests: number;
  cpuPerRequest: number;
  /** Non-idle sampled time per request, µs. */
  sampledPerRequest: number;
  /** Function key → self µs per request. */
  self: Map<string, number>;
  /** Function key → inclusive µs per request (each sample counted once per function). */
  inclusive: Map<string, number>;
  /** Category → self µs per request. */
  categories: Map<string, number>;
  otherBusyCores: number;
  loadAverage: number;
  file: string;
}

const root = fileURLToPath(new URL('../', import.meta.url));
const profilesDir = `${root}bench/results/profiles/`;

/** A readable location: tessera's dist/ file mapped to its src/ file, packages by name. */
function where(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '');
  if (url === '') return '';
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  if (url.startsWith(root) && dist >= 0) {
    return `src/${url.slice(dist + 6).replace(/\.js$/, '.ts')}`;
  }
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + 14);
  return url.startsWith(root) ? url.slice(root.length) : url;
}

function category(frame: CallFrame): string {
  const name = frame.functionName;
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return '(program): native, outside JS';
  if (name === '(idle)') return '(idle)';
  const at = where(frame);
  if (at === '') return 'native (called from JS)';
  if (at.startsWith('src/')) return 'tessera';
  if (at.startsWith('node:')) return 'node internals';
  if (at.startsWith('bench/')) return 'bench app';
  const pkg = at.startsWith('@') ? at.split('/').slice(0, 2).join('/') : at.split('/')[0]!;
  return `package ${pkg}`;
}

const keyOf = (frame: CallFrame): string =>
  `${frame.functionName || '(anonymous)'} ${where(frame)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;

function analyse(
  profile: CpuProfile,
  requests: number,
): {
  self: Map<string, number>;
  inclusive: Map<string, number>;
  categories: Map<string, number>;
  sampled: number;
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const categories = new Map<string, number>();
  let sampled = 0;
  const add = (map: Map<string, number>, key: string, value: number) =>
    map.set(key, (map.get(key) ?? 0) + value);
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: the time spent where sample i is.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    sampled += delta;
    add(self, keyOf(node.callFrame), delta);
    add(categories, category(node.callFrame), delta);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const key = keyOf(byId.get(id)!.callFrame);
      if (seen.has(key)) continue;
      seen.add(key);
      add(inclusive, key, delta);
    }
  }
  const perRequest = (map: Map<string, number>) =>
    new Map([...map].map(([k, v]) => [k, v / requests] as const));
  return {
    self: perRequest(self),
    inclusive: perRequest(inclusive),
    categories: perRequest(categories),
    sampled: sampled / requests,
  };
}

/**
 * Reads a `perf record` file: self samples per symbol (perf report), converted to µs per request
 * (each sample stands for 1/frequency s of on-CPU time of the server process, every thread).
 */
function analysePerf(
  file: string,
  frequency: number,
  requests: number,
): ReturnType<typeof analyse> {
  const text = execFileSync(
    'perf',
    [
      'report',
      '-i',
      file,
      '--stdio',
      '--no-children',
      '--sort',
      'dso,sym',
      '-n',
      '-t',
      '|',
      '--percent-limit',
      '0',
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const self = new Map<string, number>();
  const categories = new Map<string, number>();
  let sampled = 0;
  const micros = 1_000_000 / frequency;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const fields = line.split('|').map((f) => f.trim());
    if (fields.length < 4 || !/^\d+$/.test(fields[1]!)) continue;
    const value = (Number(fields[1]) * micros) / requests;
    const dso = fields[2]!;
    const kernel = fields[3]!.startsWith('[k]');
    let symbol = fields[3]!.slice(4).trim();
    // JIT symbols (--perf-basic-prof): "JS:*name file:///…/dist/core/sealed.js:12:3".
    const js = /^JS:[*~^]?(\S*) (.*)$/.exec(symbol);
    let cat: string;
    if (kernel) cat = 'kernel';
    else if (dso.startsWith('[JIT]') && js) {
      const frame = {
        functionName: js[1] || '(anonymous)',
        url: js[2]!.replace(/:\d+(:\d+)?$/, ''),
        lineNumber: Number(/:(\d+):\d+$/.exec(js[2]!)?.[1] ?? 1) - 1,
      };
      cat = category(frame);
      symbol = keyOf(frame);
    } else if (dso.startsWith('[JIT]')) cat = 'V8 code stubs / regexps (JIT)';
    else if (dso === 'node') cat = 'node binary: V8 builtins and runtime, libuv, OpenSSL, llhttp';
    else cat = `native ${dso}`;
    self.set(symbol, (self.get(symbol) ?? 0) + value);
    categories.set(cat, (categories.get(cat) ?? 0) + value);
    sampled += value;
  }
  // No inclusive time: Node's own frames lack frame pointers, so perf's call chains stop at
  // the leaf; the V8 profiler (--tool v8) gives inclusive time.
  return { self, inclusive: new Map(), categories, sampled };
}

async function profileOne(config: string, scenario: string): Promise<Profiled> {
  const rate = Number(flags.rate);
  const seconds = Number(flags.seconds);
  const connections = Number(flags.connections);
  const perf = flags.tool === 'perf';
  const server = await startServer(config, {
    ...(perf ? { nodeArgs: ['--perf-basic-prof', '--interpreted-frames-native-stack'] } : {}),
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const cookies = config.startsWith('bare-') ? null : await obtainSessions(base, connections);
    const url = `${base}/${scenario}`;
    const sendCookies = scenario === 'new' ? null : cookies;
    await drive(url, sendCookies, { durationSeconds: 2, connections });
    await driveAtRate(url, sendCookies, { rate, durationSeconds: 1, connections });
    mkdirSync(profilesDir, { recursive: true });
    const file = `${profilesDir}${config}-${scenario}-${rate}.${perf ? 'perf.data' : 'cpuprofile'}`;
    const frequency = Math.round(1_000_000 / Number(flags.interval));
    let recorder: ReturnType<typeof spawn> | null = null;
    if (perf) {
      recorder = spawn(
        'perf',
        [
          'record',
          '-e',
          'cpu-clock',
          '-F',
          String(frequency),
          '-p',
          String(server.pid),
          '-o',
          file,
        ],
        { stdio: 'ignore' },
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
    } else await server.startProfile(Number(flags.interval));
    const before = await server.mark();
    const host0 = hostSnapshot();
    const load = await driveAtRate(url, sendCookies, {
      rate,
      durationSeconds: seconds,
      connections,
    });
    const host1 = hostSnapshot();
    if (recorder) {
      const exited = new Promise((resolve) => recorder!.once('exit', resolve));
      recorder.kill('SIGINT');
      await exited;
    } else await server.stopProfile(file);
    const after = await server.mark();
    const cpu = after.userMicros + after.systemMicros - before.userMicros - before.systemMicros;
    if (!load.held) console.warn(`! ${config} did not hold ${rate} req/s (${load.achievedRate})`);
    const analysed = perf
      ? analysePerf(file, frequency, load.requests)
      : analyse(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, load.requests);
    const host = hostLoad(host0, host1, cpu);
    return {
      config,
      requests: load.requests,
      cpuPerRequest: cpu / load.requests,
      sampledPerRequest: analysed.sampled,
      self: analysed.self,
      inclusive: analysed.inclusive,
      categories: analysed.categories,
      otherBusyCores: host.otherBusyCores,
      loadAverage: host.loadAverage,
      file: file.slice(root.length),
    };
  } finally {
    await server.stop();
  }
}

const f1 = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(1));
const f2 = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(2));
const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);

function render(main: Profiled, bare: Profiled | null, scenario: string): string {
  const top = Number(flags.top);
  const lines: string[] = [];
  const m = machineInfo();
  lines.push(
    `### ${main.config} · ${scenario} · ${flags.rate} req/s · ${flags.seconds} s · sampling ${flags.interval} µs`,
    '',
    `Command: \`node --import tsx bench/profile.ts ${process.argv.slice(2).join(' ')}\` · ${new Date().toISOString()} · Node ${m.node}, ${m.cores} cores · load average ${main.loadAverage.toFixed(2)}, other processes ${main.otherBusyCores.toFixed(2)} cores during the window${bare ? ` (baseline window: ${bare.loadAverage.toFixed(2)}, ${bare.otherBusyCores.toFixed(2)} cores)` : ''}.`,
    '',
    `Tool: ${flags.tool === 'perf' ? 'Linux perf, cpu-clock (on-CPU time of every thread, kernel included)' : 'V8 CPU profiler (wall time of the JS thread)'}. Measured CPU (process.cpuUsage, with the profiler on): ${f1(main.cpuPerRequest)} µs/request${bare ? `; ${bare.config}: ${f1(bare.cpuPerRequest)} µs/request; extra ${f1(main.cpuPerRequest - bare.cpuPerRequest)}` : ''}. Sampled on the JS thread (non-idle): ${f1(main.sampledPerRequest)} µs/request${bare ? ` vs ${f1(bare.sampledPerRequest)}` : ''}. Profiles: \`${main.file}\`${bare ? `, \`${bare.file}\`` : ''}.`,
    '',
    '**By category** (self time, µs/request)',
    '',
    `| category | ${main.config} |${bare ? ` ${bare.config} | difference |` : ''}`,
    `|---|---:|${bare ? '---:|---:|' : ''}`,
  );
  const cats = new Set([...main.categories.keys(), ...(bare ? bare.categories.keys() : [])]);
  for (const c of [...cats].sort(
    (a, b) => (main.categories.get(b) ?? 0) - (main.categories.get(a) ?? 0),
  )) {
    const a = main.categories.get(c) ?? 0;
    const b = bare?.categories.get(c) ?? 0;
    lines.push(
      `| ${c} | ${f2(a)} |${bare ? ` ${f2(b)} | ${a - b >= 0 ? '+' : ''}${f2(a - b)} |` : ''}`,
    );
  }
  lines.push('', `**Top ${top} functions by self time** (µs/request)`, '');
  lines.push(`| function | self |${bare ? ' baseline | difference |' : ''}`);
  lines.push(`|---|---:|${bare ? '---:|---:|' : ''}`);
  for (const [k, v] of sorted(main.self).slice(0, top)) {
    const b = bare?.self.get(k) ?? 0;
    lines.push(
      `| \`${k}\` | ${f2(v)} |${bare ? ` ${f2(b)} | ${v - b >= 0 ? '+' : ''}${f2(v - b)} |` : ''}`,
    );
  }
  const tessera = sorted(main.inclusive).filter(([k]) => k.includes(' src/'));
  if (tessera.length > 0)
    lines.push('', `**tessera functions by inclusive time** (µs/request; callees included)`, '');
  if (tessera.length > 0) lines.push('| function | inclusive | self |', '|---|---:|---:|');
  for (const [k, v] of tessera.slice(0, top)) {
    lines.push(`| \`${k}\` | ${f2(v)} | ${f2(main.self.get(k))} |`);
  }
  if (bare) {
    const diff = new Map<string, number>();
    for (const k of new Set([...main.self.keys(), ...bare.self.keys()])) {
      diff.set(k, (main.self.get(k) ?? 0) - (bare.self.get(k) ?? 0));
    }
    lines.push('', `**Largest self-time increases over ${bare.config}** (µs/request)`, '');
    lines.push('| function | difference |');
    lines.push('|---|---:|');
    for (const [k, v] of sorted(diff).slice(0, top)) lines.push(`| \`${k}\` | +${f2(v)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

try {
  const config = flags.config;
  if (!config) throw new Error('--config <name> is required (a bench/servers/ file name)');
  const scenario = flags.scenario!;
  if (!['read', 'hit', 'new'].includes(scenario)) throw new Error('--scenario read|hit|new');
  const known = CONFIGS.find((c) => c.name === config);
  const baseline = flags.baseline ?? (known ? BARE[known.framework] : undefined);
  const main = await profileOne(config, scenario);
  const bare = baseline && baseline !== config ? await profileOne(baseline, scenario) : null;
  const text = render(main, bare, scenario);
  console.log(text);
  if (flags.out) {
    writeFileSync(flags.out, text);
  }
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
} finally {
  killAllServers();
}
