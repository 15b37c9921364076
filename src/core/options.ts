/**
 * Engine options, presets and their defaults — in one place, as STYLE.md asks.
 */
import { assertCookieConfig } from './cookie.js';
import { normalizeOrigin } from './csrf.js';
import { TesseraError } from './errors.js';
import { type KeyInput, KeyRing } from './keys.js';
import { type GuessLimiter, memoryGuessLimiter } from './limiter.js';
import type { RegisteredData } from './register.js';
import type { SessionStore } from './types.js';

/**
 * Named timeout presets.
 * - `nist-aal1`: NIST SP 800-63B rev. 3 §4.1.3 — 30 days absolute; no idle limit is required, so
 *   idle equals absolute (a store TTL is never "forever").
 * - `nist-aal2` (the default): rev. 3 §4.2.3 — 12 h absolute, 30 min idle.
 * - `nist-aal3`: rev. 3 §4.3.3 — 12 h absolute, 15 min idle.
 * - `nist-aal2-rev4`: SP 800-63B-4 §2.2.3 — 24 h absolute, 1 h idle.
 * - `nist-aal3-rev4`: SP 800-63B-4 §2.3.3 — 12 h absolute, 15 min idle.
 */
export const PRESETS = {
  'nist-aal1': { idleTimeout: 30 * 86_400, absoluteTimeout: 30 * 86_400 },
  'nist-aal2': { idleTimeout: 30 * 60, absoluteTimeout: 12 * 3600 },
  'nist-aal3': { idleTimeout: 15 * 60, absoluteTimeout: 12 * 3600 },
  'nist-aal2-rev4': { idleTimeout: 60 * 60, absoluteTimeout: 24 * 3600 },
  'nist-aal3-rev4': { idleTimeout: 15 * 60, absoluteTimeout: 12 * 3600 },
} as const;

/** A preset name. */
export type PresetName = keyof typeof PRESETS;

/** Cookie options. */
export interface CookieOptions {
  /** @default '__Host-tessera' */
  name?: string;
  /** A persistent cookie (Max-Age up to the absolute deadline) instead of a browser-session cookie. @default false */
  persistent?: boolean;
  /** @default 'Lax' */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** @default true */
  secure?: boolean;
  /** @default true — turning it off lets scripts read the token (doctor flags it). */
  httpOnly?: boolean;
  /** @default '/' */
  path?: string;
  /** Never with the default `__Host-` name. */
  domain?: string;
}

/** CSRF options. */
export interface CSRFOptions {
  /** @default true */
  enabled?: boolean;
  /**
   * Origins allowed to send unsafe requests, e.g. `['https://app.example.com']`.
   * @default [] — only the origin the request was addressed to
   */
  origins?: readonly string[];
  /** @default 'x-csrf-token' */
  headerName?: string;
  /** Urlencoded form field. @default '_csrf' */
  fieldName?: string;
  /** Accept `Sec-Fetch-Site: same-site` (sibling subdomains). @default false */
  allowSameSite?: boolean;
  /** Log-only rollout: check and emit `csrf_rejected`, but let the request through. @default false */
  reportOnly?: boolean;
}

/** What to do when a rotated-out authenticated token comes back after its grace window. */
export type TheftPolicy = 'revoke' | 'event';

