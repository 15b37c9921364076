/**
 * Support for the shared adapter suite: an engine over a store that can be switched off, a
 * loopback HTTP client that controls every header (fetch would add its own), and the tiny app
 * every adapter serves, described once as framework-neutral route logic.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SessionEngine } from '../../src/core/contract.js';
import { createSessions, type SessionManager } from '../../src/core/engine.js';
import type { TesseraError } from '../../src/core/errors.js';
import type { SessionEventListener, SessionEventType } from '../../src/core/events.js';
import type { LogFields, Logger } from '../../src/core/logger.js';
import {
  createSealedSessions,
  revocationStoreFrom,
  type SealedSessionManager,
} from '../../src/core/sealed.js';
import type { KeyValueStore, SessionStore } from '../../src/core/types.js';
import { memoryStore } from '../../src/stores/memory/index.js';

/** A memory store whose every method rejects while `down` is true; counts write calls. */
export interface TestStore {
  store: SessionStore & KeyValueStore;
  down: boolean;
  writes: number;
}

const READS = new Set(['get', 'getByHandle', 'listByUser', 'list', 'count', 'kvGet']);

export function testStore(): TestStore {
  const inner = memoryStore({ sweepIntervalMs: 0 });
  const t: TestStore = { store: inner, down: false, writes: 0 };
  t.store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'close') return v;
      return (...args: unknown[]) => {
        if (t.down) return Promise.reject(new Error('connection refused (test outage)'));
        if (!READS.has(String(prop))) t.writes++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return t;
}

/** The session data of the test app. */
export type AppData = Record<string, unknown>;

/** One line a {@link captureLogger} received. */
export interface LogLine {
  level: 'info' | 'warn' | 'error';
  fields: LogFields;
  message: string;
}

/** A pino-shaped logger that keeps every line, for assertions. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (fields: LogFields, message: string): void => {
      lines.push({ level, fields, message });
    };
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** An engine with secure defaults over a {@link testStore}. */
export function testEngine(options: { logger?: Logger | false } = {}): {
  engine: SessionManager<AppData>;
  store: TestStore;
} {
  const store = testStore();
  const engine = createSessions<AppData>({
    store: store.store,
    keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
    // The suite sends a few invalid tokens on purpose; the limiter's delays are not under test.
    guessLimiter: false,
    ...options,
  });
  return { engine, store };
}

/**
 * What the shared app's routes use of a session: members both engines' sessions have
 * (`Session<AppData>` and `SealedSession<AppData>` are both one).
 */
export interface RouteSession {
  readonly state: string;
  readonly userId: string | null;
  readonly data: Readonly<Partial<AppData>>;
  set(key: string, value: unknown): void;
  update(key: string, fn: (value: unknown) => unknown): void;
  csrfToken(): string;
  authenticate(userId: string): Promise<void>;
  destroy(): Promise<void>;
  regenerate(): Promise<void>;
}

/**
 * The engine the shared app serves, either mode: the adapter contract, plus what the suite and
 * the app's `/revoke-all` route ask of an engine directly.
 */
export interface AppEngine extends SessionEngine<RouteSession> {
  on(type: SessionEventType | '*', listener: SessionEventListener): () => void;
  revokeAll(userId: string): Promise<unknown>;
}

/** The two engines every adapter hosts: server-side sessions and sealed cookies. */
export type ModeName = 'server' | 'sealed';

/** A test engine of a mode, over a {@link testStore}, and a way to move its clock forward. */
export interface ModeEngine {
  engine: AppEngine;
  /** Server mode: the session store. Sealed mode: the store behind the revocation watermarks. */
  store: TestStore;
  /** Move the engine's clock forward (sealed mode; the server engine keeps the store's clock). */
  advance(ms: number): void;
}

/**
 * An engine with secure defaults in either mode. Sealed mode gets a revocation store whose
 * watermarks are read on every load of a signed-in session (`cacheMs: 0`), so that its outage
 * is seen at once, as the server-side store's is.
 */
export function modeEngine(mode: ModeName, options: { logger?: Logger | false } = {}): ModeEngine {
  if (mode === 'server') {
    const t = testEngine(options);
    return { ...t, advance: () => {} };
  }
  const t = testSealedEngine(options);
  return t;
}

/** A sealed-cookie engine over a {@link testStore} for its revocation watermarks. */
export function testSealedEngine(options: { logger?: Logger | false } = {}): {
  engine: SealedSessionManager<AppData>;
  store: TestStore;
  advance(ms: number): void;
} {
  const store = testStore();
  let skew = 0;
  const now = () => Date.now() + skew;
  const engine = createSealedSessions<AppData>({
    keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
    revocation: { store: revocationStoreFrom(store.store, { now }), cacheMs: 0 },
    now,
    ...options,
  });
  return {
    engine,
    store,
    advance: (ms) => {
      skew += ms;
    },
  };
}

