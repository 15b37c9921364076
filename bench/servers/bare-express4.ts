/** Bare Express 4 (the `express4` alias of express@4): no session layer, the ceiling for Express 4 configurations. */
import { createServer } from 'node:http';
import type { Express } from 'express';
import { listenLoopback, runBenchServer } from '../lib/control.js';

// `express4` has no type declarations of its own: its API is Express 5's for these routes.
const moduleName: string = 'express4';
const { default: express4 } = (await import(moduleName)) as { default: () => Express };
const app = express4();
app.get(['/new', '/read', '/hit'], (_req, res) => {
  res.type('text/plain').send('0');
});

await runBenchServer({ listen: () => listenLoopback(createServer(app)) });
