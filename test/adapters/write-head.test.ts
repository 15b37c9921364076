/**
 * `res.writeHead(status, headers)` on node:http and Express 4 / 5: Node's `writeHead` with
 * headers replaces what `setHeader` set before, so the session's own headers must be merged in,
 * not overwritten — the session's `Set-Cookie` joins the app's, and `Cache-Control: no-store`
 * wins on a response that depends on a session. In every header form Node takes: an object, an
 * array of `[name, value]` pairs, and a flat raw array.
 */
import { createServer, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Request, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as expressAdapter from '../../src/adapters/express/index.js';
import * as nodeAdapter from '../../src/adapters/node/index.js';
import type { Session } from '../../src/core/engine.js';
import {
  type AppData,
  close,
  cookieOf,
  listen,
  type RunningApp,
  send,
  testEngine,
} from './support.js';

const FLASH = 'flash=signed-in; Path=/';
const SESSION_COOKIE =
  /^__Host-tessera=s\.[A-Za-z0-9_.-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/;

type Form = 'object' | 'pairs' | 'raw';

/** The app's headers for a redirect after sign-in, in one of Node's three forms. */
function headersIn(form: Form): OutgoingHttpHeaders | [string, string][] | string[] {
  const entries: [string, string][] = [
    ['Location', '/'],
    ['Set-Cookie', FLASH],
    ['Cache-Control', 'public, max-age=60'],
  ];
  if (form === 'object') return Object.fromEntries(entries);
  if (form === 'pairs') return entries;
  return entries.flat();
}

/**
 * The route logic: GET /login?form=…[&stream=1] signs in and answers with writeHead;
 * GET /public?form=… answers a visitor without a session the same way; GET /who reads back.
 */
async function route(url: URL, s: Session<AppData>, res: ServerResponse): Promise<void> {
  const form = (url.searchParams.get('form') ?? 'object') as Form;
  const writeHead = res.writeHead as (status: number, headers: unknown) => ServerResponse;
  if (url.pathname === '/login') {
    await s.authenticate('alice');
    writeHead.call(res, 303, headersIn(form));
    if (url.searchParams.has('stream')) res.write('see /');
    res.end();
    return;
  }
  if (url.pathname === '/public') {
    writeHead.call(res, 200, headersIn(form));
    res.end('public');
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ userId: s.userId }));
}

async function startNode(): Promise<RunningApp> {
  const { engine } = testEngine();
  const server = createServer(
    nodeAdapter.session(engine)((req, res) =>
      route(new URL(req.url ?? '/', 'http://localhost'), req.session as Session<AppData>, res),
    ),
  );
  const url = await listen(server);
  return { url, close: () => close(server) };
}

async function startExpress(version: 'express' | 'express4'): Promise<RunningApp> {
  const { engine } = testEngine();
  const express = createRequire(import.meta.url)(version) as typeof import('express');
  const app = express();
  app.use(expressAdapter.session(engine));
  app.get(/.*/, (req: Request, res: Response, next) => {
    route(new URL(req.originalUrl, 'http://localhost'), req.session as Session<AppData>, res).catch(
      next,
    );
  });
  const server = createServer(app);
  const url = await listen(server);
  return { url, close: () => close(server) };
}

describe.each([
  ['node:http', startNode],
  ['Express 4', () => startExpress('express4')],
  ['Express 5', () => startExpress('express')],
])('%s: res.writeHead(status, headers)', (_name, start) => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await start();
  });
  afterAll(() => app?.close());

  describe.each(['object', 'pairs', 'raw'] as const)('with %s headers', (form) => {
    for (const stream of [false, true]) {
      const title = stream ? ' (streamed)' : '';
      it(`adds the session cookie to the app's own Set-Cookie, and no-store wins${title}`, async () => {
        const res = await send(app.url, 'GET', `/login?form=${form}${stream ? '&stream=1' : ''}`);
        expect(res.status).toBe(303);
        expect(res.headers.location).toBe('/');
        expect(res.setCookies).toHaveLength(2);
        expect(res.setCookies).toContain(FLASH);
        expect(res.setCookies.find((c) => c.startsWith('__Host-tessera='))).toMatch(SESSION_COOKIE);
        expect(res.headers['cache-control']).toBe('no-store');
        if (stream) expect(res.text).toBe('see /');
        // The user is signed in with the cookie the redirect carried.
        const who = await send(app.url, 'GET', '/who', { cookie: cookieOf(res) });
        expect(who.json()).toEqual({ userId: 'alice' });
      });
    }

    it("keeps the app's headers on a response that depends on no session", async () => {
      const res = await send(app.url, 'GET', `/public?form=${form}`);
      expect(res.status).toBe(200);
      expect(res.setCookies).toEqual([FLASH]);
      expect(res.headers['cache-control']).toBe('public, max-age=60');
      expect(res.text).toBe('public');
    });
  });
});
