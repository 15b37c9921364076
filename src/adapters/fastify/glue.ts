import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CommitResult } from '../../core/contract.js';
import { isTesseraError, type TesseraError } from '../../core/errors.js';
import { type ErrorReply, errorReply } from '../shared/answer.js';
import {
  type AdapterOptions,
  csrfFacts,
  type HeaderGetter,
  presentedToken,
  type RoutePath,
  sentAndParsed,
} from '../shared/http.js';
import type { AppSession, EngineSession, SessionEngine } from '../shared/session.js';
import { csrfError } from '../shared/transport.js';

export const URLENCODED = 'application/x-www-form-urlencoded';
export const DEFAULT_BODY_LIMIT = 65_536;

/** Per-request state the hooks hand to each other. */
export interface State {
  scheme: string;
  /** The CSRF check waits for the urlencoded body (no header token was sent). */
  pending: boolean;
  /** Reading that body failed (too large or malformed); answered in preValidation. */
  formError: unknown;
  committed: boolean;
  /** The CSRF check ran and passed. */
  checked: boolean;
  /** The plugin instance's engine and options (shared, not per request). */
  host: Host;
  reply: FastifyReply;
}

/** What one plugin instance gives its requests, for {@link verifyCSRF}. */
export interface Host {
  engine: SessionEngine<EngineSession>;
  options: AdapterOptions;
}

export const STATE = Symbol('tessera.fastify');
export type Tracked = FastifyRequest & { [STATE]?: State };

export function headers(request: FastifyRequest): HeaderGetter {
  return (name) => {
    const v = request.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
}

/**
 * The path the route predicates see: the URL of the route Fastify matched, as registered
 * (`/hooks/:id`), whatever spelling reached it (percent-encoding, and the router's
 * `caseSensitive` / `ignoreTrailingSlash` / `ignoreDuplicateSlashes` options); without a
 * matching route (the 404 handler), the path as sent and as a URL parser reads it.
 */
export function routePath(request: FastifyRequest): RoutePath {
  const url = request.routeOptions.url;
  if (url !== undefined) return url;
  const raw = request.url;
  const q = raw.indexOf('?');
  return sentAndParsed(q === -1 ? raw : raw.slice(0, q));
}

/** The session the plugin set on a request, if it ran (the request type may not declare it). */
export function sessionOn(request: FastifyRequest): AppSession | null | undefined {
  return (request as { session?: AppSession | null }).session;
}

/** The error reply for a request: the JSON body, or the app's `onError` page. */
export function renderError(request: FastifyRequest, host: Host, err: unknown): ErrorReply {
  const session = sessionOn(request);
  const raw = request.url;
  const q = raw.indexOf('?');
  return errorReply(err, host.options, host.engine.log, {
    method: request.method.toUpperCase(),
    path: q === -1 ? raw : raw.slice(0, q),
    header: headers(request),
    csrfToken: session ? () => session.csrfToken() : undefined,
  });
}

export function replyError(
  request: FastifyRequest,
  reply: FastifyReply,
  host: Host,
  err: unknown,
): FastifyReply {
  if (!isTesseraError(err)) reply.log.error({ err }, 'tessera: unexpected error');
  const { status, headers: list, body } = renderError(request, host, err);
  reply.code(status);
  for (const [name, value] of list) reply.header(name, value);
  return reply.send(body);
}

/** engine.verifyCSRF for a request; marks it checked, or returns the 403 to answer. */
export function runCheck(
  request: FastifyRequest,
  state: State,
  s: EngineSession,
  form: Record<string, unknown> | undefined,
): TesseraError | null {
  const get = headers(request);
  const { engine } = state.host;
  const facts = csrfFacts(request.method.toUpperCase(), get, state.scheme);
  const result = engine.verifyCSRF(s, facts, presentedToken(engine, get, form));
  if (!result.ok) return csrfError(engine, result.reason, facts);
  state.checked = true;
  return null;
}

/** The commit's cookie plan on the reply. */
export function applyPlan(reply: FastifyReply, r: CommitResult): void {
  if (r.setCookie) reply.header('set-cookie', r.setCookie);
  if (r.private) reply.header('cache-control', 'no-store');
}

/**
 * The commit failed and nothing was sent yet: the response becomes the error, keeping none of
 * its headers.
 * @returns the payload to send instead
 */
export function commitFailed(
  request: FastifyRequest,
  reply: FastifyReply,
  host: Host,
  payload: unknown,
  err: unknown,
): unknown {
  (payload as Readable | null)?.destroy?.();
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  if (!isTesseraError(err)) reply.log.error({ err }, 'tessera: could not save the session');
  const { status, headers: list, body } = renderError(request, host, err);
  reply.code(status);
  for (const [name, value] of list) reply.header(name, value);
  return body;
}
