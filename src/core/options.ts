/**
 * Engine options, presets and their defaults — in one place.
 */
import type { ClockMode } from './clock.js';
import { assertCookieConfig } from './cookie.js';
import { normalizeOrigin } from './csrf.js';
import { TesseraError } from './errors.js';
import { type KeyInput, KeyRing } from './keys.js';
import { type GuessLimiter, memoryGuessLimiter } from './limiter.js';
import { type Logger, TesseraLog } from './logger.js';
import type { RegisteredData } from './register.js';
import type { SessionStore } from './types.js';
import { checkOptionNames } from './unknown-options.js';

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
  /**
   * @default '__Host-tessera' — `'tessera'` with the `allowInsecure` development flag, whose
   * plain-http pages could never store a `__Host-` (Secure) cookie
   */
  name?: string;
  /** A persistent cookie (Max-Age up to the absolute deadline) instead of a browser-session cookie. @default false */
  persistent?: boolean;
  /** @default 'Lax' */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** @default true — false with the `allowInsecure` development flag (which refuses `true`) */
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
   * Development flag: sessions over plain http on hosts other than loopback (a LAN address, a
   * container name), with a cookie a browser keeps there: unless `cookie` says otherwise the
   * cookie is `tessera`, without `Secure` or the `__Host-` prefix (a browser drops a Secure
   * cookie set over plain http), and a warning says so once. A `Secure` or `__Host-` /
   * `__Secure-` cookie is refused with it, since the session would never stick. Never set it in
   * production: behind a TLS-terminating proxy set the adapter's `trustProxy` instead
   * (docs/deploying.md). @default false
   */
  allowInsecure?: boolean;
  /**
   * Where tessera logs misconfiguration (plain http refused for a host, the `allowInsecure`
   * cookie), store failures (the first at once, then a count every 10 s) and, at `info`, CSRF
   * rejections: a pino logger, or any object with `warn(obj, msg)` and `error(obj, msg)` (and
   * optionally `info`); `console` prints one line per call; `false` logs nothing. A line never
   * holds a token, a cookie value or a key.
   * @default console — warnings and errors only
   * @example createSessions({ store, keys, logger: pino() })
   */
  logger?: Logger | false;
  /**
   * The local clock, epoch ms. Inject a fake one in tests: an injected clock is taken as the one
   * clock every instance shares (`clock` then defaults to `'local'`, `clockSkewMs` to 0).
   * @default Date.now
   */
  now?: () => number;
  /**
   * Which clock decides what every app instance must agree on: expiry, the grace of a
   * rotated-out token, theft (DESIGN decision 13). `'store'`: the store's clock
   * (`store.time()`: Redis `TIME`, PostgreSQL `clock_timestamp()`, the machine's clock for
   * SQLite and memory), read as the local clock plus an offset sampled in the background
   * (every 30 s of real time; until the first sample arrives, the local clock — see
   * `syncClock()`). `'local'`: this process's clock (`now`) alone; the instances' clocks must
   * then agree within `clockSkewMs`. See docs/operations.md, "Clock requirements".
   * @default 'store' when the store has `time()` and `now` is not injected; else 'local'
   */
  clock?: ClockMode;
  /**
   * How far (ms) the instances' clocks may disagree while the engine runs on a local clock:
   * with `clock: 'local'`, and with `'store'` until the store's clock is first sampled. Once it
   * is, the allowance is what the offset estimates may be off — the sample's round trip plus
   * 30 ms of drift, a few ms on a LAN — and never more than this. Within the allowance a session
   * past a deadline is refused but not deleted (deletion is for everyone) and its cookie is
   * kept; a rotated-out token just past its grace is refused without a theft signal; `sweep()`
   * leaves records expired by less. 0–60 000.
   * @default 2000, or 0 when `now` is injected and `clock` is `'local'`
   */
  clockSkewMs?: number;
}

/**
 * Every option name {@link createSessions} takes: THE list the unknown-option check reads
 * (`maxAge` is refused with "did you mean absoluteTimeout?"). Adding an option to
 * {@link SessionsOptions} without adding it here is a compile error (`satisfies`).
 */
const OPTION_NAMES = {
  store: true,
  keys: true,
  preset: true,
  idleTimeout: true,
  absoluteTimeout: true,
  reauthRestartsAbsolute: true,
  touchFraction: true,
  rotationGrace: true,
  theftPolicy: true,
  userAgentPolicy: true,
  ipPolicy: true,
  encryptData: true,
  maxDataBytes: true,
  sessionLimit: true,
  maxRetries: true,
  cookie: true,
  csrf: true,
  guessLimiter: true,
  validate: true,
  allowInsecure: true,
  now: true,
  clock: true,
  clockSkewMs: true,
  logger: true,
} as const satisfies Record<keyof SessionsOptions, true>;

