/**
 * One function per adapter that serves the benchmark app on tessera, so that each
 * `bench/servers/tessera-<adapter>-<store>.ts` is two lines. Frameworks are imported only by the
 * adapter that needs them.
 */
import { createServer } from 'node:http';
import { listenLoopback, runBenchServer } from './control.js';
import { listenFastify } from './fastify.js';
import { answer, type BenchSessionData, benchSealedSessions, benchSessions } from './tessera.js';
import type { StoreKit } from './tessera-stores.js';

const ROUTES = ['/new', '/read', '/hit'] as const;

/**
 * Serves the benchmark app with tessera's node:http adapter.
 *
 * @param kit - The store under test.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveNode(await openStore('memory'));
 * ```
 */
export async function serveNode(kit: StoreKit): Promise<void> {
  const { getSession, session } = await import('tessera-session/node');
  const sessions = benchSessions(kit.store);
  const server = createServer(
    session(sessions)((req, res) => {
      const body = answer(req.url, getSession<BenchSessionData>(req));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    }),
  );
  await runBenchServer({
    listen: () => listenLoopback(server),
    close: async () => {
      await sessions.close();
      await kit.close();
    },
    ...(kit.counters ? { counters: kit.counters } : {}),
  });
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
export async function serveNodeSealed(): Promise<void> {
  const { getSession, session } = await import('tessera-session/node');
  const sessions = benchSealedSessions();
  const server = createServer(
    session(sessions)((req, res) => {
      const body = answer(req.url, getSession<BenchSessionData>(req));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    }),
  );
  await runBenchServer({
    listen: () => listenLoopback(server),
    close: () => sessions.close(),
  });
}

/**
 * Serves the benchmark app with tessera's Express middleware on Express 5.
 *
 * @param kit - The store under test.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveExpress(await openStore('memory'));
 * ```
 */
export async function serveExpress(kit: StoreKit): Promise<void> {
  const { default: express } = await import('express');
  const { getSession, session } = await import('tessera-session/express');
  const sessions = benchSessions(kit.store);
  const app = express();
  app.use(session(sessions));
  for (const path of ROUTES) {
    app.get(path, (req, res) => {
      res.type('text/plain').send(answer(path, getSession<BenchSessionData>(req)));
    });
  }
  await runBenchServer({
    listen: () => listenLoopback(createServer(app)),
    close: async () => {
      await sessions.close();
      await kit.close();
    },
    ...(kit.counters ? { counters: kit.counters } : {}),
  });
}

/**
 * Serves the benchmark app with tessera's Fastify plugin on Fastify 5.
 *
 * @param kit - The store under test.
 * @returns When the server is listening and the harness is told.
 * @example
 * ```ts
 * await serveFastify(await openStore('memory'));
 * ```
 */
export async function serveFastify(kit: StoreKit): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const { getSession, session } = await import('tessera-session/fastify');
  const sessions = benchSessions(kit.store);
  const app = Fastify({ logger: false });
  await app.register(session(sessions));
  for (const path of ROUTES) {
    app.get(path, async (request, reply) =>
      reply.type('text/plain').send(answer(path, getSession<BenchSessionData>(request))),
    );
  }
  await runBenchServer({
    listen: () => listenFastify(app),
    close: async () => {
      await app.close();
      await sessions.close();
      await kit.close();
    },
    ...(kit.counters ? { counters: kit.counters } : {}),
  });
}
