/**
 * The app's own types, declared once by module augmentation, and what the engine and every
 * adapter derive from them: the session data type (`req.session`, `request.session`,
 * `c.get('session')`, the handler's session) without a type argument or a cast on every route.
 */
import type { SessionData } from './types.js';

/**
 * The registry an app augments to type its sessions everywhere at once. Every key is optional.
 *
 * - `data`: the session data type (a type alias or an interface of JSON values). It becomes the
 *   default `Data` of `createSessions()`, `createSealedSessions()`, `Session`, `SessionManager`,
 *   and the type of the session every adapter hands out.
 * - `requestSession: false`: the adapters then add no `session` property to Express's `Request`,
 *   Fastify's `FastifyRequest` nor Hono's `ContextVariableMap` (use `getSession(req)`, typed
 *   the same). Set it when another library also declares `req.session` there, such as
 *   `@types/express-session`, `@fastify/session` or `@fastify/secure-session`.
 * - `mode: 'sealed'`: the app serves `createSealedSessions()`, so the session the adapters
 *   declare on those request types (and their `getSession`) is a `SealedSession<Data>` rather
 *   than a `Session<Data>` (see docs/sealed.md).
 *
 * Without augmentation the data type is {@link SessionData} (`Record<string, unknown>`).
 * @example
 * ```ts
 * declare module 'tessera-session' {
 *   interface Register {
 *     data: { views: number; theme: 'dark' | 'light' }
 *   }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: empty on purpose; apps add keys by declaration merging
export interface Register {}

/** An interface's members as an object type: assignable to {@link SessionData}, as an interface is not. */
type Flat<D> = { [K in keyof D]: D[K] };

/**
 * The session data type the app registered as `Register['data']`, or {@link SessionData} when it
 * registered none.
 */
export type RegisteredData = Register extends { data: infer D extends object }
  ? Flat<D>
  : SessionData;

/**
 * What an adapter adds to its framework's request type: `{ session: S }`, or nothing when the
 * app registered `requestSession: false`. An adapter's augmentation extends it rather than
 * declaring the property, so that the opt-out removes it and another library's own `session`
 * property (e.g. `@types/express-session`'s) takes precedence over it instead of clashing by
 * declaration order.
 */
export type RequestSessionSlot<S> = Register extends { requestSession: false }
  ? Record<never, never>
  : { session: S };
