/** tessera on Fastify 5 with the PostgreSQL store (`connectPostgres`, a schema unique to the process, dropped on close); every other option at its secure default. */
import { serveFastify } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveFastify(await openStore('postgres'));
