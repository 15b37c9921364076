/**
 * node:http + SQLite with tessera: sign-in through an HTML form carrying the `_csrf` field, a
 * CSRF-protected form, the user's sessions with "revoke" and "sign out other sessions", and
 * sign-out. Run it: see README.md in this folder.
 */
import { createServer, type ServerResponse } from 'node:http';
import { createSessions, type SessionInfo } from 'tessera-session';
import { loadKeys } from 'tessera-session/keys';
import { csrfToken, login, logout, session } from 'tessera-session/node';
import { sqliteStore } from 'tessera-session/sqlite';

// Keys as docs/keys.md says: TESSERA_KEYS in production. This example also allows a development
// key file in .tessera/ (made once, shared by restarts); a real app drops `production: false`.
const keys = loadKeys({ env: process.env.TESSERA_KEYS, dir: '.tessera', production: false });
const sessions = createSessions({ store: sqliteStore({ path: 'sessions.db' }), keys });
const withSession = session(sessions); // req.session; CSRF on unsafe methods; cookie on the way out

const html = (res: ServerResponse, body: string) =>
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
const redirect = (res: ServerResponse, location: string) => res.writeHead(303, { location }).end();

const server = createServer(
  withSession(async (req, res) => {
    const route = `${req.method} ${new URL(req.url ?? '/', 'http://localhost').pathname}`;
    // The adapter parsed the urlencoded form to find _csrf, and left it in req.body.
    const body = (req.body ?? {}) as Record<string, string | undefined>;
    if (route === 'GET /') {
      if (req.session.userId) return redirect(res, '/account');
      return html(res, signInPage(csrfToken(req)));
    }
    if (route === 'POST /login') {
      if (!/^\w{1,32}$/.test(body.user ?? '')) return res.writeHead(400).end('Bad user name');
      await login(req, body.user!); // a real app checks the password first; login rotates the token
      return redirect(res, '/account');
    }
    if (route === 'POST /logout') {
      await logout(req);
      return redirect(res, '/');
    }

    // Every route below is for signed-in users: anyone else goes to the sign-in form.
    const user = req.session.userId;
    if (!user) return redirect(res, '/');
    if (route === 'GET /account') {
      const list = await sessions.list(user);
      const { handle } = req.session;
      return html(res, accountPage(user, req.session.get('note'), list, handle, csrfToken(req)));
    }
    if (route === 'POST /note') {
      req.session.set('note', String(body.note ?? '').slice(0, 200));
      return redirect(res, '/account');
    }
    const revoke = /^POST \/sessions\/([^/]+)\/revoke$/.exec(route);
    if (revoke) {
      // Only one of the user's own sessions: the handle must be in their list.
      const mine = await sessions.list(user);
      if (mine.some((s) => s.handle === revoke[1])) await sessions.revoke(revoke[1]!);
      return redirect(res, '/account');
    }
    if (route === 'POST /sessions/revoke-others') {
      await sessions.revokeOthers(req.session);
      return redirect(res, '/account');
    }
    res.writeHead(404).end('Not found');
  }),
);
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');

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
