/**
 * `TSX_TSCONFIG_PATH=bench/tsconfig.servers.json node --import tsx bench/floor-ab.ts
 * [--frameworks node,express,…] [--rounds 7] [--requests 4000] [--scenario read|hit]`
 * (after `npm run build`): a quick in-process A/B of bare vs floor vs tessera (memory store) per
 * framework — every server in this process on 127.0.0.1, driven by a closed-loop raw-socket
 * client in the same process (4 keep-alive connections), CPU (`process.cpuUsage()`, server and
 * client together) per request. All three servers of a framework get the same request bytes (the
 * tessera session's cookie), so the client's share is the same and cancels in the differences.
 * Configurations interleave within each round (order rotated per round); each figure is the median
 * over rounds of the paired difference in the same round. `uptime` is printed around the run.
 * Not `npm run bench`: the figures mix in the client and run at saturation; use it to compare.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type RequestListener, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { getRequestListener } from '@hono/node-server';
import { BENCH_USER_AGENT } from './lib/app.js';
import { listenLoopback } from './lib/control.js';
import { listenFastify } from './lib/fastify.js';
import { responseLength } from './lib/fixed-rate.js';
import { expressFloor, fastifyFloor, fetchFloor, honoFloor, nodeFloor } from './lib/floor-serve.js';
import { obtainSession } from './lib/load.js';
import type { Framework } from './lib/matrix.js';
import { median } from './lib/stats.js';
import { answer, type BenchSessionData, benchSessions } from './lib/tessera.js';
import { openStore } from './lib/tessera-stores.js';

const { values: flags } = parseArgs({
  options: {
    frameworks: { type: 'string', default: 'node,express,express4,fastify,hono,fetch' },
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '4000' },
    scenario: { type: 'string', default: 'read' },
  },
  strict: true,
});
const ROUTES = ['/new', '/read', '/hit'];
type Variant = 'bare' | 'floor' | 'tessera';
const VARIANTS: Variant[] = ['bare', 'floor', 'tessera'];

const text = (res: import('node:http').ServerResponse, body: string): void => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(body);
};

async function listen(listener: RequestListener): Promise<{ port: number; close: () => void }> {
  const server: Server = createServer(listener);
  const port = await listenLoopback(server);
  return { port, close: () => server.close() };
}

/** One server of a framework, listening; tessera's on the memory store. */
async function start(framework: Framework, variant: Variant): Promise<number> {
  const engine = variant === 'tessera' ? benchSessions((await openStore('memory')).store) : null;
  switch (framework) {
    case 'node': {
      if (engine) {
        const { getSession, session } = await import('tessera-session/node');
        return (
          await listen(
            session(engine)((req, res) =>
              text(res, answer(req.url, getSession<BenchSessionData>(req))),
            ),
          )
        ).port;
      }
      const handler: RequestListener = (_req, res) => text(res, '0');
      return (await listen(variant === 'floor' ? nodeFloor(handler) : handler)).port;
    }
    case 'express':
    case 'express4': {
      const { default: express } = (await import(framework)) as {
        default: typeof import('express');
      };
      const app = express();
      if (engine) {
        const { getSession, session } = await import('tessera-session/express');
        app.use(session(engine));
        for (const path of ROUTES)
          app.get(path, (req, res) => {
            res.type('text/plain').send(answer(path, getSession<BenchSessionData>(req)));
          });
      } else {
        if (variant === 'floor') app.use(expressFloor());
        app.get(ROUTES, (_req, res) => {
          res.type('text/plain').send('0');
        });
      }
      return (await listen(app as unknown as RequestListener)).port;
    }
    case 'fastify': {
      const { default: Fastify } = await import('fastify');
      const app = Fastify({ logger: false });
      if (engine) {
        const { getSession, session } = await import('tessera-session/fastify');
        await app.register(session(engine));
        for (const path of ROUTES)
          app.get(path, async (request, reply) =>
            reply.type('text/plain').send(answer(path, getSession<BenchSessionData>(request))),
          );
      } else {
        if (variant === 'floor') fastifyFloor(app);
        for (const path of ROUTES)
          app.get(path, async (_request, reply) => reply.type('text/plain').send('0'));
      }
      return listenFastify(app);
    }
    case 'hono': {
      const { Hono } = await import('hono');
      const app = new Hono();
      if (engine) {
        const { getSession, session } = await import('tessera-session/hono');
        app.use(session(engine));
        for (const path of ROUTES)
          app.get(path, (c) => c.text(answer(path, getSession<BenchSessionData>(c))));
      } else {
        if (variant === 'floor') app.use(honoFloor());
        for (const path of ROUTES) app.get(path, (c) => c.text('0'));
      }
      return (await listen(getRequestListener(app.fetch))).port;
    }
    case 'fetch': {
      const respond = (request: Request, body: (path: string) => string): Response =>
        new Response(body(new URL(request.url).pathname), {
          headers: { 'content-type': 'text/plain' },
        });
      if (engine) {
        const { session } = await import('tessera-session/fetch');
        const handle = session(engine);
        return (
          await listen(
            getRequestListener((request: Request) =>
              handle(request, (s) => respond(request, (path) => answer(path, s))),
            ),
          )
        ).port;
      }
      const bare = (request: Request): Response => respond(request, () => '0');
      return (
        await listen(
          getRequestListener((request: Request) =>
            variant === 'floor' ? fetchFloor(request, () => bare(request)) : bare(request),
          ),
        )
      ).port;
    }
  }
}

