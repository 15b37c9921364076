/**
 * The synchronous path of every adapter (node:http, Express 4 / 5, Fastify, Hono, fetch): a
 * request whose session loads without I/O (`loadNow`: a visitor, a refused cookie) and commits
 * without I/O (`commitNow`: nothing to write) runs the handler and ends the response in the tick
 * it arrived, with no promise of tessera's. These tests attack its seams: the app ending the
 * response twice, an `end()` that throws below tessera, headers the app writes itself (object and
 * array `writeHead`), a HEAD request, a streamed response, a load that becomes async (a signed-in
 * user: the store is read), a store that hangs (the fast path is not taken for the request that
 * needs it, its deadline still answers 503, a visitor beside it is served at once), a sealed
 * commit that throws synchronously, and a frozen `Request`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { getRequestListener, serve } from '@hono/node-server';
import type { Request as ExpressRequest, Response as ExpressResponse, NextFunction } from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/adapters/express/index.js';
import * as fastifyAdapter from '../../src/adapters/fastify/index.js';
import * as fetchAdapter from '../../src/adapters/fetch/index.js';
import * as honoAdapter from '../../src/adapters/hono/index.js';
import * as nodeAdapter from '../../src/adapters/node/index.js';
import type { CommitResult, RequestInfo, SessionEngine } from '../../src/core/contract.js';
import { createSessions } from '../../src/core/engine.js';
import { storeCall } from '../../src/core/errors.js';
import { createSealedSessions } from '../../src/core/sealed.js';
import type { SessionStore } from '../../src/core/types.js';
import { memoryStore } from '../../src/stores/memory/index.js';
import { close, listen, type RunningApp, send, type TestResponse } from './support.js';

const KEY = () => [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }];
const APP_COOKIE = 'flash=hello; Path=/';
/** A session cookie whose MAC fails: refused without I/O, and cleared. */
const FORGED = `__Host-tessera=s.${'A'.repeat(43)}.${'B'.repeat(22)}`;
const CLEARING = /^__Host-tessera=; Path=\/; Max-Age=0/;
/** How long the hung store's calls take to fail (its own deadline, as Redis's `timeoutMs`). */
const DEADLINE_MS = 150;

/** A memory store whose `get` can hang (then it fails at the store's deadline); counts reads. */
function hangingStore(): { store: SessionStore; hang: boolean; gets: number } {
  const inner = memoryStore({ sweepIntervalMs: 0 });
  const t = { store: inner as SessionStore, hang: false, gets: 0 };
  t.store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      // The store's methods read its private fields: call them on the store itself.
      if (prop !== 'get') return v.bind(target);
      return (id: string) => {
        t.gets++;
        if (t.hang) return storeCall('test', DEADLINE_MS, () => new Promise<never>(() => {}));
        return (v as (id: string) => unknown).call(target, id);
      };
    },
  });
  return t;
}

/** What the apps read of a session. */
interface AnySession {
  readonly state: string;
  csrfToken(): string;
  readonly userId: string | null;
  set(key: string, value: unknown): void;
}

/** Counts the engine's async calls: on the fast path there are none. */
interface Counted {
  engine: SessionEngine<AnySession>;
  loads: number;
  commits: number;
}

function counted(engine: SessionEngine<AnySession>): Counted {
  const c: Counted = { engine, loads: 0, commits: 0 };
  c.engine = new Proxy(engine, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop === 'load')
        return (req: RequestInfo) => {
          c.loads++;
          return v.call(target, req);
        };
      if (prop === 'commit')
        return (s: AnySession) => {
          c.commits++;
          return v.call(target, s);
        };
      return v.bind(target);
    },
  });
  return c;
}

/*
 * The routes, one logic for every framework: `/read` answers the session's state and user;
 * `/own-headers?form=object|pairs|raw` answers with the app's own Set-Cookie through writeHead
 * (or the framework's header call); `/stream` streams two chunks; `/big` stores more than a
 * sealed cookie holds.
 */
const FRAMEWORKS = ['node', 'express4', 'express', 'fastify', 'hono', 'fetch'] as const;
type Framework = (typeof FRAMEWORKS)[number];

