/**
 * The session types the adapters hand to apps, in one place: the only module of `adapters/` that
 * names the engines' session classes, and only as types (an adapter's runtime depends on
 * `src/core/contract.ts` alone). An adapter is generic over the session type `S` of the engine it
 * hosts; where a framework types its request once for the whole app (Express's `Request`,
 * Fastify's `FastifyRequest`, Hono's `ContextVariableMap`), the app's `Register` says which
 * engine it runs: `Session<Data>`, or `SealedSession<Data>` with `mode: 'sealed'`.
 */
import type { EngineSession } from '../../core/contract.js';
import type { AuthenticateOptions, Session } from '../../core/engine.js';
import type { SessionData } from '../../core/options.js';
import type { Register, RegisteredData } from '../../core/register.js';
import type { SealedSession } from '../../core/sealed.js';

export type { EngineSession, SessionEngine, SessionOf } from '../../core/contract.js';
export type { AuthenticateOptions, SealedSession, Session };

/**
 * The session an app's requests carry by default: `SealedSession<Data>` when the app registered
 * `mode: 'sealed'` (it serves `createSealedSessions()`), else `Session<Data>`.
 * @example
 * ```ts
 * declare module 'tessera-session' {
 *   interface Register {
 *     data: { views: number }
 *     mode: 'sealed'
 *   }
 * }
 * ```
 */
export type RegisteredSession<Data extends SessionData = RegisteredData> = Register extends {
  mode: 'sealed';
}
  ? SealedSession<Data>
  : Session<Data>;

/**
 * What the adapters' `login` / `logout` helpers call on a session: members both engines' sessions
 * have, with the same meaning (sign in with a token rotation; end the session and clear its cookie).
 */
export interface AppSession<Data extends SessionData = SessionData> extends EngineSession {
  authenticate(userId: string, options?: AuthenticateOptions<Data>): Promise<void>;
  destroy(): Promise<void>;
}
