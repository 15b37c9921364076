/**
 * Fastify 5 with tessera: a view counter, sign-in through an HTML form carrying the CSRF token,
 * and sign-out. Run: `npx tsx examples/fastify/server.ts`, open http://127.0.0.1:3000
 */
import Fastify from 'fastify';
import { createSessions, generateKey } from 'tessera-session';
import { csrfToken, login, logout, session } from 'tessera-session/fastify';
import { memoryStore } from 'tessera-session/memory';

const keys = process.env.SESSION_KEY ? [JSON.parse(process.env.SESSION_KEY)] : [generateKey()];
const sessions = createSessions({ store: memoryStore(), keys });

const app = Fastify();
// request.session, CSRF on unsafe methods, the cookie in onSend; also parses urlencoded forms.
await app.register(session(sessions));

app.get('/', async (request, reply) => {
  request.session.update('views', (n) => (Number(n) || 0) + 1);
  const csrf = csrfToken(request);
  return reply
    .type('text/html')
    .send(`<p>${request.session.userId ?? 'guest'}, visit ${request.session.get('views')}</p>
<form method="post" action="/login"><input name="user" value="alice">
<input type="hidden" name="_csrf" value="${csrf}"><button>Sign in</button></form>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${csrf}"><button>Sign out</button></form>`);
});

app.post<{ Body: { user?: string } }>('/login', async (request, reply) => {
  const user = request.body?.user ?? '';
  if (!/^\w{1,32}$/.test(user)) return reply.code(400).send();
  await login(request, user); // a real app checks a password first; login rotates the token
  return reply.redirect('/', 303);
});

app.post('/logout', async (request, reply) => {
  await logout(request);
  return reply.redirect('/', 303);
});

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
