/**
 * The route predicates (`jsonOnly`, `skipCSRF`) must see the path the router matches, so that
 * no other spelling of a route — `/REGENERATE`, `/regenerate/`, `/%72egenerate`, `/x/../regenerate`
 * — reaches it with a different answer. Each app serves POST /regenerate (jsonOnly: a form
 * without the CSRF header gets 415) and POST /webhook (skipCSRF: no token needed), the way its
 * framework routes; each request is sent byte for byte as written (no client normalisation).
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express5 from 'express';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/adapters/express/index.js';
import * as fastifyAdapter from '../../src/adapters/fastify/index.js';
import * as fetchAdapter from '../../src/adapters/fetch/index.js';
import * as honoAdapter from '../../src/adapters/hono/index.js';
import * as nodeAdapter from '../../src/adapters/node/index.js';
import { close, listen, testEngine } from './support.js';

/** What one app saw: the paths its predicates were asked about, the routes its handlers ran. */
interface Seen {
  predicate: string[];
  ran: string[];
}

function options(seen: Seen) {
  return {
    jsonOnly: ({ path }: { path: string }) => {
      seen.predicate.push(path);
      return path === '/regenerate';
    },
    skipCSRF: ({ path }: { path: string }) => {
      seen.predicate.push(path);
      return path === '/webhook';
    },
  };
}

