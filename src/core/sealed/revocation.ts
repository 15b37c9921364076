/**
 * Sealed mode's revocation: per-user watermarks ("sessions of this user issued at or before T
 * are dead", the rule `revokedBy` in rules.ts), where they live ({@link RevocationStore} and its
 * three makers) and the per-instance cache that reads and raises them.
 */
import { clockSource } from '../clock.js';
import { isTesseraError, storeUnavailable, TesseraError } from '../errors.js';
import { epochExpiresAt } from '../rules.js';
import type { KeyValueStore, SessionStore } from '../types.js';

/**
 * Where per-user revocation watermarks live: "sessions of this user issued at or before T are
 * dead" (the same rule as the server-side revocation epoch, `revokedBy`). One key per user, read
 * once per load of a signed-in sealed session (and cached).
 */
export interface RevocationStore {
  /**
   * The user's watermark (epoch ms), or null when none is set or it has expired.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the backend fails
   */
  getWatermark(userId: string): Promise<number | null>;
  /**
   * Raise the user's watermark to `at` (a lower value never replaces a higher one).
   * @param expiresAt - when the watermark may be forgotten (epoch ms): once every session issued
   *   before it has passed its absolute deadline; null keeps it forever
   */
  setWatermark(userId: string, at: number, expiresAt?: number | null): Promise<void>;
  /**
   * Optional: the clock of the store the watermarks live in, epoch ms (see
   * {@link SessionStore.time}). With it, sealed mode stamps and checks deadlines and watermarks
   * on that one clock (option `clock`), so the instances' clocks need not agree.
   */
  time?(): Promise<number>;
  /**
   * Given by the engine at construction: the keyed slot tag of a user, for a revocation store
   * over a session store with slot tags (see `SessionStore.useSlotTags`).
   */
  useSlotTags?(tagFor: (userId: string) => string): void;
}

/**
 * An in-process {@link RevocationStore}: for tests and single-process apps (a watermark set in
 * one process is not seen by another — use {@link revocationStoreFrom} over a shared store).
 * @param options.now - clock for expiry @default Date.now
 * @returns a revocation store backed by a Map
 * @example
 * ```ts
 * createSealedSessions({ keys, revocation: { store: memoryRevocationStore() } })
 * ```
 */
export function memoryRevocationStore(options: { now?: () => number } = {}): RevocationStore {
  const now = options.now ?? Date.now;
  const marks = new Map<string, { at: number; expiresAt: number | null }>();
  return {
    async getWatermark(userId) {
      const m = marks.get(userId);
      if (!m) return null;
      if (m.expiresAt !== null && m.expiresAt <= now()) {
        marks.delete(userId);
        return null;
      }
      return m.at;
    },
    async setWatermark(userId, at, expiresAt = null) {
      const m = marks.get(userId);
      if (m && m.at >= at && (m.expiresAt === null || m.expiresAt > now())) return;
      marks.set(userId, { at, expiresAt });
    },
  };
}

/**
 * A {@link RevocationStore} over a {@link SessionStore}'s per-user revocation epochs: the very
 * epochs the server-side engine's `revokeAll` and `revokeOthers` set. A sealed `revokeAll` on it
 * is a server-side `revokeAll` too (it deletes the user's server-side sessions of that store and
 * raises the same epoch, atomically), and either mode's revocation ends the other's sessions.
 * Raising is atomic (the store keeps the higher value).
 * @param store - a store every app instance shares (Redis, PostgreSQL, SQLite)
 * @param options.now - clock passed to `getRevocationEpoch` @default Date.now
 * @returns a revocation store
 * @example
 * ```ts
 * const store = redisStore({ client })
 * createSealedSessions({ keys, revocation: { store: storeRevocation(store) } })
 * ```
 */
export function storeRevocation(
  store: SessionStore,
  options: { now?: () => number } = {},
): RevocationStore {
  const now = options.now ?? Date.now;
  return {
    getWatermark: (userId) => store.getRevocationEpoch(userId, now()),
    async setWatermark(userId, at, expiresAt = null) {
      await store.deleteByUser(userId, {
        epoch: { at, expiresAt: expiresAt ?? Number.MAX_SAFE_INTEGER },
      });
    },
    // A store with slot tags (Redis) keeps a user's epoch under the user's keyed tag.
    ...(store.slotTags === true && store.useSlotTags
      ? { useSlotTags: (tagFor: (userId: string) => string) => store.useSlotTags?.(tagFor) }
      : {}),
  };
}