/** The names of the nested option objects, checked like the top level. */
const NESTED_OPTION_NAMES = {
  cookie: Object.keys({
    name: true,
    persistent: true,
    sameSite: true,
    secure: true,
    httpOnly: true,
    path: true,
    domain: true,
  } as const satisfies Record<keyof CookieOptions, true>),
  csrf: Object.keys({
    enabled: true,
    origins: true,
    headerName: true,
    fieldName: true,
    allowSameSite: true,
    reportOnly: true,
  } as const satisfies Record<keyof CSRFOptions, true>),
  sessionLimit: ['max', 'policy'],
} as const;

/**
 * Refuse option names {@link createSessions} does not know, naming the nearest known one (the
 * check `resolveOptions` runs; `tessera doctor` runs it on a configuration it reviews).
 * @param o - the options
 * @param extraNames - names the caller handles itself (sealed mode's `revocation`)
 * @throws TesseraError `ERR_CONFIG` for an unknown name, or a nested option that is no object
 */
export function checkOptionNamesOf(o: object, extraNames: readonly string[] = []): void {
  checkOptionNames(o, {
    names: [...Object.keys(OPTION_NAMES), ...extraNames],
    nested: NESTED_OPTION_NAMES,
  });
}

/** The methods a {@link SessionStore} must have (the contract in `src/core/types.ts`). */
const STORE_METHODS = [
  'get',
  'getByHandle',
  'create',
  'update',
  'touch',
  'rotate',
  'delete',
  'deleteByHandle',
  'listByUser',
  'deleteByUser',
  'getRevocationEpoch',
  'list',
  'count',
  'sweep',
  'kvGet',
  'kvSet',
  'kvDelete',
  'increment',
  'listPush',
  'listRange',
  'close',
] as const satisfies readonly (keyof SessionStore)[];

/**
 * Refuse a `store` that is not a store, saying what it is: a URL string (open it first), a
 * factory not called, a Redis or pg client, or an object that lacks part of the contract.
 */
