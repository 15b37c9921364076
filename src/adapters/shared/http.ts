/**
 * Runtime-agnostic request translation shared by every adapter: client IP and scheme (with an
 * explicit trustProxy), the CSRF facts of a request, a size-capped urlencoded parser, and the
 * JSON error bodies. Policy stays in the engine; this only reads headers.
 */
import { type CSRFRequest, isSafeMethod } from '../../core/csrf.js';
import { isTesseraError, TesseraError } from '../../core/errors.js';
import type { AdapterOptions, HeaderGetter, HSTSOptions, ProxyHeader } from './options.js';
import { errorName, errorStatus } from './status.js';

export type {
  AdapterOptions,
  ErrorAnswer,
  ErrorContext,
  HeaderGetter,
  HSTSOptions,
  ProxyHeader,
} from './options.js';

/** The default of {@link AdapterOptions.bodyTimeout}, in milliseconds. */
export const DEFAULT_BODY_TIMEOUT = 10_000;

/** The error for a body that did not arrive within `bodyTimeout` (answered 408). */
export function bodyTimeoutError(timeout: number): TesseraError {
  return new TesseraError(
    'ERR_BAD_REQUEST',
    `The request body did not arrive within bodyTimeout (${timeout} ms).`,
    { details: { reason: 'timeout' } },
  );
}

/** The error for a body over `bodyLimit` (answered 413). */
export function bodyTooLargeError(): TesseraError {
  return new TesseraError('ERR_BAD_REQUEST', 'Request body too large.', {
    details: { reason: 'too_large' },
  });
}

/** The error for a body the stream failed to deliver (answered 400). */
export function bodyReadError(cause: unknown): TesseraError {
  return new TesseraError('ERR_BAD_REQUEST', 'Request body could not be read.', {
    cause,
    details: { reason: 'malformed' },
  });
}

/** Client facts after applying `trustProxy`. */
export interface ClientFacts {
  ip: string | undefined;
  /** 'https' or 'http'. */
  scheme: string;
}

/** The number of trusted proxy hops of a `trustProxy` setting. */
export function hops(trust: boolean | number | undefined): number {
  if (trust === true) return 1;
  return typeof trust === 'number' && trust > 0 ? Math.floor(trust) : 0;
}

/**
 * The client IP and scheme. With `trustProxy` off the socket's address and scheme are used and
 * forwarding headers are ignored; with N hops, the address N entries from the right of
 * `X-Forwarded-For` (or `Forwarded: for=`) is taken, since entries further left are client-supplied.
 */
export function clientFacts(
  get: HeaderGetter,
  socketIp: string | undefined,
  socketScheme: string,
  trust: boolean | number | undefined,
  header: ProxyHeader = 'x-forwarded-for',
): ClientFacts {
  const n = hops(trust);
  if (n === 0) return { ip: socketIp, scheme: socketScheme };
  // One hop = one entry, counted from the right: entries further left are client-supplied. Only
  // the configured header counts, so a client cannot pick the one its proxy passes through.
  const hops_: { ip?: string | undefined; proto?: string | undefined }[] = [];
  if (header === 'forwarded') {
    for (const element of (get('forwarded') ?? '').split(',')) {
      const hop: { ip?: string; proto?: string } = {};
      for (const pair of element.split(';')) {
        const eq = pair.indexOf('=');
        if (eq === -1) continue;
        const k = pair.slice(0, eq).trim().toLowerCase();
        let v = pair
          .slice(eq + 1)
          .trim()
          .replace(/^"|"$/g, '');
        if (k === 'for') {
          if (v.startsWith('[')) v = v.slice(1, v.indexOf(']'));
          else if (v.split(':').length === 2) v = v.split(':')[0]!;
          hop.ip = v;
        } else if (k === 'proto') hop.proto = v.toLowerCase();
      }
      if (hop.ip !== undefined || hop.proto !== undefined) hops_.push(hop);
    }
  } else {
    const ips = (get('x-forwarded-for') ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    const protos = (get('x-forwarded-proto') ?? '')
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean);
    const len = Math.max(ips.length, protos.length);
    for (let i = 0; i < len; i++) {
      // Align both lists on their right ends (each proxy appends one entry to each).
      hops_.push({ ip: ips[ips.length - len + i], proto: protos[protos.length - len + i] });
    }
  }
  const hop = hops_.length >= n ? hops_[hops_.length - n] : hops_[0];
  // A single X-Forwarded-Proto value was set (overwritten) by the nearest proxy, as nginx's
  // `proxy_set_header` and cloud load balancers do; a list was appended to, hop by hop.
  const xfp = header === 'x-forwarded-for' ? (get('x-forwarded-proto') ?? '').split(',') : [];
  const proto = xfp.length === 1 && xfp[0]!.trim() ? xfp[0]!.trim().toLowerCase() : hop?.proto;
  return {
    ip: hop?.ip ?? socketIp,
    scheme: proto === 'https' || proto === 'http' ? proto : socketScheme,
  };
}

