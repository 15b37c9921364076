/**
 * Hono 4 on @hono/node-server with tessera: a view counter, sign-in through an HTML form carrying
 * the CSRF token, and sign-out. Run: `npx tsx examples/hono/server.ts`
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createSessions, generateKey } from 'tessera-session';
import { csrfToken, login, logout, type SessionEnv, session } from 'tessera-session/hono';
import { memoryStore } from 'tessera-session/memory';

const keys = process.env.SESSION_KEY ? [JSON.parse(process.env.SESSION_KEY)] : [generateKey()];
const sessions = createSessions({ store: memoryStore(), keys });

const app = new Hono<SessionEnv>(); // c.get('session') is typed
app.use(session(sessions)); // CSRF on unsafe methods; the cookie after the handler

app.get('/', (c) => {
  const s = c.get('session');
  s.update('views', (n) => (Number(n) || 0) + 1);
  const csrf = csrfToken(c);
  return c.html(`<p>${s.userId ?? 'guest'}, visit ${s.get('views')}</p>
<form method="post" action="/login"><input name="user" value="alice">
<input type="hidden" name="_csrf" value="${csrf}"><button>Sign in</button></form>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${csrf}"><button>Sign out</button></form>`);
});

app.post('/login', async (c) => {
  const { user } = await c.req.parseBody(); // the middleware read a copy; the body is intact
  if (typeof user !== 'string' || !/^\w{1,32}$/.test(user)) return c.body(null, 400);
  await login(c, user); // a real app checks a password first; login rotates the token
  return c.redirect('/', 303);
});

app.post('/logout', async (c) => {
  await logout(c);
  return c.redirect('/', 303);
});

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' });
