/**
 * Express 5 + Redis with tessera: sign-in through an HTML form carrying the `_csrf` field, a
 * CSRF-protected form, the user's sessions with "revoke" and "sign out other sessions", and
 * sign-out. Run it: see README.md in this folder.
 */
import express from 'express';
import { createSessions, type SessionInfo } from 'tessera-session';
import { csrfToken, login, logout, session } from 'tessera-session/express';
import { loadKeys } from 'tessera-session/keys';
import { connectRedis, redisStore } from 'tessera-session/redis';

// Keys as docs/keys.md says: TESSERA_KEYS in production. This example also allows a development
// key file in .tessera/ (made once, shared by restarts); a real app drops `production: false`.
const keys = loadKeys({ env: process.env.TESSERA_KEYS, dir: '.tessera', production: false });
const client = await connectRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const store = redisStore({ client, prefix: process.env.REDIS_PREFIX ?? 'tessera:' });
const sessions = createSessions({ store, keys });

const app = express();
app.use(session(sessions)); // req.session; CSRF on POST/PUT/PATCH/DELETE; the cookie on the way out
app.use(express.urlencoded({ extended: false }));

app.get('/', (req, res) => {
  if (req.session.userId) return res.redirect(303, '/account');
  res.type('html').send(signInPage(csrfToken(req)));
});

app.post('/login', async (req, res) => {
  const user = String(req.body.user ?? '');
  if (!/^\w{1,32}$/.test(user)) return void res.status(400).send('Bad user name');
  await login(req, user); // a real app checks the password first; login rotates the token
  res.redirect(303, '/account');
});

// Every route below is for signed-in users: anyone else goes to the sign-in form.
app.use((req, res, next) => (req.session.userId ? next() : res.redirect(303, '/')));

app.get('/account', async (req, res) => {
  const list = await sessions.list(req.session.userId!);
  const { userId, handle } = req.session;
  res
    .type('html')
    .send(accountPage(userId!, req.session.get('note'), list, handle, csrfToken(req)));
});

app.post('/note', (req, res) => {
  req.session.set('note', String(req.body.note ?? '').slice(0, 200));
  res.redirect(303, '/account');
});

app.post('/sessions/:handle/revoke', async (req, res) => {
  // Only one of the user's own sessions: the handle must be in their list.
  const mine = await sessions.list(req.session.userId!);
  if (mine.some((s) => s.handle === req.params.handle)) await sessions.revoke(req.params.handle);
  res.redirect(303, '/account');
});

app.post('/sessions/revoke-others', async (req, res) => {
  await sessions.revokeOthers(req.session);
  res.redirect(303, '/account');
});

app.post('/logout', async (req, res) => {
  await logout(req);
  res.redirect(303, '/');
});

app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');

// ---- pages: plain HTML; every value from a user or a request is escaped ----
function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
function form(action: string, csrf: string, label: string, fields = ''): string {
  return `<form method="post" action="${action}"><input type="hidden" name="_csrf" value="${esc(csrf)}">${fields}<button>${label}</button></form>`;
}
function signInPage(csrf: string): string {
  return `<!doctype html><title>Sign in</title><h1>Sign in</h1>
${form('/login', csrf, 'Sign in', '<input name="user" value="alice" aria-label="User">')}`;
}
function accountPage(
  user: string,
  note: unknown,
  list: SessionInfo[],
  current: string | null,
  csrf: string,
): string {
  const items = list.map((s) => {
    const what = `${esc(s.userAgent ?? 'unknown browser')}, since ${new Date(s.createdAt).toISOString()}`;
    const action =
      s.handle === current
        ? ' (this session)'
        : form(`/sessions/${esc(s.handle)}/revoke`, csrf, 'Revoke');
    return `<li>${what}${action}</li>`;
  });
  return `<!doctype html><title>Account</title><h1>Signed in as ${esc(user)}</h1>
${form('/note', csrf, 'Save note', `<input name="note" value="${esc(note)}" aria-label="Note">`)}
<h2>Your sessions</h2><ul>${items.join('')}</ul>
${form('/sessions/revoke-others', csrf, 'Sign out other sessions')}
${form('/logout', csrf, 'Sign out')}`;
}
