/** Bare Hono 4 on @hono/node-server's request listener: no session layer, the ceiling for Hono configurations. */
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { listenLoopback, runBenchServer } from '../lib/control.js';

const app = new Hono();
for (const path of ['/new', '/read', '/hit']) {
  app.get(path, (c) => c.text('0'));
}

await runBenchServer({
  listen: () => listenLoopback(createServer(getRequestListener(app.fetch))),
});
