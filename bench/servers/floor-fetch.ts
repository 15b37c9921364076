/** bare-fetch plus the fetch floor (`bench/lib/floor-serve.ts`): what any `handle(request, handler)` wrapper costs. */
import { createServer } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { listenLoopback, runBenchServer } from '../lib/control.js';
import { fetchFloor } from '../lib/floor-serve.js';

const listener = getRequestListener((request: Request) =>
  fetchFloor(request, () => {
    const path = new URL(request.url).pathname;
    return new Response(path === '' ? '' : '0', { headers: { 'content-type': 'text/plain' } });
  }),
);

await runBenchServer({ listen: () => listenLoopback(createServer(listener)) });
