import { startExpress } from './apps.js';
import { adapterSuite } from './suite.js';

adapterSuite('Express 4', (engine, extra) => startExpress(engine, 'express4', extra));
