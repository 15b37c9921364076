import { startHono } from './apps.js';
import { adapterSuite } from './suite.js';

adapterSuite('Hono 4', startHono);
