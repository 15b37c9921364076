/**
 * The key ring: one list of master keys, the first of which signs and seals, all of which
 * verify and open (two-phase rotation). Every purpose gets its own HKDF subkey, so a key used
 * for token MACs is never the key used for data encryption.
 */
import { decodeBase64, deriveKey, randomToken } from './crypto.js';
import { TesseraError } from './errors.js';

/** One master key as configured. */
export interface KeyInput {
  /** Short id written into tokens and ciphertexts: 1–32 of `[A-Za-z0-9_-]`. */
  id: string;
  /** 32 random bytes: a Uint8Array, or base64 / base64url text of them. */
  secret: string | Uint8Array;
  /** When the key was made (epoch ms, or a Date / ISO string); used by `doctor` to judge key age. */
  createdAt: number | string | Date;
}

/** The purposes a subkey is derived for. */
export type KeyPurpose = 'token' | 'csrf' | 'data' | 'seal';

/** A derived, ready-to-use key. */
export interface DerivedKey {
  id: string;
  createdAt: number;
  key: Buffer;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * A secret written in hex (a common way to print random bytes). 32 or more hex digits and
 * nothing else: a random base64 secret of 43+ characters is all hex digits with a chance below
 * 10^-19.
 */
const HEX_SECRET = /^[0-9a-fA-F]{32,}$/;

const HOW =
  'pass keys: [{ id, secret, createdAt }], primary first (make a key with generateKey() or `npx tessera keygen`; read TESSERA_KEYS with loadKeys() from "tessera-session/keys").';

/** Refuse what is not a non-empty list of keys, saying what it is instead. */
function checkKeyList(keys: unknown): asserts keys is readonly unknown[] {
  if (Array.isArray(keys) && keys.length > 0) return;
  if (typeof keys === 'string') {
    throw new TesseraError(
      'ERR_KEY',
      `keys is a string: tessera takes key objects with 32 random bytes each, not a passphrase (express-session's \`secret\`) — ${HOW}`,
    );
  }
  if (keys !== null && typeof keys === 'object' && !Array.isArray(keys)) {
    throw new TesseraError(
      'ERR_KEY',
      `keys is one object, not a list: wrap it in an array — keys: [generateKey()] — or ${HOW}`,
    );
  }
  throw new TesseraError('ERR_KEY', `The key ring is empty: ${HOW}`);
}

/** Refuse an entry of the list that is not a key object, naming its position. */
function checkKeyShape(k: unknown, i: number): asserts k is KeyInput {
  if (k !== null && typeof k === 'object' && !Array.isArray(k)) return;
  if (typeof k === 'string') {
    // Never quote the string: it may be a secret.
    throw new TesseraError(
      'ERR_KEY',
      `keys[${i}] is a string, not a key: a key is { id, secret, createdAt } with a 32-byte random secret, not a passphrase. For TESSERA_KEYS text, use loadKeys() or parseKeys() from "tessera-session/keys"; otherwise ${HOW}`,
    );
  }
  throw new TesseraError(
    'ERR_KEY',
    `keys[${i}] is not a key object { id, secret, createdAt }: ${HOW}`,
  );
}

/**
 * A parsed, validated key ring with per-purpose subkeys cached at construction.
 *
 * @example
 * ```ts
 * const ring = new KeyRing([{ id: 'k2', secret: process.env.KEY2!, createdAt: '2026-11-01' },
 *                           { id: 'k1', secret: process.env.KEY1!, createdAt: '2026-05-01' }])
 * ```
 */
export class KeyRing {
  /** Key ids, primary first. */
  readonly ids: readonly string[];
  readonly #byPurpose: Record<KeyPurpose, Map<string, DerivedKey>>;
  readonly #primary: Record<KeyPurpose, DerivedKey>;
  readonly #created: ReadonlyMap<string, number>;
  readonly #slot: DerivedKey;