/** A POST sent with exactly this request target. */
function post(
  base: string,
  target: string,
  kind: 'form' | 'json',
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  const body = kind === 'form' ? 'a=1' : '{}';
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname,
        port,
        method: 'POST',
        path: target,
        agent: false,
        headers: {
          'content-type':
            kind === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
          'content-length': String(body.length),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += String(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

async function serveNode(server: Server): Promise<string> {
  const url = await listen(server);
  stop = () => close(server);
  return url;
}

/** Express 4 or 5 with the given routing settings. */
async function startExpress(
  express: typeof express5,
  settings: Record<string, boolean>,
  seen: Seen,
): Promise<string> {
  const app = express();
  for (const [k, v] of Object.entries(settings)) app.set(k, v);
  app.use(expressAdapter.session(testEngine().engine, options(seen)));
  app.post('/regenerate', (_req, res) => {
    seen.ran.push('regenerate');
    res.json({ ok: true });
  });
  app.post('/webhook', (_req, res) => {
    seen.ran.push('webhook');
    res.json({ ok: true });
  });
  return serveNode(createServer(app));
}

describe.each([
  // express4 is an alias package without its own types; its API is the one used here.
  ['Express 4', createRequire(import.meta.url)('express4') as typeof express5],
  ['Express 5', express5],
])('%s: route predicates', (_name, express) => {
  it('sees the path as the router matches it: case-insensitive, one optional trailing slash', async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const base = await startExpress(express, {}, seen);
    for (const target of ['/REGENERATE', '/regenerate/', '/Regenerate/?x=1']) {
      expect(await post(base, target, 'form'), target).toMatchObject({ status: 415 });
    }
    expect(seen.ran).toEqual([]);
    for (const target of ['/WEBHOOK', '/webhook/']) {
      expect(await post(base, target, 'json'), target).toMatchObject({ status: 200 });
    }
    expect(seen.ran).toEqual(['webhook', 'webhook']);
    // Express matches the path undecoded: /%72egenerate reaches no route, and no predicate matches.
    expect(await post(base, '/%72egenerate', 'form')).toMatchObject({ status: 403 });
    expect(seen.predicate).toContain('/regenerate');
    expect(seen.predicate).not.toContain('/REGENERATE');
  });

  it('keeps case and trailing slash when the app routes case-sensitively and strictly', async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const base = await startExpress(
      express,
      { 'case sensitive routing': true, 'strict routing': true },
      seen,
    );
    // These spellings reach no route here: the predicates see them as they are.
    expect(await post(base, '/REGENERATE', 'form')).toMatchObject({ status: 403 });
    expect(await post(base, '/regenerate/', 'form')).toMatchObject({ status: 403 });
    expect(await post(base, '/WEBHOOK', 'json')).toMatchObject({ status: 403 });
    expect(await post(base, '/regenerate', 'form')).toMatchObject({ status: 415 });
    expect(seen.ran).toEqual([]);
    expect(seen.predicate).toEqual(
      expect.arrayContaining(['/REGENERATE', '/regenerate/', '/WEBHOOK', '/regenerate']),
    );
  });
});

describe('Fastify: route predicates', () => {
  async function start(config: FastifyServerOptions, seen: Seen): Promise<string> {
    const app = Fastify(config);
    await app.register(fastifyAdapter.session(testEngine().engine, options(seen)));
    app.post('/regenerate', async () => {
      seen.ran.push('regenerate');
      return { ok: true };
    });
    app.post('/webhook', async () => {
      seen.ran.push('webhook');
      return { ok: true };
    });
    app.post('/hooks/:provider', async () => {
      seen.ran.push('hooks');
      return { ok: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    stop = () => app.close();
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }

  it('sees the route Fastify matched, whatever the percent-encoding', async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const base = await start({}, seen);
    expect(await post(base, '/%72egenerate', 'form')).toMatchObject({ status: 415 });
    expect(await post(base, '/%77ebhook', 'json')).toMatchObject({ status: 200 });
    expect(seen.ran).toEqual(['webhook']);
    expect(seen.predicate).not.toContain('/%72egenerate');
    // A parametric route: the pattern as registered.
    await post(base, '/hooks/github', 'json');
    expect(seen.predicate).toContain('/hooks/:provider');
  });

  it("follows the router's caseSensitive and ignoreTrailingSlash options", async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const base = await start(
      { routerOptions: { caseSensitive: false, ignoreTrailingSlash: true } },
      seen,
    );
    for (const target of ['/REGENERATE', '/regenerate/', '/%52egenerate/']) {
      expect(await post(base, target, 'form'), target).toMatchObject({ status: 415 });
    }
    expect(await post(base, '/WebHook/', 'json')).toMatchObject({ status: 200 });
    expect(seen.ran).toEqual(['webhook']);
  });
});

describe('Hono: route predicates', () => {
  async function start(strict: boolean, seen: Seen): Promise<string> {
    const app = new Hono<honoAdapter.SessionEnv>({ strict });
    app.use(honoAdapter.session(testEngine().engine, options(seen)));
    app.post('/regenerate', (c) => {
      seen.ran.push('regenerate');
      return c.json({ ok: true });
    });
    app.post('/webhook', (c) => {
      seen.ran.push('webhook');
      return c.json({ ok: true });
    });
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => {
      if (server.listening) resolve();
      else server.once('listening', () => resolve());
    });
    stop = () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('sees c.req.path: decoded, with the app’s strict rule', async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const strict = await start(true, seen);
    expect(await post(strict, '/%72egenerate', 'form')).toMatchObject({ status: 415 });
    expect(await post(strict, '/%77ebhook', 'json')).toMatchObject({ status: 200 });
    await stop?.();
    const loose = await start(false, seen);
    expect(await post(loose, '/regenerate/', 'form')).toMatchObject({ status: 415 });
    expect(await post(loose, '/webhook/', 'json')).toMatchObject({ status: 200 });
    expect(seen.ran).toEqual(['webhook', 'webhook']);
  });
});

describe('node:http: route predicates', () => {
  /** An app that routes as many node apps do: WHATWG URL, then percent-decoding. */
  async function start(seen: Seen): Promise<string> {
    const server = createServer(
      nodeAdapter.session(
        testEngine().engine,
        options(seen),
      )((req, res) => {
        const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
        if (req.method === 'POST' && (path === '/regenerate' || path === '/webhook')) {
          seen.ran.push(path.slice(1));
          res.setHeader('content-type', 'application/json');
          res.end('{"ok":true}');
          return;
        }
        res.statusCode = 404;
        res.end();
      }),
    );
    return serveNode(server);
  }

  it('applies jsonOnly when the path as sent or as parsed matches', async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const base = await start(seen);
    for (const target of ['/x/../regenerate', '/%72egenerate', '/x/%2e%2e/regenerate']) {
      expect(await post(base, target, 'form'), target).toMatchObject({ status: 415 });
    }
    expect(seen.ran).toEqual([]);
    expect(seen.predicate).toEqual(expect.arrayContaining(['/x/../regenerate', '/regenerate']));
  });

  it('skips CSRF only when both readings name the skipped route', async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const base = await start(seen);
    expect(await post(base, '/webhook', 'json')).toMatchObject({ status: 200 });
    // A router that does not decode would not send these to /webhook: no opt-out for them.
    for (const target of ['/%77ebhook', '/x/../webhook']) {
      expect(await post(base, target, 'json'), target).toMatchObject({ status: 403 });
    }
    expect(seen.ran).toEqual(['webhook']);
  });
});

describe('fetch: route predicates', () => {
  it('asks about the pathname as sent and percent-decoded', async () => {
    const seen: Seen = { predicate: [], ran: [] };
    const handle = fetchAdapter.session(testEngine().engine, options(seen));
    const send = (path: string, kind: 'form' | 'json') =>
      handle(
        new Request(`http://127.0.0.1:3000${path}`, {
          method: 'POST',
          headers: {
            'content-type':
              kind === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
          },
          body: kind === 'form' ? 'a=1' : '{}',
        }),
        () => {
          seen.ran.push(path);
          return Response.json({ ok: true });
        },
      );
    expect((await send('/%72egenerate', 'form')).status).toBe(415);
    expect((await send('/x/../regenerate', 'form')).status).toBe(415);
    expect((await send('/%77ebhook', 'json')).status).toBe(403);
    expect((await send('/webhook', 'json')).status).toBe(200);
    expect(seen.ran).toEqual(['/webhook']);
    expect(seen.predicate).toEqual(expect.arrayContaining(['/%72egenerate', '/regenerate']));
  });
});
