/**
 * `tessera-session/fastify`: sessions for Fastify 5, as a plugin (made with fastify-plugin, so
 * it applies to the whole app) that decorates a typed `request.session` and works through the
 * `onRequest`, `preValidation` and `onSend` hooks.
 *
 * Exports the same names as every adapter: `session`, `getSession`, `login`, `logout`, `csrfToken`,
 * `verifyCSRF`.
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onRequestHookHandler,
  onSendHookHandler,
  preValidationHookHandler,
} from 'fastify';
import type fastifyPlugin from 'fastify-plugin';
import type { RequestInfo } from '../../core/contract.js';
import { TesseraError } from '../../core/errors.js';
import type { SessionData } from '../../core/options.js';
import type { RegisteredData, RequestSessionSlot } from '../../core/register.js';
import { readCapped } from '../shared/body.js';
import {
  type AdapterOptions,
  asksRoute,
  CSRF_VARY,
  clientFacts,
  DEFAULT_BODY_TIMEOUT,
  parseUrlencoded,
  planCSRF,
} from '../shared/http.js';
import { commitThen, loadThen } from '../shared/load.js';
import type {
  AppSession,
  AuthenticateOptions,
  EngineSession,
  RegisteredSession,
  SessionEngine,
} from '../shared/session.js';
import { checkTransport } from '../shared/transport.js';
import {
  applyPlan,
  commitFailed,
  DEFAULT_BODY_LIMIT,
  type Host,
  headers,
  replyError,
  routePath,
  runCheck,
  STATE,
  type State,
  sessionOn,
  type Tracked,
  URLENCODED,
} from './glue.js';

export type { ErrorAnswer, ErrorContext } from '../shared/answer.js';
export type { AdapterOptions, HSTSOptions } from '../shared/http.js';
export { hstsHeader } from '../shared/http.js';
export type { RegisteredSession } from '../shared/session.js';
export { errorStatus } from '../shared/status.js';

/**
 * What the augmentation below adds, named outside it: inside, `Session` could name another
 * library's declaration (`@fastify/session` declares one in `fastify`).
 */
type TesseraRequestSession = RequestSessionSlot<RegisteredSession<RegisteredData>>;

declare module 'fastify' {
  /**
   * Gets `session: Session<RegisteredData>` (set by the `session()` plugin), typed by the app's
   * `Register['data']` — a `SealedSession<RegisteredData>` when it registered `mode: 'sealed'`;
   * nothing when the app registered `requestSession: false`. A `session` that
   * `@fastify/session` or `@fastify/secure-session` declares takes precedence.
   */
  interface FastifyRequest extends TesseraRequestSession {}
}

/**
 * A Fastify plugin: decorates `request.session`, loads it in `onRequest`, checks CSRF on unsafe
 * methods (the `x-csrf-token` header at once, or the urlencoded `_csrf` field in `preValidation`,
 * after the body is parsed), and in `onSend` saves the session and sets the cookie and
 * `Cache-Control: no-store` before the headers go. Answers 403 `{"error":"csrf"}` and 503
 * `{"error":"store_unavailable"}`.
 *
 * Unless a parser for `application/x-www-form-urlencoded` is already registered (register
 * `@fastify/formbody` before this plugin to use it), it adds one that parses forms into plain
 * objects, capped at `bodyLimit`, so `request.body` holds the form and the CSRF field.
 * @param engine - from `createSessions()`, or `createSealedSessions()` (register `mode: 'sealed'`
 *   so that `request.session` is typed a `SealedSession`)
 * @param options - adapter options (trustProxy, skipCSRF, bodyLimit). Without `trustProxy`,
 *   the client IP and scheme are Fastify's own `request.ip` / `request.protocol`, which follow
 *   Fastify's `trustProxy` server option.
 * @returns the plugin, for `app.register()`
 * @throws TesseraError `ERR_CONFIG` when the optional peer dependency fastify-plugin is missing
 * @example
 * ```ts
 * const app = Fastify()
 * await app.register(session(sessions))
 * app.get('/', async (request) => ({ user: request.session.userId }))
 * ```
 */