/**
 * The JSON an app's error handler sends for a thrown TesseraError, as the docs show:
 * `{"error":"csrf"}` for `ERR_CSRF`.
 */
export function tesseraErrorJson(err: TesseraError): { error: string } {
  return { error: err.code === 'ERR_CSRF' ? 'csrf' : err.code.slice(4).toLowerCase() };
}

/** The path the apps exempt from CSRF, through each adapter's `skipCSRF` option. */
export const skipCSRF = ({ path }: { method: string; path: string }) =>
  path === '/webhook' || path === '/deferred';

/** The path the apps declare JSON-only, through each adapter's `jsonOnly` option. */
export const jsonOnly = ({ path }: { method: string; path: string }) => path === '/regenerate';

/** The adapter options every app passes. */
export const adapterOptions = { skipCSRF, jsonOnly };

/** Listen on 127.0.0.1:0. */
export function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

/** Close a server, dropping idle keep-alive connections. */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A running test app. */
export interface RunningApp {
  url: string;
  close: () => Promise<void>;
}

/** Parse a request body the way every app does: urlencoded or JSON. */
export function parseBody(contentType: string | undefined, text: string): Record<string, unknown> {
  if (contentType?.startsWith('application/json')) return JSON.parse(text || '{}');
  return Object.fromEntries(new URLSearchParams(text));
}

/** A tiny readable of three chunks, produced asynchronously (a streaming route). */
export async function* chunks(): AsyncGenerator<string> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    yield `chunk${i}\n`;
  }
}

/** The handler error every app throws on GET /throw. */
export class BoomError extends Error {
  constructor() {
    super('boom');
  }
}

/**
 * The route logic every app shares; each framework only translates. Returns the JSON to send,
 * or `stream` for the streaming route.
 */
export const routes = {
  read: (s: RouteSession) => ({ state: s.state, userId: s.userId, data: s.data }),
  set: (s: RouteSession, body: Record<string, unknown>) => {
    s.set(String(body.key), body.value);
    return { ok: true, key: body.key, value: body.value };
  },
  login: async (s: RouteSession) => {
    await s.authenticate('alice');
    return { userId: s.userId };
  },
  logout: async (s: RouteSession) => {
    await s.destroy();
    return { ok: true };
  },
  csrf: (s: RouteSession) => ({ token: s.csrfToken() }),
  regenerate: async (s: RouteSession) => {
    await s.regenerate();
    return { ok: true };
  },
  webhook: () => ({ ok: true }),
  /** POST /revoke-all: signs the session's user out everywhere. */
  revokeAll: async (engine: AppEngine, s: RouteSession) => {
    await engine.revokeAll(s.userId!);
    return { ok: true };
  },
  /**
   * POST /deferred (skipCSRF): 401 before 403. `verify` is the adapter's verifyCSRF bound to
   * the request; `form` reads the body after it.
   * @returns the status and JSON to send
   */
  deferred: async (
    s: RouteSession,
    verify: () => Promise<void>,
    form: () => Promise<Record<string, unknown> | undefined>,
  ): Promise<{ status: number; body: unknown }> => {
    if (!s.userId) return { status: 401, body: { error: 'unauthenticated' } };
    await verify();
    // A second call passes at once (the check is idempotent).
    await verify();
    const body = await form();
    return { status: 200, body: { ok: true, note: body?.note ?? null } };
  },
  /** Before streaming, optionally counts in the session. */
  stream: (s: RouteSession, set: boolean) => {
    if (set) s.update('streamed', (n) => (Number(n) || 0) + 1);
  },
  throw: (): never => {
    throw new BoomError();
  },
};

/** A response as the suite sees it. */
export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  setCookies: string[];
  text: string;
  json: () => unknown;
}

/** Options of {@link send}. */
export interface SendOptions {
  cookie?: string | undefined;
  headers?: Record<string, string>;
  /** A form (urlencoded) or JSON body. */
  form?: Record<string, string> | string;
  json?: unknown;
}

/** Send one request over loopback with exactly the headers given (plus Host and Content-Length). */
export function send(
  base: string,
  method: string,
  path: string,
  options: SendOptions = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  let body: string | undefined;
  if (options.form !== undefined) {
    body =
      typeof options.form === 'string'
        ? options.form
        : new URLSearchParams(options.form).toString();
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
  } else if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method, headers, agent: false, setHost: headers.host === undefined },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          const sc = res.headers['set-cookie'];
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            setCookies: Array.isArray(sc) ? sc : sc ? [sc] : [],
            text,
            json: () => JSON.parse(text),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** `name=value` of the session cookie a response sets, or undefined. */
export function cookieOf(res: TestResponse): string | undefined {
  const c = res.setCookies.find((v) => v.startsWith('__Host-tessera='));
  return c?.split(';')[0];
}
