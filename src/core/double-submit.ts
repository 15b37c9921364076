/**
 * Signed double-submit CSRF tokens (OWASP CSRF Prevention Cheat Sheet, "Signed Double-Submit
 * Cookie (RECOMMENDED)"), for apps without server-side session state (sealed mode).
 *
 * A token is `kid.nonce.mac` with
 * `mac = HMAC-SHA256(csrfSubkey[kid], len(binding) "!" binding "!" len(nonce) "!" nonce)`:
 * the cheat sheet's message layout, length-prefixed so that no two (binding, nonce) pairs give
 * the same message. The binding is a session-bound secret that travels in the (sealed, HttpOnly)
 * session cookie — the "double submission" is that cookie plus the token in a header or form
 * field — so a token minted for one session never verifies for another, and an attacker who can
 * write cookies for a sibling subdomain still cannot mint one without the key. A fresh nonce per
 * token makes every token look different (no fixed secret for BREACH-style compression oracles
 * to recover) while all tokens of a session stay valid together.
 */
import { hmac, randomToken, safeEqual } from './crypto.js';
import type { KeyRing } from './keys.js';

const NONCE_BYTES = 16;
const NONCE_CHARS = 22;
const MAC_CHARS = 43;
/** Longest well-formed token: a 32-character key id, two dots, nonce and MAC. */
const MAX_TOKEN_CHARS = 32 + 2 + NONCE_CHARS + MAC_CHARS;
const B64URL = /^[A-Za-z0-9_-]+$/;

function message(binding: string, nonce: string): string {
  return `tessera/double-submit:${binding.length}!${binding}!${nonce.length}!${nonce}`;
}

/**
 * Mint a signed double-submit token bound to a session value, under the ring's primary CSRF
 * subkey. Every call draws a new nonce; all tokens for the same binding verify.
 * @param ring - the key ring
 * @param binding - a session-bound value the attacker cannot read (e.g. a random value kept
 *   inside an encrypted, HttpOnly session cookie); must not be empty
 * @returns `kid.nonce.mac`, cookie- and header-safe ASCII
 * @throws TypeError when `binding` is empty
 * @example
 * ```ts
 * const token = signDoubleSubmit(ring, session.binding)
 * html`<input type="hidden" name="_csrf" value="${token}">`
 * ```
 */
export function signDoubleSubmit(ring: KeyRing, binding: string): string {
  if (binding === '') throw new TypeError('signDoubleSubmit needs a non-empty binding');
  const { id, key } = ring.primary('csrf');
  const nonce = randomToken(NONCE_BYTES);
  return `${id}.${nonce}.${hmac(key, message(binding, nonce), 32)}`;
}

/**
 * Check a presented token against the session's binding in constant time (for the MAC); any
 * key in the ring may have signed it, so tokens survive a key rotation until the key retires.
 * @param ring - the key ring
 * @param binding - the same session-bound value the token was minted for
 * @param presented - the token from the request header or form field
 * @returns whether the token was minted by this app for this binding
 * @example
 * ```ts
 * if (!verifyDoubleSubmit(ring, session.binding, req.headers['x-csrf-token'] ?? '')) reply(403)
 * ```
 */
export function verifyDoubleSubmit(ring: KeyRing, binding: string, presented: string): boolean {
  if (binding === '' || typeof presented !== 'string' || presented.length > MAX_TOKEN_CHARS)
    return false;
  const macDot = presented.length - MAC_CHARS - 1;
  const nonceDot = macDot - NONCE_CHARS - 1;
  if (nonceDot < 1 || presented.charCodeAt(macDot) !== 46 || presented.charCodeAt(nonceDot) !== 46)
    return false;
  const nonce = presented.slice(nonceDot + 1, macDot);
  const mac = presented.slice(macDot + 1);
  if (!B64URL.test(nonce) || !B64URL.test(mac)) return false;
  const k = ring.get('csrf', presented.slice(0, nonceDot));
  if (!k) return false;
  return safeEqual(hmac(k.key, message(binding, nonce), 32), mac);
}
