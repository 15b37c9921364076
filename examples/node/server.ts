/**
 * node:http with tessera on the embedded SQLite store: a view counter, sign-in through an HTML
 * form carrying the CSRF token, and sign-out. Run: `npx tsx examples/node/server.ts`
 */
import { createServer } from 'node:http';
import { createSessions, generateKey } from 'tessera-session';
import { csrfToken, login, logout, session } from 'tessera-session/node';
import { sqliteStore } from 'tessera-session/sqlite';

const keys = process.env.SESSION_KEY ? [JSON.parse(process.env.SESSION_KEY)] : [generateKey()];
const sessions = createSessions({
  store: sqliteStore({ path: process.env.DB ?? ':memory:' }),
  keys,
});
const withSession = session(sessions); // req.session; CSRF on unsafe methods; cookie on the way out

const page = (user: string, views: unknown, csrf: string) => `<p>${user}, visit ${views}</p>
<form method="post" action="/login"><input name="user" value="alice">
<input type="hidden" name="_csrf" value="${csrf}"><button>Sign in</button></form>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${csrf}"><button>Sign out</button></form>`;

const server = createServer(
  withSession(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/') {
      req.session.update('views', (n) => (Number(n) || 0) + 1);
      res.setHeader('content-type', 'text/html; charset=utf-8');
      return res.end(page(req.session.userId ?? 'guest', req.session.get('views'), csrfToken(req)));
    }
    // The adapter parsed the urlencoded form to find _csrf, and left it in req.body.
    const form = (req.body ?? {}) as Record<string, string>;
    if (req.method === 'POST' && path === '/login' && /^\w{1,32}$/.test(form.user ?? '')) {
      await login(req, form.user!); // a real app checks a password first
    } else if (req.method === 'POST' && path === '/logout') {
      await logout(req);
    } else {
      res.statusCode = 404;
      return res.end();
    }
    res.writeHead(303, { location: '/' }).end();
  }),
);
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
