/**
 * Guessing-burst limiter: counts forged tokens per client in fixed windows, in memory, without
 * touching the store. Over the limit, the engine emits `guessing_suspected` (once per window)
 * and delays its "no session" answer; it never turns a request into anything but "no session".
 *
 * Only a token that fails its MAC check counts as a guess. A token whose MAC verifies was minted
 * by this app: when its record is gone (a store restart, an expired or swept session) the
 * visitor is a returning user, not a guesser, and is never slowed down. Malformed cookies and
 * tokens under an unknown key id are reported (`token_invalid`) but not counted either: they
 * cannot open a session under any key, so there is nothing to slow down.
 *
 * Clients are bucketed by {@link clientBucket}: an IPv4 address, or the /64 prefix of an IPv6
 * one (a single host usually holds a whole /64, so rotating inside it must not reset the count).
 * Which IP the engine sees is the adapter's decision: with `trustProxy` unset behind a reverse
 * proxy every client shares the proxy's address and therefore one budget; set `trustProxy` to
 * the number of proxies in front of the app so each client gets its own.
 */

/** A pluggable limiter. `hit` records one forged token and returns how long to delay (ms). */
export interface GuessLimiter {
  /**
   * Record one forged token from `client`.
   * @param client - the client's bucket ({@link clientBucket} of its IP)
   * @param now - the engine's clock, epoch ms
   * @returns the delay to apply, and whether this hit crossed the limit for the first time in its window
   */
  hit(client: string, now: number): { delayMs: number; firstOverLimit: boolean };
}

/** Options of {@link memoryGuessLimiter}. */
export interface GuessLimiterOptions {
  /** Forged tokens per client per window before slowing down. @default 20 */
  limit?: number;
  /** Window length in ms. @default 60000 */
  windowMs?: number;
  /** Delay per forged token over the limit, in ms, growing linearly. @default 50 */
  stepMs?: number;
  /** Largest delay in ms. @default 2000 */
  maxDelayMs?: number;
  /** Most clients tracked at once (oldest windows dropped first). @default 10000 */
  maxClients?: number;
}

/**
 * The default in-memory limiter (per process; it needs no coordination, since a guess never
 * reaches the store anyway — the token MAC refuses it first).
 * @param options - limits; see {@link GuessLimiterOptions}
 * @returns a limiter for `createSessions({ guessLimiter })`
 * @example
 * ```ts
 * createSessions({ store, keys, guessLimiter: memoryGuessLimiter({ limit: 50 }) })
 * ```
 */
export function memoryGuessLimiter(options: GuessLimiterOptions = {}): GuessLimiter {
  const limit = options.limit ?? 20;
  const windowMs = options.windowMs ?? 60_000;
  const step = options.stepMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 2000;
  const maxClients = options.maxClients ?? 10_000;
  const windows = new Map<string, { start: number; count: number }>();
  return {
    hit(client, now) {
      let w = windows.get(client);
      if (!w || now - w.start >= windowMs) {
        if (w) windows.delete(client);
        w = { start: now, count: 0 };
        if (windows.size >= maxClients) windows.delete(windows.keys().next().value as string);
        windows.set(client, w);
      }
      w.count++;
      const over = w.count - limit;
      return {
        delayMs: over > 0 ? Math.min(maxDelay, over * step) : 0,
        firstOverLimit: over === 1,
      };
    },
  };
}

const HEXTET = /^[0-9A-Fa-f]{1,4}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
/** A TCP port, 0–65535. */
const PORT = /^(?:6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4})$/;

/** The 16-bit words of an IPv4 dotted quad, or null. */
function v4Words(s: string): [number, number] | null {
  const m = IPV4.exec(s);
  if (!m) return null;
  const b = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  if (b.some((x) => x > 255)) return null;
  return [(b[0] << 8) | b[1], (b[2] << 8) | b[3]];
}

/** Groups of one side of `::`; a dotted IPv4 tail is allowed only at the very end. */
function groups(part: string, last: boolean): number[] | null {
  if (part === '') return [];
  const out: number[] = [];
  const gs = part.split(':');
  for (let i = 0; i < gs.length; i++) {
    const g = gs[i]!;
    if (last && i === gs.length - 1 && g.includes('.')) {
      const w = v4Words(g);
      if (!w) return null;
      out.push(w[0], w[1]);
    } else if (HEXTET.test(g)) out.push(Number.parseInt(g, 16));
    else return null;
  }
  return out;
}

/** The eight 16-bit words of an IPv6 address (RFC 4291 §2.2 text forms), or null. */
function v6Words(s: string): number[] | null {
  const halves = s.split('::');
  if (halves.length > 2) return null;
  if (halves.length === 1) {
    const all = groups(s, true);
    return all && all.length === 8 ? all : null;
  }
  const head = groups(halves[0]!, false);
  const tail = groups(halves[1]!, true);
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return null;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

/**
 * The bucket a client IP is counted in by the guessing limiter: an IPv4 address as it is; an
 * IPv6 address as its /64 prefix (`2001:db8:0:1::/64`), whatever its spelling (compressed,
 * upper-case, zone id, brackets); an IPv4 address with a port (`192.0.2.1:51234`, as some
 * proxies write `X-Forwarded-For`) as the address; an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as the IPv4
 * address it maps. Anything else is returned unchanged.
 * @param ip - the client IP as the adapter reports it
 * @returns the bucket key
 * @example
 * ```ts
 * clientBucket('2001:DB8::1:2:3:4') // '2001:db8:0:0::/64'
 * clientBucket('::ffff:c000:201')   // '192.0.2.1'
 * ```
 */
export function clientBucket(ip: string): string {
  const colon = ip.indexOf(':');
  if (colon === -1) return ip;
  // `a.b.c.d:port`, as some proxies write X-Forwarded-For (Azure Application Gateway, IIS ARR):
  // a new source port per connection must not be a new client.
  if (colon === ip.lastIndexOf(':') && PORT.test(ip.slice(colon + 1))) {
    const host = ip.slice(0, colon);
    if (v4Words(host)) return host;
  }
  let s = ip;
  if (s.charCodeAt(0) === 91 /* [ */) {
    const end = s.indexOf(']');
    s = s.slice(1, end === -1 ? undefined : end);
    if (v4Words(s)) return s;
  }
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  const w = v6Words(s);
  if (!w) return ip;
  // RFC 4291 §2.5.5.2: ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
  }
  return `${w[0]!.toString(16)}:${w[1]!.toString(16)}:${w[2]!.toString(16)}:${w[3]!.toString(16)}::/64`;
}
