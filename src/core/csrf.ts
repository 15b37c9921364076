/**
 * CSRF defences (OWASP CSRF Prevention Cheat Sheet):
 * - a synchronizer token derived from the session's store key with the key ring's CSRF subkey
 *   (HMAC, so no store write; stable until the token rotates; `kid.mac` so rotation works);
 * - Fetch Metadata (`Sec-Fetch-Site`) on every unsafe method, falling back to `Origin`, then
 *   `Referer`, against the allowed origins. With none of these headers the token alone decides.
 */
import { hmac, safeEqual } from './crypto.js';
import type { CSRFRejection } from './errors.js';
import type { KeyRing } from './keys.js';

// Defined with the errors (an `ERR_CSRF`'s details carry it), so that errors.ts imports nothing.
export type { CSRFRejection } from './errors.js';

/** The request facts a CSRF check looks at. */
export interface CSRFRequest {
  method: string;
  /** `Sec-Fetch-Site` header. */
  secFetchSite?: string | undefined;
  origin?: string | undefined;
  referer?: string | undefined;
  /** The origin this request was addressed to (`scheme://host[:port]`), used when no origins are configured. */
  selfOrigin?: string | undefined;
}

/** Methods that never need a CSRF check (RFC 9110 §9.2.1 safe methods). */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE';
}

/** The synchronizer token for a session binding (its token's secret part): `kid.mac`. */
export function csrfTokenFor(ring: KeyRing, binding: string): string {
  const { id, key } = ring.primary('csrf');
  return `${id}.${hmac(key, `csrf:${binding}`, 32)}`;
}

/** Constant-time check of a presented synchronizer token; any key in the ring may have made it. */
export function verifyCSRFToken(ring: KeyRing, binding: string, presented: string): boolean {
  if (presented.length > 100) return false;
  const dot = presented.indexOf('.');
  if (dot < 1) return false;
  const k = ring.get('csrf', presented.slice(0, dot));
  if (!k) return false;
  return safeEqual(hmac(k.key, `csrf:${binding}`, 32), presented.slice(dot + 1));
}

/**
 * The header half of the check: Fetch Metadata first, then Origin, then Referer.
 * @param allowed - allowed origins (`scheme://host[:port]`, lower-case); empty = only `selfOrigin`
 * @returns null when the headers allow the request (or are all absent), else the reason
 */
export function checkRequestOrigin(
  req: CSRFRequest,
  allowed: ReadonlySet<string>,
  options: { allowSameSite?: boolean } = {},
): CSRFRejection | null {
  const site = req.secFetchSite?.toLowerCase();
  if (site !== undefined && site !== '') {
    if (site === 'same-origin' || site === 'none') return null;
    if (site === 'same-site' && options.allowSameSite) return null;
    return 'cross_site';
  }
  const ok = (origin: string) =>
    allowed.size > 0
      ? allowed.has(origin)
      : req.selfOrigin !== undefined && origin === req.selfOrigin.toLowerCase();
  if (req.origin !== undefined && req.origin !== '') {
    const o = req.origin.toLowerCase();
    if (o === 'null') return 'origin_null';
    return ok(o) ? null : 'origin_mismatch';
  }
  if (req.referer !== undefined && req.referer !== '') {
    let o: string;
    try {
      o = new URL(req.referer).origin.toLowerCase();
    } catch {
      return 'referer_mismatch';
    }
    return ok(o) ? null : 'referer_mismatch';
  }
  return null;
}

/**
 * Normalise a configured origin (`https://Example.com:443/` → `https://example.com`).
 * @throws TypeError for a value that is not an http(s) origin
 */
export function normalizeOrigin(origin: string): string {
  const u = new URL(origin);
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new TypeError(`not an http(s) origin: ${origin}`);
  return u.origin.toLowerCase();
}
