/** tessera on Fastify 5 with the memory store (data kept unencrypted in process: no "rest" to protect; `--scale` raises `maxSessions` only); every other option at its secure default. */
import { serveFastify } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveFastify(await openStore('memory'));
