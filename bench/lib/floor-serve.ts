/**
 * The no-op session-shaped middleware of each framework, for the `floor-<framework>` servers: it
 * does the minimum any session layer must do per request and nothing else — run, attach
 * `session = null` to the request, and add one response header (`Cache-Control: no-store`, what
 * a session-dependent response carries; a `Set-Cookie` takes the same path) when the route
 * answers, through the framework's normal path. Its cost over the bare server is the floor no
 * session library goes below on that framework.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { MiddlewareHandler } from 'hono';

/** The header every floor adds when the route answers. */
export const FLOOR_HEADER = ['cache-control', 'no-store'] as const;

type WriteHead = ServerResponse['writeHead'];

/**
 * `res.writeHead` as a session layer hooks it to add a header before the head goes out (as
 * on-headers does): one shared function set as an own property, calling the prototype's.
 * `res.end()` without an explicit `writeHead()` reaches it too (Node's `_implicitHeader`).
 */
function floorWriteHead(this: ServerResponse, ...args: Parameters<WriteHead>): ServerResponse {
  this.setHeader(FLOOR_HEADER[0], FLOOR_HEADER[1]);
  return (Object.getPrototypeOf(this) as { writeHead: WriteHead }).writeHead.apply(this, args);
}

/** What the node:http and Express floors do to a request: attach `session`, hook the head. */
function touch(req: IncomingMessage, res: ServerResponse): void {
  (req as IncomingMessage & { session: unknown }).session = null;
  res.writeHead = floorWriteHead as WriteHead;
}

/**
 * The node:http floor: wraps a handler as a session adapter's `session(engine)(handler)` does.
 *
 * @param handler - The app's handler.
 * @returns A request listener.
 * @example
 * ```ts
 * createServer(nodeFloor((req, res) => res.end('0')));
 * ```
 */
export function nodeFloor(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    touch(req, res);
    handler(req, res);
  };
}

/**
 * The Express (4 and 5) floor: one `app.use()` middleware.
 *
 * @returns The middleware.
 * @example
 * ```ts
 * app.use(expressFloor());
 * ```
 */
export function expressFloor(): (
  req: IncomingMessage,
  res: ServerResponse,
  next: () => void,
) => void {
  return (req, res, next) => {
    touch(req, res);
    next();
  };
}

/**
 * The Fastify floor: `decorateRequest('session', null)`, an `onRequest` hook setting it and an
 * `onSend` hook adding the header (callback style, the cheaper one), on the root instance.
 *
 * @param app - The Fastify instance, before its routes are ready.
 * @example
 * ```ts
 * fastifyFloor(app);
 * ```
 */
export function fastifyFloor(app: FastifyInstance): void {
  // `never`: the app's `request.session` type (tessera's declaration) does not matter here.
  app.decorateRequest('session', null as never);
  app.addHook('onRequest', (request, _reply, done) => {
    (request as unknown as { session: unknown }).session = null;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header(FLOOR_HEADER[0], FLOOR_HEADER[1]);
    done(null, payload);
  });
}

/**
 * The Hono floor: `c.set('session', null)`, `await next()`, then the header on `c.res` (what a
 * session middleware does after the handler; `c.header()` after the handler would copy the
 * response).
 *
 * @returns The middleware.
 * @example
 * ```ts
 * app.use(honoFloor());
 * ```
 */
export function honoFloor(): MiddlewareHandler {
  return async (c, next) => {
    c.set('session' as never, null as never);
    await next();
    c.res.headers.set(FLOOR_HEADER[0], FLOOR_HEADER[1]);
  };
}

const KEPT = Symbol('floor.state');

/**
 * The fetch floor: `handle(request, handler)` as a fetch session adapter's, minus the session —
 * a symbol property on the Request (where an adapter keeps its state), the handler called with a
 * `null` session, the header set on its Response. Answered synchronously: the least any wrapper
 * can do (tessera's `handle()` always returns a promise, which its own share then includes).
 *
 * @param request - The request.
 * @param handler - The app's handler.
 * @returns The handler's response, with the header.
 * @example
 * ```ts
 * getRequestListener((request) => fetchFloor(request, () => new Response('0')));
 * ```
 */
export function fetchFloor(
  request: Request,
  handler: (session: null, request: Request) => Response,
): Response {
  (request as Request & { [KEPT]?: unknown })[KEPT] = null;
  const response = handler(null, request);
  response.headers.set(FLOOR_HEADER[0], FLOOR_HEADER[1]);
  return response;
}
