/**
 * The same tiny app on every framework, each written the way that framework's users would:
 * GET /read, POST /set (urlencoded or JSON), POST /login, POST /logout, GET /csrf,
 * POST /regenerate, POST /webhook (skipCSRF), GET|POST /deferred (skipCSRF, then verifyCSRF after
 * its own auth check), GET /stream[?set=1], GET /throw, POST /revoke-all (the engine's
 * revokeAll for the session's user). Each app hosts either engine (server-side or sealed).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { getRequestListener, serve } from '@hono/node-server';
import type { Request as ExpressRequest, Response as ExpressResponse, NextFunction } from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import * as expressAdapter from '../../src/adapters/express/index.js';
import * as fastifyAdapter from '../../src/adapters/fastify/index.js';
import * as fetchAdapter from '../../src/adapters/fetch/index.js';
import * as honoAdapter from '../../src/adapters/hono/index.js';
import * as nodeAdapter from '../../src/adapters/node/index.js';
import type { AdapterOptions } from '../../src/adapters/shared/http.js';
import { isTesseraError } from '../../src/core/errors.js';
import {
  type AppData,
  type AppEngine,
  adapterOptions,
  chunks,
  close,
  listen,
  parseBody,
  type RouteSession,
  type RunningApp,
  routes,
  tesseraErrorJson,
} from './support.js';

/** Either engine: `createSessions()` or `createSealedSessions()` (see support.ts `modeEngine`). */
type Engine = AppEngine;
/** Adapter options a test adds to the ones every app passes. */
export type Extra = Pick<
  AdapterOptions,
  'bodyTimeout' | 'bodyLimit' | 'onError' | 'trustProxy' | 'proxyHeader'
>;

function readText(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

/** node:http */
export async function startNode(engine: Engine, extra: Extra = {}): Promise<RunningApp> {
  const withSession = nodeAdapter.session(engine, { ...adapterOptions, ...extra });
  const server = createServer(
    withSession(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const s = req.session;
      const json = (v: unknown) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(v));
      };
      if (url.pathname === '/deferred') {
        // A thrown TesseraError becomes its status and JSON body in the node wrapper.
        const out = await routes.deferred(
          s,
          () => nodeAdapter.verifyCSRF(req),
          async () =>
            (req.body as Record<string, unknown> | undefined) ??
            parseBody(req.headers['content-type'], await readText(req)),
        );
        res.statusCode = out.status;
        return json(out.body);
      }
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /read':
          return json(routes.read(s));
        case 'POST /set': {
          // Already checked by the adapter: passes at once, without reading the body again.
          await nodeAdapter.verifyCSRF(req);
          // The adapter exposes the form it parsed for CSRF as req.body; otherwise read it here.
          const body =
            (req.body as Record<string, unknown> | undefined) ??
            parseBody(req.headers['content-type'], await readText(req));
          return json(routes.set(s, body));
        }
        case 'POST /login':
          return json(await routes.login(s));
        case 'POST /logout':
          return json(await routes.logout(s));
        case 'GET /csrf':
          return json(routes.csrf(s));
        case 'POST /regenerate':
          return json(await routes.regenerate(s));
        case 'POST /webhook':
          return json(routes.webhook());
        case 'POST /revoke-all':
          return json(await routes.revokeAll(engine, s));
        case 'GET /stream': {
          routes.stream(s, url.searchParams.has('set'));
          res.setHeader('content-type', 'text/plain');
          for await (const c of chunks()) res.write(c);
          res.end();
          return;
        }
        case 'GET /throw':
          return routes.throw();
        default:
          res.statusCode = 404;
          res.end();
      }
    }),
  );
  const url = await listen(server);
  return { url, close: () => close(server) };
}