  /**
   * @param keys - master keys, the first one primary; at least one
   * @throws TesseraError `ERR_KEY` for a missing, short, malformed, duplicate-id or reused key
   */
  constructor(keys: readonly KeyInput[]) {
    checkKeyList(keys);
    const seenIds = new Set<string>();
    const seenSecrets = new Set<string>();
    const parsed: { id: string; secret: Buffer; createdAt: number }[] = [];
    for (const [i, k] of keys.entries()) {
      checkKeyShape(k, i);
      if (typeof k.id !== 'string' || !KEY_ID.test(k.id)) {
        throw new TesseraError(
          'ERR_KEY',
          k.id === undefined
            ? `keys[${i}] has no id: give it one of 1–32 characters of [A-Za-z0-9_-] (${HOW})`
            : `Key id ${JSON.stringify(k.id)} is invalid: use 1–32 characters of [A-Za-z0-9_-].`,
        );
      }
      if (seenIds.has(k.id)) throw new TesseraError('ERR_KEY', `Key id "${k.id}" appears twice.`);
      seenIds.add(k.id);
      if (typeof k.secret === 'string' && HEX_SECRET.test(k.secret)) {
        // Hex digits are base64 digits too: read as base64, 64 hex digits silently became 48
        // other bytes. Refuse them, since docs/keys.md says base64.
        throw new TesseraError(
          'ERR_KEY',
          `Key "${k.id}" has a hex secret (${k.secret.length} hex digits), but secrets are base64 of 32 random bytes: make one with generateKey() or \`npx tessera keygen\`, or convert yours with Buffer.from(hex, 'hex').toString('base64') (docs/keys.md: how to keep the sessions made under it).`,
        );
      }
      const secret =
        typeof k.secret === 'string' ? decodeBase64(k.secret) : Buffer.from(k.secret ?? []);
      if (!secret || secret.length < 32) {
        throw new TesseraError(
          'ERR_KEY',
          `Key "${k.id}" is too short or not base64: a secret must be 32 random bytes (44 base64 characters).`,
        );
      }
      const fingerprint = secret.toString('hex');
      if (seenSecrets.has(fingerprint)) {
        throw new TesseraError('ERR_KEY', `Key "${k.id}" reuses the secret of another key.`);
      }
      seenSecrets.add(fingerprint);
      if (new Set(secret).size < 8) {
        throw new TesseraError('ERR_KEY', `Key "${k.id}" is not random (too few distinct bytes).`);
      }
      const createdAt =
        k.createdAt instanceof Date
          ? k.createdAt.getTime()
          : typeof k.createdAt === 'string'
            ? Date.parse(k.createdAt)
            : k.createdAt;
      if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) {
        throw new TesseraError(
          'ERR_KEY',
          `Key "${k.id}" needs a valid createdAt (epoch ms or ISO date).`,
        );
      }
      parsed.push({ id: k.id, secret, createdAt });
    }
    const purposes: KeyPurpose[] = ['token', 'csrf', 'data', 'seal'];
    const byPurpose = {} as Record<KeyPurpose, Map<string, DerivedKey>>;
    for (const p of purposes) {
      byPurpose[p] = new Map(
        parsed.map((k) => [
          k.id,
          { id: k.id, createdAt: k.createdAt, key: deriveKey(k.secret, `tessera/${p}`) },
        ]),
      );
    }
    this.#byPurpose = byPurpose;
    this.#primary = Object.fromEntries(
      purposes.map((p) => [p, byPurpose[p].get(parsed[0]!.id)!]),
    ) as Record<KeyPurpose, DerivedKey>;
    this.ids = parsed.map((k) => k.id);
    this.#created = new Map(parsed.map((k) => [k.id, k.createdAt]));
    // The slot subkey comes from the OLDEST key (earliest createdAt, then smallest id), not the
    // primary: adding and promoting a key (docs/keys.md) leaves it unchanged, so a user's
    // sessions keep one Redis Cluster slot through a rotation. It changes only when that key
    // retires, which moves a user's later sessions to another slot (stores stay correct across
    // slots; only locality is lost until the older sessions end).
    const oldest = parsed.reduce((a, b) =>
      b.createdAt < a.createdAt || (b.createdAt === a.createdAt && b.id < a.id) ? b : a,
    );
    this.#slot = {
      id: oldest.id,
      createdAt: oldest.createdAt,
      key: deriveKey(oldest.secret, 'tessera/slot'),
    };
  }

  /**
   * The subkey that keys slot tags (for stores that shard by user, such as Redis Cluster):
   * derived from the oldest key of the ring, so it stays the same while keys are added and
   * promoted.
   */
  slotKey(): DerivedKey {
    return this.#slot;
  }

  /** The subkey that signs/seals new material for `purpose`. */
  primary(purpose: KeyPurpose): DerivedKey {
    return this.#primary[purpose];
  }

  /** The subkey with this id for `purpose`, or undefined for an unknown (e.g. retired) id. */
  get(purpose: KeyPurpose, id: string): DerivedKey | undefined {
    return this.#byPurpose[purpose].get(id);
  }

  /** When each key was created, primary first (for reviews of key age). */
  createdAt(): { id: string; createdAt: number }[] {
    return this.ids.map((id) => ({ id, createdAt: this.#created.get(id)! }));
  }
}

/**
 * Make a new random master key for the key ring.
 * @param id - key id @default `k` + the creation date (`k20261127`)
 * @returns a key with a base64 32-byte secret
 * @example
 * ```ts
 * console.log(JSON.stringify(generateKey()))
 * ```
 */
export function generateKey(
  id?: string,
  now: number = Date.now(),
): KeyInput & { secret: string; createdAt: string } {
  const date = new Date(now).toISOString();
  return {
    id: id ?? `k${date.slice(0, 10).replace(/-/g, '')}${randomToken(3)}`,
    secret: Buffer.from(randomToken(32), 'base64url').toString('base64'),
    createdAt: date,
  };
}
