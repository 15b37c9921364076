/**
 * The sealed payload and its codec: what a sealed cookie holds, and how it is sealed and opened.
 *
 * Cookie value: `v1.<kid>.<base64url(iv ‖ ciphertext ‖ tag)>`, AES-256-GCM under the key ring's
 * `seal` subkey; the associated data binds the format version, the cookie name and the key id.
 * The plaintext is a JSON array `[1, handle, userId, createdAt, authenticatedAt, issuedAt,
 * lastSeenAt, idleExpiresAt, absoluteExpiresAt, binding, data]`.
 */
import { MAX_COOKIE_BYTES } from '../cookie.js';
import { aeadOpenCanonical, aeadSeal, isCanonicalBase64url, randomToken } from '../crypto.js';
import { TesseraError } from '../errors.js';
import type { KeyRing } from '../keys.js';
import { copyJSON, OpenedCache } from '../opened-cache.js';

/** @internal What the seal holds. */
export interface Payload {
  handle: string;
  userId: string | null;
  createdAt: number;
  authenticatedAt: number | null;
  /** When this session was issued (sign-in, creation, or the survivor of `revokeOthers`); compared with the watermark. */
  issuedAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  /** Secret random value the double-submit CSRF token is bound to; new on every rotation. */
  binding: string;
  data: Record<string, unknown>;
}

const FORMAT = 'v1.';
/**
 * Opened seals remembered per codec: two generations of this many cookies, each at most
 * OPENED_MAX_CHARS long (opened-cache.ts; a larger seal is opened every time).
 */
const OPENED_GENERATION = 256;
const OPENED_MAX_CHARS = 1024;
/** Bytes of the random CSRF binding a seal carries. */
const BINDING_BYTES = 16;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function toPayload(x: unknown): Payload | null {
  if (!Array.isArray(x) || x.length !== 11 || x[0] !== 1) return null;
  const [, handle, userId, createdAt, authenticatedAt, issuedAt, lastSeenAt, idle, absolute, b, d] =
    x as unknown[];
  if (
    typeof handle !== 'string' ||
    !(userId === null || typeof userId === 'string') ||
    !isTime(createdAt) ||
    !(authenticatedAt === null || isTime(authenticatedAt)) ||
    !isTime(issuedAt) ||
    !isTime(lastSeenAt) ||
    !isTime(idle) ||
    !isTime(absolute) ||
    typeof b !== 'string' ||
    b === '' ||
    d === null ||
    typeof d !== 'object' ||
    Array.isArray(d)
  ) {
    return null;
  }
  return {
    handle,
    userId,
    createdAt,
    authenticatedAt,
    issuedAt,
    lastSeenAt,
    idleExpiresAt: idle,
    absoluteExpiresAt: absolute,
    binding: b,
    data: d as Record<string, unknown>,
  };
}

/** @internal A new random CSRF binding (a new one on every rotation). */
export function newBinding(): string {
  return randomToken(BINDING_BYTES);
}

/** @internal What the double-submit CSRF token of a seal is bound to. */
export function bindingOf(p: Payload): string {
  return `${p.handle}.${p.binding}`;
}

/** @internal The error for a seal that would not fit in a cookie. */
export function tooLarge(size: number): TesseraError {
  return new TesseraError(
    'ERR_DATA_TOO_LARGE',
    `The sealed session would not fit in a ${MAX_COOKIE_BYTES}-byte cookie: keep large data in a server-side store.`,
    { details: { size, limit: MAX_COOKIE_BYTES } },
  );
}

/** What a cookie value opened to, as remembered (never handed out: callers get copies). */
interface Opened {
  readonly p: Readonly<Payload>;
  readonly kid: string;
}

/** A payload the caller may change: its own object and its own copy of the data. */
const copyPayload = (p: Readonly<Payload>): Payload => ({ ...p, data: copyJSON(p.data) });

