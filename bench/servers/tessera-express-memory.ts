/** tessera on Express 5 with the memory store and secure defaults (`--scale` raises `maxSessions`). */
import { createServer } from 'node:http';
import express from 'express';
import { getSession, session } from 'tessera-session/express';
import { memoryStore } from 'tessera-session/memory';
import { benchCapacity, listenLoopback, runBenchServer } from '../lib/control.js';
import { answer, type BenchSessionData, benchSessions } from '../lib/tessera.js';

const capacity = benchCapacity();
const sessions = benchSessions(
  memoryStore(capacity === undefined ? {} : { maxSessions: capacity }),
);
const app = express();
app.use(session(sessions));
app.get(['/new', '/read', '/hit'], (req, res) => {
  res.type('text/plain').send(answer(req.path, getSession<BenchSessionData>(req)));
});

await runBenchServer({
  listen: () => listenLoopback(createServer(app)),
  close: () => sessions.close(),
});