/** node:http / Express: the Node-response routes, plus the seams only a Node response has. */
function nodeRoute(path: string, form: string | null, s: AnySession, res: ServerResponse): void {
  if (path === '/read') {
    res.setHeader('content-type', 'text/plain');
    res.end(`${s.state}:${s.userId ?? '-'}`);
    return;
  }
  if (path === '/own-headers') {
    const entries: [string, string][] = [
      ['Set-Cookie', APP_COOKIE],
      ['Cache-Control', 'public, max-age=60'],
    ];
    const headers =
      form === 'pairs' ? entries : form === 'raw' ? entries.flat() : Object.fromEntries(entries);
    (res.writeHead as (status: number, headers: unknown) => ServerResponse).call(res, 200, headers);
    res.end('own');
    return;
  }
  if (path === '/stream') {
    res.write('a');
    res.end('b');
    return;
  }
  if (path === '/big') {
    s.set('big', 'x'.repeat(6000));
    res.end('big');
    return;
  }
  if (path === '/double-end') {
    res.end('first');
    res.end('second');
    return;
  }
  if (path === '/end-then-throw') {
    res.end('done');
    throw new Error('thrown after the response ended');
  }
  res.statusCode = 404;
  res.end();
}

/** A stand-in for a middleware below tessera whose end() throws once. */
function breakEnd(res: ServerResponse): void {
  const end = res.end;
  let thrown = false;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!thrown) {
      thrown = true;
      throw new Error('end failed below tessera');
    }
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
}

function split(url: string): [string, string | null] {
  const u = new URL(url, 'http://x');
  return [u.pathname, u.searchParams.get('form')];
}

async function startNodeApp(engine: SessionEngine<AnySession>): Promise<RunningApp> {
  const listener = nodeAdapter.session(engine)((req, res) => {
    const [path, form] = split(req.url ?? '/');
    nodeRoute(path, form, req.session, res);
  });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/throwing-end') {
      breakEnd(res);
      req.url = '/read';
    }
    if (req.url === '/detached') {
      // A response whose `req` does not lead back to its request (Node sets it; a mock may not).
      (res as { req?: unknown }).req = undefined;
      req.url = '/own-headers';
    }
    listener(req, res);
  });
  const url = await listen(server);
  return { url, close: () => close(server) };
}

async function startExpressApp(
  engine: SessionEngine<AnySession>,
  name: 'express' | 'express4',
): Promise<RunningApp> {
  const express = createRequire(import.meta.url)(name) as typeof import('express');
  const app = express();
  app.use((req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    if (req.url === '/throwing-end') {
      breakEnd(res);
      req.url = '/read';
    }
    next();
  });
  app.use(expressAdapter.session(engine));
  app.all(/.*/, (req: ExpressRequest, res: ExpressResponse) => {
    const [path, form] = split(req.url);
    nodeRoute(path, form, (req as unknown as { session: AnySession }).session, res);
  });
  const server = createServer(app);
  const url = await listen(server);
  return { url, close: () => close(server) };
}

async function startFastifyApp(engine: SessionEngine<AnySession>): Promise<RunningApp> {
  const app = Fastify();
  await app.register(fastifyAdapter.session(engine));
  app.all('/*', (request, reply) => {
    const [path] = split(request.url);
    const s = (request as unknown as { session: AnySession }).session;
    if (path === '/read') return reply.type('text/plain').send(`${s.state}:${s.userId ?? '-'}`);
    if (path === '/own-headers')
      return reply
        .header('set-cookie', APP_COOKIE)
        .header('cache-control', 'public, max-age=60')
        .send('own');
    if (path === '/stream') return reply.send(Readable.from(['a', 'b']));
    if (path === '/big') {
      s.set('big', 'x'.repeat(6000));
      return reply.send('big');
    }
    return reply.code(404).send();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** The web routes (Hono and fetch). */
function webRoute(path: string, s: AnySession): Response {
  // With an init: @hono/node-server's Response cannot copy one made without (Hono's HEAD does).
  if (path === '/read') return new Response(`${s.state}:${s.userId ?? '-'}`, { status: 200 });
  if (path === '/own-headers')
    return new Response('own', {
      headers: { 'set-cookie': APP_COOKIE, 'cache-control': 'public, max-age=60' },
    });
  if (path === '/stream')
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('a'));
          c.enqueue(new TextEncoder().encode('b'));
          c.close();
        },
      }),
    );
  if (path === '/big') {
    s.set('big', 'x'.repeat(6000));
    return new Response('big');
  }
  return new Response(null, { status: 404 });
}

