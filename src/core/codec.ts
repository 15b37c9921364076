/**
 * Encoding of session data for the store: JSON text, or sealed with AES-256-GCM under the
 * key ring's data subkey. Format of sealed data: `e1.<kid>.<base64url(iv ‖ ct ‖ tag)>`; the
 * associated data is the session's handle, so a record's data cannot be moved to another
 * session (the handle, not the store key, because the store key changes on every rotation
 * and the handle does not — one seal survives a rotation).
 */
import { aeadOpen, aeadSeal } from './crypto.js';
import type { KeyRing } from './keys.js';

/** Result of opening stored data. */
export type DecodeResult =
  | { ok: true; value: Record<string, unknown>; kid: string | null }
  | { ok: false; reason: 'corrupt' | 'retired_key' | 'tampered' };

/** Encode data for the store. */
export function encodeData(
  ring: KeyRing,
  data: Record<string, unknown>,
  aad: string,
  encrypt: boolean,
): string {
  const json = JSON.stringify(data);
  if (!encrypt) return json;
  const { id, key } = ring.primary('data');
  return `e1.${id}.${aeadSeal(key, json, aad)}`;
}

/** Decode what {@link encodeData} made (either form, so turning encryption on keeps old data readable). */
export function decodeData(ring: KeyRing, stored: string, aad: string): DecodeResult {
  let json: string | null = stored;
  let kid: string | null = null;
  if (stored.startsWith('e1.')) {
    const dot = stored.indexOf('.', 3);
    if (dot === -1) return { ok: false, reason: 'corrupt' };
    kid = stored.slice(3, dot);
    const k = ring.get('data', kid);
    if (!k) return { ok: false, reason: 'retired_key' };
    json = aeadOpen(k.key, stored.slice(dot + 1), aad);
    if (json === null) return { ok: false, reason: 'tampered' };
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
