/** Bare Express 5: no session layer, the ceiling for Express configurations. */
import { createServer } from 'node:http';
import express from 'express';
import { listenLoopback, runBenchServer } from '../lib/control.js';

const app = express();
app.get(['/new', '/read', '/hit'], (_req, res) => {
  res.type('text/plain').send('0');
});

await runBenchServer({ listen: () => listenLoopback(createServer(app)) });
