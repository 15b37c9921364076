/** Bare node:http: no session layer, the ceiling for node:http configurations. */
import { createServer } from 'node:http';
import { listenLoopback, runBenchServer } from '../lib/control.js';

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('0');
});

await runBenchServer({ listen: () => listenLoopback(server) });
