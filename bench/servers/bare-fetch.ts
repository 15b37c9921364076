/**
 * A bare fetch-style handler (`(Request) => Response`) on @hono/node-server's request listener:
 * no session layer, the ceiling for the fetch adapter. It reads the request's path, as the
 * tessera fetch server does to route.
 */
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { listenLoopback, runBenchServer } from '../lib/control.js';

const listener = getRequestListener((request: Request) => {
  const path = new URL(request.url).pathname;
  return new Response(path === '' ? '' : '0', { headers: { 'content-type': 'text/plain' } });
});

await runBenchServer({ listen: () => listenLoopback(createServer(listener)) });
