/**
 * Server-rendered pages: plain HTML with one stylesheet, no script (the CSP allows none). Every
 * value that came from a user, a header or the store goes through {@link escapeHtml}.
 */
import type { TrailEvent } from './audit.js';
import { DEMO_USERS } from './users.js';

/** Escape text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Who is looking at a page. */
export interface Viewer {
  /** The signed-in user, or null. */
  user: string | null;
  /** The CSRF token for this page's forms. */
  csrf: string;
}

/** A session as the pages show it. */
export interface SessionRow {
  handle: string;
  createdAt: number;
  lastSeenAt: number;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

/** Facts about the current session for the home page. */
export interface SessionFacts {
  createdAt: number | null;
  lastSeenAt: number | null;
  authenticatedAt: number | null;
  idleExpiresAt: number | null;
  absoluteExpiresAt: number | null;
  fresh: boolean;
  freshUntil: number | null;
  readOnly: boolean;
}

function time(ms: number | string | null): string {
  if (ms === null) return '<span class="muted">—</span>';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '<span class="muted">—</span>';
  const iso = d.toISOString();
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 19).replace('T', ' '))} UTC</time>`;
}

/** `text` cut to at most `max` characters, with an ellipsis when cut. */
function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function csrfField(token: string): string {
  return `<input type="hidden" name="_csrf" value="${escapeHtml(token)}">`;
}

/** A short, readable name for a user agent. */
export function deviceName(ua: string | null): string {
  if (!ua) return 'Unknown client';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /HeadlessChrome|Chromium|Chrome\//.test(ua)
      ? /Headless/.test(ua)
        ? 'Headless Chrome'
        : 'Chrome'
      : /Firefox\//.test(ua)
        ? 'Firefox'
        : /Safari\//.test(ua)
          ? 'Safari'
          : /^curl\//.test(ua)
            ? 'curl'
            : /node|undici/i.test(ua)
              ? 'Node.js'
              : ua.split(/[ /]/)[0] || 'Unknown client';
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /Android/.test(ua)
      ? 'Android'
      : /iPhone|iPad/.test(ua)
        ? 'iOS'
        : /Mac OS X/.test(ua)
          ? 'macOS'
          : /Linux/.test(ua)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}

function layout(title: string, viewer: Viewer, main: string, nav: string): string {
  const link = (href: string, label: string) =>
    `<a href="${href}"${nav === href ? ' aria-current="page"' : ''}>${label}</a>`;
  const account = viewer.user
    ? `<div class="account"><span class="who">Signed in as ${escapeHtml(viewer.user)}</span>
      <form method="post" action="/logout" class="inline">${csrfField(viewer.csrf)}<button type="submit" class="btn btn-ghost">Log out</button></form></div>`
    : `<div class="account"><a class="btn btn-primary" href="/login">Sign in</a></div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · tessera demo</title>
<link rel="stylesheet" href="/style.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
</head>
<body>
<header class="top">
  <a class="brand" href="/"><span class="logo" aria-hidden="true"></span>tessera <span class="tag">demo</span></a>
  <nav>${link('/', 'Home')}${viewer.user ? link('/sessions', 'Sessions &amp; security') : ''}</nav>
  ${account}
</header>
<main>
${main}
</main>
<footer>tessera-session · hashed 256-bit tokens · <code>__Host-</code> cookie · CSRF tokens · encrypted data at rest · <a href="/metrics">metrics</a></footer>
</body>
</html>
`;
}

function alert(kind: 'error' | 'info' | 'ok' | 'warn', text: string): string {
  return `<p class="alert alert-${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</p>`;
}

