/**
 * The server side of the benchmark's control channel. Every file in `bench/servers/` calls
 * {@link runBenchServer}: it listens on 127.0.0.1, tells the harness its port over the IPC channel
 * that `bench/run.ts` opens, and answers `mark` messages with this process's own CPU time and
 * memory, so the harness measures server CPU from inside the server, free of the load generator.
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a server reports at a mark: cumulative since the process started. */
export interface MarkReport {
  /** `process.cpuUsage()` user time, µs. */
  userMicros: number;
  /** `process.cpuUsage()` system time, µs. */
  systemMicros: number;
  rss: number;
  heapUsed: number;
  /** Library-specific counters (`redisCommands`, `sessions`, …). */
  counters: Record<string, number>;
}

/** Messages the harness sends to a server. */
export type ControlRequest =
  | { type: 'mark'; id: number; gc?: boolean }
  | { type: 'fill'; id: number; count: number }
  | { type: 'profile'; id: number; action: 'start'; intervalMicros: number }
  | { type: 'profile'; id: number; action: 'stop'; file: string }
  | { type: 'close'; id: number };

/** Messages a server sends to the harness. */
export type ControlReply =
  | { type: 'ready'; port: number }
  | { type: 'mark'; id: number; report: MarkReport }
  | { type: 'filled'; id: number; failures: number; copies?: number }
  | { type: 'closed'; id: number }
  | { type: 'profiled'; id: number }
  | { type: 'failed'; message: string };

/** What a fill did: sessions that failed, and rows bulk-inserted as copies (disk stores). */
export interface FillResult {
  failures: number;
  /** Rows inserted as copies of an engine-written row (`bulk-fill.ts`); absent: none. */
  copies?: number;
}

/** How a benchmark server starts, stops and counts. */
export interface BenchServerOptions {
  /** Starts listening on 127.0.0.1 (any port) and resolves to the port. */
  listen: () => Promise<number>;
  /** Releases everything (store connections, keys written under the run's prefix). */
  close?: () => Promise<void>;
  /** Extra counters reported with every mark (cheap to compute: they run between windows). */
  counters?: () => Record<string, number> | Promise<Record<string, number>>;
  /**
   * Adds `count` live sessions in process, through the engine (the records the app's `/login`
   * leaves), for `--scale`: much faster than HTTP. Resolves to the sessions that failed and the
   * rows bulk-inserted as copies (SQLite, PostgreSQL).
   */
  fill?: (count: number) => Promise<FillResult>;
}

/**
 * Starts a benchmark server and serves the harness's control messages until told to close.
 *
 * @param options - How to listen, close and count.
 * @returns A promise that settles once the server is listening and the harness is told.
 * @throws Never: a failure to start is reported to the harness and ends the process with code 1.
 * @example
 * ```ts
 * await runBenchServer({ listen: () => listenLoopback(http.createServer(handler)) });
 * ```
 */
export async function runBenchServer(options: BenchServerOptions): Promise<void> {
  const send = (reply: ControlReply): void => {
    if (process.send) process.send(reply);
    else if (reply.type === 'ready') console.log(`listening on http://127.0.0.1:${reply.port}`);
  };
  // Close once, whoever asks first (the harness's `close`, or the channel closing).
  let closing: Promise<void> | undefined;
  const closeOnce = (): Promise<void> => {
    closing ??= Promise.resolve(options.close?.());
    return closing;
  };
  // An orphaned server (harness killed, even with SIGKILL) must not linger: the IPC channel
  // closing is the signal. It still closes first (bounded), so that what it wrote to a shared
  // service (a PostgreSQL schema of a million rows, Redis keys) is deleted.
  process.on('disconnect', () => {
    setTimeout(() => process.exit(1), 30_000).unref();
    closeOnce().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  let port: number;
  try {
    port = await options.listen();
  } catch (error) {
    send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
  process.on('message', (message: ControlRequest) => {
    void handle(message).catch((error: unknown) => {
      send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    });
  });
  const handle = async (message: ControlRequest): Promise<void> => {
    if (message.type === 'mark') {
      if (message.gc) collectGarbage();
      const counters = options.counters ? await options.counters() : {};
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      send({
        type: 'mark',
        id: message.id,
        report: {
          userMicros: cpu.user,
          systemMicros: cpu.system,
          rss: memory.rss,
          heapUsed: memory.heapUsed,
          counters,
        },
      });
    } else if (message.type === 'fill') {
      if (!options.fill) throw new Error('this server cannot fill sessions in process');
      const result = await options.fill(message.count);
      send({ type: 'filled', id: message.id, ...result });
    } else if (message.type === 'profile') {
      await profile(message);
      send({ type: 'profiled', id: message.id });
    } else if (message.type === 'close') {
      await closeOnce();
      send({ type: 'closed', id: message.id });
      process.disconnect?.();
      process.exit(0);
    }
  };
  send({ type: 'ready', port });
}

/**
 * Listens on 127.0.0.1 with an OS-chosen port.
 *
 * @param server - A node:http server (or an Express app wrapped in one).
 * @returns The port.
 * @throws The listen error (e.g. EADDRINUSE).
 * @example
 * ```ts
 * const port = await listenLoopback(http.createServer(app));
 * ```
 */
export function listenLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve((server.address() as AddressInfo).port);
    });
  });
}