/**
 * A {@link RevocationStore} over the shared key-value space of any {@link SessionStore}
 * (`kvGet` / `kvSet`), so every app instance sees the same watermarks. Prefer
 * {@link storeRevocation}, which shares the server-side epoch and raises atomically.
 *
 * Raising is read-then-write, not atomic: two `revokeAll` calls for one user in the same few
 * milliseconds may leave the lower of the two — which still revokes everything issued before it.
 * @param store - a store whose key-value space every instance shares (Redis, PostgreSQL, SQLite)
 * @param options.prefix - key prefix @default 'tessera:watermark:'
 * @param options.now - clock passed to `kvGet` for expiry @default Date.now
 * @returns a revocation store
 * @throws TesseraError `ERR_CONFIG` for a store without `kvGet` / `kvSet`; `ERR_STORE_CORRUPT` (from
 *   `getWatermark`) when a stored value is not a number
 * @example
 * ```ts
 * const store = redisStore({ client })
 * createSealedSessions({ keys, revocation: { store: revocationStoreFrom(store) } })
 * ```
 */
export function revocationStoreFrom(
  store: Pick<KeyValueStore, 'kvGet' | 'kvSet'> & Pick<SessionStore, 'time'>,
  options: { prefix?: string; now?: () => number } = {},
): RevocationStore {
  // A store may implement SessionStore alone (KeyValueStore is optional): refuse it here, not
  // with a 503 on every signed-in request.
  if (typeof store?.kvGet !== 'function' || typeof store.kvSet !== 'function')
    throw new TesseraError(
      'ERR_CONFIG',
      'revocationStoreFrom(store) needs a store with the key-value space (kvGet, kvSet): use storeRevocation(store) for a SessionStore without it.',
    );
  const prefix = options.prefix ?? 'tessera:watermark:';
  const now = options.now ?? Date.now;
  const get = async (userId: string): Promise<number | null> => {
    const v = await store.kvGet(prefix + userId, now());
    if (v === null) return null;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) {
      throw new TesseraError(
        'ERR_STORE_CORRUPT',
        `Revocation watermark of a user is not a number.`,
      );
    }
    return n;
  };
  const time = clockSource(store);
  return {
    getWatermark: get,
    async setWatermark(userId, at, expiresAt = null) {
      const current = await get(userId);
      if (current !== null && current >= at) return;
      await store.kvSet(prefix + userId, String(at), expiresAt);
    },
    ...(time ? { time } : {}),
  };
}

/** Revocation settings of {@link createSealedSessions}. */
export interface SealedRevocationOptions {
  /** Where watermarks live; shared by every app instance. */
  store: RevocationStore;
  /**
   * How long an instance may reuse a watermark it read, in ms: a revocation reaches other
   * instances within this time. 0 reads the store on every load of a signed-in session.
   * @default 5000
   */
  cacheMs?: number;
}

/** How many users' watermarks an instance caches. */
const WATERMARK_CACHE = 10_000;

/** A cached watermark lookup; `settled` once it resolved (what a synchronous load reads). */
interface CachedMark {
  until: number;
  value: Promise<number | null>;
  settled: number | null | undefined;
}

/**
 * @internal One instance's view of the watermarks: reads them through a bounded cache
 * (`revocation.cacheMs`), raises them, and turns a backend failure into a typed error (reported
 * through `onStoreError`, never cached: the next request asks the store again).
 */
export class Watermarks {
  readonly #store: RevocationStore | null;
  readonly #cacheMs: number;
  readonly #now: () => number;
  readonly #onStoreError: (err: TesseraError) => void;
  readonly #marks = new Map<string, CachedMark>();

