/** Helpers for tests that start real server processes on loopback. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (bind :0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Poll `check` until it is true, at most `timeoutMs`; the time-out names `what` and the last error. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Start a TypeScript entry with tsx and wait until `url` answers.
 * @param options.cwd - the working folder of the process @default this process's
 */
export async function startTs(
  entry: string,
  env: Record<string, string>,
  url: string,
  options: { cwd?: string } = {},
): Promise<{ child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, ...env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(`${entry} at ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`exited: ${out}`);
      return (await fetch(url)).status > 0;
    });
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return { child, output: () => out, stop };
}

/**
 * Run an ES module script in a child Node.js with `--expose-gc` (TypeScript imports through tsx)
 * and return the number it prints: for tests that measure what a heap keeps alive.
 */
export function gcMeasured(script: string): number {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}