/** The CSRF facts of a request. */
export function csrfFacts(method: string, get: HeaderGetter, scheme: string): CSRFRequest {
  const host = get('host');
  return {
    method,
    secFetchSite: get('sec-fetch-site'),
    origin: get('origin'),
    referer: get('referer'),
    selfOrigin: host ? `${scheme}://${host}` : undefined,
  };
}

/** Whether a content type is an urlencoded form. */
export function isUrlencoded(contentType: string | undefined): boolean {
  return contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded') === true;
}

/**
 * Parse an urlencoded body into a prototype-free object (first value of a repeated field wins),
 * so `__proto__` and friends are plain keys.
 * @throws TesseraError `ERR_BAD_REQUEST` for malformed percent-encoding
 */
export function parseUrlencoded(body: string): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  if (!body) return out;
  for (const part of body.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawK = eq === -1 ? part : part.slice(0, eq);
    const rawV = eq === -1 ? '' : part.slice(eq + 1);
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(rawK.replace(/\+/g, ' '));
      v = decodeURIComponent(rawV.replace(/\+/g, ' '));
    } catch (e) {
      throw new TesseraError('ERR_BAD_REQUEST', 'Malformed urlencoded body.', {
        cause: e,
        details: { reason: 'malformed' },
      });
    }
    if (!(k in out)) out[k] = v;
  }
  return out;
}

/** Content types a cross-site HTML form can send without a CORS preflight (Fetch §2.2.2 "CORS-safelisted"). */
export function isSimpleContentType(contentType: string | undefined): boolean {
  if (!contentType) return true;
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return (
    t === 'text/plain' || t === 'application/x-www-form-urlencoded' || t === 'multipart/form-data'
  );
}

/**
 * The path the route predicates (`skipCSRF`, `jsonOnly`) are asked about: the path as the
 * framework's router matches it, or — where the router is the app's own — the path as sent and
 * as a URL parser reads it, when the two differ.
 */
export type RoutePath = string | readonly [sent: string, parsed: string];