/** The home page, signed in or out. */
export function homePage(viewer: Viewer, facts: SessionFacts | null, prefs: unknown): string {
  if (!viewer.user || !facts) {
    const users = Object.keys(DEMO_USERS)
      .map(
        (u) => `<li><code>${escapeHtml(u)}</code> / <code>${escapeHtml(DEMO_USERS[u])}</code></li>`,
      )
      .join('');
    return layout(
      'Welcome',
      viewer,
      `<section class="hero">
  <h1>Sessions, done carefully.</h1>
  <p class="lead">You are signed out. Sign in to see tessera at work: a rotating, HttpOnly <code>__Host-</code> cookie,
  CSRF-protected forms, re-authentication before sensitive actions, a list of your sessions that you can end,
  and a trail of security events.</p>
  <p><a class="btn btn-primary btn-lg" href="/login">Sign in</a></p>
</section>
<section class="card">
  <h2>Demo accounts</h2>
  <ul class="plain">${users}</ul>
  <p class="muted">Passwords are scrypt-hashed and kept in the session store, so every instance sees a change.</p>
</section>`,
      '/',
    );
  }
  const fresh = facts.fresh
    ? `<span class="badge badge-ok">fresh until ${time(facts.freshUntil)}</span>`
    : `<span class="badge badge-warn">not fresh</span> <a href="/reauth?next=%2F">Confirm your password</a>`;
  const prefsText = JSON.stringify(prefs ?? {}, null, 2);
  return layout(
    'Home',
    viewer,
    `<section class="hero">
  <h1>Welcome, ${escapeHtml(viewer.user)}</h1>
  <p class="lead">This page knows you through one opaque cookie that scripts cannot read. The server keeps only a hash of it.</p>
  ${facts.readOnly ? alert('warn', 'This request used a rotated-out token inside its grace window: the page is read-only.') : ''}
</section>
<div class="grid">
<section class="card">
  <h2>This session</h2>
  <dl class="facts">
    <dt>Started</dt><dd>${time(facts.createdAt)}</dd>
    <dt>Last seen</dt><dd>${time(facts.lastSeenAt)}</dd>
    <dt>Signed in at</dt><dd>${time(facts.authenticatedAt)}</dd>
    <dt>Ends if idle at</dt><dd>${time(facts.idleExpiresAt)}</dd>
    <dt>Ends at the latest</dt><dd>${time(facts.absoluteExpiresAt)}</dd>
    <dt>Login</dt><dd>${fresh}</dd>
  </dl>
</section>
<section class="card">
  <h2>Preferences</h2>
  <p class="muted">Kept in this session's encrypted data; change them with <code>PATCH /api/prefs</code>.</p>
  <pre class="code">${escapeHtml(prefsText)}</pre>
  <p><a class="btn" href="/sessions">Manage sessions &amp; security</a></p>
</section>
</div>`,
    '/',
  );
}

/** The sign-in form. */
export function loginPage(viewer: Viewer, error: string | null, username = ''): string {
  return layout(
    'Sign in',
    viewer,
    `<section class="card narrow">
  <h1>Sign in</h1>
  ${viewer.user ? alert('info', `You are signed in as ${escapeHtml(viewer.user)}. Signing in again starts a new session.`) : ''}
  ${error ? alert('error', escapeHtml(error)) : ''}
  <form method="post" action="/login" class="stack">
    ${csrfField(viewer.csrf)}
    <label>User name <input name="username" autocomplete="username" required maxlength="256" value="${escapeHtml(username)}" autofocus></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
    <button type="submit" class="btn btn-primary">Sign in</button>
  </form>
  <p class="muted">Try <code>alice</code> / <code>alice-password</code> or <code>bob</code> / <code>bob-password</code>.</p>
</section>`,
    '/login',
  );
}

/** The re-authentication form. */
export function reauthPage(viewer: Viewer, next: string, error: string | null): string {
  if (!viewer.user) return signedOutPage(viewer, 'Confirm your password');
  return layout(
    'Confirm your password',
    viewer,
    `<section class="card narrow">
  <h1>Confirm it’s you</h1>
  <p class="muted">Sensitive actions need a recent sign-in. Enter your password again to continue; your session keeps its place in the list, and its token rotates.</p>
  ${error ? alert('error', escapeHtml(error)) : ''}
  <form method="post" action="/reauth?next=${escapeHtml(encodeURIComponent(next))}" class="stack">
    ${csrfField(viewer.csrf)}
    <input type="hidden" name="next" value="${escapeHtml(next)}">
    <label>Signed in as <input value="${escapeHtml(viewer.user)}" disabled></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024" autofocus></label>
    <button type="submit" class="btn btn-primary">Confirm</button>
  </form>
</section>`,
    '/reauth',
  );
}

/** A page for a signed-out visitor who asked for a signed-in page. */
export function signedOutPage(viewer: Viewer, title: string): string {
  return layout(
    title,
    viewer,
    `<section class="card narrow">
  <h1>You are signed out</h1>
  <p>This page needs a session. Your session may have ended, been revoked from another device, or expired.</p>
  <p><a class="btn btn-primary" href="/login">Sign in</a></p>
</section>`,
    '',
  );
}

/**
 * A one-time notice the sessions page shows after a form action, kept in the session's data
 * under {@link NOTICE_KEY} by the action and removed by the page that shows it.
 */
export type Notice = 'revoked' | 'revoked_others' | 'password_changed';

/** The session data key that holds a pending {@link Notice}. */
export const NOTICE_KEY = 'notice';

const NOTICE_TEXT: Record<Notice, string> = {
  revoked: 'Session revoked. That device is signed out and must sign in again.',
  revoked_others: 'Every other session is revoked. Only this one is still signed in.',
  password_changed: 'Password changed. Every other session is signed out.',
};

