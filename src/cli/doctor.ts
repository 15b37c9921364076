/**
 * `tessera doctor`: review a session configuration against OWASP ASVS (4.0.3 and 5.0) levels
 * and NIST SP 800-63B (rev. 3 and 4) AAL presets. Each finding names the rule it comes from.
 */

/** The facts of a configuration that the review looks at (durations in seconds). */
export interface ConfigProfile {
  idleTimeout: number;
  absoluteTimeout: number;
  rotationGrace: number;
  cookie: {
    name: string;
    secure: boolean;
    httpOnly: boolean;
    sameSite: string;
    domain?: string | undefined;
    path: string;
    persistent: boolean;
  };
  csrf: { enabled: boolean; reportOnly: boolean };
  encryptData: boolean;
  /** Sealed-cookie mode: the data travels sealed (AES-256-GCM) in the cookie, no store holds it. */
  sealed?: boolean;
  keys: { id: string; createdAt: number }[];
}

/** A review level. */
export type Level = 'L1' | 'L2' | 'L3';

/** One finding. */
export interface Finding {
  severity: 'fail' | 'warn' | 'pass';
  rule: string;
  message: string;
}

// ASVS 4.0.3 V3.3.2 re-authentication table: L1 30 days; L2 12 h or 30 min idle; L3 12 h or 15 min idle.
// NIST SP 800-63B rev. 3 §4.1.3/§4.2.3/§4.3.3 and rev. 4 §2.2.3/§2.3.3 give the AAL equivalents.
const LIMITS: Record<Level, { idle: number; absolute: number; nist: string }> = {
  L1: {
    idle: 30 * 86_400,
    absolute: 30 * 86_400,
    nist: 'NIST SP 800-63B rev. 3 §4.1.3 (AAL1: 30 days)',
  },
  L2: {
    idle: 30 * 60,
    absolute: 12 * 3600,
    nist: 'NIST SP 800-63B rev. 3 §4.2.3 (AAL2: 12 h, 30 min idle); rev. 4 allows 24 h / 1 h',
  },
  L3: {
    idle: 15 * 60,
    absolute: 12 * 3600,
    nist: 'NIST SP 800-63B rev. 3 §4.3.3 / rev. 4 §2.3.3 (AAL3: 12 h, 15 min idle)',
  },
};

const DAY = 86_400_000;

/**
 * Review a configuration.
 * @param p - the configuration's facts
 * @param level - ASVS level to hold it to @default 'L2'
 * @param now - epoch ms, for key age
 */
