/**
 * Small HTTP helpers for the demo: security headers, bounded body reading and parsing, replies.
 * Malformed input becomes an {@link HttpError} (a 4xx), never a crash.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error answered as `{"error": code}` with `status`. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, headers: Record<string, string> = {}) {
    super(code);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** What a route answers; the server writes it after the audit trail is flushed. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** The body; `type` says what it is. */
  body?: string;
  type?: string;
}

/**
 * Content-Security-Policy: no script at all, styles and images from this origin only, forms may
 * post only here, and no framing (OWASP Clickjacking Defense Cheat Sheet).
 */
export const CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/**
 * Headers on every response. `Referrer-Policy: same-origin` keeps the app's own form posts
 * carrying a real `Origin` (with `no-referrer`, Chromium sends `Origin: null`, which the CSRF
 * check rightly refuses) while telling other sites nothing.
 */
export function securityHeaders(res: ServerResponse): void {
  res.setHeader('content-security-policy', CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'same-origin');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  res.setHeader('permissions-policy', 'camera=(), microphone=(), geolocation=()');
  res.setHeader('cache-control', 'no-store');
}

/** Largest request body the demo reads. */
export const BODY_LIMIT = 16 * 1024;

/** Read a request body, at most `limit` bytes. @throws HttpError 413 when larger, 400 when broken */
export function readBody(req: IncomingMessage, limit: number = BODY_LIMIT): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      reject(new HttpError(413, 'too_large'));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, 'too_large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', () => {
      failed = true;
      reject(new HttpError(400, 'bad_request'));
    });
  });
}

/** Whether a content type is an HTML form's urlencoded body. */
export function isUrlencoded(contentType: string | undefined): boolean {
  return contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded') === true;
}

/**
 * Parse an urlencoded body into a prototype-free object (the first of repeated fields wins).
 * @throws HttpError 400 for malformed percent-encoding
 */
export function parseForm(body: string): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const part of body.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    try {
      const k = decodeURIComponent((eq === -1 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
      const v = eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
      if (!(k in out)) out[k] = v;
    } catch {
      throw new HttpError(400, 'bad_request');
    }
  }
  return out;
}

/** A parsed request body. */
export type Body =
  | { kind: 'none' }
  | { kind: 'form'; fields: Record<string, string> }
  | { kind: 'json'; value: unknown };

/**
 * Read and parse a body: urlencoded as a form, anything else non-empty as JSON (whatever its
 * declared type, so `fetch(url, { body: JSON.stringify(x) })` works).
 * @throws HttpError 400 `bad_json` / `bad_request`, 413 `too_large`
 */
export async function parseBody(req: IncomingMessage): Promise<Body> {
  const text = await readBody(req);
  if (isUrlencoded(req.headers['content-type'])) return { kind: 'form', fields: parseForm(text) };
  if (text.trim() === '') return { kind: 'none' };
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown };
  } catch {
    throw new HttpError(400, 'bad_json');
  }
}

/** A JSON reply. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers,
    body: JSON.stringify(value),
    type: 'application/json; charset=utf-8',
  };
}

/** An HTML reply. */
export function html(status: number, page: string, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: page, type: 'text/html; charset=utf-8' };
}

/** A 303 See Other to a local path. */
export function seeOther(location: string, headers: Record<string, string> = {}): Reply {
  return { status: 303, headers: { ...headers, location } };
}

/** The `{"error": code}` reply for an {@link HttpError}. */
export function errorReply(err: HttpError): Reply {
  return json(err.status, { error: err.code }, err.headers);
}

/** Write a reply (the session adapter commits the session and sets the cookie on `end`). */
export function send(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (reply.body !== undefined) {
    res.setHeader('content-type', reply.type ?? 'text/plain; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(reply.body));
    res.end(reply.body);
  } else res.end();
}

/**
 * A safe local redirect target: a path on this origin (`/…`, not `//…` or `/\…`), printable
 * ASCII only. Anything else becomes `fallback`.
 */
export function localPath(value: unknown, fallback = '/'): string {
  if (typeof value !== 'string' || value.length > 512) return fallback;
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(value) && !value.includes('\\') ? value : fallback;
}

/** The path and query of a request URL, without trusting it to be well-formed. */
export function splitUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  const u = url ?? '/';
  const qi = u.indexOf('?');
  const path = qi === -1 ? u : u.slice(0, qi);
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(qi === -1 ? '' : u.slice(qi + 1));
  } catch {
    query = new URLSearchParams();
  }
  return { path, query };
}

/** The client IP from the socket (the demo trusts no proxy headers), IPv4-mapped IPv6 unwrapped. */
export function clientIp(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** One request header as a string (repeated headers joined). */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Whether a Host header names this machine's loopback (`localhost`, `*.localhost`, 127.0.0.0/8,
 * `[::1]`), where browsers treat plain http as a secure context and keep Secure cookies.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  let h = host.toLowerCase();
  if (h.startsWith('[')) return /^\[::1\](:\d+)?$/.test(h);
  const colon = h.lastIndexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  return (
    h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/** Whether the client prefers an HTML page (a browser navigation). */
export function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(header(req, 'accept') ?? '');
}
