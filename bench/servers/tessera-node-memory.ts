/**
 * tessera on node:http with the memory store and secure defaults (the memory store keeps data
 * unencrypted in process: there is no "rest" to protect). `--scale` raises `maxSessions` only.
 */
import { createServer } from 'node:http';
import { memoryStore } from 'tessera-session/memory';
import { getSession, session } from 'tessera-session/node';
import { benchCapacity, listenLoopback, runBenchServer } from '../lib/control.js';
import { answer, type BenchSessionData, benchSessions } from '../lib/tessera.js';

const capacity = benchCapacity();
const sessions = benchSessions(
  memoryStore(capacity === undefined ? {} : { maxSessions: capacity }),
);
const withSession = session(sessions);
const server = createServer(
  withSession((req, res) => {
    const body = answer(req.url, getSession<BenchSessionData>(req));
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  }),
);

await runBenchServer({ listen: () => listenLoopback(server), close: () => sessions.close() });
