/**
 * The memory store's key-value space (`KeyValueStore`): values, never evicted, bounded by
 * `maxKeys`; counters apart, bounded by `maxCounters`, evicted only among themselves. One key
 * space: writing one kind under a key replaces the other kind there.
 */
import { storeRefused } from '../../core/errors.js';
import type { CounterResult } from '../../core/types.js';
import { type MemoryStoreFullEvent, RECLAIM_EVERY_MS } from './options.js';

/** One key of the shared key-value space. `value` is a string or a counter. */
interface KeyEntry {
  value: string | number;
  expiresAt: number | null;
}

/** A certain refusal: nothing was written, so the engine queues no clean-up (errors.ts). */
function full(message: string) {
  return storeRefused(`memoryStore: ${message}`);
}

/** The bounded key-value space of one memory store. */
export class KeySpace {
  /** Values (`kvSet`): never evicted. */
  readonly #values = new Map<string, KeyEntry>();
  /** Counters (`increment`), oldest first: evicted among themselves. */
  readonly #counters = new Map<string, KeyEntry>();
  readonly #maxKeys: number;
  readonly #maxCounters: number;
  readonly #report: (event: MemoryStoreFullEvent) => void;
  readonly #now: () => number;
  /** The store-clock time before which no reclaim scan of values runs again. */
  #reclaimAt = Number.NEGATIVE_INFINITY;

  /**
   * @param bounds - `maxKeys` and `maxCounters` (see `MemoryStoreOptions`)
   * @param report - the store's `onFull` reporter
   * @param now - the store's clock
   */
  constructor(
    bounds: { maxKeys: number; maxCounters: number },
    report: (event: MemoryStoreFullEvent) => void,
    now: () => number,
  ) {
    this.#maxKeys = bounds.maxKeys;
    this.#maxCounters = bounds.maxCounters;
    this.#report = report;
    this.#now = now;
  }

  /**
   * Store a value under `key`, in place of whatever the key held (one key space).
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the key is new and `maxKeys` unexpired
   *   values are stored: they are never evicted.
   */
  #setValue(key: string, entry: KeyEntry): void {
    if (this.#values.size >= this.#maxKeys && !this.#values.has(key)) {
      const now = this.#now();
      if (now >= this.#reclaimAt) {
        this.#reclaimAt = now + RECLAIM_EVERY_MS;
        dropExpired(this.#values, now);
      }
      if (this.#values.size >= this.#maxKeys) {
        this.#report({ type: 'key_refused', key });
        throw full(
          `the key-value space holds ${this.#maxKeys} values (maxKeys), none expired; ` +
            'they are never evicted, so a new key is refused: raise maxKeys or use a shared store',
        );
      }
    }
    this.#counters.delete(key);
    this.#values.set(key, entry);
  }

  /** Store a new counter, evicting the oldest counter when `maxCounters` are stored. */
  #setCounter(key: string, entry: KeyEntry, now: number): void {
    this.#values.delete(key);
    if (this.#counters.size >= this.#maxCounters) {
      const first = this.#counters.entries().next().value;
      if (first !== undefined) {
        this.#counters.delete(first[0]);
        if (isLive(first[1], now)) this.#report({ type: 'counter_evicted', key: first[0] });
      }
    }
    this.#counters.set(key, entry);
  }

  get(key: string, now: number): string | null {
    const e = liveEntry(this.#values, key, now);
    if (e === undefined) return null;
    return typeof e.value === 'string' ? e.value : null;
  }

  set(key: string, value: string, expiresAt: number | null): void {
    this.#setValue(key, { value, expiresAt });
  }

  delete(key: string): boolean {
    // A key is in at most one of the two maps.
    return this.#values.delete(key) || this.#counters.delete(key);
  }

  increment(key: string, now: number, windowEndsAt: number): CounterResult {
    const e = liveEntry(this.#counters, key, now);
    if (e !== undefined && typeof e.value === 'number') {
      e.value++;
      return { count: e.value, expiresAt: e.expiresAt ?? windowEndsAt };
    }
    this.#setCounter(key, { value: 1, expiresAt: windowEndsAt }, now);
    return { count: 1, expiresAt: windowEndsAt };
  }

  /** Remove every expired value and counter. */
  sweep(now: number): void {
    dropExpired(this.#values, now);
    dropExpired(this.#counters, now);
  }
}

function isLive(e: KeyEntry, now: number): boolean {
  return e.expiresAt === null || e.expiresAt > now;
}

/** The unexpired entry under `key`, dropping an expired one. */
function liveEntry(map: Map<string, KeyEntry>, key: string, now: number): KeyEntry | undefined {
  const e = map.get(key);
  if (e === undefined) return undefined;
  if (!isLive(e, now)) {
    map.delete(key);
    return undefined;
  }
  return e;
}

/** Remove every expired entry. Deleting while iterating a Map is safe. */
function dropExpired(map: Map<string, KeyEntry>, now: number): void {
  for (const [key, e] of map) if (!isLive(e, now)) map.delete(key);
}
