/**
 * The demo's two users, with scrypt password hashes kept in the store's shared key-value space,
 * so a password change made through one instance is seen by every other.
 *
 * A store can lose them — a Redis restarted without persistence, a memory store evicting old
 * keys — and the demo must not then lock everyone out until it restarts. Each instance keeps the
 * last hash it saw per user (the one it seeded, read, or set), and when the store has none it
 * writes that back and uses it: a user keeps the password they last set, not the first one.
 * (Two instances may hold different last hashes if one never saw a change made through the other;
 * after a loss, the first to restore wins. A demo trade-off: the users live in the session store.)
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import type { KeyValueStore } from 'tessera-session';

/** The seeded accounts and their first passwords. */
export const DEMO_USERS: Readonly<Record<string, string>> = Object.freeze({
  alice: 'alice-password',
  bob: 'bob-password',
});

/**
 * scrypt cost. N=2^14, r=8, p=5 is one of the OWASP Password Storage Cheat Sheet's equivalent
 * settings (16 MiB of memory); the parameters are stored with each hash so they can be raised.
 */
const COST = { N: 16_384, r: 8, p: 5 } as const;
const KEY_LENGTH = 32;
/** Longer passwords are refused before hashing, so nobody can make the server hash megabytes. */
export const MAX_PASSWORD_LENGTH = 1024;

interface StoredHash {
  v: 1;
  N: number;
  r: number;
  p: number;
  salt: string;
  hash: string;
}

function hashWith(password: string, salt: Buffer, cost: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      salt,
      KEY_LENGTH,
      { ...cost, maxmem: 64 * 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

async function makeHash(password: string): Promise<StoredHash> {
  const salt = randomBytes(16);
  const hash = await hashWith(password, salt, COST);
  return { v: 1, ...COST, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

/** The canonical form of a user name: NFC, lower-case, trimmed. */
export function foldUsername(name: string): string {
  return name.normalize('NFC').trim().toLowerCase();
}

/** Options of {@link Users}. */
export interface UsersOptions {
  /** Told when a user's hash was missing from the store and has been written back. */
  onRestore?: (user: string) => void;
}

/** The accounts of the demo. */
export class Users {
  readonly #store: KeyValueStore;
  readonly #onRestore: (user: string) => void;
  /** A hash to check unknown names against, so they take as long as known ones. */
  #dummy: Promise<StoredHash> | null = null;
  /** The last stored hash this process saw for each user, to restore if the store loses it. */
  readonly #lastSeen = new Map<string, string>();

  /**
   * @param store - the shared store whose key-value space holds the hashes
   * @param options - see {@link UsersOptions}
   */
  constructor(store: KeyValueStore, options: UsersOptions = {}) {
    this.#store = store;
    this.#onRestore = options.onRestore ?? (() => {});
  }

  #key(user: string): string {
    return `demo:user:${user}`;
  }

  /** Write the demo users' first passwords unless they are already in the store. */
  async seed(): Promise<void> {
    for (const [user, password] of Object.entries(DEMO_USERS)) {
      const raw = await this.#store.kvGet(this.#key(user), Date.now());
      if (raw !== null) {
        this.#lastSeen.set(user, raw);
        continue;
      }
      const first = JSON.stringify(await makeHash(password));
      await this.#store.kvSet(this.#key(user), first, null);
      this.#lastSeen.set(user, first);
    }
  }

  /** A known user's stored hash; written back from the last one seen if the store lost it. */
  async #stored(user: string): Promise<string> {
    const raw = await this.#store.kvGet(this.#key(user), Date.now());
    if (raw !== null) {
      this.#lastSeen.set(user, raw);
      return raw;
    }
    const restored =
      this.#lastSeen.get(user) ?? JSON.stringify(await makeHash(DEMO_USERS[user] as string));
    await this.#store.kvSet(this.#key(user), restored, null);
    this.#lastSeen.set(user, restored);
    this.#onRestore(user);
    return restored;
  }

  /**
   * Check a user name and password.
   * @param name - as typed (case-folded here)
   * @returns the canonical user id, or null when the name is unknown or the password wrong
   */
  async verify(name: string, password: string): Promise<string | null> {
    const user = foldUsername(name);
    if (password.length > MAX_PASSWORD_LENGTH) return null;
    const known = Object.hasOwn(DEMO_USERS, user);
    const raw = known ? await this.#stored(user) : null;
    let stored: StoredHash | null = null;
    if (raw !== null) {
      try {
        stored = JSON.parse(raw) as StoredHash;
      } catch {
        stored = null;
      }
    }
    if (stored === null && this.#dummy === null)
      this.#dummy = makeHash(randomBytes(12).toString('hex'));
    const target = stored ?? (await this.#dummy!);
    const got = await hashWith(password, Buffer.from(target.salt, 'base64'), {
      N: target.N,
      r: target.r,
      p: target.p,
    });
    const want = Buffer.from(target.hash, 'base64');
    const same = got.length === want.length && timingSafeEqual(got, want);
    return same && stored !== null ? user : null;
  }

  /** Whether a (case-folded) user name is one of the demo's accounts. */
  exists(user: string): boolean {
    return Object.hasOwn(DEMO_USERS, user);
  }

  /** Store a new password for a user. */
  async setPassword(user: string, password: string): Promise<void> {
    const raw = JSON.stringify(await makeHash(password));
    await this.#store.kvSet(this.#key(user), raw, null);
    this.#lastSeen.set(user, raw);
  }
}
