/**
 * A fetch-style handler (`Request` → `Response`, as in Next.js route handlers on the Node runtime,
 * Remix, Bun.serve or Deno.serve) with tessera: a view counter, sign-in through an HTML form
 * carrying the CSRF token, and sign-out. Served here by @hono/node-server; under Bun it would be
 * `Bun.serve({ fetch: app })`. Run: `npx tsx examples/fetch/server.ts`
 */
import { serve } from '@hono/node-server';
import { createSessions, generateKey } from 'tessera-session';
import { csrfToken, login, logout, session } from 'tessera-session/fetch';
import { memoryStore } from 'tessera-session/memory';

const keys = process.env.SESSION_KEY ? [JSON.parse(process.env.SESSION_KEY)] : [generateKey()];
const sessions = createSessions({ store: memoryStore(), keys });
const handle = session(sessions); // the cookie is applied to the Response after the handler ran

const page = (user: string, views: unknown, csrf: string) => `<p>${user}, visit ${views}</p>
<form method="post" action="/login"><input name="user" value="alice">
<input type="hidden" name="_csrf" value="${csrf}"><button>Sign in</button></form>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${csrf}"><button>Sign out</button></form>`;

const back = () => new Response(null, { status: 303, headers: { location: '/' } });

export const app = (request: Request): Promise<Response> =>
  handle(request, async (s, req) => {
    const { pathname } = new URL(req.url);
    if (req.method === 'GET' && pathname === '/') {
      s.update('views', (n) => (Number(n) || 0) + 1);
      const html = page(s.userId ?? 'guest', s.get('views'), csrfToken(req));
      return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } });
    }
    if (req.method === 'POST' && pathname === '/login') {
      const user = (await req.formData()).get('user'); // tessera read a clone: the body is intact
      if (typeof user !== 'string' || !/^\w{1,32}$/.test(user))
        return new Response(null, { status: 400 });
      await login(req, user); // a real app checks a password first; login rotates the token
      return back();
    }
    if (req.method === 'POST' && pathname === '/logout') {
      await logout(req);
      return back();
    }
    return new Response('not found', { status: 404 });
  });

serve({ fetch: app, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' });
