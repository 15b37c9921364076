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
import { copyJSON, OpenedCache } from './opened-cache.js';

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

/**
 * Opened seals remembered per key ring: two generations of this many, each sealed text at most
 * OPENED_MAX_CHARS long (opened-cache.ts; larger data is opened every time).
 */
const OPENED_GENERATION = 512;
const OPENED_MAX_CHARS = 2048;

/** What a seal opened to, and for which record fields (its associated data). */
interface OpenedData extends DataBinding {
  readonly value: Readonly<Record<string, unknown>>;
  readonly kid: string;
  readonly grace: Grace | null;
}

/**
 * The opened-seal cache of each key ring (a WeakMap, so it goes with its ring): the same record
 * read again — by a later request, or by this one's lazy `get` after the load checked the seal —
 * skips the AES-GCM open and JSON.parse. A ring is fixed once made: a ring without a key (a
 * retired key) is another ring, with an empty cache.
 */
const opened = new WeakMap<KeyRing, OpenedCache<OpenedData>>();

function openedOf(ring: KeyRing): OpenedCache<OpenedData> {
  let c = opened.get(ring);
  if (c === undefined) {
    c = new OpenedCache(OPENED_GENERATION, OPENED_MAX_CHARS);
    opened.set(ring, c);
  }
  return c;
}

/** @internal Whether a remembered seal was opened for exactly these fields (so for the same AAD). */
export function sameBinding(a: DataBinding, b: DataBinding): boolean {
  return (
    a.id === b.id &&
    a.handle === b.handle &&
    a.userId === b.userId &&
    a.authenticatedAt === b.authenticatedAt &&
    a.absoluteExpiresAt === b.absoluteExpiresAt
  );
}

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
  const head = grace ? JSON.stringify([grace.id, grace.until]) : null;
  const sealed = `${SEALED}${id}.${aeadSeal(key, head ? `${head}\n${json}` : json, aadOf(binding))}`;
  // What this seal will open to is known now: the next load of the record (the next request of
  // this session, on this instance) skips the open. It is read back from the JSON text, so it is
  // exactly what an open would give.
  const opened = parseData(json, id, head ? parseGrace(head) : null);
  if (opened.ok && (head === null || opened.grace !== null))
    remember(ring, sealed, binding, { ...opened, kid: id }, { made: true });
  return sealed;
}

/**
 * Keep what `sealed` opens to for `binding` (a private copy of the value, never handed out);
 * `made`: this process has just sealed it (see {@link OpenedCache.set}).
 */
function remember(
  ring: KeyRing,
  sealed: string,
  binding: DataBinding,
  opened: { value: Record<string, unknown>; kid: string; grace: Grace | null },
  options?: { made?: boolean },
): void {
  const { id, handle, userId, authenticatedAt, absoluteExpiresAt } = binding;
  const { value, kid, grace } = opened;
  const entry: OpenedData = {
    id,
    handle,
    userId,
    authenticatedAt,
    absoluteExpiresAt,
    value,
    kid,
    grace: grace && Object.freeze({ id: grace.id, until: grace.until }),
  };
  openedOf(ring).set(sealed, entry, options);
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
  if (stored.startsWith(SEALED)) {
    // A seal opened before for the same fields opens the same way: the AAD is made of them.
    const cache = openedOf(ring);
    const known = cache.get(stored);
    if (known !== undefined && sameBinding(known, binding))
      return { ok: true, value: copyJSON(known.value), kid: known.kid, grace: known.grace };
    const r = openSealed(ring, stored, binding);
    if (r.ok) remember(ring, stored, binding, { ...r, value: copyJSON(r.value), kid: r.kid! });
    return r;
  }
  if (stored.startsWith(LEGACY)) return { ok: false, reason: 'legacy' };
  if (requireSealed) return { ok: false, reason: 'unsealed' };
  return parseData(stored, null, null);
}

/** Open `e2.` data for `binding` (no cache). */
function openSealed(ring: KeyRing, stored: string, binding: DataBinding): DecodeResult {
  const dot = stored.indexOf('.', SEALED.length);
  if (dot === -1) return { ok: false, reason: 'corrupt' };
  const kid = stored.slice(SEALED.length, dot);
  const k = ring.get('data', kid);
  if (!k) return { ok: false, reason: 'retired_key' };
  let json = aeadOpen(k.key, stored.slice(dot + 1), aadOf(binding));
  if (json === null) return { ok: false, reason: 'tampered' };
  let grace: Grace | null = null;
  if (json.charCodeAt(0) === 91 /* [ */) {
    const nl = json.indexOf('\n');
    grace = nl === -1 ? null : parseGrace(json.slice(0, nl));
    if (!grace) return { ok: false, reason: 'corrupt' };
    json = json.slice(nl + 1);
  }
  // The ring's own string for the key id, not a slice of `stored` (which the cache would keep).
  return parseData(json, k.id, grace);
}

/** The data object in JSON text, or `corrupt`. */
function parseData(json: string, kid: string | null, grace: Grace | null): DecodeResult {
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
