/**
 * The demo's routes, on `tessera-session/node`. The adapter loads `req.session` and commits it
 * when the response ends; the CSRF check runs here rather than in the adapter so that the
 * contract's order holds: 401 `unauthenticated` → 403 `csrf` → 403 `reauth_required` → 404.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isTesseraError, type Session, type SessionManager } from 'tessera-session';
import type { SessionRequest } from 'tessera-session/node';
import type { AuditTrail, TrailEvent } from './audit.js';
import type { DemoConfig } from './config.js';
import {
  type Body,
  clientIp,
  errorReply,
  HttpError,
  header,
  html,
  json,
  localPath,
  parseBody,
  type Reply,
  seeOther,
  send,
  splitUrl,
  wantsHtml,
} from './http.js';
import type { AttemptLimiter } from './limits.js';
import type { DemoMetrics } from './metrics.js';
import {
  asNotice,
  homePage,
  loginPage,
  NOTICE_KEY,
  type Notice,
  reauthPage,
  type SessionFacts,
  sessionsPage,
  signedOutPage,
  type Viewer,
} from './pages.js';
import { foldUsername, MAX_PASSWORD_LENGTH, type Users } from './users.js';

/** What the routes need. */
export interface AppDeps {
  config: DemoConfig;
  engine: SessionManager;
  users: Users;
  limiter: AttemptLimiter;
  audit: AuditTrail;
  metrics: DemoMetrics;
  log: Logger;
}

/** Largest merged preferences object, in UTF-8 bytes of its JSON. */
export const PREFS_LIMIT = 4096;
/** Deepest nesting of objects and arrays in a prefs patch, the patch object being level 1. */
export const PREFS_MAX_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

interface Ctx {
  req: SessionRequest;
  s: Session;
  method: string;
  path: string;
  query: URLSearchParams;
  ip: string;
  userAgent: string | null;
  body: Body;
}

type Handler = (ctx: Ctx) => Promise<Reply>;

interface ApiRoute {
  methods: Record<string, Handler>;
  /** Needs a login within `TESSERA_FRESH_AGE`. */
  fresh?: boolean;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function isUnsafe(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(method);
}

function signedIn(s: Session): boolean {
  return s.userId !== null && (s.state === 'active' || s.state === 'grace');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Whether a parsed JSON value is acceptable as a prefs patch: no prototype-polluting key at any
 * depth, and objects and arrays nested at most {@link PREFS_MAX_DEPTH} deep (the patch itself
 * is level 1). The walk is iterative, with the depth known before a level is entered, so no
 * input can overflow the stack (a 16 KiB body holds 8,000 nested arrays).
 */
function isSafePrefsValue(value: unknown): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > PREFS_MAX_DEPTH) return false;
    if (Array.isArray(v)) {
      for (const item of v) stack.push([item, depth + 1]);
      continue;
    }
    for (const [k, item] of Object.entries(v)) {
      if (FORBIDDEN_KEYS.has(k)) return false;
      stack.push([item, depth + 1]);
    }
  }
  return true;
}

