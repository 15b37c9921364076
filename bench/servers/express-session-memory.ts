/**
 * express-session with its MemoryStore, as its README recommends (`resave: false`,
 * `saveUninitialized: false`, a secret); the cookie keeps the library's defaults
 * (HttpOnly, not Secure), which already suit the plain-http loopback benchmark.
 */
import { createServer } from 'node:http';
import express from 'express';
import session from 'express-session';
import { BENCH_SECRET } from '../lib/app.js';
import { listenLoopback, runBenchServer } from '../lib/control.js';
import { addExpressRoutes } from '../lib/express-routes.js';

const store = new session.MemoryStore();
const app = express();
app.use(session({ secret: BENCH_SECRET, resave: false, saveUninitialized: false, store }));
addExpressRoutes(app);

await runBenchServer({
  listen: () => listenLoopback(createServer(app)),
  counters: () =>
    new Promise((resolve) => {
      store.length((_error, length) => resolve({ sessions: length ?? 0 }));
    }),
});