/** Options of {@link createSessions}. Durations are in seconds. */
export interface SessionsOptions<Data extends SessionData = RegisteredData> {
  /** Where sessions live. */
  store: SessionStore;
  /** The master key ring, primary first (or a ready {@link KeyRing}). */
  keys: readonly KeyInput[] | KeyRing;
  /** Timeout preset. @default 'nist-aal2' */
  preset?: PresetName;
  /** Sliding idle timeout in seconds. @default 1800 (from the preset) */
  idleTimeout?: number;
  /** Absolute timeout in seconds, from sign-in (or creation). @default 43200 (from the preset) */
  absoluteTimeout?: number;
  /**
   * Whether re-authenticating (the same user calling `authenticate()` again) restarts the
   * absolute deadline. NIST SP 800-63B-4 §5.2 measures the overall timeout "following
   * authentication or a previous reauthentication" and says "successful reauthentication during
   * a session SHALL reset both timeouts", hence the default. Set it to false to end every
   * session at `absoluteTimeout` after its sign-in whatever happens in between. Both modes
   * apply it through one rule (`sessionDeadlines`).
   * @default true
   */
  reauthRestartsAbsolute?: boolean;
  /**
   * A touch is written only when it moves the idle deadline by more than this fraction of the
   * idle timeout, so most reads write nothing. @default 0.1
   */
  touchFraction?: number;
  /** Seconds a rotated-out token may still serve safe (GET/HEAD) requests; at most 60. @default 10 */
  rotationGrace?: number;
  /** @default 'revoke' — the whole session family is revoked on a suspected theft */
  theftPolicy?: TheftPolicy;
  /** On a user-agent change: `event`, `revoke` the session, or `off`. @default 'event' */
  userAgentPolicy?: 'off' | 'event' | 'revoke';
  /** On a client IP change (normal on mobile). @default 'event' */
  ipPolicy?: 'off' | 'event';
  /** Encrypt data at rest with AES-256-GCM. @default true, except for in-process stores (memory) */
  encryptData?: boolean;
  /** Largest encoded session data in bytes. @default 65536 */
  maxDataBytes?: number;
  /** Per-user session limit (0 = none) and what to do when it is reached. @default { max: 0, policy: 'evict-oldest' } */
  sessionLimit?: { max: number; policy?: 'reject' | 'evict-oldest' };
  /** Compare-and-set retries (with jittered backoff) before `ERR_CONFLICT`. @default 50 */
  maxRetries?: number;
  cookie?: CookieOptions;
  csrf?: CSRFOptions;
  /**
   * Slows down clients that send many invalid tokens, without touching the store; `false` turns
   * it off. @default memoryGuessLimiter() — 20 invalid tokens a minute per client IP
   */
  guessLimiter?: GuessLimiter | false;
  /** Validate (and narrow) data when a session is loaded; throw to refuse it. */
  validate?: (data: Record<string, unknown>) => Data;
  /**
   * Development flag: allow a cookie without `Secure`, and sessions over plain http on hosts
   * other than loopback. Never set it in production. @default false
   */
  allowInsecure?: boolean;
  /** The clock, epoch ms. Inject a fake one in tests. @default Date.now */
  now?: () => number;
}

/** The JSON object a session holds. */
export type SessionData = Record<string, unknown>;

/** Options after defaults and validation. */
export interface ResolvedOptions {
  store: SessionStore;
  ring: KeyRing;
  idleMs: number;
  absoluteMs: number;
  reauthRestartsAbsolute: boolean;
  touchMs: number;
  graceMs: number;
  theftPolicy: TheftPolicy;
  userAgentPolicy: 'off' | 'event' | 'revoke';
  ipPolicy: 'off' | 'event';
  encrypt: boolean;
  maxDataBytes: number;
  sessionLimit: { max: number; policy: 'reject' | 'evict-oldest' };
  maxRetries: number;
  cookie: Required<Omit<CookieOptions, 'domain'>> & { domain: string | undefined };
  csrf: Required<Omit<CSRFOptions, 'origins'>> & { origins: ReadonlySet<string> };
  validate: ((data: Record<string, unknown>) => SessionData) | undefined;
  guessLimiter: GuessLimiter | null;
  allowInsecure: boolean;
  now: () => number;
}

function positive(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new TesseraError(
      'ERR_CONFIG',
      `${name} must be a positive number of seconds, got ${String(v)}.`,
    );
  }
  return v;
}

/**
 * Apply defaults and refuse insecure or inconsistent settings.
 * @throws TesseraError `ERR_CONFIG` / `ERR_KEY` saying how to fix the configuration
 */
