/** tessera on Hono 4 on @hono/node-server with the memory store; every other option at its secure default. */
import { serveHono } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveHono(await openStore('memory'));
