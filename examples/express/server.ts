/**
 * Express (4 or 5) with tessera: a view counter, sign-in through an HTML form carrying the
 * CSRF token, and sign-out. Run: `npx tsx examples/express/server.ts`, open http://127.0.0.1:3000
 */
import express from 'express';
import { createSessions, generateKey } from 'tessera-session';
import { csrfToken, login, logout, session } from 'tessera-session/express';
import { memoryStore } from 'tessera-session/memory';

// One key ring for every instance of the app; load it from configuration in production.
const keys = process.env.SESSION_KEY ? [JSON.parse(process.env.SESSION_KEY)] : [generateKey()];
const sessions = createSessions({ store: memoryStore(), keys });

const app = express();
app.use(session(sessions)); // req.session; CSRF on POST/PUT/PATCH/DELETE; cookie on the way out
app.use(express.urlencoded({ extended: false }));

app.get('/', (req, res) => {
  req.session.update('views', (n) => (Number(n) || 0) + 1);
  res.type('html').send(`<p>${req.session.userId ?? 'guest'}, visit ${req.session.get('views')}</p>
<form method="post" action="/login"><input name="user" value="alice">
<input type="hidden" name="_csrf" value="${csrfToken(req)}"><button>Sign in</button></form>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${csrfToken(req)}"><button>Sign out</button></form>`);
});

app.post('/login', async (req, res) => {
  const user = String(req.body.user ?? '');
  if (!/^\w{1,32}$/.test(user)) return void res.sendStatus(400);
  await login(req, user); // a real app checks a password first; login rotates the token
  res.redirect(303, '/');
});

app.post('/logout', async (req, res) => {
  await logout(req);
  res.redirect(303, '/');
});

app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
