/** tessera on node:http with the PostgreSQL store (`connectPostgres`, a schema unique to the process, dropped on close); every other option at its secure default. */
import { serveNode } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveNode(await openStore('postgres'));
