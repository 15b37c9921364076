/** bare-express plus the Express floor (`bench/lib/floor-serve.ts`): what any session middleware costs on Express 5. */
import { createServer } from 'node:http';
import express from 'express';
import { listenLoopback, runBenchServer } from '../lib/control.js';
import { expressFloor } from '../lib/floor-serve.js';

const app = express();
app.use(expressFloor());
app.get(['/new', '/read', '/hit'], (_req, res) => {
  res.type('text/plain').send('0');
});

await runBenchServer({ listen: () => listenLoopback(createServer(app)) });
