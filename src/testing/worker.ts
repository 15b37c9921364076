/**
 * Entry point of a conformance worker process (`node dist/testing/worker.js '<json>'`).
 * It builds a store with the target's factory, prints `ready`, waits for `go` on stdin so that
 * every worker starts at once, runs its task, prints one JSON reply line and exits.
 * It exits on its own when its parent goes away (stdin closes) or after a watchdog delay.
 */

import { randomBytes } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { isTesseraError } from '../core/errors.js';
import type { SessionStore } from '../core/types.js';
import { kvOf } from './context.js';
import { makeRecord } from './fixtures.js';
import {
  patchKey,
  type SignInOutcome,
  type WorkerReply,
  type WorkerRequest,
  type WorkerTask,
} from './patch.js';

const WATCHDOG_MS = 120_000;

function send(line: string): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(`${line}\n`, () => resolve());
  });
}

function waitForGo(): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'go') {
        resolve();
        lines.close();
      }
    });
    lines.on('close', () => reject(new Error('stdin closed before "go"')));
  });
}

async function signIns(
  store: SessionStore,
  task: Extract<WorkerTask, { op: 'signIn' }>,
): Promise<SignInOutcome[]> {
  const { userId, tag, now } = task;
  store.useSlotTags?.(() => tag);
  const records = Array.from({ length: task.times }, () =>
    makeRecord({
      id: `${tag}.${randomBytes(32).toString('base64url')}`,
      handle: `${tag}.${randomBytes(16).toString('base64url')}`,
      userId,
      createdAt: now,
      lastSeenAt: now,
      authenticatedAt: now,
      idleExpiresAt: now + 3_600_000,
      absoluteExpiresAt: now + 86_400_000,
    }),
  );
  const settled = await Promise.allSettled(
    records.map((r) => store.create(r, { now, limit: task.limit, policy: 'reject' })),
  );
  return settled.map((x, i) => {
    const handle = records[i]!.handle;
    if (x.status === 'fulfilled') return { handle, outcome: 'ok' };
    const e: unknown = x.reason;
    if (isTesseraError(e)) return { handle, outcome: e.code };
    throw e;
  });
}

async function runTask(store: SessionStore, task: WorkerTask): Promise<unknown> {
  if (task.op === 'signIn') return signIns(store, task);
  if (task.op === 'patch') {
    let tries = 0;
    for (const key of task.keys) tries += await patchKey(store, task.id, key, true, task.maxTries);
    return { tries };
  }
  const counts: number[] = [];
  for (let i = 0; i < task.times; i++) {
    counts.push((await kvOf(store).increment(task.key, task.now, task.windowEndsAt)).count);
  }
  return counts;
}

async function main(): Promise<void> {
  setTimeout(() => {
    process.stderr.write('conformance worker: watchdog expired\n');
    process.exit(3);
  }, WATCHDOG_MS).unref();
  const request = JSON.parse(process.argv[2] ?? '') as WorkerRequest;
  const specifier = isAbsolute(request.module)
    ? pathToFileURL(request.module).href
    : request.module;
  const mod = (await import(specifier)) as Record<string, unknown>;
  const factory = mod[request.exportName];
  if (typeof factory !== 'function') {
    throw new Error(`${request.module} does not export a function ${request.exportName}`);
  }
  const store = (await factory()) as SessionStore;
  const go = waitForGo();
  await send('ready');
  await go;
  let reply: WorkerReply;
  try {
    reply = { ok: true, result: await runTask(store, request.task) };
  } catch (e) {
    reply = { ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  await store.close().catch(() => {});
  await send(JSON.stringify(reply));
  process.exit(reply.ok ? 0 : 1);
}

main().catch(async (e: unknown) => {
  const reply: WorkerReply = {
    ok: false,
    error: e instanceof Error ? (e.stack ?? e.message) : String(e),
  };
  await send(JSON.stringify(reply));
  process.exit(1);
});
