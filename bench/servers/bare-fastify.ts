/** Bare Fastify 5: no session layer, the ceiling for Fastify configurations. */
import Fastify from 'fastify';
import { runBenchServer } from '../lib/control.js';
import { listenFastify } from '../lib/fastify.js';

const app = Fastify({ logger: false });
for (const path of ['/new', '/read', '/hit']) {
  app.get(path, async (_request, reply) => reply.type('text/plain').send('0'));
}

await runBenchServer({ listen: () => listenFastify(app), close: () => app.close() });