/** Express 4 (`express4`) or 5 (`express`), with the usual body parsers and a JSON error handler. */
export async function startExpress(
  engine: Engine,
  version: 'express' | 'express4',
  extra: Extra = {},
): Promise<RunningApp> {
  // express4 is an alias package without its own types; its API is the one used here.
  const express = createRequire(import.meta.url)(version) as typeof import('express');
  const app = express();
  // Express 4 does not catch rejected promises; both versions get the same wrapper.
  const h =
    (fn: (req: ExpressRequest, res: ExpressResponse) => unknown) =>
    (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
      Promise.resolve()
        .then(() => fn(req, res))
        .catch(next);
    };
  app.use(expressAdapter.session(engine, { ...adapterOptions, ...extra }));
  app.use(express.urlencoded({ extended: false }));
  app.use(express.json());
  app.get(
    '/read',
    h((req, res) => res.json(routes.read(req.session))),
  );
  app.post(
    '/set',
    h(async (req, res) => {
      await expressAdapter.verifyCSRF(req);
      res.json(routes.set(req.session, req.body as Record<string, unknown>));
    }),
  );
  const deferred = h(async (req, res) => {
    const out = await routes.deferred(
      req.session,
      () => expressAdapter.verifyCSRF(req),
      async () => req.body as Record<string, unknown> | undefined,
    );
    res.status(out.status).json(out.body);
  });
  app.get('/deferred', deferred);
  app.post('/deferred', deferred);
  app.post(
    '/login',
    h(async (req, res) => res.json(await routes.login(req.session))),
  );
  app.post(
    '/logout',
    h(async (req, res) => res.json(await routes.logout(req.session))),
  );
  app.get(
    '/csrf',
    h((req, res) => res.json(routes.csrf(req.session))),
  );
  app.post(
    '/regenerate',
    h(async (req, res) => res.json(await routes.regenerate(req.session))),
  );
  app.post(
    '/webhook',
    h((_req, res) => res.json(routes.webhook())),
  );
  app.post(
    '/revoke-all',
    h(async (req, res) => res.json(await routes.revokeAll(engine, req.session))),
  );
  app.get(
    '/stream',
    h(async (req, res) => {
      routes.stream(req.session, req.query.set !== undefined);
      res.type('text/plain');
      for await (const c of chunks()) res.write(c);
      res.end();
    }),
  );
  app.get(
    '/throw',
    h(() => routes.throw()),
  );
  // Express's default handler prints the stack outside production: apps install their own.
  app.use((err: unknown, _req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (isTesseraError(err)) return res.status(err.status).json(tesseraErrorJson(err));
    const status = (err as { status?: number }).status ?? 500;
    res.status(status).json({ error: status === 500 ? 'internal' : 'error' });
  });
  const server = createServer(app);
  const url = await listen(server);
  return { url, close: () => close(server) };
}

/** Fastify 5: an error handler for TesseraError, the default one for anything else. */
export async function startFastify(engine: Engine, extra: Extra = {}): Promise<RunningApp> {
  const app = Fastify();
  await app.register(fastifyAdapter.session(engine, { ...adapterOptions, ...extra }));
  app.setErrorHandler((err, _request, reply) => {
    if (isTesseraError(err)) return reply.code(err.status).send(tesseraErrorJson(err));
    throw err;
  });
  app.get('/read', async (request) => routes.read(request.session));
  app.post('/set', async (request) => {
    await fastifyAdapter.verifyCSRF(request);
    return routes.set(request.session, request.body as AppData);
  });
  app.route({
    method: ['GET', 'POST'],
    url: '/deferred',
    handler: async (request, reply) => {
      const out = await routes.deferred(
        request.session,
        () => fastifyAdapter.verifyCSRF(request),
        async () => request.body as AppData | undefined,
      );
      return reply.code(out.status).send(out.body);
    },
  });
  app.post('/login', async (request) => routes.login(request.session));
  app.post('/logout', async (request) => routes.logout(request.session));
  app.get('/csrf', async (request) => routes.csrf(request.session));
  app.post('/regenerate', async (request) => routes.regenerate(request.session));
  app.post('/webhook', async () => routes.webhook());
  app.post('/revoke-all', async (request) => routes.revokeAll(engine, request.session));
  app.get<{ Querystring: { set?: string } }>('/stream', async (request, reply) => {
    routes.stream(request.session, request.query.set !== undefined);
    return reply.type('text/plain').send(Readable.from(chunks()));
  });
  app.get('/throw', async () => routes.throw());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

function webStream(): ReadableStream<Uint8Array> {
  const it = chunks();
  const enc = new TextEncoder();
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(enc.encode(value));
    },
  });
}

