/** tessera on node:http with the Redis store (ioredis, unique key prefix, keys deleted on close); every other option at its secure default. */
import { serveNode } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveNode(await openStore('redis'));
