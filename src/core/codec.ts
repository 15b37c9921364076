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
 * The seal also says which rotated-out token may read the record through its grace window
 * (`grace`: the old store key and the end of its window), since a tombstone, which carries no
 * seal, is only the store's word: a writer could otherwise point their own token's row at any
 * session's handle and read that session. The plaintext is then `[oldId,graceUntil]\n{data}`.
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

/** The rotated-out token a record may be read through, read-only, until `until` (epoch ms). */
export interface Grace {
  readonly id: string;
  readonly until: number;
}

/** Result of opening stored data (`grace` is null for plain JSON and for seals without one). */
export type DecodeResult =
  | { ok: true; value: Record<string, unknown>; kid: string | null; grace: Grace | null }
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
  grace: Grace | null = null,
): string {
  const json = JSON.stringify(data);
  if (!encrypt) return json;
  const { id, key } = ring.primary('data');
  // JSON text never holds a raw newline, so the header's end is unambiguous.
  const plain = grace ? `${JSON.stringify([grace.id, grace.until])}\n${json}` : json;
  return `${SEALED}${id}.${aeadSeal(key, plain, aadOf(binding))}`;
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
  let grace: Grace | null = null;
  if (stored.startsWith(SEALED)) {
    const dot = stored.indexOf('.', SEALED.length);
    if (dot === -1) return { ok: false, reason: 'corrupt' };
    kid = stored.slice(SEALED.length, dot);
    const k = ring.get('data', kid);
    if (!k) return { ok: false, reason: 'retired_key' };
    json = aeadOpen(k.key, stored.slice(dot + 1), aadOf(binding));
    if (json === null) return { ok: false, reason: 'tampered' };
    if (json.charCodeAt(0) === 91 /* [ */) {
      const nl = json.indexOf('\n');
      const head = nl === -1 ? null : parseGrace(json.slice(0, nl));
      if (!head) return { ok: false, reason: 'corrupt' };
      grace = head;
      json = json.slice(nl + 1);
    }
  } else if (stored.startsWith(LEGACY)) {
    return { ok: false, reason: 'legacy' };
  } else if (requireSealed) {
    return { ok: false, reason: 'unsealed' };
  }
  try {
    const value: unknown = JSON.parse(json);
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return { ok: false, reason: 'corrupt' };
    return { ok: true, value: value as Record<string, unknown>, kid, grace };
  } catch {
    return { ok: false, reason: 'corrupt' };
  }
}

function parseGrace(text: string): Grace | null {
  try {
    const h: unknown = JSON.parse(text);
    if (Array.isArray(h) && typeof h[0] === 'string' && Number.isSafeInteger(h[1]))
      return { id: h[0], until: h[1] as number };
  } catch {
    // falls through
  }
  return null;
}