export function session<S extends EngineSession>(
  engine: SessionEngine<S>,
  options: AdapterOptions = {},
): FastifyPluginAsync {
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const timeout = options.bodyTimeout ?? DEFAULT_BODY_TIMEOUT;
  // Each request's session came from this engine's load(): the host reads it as any session.
  const host: Host = { engine: engine as unknown as SessionEngine<EngineSession>, options };
  /** The session the plugin set on a request (typed for the app by `Register`, here by S). */
  const ours = (request: FastifyRequest) => sessionOn(request) as unknown as S;

  // Callback-style hooks: a request whose session loads and commits without I/O (`loadNow`,
  // `commitNow`) goes through them without a promise (an async hook costs one per request each).
  const onRequest: onRequestHookHandler = (request, reply, done) => {
    const get = headers(request);
    const ours = options.trustProxy !== undefined && options.trustProxy !== false;
    const facts = ours
      ? clientFacts(
          get,
          request.raw.socket.remoteAddress,
          (request.raw.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http',
          options.trustProxy,
          options.proxyHeader,
        )
      : { ip: request.ip, scheme: request.protocol };
    // Without tessera's trustProxy, Fastify's own decides the scheme (request.protocol).
    const insecure = checkTransport(
      engine,
      get,
      facts.scheme,
      options,
      ours ? undefined : 'Fastify',
    );
    // A hook that answers does not call done(): the rest of the chain is skipped.
    if (insecure) {
      replyError(request, reply, host, insecure);
      return;
    }
    const info: RequestInfo = {
      cookie: get('cookie'),
      method: request.method.toUpperCase(),
      userAgent: get('user-agent'),
      ip: facts.ip,
    };
    const r = loadThen(
      engine,
      info,
      (s) => loaded(request, reply, s, info.method, facts.scheme, done),
      (err) => replyError(request, reply, host, err),
    );
    // After I/O, a throw in `loaded` goes to done(), as Fastify does for a hook whose promise
    // rejects (in the same tick it reaches Fastify's own hook runner).
    if (r instanceof Promise) r.then(undefined, (err: unknown) => done(err as Error));
  };

  /** The session is loaded: keep the state, plan the CSRF check, go on (or answer). */
  const loaded = (
    request: FastifyRequest,
    reply: FastifyReply,
    s: S,
    method: string,
    scheme: string,
    done: HookHandlerDoneFunction,
  ): void => {
    const state: State = {
      scheme,
      pending: false,
      formError: undefined,
      committed: false,
      checked: false,
      host,
      reply,
    };
    (request as Tracked)[STATE] = state;
    (request as { session?: unknown }).session = s;

    const get = headers(request);
    const route = asksRoute(engine, method, options) ? routePath(request) : '';
    const plan = planCSRF(engine, method, route, get, options);
    if (plan instanceof TesseraError) {
      replyError(request, reply, host, plan);
      return;
    }
    if (plan === 'skip') {
      done();
      return;
    }
    const vary = reply.getHeader('vary');
    reply.header('vary', vary ? `${String(vary)}, ${CSRF_VARY}` : CSRF_VARY);
    if (plan === 'read-form') {
      // The token may be in the form: decide once the body is parsed (preValidation).
      state.pending = true;
      done();
      return;
    }
    if (!check(request, reply, s, undefined)) done();
  };

  /** The CSRF check; whether it answered the request (403). */
  const check = (
    request: FastifyRequest,
    reply: FastifyReply,
    s: S,
    form: Record<string, unknown> | undefined,
  ): boolean => {
    const err = runCheck(request, (request as Tracked)[STATE]!, s, form);
    if (err) replyError(request, reply, host, err);
    return err !== null;
  };

  const preValidation: preValidationHookHandler = (request, reply, done) => {
    const state = (request as Tracked)[STATE];
    if (!state?.pending) {
      done();
      return;
    }
    state.pending = false;
    if (state.formError !== undefined) {
      replyError(request, reply, host, state.formError);
      return;
    }
    const body = request.body;
    const form =
      typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
    if (!check(request, reply, ours(request), form)) done();
  };

  const onSend: onSendHookHandler<unknown> = (request, reply, payload, done) => {
    const state = (request as Tracked)[STATE];
    if (!state || state.committed) {
      done(null, payload);
      return;
    }
    state.committed = true;
    const r = commitThen(
      engine,
      ours(request),
      (plan) => {
        applyPlan(reply, plan);
        done(null, payload);
      },
      (err) => done(null, commitFailed(request, reply, host, payload, err)),
    );
    // After I/O, a throw goes to done(), as Fastify does for a hook whose promise resolves and
    // whose next step throws (in the same tick it reaches Fastify's own hook runner).
    if (r instanceof Promise) r.then(undefined, (err: unknown) => done(err as Error));
  };

  const plugin = async (fastify: FastifyInstance) => {
    fastify.decorateRequest('session', null as unknown as RegisteredSession);
    if (!fastify.hasContentTypeParser(URLENCODED)) {
      fastify.addContentTypeParser(URLENCODED, (request, payload, done) => {
        readCapped(payload as Readable, limit, timeout)
          .then((text) => parseUrlencoded(text))
          .then(
            (form) => done(null, form),
            (err: unknown) => {
              const state = (request as Tracked)[STATE];
              if (state?.pending) {
                // The adapter needed this body for CSRF: answer as node:http and Express do.
                state.formError = err;
                done(null, undefined);
              } else done(err as Error, undefined);
            },
          );
      });
    }
    fastify.addHook('onRequest', onRequest);
    fastify.addHook('preValidation', preValidation);
    fastify.addHook('onSend', onSend);
  };
  return loadFastifyPlugin()(plugin, { fastify: '5.x', name: 'tessera-session' });
}

let fastifyPluginFn: typeof fastifyPlugin | undefined;

/**
 * fastify-plugin, loaded on first use (synchronously, so `session()` stays synchronous): a
 * missing optional peer dependency is then an `ERR_CONFIG` saying what to install, as the
 * stores say for their drivers, instead of an `ERR_MODULE_NOT_FOUND` at import.
 */
function loadFastifyPlugin(): typeof fastifyPlugin {
  if (fastifyPluginFn === undefined) {
    try {
      fastifyPluginFn = createRequire(import.meta.url)('fastify-plugin') as typeof fastifyPlugin;
    } catch (cause) {
      throw new TesseraError(
        'ERR_CONFIG',
        "tessera-session/fastify needs the optional peer dependency 'fastify-plugin': npm install fastify-plugin",
        { cause },
      );
    }
  }
  return fastifyPluginFn;
}

/**
 * The session of a request.
 * @throws TesseraError `ERR_USAGE` if the plugin did not run for this request
 */
export function getSession<Data extends SessionData = RegisteredData>(
  request: FastifyRequest,
): RegisteredSession<Data> {
  return sessionIn(request) as unknown as RegisteredSession<Data>;
}

/**
 * The session of a request, as the helpers use it.
 * @throws TesseraError `ERR_USAGE` if the plugin did not run for this request
 */
function sessionIn(request: FastifyRequest): AppSession {
  const s = sessionOn(request);
  if (!s)
    throw new TesseraError(
      'ERR_USAGE',
      'No tessera session on this request: register the tessera session() plugin before your routes.',
    );
  return s;
}

/** Sign `userId` in on this request's session (rotates the token). */
export function login<Data extends SessionData = RegisteredData>(
  request: FastifyRequest,
  userId: string,
  options?: AuthenticateOptions<Data>,
): Promise<void> {
  return (sessionIn(request) as AppSession<Data>).authenticate(userId, options);
}

/** End this request's session and clear its cookie. */
export function logout(request: FastifyRequest): Promise<void> {
  return sessionIn(request).destroy();
}

/** The CSRF token to embed in a form or send in the `x-csrf-token` header. */
export function csrfToken(request: FastifyRequest): string {
  return sessionIn(request).csrfToken();
}

/**
 * Run the adapter's CSRF check now, inside the handler — for a route opted out with `skipCSRF`
 * whose contract answers 401 before 403: check authentication first, then call this. It is the
 * check the plugin runs before the handler (Fetch Metadata / Origin / Referer, the
 * `x-csrf-token` header or the `_csrf` field of the urlencoded `request.body` Fastify parsed,
 * the `jsonOnly` 415 rule), emits the same `csrf_rejected` event, and passes at once for safe
 * methods and for a request the plugin already checked.
 * @param request - a request the plugin ran on
 * @returns when the request passes
 * @throws TesseraError `ERR_CSRF` (status 403) when it does not — Fastify's default error
 *   handler answers with that status (see docs/frameworks.md to answer `{"error":"csrf"}`);
 *   `ERR_BAD_REQUEST` (415 for the `jsonOnly` rule); `ERR_USAGE` when the plugin did not run
 * @example
 * ```ts
 * app.post('/deferred', async (request, reply) => {
 *   if (!request.session.userId) return reply.code(401).send({ error: 'unauthenticated' })
 *   await verifyCSRF(request)
 *   return { ok: true }
 * })
 * ```
 */
export async function verifyCSRF(request: FastifyRequest): Promise<void> {
  const s = sessionIn(request);
  const state = (request as Tracked)[STATE];
  if (!state || state.checked) return;
  const get = headers(request);
  const { engine, options } = state.host;
  // The same check without the route's opt-out, which is why the app calls it.
  const { skipCSRF: _, ...rest } = options;
  const method = request.method.toUpperCase();
  const route = asksRoute(engine, method, rest) ? routePath(request) : '';
  const plan = planCSRF(engine, method, route, get, rest);
  if (plan instanceof TesseraError) throw plan;
  if (plan === 'skip') return;
  const vary = state.reply.getHeader('vary');
  if (!String(vary ?? '').includes(CSRF_VARY))
    state.reply.header('vary', vary ? `${String(vary)}, ${CSRF_VARY}` : CSRF_VARY);
  const body = request.body;
  const form =
    plan === 'read-form' && typeof body === 'object' && body !== null
      ? (body as Record<string, unknown>)
      : undefined;
  const err = runCheck(request, state, s, form);
  if (err) throw err;
}
