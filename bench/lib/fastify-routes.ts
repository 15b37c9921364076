/** The benchmark routes for Fastify apps whose session has `get` / `set` (both Fastify peers). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { INITIAL_DATA, NO_SESSION } from './app.js';

/** The session surface the two Fastify session plugins share. */
export interface GetSetSession {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

/**
 * Registers `/new`, `/read` and `/hit` on a Fastify app.
 *
 * @param app - The Fastify app, session plugin registered.
 * @param sessionOf - Returns the request's session.
 * @returns Nothing.
 * @example
 * ```ts
 * addFastifyRoutes(app, (request) => request.session);
 * ```
 */
export function addFastifyRoutes(
  app: FastifyInstance,
  sessionOf: (request: FastifyRequest) => GetSetSession,
): void {
  app.get('/new', async (request, reply) => {
    const session = sessionOf(request);
    for (const [key, value] of Object.entries(structuredClone(INITIAL_DATA))) {
      session.set(key, value);
    }
    return reply.type('text/plain').send('0');
  });
  app.get('/read', async (request, reply) => {
    const count = sessionOf(request).get('count');
    return reply.type('text/plain').send(count === undefined ? NO_SESSION : String(count));
  });
  app.get('/hit', async (request, reply) => {
    const session = sessionOf(request);
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return reply.type('text/plain').send(String(count));
  });
}