let inspector: import('node:inspector').Session | null = null;

/**
 * Starts or stops the V8 CPU profiler inside this server (`bench/profile.ts` brackets a
 * measured window with it, so the profile holds the window only); `stop` writes the
 * `.cpuprofile` JSON to `file`.
 */
async function profile(message: Extract<ControlRequest, { type: 'profile' }>): Promise<void> {
  const { Session } = await import('node:inspector');
  const { writeFileSync } = await import('node:fs');
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => {
      inspector!.post(method, params ?? {}, (error, result) =>
        error ? reject(error) : resolve(result),
      );
    });
  if (message.action === 'start') {
    inspector = new Session();
    inspector.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: message.intervalMicros });
    await post('Profiler.start');
  } else {
    const result = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(message.file, JSON.stringify(result.profile));
    inspector?.disconnect();
    inspector = null;
  }
}

/** Runs a full garbage collection (the harness starts servers with `--expose-gc`). */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Twice: the second collects what the first's finalizers and weak callbacks released.
  if (gc) {
    gc();
    gc();
  }
}

/**
 * Counts the commands a Redis client sends, in total and by command name, by wrapping its
 * `sendCommand` choke point (node-redis and ioredis route every command, pipelined or not,
 * through it; a MULTI counts each queued command plus MULTI and EXEC).
 *
 * @param client - A connected node-redis or ioredis client.
 * @param scriptNames - SHA1 → script name, so that `EVALSHA` counts say which script ran.
 * @returns A function that reads the counts so far: `redisCommands` and `redis:<NAME>` keys.
 * @example
 * ```ts
 * const commands = countRedisCommands(client);
 * await runBenchServer({ listen, counters: commands });
 * ```
 */
export function countRedisCommands(
  client: object,
  scriptNames: ReadonlyMap<string, string> = new Map(),
): () => Record<string, number> {
  // node-redis hands out `Object.create(realClient)` and calls `this._self.sendCommand`, so the
  // wrapper must sit on the real client; ioredis has no `_self`.
  const outer = client as { _self?: object };
  const target = (outer._self ?? client) as { sendCommand: (...args: unknown[]) => unknown };
  const original = target.sendCommand;
  const counts: Record<string, number> = { redisCommands: 0 };
  target.sendCommand = function countedSendCommand(this: unknown, ...args: unknown[]): unknown {
    // node-redis passes the argument array, ioredis a Command with a `name`.
    const first = args[0];
    const argv = Array.isArray(first)
      ? first.map(String)
      : [
          String((first as { name?: string }).name ?? '?'),
          ...((first as { args?: unknown[] }).args ?? []).map(String),
        ];
    let key = `redis:${String(argv[0]).toUpperCase()}`;
    // A script is named by what it does when its SHA is known (EVALSHA:TOUCH).
    if (key === 'redis:EVALSHA')
      key += `:${scriptNames.get(argv[1] ?? '') ?? argv[1]?.slice(0, 8)}`;
    counts[key] = (counts[key] ?? 0) + 1;
    counts['redisCommands'] = (counts['redisCommands'] ?? 0) + 1;
    return original.apply(this, args);
  };
  return () => ({ ...counts });
}

/** The Redis URL every benchmark uses (env `REDIS_URL`). */
export const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * A key prefix unique to this server process, so parallel runs never share keys.
 *
 * @param library - A short library name for the prefix.
 * @returns `bench:<library>:<pid>:`.
 * @example
 * ```ts
 * const prefix = uniquePrefix('connect-redis');
 * ```
 */
export function uniquePrefix(library: string): string {
  return `bench:${library}:${process.pid}:`;
}

/**
 * The session capacity the harness asks for (env `BENCH_CAPACITY`, set by `--scale` only), for
 * stores that are bounded by default; `undefined` keeps the store's own default.
 *
 * @returns The capacity, or undefined.
 * @example
 * ```ts
 * const capacity = benchCapacity();
 * const store = memoryStore(capacity === undefined ? {} : { maxSessions: capacity });
 * ```
 */
export function benchCapacity(): number | undefined {
  const value = Number(process.env['BENCH_CAPACITY']);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
