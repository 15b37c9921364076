/**
 * A fetch-style handler (`Request` → `Response`, as in Next.js route handlers on the Node runtime,
 * Remix, Bun.serve or Deno.serve) + the memory store with tessera: sign-in through an HTML form
 * carrying the `_csrf` field, a CSRF-protected form, the user's sessions with "revoke" and "sign
 * out other sessions", and sign-out. Served here by @hono/node-server; under Bun it would be
 * `Bun.serve({ fetch: app })`. Run it: see README.md in this folder.
 */
import { serve } from '@hono/node-server';
import { createSessions, type SessionInfo } from 'tessera-session';
import { csrfToken, login, logout, session } from 'tessera-session/fetch';
import { loadKeys } from 'tessera-session/keys';
import { memoryStore } from 'tessera-session/memory';

// Keys as docs/keys.md says: TESSERA_KEYS in production. This example also allows a development
// key file in .tessera/ (made once, shared by restarts); a real app drops `production: false`.
const keys = loadKeys({ env: process.env.TESSERA_KEYS, dir: '.tessera', production: false });
// One process only: the memory store forgets every session on restart.
const sessions = createSessions({ store: memoryStore(), keys });
const handle = session(sessions); // the cookie is applied to the Response after the handler ran

const html = (body: string) =>
  new Response(body, { headers: { 'content-type': 'text/html; charset=utf-8' } });
const redirect = (location: string) => new Response(null, { status: 303, headers: { location } });

export const app = (request: Request): Promise<Response> =>
  handle(request, async (s, req) => {
    const route = `${req.method} ${new URL(req.url).pathname}`;
    if (route === 'GET /')
      return s.userId ? redirect('/account') : html(signInPage(csrfToken(req)));
    if (route === 'POST /login') {
      const user = (await req.formData()).get('user'); // tessera read a clone: the body is intact
      if (typeof user !== 'string' || !/^\w{1,32}$/.test(user))
        return new Response('Bad user name', { status: 400 });
      await login(req, user); // a real app checks the password first; login rotates the token
      return redirect('/account');
    }
    if (route === 'POST /logout') {
      await logout(req);
      return redirect('/');
    }

    // Every route below is for signed-in users: anyone else goes to the sign-in form.
    const user = s.userId;
    if (!user) return redirect('/');
    if (route === 'GET /account') {
      const list = await sessions.list(user);
      return html(accountPage(user, s.get('note'), list, s.handle, csrfToken(req)));
    }
    if (route === 'POST /note') {
      s.set('note', String((await req.formData()).get('note') ?? '').slice(0, 200));
      return redirect('/account');
    }
    const revoke = /^POST \/sessions\/([^/]+)\/revoke$/.exec(route);
    if (revoke) {
      // Only one of the user's own sessions: the handle must be in their list.
      const mine = await sessions.list(user);
      if (mine.some((x) => x.handle === revoke[1])) await sessions.revoke(revoke[1]!);
      return redirect('/account');
    }
    if (route === 'POST /sessions/revoke-others') {
      await sessions.revokeOthers(s);
      return redirect('/account');
    }
    return new Response('Not found', { status: 404 });
  });

serve({ fetch: app, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' });

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
