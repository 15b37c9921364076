/**
 * Encoding of session data for the store: JSON text, or sealed with AES-256-GCM under the key
 * ring's data subkey. Format of sealed data: `e2.<kid>.<base64url(iv ‖ ct ‖ tag)>`.
 *
 * The associated data binds the seal to the fields of the record that grant authority: its store
 * key (`id`), `handle`, `userId`, `authenticatedAt` and `absoluteExpiresAt`. Whoever can write
 * the store can therefore not turn one user's cookie into another user's session (rewriting
 * `user_id`), forge freshness (`authenticated_at`), lengthen a session's life (`absolute_expires_at`)
 * or move a row under another token's id: a changed field fails to open, and the engine treats
 * the session as absent. Every engine path that changes one of these fields re-seals the data
 * (create, rotate, sign-in); the other fields (idle deadline, last-seen metadata, version) change
 * on touches without a re-seal and are not bound.
 *
 * Records sealed by 0.1.0 (`e1.`, bound to the handle alone) are refused (`legacy`): accepting
 * them would keep the rewrite open for every such row — and for any old `e1` blob a writer kept
 * and could put back — since nothing the store holds can tell a genuine `e1` row from a rewritten
 * one. Their users sign in again once.
 */
import { aeadOpen, aeadSeal } from './crypto.js';
import type { KeyRing } from './keys.js';

/** The record fields sealed data is bound to (a {@link SessionRecord} has them all). */
export interface DataBinding {
  readonly id: string;
  readonly handle: string;
  readonly userId: string | null;
  readonly authenticatedAt: number | null;
  readonly absoluteExpiresAt: number;
}

/** Result of opening stored data. */
export type DecodeResult =
  | { ok: true; value: Record<string, unknown>; kid: string | null }
  | { ok: false; reason: 'corrupt' | 'retired_key' | 'tampered' | 'unsealed' | 'legacy' };

const SEALED = 'e2.';
const LEGACY = 'e1.';

/** The associated data of a record's seal: its binding fields, unambiguously joined. */
function aadOf(b: DataBinding): string {
  return JSON.stringify([
    'tessera/data/v2',
    b.id,
    b.handle,
    b.userId,
    b.authenticatedAt,
    b.absoluteExpiresAt,
  ]);
}

/** Whether stored data is sealed (or claims to be), as opposed to plain JSON. */
export function isSealedData(stored: string): boolean {
  return stored.charCodeAt(0) === 101; /* e */
}

/**
 * Encode data for the store, sealed to `binding` when `encrypt` is on.
 * @throws TypeError (from JSON.stringify) for data that is not JSON-serialisable
 */
export function encodeData(
  ring: KeyRing,
  data: Record<string, unknown>,
  binding: DataBinding,
  encrypt: boolean,
): string {
  const json = JSON.stringify(data);
  if (!encrypt) return json;
  const { id, key } = ring.primary('data');
  return `${SEALED}${id}.${aeadSeal(key, json, aadOf(binding))}`;
}

/**
 * Decode what {@link encodeData} made. Sealed data opens only for the record it was sealed to.
 * @param requireSealed - refuse plain JSON (`unsealed`): set when encryption is on, since only a
 *   store writer can have put plain JSON there
 */
export function decodeData(
  ring: KeyRing,
  stored: string,
  binding: DataBinding,
  requireSealed: boolean,
): DecodeResult {
  let json: string | null = stored;
  let kid: string | null = null;
  if (stored.startsWith(SEALED)) {
    const dot = stored.indexOf('.', SEALED.length);
    if (dot === -1) return { ok: false, reason: 'corrupt' };
    kid = stored.slice(SEALED.length, dot);
    const k = ring.get('data', kid);
    if (!k) return { ok: false, reason: 'retired_key' };
    json = aeadOpen(k.key, stored.slice(dot + 1), aadOf(binding));
    if (json === null) return { ok: false, reason: 'tampered' };
  } else if (stored.startsWith(LEGACY)) {
    return { ok: false, reason: 'legacy' };
  } else if (requireSealed) {
    return { ok: false, reason: 'unsealed' };
  }
  try {
    const value: unknown = JSON.parse(json);
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return { ok: false, reason: 'corrupt' };
    return { ok: true, value: value as Record<string, unknown>, kid };
  } catch {
    return { ok: false, reason: 'corrupt' };
  }
}