/** `count` requests over `connections` keep-alive sockets, closed loop; CPU µs per request. */
async function drive(port: number, bytes: Buffer, count: number, connections = 4): Promise<number> {
  const sockets: Socket[] = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          s.setNoDelay(true);
          s.once('error', reject);
        }),
    ),
  );
  let sent = 0;
  const before = process.cpuUsage();
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve, reject) => {
          let buffer: Buffer = Buffer.alloc(0);
          const next = (): void => {
            if (sent >= count) {
              resolve();
              return;
            }
            sent++;
            socket.write(bytes);
          };
          socket.on('data', (chunk: Buffer) => {
            buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
            for (;;) {
              const length = responseLength(buffer);
              if (length < 0) return;
              if (!buffer.toString('latin1', 0, 12).endsWith('200'))
                return reject(new Error(buffer.toString('latin1', 0, 200)));
              buffer = buffer.subarray(length);
              next();
            }
          });
          socket.on('error', reject);
          next();
        }),
    ),
  );
  const cpu = process.cpuUsage(before);
  for (const s of sockets) s.destroy();
  return (cpu.user + cpu.system) / count;
}

const uptime = (): string => execFileSync('uptime', { encoding: 'utf8' }).trim();

const frameworks = flags.frameworks.split(',') as Framework[];
const rounds = Number(flags.rounds);
const requests = Number(flags.requests);
console.log(`start: ${uptime()}`);
const ports = new Map<string, number>();
const requestBytes = new Map<Framework, Buffer>();
for (const framework of frameworks) {
  for (const variant of VARIANTS)
    ports.set(`${framework}/${variant}`, await start(framework, variant));
  // The floor answers with its header (what it is there to cost).
  const floorAnswer = await fetch(`http://127.0.0.1:${ports.get(`${framework}/floor`)}/read`);
  if (floorAnswer.headers.get('cache-control') !== 'no-store' || (await floorAnswer.text()) !== '0')
    throw new Error(`${framework} floor: no Cache-Control: no-store on its answer`);
  // The tessera server's session cookie, sent to all three (same bytes, same client work).
  const cookie = await obtainSession(`http://127.0.0.1:${ports.get(`${framework}/tessera`)}`);
  requestBytes.set(
    framework,
    Buffer.from(
      `GET /${flags.scenario} HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: ${BENCH_USER_AGENT}\r\ncookie: ${cookie}\r\n\r\n`,
    ),
  );
}
const cpu = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (let f = 0; f < frameworks.length; f++) {
    const framework = frameworks[(f + round) % frameworks.length]!;
    for (let v = 0; v < VARIANTS.length; v++) {
      const key = `${framework}/${VARIANTS[(v + round) % VARIANTS.length]}`;
      const port = ports.get(key)!;
      await drive(port, requestBytes.get(framework)!, Math.round(requests / 4));
      const value = await drive(port, requestBytes.get(framework)!, requests);
      cpu.set(key, [...(cpu.get(key) ?? []), value]);
    }
  }
  console.log(`round ${round + 1}/${rounds}: ${uptime()}`);
}
const paired = (a: string, b: string): number =>
  median(cpu.get(a)!.map((value, i) => value - cpu.get(b)![i]!));
console.log(
  `\n${flags.scenario}: CPU µs/request (server + client), median of ${rounds} paired rounds, ${requests} requests each`,
);
console.log('framework | bare | floor − bare | tessera − bare | tessera − floor (own share)');
for (const framework of frameworks) {
  const k = (v: Variant) => `${framework}/${v}`;
  console.log(
    `${framework} | ${median(cpu.get(k('bare'))!).toFixed(1)} | ${paired(k('floor'), k('bare')).toFixed(1)} | ${paired(k('tessera'), k('bare')).toFixed(1)} | ${paired(k('tessera'), k('floor')).toFixed(1)}`,
  );
}
console.log(`\nend: ${uptime()}`);
process.exit(0);
