/**
 * Fastify 5 + PostgreSQL with tessera: sign-in through an HTML form carrying the `_csrf` field, a
 * CSRF-protected form, the user's sessions with "revoke" and "sign out other sessions", and
 * sign-out. Run it: see README.md in this folder.
 */
import Fastify from 'fastify';
import { createSessions, type SessionInfo } from 'tessera-session';
import { csrfToken, login, logout, session } from 'tessera-session/fastify';
import { loadKeys } from 'tessera-session/keys';
import { connectPostgres, postgresStore } from 'tessera-session/postgres';

// Keys as docs/keys.md says: TESSERA_KEYS in production. This example also allows a development
// key file in .tessera/ (made once, shared by restarts); a real app drops `production: false`.
const keys = loadKeys({ env: process.env.TESSERA_KEYS, dir: '.tessera', production: false });
const pool = await connectPostgres(
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
);
// The store creates its schema and tables at first use (migrate: true).
const store = postgresStore({ pool, schema: process.env.DATABASE_SCHEMA ?? 'tessera' });
const sessions = createSessions({ store, keys });

type Form = { Body: Record<string, string | undefined> };

const app = Fastify();
// request.session, CSRF on unsafe methods, the cookie in onSend; also parses urlencoded forms.
await app.register(session(sessions));

app.get('/', async (request, reply) => {
  if (request.session.userId) return reply.redirect('/account', 303);
  return reply.type('text/html').send(signInPage(csrfToken(request)));
});

app.post<Form>('/login', async (request, reply) => {
  const user = request.body?.user ?? '';
  if (!/^\w{1,32}$/.test(user)) return reply.code(400).send('Bad user name');
  await login(request, user); // a real app checks the password first; login rotates the token
  return reply.redirect('/account', 303);
});

app.post('/logout', async (request, reply) => {
  await logout(request);
  return reply.redirect('/', 303);
});

// Every route in this scope is for signed-in users: anyone else goes to the sign-in form.
await app.register(async (account) => {
  account.addHook('preHandler', async (request, reply) => {
    if (!request.session.userId) return reply.redirect('/', 303);
  });

  account.get('/account', async (request, reply) => {
    const { userId, handle } = request.session;
    const list = await sessions.list(userId!);
    const note = request.session.get('note');
    return reply
      .type('text/html')
      .send(accountPage(userId!, note, list, handle, csrfToken(request)));
  });

  account.post<Form>('/note', async (request, reply) => {
    request.session.set('note', String(request.body?.note ?? '').slice(0, 200));
    return reply.redirect('/account', 303);
  });

  account.post<{ Params: { handle: string } }>(
    '/sessions/:handle/revoke',
    async (request, reply) => {
      // Only one of the user's own sessions: the handle must be in their list.
      const { handle } = request.params;
      const mine = await sessions.list(request.session.userId!);
      if (mine.some((s) => s.handle === handle)) await sessions.revoke(handle);
      return reply.redirect('/account', 303);
    },
  );

  account.post('/sessions/revoke-others', async (request, reply) => {
    await sessions.revokeOthers(request.session);
    return reply.redirect('/account', 303);
  });
});

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });

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
