/**
 * The options an app passes to `createSessions` and `createSealedSessions`, and the timeout
 * presets: the public shapes, with their defaults in TSDoc. Resolution (defaults applied,
 * settings checked) is in options.ts.
 */
import type { ClockMode } from './clock.js';
import type { KeyInput, KeyRing } from './keys.js';
import type { GuessLimiter } from './limiter.js';
import type { Logger } from './logger.js';
import type { RegisteredData } from './register.js';
import type { SessionData, SessionStore } from './types.js';

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

/**
 * The options both modes take: {@link createSessions} (server-side sessions) and
 * `createSealedSessions` (sealed-cookie sessions). Durations are in seconds.
 */
export interface CommonSessionsOptions<Data extends SessionData = RegisteredData> {
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
  cookie?: CookieOptions;
  csrf?: CSRFOptions;
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
}

/**
 * Options of {@link createSessions}: the common ones and those that need server-side session
 * state. Durations are in seconds.
 */
export interface SessionsOptions<Data extends SessionData = RegisteredData>
  extends CommonSessionsOptions<Data> {
  /** Where sessions live. */
  store: SessionStore;
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
  /**
   * Slows down clients that send many invalid tokens, without touching the store; `false` turns
   * it off. @default memoryGuessLimiter() — 20 invalid tokens a minute per client IP
   */
  guessLimiter?: GuessLimiter | false;
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
