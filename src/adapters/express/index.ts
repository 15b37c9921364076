/**
 * `tessera-session/express`: sessions for Express 4 and 5, as one middleware.
 *
 * Exports the same names as every adapter: `session`, `getSession`, `login`, `logout`, `csrfToken`,
 * `verifyCSRF`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RegisteredData, RequestSessionSlot } from '../../core/register.js';
import type { AdapterOptions } from '../shared/http.js';
import { attach, type NodeHost } from '../shared/node.js';
import type { EngineSession, RegisteredSession, SessionEngine } from '../shared/session.js';

/** What the route path needs of an Express request: its path and its app's routing settings. */
interface ExpressRequest extends IncomingMessage {
  path?: string;
  app?: { enabled?: (setting: string) => boolean };
}

/**
 * The path as Express's router matches it: Express matches the path undecoded,
 * case-insensitively and with one optional trailing slash, unless the app set
 * `case sensitive routing` / `strict routing` (a `Router({ caseSensitive, strict })` of its
 * own is not visible here). Lower-casing and dropping the trailing slash give every spelling
 * that reaches a route the one answer of the predicate.
 */
function routePath(req: IncomingMessage): string {
  const r = req as ExpressRequest;
  let path = r.path ?? (req.url ?? '/').split('?')[0]!;
  const enabled = r.app?.enabled;
  if (path.length > 1 && path.endsWith('/') && !enabled?.call(r.app, 'strict routing'))
    path = path.slice(0, -1);
  return enabled?.call(r.app, 'case sensitive routing') ? path : path.toLowerCase();
}

export type { ErrorAnswer, ErrorContext } from '../shared/answer.js';
export type { AdapterOptions, HSTSOptions } from '../shared/http.js';
export { hstsHeader } from '../shared/http.js';
export { csrfToken, getSession, login, logout, verifyCSRF } from '../shared/node.js';
export type { RegisteredSession } from '../shared/session.js';
export { errorStatus } from '../shared/status.js';

/**
 * What the augmentation below adds, named outside it: inside, `Session` could name another
 * library's declaration (`@fastify/session` declares one in `fastify`).
 */
type TesseraRequestSession = RequestSessionSlot<RegisteredSession<RegisteredData>>;

declare global {
  namespace Express {
    /**
     * Gets `session: Session<RegisteredData>` (set by the `session()` middleware), typed by the
     * app's `Register['data']` — a `SealedSession<RegisteredData>` when it registered
     * `mode: 'sealed'`; nothing when the app registered `requestSession: false`. A
     * `session` that `@types/express-session` declares takes precedence (see docs/frameworks.md).
     */
    interface Request extends TesseraRequestSession {}
  }
}

type Next = (err?: unknown) => void;

/**
 * Express middleware: loads `req.session`, checks CSRF on unsafe methods (reading an urlencoded
 * body itself, size-capped, when no body parser ran), saves the session and sets the cookie when
 * the response ends; answers 403 `{"error":"csrf"}` and 503 `{"error":"store_unavailable"}`.
 * @param engine - from `createSessions()`, or `createSealedSessions()` (register `mode: 'sealed'`
 *   so that `req.session` is typed a `SealedSession`)
 * @param options - adapter options (trustProxy, skipCSRF, jsonOnly, bodyLimit). The route
 *   predicates see the path as Express's router matches it: lower-cased and without one
 *   trailing slash, unless the app enabled `case sensitive routing` / `strict routing`.
 * @example
 * ```ts
 * app.use(session(sessions))
 * app.get('/', (req, res) => res.send(`hello ${req.session.userId ?? 'guest'}`))
 * ```
 */
export function session<S extends EngineSession>(
  engine: SessionEngine<S>,
  options: AdapterOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const host: NodeHost<S> = { engine, options, routeOf: routePath };
  return (req: IncomingMessage, res: ServerResponse, next: Next): void =>
    attach(host, req, res, callNext, next);
}

/** Hand the request on to the next middleware (in the same tick when the load needed no I/O). */
function callNext(_req: IncomingMessage, _res: ServerResponse, next: Next): void {
  next();
}
