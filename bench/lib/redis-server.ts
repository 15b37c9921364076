/**
 * The Redis the Redis configurations talk to. By default (`--redis private`) the run starts its
 * own `redis-server` (own port, own temporary directory, no RDB snapshots, no AOF) and stops it
 * by pid at the end, so no other client disturbs the windows and `INFO` reads only the
 * benchmark's own commands, CPU and memory; `--redis shared` uses `REDIS_URL` as it is.
 *
 * {@link RedisProbe} reads `INFO commandstats`, `cpu` and `memory` of that server between
 * windows: the server-side count of commands per request (which includes the commands a script
 * runs, `redis.call` inside `EVALSHA`), Redis's own CPU per request and `used_memory`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';

/** A `redis-server` this run started. */
export interface PrivateRedis {
  url: string;
  pid: number;
  /** Stops it (SIGTERM by pid, then SIGKILL after a bound) and removes its directory. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts a private `redis-server` on a free loopback port, persistence off.
 *
 * @param binary - The server binary (`REDIS_SERVER`, default `redis-server` on the PATH).
 * @returns The running server.
 * @throws When it does not answer PING within 10 s, or the binary is missing.
 * @example
 * ```ts
 * const redis = await startPrivateRedis();
 * process.env.REDIS_URL = redis.url;
 * ```
 */
export async function startPrivateRedis(
  binary = process.env['REDIS_SERVER'] ?? 'redis-server',
): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-redis-'));
  const child: ChildProcess = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--logfile',
      '',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const pid = child.pid ?? -1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | null = null;
  child.once('error', (error) => {
    spawnError = error;
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && pid > 0) {
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null) process.kill(pid, 'SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`cannot start ${binary}: ${(spawnError as Error).message}`);
    }
    try {
      const client = createClient({ url, socket: { reconnectStrategy: false } });
      client.on('error', () => {});
      await client.connect();
      await client.ping();
      await client.quit();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`private redis-server on port ${port} did not answer: ${String(error)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url, pid, stop };
}

/** What {@link RedisProbe.read} returns: cumulative since the server started. */
export interface RedisSnapshot {
  /** Calls per command (lower-case name as Redis reports it, `evalsha`, `get`, …). */
  calls: Record<string, number>;
  /** `used_cpu_user + used_cpu_sys`, µs. */
  cpuMicros: number;
  /** `used_memory`, bytes. */
  usedMemory: number;
}

/** Commands the harness itself sends to read the stats, or a client sends when it connects. */
const NOT_REQUEST_WORK = new Set(['info', 'hello', 'client', 'ping', 'select', 'quit', 'command']);

/**
 * Parses `INFO commandstats`, `INFO cpu` and `INFO memory` text.
 *
 * @param info - The concatenated INFO sections.
 * @returns The snapshot.
 * @example
 * ```ts
 * parseRedisInfo('cmdstat_get:calls=3,usec=5\r\nused_cpu_sys:0.1\r\nused_cpu_user:0.2\r\nused_memory:1000');
 * ```
 */
export function parseRedisInfo(info: string): RedisSnapshot {
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1]!] = Number(match[2]);
  }
  const number = (name: string): number => {
    const match = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info);
    return match ? Number(match[1]) : Number.NaN;
  };
  return {
    calls,
    cpuMicros: Math.round((number('used_cpu_user') + number('used_cpu_sys')) * 1e6),
    usedMemory: number('used_memory'),
  };
}

/**
 * The per-request figures between two snapshots: `redis-server:calls` (every command the server
 * ran for the requests, a script's inner commands included), `redis-server:<name>` per command
 * and `redis-server:cpuMicros` (the Redis process's CPU).
 *
 * @param before - Snapshot before the window.
 * @param after - Snapshot after it.
 * @param requests - Requests answered in the window.
 * @returns Counters per request (empty when no request was answered).
 * @example
 * ```ts
 * Object.assign(perRequest, redisPerRequest(r0, r1, load.requests));
 * ```
 */
export function redisPerRequest(
  before: RedisSnapshot,
  after: RedisSnapshot,
  requests: number,
): Record<string, number> {
  if (requests <= 0) return {};
  const out: Record<string, number> = { 'redis-server:calls': 0 };
  for (const [name, value] of Object.entries(after.calls)) {
    if (NOT_REQUEST_WORK.has(name)) continue;
    const delta = value - (before.calls[name] ?? 0);
    if (delta <= 0) continue;
    out[`redis-server:${name.toUpperCase()}`] = delta / requests;
    out['redis-server:calls']! += delta / requests;
  }
  out['redis-server:cpuMicros'] = (after.cpuMicros - before.cpuMicros) / requests;
  return out;
}

/** A connection that reads a Redis server's stats between windows. */
export interface RedisProbe {
  read(): Promise<RedisSnapshot>;
  close(): Promise<void>;
}

/**
 * Connects a stats reader to a Redis server.
 *
 * @param url - The server's URL.
 * @returns The probe.
 * @example
 * ```ts
 * const probe = await redisProbe(redis.url);
 * const before = await probe.read();
 * ```
 */
export async function redisProbe(url: string): Promise<RedisProbe> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return {
    async read() {
      const info = [
        await client.info('commandstats'),
        await client.info('cpu'),
        await client.info('memory'),
      ].join('\r\n');
      return parseRedisInfo(info);
    },
    async close() {
      await client.quit();
    },
  };
}