export function resolveOptions<Data extends SessionData>(
  o: SessionsOptions<Data>,
): ResolvedOptions {
  if (!o || typeof o !== 'object')
    throw new TesseraError(
      'ERR_CONFIG',
      'createSessions() needs an options object: { store, keys }.',
    );
  if (!o.store || typeof o.store.get !== 'function') {
    throw new TesseraError(
      'ERR_CONFIG',
      'options.store is missing: pass a store, e.g. memoryStore() from "tessera-session/memory".',
    );
  }
  const ring = o.keys instanceof KeyRing ? o.keys : new KeyRing(o.keys ?? []);
  const preset = PRESETS[o.preset ?? 'nist-aal2'];
  if (!preset)
    throw new TesseraError(
      'ERR_CONFIG',
      `Unknown preset "${String(o.preset)}": use one of ${Object.keys(PRESETS).join(', ')}.`,
    );
  const idle = positive('idleTimeout', o.idleTimeout ?? preset.idleTimeout);
  const absolute = positive('absoluteTimeout', o.absoluteTimeout ?? preset.absoluteTimeout);
  if (idle > absolute) {
    throw new TesseraError(
      'ERR_CONFIG',
      `idleTimeout (${idle}s) is longer than absoluteTimeout (${absolute}s): the idle timeout must not exceed the absolute one.`,
    );
  }
  const reauthRestartsAbsolute = o.reauthRestartsAbsolute ?? true;
  if (typeof reauthRestartsAbsolute !== 'boolean')
    throw new TesseraError('ERR_CONFIG', 'reauthRestartsAbsolute must be true or false.');
  const grace = o.rotationGrace ?? 10;
  if (typeof grace !== 'number' || !(grace >= 0) || grace > 60) {
    throw new TesseraError(
      'ERR_CONFIG',
      `rotationGrace must be 0–60 seconds (DESIGN decision 4), got ${String(grace)}.`,
    );
  }
  const touchFraction = o.touchFraction ?? 0.1;
  if (!(touchFraction >= 0 && touchFraction < 1))
    throw new TesseraError('ERR_CONFIG', 'touchFraction must be in [0, 1).');
  const c = o.cookie ?? {};
  const cookie = {
    name: c.name ?? '__Host-tessera',
    persistent: c.persistent ?? false,
    sameSite: c.sameSite ?? 'Lax',
    secure: c.secure ?? true,
    httpOnly: c.httpOnly ?? true,
    path: c.path ?? '/',
    domain: c.domain,
  } as const;
  assertCookieConfig(cookie.name, {
    secure: cookie.secure,
    path: cookie.path,
    sameSite: cookie.sameSite,
    ...(cookie.domain !== undefined ? { domain: cookie.domain } : {}),
  });
  if (!cookie.secure && !o.allowInsecure) {
    throw new TesseraError(
      'ERR_CONFIG',
      'cookie.secure is false: the session cookie would travel over plain http. Browsers accept Secure cookies on http://localhost and 127.0.0.1, so keep it on; for a development host that needs it off, also set allowInsecure: true.',
    );
  }
  const x = o.csrf ?? {};
  let origins: Set<string>;
  try {
    origins = new Set((x.origins ?? []).map(normalizeOrigin));
  } catch (e) {
    throw new TesseraError(
      'ERR_CONFIG',
      `csrf.origins holds an invalid origin: ${(e as Error).message}`,
    );
  }
  const limit = o.sessionLimit ?? { max: 0 };
  if (!Number.isInteger(limit.max) || limit.max < 0)
    throw new TesseraError('ERR_CONFIG', 'sessionLimit.max must be a whole number ≥ 0.');
  return {
    store: o.store,
    ring,
    idleMs: idle * 1000,
    absoluteMs: absolute * 1000,
    reauthRestartsAbsolute,
    touchMs: idle * 1000 * touchFraction,
    graceMs: grace * 1000,
    theftPolicy: o.theftPolicy ?? 'revoke',
    userAgentPolicy: o.userAgentPolicy ?? 'event',
    ipPolicy: o.ipPolicy ?? 'event',
    encrypt: o.encryptData ?? !o.store.inProcess,
    maxDataBytes: o.maxDataBytes ?? 65_536,
    sessionLimit: { max: limit.max, policy: limit.policy ?? 'evict-oldest' },
    maxRetries: o.maxRetries ?? 50,
    cookie,
    csrf: {
      enabled: x.enabled ?? true,
      origins,
      headerName: (x.headerName ?? 'x-csrf-token').toLowerCase(),
      fieldName: x.fieldName ?? '_csrf',
      allowSameSite: x.allowSameSite ?? false,
      reportOnly: x.reportOnly ?? false,
    },
    validate: o.validate as ResolvedOptions['validate'],
    allowInsecure: o.allowInsecure ?? false,
    guessLimiter: o.guessLimiter === false ? null : (o.guessLimiter ?? memoryGuessLimiter()),
    now: o.now ?? Date.now,
  };
}