function honoApp(engine: SessionEngine<AnySession>): Hono {
  const app = new Hono();
  app.use(honoAdapter.session(engine));
  app.all('*', (c) => webRoute(c.req.path, c.get('session') as unknown as AnySession));
  return app;
}

async function startHonoApp(engine: SessionEngine<AnySession>): Promise<RunningApp> {
  const app = honoApp(engine);
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => {
    if (server.listening) resolve();
    else server.once('listening', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

async function startFetchApp(engine: SessionEngine<AnySession>): Promise<RunningApp> {
  const handle = fetchAdapter.session(engine);
  const server = createServer(
    getRequestListener((request: Request) => {
      const path = new URL(request.url).pathname;
      // A frozen Request takes no symbol: the adapter keeps its state aside.
      const req =
        path === '/frozen'
          ? Object.freeze(
              new Request(request.url, { method: request.method, headers: request.headers }),
            )
          : request;
      return handle(req, (s) => {
        if (path === '/frozen') {
          const same = fetchAdapter.getSession(req) === s;
          return new Response(`${same}:${fetchAdapter.csrfToken(req).length > 0}`);
        }
        return webRoute(path, s);
      });
    }),
  );
  const url = await listen(server);
  return { url, close: () => close(server) };
}

function start(framework: Framework, engine: SessionEngine<AnySession>): Promise<RunningApp> {
  switch (framework) {
    case 'node':
      return startNodeApp(engine);
    case 'express':
    case 'express4':
      return startExpressApp(engine, framework);
    case 'fastify':
      return startFastifyApp(engine);
    case 'hono':
      return startHonoApp(engine);
    case 'fetch':
      return startFetchApp(engine);
  }
}

/** A signed-in session's cookie, made through the engine (as a login route would). */
async function signedIn(engine: SessionEngine<AnySession>): Promise<string> {
  const info = { method: 'POST', ip: '127.0.0.1' };
  const s = (await engine.load(info)) as AnySession & { authenticate(u: string): Promise<void> };
  await s.authenticate('alice');
  const r = await engine.commit(s);
  return r.setCookie!.split(';')[0]!;
}

function expectPrivate(res: TestResponse): void {
  expect(res.headers['cache-control']).toBe('no-store');
}

/**
 * Two requests one after the other on one kept-alive connection: the raw responses, or what
 * was read before the server closed it.
 */
function twoOnOneConnection(base: string, first: string, second: string): Promise<string[]> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const got: string[] = [];
    let buf = '';
    const ask = (path: string) =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buf += d;
      const head = buf.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(buf)?.[1];
      if (head === -1 || length === undefined || buf.length < head + 4 + Number(length)) return;
      const whole = head + 4 + Number(length);
      got.push(buf.slice(0, whole));
      buf = buf.slice(whole);
      if (got.length === 1) ask(second);
      else socket.end();
    });
    socket.on('close', () =>
      resolve(got.length === 2 ? got : [...got, `closed after ${got.length}`]),
    );
    socket.on('error', reject);
    ask(first);
  });
}