/** `current` with `patch` applied key by key; `null` deletes a key. */
function mergePrefs(current: unknown, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = isPlainObject(current) ? { ...current } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else
      Object.defineProperty(out, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return out;
}

function prefsBytes(prefs: Record<string, unknown>): number {
  return Buffer.byteLength(JSON.stringify(prefs), 'utf8');
}

/** The fields of a form or JSON-object body. */
function fieldsOf(body: Body): Record<string, unknown> {
  if (body.kind === 'form') return body.fields;
  if (body.kind === 'json' && isPlainObject(body.value)) return body.value;
  if (body.kind === 'none') return {};
  throw new HttpError(400, 'bad_request');
}

function stringField(fields: Record<string, unknown>, name: string): string {
  const v = Object.hasOwn(fields, name) ? fields[name] : undefined;
  if (typeof v !== 'string') throw new HttpError(400, 'bad_request');
  return v;
}

/**
 * Build the request handler to wrap with `session(engine)` from `tessera-session/node`.
 * @param deps - engine, store-backed services, config and logger
 * @returns a node:http handler that expects `req.session`
 * @example http.createServer(session(engine, { skipCSRF: () => true })(createApp(deps)))
 */
export function createApp(
  deps: AppDeps,
): (req: SessionRequest, res: ServerResponse) => Promise<void> {
  const { config, engine, users, limiter, audit, metrics, log } = deps;

  function event(ctx: Ctx, type: TrailEvent['type'], extra: Partial<TrailEvent> = {}): TrailEvent {
    return { type, at: new Date().toISOString(), ip: ctx.ip, userAgent: ctx.userAgent, ...extra };
  }

  function viewer(ctx: Ctx, withToken: boolean): Viewer {
    const user = signedIn(ctx.s) ? ctx.s.userId : null;
    return { user, csrf: user !== null || withToken ? ctx.s.csrfToken() : '' };
  }

  function requireUser(ctx: Ctx): string {
    if (!signedIn(ctx.s)) {
      metrics.rejections.inc({ reason: 'unauthenticated' });
      throw new HttpError(401, 'unauthenticated');
    }
    return ctx.s.userId!;
  }

  /** Read the body and run the CSRF check (token in the header, or `_csrf` in a form). */
  async function checkUnsafe(ctx: Ctx): Promise<void> {
    ctx.body = await parseBody(ctx.req);
    const get = (n: string) => header(ctx.req, n);
    const field = ctx.body.kind === 'form' ? ctx.body.fields[engine.csrf.fieldName] : undefined;
    const presented = get(engine.csrf.headerName) || field || undefined;
    const host = get('host');
    const result = engine.verifyCSRF(
      ctx.s,
      {
        method: ctx.method,
        secFetchSite: get('sec-fetch-site'),
        origin: get('origin'),
        referer: get('referer'),
        selfOrigin: host ? `http://${host}` : undefined,
      },
      presented,
    );
    if (!result.ok) throw new HttpError(403, 'csrf');
  }

  function requireFresh(ctx: Ctx): void {
    if (!ctx.s.isFresh(config.freshAge)) {
      metrics.rejections.inc({ reason: 'reauth_required' });
      throw new HttpError(403, 'reauth_required');
    }
  }

  /**
   * Check a password under the login limit. The attempt is reserved (counted) before the
   * password is verified, so parallel guesses cannot all slip under the limit; refused attempts
   * (429) are never verified; wrong passwords count, known user name or not; a right one gives
   * its slot back (a success neither counts nor resets the count).
   */
  async function checkPassword(
    ctx: Ctx,
    name: string,
    password: string,
    purpose: 'login' | 'reauth' | 'password',
  ): Promise<string> {
    const attempt = await limiter.reserve(name, ctx.ip);
    if (attempt.limited) {
      metrics.logins.inc({ result: 'limited' });
      metrics.rejections.inc({ reason: 'login_limited' });
      log.warn({ audit: 'limit', purpose, ip: ctx.ip }, 'login limit reached');
      throw new HttpError(429, 'rate_limited', { 'retry-after': String(attempt.retryAfter) });
    }
    let user: string | null;
    try {
      user = await users.verify(name, password);
    } catch (e) {
      // Not checked (the store failed): the attempt does not count.
      await attempt.refund().catch(() => {});
      throw e;
    }
    if (user === null) {
      metrics.logins.inc({ result: 'failure' });
      metrics.rejections.inc({ reason: 'bad_password' });
      const folded = foldUsername(name);
      if (users.exists(folded)) {
        void audit.recordFailure(folded, event(ctx, 'login_failed', { reason: purpose }));
      } else
        log.info({ audit: 'login_failed', ip: ctx.ip, reason: 'unknown_user' }, 'login_failed');
      throw new HttpError(401, 'invalid_credentials');
    }
    await attempt.refund();
    return user;
  }

  /**
   * 204 for scripts, 303 back to a page for HTML forms; a form gets `notice` shown once on the
   * page it lands on (kept in the session's data, so the redirect itself is unchanged).
   */
  function done(
    ctx: Ctx,
    page: string,
    headers: Record<string, string> = {},
    notice?: Notice,
  ): Reply {
    if (ctx.body.kind !== 'form') return { status: 204, headers };
    if (notice) ctx.s.set(NOTICE_KEY, notice);
    return seeOther(page, headers);
  }

  // ---- pages ----------------------------------------------------------------------------------

  async function home(ctx: Ctx): Promise<Reply> {
    const s = ctx.s;
    if (!signedIn(s)) return html(200, homePage(viewer(ctx, false), null, null));
    await s.save(); // writes a due touch, so the idle deadline shown is the one enforced
    const at = s.authenticatedAt;
    const facts: SessionFacts = {
      createdAt: s.createdAt,
      lastSeenAt: s.lastSeenAt,
      authenticatedAt: at,
      idleExpiresAt: s.idleExpiresAt,
      absoluteExpiresAt: s.absoluteExpiresAt,
      fresh: s.isFresh(config.freshAge),
      freshUntil: at === null ? null : at + config.freshAge * 1000,
      readOnly: s.state === 'grace',
    };
    return html(200, homePage(viewer(ctx, false), facts, s.get('prefs') ?? {}));
  }

  async function login(ctx: Ctx): Promise<Reply> {
    // Before the password check: a revocation that lands during the check refuses this sign-in.
    const startedAt = engine.now();
    await checkUnsafe(ctx);
    const fields = fieldsOf(ctx.body);
    const username = stringField(fields, 'username');
    const password = stringField(fields, 'password');
    if (username.length > 256) throw new HttpError(400, 'bad_request');
    let user: string;
    try {
      user = await checkPassword(ctx, username, password, 'login');
    } catch (e) {
      if (e instanceof HttpError && ctx.body.kind === 'form' && wantsHtml(ctx.req)) {
        const message =
          e.status === 429
            ? `Too many failed attempts. Try again in ${e.headers['retry-after']} seconds.`
            : 'Wrong user name or password.';
        return html(e.status, loginPage(viewer(ctx, true), message, username), e.headers);
      }
      throw e;
    }
    metrics.logins.inc({ result: 'success' });
    const headers: Record<string, string> = {};
    const s = ctx.s;
    if (s.isActive && s.handle !== null) {
      // Signing in again over a live session: end it and start a new one, so that the old token
      // never reads the new session and its later use is no theft signal (a same-user
      // `authenticate` would be a re-auth rotation with a grace window instead).
      await engine.revoke(s.handle);
      const next = await engine.load({
        method: ctx.method,
        userAgent: ctx.userAgent ?? undefined,
        ip: ctx.ip,
        startedAt,
      });
      await next.authenticate(user);
      const committed = await engine.commit(next);
      if (committed.setCookie) headers['set-cookie'] = committed.setCookie;
      headers['x-csrf-token'] = next.csrfToken();
      await audit.record(user, event(ctx, 'login', { handle: next.handle ?? '' }));
    } else {
      await s.authenticate(user);
      headers['x-csrf-token'] = s.csrfToken();
      await audit.record(user, event(ctx, 'login', { handle: s.handle ?? '' }));
    }
    return seeOther('/', headers);
  }

  async function reauthForm(ctx: Ctx): Promise<Reply> {
    const user = requireUser(ctx);
    await checkUnsafe(ctx);
    const fields = fieldsOf(ctx.body);
    const password = stringField(fields, 'password');
    const next = localPath(ctx.query.get('next') ?? fields.next, '/');
    try {
      await checkPassword(ctx, user, password, 'reauth');
    } catch (e) {
      if (e instanceof HttpError && ctx.body.kind === 'form' && wantsHtml(ctx.req)) {
        const message =
          e.status === 429
            ? `Too many failed attempts. Try again in ${e.headers['retry-after']} seconds.`
            : 'That password is not right.';
        return html(e.status, reauthPage(viewer(ctx, true), next, message), e.headers);
      }
      throw e;
    }
    await ctx.s.authenticate(user);
    await audit.record(user, event(ctx, 'reauth', { handle: ctx.s.handle ?? '' }));
    return seeOther(next, { 'x-csrf-token': ctx.s.csrfToken() });
  }

  async function logout(ctx: Ctx): Promise<Reply> {
    const user = requireUser(ctx);
    await checkUnsafe(ctx);
    const handle = ctx.s.handle ?? '';
    await ctx.s.destroy();
    await audit.record(user, event(ctx, 'logout', { handle }));
    return seeOther('/', { 'clear-site-data': '"cookies"' });
  }

  async function sessionsView(ctx: Ctx): Promise<Reply> {
    const v = viewer(ctx, false);
    if (v.user === null) return html(200, signedOutPage(v, 'Sessions'));
    const [list, events] = await Promise.all([engine.list(v.user), audit.list(v.user)]);
    // Shown once: a GET takes the notice out of the session (a HEAD, or a read-only request in
    // a rotation grace window, leaves it for the next view).
    const pending = ctx.s.get(NOTICE_KEY);
    if (pending !== undefined && ctx.method === 'GET' && ctx.s.state === 'active')
      ctx.s.unset(NOTICE_KEY);
    const rows = list.map((i) => ({
      handle: i.handle,
      createdAt: i.createdAt,
      lastSeenAt: i.lastSeenAt,
      ip: i.ip,
      userAgent: i.userAgent,
      current: i.handle === ctx.s.handle,
    }));
    return html(
      200,
      sessionsPage(v, rows, events, ctx.s.isFresh(config.freshAge), asNotice(pending)),
    );
  }

  // ---- API ------------------------------------------------------------------------------------

  const api: Record<string, ApiRoute> = {
    '/api/me': {
      methods: {
        GET: async ({ s }) => {
          await s.save(); // a due touch is written first: idleExpiresAt is the enforced deadline
          return json(200, {
            user: s.userId,
            session: {
              createdAt: iso(s.createdAt),
              idleExpiresAt: iso(s.idleExpiresAt),
              absoluteExpiresAt: iso(s.absoluteExpiresAt),
              authenticatedAt: iso(s.authenticatedAt),
            },
          });
        },
      },
    },
    '/api/sessions': {
      methods: {
        GET: async ({ s }) => {
          const list = await engine.list(s.userId!);
          return json(
            200,
            list.map((i) => ({
              handle: i.handle,
              createdAt: iso(i.createdAt),
              lastSeenAt: iso(i.lastSeenAt),
              userAgent: i.userAgent,
              ip: i.ip,
              current: i.handle === s.handle,
            })),
          );
        },
      },
    },
    '/api/events': {
      methods: { GET: async ({ s }) => json(200, await audit.list(s.userId!)) },
    },
    '/api/prefs': {
      methods: {
        GET: async ({ s }) => json(200, s.get('prefs') ?? {}),
        PATCH: async (ctx) => {
          const patch = ctx.body.kind === 'json' ? ctx.body.value : undefined;
          if (!isPlainObject(patch) || !isSafePrefsValue(patch))
            throw new HttpError(400, 'bad_request');
          if (prefsBytes(mergePrefs(ctx.s.get('prefs'), patch)) > PREFS_LIMIT)
            throw new HttpError(413, 'too_large');
          // `update` re-applies the merge to the latest stored value if another request wrote
          // first, so parallel PATCHes of different keys all survive.
          let tooLarge = false;
          ctx.s.update('prefs', (current) => {
            const merged = mergePrefs(current, patch);
            tooLarge = prefsBytes(merged) > PREFS_LIMIT;
            return tooLarge ? current : merged;
          });
          await ctx.s.save();
          if (tooLarge) throw new HttpError(413, 'too_large');
          return json(200, ctx.s.get('prefs') ?? {});
        },
      },
    },
    '/api/reauth': {
      methods: {
        POST: async (ctx) => {
          const user = ctx.s.userId!;
          const password = stringField(fieldsOf(ctx.body), 'password');
          await checkPassword(ctx, user, password, 'reauth');
          await ctx.s.authenticate(user);
          await audit.record(user, event(ctx, 'reauth', { handle: ctx.s.handle ?? '' }));
          return done(ctx, '/', { 'x-csrf-token': ctx.s.csrfToken() });
        },
      },
    },
    '/api/password': {
      fresh: true,
      methods: {
        POST: async (ctx) => {
          const user = ctx.s.userId!;
          const fields = fieldsOf(ctx.body);
          const current = stringField(fields, 'current');
          const next = stringField(fields, 'next');
          await checkPassword(ctx, user, current, 'password');
          if ([...next].length < 8 || next === current || next.length > MAX_PASSWORD_LENGTH)
            throw new HttpError(400, 'weak_password');
          await users.setPassword(user, next);
          await engine.revokeOthers(ctx.s);
          await ctx.s.regenerate();
          await audit.record(user, event(ctx, 'password_changed', { handle: ctx.s.handle ?? '' }));
          return done(ctx, '/sessions', { 'x-csrf-token': ctx.s.csrfToken() }, 'password_changed');
        },
      },
    },
    '/api/sessions/revoke-others': {
      fresh: true,
      methods: {
        POST: async (ctx) => {
          const user = ctx.s.userId!;
          await engine.revokeOthers(ctx.s);
          await audit.record(user, event(ctx, 'revoke_others', { handle: ctx.s.handle ?? '' }));
          return done(ctx, '/sessions', {}, 'revoked_others');
        },
      },
    },
  };

  const revokeRoute: ApiRoute = {
    fresh: true,
    methods: {
      POST: async (ctx) => {
        const user = ctx.s.userId!;
        const raw = /^\/api\/sessions\/([^/]+)\/revoke$/.exec(ctx.path)![1]!;
        let handle: string;
        try {
          handle = decodeURIComponent(raw);
        } catch {
          throw new HttpError(404, 'not_found');
        }
        if (!/^[A-Za-z0-9_.-]{1,200}$/.test(handle)) throw new HttpError(404, 'not_found');
        if (handle === ctx.s.handle) {
          await ctx.s.destroy();
          await audit.record(user, event(ctx, 'revoke', { handle, reason: 'current' }));
          return done(ctx, '/');
        }
        if (!(await engine.revoke(handle, { userId: user }))) throw new HttpError(404, 'not_found');
        await audit.record(user, event(ctx, 'revoke', { handle }));
        return done(ctx, '/sessions', {}, 'revoked');
      },
    },
  };

  function notAllowed(allowed: string[]): never {
    const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
    throw new HttpError(405, 'method_not_allowed', { allow: allow.join(', ') });
  }

  async function apiRoute(ctx: Ctx): Promise<Reply> {
    const m = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    if (ctx.path === '/api/csrf') {
      if (m !== 'GET') notAllowed(['GET']);
      return json(200, { token: ctx.s.csrfToken() });
    }
    requireUser(ctx);
    if (isUnsafe(ctx.method)) await checkUnsafe(ctx);
    const route =
      api[ctx.path] ??
      (/^\/api\/sessions\/[^/]+\/revoke$/.test(ctx.path) ? revokeRoute : undefined);
    if (!route) throw new HttpError(404, 'not_found');
    const handler = route.methods[m];
    if (!handler) notAllowed(Object.keys(route.methods));
    if (route.fresh) requireFresh(ctx);
    return handler(ctx);
  }

  async function pageRoute(ctx: Ctx): Promise<Reply> {
    const m = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    switch (ctx.path) {
      case '/':
        if (m === 'GET') return home(ctx);
        return notAllowed(['GET']);
      case '/login':
        if (m === 'GET') return html(200, loginPage(viewer(ctx, true), null));
        if (m === 'POST') return login(ctx);
        return notAllowed(['GET', 'POST']);
      case '/reauth':
        if (m === 'GET')
          return html(200, reauthPage(viewer(ctx, false), localPath(ctx.query.get('next')), null));
        if (m === 'POST') return reauthForm(ctx);
        return notAllowed(['GET', 'POST']);
      case '/logout':
        if (m === 'POST') return logout(ctx);
        return notAllowed(['POST']);
      case '/sessions':
        if (m === 'GET') return sessionsView(ctx);
        return notAllowed(['GET']);
      default:
        throw new HttpError(404, 'not_found');
    }
  }

  function toReply(err: unknown): Reply {
    if (err instanceof HttpError) return errorReply(err);
    if (isTesseraError(err)) {
      switch (err.code) {
        case 'ERR_STORE_UNAVAILABLE':
          log.error({ err: err.message }, 'store unavailable');
          return json(503, { error: 'store_unavailable' }, { 'retry-after': '1' });
        case 'ERR_CONFLICT':
          return json(409, { error: 'conflict' });
        case 'ERR_DATA_TOO_LARGE':
          return json(413, { error: 'too_large' });
        case 'ERR_SESSION_READ_ONLY':
          return json(409, { error: 'read_only' });
        case 'ERR_SESSION_REVOKED':
          return json(401, { error: 'session_revoked' });
        case 'ERR_INVALID_DATA':
        case 'ERR_BAD_REQUEST':
          return json(400, { error: 'bad_request' });
        default:
          break;
      }
    }
    log.error({ err }, 'unexpected error');
    return json(500, { error: 'internal' });
  }

  return async (req, res) => {
    const { path, query } = splitUrl(req.url);
    const ua = header(req, 'user-agent');
    const ctx: Ctx = {
      req,
      s: req.session as Session,
      method: (req.method ?? 'GET').toUpperCase(),
      path,
      query,
      ip: clientIp(req),
      userAgent: ua ?? null,
      body: { kind: 'none' },
    };
    let reply: Reply;
    try {
      reply =
        path === '/api' || path.startsWith('/api/') ? await apiRoute(ctx) : await pageRoute(ctx);
    } catch (e) {
      reply = toReply(e);
    }
    // Events of this request (the engine's and ours) are in the store before the answer goes.
    await audit.flush();
    send(res, reply);
  };
}
