import { startFastify } from './apps.js';
import { adapterSuite } from './suite.js';

adapterSuite('Fastify 5', startFastify);