/** `value` as a {@link Notice}, or null when it is none (a missing or unknown value). */
export function asNotice(value: unknown): Notice | null {
  return typeof value === 'string' && Object.hasOwn(NOTICE_TEXT, value) ? (value as Notice) : null;
}

const EVENT_LABELS: Record<string, [string, string]> = {
  login: ['Signed in', 'ok'],
  login_failed: ['Failed sign-in', 'danger'],
  logout: ['Signed out', 'info'],
  reauth: ['Password confirmed', 'ok'],
  revoke: ['Session revoked', 'info'],
  revoke_others: ['Other sessions revoked', 'info'],
  password_changed: ['Password changed', 'warn'],
  csrf_rejected: ['Forged request blocked', 'danger'],
  theft_suspected: ['Stolen token suspected', 'danger'],
  expired: ['Session expired', 'info'],
};

/** The sessions and security page, with the notice of the action that led here, if any. */
export function sessionsPage(
  viewer: Viewer,
  sessions: SessionRow[],
  events: TrailEvent[],
  fresh: boolean,
  notice: Notice | null = null,
): string {
  if (!viewer.user) return signedOutPage(viewer, 'Sessions');
  const rows = sessions
    .map(
      (s) => `<tr${s.current ? ' class="current"' : ''}>
  <td class="device"><strong>${escapeHtml(deviceName(s.userAgent))}</strong>${s.current ? ' <span class="badge badge-ok">current session</span>' : ''}
    <div class="muted small" title="${escapeHtml(s.userAgent ?? '')}">${escapeHtml(shorten(s.userAgent ?? '', 72))}</div></td>
  <td class="ip" data-label="IP"><code>${escapeHtml(s.ip ?? '—')}</code></td>
  <td class="date" data-label="Started">${time(s.createdAt)}</td>
  <td class="date" data-label="Last seen">${time(s.lastSeenAt)}</td>
  <td class="actions"><form method="post" action="/api/sessions/${escapeHtml(encodeURIComponent(s.handle))}/revoke" class="inline">${csrfField(viewer.csrf)}<button type="submit" class="btn btn-danger btn-sm">${s.current ? 'Revoke (sign out here)' : 'Revoke'}</button></form></td>
</tr>`,
    )
    .join('\n');
  const trail =
    events.length === 0
      ? '<p class="muted">No security events yet.</p>'
      : `<ol class="events">${events
          .map((e) => {
            const [label, tone] = EVENT_LABELS[e.type] ?? [e.type, 'info'];
            return `<li><span class="badge badge-${tone}">${escapeHtml(label)}</span> <code class="small">${escapeHtml(e.type)}</code>${e.reason ? ` <span class="muted small">(${escapeHtml(e.reason)})</span>` : ''}
  <div class="muted small">${time(e.at)} · ${escapeHtml(e.ip ?? 'unknown IP')} · ${escapeHtml(deviceName(e.userAgent))}</div></li>`;
          })
          .join('\n')}</ol>`;
  return layout(
    'Sessions',
    viewer,
    `<section class="hero">
  <h1>Sessions &amp; security</h1>
  <p class="lead">Every device signed in as ${escapeHtml(viewer.user)}. Revoking one ends it at once, everywhere.</p>
  ${notice ? alert('ok', NOTICE_TEXT[notice]) : ''}
  ${
    fresh
      ? ''
      : alert(
          'warn',
          'Revoking sessions and changing your password need a fresh sign-in. <a href="/reauth?next=%2Fsessions">Confirm your password</a> first.',
        )
  }
</section>
<section class="card">
  <h2>Your sessions <span class="count">${sessions.length}</span></h2>
  <div class="table-wrap"><table class="sessions">
    <thead><tr><th>Device</th><th>IP</th><th>Started</th><th>Last seen</th><th></th></tr></thead>
    <tbody>
${rows}
    </tbody>
  </table></div>
  <form method="post" action="/api/sessions/revoke-others" class="inline revoke-others">${csrfField(viewer.csrf)}<button type="submit" class="btn btn-danger">Sign out every other session</button></form>
</section>
<div class="grid">
<section class="card">
  <h2>Change password</h2>
  <p class="muted">Changing it signs out every other session and rotates this one's token.</p>
  <form method="post" action="/api/password" class="stack">
    ${csrfField(viewer.csrf)}
    <label>Current password <input name="current" type="password" autocomplete="current-password" required maxlength="1024"></label>
    <label>New password <input name="next" type="password" autocomplete="new-password" required minlength="8" maxlength="1024"></label>
    <button type="submit" class="btn btn-primary">Change password</button>
  </form>
</section>
<section class="card">
  <h2>Recent security events</h2>
  ${trail}
</section>
</div>`,
    '/sessions',
  );
}