export function review(p: ConfigProfile, level: Level = 'L2', now = Date.now()): Finding[] {
  const out: Finding[] = [];
  const add = (
    ok: boolean,
    rule: string,
    pass: string,
    fail: string,
    severity: 'fail' | 'warn' = 'fail',
  ) => {
    out.push(ok ? { severity: 'pass', rule, message: pass } : { severity, rule, message: fail });
  };
  const lim = LIMITS[level];
  add(
    p.idleTimeout <= lim.idle,
    `ASVS 4.0.3 V3.3.2 (${level}); ASVS 5.0 V7.3.1; ${lim.nist}`,
    `idle timeout ${p.idleTimeout}s is within ${lim.idle}s`,
    `idle timeout ${p.idleTimeout}s exceeds ${lim.idle}s for ${level}`,
  );
  add(
    p.absoluteTimeout <= lim.absolute,
    `ASVS 4.0.3 V3.3.2 (${level}); ASVS 5.0 V7.3.2; ${lim.nist}`,
    `absolute timeout ${p.absoluteTimeout}s is within ${lim.absolute}s`,
    `absolute timeout ${p.absoluteTimeout}s exceeds ${lim.absolute}s for ${level}`,
  );
  add(
    p.idleTimeout <= p.absoluteTimeout,
    'tessera: idle ≤ absolute',
    'idle timeout does not exceed the absolute timeout',
    'idle timeout exceeds the absolute timeout',
  );
  add(
    p.cookie.secure,
    'ASVS 4.0.3 V3.4.1; OWASP Session Management Cheat Sheet "Secure Attribute"',
    'cookie is Secure',
    'cookie is not Secure: the token can travel over plain http',
  );
  add(
    p.cookie.httpOnly,
    'ASVS 4.0.3 V3.4.2; OWASP Session Management Cheat Sheet "HttpOnly Attribute"',
    'cookie is HttpOnly',
    'cookie is not HttpOnly: scripts (and XSS) can read the token',
  );
  add(
    p.cookie.sameSite === 'Lax' || p.cookie.sameSite === 'Strict',
    'ASVS 4.0.3 V3.4.3',
    `cookie is SameSite=${p.cookie.sameSite}`,
    `cookie is SameSite=${p.cookie.sameSite}: use Lax or Strict`,
  );
  add(
    p.cookie.name.startsWith('__Host-'),
    'ASVS 4.0.3 V3.4.4; RFC 6265bis §4.1.3.2',
    'cookie uses the __Host- prefix',
    'cookie lacks the __Host- prefix (it can be overwritten from a sibling subdomain)',
    level === 'L1' ? 'warn' : 'fail',
  );
  add(
    p.cookie.domain === undefined && p.cookie.path === '/',
    'ASVS 4.0.3 V3.4.5',
    'cookie is host-only with Path=/',
    `cookie is scoped by Domain=${p.cookie.domain ?? ''} / Path=${p.cookie.path}`,
    'warn',
  );
  add(
    !p.cookie.persistent || level === 'L1',
    'OWASP Session Management Cheat Sheet "Expire and Max-Age Attributes"',
    'cookie is a non-persistent (browser-session) cookie',
    'cookie is persistent: it outlives the browser session',
    'warn',
  );
  add(
    p.csrf.enabled && !p.csrf.reportOnly,
    'ASVS 4.0.3 V4.2.2; ASVS 5.0 V3.5.1; OWASP CSRF Prevention Cheat Sheet',
    'CSRF protection is enforced',
    p.csrf.enabled ? 'CSRF protection is report-only' : 'CSRF protection is off',
  );
  add(
    p.rotationGrace <= 60,
    'tessera DESIGN decision 4',
    `rotation grace ${p.rotationGrace}s ≤ 60s`,
    `rotation grace ${p.rotationGrace}s is over 60s`,
  );
  add(
    p.sealed === true || p.encryptData || level === 'L1',
    'ASVS 4.0.3 V8.3.4 / V6.2.1 (data at rest)',
    p.sealed === true
      ? 'session data is sealed in the cookie (AES-256-GCM)'
      : 'session data is encrypted at rest (AES-256-GCM)',
    'session data is stored unencrypted',
    'warn',
  );
  add(
    p.keys.length > 0,
    'ASVS 4.0.3 V6.4.1',
    `key ring holds ${p.keys.length} key(s)`,
    'no keys configured',
  );
  const primary = p.keys[0];
  if (primary) {
    // A key made moments ago (a compact TESSERA_KEYS key without a date counts as made when it
    // is parsed, after `now` was taken) is "made today", never "-1 days old".
    const ahead = primary.createdAt - now;
    const age = Math.max(0, Math.floor((now - primary.createdAt) / DAY));
    const old = age === 0 ? 'less than a day old' : age === 1 ? '1 day old' : `${age} days old`;
    add(
      age <= 365 && ahead <= DAY,
      'NIST SP 800-57 Part 1 rev. 5 §5.3.6 (cryptoperiod); ASVS 4.0.3 V6.4.2',
      `primary key "${primary.id}" is ${old}`,
      ahead > DAY
        ? `primary key "${primary.id}" has a createdAt ${Math.floor(ahead / DAY)} day(s) in the future: its age cannot be judged`
        : `primary key "${primary.id}" is ${old}: rotate it (add a new key, then promote it)`,
      'warn',
    );
    add(
      p.keys.length <= 3,
      'tessera docs/keys.md (retire old keys)',
      `${p.keys.length} key(s) in the ring`,
      `${p.keys.length} keys in the ring: retire keys older than the absolute timeout`,
      'warn',
    );
  }
  return out;
}
