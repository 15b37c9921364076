/**
 * Session tokens. Format (all base64url / ASCII, cookie-safe):
 *
 *   `<kind>.<kid>.<tag>.<secret>.<mac>`
 *
 * - kind: `s` (a stored session) or `p` (a pre-session: no store record, binds a CSRF token for
 *   a visitor who has not stored anything yet — a login form).
 * - kid: id of the key-ring key whose token subkey made the MAC (rotation).
 * - tag: optional slot tag (Redis Cluster keeps a user's sessions and index in one slot); empty
 *   for anonymous sessions.
 * - secret: 32 bytes (256 bits) from the OS CSPRNG.
 * - mac: HMAC-SHA256(tokenKey[kid], everything before it), truncated to 128 bits.
 *
 * The MAC lets the engine reject a forged or random token before any store I/O, so guessing
 * costs the store nothing. The store key is SHA-256 of the whole token (DESIGN decision 1):
 * a dump of the store opens no session, and one hash (~0.3 µs) is cheaper than the `id.secret`
 * form's extra constant-time compare against a stored hash, with the same security (the key is
 * a 256-bit preimage).
 */
import { hmac, randomToken, safeEqual, sha256 } from './crypto.js';
import type { KeyRing } from './keys.js';

/** What a verified token says. */
export interface ParsedToken {
  kind: 's' | 'p';
  kid: string;
  tag: string;
  /** Store key: `[tag.]sha256(token)`. */
  id: string;
  /**
   * The token's 256-bit random part. The CSRF token is bound to it, and a pre-session's secret
   * is carried into the session its first write creates, so a CSRF token handed out before that
   * write stays valid; every rotation draws a new one.
   */
  secret: string;
}

/** Why a token was refused (a `token_invalid` event's reason). */
export type TokenRejection = 'malformed' | 'unknown_key' | 'bad_mac';

const SECRET_BYTES = 32;
const MAC_BYTES = 16;
const SECRET_CHARS = 43;
const MAC_CHARS = 22;
const TAG = /^[A-Za-z0-9_-]{0,12}$/;
/** Upper bound of a well-formed token's length; longer cookies are refused unparsed. */
export const MAX_TOKEN_LENGTH = 2 + 33 + 13 + SECRET_CHARS + 1 + MAC_CHARS;

/** Mint a new token under the ring's primary key. */
export function mintToken(
  ring: KeyRing,
  kind: 's' | 'p',
  tag = '',
  secret: string = randomToken(SECRET_BYTES),
): { token: string; parsed: ParsedToken } {
  const { id: kid, key } = ring.primary('token');
  const body = `${kind}.${kid}.${tag}.${secret}`;
  const token = `${body}.${hmac(key, body, MAC_BYTES)}`;
  return { token, parsed: { kind, kid, tag, id: storeKey(token, tag), secret } };
}

/** The store key of a token: `[tag.]base64url(SHA-256(token))`. */
export function storeKey(token: string, tag: string): string {
  const h = sha256(token);
  return tag ? `${tag}.${h}` : h;
}

/**
 * Check a token's shape and MAC. Constant-time on the MAC. No store I/O.
 * @returns the parsed token, or the reason it was refused
 */
export function verifyToken(ring: KeyRing, token: string): ParsedToken | TokenRejection {
  if (token.length > MAX_TOKEN_LENGTH || token.length < SECRET_CHARS + MAC_CHARS + 6)
    return 'malformed';
  const kind = token.charCodeAt(0);
  if ((kind !== 115 /* s */ && kind !== 112) /* p */ || token.charCodeAt(1) !== 46)
    return 'malformed';
  const macDot = token.length - MAC_CHARS - 1;
  const secretDot = macDot - SECRET_CHARS - 1;
  if (token.charCodeAt(macDot) !== 46 || token.charCodeAt(secretDot) !== 46) return 'malformed';
  const kidEnd = token.indexOf('.', 2);
  if (kidEnd < 3 || kidEnd > secretDot - 1) return 'malformed';
  const kid = token.slice(2, kidEnd);
  const tag = token.slice(kidEnd + 1, secretDot);
  if (!TAG.test(tag)) return 'malformed';
  if (
    !/^[A-Za-z0-9_-]+$/.test(token.slice(secretDot + 1, macDot)) ||
    !/^[A-Za-z0-9_-]+$/.test(token.slice(macDot + 1))
  ) {
    return 'malformed';
  }
  const key = ring.get('token', kid);
  if (!key) return 'unknown_key';
  const body = token.slice(0, macDot);
  if (!safeEqual(hmac(key.key, body, MAC_BYTES), token.slice(macDot + 1))) return 'bad_mac';
  return {
    kind: kind === 115 ? 's' : 'p',
    kid,
    tag,
    id: storeKey(token, tag),
    secret: token.slice(secretDot + 1, macDot),
  };
}

/**
 * The Cluster slot tag for a user: the first 6 base64url characters of SHA-256(userId).
 * Stores that shard (Redis Cluster) put `{tag}` in a user's session keys and index key.
 */
export function slotTagFor(userId: string): string {
  return sha256(userId).slice(0, 6);
}

/** A new public handle: 16 random bytes, optionally prefixed by a slot tag (`tag.random`). */
export function newHandle(tag = ''): string {
  const r = randomToken(16);
  return tag ? `${tag}.${r}` : r;
}
