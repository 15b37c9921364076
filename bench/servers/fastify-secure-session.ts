/**
 * @fastify/secure-session (libsodium secretbox, state in the cookie). The key is 32 random bytes,
 * what its documented `genkey.js` (`npx @fastify/secure-session > secret-key`) writes; cookie
 * options as the README example (`path: '/'`, HttpOnly), so nothing is changed for plain http.
 */
import { randomBytes } from 'node:crypto';
import fastifySecureSession from '@fastify/secure-session';
import Fastify from 'fastify';
import { runBenchServer } from '../lib/control.js';
import { listenFastify } from '../lib/fastify.js';
import { addFastifyRoutes, type GetSetSession } from '../lib/fastify-routes.js';

const app = Fastify({ logger: false });
await app.register(fastifySecureSession, {
  key: randomBytes(32),
  cookie: { path: '/', httpOnly: true },
});
addFastifyRoutes(app, (request) => request.session as unknown as GetSetSession);

await runBenchServer({ listen: () => listenFastify(app), close: () => app.close() });