/** Hono 4 on @hono/node-server: an onError for TesseraError, the default answer otherwise. */
export async function startHono(engine: Engine, extra: Extra = {}): Promise<RunningApp> {
  const app = new Hono<honoAdapter.SessionEnv<AppData, RouteSession>>();
  app.use(honoAdapter.session(engine, { ...adapterOptions, ...extra }));
  app.onError((err, c) =>
    isTesseraError(err)
      ? c.json(tesseraErrorJson(err), err.status as 403)
      : c.text('Internal Server Error', 500),
  );
  app.get('/read', (c) => c.json(routes.read(c.get('session'))));
  app.on(['GET', 'POST'], '/deferred', async (c) => {
    const out = await routes.deferred(
      c.get('session'),
      () => honoAdapter.verifyCSRF(c),
      () => c.req.parseBody(),
    );
    return c.json(out.body, out.status as 200);
  });
  app.post('/set', async (c) => {
    await honoAdapter.verifyCSRF(c);
    const body = c.req.header('content-type')?.startsWith('application/json')
      ? await c.req.json<AppData>()
      : await c.req.parseBody();
    return c.json(routes.set(c.get('session'), body));
  });
  app.post('/login', async (c) => c.json(await routes.login(c.get('session'))));
  app.post('/logout', async (c) => c.json(await routes.logout(c.get('session'))));
  app.get('/csrf', (c) => c.json(routes.csrf(c.get('session'))));
  app.post('/regenerate', async (c) => c.json(await routes.regenerate(c.get('session'))));
  app.post('/webhook', (c) => c.json(routes.webhook()));
  app.post('/revoke-all', async (c) => c.json(await routes.revokeAll(engine, c.get('session'))));
  app.get('/stream', (c) => {
    routes.stream(c.get('session'), c.req.query('set') !== undefined);
    return c.body(webStream(), 200, { 'content-type': 'text/plain' });
  });
  app.get('/throw', () => routes.throw());
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => {
    if (server.listening) resolve();
    else server.once('listening', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/**
 * A fetch-style app (`Request` → `Response`), served through @hono/node-server's
 * `getRequestListener` bridge; the client IP comes from the bridge's socket.
 */
export async function startFetch(engine: Engine, extra: Extra = {}): Promise<RunningApp> {
  const ips = new WeakMap<Request, string | undefined>();
  const handle = fetchAdapter.session(engine, {
    ...adapterOptions,
    ...extra,
    getClientIp: (request) => ips.get(request),
  });
  const app = (request: Request): Promise<Response> =>
    handle(request, async (s, req) => {
      const url = new URL(req.url);
      if (url.pathname === '/deferred') {
        // handle() answers a thrown TesseraError with its status and JSON body.
        const out = await routes.deferred(
          s,
          () => fetchAdapter.verifyCSRF(req),
          async () => Object.fromEntries(new URLSearchParams(await req.text())),
        );
        return Response.json(out.body, { status: out.status });
      }
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /read':
          return Response.json(routes.read(s));
        case 'POST /set': {
          await fetchAdapter.verifyCSRF(req);
          const body = req.headers.get('content-type')?.startsWith('application/json')
            ? ((await req.json()) as AppData)
            : Object.fromEntries(new URLSearchParams(await req.text()));
          return Response.json(routes.set(s, body));
        }
        case 'POST /login':
          await fetchAdapter.login(req, 'alice');
          return Response.json({ userId: s.userId });
        case 'POST /logout':
          await fetchAdapter.logout(req);
          return Response.json({ ok: true });
        case 'GET /csrf':
          return Response.json({ token: fetchAdapter.csrfToken(req) });
        case 'POST /regenerate':
          return Response.json(await routes.regenerate(s));
        case 'POST /webhook':
          return Response.json(routes.webhook());
        case 'POST /revoke-all':
          return Response.json(await routes.revokeAll(engine, s));
        case 'GET /stream':
          routes.stream(s, url.searchParams.has('set'));
          return new Response(webStream(), { headers: { 'content-type': 'text/plain' } });
        case 'GET /throw':
          return routes.throw();
        default:
          return new Response(null, { status: 404 });
      }
    });
  const server = createServer(
    getRequestListener((request, env) => {
      ips.set(request, (env as { incoming: IncomingMessage }).incoming.socket.remoteAddress);
      return app(request);
    }),
  );
  const url = await listen(server);
  return { url, close: () => close(server) };
}
