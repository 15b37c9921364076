/**
 * Typed error details as an app receives them through an adapter (the `onError` hook, a thrown
 * error, a framework's own error handler), and the usage code for a session asked of a request
 * no adapter ran on — on every adapter.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyRequest } from 'fastify';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/adapters/express/index.js';
import * as fastifyAdapter from '../../src/adapters/fastify/index.js';
import * as fetchAdapter from '../../src/adapters/fetch/index.js';
import * as honoAdapter from '../../src/adapters/hono/index.js';
import * as nodeAdapter from '../../src/adapters/node/index.js';
import { createSessions } from '../../src/core/engine.js';
import { isTesseraError, type TesseraError } from '../../src/core/errors.js';
import { memoryStore } from '../../src/stores/memory/index.js';

const origin = 'http://127.0.0.1:3000';

function limitedEngine(max: number) {
  return createSessions({
    store: memoryStore({ sweepIntervalMs: 0 }),
    keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), createdAt: 0 }],
    guessLimiter: false,
    logger: false,
    sessionLimit: { max, policy: 'reject' },
  });
}

describe('error details through an adapter', () => {
  it('hands onError an ERR_SESSION_LIMIT that carries the limit and the policy, and answers 429', async () => {
    const engine = limitedEngine(2);
    const seen: TesseraError[] = [];
    const handle = fetchAdapter.session(engine, {
      onError: (error) => {
        seen.push(error);
        return undefined;
      },
    });
    const signIn = () =>
      // A GET, so that no CSRF check stands before the sign-in.
      handle(new Request(`${origin}/login`), async (s) => {
        await s.authenticate('alice');
        return new Response('in');
      });
    expect((await signIn()).status).toBe(200);
    expect((await signIn()).status).toBe(200);
    const refused = await signIn();
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: 'session_limit' });
    expect(seen).toHaveLength(1);
    const [e] = seen;
    expect(isTesseraError(e, 'ERR_SESSION_LIMIT')).toBe(true);
    if (!isTesseraError(e, 'ERR_SESSION_LIMIT')) return;
    // Narrowed: `details.limit` is a number, `details.policy` 'reject'.
    expect(e.details.limit).toBe(2);
    expect(e.details.policy).toBe('reject');
  });

  it('hands onError an ERR_CSRF that carries the reason the check gave, and answers 403', async () => {
    const engine = limitedEngine(0);
    const reasons: string[] = [];
    const handle = fetchAdapter.session(engine, {
      onError: (error) => {
        if (isTesseraError(error, 'ERR_CSRF')) reasons.push(error.details.reason);
        return undefined;
      },
    });
    const post = (headers: Record<string, string>) =>
      handle(new Request(`${origin}/form`, { method: 'POST', headers }), () => new Response('ok'));
    const crossSite = await post({ 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.json()).toEqual({ error: 'csrf' });
    expect((await post({ origin: 'https://evil.example' })).status).toBe(403);
    expect((await post({ origin: 'null' })).status).toBe(403);
    expect((await post({})).status).toBe(403);
    expect(reasons).toEqual(['cross_site', 'origin_mismatch', 'origin_null', 'missing_token']);
  });

  it("throws verifyCSRF's ERR_CSRF with its reason to the app's error handler, and err.status is 403 there", async () => {
    const engine = limitedEngine(0);
    const caught: unknown[] = [];
    const app = new Hono();
    app.use(honoAdapter.session(engine, { skipCSRF: () => true }));
    app.onError((err, c) => {
      caught.push(err);
      return c.json(
        { error: 'mapped' },
        isTesseraError(err) ? (honoAdapter.errorStatus(err) as 403) : 500,
      );
    });
    app.post('/deferred', async (c) => {
      await honoAdapter.verifyCSRF(c);
      return c.text('ok');
    });
    const res = await app.request(`${origin}/deferred`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(res.status).toBe(403);
    const [e] = caught;
    expect(isTesseraError(e, 'ERR_CSRF') && e.details.reason).toBe('cross_site');
    // The deprecated property that Express's and Fastify's default handlers read.
    expect((e as TesseraError).status).toBe(403);
  });

  it("lets Fastify's default error handler answer a thrown ERR_CSRF with 403, as before the table moved", async () => {
    const app = Fastify();
    await app.register(fastifyAdapter.session(limitedEngine(0), { skipCSRF: () => true }));
    app.post('/deferred', async (request) => {
      await fastifyAdapter.verifyCSRF(request);
      return 'ok';
    });
    const res = await app.inject({
      method: 'POST',
      url: '/deferred',
      headers: { host: '127.0.0.1', 'sec-fetch-site': 'cross-site' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ statusCode: 403, code: 'ERR_CSRF' });
    await app.close();
  });
});

describe('a session asked of a request no adapter ran on', () => {
  const usage = (call: () => unknown): unknown => {
    try {
      call();
    } catch (e) {
      return e;
    }
    return 'returned';
  };

  it('throws ERR_USAGE (not ERR_CONFIG) on every adapter, answered 500', () => {
    const request = new Request(`${origin}/`);
    const thrown = [
      usage(() => nodeAdapter.getSession({} as IncomingMessage)),
      usage(() => expressAdapter.getSession({} as IncomingMessage)),
      usage(() => fastifyAdapter.getSession({} as FastifyRequest)),
      usage(() => fetchAdapter.getSession(request)),
      usage(() => nodeAdapter.csrfToken({} as IncomingMessage)),
    ];
    for (const e of thrown) {
      expect(isTesseraError(e, 'ERR_USAGE'), String(e)).toBe(true);
      expect(nodeAdapter.errorStatus(e as TesseraError)).toBe(500);
    }
  });

  it('throws ERR_USAGE from Hono getSession without the middleware', async () => {
    const app = new Hono();
    let caught: unknown;
    app.get('/', (c) => {
      caught = usage(() => honoAdapter.getSession(c));
      return c.text('ok');
    });
    await app.request(`${origin}/`);
    expect(isTesseraError(caught, 'ERR_USAGE')).toBe(true);
  });
});
