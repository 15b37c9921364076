/**
 * The harness side of the control channel: spawns a benchmark server as its own process, waits
 * for its port, asks it for CPU/memory marks and stops it. Every spawned process is tracked so
 * that {@link killAllServers} can end them on any exit path (error, SIGINT, SIGTERM).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ControlReply, ControlRequest, FillResult, MarkReport } from './control.js';

const live = new Set<ChildProcess>();

/** A running benchmark server. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** Asks the server for its cumulative CPU time and memory (after a full GC when `gc`). */
  mark(options?: { gc?: boolean }): Promise<MarkReport>;
  /**
   * Has the server add `count` sessions in process (servers with a `fill` hook: tessera's);
   * resolves to the sessions that failed and the rows bulk-inserted as copies (disk stores).
   */
  fill(count: number): Promise<FillResult>;
  /** Starts the V8 CPU profiler in the server (sampling every `intervalMicros`). */
  startProfile(intervalMicros: number): Promise<void>;
  /** Stops it and has the server write the `.cpuprofile` to `file`. */
  stopProfile(file: string): Promise<void>;
  /** Asks the server to clean up and exit; kills it if it does not within the bound. */
  stop(): Promise<void>;
}

const serversDir = fileURLToPath(new URL('../servers/', import.meta.url));
const tsconfigForServers = fileURLToPath(new URL('../tsconfig.servers.json', import.meta.url));

/**
 * Starts `bench/servers/<name>.ts` in its own Node process (`node --expose-gc --import tsx`).
 *
 * @param name - The server file's name without extension.
 * @param options - `timeoutMs`: how long to wait for the port (default 30 000); `env`: extra
 *   environment variables for the server; `nodeArgs`: extra Node flags (e.g. `--perf-basic-prof`).
 * @returns The running server.
 * @throws When the process exits, reports a failure or is not ready within the bound.
 * @example
 * ```ts
 * const server = await startServer('bare-node');
 * ```
 */
export async function startServer(
  name: string,
  options: { timeoutMs?: number; env?: Record<string, string>; nodeArgs?: string[] } = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--expose-gc', '--import', 'tsx', `${serversDir}${name}.ts`],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        // The root tsconfig maps `tessera-session` to src/ (for the type check); tsx honours
        // `paths` at run time, so without this the servers would run src/ transpiled by tsx
        // instead of the built dist/ that users install.
        TSX_TSCONFIG_PATH: tsconfigForServers,
        ...options.env,
      },
    },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));

  let nextId = 1;
  const waiting = new Map<number, (reply: ControlReply) => void>();
  let exited: Error | null = null;
  const failAll = (error: Error): void => {
    exited = error;
    for (const resolve of waiting.values()) {
      resolve({ type: 'failed', message: error.message });
    }
    waiting.clear();
  };
  child.once('exit', (code, signal) => {
    failAll(new Error(`server ${name} exited (code ${code}, signal ${signal})`));
  });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`server ${name} was not ready within ${options.timeoutMs ?? 30_000} ms`));
    }, options.timeoutMs ?? 30_000);
    const onMessage = (reply: ControlReply): void => {
      if (reply.type === 'ready') {
        clearTimeout(timer);
        resolve(reply.port);
      } else if (reply.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`server ${name} failed to start: ${reply.message}`));
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${name} exited before it was ready (code ${code})`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });

  child.on('message', (reply: ControlReply) => {
    if (
      reply.type === 'mark' ||
      reply.type === 'filled' ||
      reply.type === 'closed' ||
      reply.type === 'profiled'
    ) {
      waiting.get(reply.id)?.(reply);
      waiting.delete(reply.id);
    } else if (reply.type === 'failed') {
      console.error(`  ! server ${name}: ${reply.message}`);
    }
  });

  const request = (message: ControlRequest, timeoutMs: number): Promise<ControlReply> => {
    if (exited) return Promise.reject(exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(message.id);
        reject(new Error(`server ${name} did not answer '${message.type}' in ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(message.id, (reply) => {
        clearTimeout(timer);
        if (reply.type === 'failed') reject(new Error(reply.message));
        else resolve(reply);
      });
      child.send(message);
    });
  };

  return {
    name,
    pid: child.pid ?? -1,
    port,
    async mark(markOptions = {}) {
      const reply = await request(
        { type: 'mark', id: nextId++, gc: markOptions.gc ?? false },
        30_000,
      );
      if (reply.type !== 'mark') throw new Error(`server ${name}: unexpected reply ${reply.type}`);
      return reply.report;
    },
    async fill(count) {
      // 1M signed-in sessions take minutes on a slow store: the bound grows with the count.
      const reply = await request({ type: 'fill', id: nextId++, count }, 60_000 + 10 * count);
      if (reply.type !== 'filled')
        throw new Error(`server ${name}: unexpected reply ${reply.type}`);
      return { failures: reply.failures, ...(reply.copies ? { copies: reply.copies } : {}) };
    },
    async startProfile(intervalMicros) {
      await request({ type: 'profile', id: nextId++, action: 'start', intervalMicros }, 30_000);
    },
    async stopProfile(file) {
      await request({ type: 'profile', id: nextId++, action: 'stop', file }, 60_000);
    },
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        await request({ type: 'close', id: nextId++ }, 60_000);
      } catch {
        child.kill('SIGKILL');
      }
      // A closed server exits on its own; the bound covers one that hangs in its close hook.
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/**
 * Kills every server process this harness started and that is still alive (SIGKILL).
 *
 * @returns Nothing.
 * @example
 * ```ts
 * process.on('exit', killAllServers);
 * ```
 */
export function killAllServers(): void {
  for (const child of live) {
    child.kill('SIGKILL');
  }
  live.clear();
}
