import { startFetch } from './apps.js';
import { adapterSuite } from './suite.js';

adapterSuite('fetch', startFetch);
