/** Fastify helpers shared by the Fastify benchmark servers. */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Starts a Fastify app on 127.0.0.1 with an OS-chosen port.
 *
 * @param app - The Fastify instance, routes registered.
 * @returns The port.
 * @throws The listen or plugin error.
 * @example
 * ```ts
 * await runBenchServer({ listen: () => listenFastify(app) });
 * ```
 */
export async function listenFastify(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}
