/**
 * `tessera-session/express`: sessions for Express 4 and 5, as one middleware.
 *
 * Exports the same names as every adapter: `session`, `getSession`, `login`, `logout`, `csrfToken`,
 * `verifyCSRF`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionManager } from '../../core/engine.js';
import type { SessionData } from '../../core/options.js';
import type { AdapterOptions } from '../shared/http.js';
import { attach } from '../shared/node.js';

export type { AdapterOptions, HSTSOptions } from '../shared/http.js';
export { hstsHeader } from '../shared/http.js';
export { csrfToken, getSession, login, logout, verifyCSRF } from '../shared/node.js';

declare global {
  namespace Express {
    interface Request {
      /** The tessera session (set by the `session()` middleware). */
      session: import('../../core/engine.js').Session;
    }
  }
}

type Next = (err?: unknown) => void;

/**
 * Express middleware: loads `req.session`, checks CSRF on unsafe methods (reading an urlencoded
 * body itself, size-capped, when no body parser ran), saves the session and sets the cookie when
 * the response ends; answers 403 `{"error":"csrf"}` and 503 `{"error":"store_unavailable"}`.
 * @param engine - from `createSessions()`
 * @param options - adapter options (trustProxy, skipCSRF, bodyLimit)
 * @example
 * ```ts
 * app.use(session(sessions))
 * app.get('/', (req, res) => res.send(`hello ${req.session.userId ?? 'guest'}`))
 * ```
 */
export function session<Data extends SessionData>(
  engine: SessionManager<Data>,
  options: AdapterOptions = {},
) {
  return (req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const path = (req as { path?: string }).path ?? (req.url ?? '/').split('?')[0]!;
    attach(engine, req, res, options, path).then(
      (s) => {
        if (s) next();
      },
      (err: unknown) => next(err),
    );
  };
}
