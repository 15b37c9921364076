/** bare-express4 plus the Express floor (`bench/lib/floor-serve.ts`): what any session middleware costs on Express 4. */
import { createServer } from 'node:http';
import type { Express } from 'express';
import { listenLoopback, runBenchServer } from '../lib/control.js';
import { expressFloor } from '../lib/floor-serve.js';

// `express4` has no type declarations of its own: its API is Express 5's for these routes.
const moduleName: string = 'express4';
const { default: express4 } = (await import(moduleName)) as { default: () => Express };
const app = express4();
app.use(expressFloor());
app.get(['/new', '/read', '/hit'], (_req, res) => {
  res.type('text/plain').send('0');
});

await runBenchServer({ listen: () => listenLoopback(createServer(app)) });
