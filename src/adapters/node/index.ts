/**
 * `tessera-session/node`: sessions for plain `node:http` servers.
 *
 * Every adapter exports the same names — `session`, `getSession`, `login`, `logout`,
 * `csrfToken`, `verifyCSRF` — so switching framework means switching the import path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionData } from '../../core/options.js';
import type { RegisteredData } from '../../core/register.js';
import type { AdapterOptions } from '../shared/http.js';
import {
  attach,
  type HostEngine,
  type HostedSession,
  type NodeHost,
  type Proceed,
  type SealedSessionRequest,
  type SessionRequest,
  sendError,
  sentRoute,
} from '../shared/node.js';
import type { RegisteredSession } from '../shared/session.js';

export type { ErrorAnswer, ErrorContext } from '../shared/answer.js';
export type { AdapterOptions, HSTSOptions } from '../shared/http.js';
export { hstsHeader } from '../shared/http.js';
export type {
  HostEngine,
  HostedSession,
  SealedSessionRequest,
  SessionRequest,
} from '../shared/node.js';
export { csrfToken, getSession, login, logout, verifyCSRF } from '../shared/node.js';
export type { RegisteredSession } from '../shared/session.js';
export { errorStatus } from '../shared/status.js';

/**
 * A node:http handler that receives a request with `req.session`: a `Session<Data>`, or the
 * session type `S` of the engine (`SealedSession<Data>` for `createSealedSessions()`).
 */
export type SessionHandler<
  Data extends SessionData = RegisteredData,
  S extends HostedSession = RegisteredSession<Data>,
> = (req: SessionRequest<Data, S>, res: ServerResponse) => unknown;

/** A node:http handler in sealed-cookie mode: `req.session` is a `SealedSession`. */
export type SealedSessionHandler<Data extends SessionData = RegisteredData> = (
  req: SealedSessionRequest<Data>,
  res: ServerResponse,
) => unknown;

/** A plain node:http request listener, for `http.createServer()`. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Wrap node:http handlers with sessions: loads `req.session`, checks CSRF on unsafe methods,
 * saves the session and sets the cookie when the response ends, answers 503 when the store is
 * down and 403 on a CSRF failure.
 *
 * Hosts either engine, typed by it: `createSessions()` (server-side store; `req.session` is a
 * `Session`) or `createSealedSessions()` (sealed cookie; `req.session` is a `SealedSession`).
 * @param engine - from `createSessions()` or `createSealedSessions()`
 * @param options - adapter options (trustProxy, skipCSRF, bodyLimit)
 * @returns a function that wraps a handler into a node:http request listener
 * @example
 * ```ts
 * const withSession = session(sessions)
 * http.createServer(withSession(async (req, res) => {
 *   req.session.update('views', (n) => (n ?? 0) + 1)
 *   res.end(`views: ${req.session.get('views')}`)
 * })).listen(3000)
 * ```
 */
export function session<S extends HostedSession>(
  engine: HostEngine<S>,
  options: AdapterOptions = {},
): (handler: SessionHandler<SessionData, S>) => NodeListener {
  return (handler) => {
    const host: NodeHost<S> = { engine, options, routeOf: sentRoute };
    return (req: IncomingMessage, res: ServerResponse): void =>
      attach(host, req, res, runHandler as Proceed<SessionHandler<SessionData, S>>, handler);
  };
}

/** Run the app's handler; what it throws or rejects with is answered (500, or its status). */
function runHandler(
  req: IncomingMessage,
  res: ServerResponse,
  handler: (req: IncomingMessage, res: ServerResponse) => unknown,
): void {
  let result: unknown;
  try {
    result = handler(req, res);
  } catch (err) {
    sendError(res, err, req);
    return;
  }
  if (result !== null && typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
    (result as PromiseLike<unknown>).then(undefined, (err: unknown) => sendError(res, err, req));
}
