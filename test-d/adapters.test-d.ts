/**
 * Every adapter is generic over the engine it hosts: its request's session is the engine's own
 * session type — `Session<Data>` from `createSessions()`, `SealedSession<Data>` from
 * `createSealedSessions()` — so a server-only member (`info`, `regenerate({ grace })`) is a type
 * error on a sealed request. This program registers nothing; an app that registers
 * `mode: 'sealed'` (the framework-wide request types) is test-d/fixtures/sealed-mode/.
 */
import express from 'express';
import Fastify, { type FastifyPluginAsync } from 'fastify';
import { type Context, Hono } from 'hono';
import { describe, expectTypeOf, it } from 'vitest';
import * as expressAdapter from '../src/adapters/express/index.js';
import * as fastifyAdapter from '../src/adapters/fastify/index.js';
import * as fetchAdapter from '../src/adapters/fetch/index.js';
import * as honoAdapter from '../src/adapters/hono/index.js';
import * as nodeAdapter from '../src/adapters/node/index.js';
import type { SessionOf } from '../src/core/contract.js';
import {
  createSealedSessions,
  createSessions,
  type SealedSession,
  type SealedSessionManager,
  type Session,
  type SessionData,
  type SessionManager,
} from '../src/index.js';
import { memoryStore } from '../src/stores/memory/index.js';

type Data = { views: number };

const server = createSessions<Data>({ store: memoryStore(), keys: [] as never });
const sealed = createSealedSessions<Data>({ keys: [] as never });

describe('sealed session typing through the adapters', () => {
  it('names the session type of each engine', () => {
    expectTypeOf<SessionOf<SessionManager<Data>>>().toEqualTypeOf<Session<Data>>();
    expectTypeOf<SessionOf<SealedSessionManager<Data>>>().toEqualTypeOf<SealedSession<Data>>();
    // Server-only members are not on a sealed session.
    expectTypeOf<SealedSession<Data>>().not.toHaveProperty('info');
    expectTypeOf<Session<Data>>().toHaveProperty('info');
  });

  it('node:http: req.session and getSession(req) follow the engine', () => {
    nodeAdapter.session(sealed)((req) => {
      expectTypeOf(req.session).toEqualTypeOf<SealedSession<Data>>();
      expectTypeOf(nodeAdapter.getSession(req)).toEqualTypeOf<SealedSession<Data>>();
      expectTypeOf(req.session.get('views')).toEqualTypeOf<number | undefined>();
      // @ts-expect-error a server-only member
      req.session.info;
      // @ts-expect-error no grace window in sealed mode
      req.session.regenerate({ grace: 10 });
    });
    nodeAdapter.session(server)((req) => {
      expectTypeOf(req.session).toEqualTypeOf<Session<Data>>();
      expectTypeOf(nodeAdapter.getSession(req)).toEqualTypeOf<Session<Data>>();
      expectTypeOf(req.session.info).not.toBeAny();
      req.session.regenerate({ grace: 10 });
    });
    expectTypeOf<nodeAdapter.SessionHandler<Data, SealedSession<Data>>>()
      .parameter(0)
      .toHaveProperty('session')
      .toEqualTypeOf<SealedSession<Data>>();
  });

  it('Express: the middleware takes either engine; a sealed request gives a SealedSession', () => {
    const app = express();
    app.use(expressAdapter.session(sealed));
    app.use(expressAdapter.session(server));
    expectTypeOf(
      expressAdapter.getSession({} as nodeAdapter.SealedSessionRequest<Data>),
    ).toEqualTypeOf<SealedSession<Data>>();
  });

  it('Fastify: the plugin takes either engine', () => {
    expectTypeOf(fastifyAdapter.session(sealed)).toEqualTypeOf<FastifyPluginAsync>();
    expectTypeOf(fastifyAdapter.session(server)).toEqualTypeOf<FastifyPluginAsync>();
    void Fastify().register(fastifyAdapter.session(sealed));
  });

  it("Hono: c.get('session') and getSession(c) follow the engine on an app chained from use()", () => {
    const sealedApp = new Hono().use(honoAdapter.session(sealed));
    sealedApp.get('/', (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<SealedSession<Data>>();
      expectTypeOf(honoAdapter.getSession(c)).toEqualTypeOf<SealedSession<Data>>();
      // @ts-expect-error a server-only member
      c.get('session').info;
      return c.text('');
    });
    const serverApp = new Hono().use(honoAdapter.session(server));
    serverApp.get('/', (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<Session<Data>>();
      expectTypeOf(honoAdapter.getSession(c)).toEqualTypeOf<Session<Data>>();
      return c.text('');
    });
    // A context of any Env: the session the app's Register names (here Session<SessionData>).
    const anyContext = (c: Context) => honoAdapter.getSession(c);
    expectTypeOf(anyContext).returns.toEqualTypeOf<Session<SessionData>>();
    const typed = new Hono<honoAdapter.SessionEnv<Data, SealedSession<Data>>>();
    typed.use(honoAdapter.session(sealed));
    typed.get('/', (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<SealedSession<Data>>();
      return c.text('');
    });
  });

  it("fetch: the handler's session follows the engine", () => {
    const handle = fetchAdapter.session(sealed);
    expectTypeOf(handle).toEqualTypeOf<fetchAdapter.Handle<Data, SealedSession<Data>>>();
    void handle(new Request('https://example.test/'), (s) => {
      expectTypeOf(s).toEqualTypeOf<SealedSession<Data>>();
      // @ts-expect-error a server-only member
      s.info;
      return new Response();
    });
    void fetchAdapter.session(server)(new Request('https://example.test/'), (s) => {
      expectTypeOf(s).toEqualTypeOf<Session<Data>>();
      return new Response();
    });
  });

  it('login takes the same options on either engine', () => {
    expectTypeOf(fetchAdapter.login<Data>)
      .parameter(2)
      .toEqualTypeOf<Parameters<SealedSession<Data>['authenticate']>[1]>();
    expectTypeOf(fetchAdapter.login<Data>)
      .parameter(2)
      .toEqualTypeOf<Parameters<Session<Data>['authenticate']>[1]>();
  });
});
