/**
 * The server-side session engine, as the rest of tessera imports it. The code lives in
 * `server/`: the manager (`manager.ts`), one request's session (`session.ts`), the load path
 * (`load.ts`), the write path and its compare-and-set queue (`write.ts`), rotation and sign-in
 * limits (`rotation.ts`, `sign-in.ts`), admin operations (`admin.ts`), record data
 * (`records.ts`) and what they share (`context.ts`).
 */
export type { CommitResult, CSRFResult, RequestInfo } from './contract.js';
export type { AuthenticateOptions, KeepData } from './rules.js';
export { createSessions, SessionManager } from './server/manager.js';
export type { RegenerateOptions, SessionInfo, SessionState } from './server/session.js';
export { Session, toInfo } from './server/session.js';
