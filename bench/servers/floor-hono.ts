/** bare-hono plus the Hono floor (`bench/lib/floor-serve.ts`): what any session middleware costs on Hono 4. */
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { listenLoopback, runBenchServer } from '../lib/control.js';
import { honoFloor } from '../lib/floor-serve.js';

const app = new Hono();
app.use(honoFloor());
for (const path of ['/new', '/read', '/hit']) {
  app.get(path, (c) => c.text('0'));
}

await runBenchServer({
  listen: () => listenLoopback(createServer(getRequestListener(app.fetch))),
});
