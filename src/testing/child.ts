/**
 * Spawning conformance worker processes from the suite.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerReply, WorkerRequest, WorkerTask } from './patch.js';

/** How to reach a target's store from a child process. */
export interface WorkerSpec {
  module: string;
  exportName: string;
  env?: Record<string, string>;
}

/** A running worker process. */
export interface RunningWorker {
  /** Resolves when the worker has built its store. */
  ready: Promise<void>;
  /** Tell the worker to start its task. */
  go(): void;
  /** Its task's result; rejects on any failure, exit code or timeout. */
  done: Promise<unknown>;
  /** End the worker at once (SIGKILL). */
  kill(): void;
}

// From source (a `.ts` file run by a TypeScript loader) the worker is `worker.ts`; from `dist`,
// `worker.js` next to this file.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_FILE = fileURLToPath(
  new URL(FROM_SOURCE ? './worker.ts' : './worker.js', import.meta.url),
);

/**
 * The node flags a worker needs: a TypeScript loader (`tsx`) when the worker or the target's
 * module is TypeScript source.
 */
export function defaultExecArgv(spec: WorkerSpec): string[] {
  return FROM_SOURCE || /\.[cm]?tsx?$/.test(spec.module) ? ['--import', 'tsx'] : [];
}

function noop(): void {}

/**
 * Start one worker process for `task`.
 * @param spec - the target's worker module and factory
 * @param task - what the worker does once told to go
 * @param execArgv - node flags
 * @param timeoutMs - kill the worker after this long
 */
export function startWorker(
  spec: WorkerSpec,
  task: WorkerTask,
  execArgv: string[],
  timeoutMs: number,
): RunningWorker {
  const request: WorkerRequest = { module: spec.module, exportName: spec.exportName, task };
  const child = spawn(process.execPath, [...execArgv, WORKER_FILE, JSON.stringify(request)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...spec.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdin.on('error', noop);

  let markReady: () => void = noop;
  let failReady: (e: Error) => void = noop;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    // A factory may log to stdout; `ready` is the first line that is exactly that.
    if (/(^|\n)ready\n/.test(stdout)) markReady();
  });

  const done = new Promise<unknown>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    const fail = (why: string) => {
      const e = new Error(`conformance worker ${why}\n${stderr.trim()}`);
      failReady(e);
      reject(e);
    };
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(`could not start: ${e.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.trim().split('\n');
      let reply: WorkerReply | undefined;
      try {
        reply = JSON.parse(lines[lines.length - 1] ?? '') as WorkerReply;
      } catch {
        reply = undefined;
      }
      if (reply === undefined) {
        fail(`exited (code ${String(code)}, signal ${String(signal)}) without a reply`);
      } else if (!reply.ok) {
        fail(`failed: ${reply.error}`);
      } else if (code !== 0) {
        fail(`exited with code ${String(code)}`);
      } else {
        resolve(reply.result);
      }
    });
  });
  // Both promises are awaited by the caller in an order it chooses; never leave one unhandled.
  ready.catch(noop);
  done.catch(noop);
  return {
    ready,
    go: () => {
      child.stdin.end('go\n');
    },
    done,
    kill: () => {
      child.kill('SIGKILL');
    },
  };
}

/**
 * Start one worker per task, wait until all are ready, release them at once, and collect
 * their results in task order.
 */
export async function runWorkers(
  spec: WorkerSpec,
  tasks: WorkerTask[],
  execArgv: string[],
  timeoutMs: number,
): Promise<unknown[]> {
  const workers = tasks.map((t) => startWorker(spec, t, execArgv, timeoutMs));
  try {
    await Promise.all(workers.map((w) => w.ready));
  } catch (e) {
    for (const w of workers) w.kill();
    await Promise.allSettled(workers.map((w) => w.done));
    throw e;
  }
  for (const w of workers) w.go();
  return Promise.all(workers.map((w) => w.done));
}
