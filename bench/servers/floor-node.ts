/** bare-node plus the node:http floor (`bench/lib/floor-serve.ts`): what any session layer costs on node:http. */
import { createServer } from 'node:http';
import { listenLoopback, runBenchServer } from '../lib/control.js';
import { nodeFloor } from '../lib/floor-serve.js';

const server = createServer(
  nodeFloor((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('0');
  }),
);

await runBenchServer({ listen: () => listenLoopback(server) });
