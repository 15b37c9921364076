/**
 * tessera-session: session management for Node.js web apps.
 * This module re-exports the engine, its types, errors and events; stores and adapters live in
 * their own subpaths (`tessera-session/memory`, `/sqlite`, `/redis`, `/postgres`, `/node`,
 * `/express`, `/fastify`, `/hono`, `/fetch`, `/testing`). The token, cookie and CSRF primitives
 * the engines are built of are not exported: they are no part of the semver promise.
 */

// The HTTP status of each code lives with the adapters; the root entry offers it too, for apps
// on their own framework (Koa, a Next.js route), and loading it backs the deprecated `err.status`.
export { errorStatus } from './adapters/shared/status.js';
export type { CSRFRejection, CSRFRequest } from './core/csrf.js';
export type {
  AuthenticateOptions,
  CommitResult,
  CSRFResult,
  KeepData,
  RegenerateOptions,
  RequestInfo,
  SessionInfo,
  SessionState,
} from './core/engine.js';
export { createSessions, Session, SessionManager } from './core/engine.js';
export type {
  AnyTesseraErrorCode,
  BadRequestReason,
  NoDetails,
  TesseraErrorCode,
  TesseraErrorDetails,
  TesseraErrorDetailsOf,
  TesseraErrorOptions,
} from './core/errors.js';
export { isTesseraError, storeUnavailable, TesseraError } from './core/errors.js';
export type { SessionEvent, SessionEventListener, SessionEventType } from './core/events.js';
export type { KeyInput, KeyPurpose } from './core/keys.js';
export { generateKey, KeyRing } from './core/keys.js';
export type { GuessLimiter, GuessLimiterOptions } from './core/limiter.js';
export { clientBucket, memoryGuessLimiter } from './core/limiter.js';
export type { LogFields, Logger, LogLevel } from './core/logger.js';
export { TesseraLog } from './core/logger.js';
export type {
  CookieOptions,
  CSRFOptions,
  PresetName,
  SessionData,
  SessionsOptions,
  TheftPolicy,
} from './core/options.js';
export { PRESETS } from './core/options.js';
export type { Register, RegisteredData } from './core/register.js';
export type {
  RevocationStore,
  SealedRegenerateOptions,
  SealedRevocationOptions,
  SealedSessionState,
  SealedSessionsOptions,
} from './core/sealed.js';
export {
  createSealedSessions,
  memoryRevocationStore,
  revocationStoreFrom,
  SealedSession,
  SealedSessionManager,
  storeRevocation,
} from './core/sealed.js';
export { slotTagFor } from './core/token.js';
export type {
  CounterResult,
  DeleteByUserOptions,
  KeyValueStore,
  ListOptions,
  ListResult,
  RecordChanges,
  SessionRecord,
  SessionStore,
  SignInOptions,
  SignInResult,
  StoreEntry,
  TombstoneRecord,
  TouchChanges,
} from './core/types.js';
