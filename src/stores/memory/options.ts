/**
 * The options of the memory store, what its `onFull` hook reports, their defaults, and the
 * store's synchronous methods beside the contract.
 */
import type { RecordChanges, StoreEntry, TouchChanges } from '../../core/types.js';

/** Options for {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most live sessions kept at once. Signed-in sessions come first. When full, a new signed-in
   * session takes the slot of the anonymous session used least recently (created, read, touched
   * or updated; approximate LRU: a use moves a session only out of the older half of its class,
   * see `docs/stores.md` › Memory), and only when there is none, of the signed-in one used least
   * recently (reported to `onFull`). A new anonymous session only ever takes an anonymous slot: when every slot
   * holds a signed-in session it is refused with `ERR_STORE_UNAVAILABLE`. An expired session is
   * always the first to go. Tombstones (rotated-out tokens) have a bound of the same size, kept
   * apart: anonymous ones never push out signed-in ones, and see `maxTombstonesPerUser`.
   * @default 100_000
   */
  maxSessions?: number;
  /**
   * Most tombstones kept per user. Past it, a rotation drops that user's own oldest tombstone,
   * so one account rotating in a loop cannot push other users' theft signals out.
   * @default 32
   */
  maxTombstonesPerUser?: number;
  /**
   * Most values (`kvSet`) kept at once: revocation watermarks, app tables, an app's audit
   * trail. They are never evicted. When full, expired ones are taken back (at most
   * once a second), and if none has expired a write of a new key is refused with
   * `ERR_STORE_UNAVAILABLE` (reported to `onFull`). Replacing a key that exists always succeeds.
   * @default 100_000
   */
  maxKeys?: number;
  /**
   * Most counters (`increment`) kept at once, apart from `maxKeys`. When full, a new counter
   * evicts the oldest counter (reported to `onFull` unless it had expired), never a value:
   * a flood of distinct counter keys resets other counters, nothing else.
   * @default 100_000
   */
  maxCounters?: number;
  /**
   * Called each time a bound is reached and the store drops an unexpired entry or refuses a
   * write, for metrics and alerts (the store has no events of its own). It runs synchronously
   * inside the store call, once the store is consistent again; keep it cheap and do not call the
   * store from it. A throw from it is ignored.
   */
  onFull?: (event: MemoryStoreFullEvent) => void;
  /**
   * How often one background sweep removes expired entries, in ms; `0` turns it off (expiry is
   * then only lazy, on read). The timer is unref'd, so it never keeps the process alive.
   * @default 60_000
   */
  sweepIntervalMs?: number;
  /**
   * The clock for lazy expiry on `get`, and for the background sweep.
   * @default Date.now
   */
  now?: () => number;
}

/**
 * What {@link MemoryStoreOptions.onFull} reports: an unexpired entry dropped, or a write refused,
 * because a bound was reached. `handle` is the session's public handle, never its token.
 */
export type MemoryStoreFullEvent =
  /** A live session was evicted; `signedIn` false means it was anonymous. */
  | { type: 'session_evicted'; signedIn: boolean; handle: string; userId: string | null }
  /** A new anonymous session was refused: every slot holds a signed-in session. */
  | { type: 'session_refused' }
  /** A tombstone was dropped (its token now reads as unknown instead of rotated). */
  | { type: 'tombstone_evicted'; handle: string; userId: string | null }
  /** A counter was evicted (it starts again from 1 if incremented). */
  | { type: 'counter_evicted'; key: string }
  /** A value under a new key was refused: `maxKeys` unexpired keys are stored. */
  | { type: 'key_refused'; key: string };

/** The defaults of {@link MemoryStoreOptions}. */
export const DEFAULTS = {
  maxSessions: 100_000,
  maxTombstonesPerUser: 32,
  maxKeys: 100_000,
  maxCounters: 100_000,
  sweepIntervalMs: 60_000,
} as const;

/**
 * Least time between two scans for expired entries made only to avoid a refusal, in ms of the
 * store's clock: a flood against a full store costs O(1) per write, not O(n).
 */
export const RECLAIM_EVERY_MS = 1_000;

/**
 * Synchronous twins of `get`, `touch` and `update` that the memory store offers beside the
 * `SessionStore` contract, for an engine fast path that wants no promise per request.
 * Each does exactly what its async twin does (same lazy expiry, same LRU use, same copy), and
 * resolves nothing: a store outage cannot happen in this process.
 */
export interface MemoryStoreSync {
  /**
   * What `SessionStore.get` resolves to, returned synchronously: a fresh copy of the live
   * record or tombstone under `id`, or null (also for an entry past its expiry, which is dropped).
   * @param id - the store key
   * @returns a copy the caller owns, or null
   * @example
   * ```ts
   * const entry = store.getNow(id);
   * ```
   */
  getNow(id: string): StoreEntry | null;
  /**
   * What `SessionStore.touch` resolves to, returned synchronously.
   * @param id - the store key of a live record
   * @param changes - the new last-seen time, idle deadline and client metadata
   * @returns false if there is no live record under `id`
   * @example
   * ```ts
   * store.touchNow(id, { lastSeenAt: now, idleExpiresAt: now + idleMs });
   * ```
   */
  touchNow(id: string, changes: TouchChanges): boolean;
  /**
   * What `SessionStore.update` resolves to, returned synchronously: a compare-and-set of the
   * live record's version (`data` bumps it).
   * @param id - the store key of a live record
   * @param expectedVersion - the version the caller read
   * @param changes - the fields to change
   * @returns false (and changes nothing) if the record is gone or its version differs
   * @example
   * ```ts
   * if (!store.updateNow(rec.id, rec.version, { data })) reload();
   * ```
   */
  updateNow(id: string, expectedVersion: number, changes: RecordChanges): boolean;
}