  /**
   * @param options - the `revocation` option, or undefined for none
   * @throws TesseraError `ERR_CONFIG` for a store that is not a RevocationStore or a bad `cacheMs`
   */
  constructor(
    options: SealedRevocationOptions | undefined,
    now: () => number,
    onStoreError: (err: TesseraError) => void,
  ) {
    this.#now = now;
    this.#onStoreError = onStoreError;
    if (options === undefined) {
      this.#store = null;
      this.#cacheMs = 0;
      return;
    }
    if (
      !options ||
      typeof options.store?.getWatermark !== 'function' ||
      typeof options.store.setWatermark !== 'function'
    )
      throw new TesseraError(
        'ERR_CONFIG',
        'revocation.store must be a RevocationStore: memoryRevocationStore() or revocationStoreFrom(store).',
      );
    const cacheMs = options.cacheMs ?? 5000;
    if (!(cacheMs >= 0 && Number.isFinite(cacheMs)))
      throw new TesseraError('ERR_CONFIG', 'revocation.cacheMs must be a number of ms ≥ 0.');
    this.#cacheMs = cacheMs;
    this.#store = options.store;
  }

  /** Whether a revocation store is configured. */
  get enabled(): boolean {
    return this.#store !== null;
  }

  /** The revocation store, which `revokeAll` and `revokeOthers` need. @throws TesseraError `ERR_UNSUPPORTED` without one */
  require(): RevocationStore {
    if (this.#store) return this.#store;
    throw new TesseraError(
      'ERR_UNSUPPORTED',
      'Revoking sealed sessions needs a revocation store: createSealedSessions({ revocation: { store: revocationStoreFrom(store) } }) (see docs/sealed.md).',
    );
  }

  /**
   * The user's watermark: from the cache unless `fresh`, else from the store.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` (fails closed), `ERR_UNSUPPORTED` without a store
   */
  async get(userId: string, fresh: boolean): Promise<number | null> {
    const store = this.require();
    const now = this.#now();
    let value: Promise<number | null> | undefined;
    if (!fresh && this.#cacheMs > 0) {
      const hit = this.#marks.get(userId);
      if (hit && hit.until > now) value = hit.value;
    }
    if (value === undefined) {
      try {
        value = store.getWatermark(userId);
      } catch (e) {
        value = Promise.reject(e);
      }
      if (this.#cacheMs > 0) this.#remember(userId, now, value);
    }
    try {
      return await value;
    } catch (e) {
      // Failures are never cached: the next request asks the store again.
      if (this.#marks.get(userId)?.value === value) this.#marks.delete(userId);
      throw this.#storeError(e);
    }
  }

  /**
   * The user's cached watermark when its lookup has settled and is still fresh, else `undefined`
   * (then {@link get} asks the store). No effect.
   */
  getNow(userId: string): number | null | undefined {
    if (this.#cacheMs <= 0) return undefined;
    const hit = this.#marks.get(userId);
    return hit && hit.until > this.#now() ? hit.settled : undefined;
  }

  /**
   * Raise the user's watermark to `at`, kept until every session issued before it has passed
   * its absolute deadline (the epoch rule, `epochExpiresAt`).
   * @throws TesseraError `ERR_STORE_UNAVAILABLE`, `ERR_UNSUPPORTED` without a store
   */
  async raise(userId: string, at: number, absoluteMs: number): Promise<void> {
    const store = this.require();
    try {
      await store.setWatermark(userId, at, epochExpiresAt(at, absoluteMs));
    } catch (e) {
      throw this.#storeError(e);
    }
    if (this.#cacheMs > 0) this.#remember(userId, this.#now(), Promise.resolve(at));
  }

  #remember(userId: string, now: number, value: Promise<number | null>): void {
    this.#marks.delete(userId);
    if (this.#marks.size >= WATERMARK_CACHE)
      this.#marks.delete(this.#marks.keys().next().value as string);
    // A rejected lookup is handled by its caller; keep this copy from being "unhandled".
    const entry: CachedMark = { until: now + this.#cacheMs, value, settled: undefined };
    value.then(
      (v) => {
        entry.settled = v;
      },
      () => {},
    );
    this.#marks.set(userId, entry);
  }

  #storeError(e: unknown): TesseraError {
    const err = isTesseraError(e) ? e : storeUnavailable('revocation', e);
    this.#onStoreError(err);
    return err;
  }
}
