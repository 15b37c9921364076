/**
 * Sealed-cookie mode, as the rest of tessera imports it. The code lives in `sealed/`: the
 * manager (`manager.ts`), one request's session (`session.ts`), the payload codec
 * (`payload.ts`) and revocation watermarks (`revocation.ts`).
 */
export type { SealedSessionsOptions } from './sealed/manager.js';
export { createSealedSessions, SealedSessionManager } from './sealed/manager.js';
export type { RevocationStore, SealedRevocationOptions } from './sealed/revocation.js';
export {
  memoryRevocationStore,
  revocationStoreFrom,
  storeRevocation,
} from './sealed/revocation.js';
export type { SealedRegenerateOptions, SealedSessionState } from './sealed/session.js';
export { SealedSession } from './sealed/session.js';
