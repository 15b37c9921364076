import { startNode } from './apps.js';
import { adapterSuite } from './suite.js';

adapterSuite('node:http', startNode);
