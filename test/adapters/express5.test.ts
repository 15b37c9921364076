import { startExpress } from './apps.js';
import { adapterSuite } from './suite.js';

adapterSuite('Express 5', (engine, extra) => startExpress(engine, 'express', extra));
