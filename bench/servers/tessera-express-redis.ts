/** tessera on Express 5 with the Redis store (ioredis, unique key prefix, keys deleted on close); every other option at its secure default. */
import { serveExpress } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveExpress(await openStore('redis'));
