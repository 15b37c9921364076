/** tessera on Fastify 5 with the SQLite store (better-sqlite3, a WAL file in the OS temp directory, deleted on close); every other option at its secure default. */
import { serveFastify } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveFastify(await openStore('sqlite'));