/** A path whose reading by a URL parser may differ from the string sent. */
const PARSE_CHANGES = /[%\\#]|\/\.|^[^/]/;

/**
 * The path as a router that parses the request target with WHATWG `URL` and then
 * percent-decodes it reads it (dot segments resolved, `\` as `/`, an absolute-form target
 * reduced to its path, `decodeURI`), or `sent` itself when nothing would change.
 * @param sent - the path as sent, without the query
 * @returns the parsed path (the same string when no parsing could change it)
 */
export function parsedPath(sent: string): string {
  if (!PARSE_CHANGES.test(sent)) return sent;
  let path = sent;
  try {
    path = (sent.startsWith('/') ? new URL(`http://h${sent}`) : new URL(sent, 'http://h')).pathname;
  } catch {
    // Not a URL a parser would take: the sent path is all there is.
  }
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

/**
 * The readings of a path whose router tessera does not know (node:http, fetch).
 * @param sent - the path as sent, without the query
 */
export function sentAndParsed(sent: string): RoutePath {
  const parsed = parsedPath(sent);
  return parsed === sent ? sent : [sent, parsed];
}

/**
 * Whether {@link planCSRF} asks the route predicates about this request (an unsafe method with
 * CSRF on and a predicate set), so an adapter computes the route path only then.
 */
export function asksRoute(
  engine: { csrf: { enabled: boolean } },
  method: string,
  options: AdapterOptions,
): boolean {
  return (
    engine.csrf.enabled &&
    !isSafeMethod(method) &&
    (options.skipCSRF !== undefined || options.jsonOnly !== undefined)
  );
}

type RoutePredicate = (request: { method: string; path: string }) => boolean;

/** A predicate's answer for a route path: every reading (`all`) or any reading must match. */
function matches(
  predicate: RoutePredicate,
  method: string,
  path: RoutePath,
  all: boolean,
): boolean {
  if (typeof path === 'string') return predicate({ method, path });
  const first = predicate({ method, path: path[0] });
  if (first !== all) return first;
  return predicate({ method, path: path[1] });
}

/** What an adapter must do about CSRF for one request, before it has read any body. */
export type CSRFPlan =
  /** No check: safe method, CSRF off, or a skipped route. */
  | 'skip'
  /** Check with the header token (or none). */
  | 'check'
  /** The token may be in an urlencoded body: read (a copy of) it, then check. */
  | 'read-form';

/**
 * Decide the CSRF step for a request, the same way in every adapter. An opt-out (`skipCSRF`)
 * applies only when every reading of the path matches it; the `jsonOnly` rule when any does.
 * @param path - the route path (only read when {@link asksRoute} is true)
 * @returns the plan, or an error to answer with (415 for a simple body on a JSON-only route)
 */
export function planCSRF(
  engine: { csrf: { enabled: boolean; headerName: string } },
  method: string,
  path: RoutePath,
  get: HeaderGetter,
  options: AdapterOptions,
): CSRFPlan | TesseraError {
  if (isSafeMethod(method) || !engine.csrf.enabled) return 'skip';
  if (options.skipCSRF && matches(options.skipCSRF, method, path, true)) return 'skip';
  const hasHeader = !!get(engine.csrf.headerName);
  if (
    !hasHeader &&
    options.jsonOnly &&
    isSimpleContentType(get('content-type')) &&
    matches(options.jsonOnly, method, path, false)
  ) {
    return new TesseraError('ERR_BAD_REQUEST', 'This route takes JSON with the CSRF header.', {
      details: { reason: 'json_only' },
    });
  }
  return !hasHeader && isUrlencoded(get('content-type')) ? 'read-form' : 'check';
}

/** `Vary` for responses to requests whose CSRF outcome depended on these headers. */
export const CSRF_VARY = 'Sec-Fetch-Site, Origin';

/** The token a request presents: the CSRF header, else the form field. */
export function presentedToken(
  engine: { csrf: { headerName: string; fieldName: string } },
  get: HeaderGetter,
  form: Record<string, unknown> | undefined,
): string | undefined {
  const h = get(engine.csrf.headerName);
  if (h) return h;
  const f = form?.[engine.csrf.fieldName];
  return typeof f === 'string' && f !== '' ? f : undefined;
}

/**
 * The JSON error body (`{"error": name}`, plus a `hint` for plain http refused) and status for a
 * failure (status.ts). Never a stack or a token.
 */
export function errorBody(err: unknown): { status: number; body: string } {
  if (err instanceof TesseraError) {
    const name = errorName(err);
    const hint = isTesseraError(err, 'ERR_INSECURE_TRANSPORT') ? err.details.hint : undefined;
    return {
      status: errorStatus(err),
      body: JSON.stringify(hint === undefined ? { error: name } : { error: name, hint }),
    };
  }
  return { status: 500, body: JSON.stringify({ error: 'internal' }) };
}

/**
 * Whether a Host header names this machine's loopback (`localhost`, `*.localhost`, 127.0.0.0/8,
 * `[::1]`), where browsers treat plain http as a secure context and accept Secure cookies.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  let h = host.toLowerCase();
  if (h.startsWith('[')) return h.startsWith('[::1]');
  const colon = h.lastIndexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  return (
    h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/**
 * Refuse a session over plain http outside loopback, unless the engine's `allowInsecure`
 * development flag is on (OWASP ASVS 4.0.3 V3.4.1: cookies need Secure; V9.1.1: TLS everywhere).
 * @returns an error to answer with, or null
 */
export function transportError(
  scheme: string,
  host: string | undefined,
  allowInsecure: boolean,
): TesseraError | null {
  if (!host)
    return new TesseraError('ERR_BAD_REQUEST', 'The request has no Host header.', {
      details: { reason: 'no_host' },
    });
  if (scheme === 'https' || allowInsecure || isLoopbackHost(host)) return null;
  // Answered 421 Misdirected Request (status.ts).
  return new TesseraError(
    'ERR_INSECURE_TRANSPORT',
    'Refusing to serve a session over plain http outside loopback: terminate TLS (and set trustProxy behind a proxy), or set allowInsecure for development.',
  );
}

/**
 * A `Strict-Transport-Security` value (RFC 6797) for apps that want it; send it on https only.
 * @example res.setHeader('strict-transport-security', hstsHeader())
 */
export function hstsHeader(options: HSTSOptions = {}): string {
  let v = `max-age=${Math.floor(options.maxAge ?? 31_536_000)}`;
  if (options.includeSubDomains ?? true) v += '; includeSubDomains';
  if (options.preload) v += '; preload';
  return v;
}

/** Headers every response that carries or depends on a session gets. */
export const PRIVATE_HEADERS: readonly [string, string][] = [['cache-control', 'no-store']];
