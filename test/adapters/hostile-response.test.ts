/**
 * Nothing an app does with `res` may crash the process through tessera (node:http, Express 4
 * and 5). The node and Express adapters hold the response back until the session is saved; what
 * Node throws synchronously inside the handler must still be thrown there, and whatever throws
 * later, in the deferred path, must end the response (500, or a destroyed socket once the head
 * went out) instead of becoming an unhandled rejection.
 *
 * Each framework's app (fixtures/hostile-app.ts) runs in its own child process, so a crash is a
 * real exit (code 1), not something a test runner's own handlers would swallow.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { send, type TestResponse } from './support.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'hostile-app.ts');

interface Child {
  process: ChildProcess;
  url: string;
  output: () => string;
}

async function start(framework: string): Promise<Child> {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, framework], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => {
    out += String(d);
  });
  child.stderr.on('data', (d) => {
    out += String(d);
  });
  let url = '';
  await waitFor(`the ${framework} app`, () => {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`);
    url = /LISTENING (\S+)/.exec(out)?.[1] ?? '';
    return url !== '';
  });
  return { process: child, url, output: () => out };
}

/** A response, or the socket error a destroyed response gives the client. */
async function get(base: string, path: string): Promise<TestResponse | { error: string }> {
  try {
    return await send(base, 'GET', path);
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** What Node throws for each misuse, as the app's own try/catch sees it. */
const CAUGHT: [string, string][] = [
  ['/bad-header-caught', 'ERR_INVALID_CHAR'],
  ['/bad-header-raw-caught', 'ERR_INVALID_CHAR'],
  ['/bad-status-caught', 'ERR_HTTP_INVALID_STATUS_CODE'],
  ['/bad-status-head-caught', 'ERR_HTTP_INVALID_STATUS_CODE'],
  ['/bad-status-message-caught', 'ERR_INVALID_CHAR'],
  ['/bad-end-caught', 'ERR_INVALID_ARG_TYPE'],
  ['/bad-encoding-caught', 'ERR_UNKNOWN_ENCODING'],
  ['/bad-write-caught', 'ERR_INVALID_ARG_TYPE'],
];

/** Misuses the app does not catch: the framework's error path answers 500. */
const UNCAUGHT = [
  '/bad-header',
  '/bad-header-raw',
  '/bad-status',
  '/bad-status-head',
  '/bad-status-message',
  '/bad-end',
  '/bad-encoding',
  '/bad-write',
  '/throwing-write',
  '/throwing-end',
];

describe.each([
  ['node:http', 'node'],
  ['Express 4', 'express4'],
  ['Express 5', 'express'],
])('%s: a misused response', (_name, framework) => {
  let app: Child | undefined;
  const stop = async () => {
    const child = app?.process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  };
  // A crash in one test must not fail the next for the wrong reason: start again if it died.
  beforeEach(async () => {
    if (app && 'status' in (await get(app.url, '/ok'))) return;
    await stop();
    app = await start(framework);
  });
  afterAll(stop);

  /** The process is alive and serves the next request. */
  async function stillServes(after: string): Promise<void> {
    const next = await get(app!.url, '/ok');
    expect(next, `after ${after}: ${app!.output()}`).toMatchObject({ status: 200, text: 'ok' });
    expect(app!.process.exitCode, app!.output()).toBeNull();
  }

  it.each(CAUGHT)(
    "throws where Node throws, inside the handler, so the app's try/catch sees it: %s",
    async (path, code) => {
      const res = await get(app!.url, path);
      expect(res, `${path}: ${app!.output()}`).toMatchObject({ status: 400, text: code });
      await stillServes(path);
    },
  );

  it.each(UNCAUGHT)('answers 500 to an uncaught misuse and keeps running: %s', async (path) => {
    const res = await get(app!.url, path);
    expect(res, `${path}: ${app!.output()}`).toMatchObject({ status: 500 });
    await stillServes(path);
  });

  it('destroys the socket when the deferred end throws after the head went out', async () => {
    const res = await get(app!.url, '/throwing-end-streamed');
    // The head and a chunk were written: the client never gets a complete response.
    expect(res, app!.output()).toMatchObject({
      error: expect.stringMatching(/socket hang up|aborted|ECONNRESET/),
    });
    await stillServes('/throwing-end-streamed');
  });

  it('ignores a second end() while the first waits for the session commit', async () => {
    const res = await get(app!.url, '/double-end');
    expect(res, app!.output()).toMatchObject({ status: 200, text: 'first' });
    await stillServes('/double-end');
  });
});

describe.each([
  ['Express 4', 'express4'],
  ['Express 5', 'express'],
])('%s: a second res.send()', (_name, framework) => {
  it('survives it while the first waits for the session commit', async () => {
    const app = await start(framework);
    try {
      // Natively the second send throws ERR_HTTP_HEADERS_SENT into Express's error path, whose
      // final handler destroys the socket of a response whose head is out.
      await get(app.url, '/double-send');
      const next = await get(app.url, '/ok');
      expect(next, app.output()).toMatchObject({ status: 200, text: 'ok' });
      expect(app.process.exitCode, app.output()).toBeNull();
    } finally {
      const exited = new Promise((r) => app.process.once('exit', r));
      app.process.kill('SIGTERM');
      await exited;
    }
  });
});
