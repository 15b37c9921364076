/**
 * What the shared suite cannot see: each adapter's types and the framework-specific paths
 * (immutable responses, client IP without a socket, a user's own form parser), and each
 * adapter's helpers (`getSession`, `login`, `logout`, `csrfToken`) on a sealed engine.
 */
import { createServer } from 'node:http';
import express from 'express';
import Fastify, { type FastifyRequest } from 'fastify';
import { Hono } from 'hono';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as expressAdapter from '../../src/adapters/express/index.js';
import * as fastifyAdapter from '../../src/adapters/fastify/index.js';
import * as fetchAdapter from '../../src/adapters/fetch/index.js';
import * as honoAdapter from '../../src/adapters/hono/index.js';
import * as nodeAdapter from '../../src/adapters/node/index.js';
import type { Session } from '../../src/core/engine.js';
import { isTesseraError } from '../../src/core/errors.js';
import { SealedSession } from '../../src/core/sealed.js';
import {
  type AppData,
  close,
  cookieOf,
  listen,
  send,
  testEngine,
  testSealedEngine,
} from './support.js';

const origin = 'http://127.0.0.1:3000';

describe('fetch adapter', () => {
  it('runs in-process on plain Request objects, and types the handler with standard types', async () => {
    const { engine } = testEngine();
    const handle = fetchAdapter.session(engine);
    expectTypeOf(handle).parameter(0).toEqualTypeOf<Request>();
    expectTypeOf(handle).returns.toEqualTypeOf<Promise<Response>>();
    const res = await handle(new Request(`${origin}/`), (s) => {
      expectTypeOf(s).toEqualTypeOf<Session<AppData>>();
      s.set('a', 1);
      return new Response('ok');
    });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toHaveLength(1);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('adds the cookie to a response with immutable headers (Response.redirect)', async () => {
    const { engine } = testEngine();
    const handle = fetchAdapter.session(engine);
    const res = await handle(new Request(`${origin}/`), (s) => {
      s.set('a', 1);
      return Response.redirect(`${origin}/next`, 303);
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${origin}/next`);
    expect(res.headers.getSetCookie()[0]).toMatch(/^__Host-tessera=s\./);
  });

  it('records the address from getClientIp, and applies trustProxy on top of it', async () => {
    const { engine } = testEngine();
    const plain = fetchAdapter.session(engine, { getClientIp: () => '10.0.0.1' });
    const proxied = fetchAdapter.session(engine, { getClientIp: () => '10.0.0.1', trustProxy: 1 });
    const request = () =>
      new Request(`${origin}/`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    const ipOf = async (handle: fetchAdapter.Handle<AppData>) => {
      const first = await handle(request(), (s) => {
        s.set('a', 1);
        return new Response('ok');
      });
      const cookie = first.headers.getSetCookie()[0]!.split(';')[0]!;
      let ip: string | null | undefined;
      await handle(new Request(`${origin}/`, { headers: { cookie } }), (s) => {
        ip = s.info?.createdIp;
        return new Response('ok');
      });
      return ip;
    };
    expect(await ipOf(plain)).toBe('10.0.0.1');
    expect(await ipOf(proxied)).toBe('203.0.113.9');
  });

  it('throws ERR_USAGE from getSession outside handle()', () => {
    let caught: unknown;
    try {
      fetchAdapter.getSession(new Request(`${origin}/`));
    } catch (e) {
      caught = e;
    }
    expect(isTesseraError(caught, 'ERR_USAGE')).toBe(true);
  });
});

describe('hono adapter', () => {
  it("types c.get('session') through SessionEnv", () => {
    const { engine } = testEngine();
    const app = new Hono<honoAdapter.SessionEnv<AppData>>();
    app.use(honoAdapter.session(engine));
    app.get('/', (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<Session<AppData>>();
      return c.text('ok');
    });
    expect(app).toBeTruthy();
  });

  it('commits the session onto the response app.onError made', async () => {
    const { engine } = testEngine();
    const app = new Hono<honoAdapter.SessionEnv<AppData>>();
    app.use(honoAdapter.session(engine));
    app.onError((_err, c) => c.json({ error: 'handled' }, 500));
    app.get('/', (c) => {
      c.get('session').set('a', 1);
      throw new Error('boom');
    });
    const res = await app.request(`${origin}/`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'handled' });
    expect(res.headers.getSetCookie()[0]).toMatch(/^__Host-tessera=s\./);
  });
});

describe('fastify adapter', () => {
  it('types request.session', () => {
    expectTypeOf<FastifyRequest['session']>().toEqualTypeOf<Session>();
  });

  it("keeps a form parser the app registered first, and reads _csrf from that parser's body", async () => {
    const { engine } = testEngine();
    const app = Fastify();
    let parsedByApp = 0;
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => {
        parsedByApp++;
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    await app.register(fastifyAdapter.session(engine));
    app.get('/csrf', async (request) => ({ token: fastifyAdapter.csrfToken(request) }));
    app.post('/echo', async (request) => request.body);
    const pre = await app.inject({ method: 'GET', url: '/csrf', headers: { host: '127.0.0.1' } });
    const cookie = String(pre.headers['set-cookie']).split(';')[0]!;
    const { token } = pre.json() as { token: string };
    const ok = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: {
        host: '127.0.0.1',
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({ _csrf: token, a: '1' }).toString(),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ _csrf: token, a: '1' });
    const forged = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: {
        host: '127.0.0.1',
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: 'a=1',
    });
    expect(forged.statusCode).toBe(403);
    expect(parsedByApp).toBe(2);
    await app.close();
  });
});

describe('express adapter', () => {
  it('reads _csrf from a form express.urlencoded() (body-parser 2) parsed before the middleware', async () => {
    const { engine } = testEngine();
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use(expressAdapter.session(engine));
    app.get('/csrf', (req, res) => {
      res.json({ token: expressAdapter.csrfToken(req) });
    });
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    const server = createServer(app);
    const base = await listen(server);
    try {
      const pre = await send(base, 'GET', '/csrf');
      const cookie = cookieOf(pre);
      const { token } = pre.json() as { token: string };
      const ok = await send(base, 'POST', '/echo', { cookie, form: { _csrf: token, a: '1' } });
      expect(ok.status).toBe(200);
      expect(ok.json()).toEqual({ _csrf: token, a: '1' });
      const forged = await send(base, 'POST', '/echo', { cookie, form: { a: '1' } });
      expect(forged.status).toBe(403);
    } finally {
      await close(server);
    }
  }, 5_000);
});

/** `__Host-tessera=v1.k1.<seal>`, the value of a sealed cookie. */
const SEALED = /^__Host-tessera=v1\.k1\.[A-Za-z0-9_-]+$/;

describe('sealed mode: the session type and the helpers of every adapter', () => {
  it('node:http types req.session as the SealedSession getSession returns, and login seals the user in', async () => {
    const { engine } = testSealedEngine();
    const server = createServer(
      nodeAdapter.session(engine)(async (req, res) => {
        expectTypeOf(req.session).toEqualTypeOf<SealedSession<AppData>>();
        expectTypeOf(nodeAdapter.getSession(req)).toEqualTypeOf<SealedSession<AppData>>();
        expect(nodeAdapter.getSession(req)).toBe(req.session);
        expect(req.session).toBeInstanceOf(SealedSession);
        await nodeAdapter.login(req, 'alice');
        res.end(JSON.stringify({ userId: req.session.userId, token: nodeAdapter.csrfToken(req) }));
      }),
    );
    const base = await listen(server);
    try {
      const res = await send(base, 'GET', '/');
      expect(res.json()).toMatchObject({ userId: 'alice', token: expect.any(String) });
      expect(cookieOf(res)).toMatch(SEALED);
    } finally {
      await close(server);
    }
  });

  it('Express runs login and logout on a sealed session', async () => {
    const { engine } = testSealedEngine();
    const app = express();
    app.use(expressAdapter.session(engine));
    app.get('/in', async (req, res) => {
      expect(expressAdapter.getSession(req)).toBeInstanceOf(SealedSession);
      await expressAdapter.login(req, 'alice');
      res.json({ userId: expressAdapter.getSession(req).userId });
    });
    app.get('/out', async (req, res) => {
      await expressAdapter.logout(req);
      res.json({ state: req.session.state });
    });
    const server = createServer(app);
    const base = await listen(server);
    try {
      const login = await send(base, 'GET', '/in');
      expect(login.json()).toEqual({ userId: 'alice' });
      expect(cookieOf(login)).toMatch(SEALED);
      const out = await send(base, 'GET', '/out', { cookie: cookieOf(login) });
      expect(out.json()).toEqual({ state: 'destroyed' });
      expect(out.setCookies[0]).toMatch(/^__Host-tessera=; Path=\/; Max-Age=0/);
    } finally {
      await close(server);
    }
  });

  it('Fastify runs login on a sealed session', async () => {
    const { engine } = testSealedEngine();
    const app = Fastify();
    await app.register(fastifyAdapter.session(engine));
    app.get('/', async (request) => {
      expect(fastifyAdapter.getSession(request)).toBeInstanceOf(SealedSession);
      await fastifyAdapter.login(request, 'alice');
      return { userId: request.session.userId, token: fastifyAdapter.csrfToken(request) };
    });
    const res = await app.inject({ method: 'GET', url: '/', headers: { host: '127.0.0.1' } });
    expect(res.json()).toMatchObject({ userId: 'alice', token: expect.any(String) });
    expect(String(res.headers['set-cookie']).split(';')[0]).toMatch(SEALED);
    await app.close();
  });

  it("Hono types c.get('session') and getSession(c) as SealedSession on an app chained from use()", async () => {
    const { engine } = testSealedEngine();
    const app = new Hono().use(honoAdapter.session(engine));
    app.get('/', async (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<SealedSession<AppData>>();
      expectTypeOf(honoAdapter.getSession(c)).toEqualTypeOf<SealedSession<AppData>>();
      expect(honoAdapter.getSession(c)).toBe(c.get('session'));
      await honoAdapter.login(c, 'alice');
      return c.json({ userId: c.get('session').userId, token: honoAdapter.csrfToken(c) });
    });
    const res = await app.request(`${origin}/`);
    expect(await res.json()).toMatchObject({ userId: 'alice', token: expect.any(String) });
    expect(res.headers.getSetCookie()[0]!.split(';')[0]).toMatch(SEALED);
  });

  it("fetch types the handler's session as SealedSession and seals onto an immutable response", async () => {
    const { engine } = testSealedEngine();
    const handle = fetchAdapter.session(engine);
    const res = await handle(new Request(`${origin}/`), async (s, request) => {
      expectTypeOf(s).toEqualTypeOf<SealedSession<AppData>>();
      expect(fetchAdapter.getSession(request)).toBe(s);
      await fetchAdapter.login(request, 'alice');
      expect(s.userId).toBe('alice');
      return Response.redirect(`${origin}/next`, 303);
    });
    expect(res.status).toBe(303);
    expect(res.headers.getSetCookie()[0]!.split(';')[0]).toMatch(SEALED);
  });
});
