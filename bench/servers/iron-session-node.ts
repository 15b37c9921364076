/**
 * iron-session 8 on node:http: `getIronSession(req, res, { password, cookieName })` with its
 * defaults (Secure, HttpOnly, SameSite=Lax cookie; the harness replays cookies itself, so the
 * Secure attribute needs no change on plain http).
 */
import { createServer } from 'node:http';
import { getIronSession } from 'iron-session';
import { BENCH_SECRET, type BenchData, INITIAL_DATA, NO_SESSION } from '../lib/app.js';
import { listenLoopback, runBenchServer } from '../lib/control.js';

const options = { password: BENCH_SECRET, cookieName: 'bench-iron' };

const server = createServer((req, res) => {
  void (async () => {
    const session = await getIronSession<BenchData>(req, res, options);
    let body: string;
    if (req.url === '/new') {
      Object.assign(session, structuredClone(INITIAL_DATA));
      await session.save();
      body = '0';
    } else if (req.url === '/hit') {
      session.count = (session.count ?? 0) + 1;
      await session.save();
      body = String(session.count);
    } else {
      body = session.count === undefined ? NO_SESSION : String(session.count);
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  })().catch((error: unknown) => {
    res.writeHead(500).end(String(error));
  });
});

await runBenchServer({ listen: () => listenLoopback(server) });
