/**
 * Unknown option names, refused at construction with the nearest known name: a misspelt or
 * foreign option (express-session's `maxAge`) would otherwise be ignored in silence, and the
 * app would run on defaults its author did not choose.
 */
import { TesseraError } from './errors.js';

/** Known option names of one options object, and of the objects nested in it. */
export interface OptionNames {
  /** The names this object takes. */
  names: readonly string[];
  /** Nested option objects (`cookie`, `csrf`), checked the same way when given. */
  nested?: Readonly<Record<string, readonly string[]>>;
}

/**
 * Names other session libraries use (express-session, connect-redis, cookie-session), and what
 * tessera has instead. Looked up before the edit distance, since none is a near spelling.
 */
const FOREIGN: Readonly<Record<string, string>> = {
  maxAge:
    'did you mean absoluteTimeout (seconds from sign-in) or idleTimeout (seconds of inactivity)? express-session counts maxAge in milliseconds; tessera counts seconds',
  expires: 'did you mean absoluteTimeout (seconds from sign-in)?',
  ttl: 'did you mean idleTimeout (seconds of inactivity; the store expires records on its own)?',
  secret:
    'did you mean keys? tessera takes a key ring, keys: [{ id, secret, createdAt }] (make one with generateKey() or `npx tessera keygen`)',
  secrets: 'did you mean keys? (keys: [{ id, secret, createdAt }], primary first)',
  name: 'did you mean cookie.name?',
  resave:
    'tessera has no resave: it saves only what a request changed (a patch with a version check), and touches the record only when the idle deadline moves by more than touchFraction',
  saveUninitialized:
    'tessera has no saveUninitialized: a new visitor gets a record only once the session holds data (as saveUninitialized: false); a read-only request writes nothing',
  rolling:
    'tessera has no rolling: the idle timeout always slides (idleTimeout), within the absolute timeout (absoluteTimeout)',
  genid:
    'tessera has no genid: session tokens are always 256-bit random values from the OS, and the store sees only their hash',
  unset: 'tessera has no unset: session.destroy() ends the session and deletes its record',
  proxy:
    'tessera has no proxy option on the engine: pass trustProxy to the adapter (session(engine, { trustProxy: 1 }))',
  trustProxy: 'trustProxy is an adapter option: session(engine, { trustProxy: 1 })',
};

/** Levenshtein distance, case-insensitive (`IdleTimeout` is one edit from nothing). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[y.length]!;
}

/** The known name nearest to `name`, if it is near enough to be a misspelling. */
function nearest(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  // A longer or shorter spelling of a known name (`maximum` for `max`, `origin` for `origins`).
  const stem = candidates.find((c) => {
    const l = c.toLowerCase();
    return Math.min(l.length, lower.length) >= 3 && (lower.startsWith(l) || l.startsWith(lower));
  });
  if (stem !== undefined) return stem;
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(name, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  // A third of the name's length, at least 2 edits: `idleTimout` → idleTimeout, `foo` → nothing.
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** What to tell the author of an unknown option `name` found at `path` (`''` at the top). */
function hint(name: string, path: string, spec: OptionNames, here: readonly string[]): string {
  if (path === '') {
    if (Object.hasOwn(FOREIGN, name)) return ` — ${FOREIGN[name]}`;
    // A nested option written at the top (`secure: false` instead of `cookie: { secure }`).
    for (const [parent, names] of Object.entries(spec.nested ?? {})) {
      if (names.includes(name)) return ` — did you mean ${parent}.${name}?`;
    }
  } else if (name === 'maxAge' || name === 'expires') {
    return ' — the cookie lives as long as the session: set cookie.persistent: true for a cookie that survives the browser (it then expires at the absolute deadline), and absoluteTimeout for how long that is';
  }
  const near = nearest(name, here);
  return near === undefined
    ? `; known options: ${here.join(', ')}`
    : ` — did you mean ${path}${near}?`;
}

/**
 * Refuse any option name `spec` does not know, in `options` and in its nested objects.
 * @param options - what the app passed (already known to be an object)
 * @param spec - the known names
 * @throws TesseraError `ERR_CONFIG` naming the unknown option and the nearest known one
 */
export function checkOptionNames(options: object, spec: OptionNames): void {
  const check = (obj: object, path: string, here: readonly string[]): void => {
    for (const name of Object.keys(obj)) {
      if (here.includes(name)) continue;
      throw new TesseraError(
        'ERR_CONFIG',
        `Unknown option ${path}${name}${hint(name, path, spec, here)}.`,
      );
    }
  };
  check(options, '', spec.names);
  for (const [parent, names] of Object.entries(spec.nested ?? {})) {
    const value = (options as Record<string, unknown>)[parent];
    if (value === undefined) continue;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TesseraError(
        'ERR_CONFIG',
        `Option ${parent} must be an object ({ ${names.join(', ')} }), got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`,
      );
    }
    check(value, `${parent}.`, names);
  }
}
