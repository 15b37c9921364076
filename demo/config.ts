/**
 * The demo's configuration, read from the environment once at start-up. Every problem is
 * collected and reported together, so a bad `.env` is fixed in one go; nothing here touches the
 * network or the disk.
 */
import { isTesseraError } from 'tessera-session';
import { type KeyInput, parseKeys } from 'tessera-session/keys';
import { isStoreUrl, redactStoreUrl } from 'tessera-session/stores';

/** The demo's settings after defaults and validation. Durations are seconds. */
export interface DemoConfig {
  /** TCP port. @default 3000 */
  port: number;
  /** Interface to listen on. @default '127.0.0.1' */
  host: string;
  /** The store URL (`sqlite:PATH`, `memory`, `redis://…`, `postgres://…`). @default 'sqlite:.tessera/demo.db' */
  store: string;
  /** Key prefix on a Redis store, from `TESSERA_STORE_PREFIX`; null: the store's (`tessera:`). */
  storePrefix: string | null;
  /** Schema on a PostgreSQL store, from `TESSERA_STORE_SCHEMA`; null: the store's (`tessera`). */
  storeSchema: string | null;
  /** The key ring from `TESSERA_KEYS`, or null to use (and create once) the key file. */
  keys: KeyInput[] | null;
  /** Origins allowed to send unsafe requests: the demo's own three, then `TESSERA_ORIGINS`. */
  origins: string[];
  /** @default 1800 */
  idleTimeout: number;
  /** @default 43200 */
  absoluteTimeout: number;
  /** Seconds a login or re-auth counts as fresh for sensitive actions. @default 300 */
  freshAge: number;
  /** Seconds a rotated-out token may still serve GET/HEAD, 0–60. @default 10 */
  rotationGrace: number;
  /** Failed logins per username and client IP per 60 s window before 429; 0 = off. @default 10 */
  loginLimit: number;
  /** Folder for the key file and the default SQLite database (relative to the working directory). */
  stateDir: string;
  /**
   * Without `TESSERA_KEYS`, use (and create once) the development key file in `stateDir`. The
   * demo is a development app, so it opts in explicitly — `loadKeys({ production: false })` —
   * rather than relying on `NODE_ENV`, and logs a warning saying so at every start.
   * @default true
   */
  developmentKey: boolean;
}

/** Start-up configuration problems, one message per bad variable. */
export class ConfigError extends Error {
  /** Every problem found, each naming its variable and how to fix it. */
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Default values, in one place. */
export const DEFAULTS = {
  port: 3000,
  host: '127.0.0.1',
  store: 'sqlite:.tessera/demo.db',
  idleTimeout: 1800,
  absoluteTimeout: 43_200,
  freshAge: 300,
  rotationGrace: 10,
  loginLimit: 10,
  stateDir: '.tessera',
  developmentKey: true,
} as const;

const KEY_FORMS =
  'Use a JSON array [{"id":"k1","secret":"<base64 of 32 random bytes>","createdAt":"2026-11-27"}] or id:secret[:createdAt],… (primary first; `npx tessera keygen` makes one).';

/** A whole number in `[min, max]`, or a problem message. */
function wholeNumber(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number ${min}–${max}`;
    problems.push(`${name}=${JSON.stringify(raw)} is not valid: use ${range}.`);
    return fallback;
  }
  return Number(raw);
}

/** `host` as it appears in a URL (IPv6 literals in brackets). */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Read the demo's configuration from environment variables.
 * @param env - usually `process.env`
 * @returns the validated configuration
 * @throws ConfigError listing every bad value (a zero timeout, idle > absolute, a bad URL…)
 * @example
 * ```ts
 * const config = parseConfig({ PORT: '3001', TESSERA_STORE: 'memory' })
 * ```
 */
export function parseConfig(env: NodeJS.ProcessEnv): DemoConfig {
  const problems: string[] = [];
  const max = Number.MAX_SAFE_INTEGER;
  const port = wholeNumber(env, 'PORT', DEFAULTS.port, 1, 65_535, problems);
  const host = env.HOST?.trim() || DEFAULTS.host;
  if (!/^[A-Za-z0-9.:_[\]-]+$/.test(host) || !canParse(`http://${hostForUrl(host)}:${port}/`)) {
    problems.push(`HOST=${JSON.stringify(host)} is not a host name or IP address.`);
  }

