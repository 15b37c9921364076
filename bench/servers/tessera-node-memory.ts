/** tessera on node:http with the memory store (data kept unencrypted in process: no "rest" to protect; `--scale` raises `maxSessions` only); every other option at its secure default. */
import { serveNode } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveNode(await openStore('memory'));