function checkStore(store: unknown): asserts store is SessionStore {
  const how =
    'pass a store, e.g. memoryStore() from "tessera-session/memory", sqliteStore({ path }), redisStore({ client }), or await openStore(url) from "tessera-session/stores"';
  if (store === undefined || store === null)
    throw new TesseraError('ERR_CONFIG', `options.store is missing: ${how}.`);
  if (typeof store === 'string') {
    throw new TesseraError(
      'ERR_CONFIG',
      'options.store is a string, not a store: open the URL first (store: await openStore(url), from "tessera-session/stores"), or pass a store object such as sqliteStore({ path }) or redisStore({ client }).',
    );
  }
  if (typeof store === 'function') {
    throw new TesseraError(
      'ERR_CONFIG',
      `options.store is a function${store.name ? ` (${store.name})` : ''}, not a store: call the factory, e.g. store: redisStore({ client }), not store: redisStore.`,
    );
  }
  if (typeof store !== 'object')
    throw new TesseraError(
      'ERR_CONFIG',
      `options.store is a ${typeof store}, not a store: ${how}.`,
    );
  const s = store as Record<string, unknown>;
  const missing = STORE_METHODS.filter((m) => typeof s[m] !== 'function');
  if (missing.length === 0 && typeof s.name === 'string') return;
  const client =
    typeof s.sendCommand === 'function' || typeof s.evalsha === 'function'
      ? ' It looks like a Redis client: wrap it, store: redisStore({ client }).'
      : typeof s.query === 'function'
        ? ' It looks like a database client or pool: wrap it, e.g. store: postgresStore({ pool }).'
        : '';
  throw new TesseraError(
    'ERR_CONFIG',
    `options.store is not a session store: it lacks ${missing.length > 0 ? missing.join(', ') : 'a name'}.${client} Otherwise ${how} (a custom store implements SessionStore, checked by the conformance suite in "tessera-session/testing").`,
  );
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
  /** The `logger` option with tessera's once-per-cause and rate-limit rules. */
  log: TesseraLog;
  /** The engine's clock: the local clock, or (with `clock: 'store'`) the store's through an offset. */
  now: () => number;
  /** Which clock decides shared decisions, and whether the app asked for it explicitly. */
  clock: ClockMode;
  clockExplicit: boolean;
  clockSkewMs: number;
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
 * Apply defaults and refuse insecure or inconsistent settings, and option names it does not
 * know (see {@link OPTION_NAMES}).
 * @param o - the options as the app passed them
 * @param extraNames - option names the caller handles itself (sealed mode's `revocation`)
 * @throws TesseraError `ERR_CONFIG` / `ERR_KEY` saying how to fix the configuration
 */
export function resolveOptions<Data extends SessionData>(
  o: SessionsOptions<Data>,
  extraNames: readonly string[] = [],
): ResolvedOptions {
  if (!o || typeof o !== 'object')
    throw new TesseraError(
      'ERR_CONFIG',
      'createSessions() needs an options object: { store, keys }.',
    );
  checkOptionNamesOf(o, extraNames);
  checkStore(o.store);
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
  const log = resolveLogger(o.logger);
  const allowInsecure = o.allowInsecure ?? false;
  if (typeof allowInsecure !== 'boolean')
    throw new TesseraError('ERR_CONFIG', 'allowInsecure must be true or false.');
  const c = o.cookie ?? {};
  // The development flag serves plain http, where a browser ignores a Secure cookie set from a
  // non-secure origin (RFC 6265bis §5.7, the storage model) outside loopback: its default
  // cookie is one the browser keeps there.
  const secure = c.secure ?? !allowInsecure;
  const cookie = {
    name: c.name ?? (secure ? '__Host-tessera' : 'tessera'),
    persistent: c.persistent ?? false,
    sameSite: c.sameSite ?? 'Lax',
    secure,
    httpOnly: c.httpOnly ?? true,
    path: c.path ?? '/',
    domain: c.domain,
  } as const;
  if (allowInsecure && (cookie.secure || /^__(host|secure)-/i.test(cookie.name))) {
    throw new TesseraError(
      'ERR_CONFIG',
      `allowInsecure serves sessions over plain http, where a browser drops a Secure cookie (and every "__Host-" / "__Secure-" one) outside loopback, so the session would never stick: leave cookie.secure and cookie.name unset (the cookie is then "tessera" without Secure), or turn allowInsecure off (behind a TLS-terminating proxy, set the adapter's trustProxy instead).`,
    );
  }
  assertCookieConfig(cookie.name, {
    secure: cookie.secure,
    path: cookie.path,
    sameSite: cookie.sameSite,
    ...(cookie.domain !== undefined ? { domain: cookie.domain } : {}),
  });
  if (!cookie.secure && !allowInsecure) {
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
  if (o.clock !== undefined && o.clock !== 'store' && o.clock !== 'local')
    throw new TesseraError(
      'ERR_CONFIG',
      `clock must be 'store' or 'local', got ${String(o.clock)}.`,
    );
  if (o.now !== undefined && typeof o.now !== 'function')
    throw new TesseraError('ERR_CONFIG', 'now must be a function returning epoch milliseconds.');
  const clock = o.clock ?? (o.now === undefined ? 'store' : 'local');
  const clockSkewMs = o.clockSkewMs ?? (o.now !== undefined && clock === 'local' ? 0 : 2000);
  if (
    typeof clockSkewMs !== 'number' ||
    !Number.isFinite(clockSkewMs) ||
    clockSkewMs < 0 ||
    clockSkewMs > 60_000
  ) {
    throw new TesseraError(
      'ERR_CONFIG',
      `clockSkewMs must be 0–60000 milliseconds, got ${String(clockSkewMs)}.`,
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
    allowInsecure,
    log,
    guessLimiter: o.guessLimiter === false ? null : (o.guessLimiter ?? memoryGuessLimiter()),
    now: o.now ?? Date.now,
    clock,
    clockExplicit: o.clock !== undefined,
    clockSkewMs,
  };
}

/**
 * The `logger` option as tessera's logger.
 * @throws TesseraError `ERR_CONFIG` for a value that is not a logger or `false`
 */
function resolveLogger(logger: Logger | false | undefined): TesseraLog {
  if (
    logger !== undefined &&
    logger !== false &&
    (typeof logger !== 'object' ||
      logger === null ||
      typeof logger.warn !== 'function' ||
      typeof logger.error !== 'function')
  )
    throw new TesseraError(
      'ERR_CONFIG',
      'logger must be a logger with warn() and error() (pino, console), or false to log nothing.',
    );
  return new TesseraLog(logger);
}
