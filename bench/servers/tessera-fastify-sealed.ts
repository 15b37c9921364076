/**
 * tessera sealed-cookie mode (`createSealedSessions`, no store, no revocation store) on the
 * fastify adapter; every option at its secure default. Out of the default matrix until the adapter
 * hosts a sealed engine (issue 12): run it with `npm run bench -- --all --only sealed`.
 */
import { serveFastify } from '../lib/tessera-serve.js';

await serveFastify('sealed');
