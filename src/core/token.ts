/**
 * Session tokens. Format (all base64url / ASCII, cookie-safe):
 *
 *   `<kind>.<kid>.<tag>.<secret>.<mac>`
 *
 * - kind: `s` (a stored session) or `p` (a pre-session: no store record, binds a CSRF token for
 *   a visitor who has not stored anything yet — a login form).
 * - kid: id of the key-ring key whose token subkey made the MAC (rotation).
 * - tag: a slot tag only when the store asks for one (`store.slotTags`: Redis Cluster keeps each
 *   session, and a user's sessions, in one slot), keyed: {@link slotTagFor} for a signed-in
 *   session, {@link visitorSlotTag} for a visitor's; empty otherwise, so a token carries nothing
 *   derived from its user (DESIGN decision 10).
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

/** A new token secret: 32 bytes (256 bits) from the OS CSPRNG, base64url. */
export function newSecret(): string {
  return randomToken(SECRET_BYTES);
}

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

/** Bytes of a slot tag: 24 bits spread users evenly over 16,384 Cluster slots, while many users share each tag. */
const SLOT_TAG_BYTES = 3;

/**
 * The slot tag of a user's sessions, for a store that asks for one (`store.slotTags`, Redis
 * Cluster): HMAC-SHA256 of the user id under the key ring's slot subkey ({@link KeyRing.slotKey}),
 * truncated to 24 bits — 4 base64url characters. Keyed, so a token or handle reveals nothing
 * about its user to anyone without the keys; stable across key rotation (the slot subkey comes
 * from the ring's oldest key).
 * @param ring - the key ring
 * @param userId - the user id
 * @returns 4 characters of `[A-Za-z0-9_-]`
 * @example
 * ```ts
 * slotTagFor(ring, 'alice') // e.g. 'q3Zx'
 * ```
 */
export function slotTagFor(ring: KeyRing, userId: string): string {
  return hmac(ring.slotKey().key, `slot:${userId}`, SLOT_TAG_BYTES);
}

/**
 * The slot tag of a visitor's session, for a store that asks for one: HMAC-SHA256 of the token's
 * secret under the slot subkey, 24 bits. Random to anyone without the keys, and one per token, so
 * a visitor's sessions spread over every slot; derived from the secret rather than drawn apart
 * from it so that two parallel first writes from one pre-session cookie mint the same token.
 * @param ring - the key ring
 * @param secret - the token's secret ({@link ParsedToken.secret})
 * @returns 4 characters of `[A-Za-z0-9_-]`
 */
export function visitorSlotTag(ring: KeyRing, secret: string): string {
  return hmac(ring.slotKey().key, `visitor:${secret}`, SLOT_TAG_BYTES);
}

/**
 * The slot tag an id or handle carries (`tag.rest`), or `''` when it carries none.
 * @param s - a store id or a handle
 */
export function tagOfId(s: string): string {
  const dot = s.indexOf('.');
  if (dot < 1) return '';
  const tag = s.slice(0, dot);
  return TAG.test(tag) ? tag : '';
}

/** A new public handle: 16 random bytes, optionally prefixed by a slot tag (`tag.random`). */
export function newHandle(tag = ''): string {
  const r = randomToken(16);
  return tag ? `${tag}.${r}` : r;
}
