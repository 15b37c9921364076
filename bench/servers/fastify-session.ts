/**
 * @fastify/session (with @fastify/cookie) and its default in-memory store, with the README's
 * defaults except `cookie.secure: false`, which its README requires on plain-http connections
 * (the default Secure cookie is never set over http).
 */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import { BENCH_SECRET } from '../lib/app.js';
import { runBenchServer } from '../lib/control.js';
import { listenFastify } from '../lib/fastify.js';
import { addFastifyRoutes, type GetSetSession } from '../lib/fastify-routes.js';

const store = new fastifySession.MemoryStore();
const app = Fastify({ logger: false });
await app.register(fastifyCookie);
await app.register(fastifySession, { secret: BENCH_SECRET, store, cookie: { secure: false } });
addFastifyRoutes(app, (request) => request.session as unknown as GetSetSession);

/** The default store keeps its sessions in a Map (`store.store`). */
const sessions = (store as unknown as { store?: Map<string, unknown> }).store;

await runBenchServer({
  listen: () => listenFastify(app),
  close: () => app.close(),
  counters: () => (sessions ? { sessions: sessions.size } : {}),
});
