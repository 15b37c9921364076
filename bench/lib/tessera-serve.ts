/**
 * One function per adapter that serves the benchmark app on tessera, so that each
 * `bench/servers/tessera-<adapter>-<store>.ts` is two lines. Frameworks are imported only by the
 * adapter that needs them.
 */
import { createServer } from 'node:http';
import type { Session, SessionManager } from 'tessera-session';
import { splitFill } from './bulk-fill.js';
import { type FillResult, listenLoopback, runBenchServer } from './control.js';
import { listenFastify } from './fastify.js';
import {
  answer,
  type BenchSessionData,
  benchSealedSessions,
  benchSessions,
  fillSessions,
  login,
  reserveUsers,
} from './tessera.js';
import type { StoreKit } from './tessera-stores.js';

const ROUTES = ['/new', '/read', '/hit'] as const;

/** The engine a server hosts: server-side on a store, or sealed-cookie mode (`'sealed'`). */
export type EngineKind = StoreKit | 'sealed';

interface Hosted {
  /**
   * The engine, typed as the server-side one: the Express, Fastify, Hono and fetch adapters
   * declare `SessionManager` only; whether they host a sealed engine at run time is what the
   * sealed servers on them find out (the session check before any load fails if not).
   */
  engine: SessionManager<BenchSessionData>;
  close: () => Promise<void>;
  counters?: () => Record<string, number>;
  /** A server-side engine fills in process (`--scale`); sealed mode keeps nothing to fill. */
  fill?: (count: number) => Promise<FillResult>;
}

function host(kind: EngineKind): Hosted {
  if (kind === 'sealed') {
    const sealed = benchSealedSessions();
    return {
      engine: sealed as unknown as SessionManager<BenchSessionData>,
      close: () => sealed.close(),
    };
  }
  const engine = benchSessions(kind.store);
  return {
    engine,
    close: async () => {
      await engine.close();
      await kind.close();
    },
    fill: async (count) => {
      const { copyRows } = kind;
      if (!copyRows) return { failures: await fillSessions(engine, count) };
      // Disk stores: the first sessions through the engine, the rest bulk copies of its last row.
      const split = splitFill(count);
      const failures = await fillSessions(engine, split.engine);
      if (split.copies === 0) return { failures };
      const copies = await copyRows(split.copies, reserveUsers(split.copies));
      return { failures: failures + split.copies - copies, copies };
    },
    ...(kind.counters ? { counters: kind.counters } : {}),
  };
}

const controls = (hosted: Hosted, listen: () => Promise<number>, before?: () => Promise<void>) => ({
  listen,
  close: async () => {
    await before?.();
    await hosted.close();
  },
  ...(hosted.counters ? { counters: hosted.counters } : {}),
  ...(hosted.fill ? { fill: hosted.fill } : {}),
});

/**
 * Serves the benchmark app with tessera's node:http adapter.
 *
 * @param kind - The store under test, or `'sealed'` for sealed-cookie mode.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveNode(await openStore('memory'));
 * ```
 */
export async function serveNode(kind: EngineKind): Promise<void> {
  const { getSession, session } = await import('tessera-session/node');
  const hosted = host(kind);
  const server = createServer(
    session(hosted.engine)((req, res) => {
      const s = getSession<BenchSessionData>(req);
      if (req.url === '/login') {
        // A signed-in session of its own user (so the store keeps the user index too), with the
        // same data as `/new`: what `--scale` fills in process (`fillSessions`).
        login(s as Session<BenchSessionData>).then(
          () => {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('0');
          },
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
        return;
      }
      const body = answer(req.url, s);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    }),
  );
  await runBenchServer(controls(hosted, () => listenLoopback(server)));
}

/**
 * Serves the benchmark app with tessera's node:http adapter in sealed-cookie mode
 * (`createSealedSessions`: the session lives in the cookie, no store).
 *
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveNodeSealed();
 * ```
 */
export function serveNodeSealed(): Promise<void> {
  return serveNode('sealed');
}

/**
 * Serves the benchmark app with tessera's Express middleware, on Express 5 (`express`) or
 * Express 4 (installed under the alias `express4`).
 *
 * @param kind - The store under test, or `'sealed'`.
 * @param module - Which Express: `express` (5) or `express4`.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveExpress(await openStore('memory'), 'express4');
 * ```
 */
export async function serveExpress(
  kind: EngineKind,
  module: 'express' | 'express4' = 'express',
): Promise<void> {
  const { default: express } = (await import(module)) as { default: typeof import('express') };
  const { getSession, session } = await import('tessera-session/express');
  const hosted = host(kind);
  const app = express();
  app.use(session(hosted.engine));
  for (const path of ROUTES) {
    app.get(path, (req, res) => {
      res.type('text/plain').send(answer(path, getSession<BenchSessionData>(req)));
    });
  }
  await runBenchServer(controls(hosted, () => listenLoopback(createServer(app))));
}

/**
 * Serves the benchmark app with tessera's Fastify plugin on Fastify 5.
 *
 * @param kind - The store under test, or `'sealed'`.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveFastify(await openStore('memory'));
 * ```
 */
export async function serveFastify(kind: EngineKind): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const { getSession, session } = await import('tessera-session/fastify');
  const hosted = host(kind);
  const app = Fastify({ logger: false });
  await app.register(session(hosted.engine));
  for (const path of ROUTES) {
    app.get(path, async (request, reply) =>
      reply.type('text/plain').send(answer(path, getSession<BenchSessionData>(request))),
    );
  }
  await runBenchServer(
    controls(
      hosted,
      () => listenFastify(app),
      () => app.close(),
    ),
  );
}

/**
 * Serves the benchmark app with tessera's Hono middleware on Hono 4, through @hono/node-server's
 * request listener on node:http (as `serve()` does).
 *
 * @param kind - The store under test, or `'sealed'`.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveHono(await openStore('memory'));
 * ```
 */
export async function serveHono(kind: EngineKind): Promise<void> {
  const { Hono } = await import('hono');
  const { getRequestListener } = await import('@hono/node-server');
  const { getSession, session } = await import('tessera-session/hono');
  const hosted = host(kind);
  const app = new Hono();
  app.use(session(hosted.engine));
  for (const path of ROUTES) {
    app.get(path, (c) => c.text(answer(path, getSession<BenchSessionData>(c))));
  }
  await runBenchServer(
    controls(hosted, () => listenLoopback(createServer(getRequestListener(app.fetch)))),
  );
}

/**
 * Serves the benchmark app with tessera's fetch adapter (`handle(request, handler)`), on
 * node:http through @hono/node-server's request listener (Request in, Response out).
 *
 * @param kind - The store under test, or `'sealed'`.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveFetch(await openStore('memory'));
 * ```
 */
export async function serveFetch(kind: EngineKind): Promise<void> {
  const { getRequestListener } = await import('@hono/node-server');
  const { session } = await import('tessera-session/fetch');
  const hosted = host(kind);
  const handle = session(hosted.engine);
  const listener = getRequestListener((request: Request) =>
    handle(request, (s) => {
      const path = new URL(request.url).pathname;
      return new Response(answer(path, s), { headers: { 'content-type': 'text/plain' } });
    }),
  );
  await runBenchServer(controls(hosted, () => listenLoopback(createServer(listener))));
}
