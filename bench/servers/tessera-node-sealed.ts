/** tessera on node:http in sealed-cookie mode (`createSealedSessions`, no store, no revocation store); every option at its secure default. */
import { serveNodeSealed } from '../lib/tessera-serve.js';

await serveNodeSealed();
