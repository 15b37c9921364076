/** tessera on Express 4 (the `express4` alias of express@4) with the memory store; every other option at its secure default. */
import { serveExpress } from '../lib/tessera-serve.js';
import { openStore } from '../lib/tessera-stores.js';

await serveExpress(await openStore('memory'), 'express4');
