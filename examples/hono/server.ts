/**
 * Hono 4 + SQLite with tessera, served by @hono/node-server: sign-in through an HTML form
 * carrying the `_csrf` field, a CSRF-protected form, the user's sessions with "revoke" and "sign
 * out other sessions", and sign-out. Run it: see README.md in this folder.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createSessions, type SessionInfo } from 'tessera-session';
import { csrfToken, login, logout, type SessionEnv, session } from 'tessera-session/hono';
import { loadKeys } from 'tessera-session/keys';
import { sqliteStore } from 'tessera-session/sqlite';

// Keys as docs/keys.md says: TESSERA_KEYS in production. This example also allows a development
// key file in .tessera/ (made once, shared by restarts); a real app drops `production: false`.
const keys = loadKeys({ env: process.env.TESSERA_KEYS, dir: '.tessera', production: false });
const sessions = createSessions({ store: sqliteStore({ path: 'sessions.db' }), keys });

const app = new Hono<SessionEnv>(); // c.get('session') is typed
app.use(session(sessions)); // CSRF on unsafe methods; the cookie after the handler

app.get('/', (c) => {
  if (c.get('session').userId) return c.redirect('/account', 303);
  return c.html(signInPage(csrfToken(c)));
});

app.post('/login', async (c) => {
  const { user } = await c.req.parseBody(); // the middleware read a copy; the body is intact
  if (typeof user !== 'string' || !/^\w{1,32}$/.test(user)) return c.text('Bad user name', 400);
  await login(c, user); // a real app checks the password first; login rotates the token
  return c.redirect('/account', 303);
});

app.post('/logout', async (c) => {
  await logout(c);
  return c.redirect('/', 303);
});

// Every route below is for signed-in users: anyone else goes to the sign-in form.
app.use(async (c, next) => {
  if (!c.get('session').userId) return c.redirect('/', 303);
  await next();
});

app.get('/account', async (c) => {
  const s = c.get('session');
  const list = await sessions.list(s.userId!);
  return c.html(accountPage(s.userId!, s.get('note'), list, s.handle, csrfToken(c)));
});

app.post('/note', async (c) => {
  const { note } = await c.req.parseBody();
  c.get('session').set('note', String(note ?? '').slice(0, 200));
  return c.redirect('/account', 303);
});

app.post('/sessions/:handle/revoke', async (c) => {
  // Only one of the user's own sessions: the handle must be in their list.
  const handle = c.req.param('handle');
  const mine = await sessions.list(c.get('session').userId!);
  if (mine.some((s) => s.handle === handle)) await sessions.revoke(handle);
  return c.redirect('/account', 303);
});

app.post('/sessions/revoke-others', async (c) => {
  await sessions.revokeOthers(c.get('session'));
  return c.redirect('/account', 303);
});

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' });

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