/** Errors no one handled while a test ran (Node's 'error' on a response without a listener). */
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => {
  uncaught.push(err);
};
beforeAll(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
afterAll(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

describe.each(FRAMEWORKS)('the fast path on %s', (framework) => {
  let app: RunningApp;
  let store: ReturnType<typeof hangingStore>;
  let c: Counted;

  beforeEach(async () => {
    uncaught.length = 0;
    store = hangingStore();
    c = counted(
      createSessions({ store: store.store, keys: KEY() }) as unknown as SessionEngine<AnySession>,
    );
    app = await start(framework, c.engine);
  });
  afterEach(async () => {
    await app.close();
    expect(uncaught).toEqual([]);
  });

  it('serves a visitor without a promise of the engine and without a store read', async () => {
    const res = await send(app.url, 'GET', '/read');
    expect(res).toMatchObject({ status: 200, text: 'anonymous:-' });
    expect(res.setCookies).toEqual([]);
    expect({ loads: c.loads, commits: c.commits, gets: store.gets }).toEqual({
      loads: 0,
      commits: 0,
      gets: 0,
    });
  });

  it('clears a forged cookie on the fast path, beside the headers the app set itself', async () => {
    for (const form of ['object', 'pairs', 'raw']) {
      const res = await send(app.url, 'GET', `/own-headers?form=${form}`, { cookie: FORGED });
      expect(res.status, form).toBe(200);
      expect(res.text).toBe('own');
      expect(res.setCookies, form).toContain(APP_COOKIE);
      expect(
        res.setCookies.some((v) => CLEARING.test(v)),
        form,
      ).toBe(true);
      // The response depends on a session (a cookie came): no-store wins over the app's own.
      expectPrivate(res);
    }
    expect(c.loads + c.commits).toBe(0);
  });

  it('answers a HEAD request on the fast path with the head alone', async () => {
    if (framework === 'hono') {
      // @hono/node-server answers Hono's HEAD with 500, tessera or not, so ask Hono itself. Once
      // it has replaced the global Response (as it has in this process), Hono's HEAD copy of a
      // response drops headers added after it was made, tessera's too: upstream, not asserted.
      const r = await honoApp(c.engine).request('http://localhost/read', {
        method: 'HEAD',
        headers: { cookie: FORGED },
      });
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('');
      expect(c.loads + c.commits).toBe(0);
      return;
    }
    const res = await send(app.url, 'HEAD', '/read', { cookie: FORGED });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(res.setCookies.some((v) => CLEARING.test(v))).toBe(true);
    expectPrivate(res);
    expect(c.loads + c.commits).toBe(0);
  });

  it('streams a response on the fast path with the cookie in its head', async () => {
    const res = await send(app.url, 'GET', '/stream', { cookie: FORGED });
    expect(res).toMatchObject({ status: 200, text: 'ab' });
    expect(res.setCookies.some((v) => CLEARING.test(v))).toBe(true);
    expectPrivate(res);
  });

  it('loads a signed-in session asynchronously (the store is read) and commits it at once', async () => {
    const cookie = await signedIn(c.engine);
    c.loads = 0;
    c.commits = 0;
    const res = await send(app.url, 'GET', '/read', { cookie });
    expect(res).toMatchObject({ status: 200, text: 'active:alice' });
    expectPrivate(res);
    expect(store.gets).toBe(1);
    // The load needed I/O; the commit had nothing to write (no touch due, nothing set).
    expect({ loads: c.loads, commits: c.commits }).toEqual({ loads: 1, commits: 0 });
  });

  it('does not take the fast path past a hung store: its deadline answers 503, a visitor is served meanwhile', async () => {
    const cookie = await signedIn(c.engine);
    store.hang = true;
    const began = Date.now();
    const hung = send(app.url, 'GET', '/read', { cookie }).then((r) => ({
      r,
      ms: Date.now() - began,
    }));
    const visitor = await send(app.url, 'GET', '/read');
    const visitorMs = Date.now() - began;
    expect(visitor).toMatchObject({ status: 200, text: 'anonymous:-' });
    const { r, ms } = await hung;
    expect(r.status).toBe(503);
    expect(r.json()).toEqual({ error: 'store_unavailable' });
    expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 10);
    expect(visitorMs).toBeLessThan(ms);
  });
});

describe.each(FRAMEWORKS)('a sealed commit that throws on the fast path (%s)', (framework) => {
  it('answers the error, not a crash, and keeps serving', async () => {
    uncaught.length = 0;
    const engine = createSealedSessions({ keys: KEY() }) as unknown as SessionEngine<AnySession>;
    const app = await start(framework, engine);
    try {
      const res = await send(app.url, 'GET', '/big');
      // ERR_DATA_TOO_LARGE: the cookie would not fit, so no truncated cookie and no body.
      expect(res.status).toBe(413);
      expect(res.setCookies).toEqual([]);
      expect(res.text).not.toBe('big');
      expect(await send(app.url, 'GET', '/read')).toMatchObject({ status: 200 });
    } finally {
      await app.close();
    }
    expect(uncaught).toEqual([]);
  });
});

describe.each(['node', 'express4', 'express'] as const)(
  'a Node response on the fast path (%s)',
  (framework) => {
    let app: RunningApp;
    beforeEach(async () => {
      uncaught.length = 0;
      const store = hangingStore();
      app = await start(
        framework,
        createSessions({ store: store.store, keys: KEY() }) as unknown as SessionEngine<AnySession>,
      );
    });
    afterEach(async () => {
      await app.close();
    });

    it('ignores a second end() (natively an unheard error event: a crash)', async () => {
      const res = await send(app.url, 'GET', '/double-end');
      expect(res).toMatchObject({ status: 200, text: 'first' });
      expect(await send(app.url, 'GET', '/read')).toMatchObject({ status: 200 });
      expect(uncaught).toEqual([]);
    });

    it('answers 500 when the end() below tessera throws inside the app’s own call', async () => {
      const res = await send(app.url, 'GET', '/throwing-end');
      expect(res.status).toBe(500);
      expect(await send(app.url, 'GET', '/read')).toMatchObject({ status: 200 });
      expect(uncaught).toEqual([]);
    });
  },
);

describe('node:http on the fast path', () => {
  it('hooks a response whose req property does not lead back to its request', async () => {
    const app = await start('node', createSealedSessions({ keys: KEY() }) as never);
    try {
      const res = await send(app.url, 'GET', '/detached', { cookie: FORGED });
      expect(res).toMatchObject({ status: 200, text: 'own' });
      expect(res.setCookies).toContain(APP_COOKIE);
      expect(res.setCookies.some((v) => CLEARING.test(v))).toBe(true);
      expectPrivate(res);
    } finally {
      await app.close();
    }
  });

  it('sends a response ended before the handler threw as it was ended', async () => {
    const app = await start('node', createSealedSessions({ keys: KEY() }) as never);
    try {
      const res = await send(app.url, 'GET', '/end-then-throw');
      expect(res).toMatchObject({ status: 200, text: 'done' });
      // Not destroyed afterwards either: the kept-alive connection serves the next request.
      expect(await twoOnOneConnection(app.url, '/end-then-throw', '/read')).toEqual([
        expect.stringMatching(/^HTTP\/1\.1 200 [\s\S]*done$/),
        expect.stringMatching(/^HTTP\/1\.1 200 [\s\S]*anonymous:-$/),
      ]);
    } finally {
      await app.close();
    }
  });
});

describe('fetch on the fast path', () => {
  it('keeps the state of a frozen Request aside', async () => {
    const app = await start('fetch', createSealedSessions({ keys: KEY() }) as never);
    try {
      expect(await send(app.url, 'GET', '/frozen')).toMatchObject({
        status: 200,
        text: 'true:true',
      });
    } finally {
      await app.close();
    }
  });
});

describe('loadNow / commitNow', () => {
  const engines = {
    server: () => createSessions({ store: memoryStore({ sweepIntervalMs: 0 }), keys: KEY() }),
    sealed: () => createSealedSessions({ keys: KEY() }),
  };

  it.each(Object.keys(engines) as (keyof typeof engines)[])(
    '%s: give what load and commit give, with the same events',
    async (mode) => {
      const engine = engines[mode]() as unknown as SessionEngine<AnySession> & {
        on(t: '*', f: (e: { type: string }) => void): () => void;
      };
      const events: string[] = [];
      engine.on('*', (e) => events.push(e.type));
      for (const cookie of [undefined, FORGED, '__Host-tessera=a; __Host-tessera=b']) {
        const info = { method: 'GET', ip: '127.0.0.1', ...(cookie ? { cookie } : {}) };
        const viaNow = engine.loadNow!(info)!;
        const nowEvents = events.splice(0);
        const viaLoad = await engine.load(info);
        expect(events.splice(0), String(cookie)).toEqual(nowEvents);
        expect(viaNow.state).toBe(viaLoad.state);
        const a = engine.commitNow!(viaNow) as CommitResult;
        const b = await engine.commit(viaLoad);
        expect(a, String(cookie)).toEqual(b);
      }
    },
  );

  it('server: loadNow leaves a stored session to load, with no effect; commitNow leaves a write to commit', async () => {
    // A store without a synchronous read (the memory store behind a wrapper of its get).
    const inner = memoryStore({ sweepIntervalMs: 0 });
    const store = new Proxy(inner, {
      get(target, prop) {
        const v = Reflect.get(target, prop);
        if (prop === 'get') return (id: string) => inner.get(id);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const keys = KEY();
    const engine = createSessions({ store, keys });
    const events: string[] = [];
    engine.on('*', (e) => events.push(e.type));
    const v = await engine.load({ method: 'POST' });
    v.set('n', 1);
    expect(engine.commitNow(v)).toBeUndefined();
    const { setCookie } = await engine.commit(v);
    const cookie = setCookie!.split(';')[0]!;
    events.length = 0;
    expect(engine.loadNow({ method: 'GET', cookie })).toBeUndefined();
    expect(events).toEqual([]);
    const s = await engine.load({ method: 'GET', cookie });
    expect(s.get('n')).toBe(1);
    expect(engine.commitNow(s)).toEqual({ setCookie: null, private: true });
    // Over the memory store itself, the same stored session opens without a promise.
    const direct = createSessions({ store: inner, keys });
    expect(direct.loadNow({ method: 'GET', cookie })?.get('n')).toBe(1);
  });

  it('sealed: loadNow waits for a watermark that is not cached, then reads it from the cache', async () => {
    const { revocationStoreFrom } = await import('../../src/core/sealed.js');
    const engine = createSealedSessions({
      keys: KEY(),
      revocation: { store: revocationStoreFrom(memoryStore({ sweepIntervalMs: 0 })) },
    });
    const v = await engine.load({ method: 'POST' });
    await v.authenticate('alice');
    const cookie = (await engine.commit(v)).setCookie!.split(';')[0]!;
    expect(engine.loadNow({ method: 'GET', cookie })).toBeUndefined();
    expect((await engine.load({ method: 'GET', cookie })).userId).toBe('alice');
    expect(engine.loadNow({ method: 'GET', cookie })?.userId).toBe('alice');
    await engine.revokeAll('alice');
    // Raised on this instance: the cache holds the new watermark, and the seal is refused.
    expect(engine.loadNow({ method: 'GET', cookie })?.state).toBe('anonymous');
  });
});

/**
 * A store with a synchronous read, as the memory store's `getNow`: here, what `get` last resolved
 * for an id (a stand-in; it only has to return what `get` would). `mode: 'promise'` makes it a
 * wrapper whose every method is async (a rejected promise while the store is down).
 */
function syncReadStore(mode: 'sync' | 'promise' = 'sync') {
  const inner = memoryStore({ sweepIntervalMs: 0 });
  const seen = new Map<string, unknown>();
  const t = { down: false, store: inner as SessionStore };
  // Every other member delegates to the memory store.
  const rest = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  // get and getNow are declared together, as the memory store declares them: the engine uses a
  // getNow only beside the get it belongs to.
  t.store = Object.assign(Object.create(rest) as SessionStore, {
    async get(id: string) {
      if (t.down) throw new Error('down');
      const e = await inner.get(id);
      seen.set(id, e);
      return e;
    },
    getNow(id: string) {
      if (mode === 'promise')
        return t.down ? Promise.reject(new Error('down')) : Promise.resolve(seen.get(id));
      return seen.has(id) ? seen.get(id) : undefined;
    },
  });
  return t;
}

describe('loadNow over a store with a synchronous read', () => {
  async function signedInCookie(engine: ReturnType<typeof createSessions>): Promise<string> {
    const v = await engine.load({ method: 'POST', ip: '127.0.0.1', userAgent: 'ua/1' });
    await v.authenticate('alice');
    return (await engine.commit(v)).setCookie!.split(';')[0]!;
  }

  it('opens a stored session without a promise, with the events and session load gives', async () => {
    const t = syncReadStore();
    const engine = createSessions({ store: t.store, keys: KEY(), ipPolicy: 'event' });
    const cookie = await signedInCookie(engine);
    const events: string[] = [];
    engine.on('*', (e) => events.push(e.type));
    const info = { method: 'GET', cookie, ip: '10.0.0.9', userAgent: 'ua/1' };
    // Nothing read synchronously yet: no session, and no effect.
    expect(engine.loadNow(info)).toBeUndefined();
    expect(events).toEqual([]);
    const viaLoad = await engine.load(info);
    const loadEvents = events.splice(0);
    expect(loadEvents).toEqual(['ip_changed']);
    const viaNow = engine.loadNow(info)!;
    expect(events.splice(0)).toEqual(loadEvents);
    expect([viaNow.state, viaNow.userId, viaNow.handle]).toEqual([
      viaLoad.state,
      viaLoad.userId,
      viaLoad.handle,
    ]);
    // The IP changed: a touch is due, so the commit needs the store.
    expect(engine.commitNow(viaNow)).toBeUndefined();
  });

  it('leaves to load what needs I/O or the app: validate, a User-Agent revocation, an expired record', async () => {
    const cases: Partial<Parameters<typeof createSessions>[0]>[] = [
      { validate: (d) => d as Record<string, unknown> },
      { userAgentPolicy: 'revoke' },
    ];
    for (const options of cases) {
      const t = syncReadStore();
      const engine = createSessions({ store: t.store, keys: KEY(), ...options });
      const cookie = await signedInCookie(engine);
      const info = { method: 'GET', cookie, ip: '127.0.0.1', userAgent: 'other/2' };
      await engine.load({ ...info, userAgent: 'ua/1' });
      const events: string[] = [];
      engine.on('*', (e) => events.push(e.type));
      if ('validate' in options)
        expect(engine.loadNow({ ...info, userAgent: 'ua/1' })).toBeUndefined();
      else expect(engine.loadNow(info)).toBeUndefined();
      expect(events).toEqual([]);
    }
    let clock = Date.now();
    const t = syncReadStore();
    const engine = createSessions({ store: t.store, keys: KEY(), now: () => clock });
    const cookie = await signedInCookie(engine);
    await engine.load({ method: 'GET', cookie });
    clock += 365 * 24 * 3600 * 1000;
    expect(engine.loadNow({ method: 'GET', cookie })).toBeUndefined();
  });

  it('reads through get when getNow answers with a promise, and reports the outage there', async () => {
    const t = syncReadStore('promise');
    const engine = createSessions({ store: t.store, keys: KEY() });
    const cookie = await signedInCookie(engine);
    t.down = true;
    expect(engine.loadNow({ method: 'GET', cookie })).toBeUndefined();
    await expect(engine.load({ method: 'GET', cookie })).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
  });

  it.each(FRAMEWORKS)(
    'serves a signed-in read on %s with no promise of the engine',
    async (framework) => {
      uncaught.length = 0;
      const t = syncReadStore();
      const c = counted(
        createSessions({ store: t.store, keys: KEY() }) as unknown as SessionEngine<AnySession>,
      );
      const cookie = await signedIn(c.engine);
      const app = await start(framework, c.engine);
      try {
        // The first read fills the stand-in's synchronous view; the second is synchronous.
        await send(app.url, 'GET', '/read', { cookie });
        c.loads = 0;
        c.commits = 0;
        const res = await send(app.url, 'GET', '/read', { cookie });
        expect(res).toMatchObject({ status: 200, text: 'active:alice' });
        expect({ loads: c.loads, commits: c.commits }).toEqual({ loads: 0, commits: 0 });
      } finally {
        await app.close();
      }
      expect(uncaught).toEqual([]);
    },
  );
});

describe.each(['express4', 'express'] as const)(
  'two tessera middlewares on one response (%s)',
  (name) => {
    it('commits both sessions, each through its own hooks, on the fast path and off it', async () => {
      uncaught.length = 0;
      const first = createSessions({ store: memoryStore({ sweepIntervalMs: 0 }), keys: KEY() });
      const second = createSealedSessions({ keys: KEY(), cookie: { name: '__Host-second' } });
      const express = createRequire(import.meta.url)(name) as typeof import('express');
      const app = express();
      app.use(expressAdapter.session(first));
      app.use((req: ExpressRequest, _res: ExpressResponse, next: NextFunction) => {
        (req as unknown as { first: unknown }).first = (
          req as unknown as { session: unknown }
        ).session;
        next();
      });
      app.use(expressAdapter.session(second));
      app.get('/:what', (req: ExpressRequest, res: ExpressResponse) => {
        const r = req as unknown as { first: AnySession; session: AnySession };
        if (req.params.what === 'both') {
          r.first.set('a', 1); // a first write: the server engine's commit creates the record (I/O)
          r.session.set('b', 2); // sealed: synchronous
        }
        res.send(`${r.first.state}/${r.session.state}`);
      });
      const server = createServer(app);
      const url = await listen(server);
      try {
        const read = await send(url, 'GET', '/read');
        expect(read).toMatchObject({ status: 200, text: 'anonymous/anonymous', setCookies: [] });
        const both = await send(url, 'GET', '/both');
        expect(both.status).toBe(200);
        expect(both.text).toBe('anonymous/active');
        expect(both.setCookies.map((c) => c.split('=')[0]).sort()).toEqual([
          '__Host-second',
          '__Host-tessera',
        ]);
        expectPrivate(both);
      } finally {
        await close(server);
      }
      expect(uncaught).toEqual([]);
    });
  },
);
