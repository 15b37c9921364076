/** tessera on node:http with the SQLite store (better-sqlite3, a WAL file in the OS temp directory, deleted on close); every other option at its secure default. */
import { serveNode } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveNode(await openStore('sqlite'));
