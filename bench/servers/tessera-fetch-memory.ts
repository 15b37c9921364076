/** tessera on the fetch adapter (`handle(request, handler)`) on @hono/node-server with the memory store; every other option at its secure default. */
import { serveFetch } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveFetch(await openStore('memory'));