  const store = env.TESSERA_STORE?.trim() || DEFAULTS.store;
  if (!isStoreUrl(store)) {
    problems.push(
      `TESSERA_STORE=${JSON.stringify(redactStoreUrl(store))} is not valid: use sqlite:PATH, memory, redis://…, redis+cluster://…, or postgres://…`,
    );
  }

  // Several demos (or test runs) can share one Redis or PostgreSQL in their own namespace.
  const storePrefix = env.TESSERA_STORE_PREFIX?.trim() || null;
  if (storePrefix !== null && /[{}\s]/.test(storePrefix)) {
    problems.push(
      `TESSERA_STORE_PREFIX=${JSON.stringify(storePrefix)} is not valid: use a Redis key prefix without braces or spaces, e.g. demo:.`,
    );
  }
  const storeSchema = env.TESSERA_STORE_SCHEMA?.trim() || null;
  if (storeSchema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(storeSchema)) {
    problems.push(
      `TESSERA_STORE_SCHEMA=${JSON.stringify(storeSchema)} is not valid: use lower-case letters, digits and _ (starting with a letter or _), at most 63 characters.`,
    );
  }

  let keys: KeyInput[] | null = null;
  const rawKeys = env.TESSERA_KEYS?.trim();
  if (rawKeys) {
    try {
      keys = parseKeys(rawKeys);
    } catch (e) {
      // parseKeys (ERR_KEY) never quotes the text, which holds secrets; anything else is a bug
      // whose message might, so it is not repeated.
      const why = isTesseraError(e) ? e.message : 'it could not be read.';
      // Most ERR_KEY messages already show both forms; add them where they do not.
      const forms = why.includes('keygen') ? '' : ` ${KEY_FORMS}`;
      problems.push(`TESSERA_KEYS is not valid: ${why}${forms}`);
    }
  }

  const idleTimeout = wholeNumber(
    env,
    'TESSERA_IDLE_TIMEOUT',
    DEFAULTS.idleTimeout,
    1,
    max,
    problems,
  );
  const absoluteTimeout = wholeNumber(
    env,
    'TESSERA_ABSOLUTE_TIMEOUT',
    DEFAULTS.absoluteTimeout,
    1,
    max,
    problems,
  );
  if (idleTimeout > absoluteTimeout) {
    problems.push(
      `TESSERA_IDLE_TIMEOUT (${idleTimeout}s) is longer than TESSERA_ABSOLUTE_TIMEOUT (${absoluteTimeout}s): the idle timeout must not exceed the absolute one.`,
    );
  }
  const freshAge = wholeNumber(env, 'TESSERA_FRESH_AGE', DEFAULTS.freshAge, 1, max, problems);
  const rotationGrace = wholeNumber(
    env,
    'TESSERA_ROTATION_GRACE',
    DEFAULTS.rotationGrace,
    0,
    60,
    problems,
  );
  const loginLimit = wholeNumber(env, 'TESSERA_LOGIN_LIMIT', DEFAULTS.loginLimit, 0, max, problems);

  const h = hostForUrl(host);
  const origins = new Set([
    `http://${h.toLowerCase()}:${port}`,
    `http://127.0.0.1:${port}`,
    `http://localhost:${port}`,
  ]);
  for (const item of (env.TESSERA_ORIGINS ?? '').split(',')) {
    const o = item.trim();
    if (!o) continue;
    const origin = originOf(o);
    if (origin === null) {
      problems.push(
        `TESSERA_ORIGINS holds ${JSON.stringify(o)}, which is not an origin: use scheme://host[:port], e.g. https://app.example.com.`,
      );
    } else origins.add(origin);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port,
    host,
    store,
    storePrefix,
    storeSchema,
    keys,
    origins: [...origins],
    idleTimeout,
    absoluteTimeout,
    freshAge,
    rotationGrace,
    loginLimit,
    stateDir: DEFAULTS.stateDir,
    developmentKey: DEFAULTS.developmentKey,
  };
}

function canParse(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/** `scheme://host[:port]` for an http(s) origin with nothing after it, else null. */
function originOf(value: string): string | null {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username || u.password || u.search || u.hash) return null;
  if (u.pathname !== '/' || !/^[a-z]+:\/\/[^/]+\/?$/i.test(value)) return null;
  return u.origin.toLowerCase();
}
