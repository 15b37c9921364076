/**
 * Engine options resolved: defaults applied and settings checked, in one place. The common
 * options (both modes) resolve in {@link resolveCommonOptions}; the server-side engine adds
 * its own in {@link resolveOptions}; sealed mode takes the common ones alone
 * ({@link resolveSealedOptions}). The option types are in option-types.ts.
 */
import type { ClockMode } from './clock.js';
import { assertCookieConfig } from './cookie.js';
import { normalizeOrigin } from './csrf.js';
import { TesseraError } from './errors.js';
import { KeyRing } from './keys.js';
import { type GuessLimiter, memoryGuessLimiter } from './limiter.js';
import { type Logger, TesseraLog } from './logger.js';
import { checkOptionNamesOf, checkSealedOptionNames } from './option-names.js';
import {
  type CommonSessionsOptions,
  type CookieOptions,
  type CSRFOptions,
  PRESETS,
  type SessionsOptions,
  type TheftPolicy,
} from './option-types.js';
import type { SessionData, SessionStore } from './types.js';

export { checkOptionNamesOf } from './option-names.js';
export type {
  CommonSessionsOptions,
  CookieOptions,
  CSRFOptions,
  PresetName,
  SessionsOptions,
  TheftPolicy,
} from './option-types.js';
export { PRESETS } from './option-types.js';
/** The JSON object a session holds (defined with the types, in types.ts). */
export type { SessionData } from './types.js';

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

/** The common options after defaults and validation: what both modes run on. */
export interface ResolvedCommonOptions {
  ring: KeyRing;
  idleMs: number;
  absoluteMs: number;
  reauthRestartsAbsolute: boolean;
  touchMs: number;
  cookie: Required<Omit<CookieOptions, 'domain'>> & { domain: string | undefined };
  csrf: Required<Omit<CSRFOptions, 'origins'>> & { origins: ReadonlySet<string> };
  validate: ((data: Record<string, unknown>) => SessionData) | undefined;
  allowInsecure: boolean;
  /** The `logger` option with tessera's once-per-cause and rate-limit rules. */
  log: TesseraLog;
  /** The engine's clock: the local clock, or (with `clock: 'store'`) the store's through an offset. */
  now: () => number;
  /** Which clock decides shared decisions, and whether the app asked for it explicitly. */
  clock: ClockMode;
  clockExplicit: boolean;
  /** How far the instances' clocks may disagree (server-side option; sealed mode: its default). */
  clockSkewMs: number;
}

/** The server-side engine's options after defaults and validation. */
export interface ResolvedOptions extends ResolvedCommonOptions {
  store: SessionStore;
  graceMs: number;
  theftPolicy: TheftPolicy;
  userAgentPolicy: 'off' | 'event' | 'revoke';
  ipPolicy: 'off' | 'event';
  encrypt: boolean;
  maxDataBytes: number;
  sessionLimit: { max: number; policy: 'reject' | 'evict-oldest' };
  maxRetries: number;
  guessLimiter: GuessLimiter | null;
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
 * Apply defaults to the server-side engine's options and refuse insecure or inconsistent
 * settings, and option names it does not know (option-names.ts).
 * @param o - the options as the app passed them
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
  checkOptionNamesOf(o);
  checkStore(o.store);
  const common = resolveCommonOptions(o, o.clockSkewMs);
  const grace = o.rotationGrace ?? 10;
  if (typeof grace !== 'number' || !(grace >= 0) || grace > 60) {
    throw new TesseraError(
      'ERR_CONFIG',
      `rotationGrace must be 0–60 seconds (DESIGN decision 4), got ${String(grace)}.`,
    );
  }
  const limit = o.sessionLimit ?? { max: 0 };
  if (!Number.isInteger(limit.max) || limit.max < 0)
    throw new TesseraError('ERR_CONFIG', 'sessionLimit.max must be a whole number ≥ 0.');
  return {
    ...common,
    store: o.store,
    graceMs: grace * 1000,
    theftPolicy: o.theftPolicy ?? 'revoke',
    userAgentPolicy: o.userAgentPolicy ?? 'event',
    ipPolicy: o.ipPolicy ?? 'event',
    encrypt: o.encryptData ?? !o.store.inProcess,
    maxDataBytes: o.maxDataBytes ?? 65_536,
    sessionLimit: { max: limit.max, policy: limit.policy ?? 'evict-oldest' },
    maxRetries: o.maxRetries ?? 50,
    guessLimiter: o.guessLimiter === false ? null : (o.guessLimiter ?? memoryGuessLimiter()),
  };
}

/**
 * Apply defaults to sealed-cookie mode's options: the common ones alone. An option that needs
 * server state is refused with `ERR_UNSUPPORTED`, an unknown one with `ERR_CONFIG`.
 * @param o - the options as the app passed them (their sealed-mode extras named in `extraNames`)
 * @param extraNames - option names sealed mode handles itself (`revocation`)
 * @throws TesseraError `ERR_UNSUPPORTED`, `ERR_CONFIG` / `ERR_KEY` saying how to fix it
 */
export function resolveSealedOptions<Data extends SessionData>(
  o: CommonSessionsOptions<Data>,
  extraNames: readonly string[],
): ResolvedCommonOptions {
  const given: CommonSessionsOptions<Data> = o && typeof o === 'object' ? o : ({} as never);
  checkSealedOptionNames(given, extraNames);
  return resolveCommonOptions(given, undefined);
}

/**
 * The options both modes take, resolved (the option names already checked).
 * @param clockSkewMs - the server-side `clockSkewMs` option; sealed mode has none (its default)
 */
function resolveCommonOptions<Data extends SessionData>(
  o: CommonSessionsOptions<Data>,
  clockSkewMs: number | undefined,
): ResolvedCommonOptions {
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
  const skew = clockSkewMs ?? (o.now !== undefined && clock === 'local' ? 0 : 2000);
  if (typeof skew !== 'number' || !Number.isFinite(skew) || skew < 0 || skew > 60_000) {
    throw new TesseraError(
      'ERR_CONFIG',
      `clockSkewMs must be 0–60000 milliseconds, got ${String(skew)}.`,
    );
  }
  return {
    ring,
    idleMs: idle * 1000,
    absoluteMs: absolute * 1000,
    reauthRestartsAbsolute,
    touchMs: idle * 1000 * touchFraction,
    cookie,
    csrf: {
      enabled: x.enabled ?? true,
      origins,
      headerName: (x.headerName ?? 'x-csrf-token').toLowerCase(),
      fieldName: x.fieldName ?? '_csrf',
      allowSameSite: x.allowSameSite ?? false,
      reportOnly: x.reportOnly ?? false,
    },
    validate: o.validate as ResolvedCommonOptions['validate'],
    allowInsecure,
    log,
    now: o.now ?? Date.now,
    clock,
    clockExplicit: o.clock !== undefined,
    clockSkewMs: skew,
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
