/**
 * Helpers for the demo's black-box tests: start `demo/server.ts` as a child process on a free
 * loopback port in its own temporary folder, and talk to it over node:http with cookies handled
 * by hand (so every header is exactly what the test says).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The demo entry point. */
export const SERVER = fileURLToPath(new URL('../../demo/server.ts', import.meta.url));
/** tsx's loader, by absolute URL: the child runs in a temporary folder, not the project root. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** The session cookie's name. */
export const COOKIE = '__Host-tessera';

import { freePort, waitFor } from '../support/process.js';

export { freePort, waitFor };

/** A fresh temporary folder (the demo's working directory). */
export function tempDir(prefix = 'tessera-demo-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Environment for a child: the test's, minus any demo settings, plus `env` (undefined unsets). */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('TESSERA_') || k === 'PORT' || k === 'HOST' || k === 'NODE_OPTIONS') continue;
    out[k] = v;
  }
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A running demo process. */
export interface DemoProcess {
  url: string;
  port: number;
  dir: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Start the demo in `dir` (a new temporary folder by default) and wait until it answers.
 * @param env - extra environment (PORT is chosen here unless given)
 */
export async function startDemo(
  env: Record<string, string | undefined> = {},
  options: { dir?: string } = {},
): Promise<DemoProcess> {
  // A folder made here is removed on stop; a folder passed in belongs to the caller.
  const own = options.dir === undefined ? tempDir() : null;
  const dir = options.dir ?? own!.dir;
  const port = env.PORT ? Number(env.PORT) : await freePort();
  let out = '';
  const child = spawn(process.execPath, ['--import', TSX, SERVER], {
    cwd: dir,
    env: childEnv({ HOST: '127.0.0.1', ...env, PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    own?.remove();
  };
  try {
    await waitFor(`the demo at ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      return (await call(url, 'GET', '/healthz')).status === 200;
    });
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return { url, port, dir, child, output: () => out, stop };
}

/** Run the demo expecting it to refuse to start; resolves with its exit code and output. */
export function startDemoExpectingFailure(
  env: Record<string, string | undefined>,
  dir: string,
  timeoutMs = 20_000,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn(process.execPath, ['--import', TSX, SERVER], {
      cwd: dir,
      env: childEnv({ HOST: '127.0.0.1', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d) => {
      out += String(d);
    });
    child.stderr?.on('data', (d) => {
      out += String(d);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not exit within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output: out });
    });
  });
}

/** One HTTP answer. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The Set-Cookie headers. */
  cookies: string[];
  json<T = unknown>(): T;
  header(name: string): string | undefined;
}

/** Options of {@link call}. */
export interface CallOptions {
  headers?: Record<string, string>;
  body?: string;
  /** Source address of the connection (e.g. `127.0.0.2`, to be another client IP). */
  localAddress?: string;
}

/** One raw request over node:http (no redirects followed, no headers added but Host). */
export function call(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined)
      headers['content-length'] = String(Buffer.byteLength(options.body));
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        headers,
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const h = res.headers as Record<string, string | string[] | undefined>;
          resolve({
            status: res.statusCode ?? 0,
            headers: h,
            text,
            cookies: res.headers['set-cookie'] ?? [],
            json: <T>() => JSON.parse(text) as T,
            header: (name: string) => {
              const v = h[name.toLowerCase()];
              return Array.isArray(v) ? v.join(', ') : v;
            },
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** A parsed Set-Cookie header. */
export interface SetCookie {
  name: string;
  value: string;
  /** Attribute names lower-cased; flags map to `true`. */
  attrs: Map<string, string | true>;
}

/** Parse one Set-Cookie header. */
export function parseSetCookie(h: string): SetCookie {
  const [pair = '', ...rest] = h.split(';');
  const eq = pair.indexOf('=');
  const attrs = new Map<string, string | true>();
  for (const a of rest) {
    const i = a.indexOf('=');
    if (i === -1) attrs.set(a.trim().toLowerCase(), true);
    else attrs.set(a.slice(0, i).trim().toLowerCase(), a.slice(i + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs };
}

/** Whether a Set-Cookie deletes its cookie. */
export function isClearing(c: SetCookie): boolean {
  return c.value === '' || c.attrs.get('max-age') === '0';
}

/** Options of {@link Client.send}. */
export interface SendOptions {
  headers?: Record<string, string>;
  /** A JSON body (sent with `content-type: application/json`). */
  json?: unknown;
  /** An urlencoded form body. */
  form?: Record<string, string>;
  /** A raw body. */
  body?: string;
  /** Send the client's CSRF token in `x-csrf-token`. @default true for unsafe methods */
  csrf?: boolean;
  localAddress?: string;
}

/** A browser-like client: one cookie jar, a user agent, its CSRF token. */
export class Client {
  readonly base: string;
  readonly userAgent: string;
  readonly jar = new Map<string, string>();
  /** The last CSRF token fetched or received in an `x-csrf-token` response header. */
  token: string | undefined;

  constructor(base: string, userAgent = 'tessera-demo-test/1.0') {
    this.base = base;
    this.userAgent = userAgent;
  }

  /** The session cookie's value, if any. */
  get session(): string | undefined {
    return this.jar.get(COOKIE);
  }

  set session(value: string | undefined) {
    if (value === undefined) this.jar.delete(COOKIE);
    else this.jar.set(COOKIE, value);
  }

  cookieHeader(): string | undefined {
    if (this.jar.size === 0) return undefined;
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Send a request; Set-Cookie and `x-csrf-token` answers update the client. */
  async send(method: string, path: string, options: SendOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    const cookie = this.cookieHeader();
    if (cookie) headers.cookie = cookie;
    let body = options.body;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    const unsafe = !['GET', 'HEAD'].includes(method);
    if ((options.csrf ?? unsafe) && this.token) headers['x-csrf-token'] = this.token;
    Object.assign(headers, options.headers);
    const a = await call(this.base, method, path, {
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    for (const raw of a.cookies) {
      const c = parseSetCookie(raw);
      if (isClearing(c)) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    const t = a.header('x-csrf-token');
    if (t) this.token = t;
    return a;
  }

  get(path: string, options: SendOptions = {}): Promise<Answer> {
    return this.send('GET', path, options);
  }

  post(path: string, options: SendOptions = {}): Promise<Answer> {
    return this.send('POST', path, options);
  }

  /** Fetch `/api/csrf` (a pre-session cookie for a visitor) and keep the token. */
  async csrf(): Promise<string> {
    const a = await this.get('/api/csrf');
    if (a.status !== 200) throw new Error(`/api/csrf answered ${a.status}`);
    this.token = a.json<{ token: string }>().token;
    return this.token;
  }

  /**
   * Sign in through `POST /login` as a form would, then fetch the new session's CSRF token.
   * @returns the login answer
   */
  async login(username: string, password: string, options: SendOptions = {}): Promise<Answer> {
    const token = await this.csrf();
    const a = await this.post('/login', {
      form: { username, password, _csrf: token },
      csrf: false,
      ...options,
    });
    if (a.status === 303) await this.csrf();
    return a;
  }
}

/** A new client signed in as `user` (its password is `<user>-password` unless given). */
export async function signedIn(base: string, user: string, password?: string, ua?: string) {
  const c = new Client(base, ua);
  const a = await c.login(user, password ?? `${user}-password`);
  if (a.status !== 303) throw new Error(`login as ${user} answered ${a.status}: ${a.text}`);
  return c;
}

/**
 * Send raw bytes over a new TCP connection and resolve with the status line's code (0 when the
 * server closed without answering).
 */
export function raw(port: number, bytes: string | Buffer, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => {
      data += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0));
    });
    socket.write(bytes);
  });
}
