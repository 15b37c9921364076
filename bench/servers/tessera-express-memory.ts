/** tessera on Express 5 with the memory store (data kept unencrypted in process: no "rest" to protect; `--scale` raises `maxSessions` only); every other option at its secure default. */
import { serveExpress } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveExpress(await openStore('memory'));