/**
 * @internal Seals and opens payloads for one cookie name under one key ring. Cookie values that
 * opened are remembered (opened-cache.ts) by their exact text, so a browser replaying the same
 * cookie skips the AES-GCM open and JSON.parse; the cache lives and dies with this codec and so
 * with its key ring (a ring without a key is another engine, with an empty cache).
 */
export class PayloadCodec {
  readonly #ring: KeyRing;
  readonly #cookieName: string;
  readonly #opened = new OpenedCache<Opened>(OPENED_GENERATION, OPENED_MAX_CHARS);
  /** The associated data's bytes per key id, made once (the cookie name and key id are fixed). */
  readonly #aad = new Map<string, Buffer>();

  constructor(ring: KeyRing, cookieName: string) {
    this.#ring = ring;
    this.#cookieName = cookieName;
  }

  /** The associated data of a seal under `kid`; only for a key id of the ring (bounded). */
  #aadFor(kid: string): Buffer {
    let a = this.#aad.get(kid);
    if (a === undefined) {
      a = Buffer.from(`tessera/sealed/v1|${this.#cookieName}|${kid}`, 'utf8');
      this.#aad.set(kid, a);
    }
    return a;
  }

  /**
   * Open a cookie value (from the cache when this exact value opened before).
   * @returns a payload of the caller's own (changing it changes nothing remembered) and the key
   *   id that sealed it, or why it does not open (`malformed`, `unknown_key`, `tampered`,
   *   `corrupt`). Deadlines and revocation are not judged here: the caller does, every time.
   */
  open(value: string): { p: Payload; kid: string } | string {
    const known = this.#opened.get(value);
    if (known !== undefined) return { p: copyPayload(known.p), kid: known.kid };
    if (!value.startsWith(FORMAT)) return 'malformed';
    const dot = value.indexOf('.', FORMAT.length);
    if (dot <= FORMAT.length) return 'malformed';
    const kid = value.slice(FORMAT.length, dot);
    const blob = value.slice(dot + 1);
    // The one canonical-spelling check of the blob (aeadOpenCanonical does not repeat it).
    if (blob === '' || !isCanonicalBase64url(blob)) return 'malformed';
    const k = this.#ring.get('seal', kid);
    if (!k) return 'unknown_key';
    // From here on the key id is the ring's own string: `kid` is a slice of the request's whole
    // Cookie header, which V8 would keep alive for as long as the cache or the AAD map holds it.
    const json = aeadOpenCanonical(k.key, blob, this.#aadFor(k.id));
    if (json === null) return 'tampered';
    let p: Payload | null = null;
    try {
      p = toPayload(JSON.parse(json));
    } catch {
      // falls through to 'corrupt'
    }
    if (!p) return 'corrupt';
    this.#opened.set(value, { p: Object.freeze(copyPayload(p)), kid: k.id });
    return { p, kid: k.id };
  }

  /**
   * Seal `p` as last seen at `lastSeenAt` with the idle deadline `idleExpiresAt` (`p` itself is
   * not changed), under the ring's primary key.
   * @returns the cookie value
   * @throws TesseraError `ERR_INVALID_DATA` for data that is not JSON, `ERR_DATA_TOO_LARGE` for
   *   a plaintext over the cookie limit
   */
  seal(p: Payload, lastSeenAt: number, idleExpiresAt: number): string {
    let json: string;
    try {
      json = JSON.stringify([
        1,
        p.handle,
        p.userId,
        p.createdAt,
        p.authenticatedAt,
        p.issuedAt,
        lastSeenAt,
        idleExpiresAt,
        p.absoluteExpiresAt,
        p.binding,
        p.data,
      ]);
    } catch (e) {
      throw new TesseraError('ERR_INVALID_DATA', 'Session data must be JSON-serialisable.', {
        cause: e,
      });
    }
    // A string longer than the limit in UTF-16 units is longer in bytes too: refuse it unsealed.
    if (json.length > MAX_COOKIE_BYTES) throw tooLarge(json.length);
    const { id, key } = this.#ring.primary('seal');
    return `${FORMAT}${id}.${aeadSeal(key, json, this.#aadFor(id))}`;
  }
}
