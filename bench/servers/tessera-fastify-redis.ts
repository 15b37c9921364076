/** tessera on Fastify 5 with the Redis store (ioredis, unique key prefix, keys deleted on close); every other option at its secure default. */
import { serveFastify } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveFastify(await openStore('redis'));
