/** bare-fastify plus the Fastify floor (`bench/lib/floor-serve.ts`): what any session plugin costs on Fastify 5. */
import Fastify from 'fastify';
import { runBenchServer } from '../lib/control.js';
import { listenFastify } from '../lib/fastify.js';
import { fastifyFloor } from '../lib/floor-serve.js';

const app = Fastify({ logger: false });
fastifyFloor(app);
for (const path of ['/new', '/read', '/hit']) {
  app.get(path, async (_request, reply) => reply.type('text/plain').send('0'));
}

await runBenchServer({ listen: () => listenFastify(app), close: () => app.close() });
