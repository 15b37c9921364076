/**
 * The memory store's revocation epochs (`deleteByUser({ epoch })`, `getRevocationEpoch`): one
 * per user, bounded by `maxKeys` like the key space, oldest set first.
 */
import { RECLAIM_EVERY_MS } from './options.js';

/** A user's revocation epoch and when it may be forgotten. */
export interface Epoch {
  at: number;
  expiresAt: number;
}

/** The revocation epochs of one memory store. */
export class Epochs {
  /** Epochs by user, oldest set first. */
  readonly #epochs = new Map<string, Epoch>();
  readonly #max: number;
  readonly #now: () => number;
  /** The store-clock time before which no reclaim scan runs again. */
  #reclaimAt = Number.NEGATIVE_INFINITY;

  /**
   * @param max - most epochs kept (`maxKeys`)
   * @param now - the store's clock
   */
  constructor(max: number, now: () => number) {
    this.#max = max;
    this.#now = now;
  }

  /** The user's unexpired epoch (by the store's clock), dropping an expired one. */
  current(userId: string): Epoch | undefined {
    const e = this.#epochs.get(userId);
    if (e !== undefined && e.expiresAt <= this.#now()) {
      this.#epochs.delete(userId);
      return undefined;
    }
    return e;
  }

  /** The user's epoch at `now` (the caller's clock), or null. */
  at(userId: string, now: number): number | null {
    const e = this.#epochs.get(userId);
    if (e === undefined) return null;
    if (e.expiresAt <= now) {
      this.#epochs.delete(userId);
      return null;
    }
    return e.at;
  }

  /** Raise (never lower) a user's epoch; the later expiry wins. */
  raise(userId: string, epoch: Epoch): void {
    const e = this.current(userId);
    const next: Epoch =
      e === undefined
        ? { at: epoch.at, expiresAt: epoch.expiresAt }
        : { at: Math.max(e.at, epoch.at), expiresAt: Math.max(e.expiresAt, epoch.expiresAt) };
    this.#epochs.delete(userId);
    if (this.#epochs.size >= this.#max) {
      // Expired epochs go first (a scan at most once a second of the store's clock); only then
      // the epoch set longest ago, which matters only to sign-ins begun before it (and to a
      // sealed-mode watermark kept here: docs/stores.md).
      const now = this.#now();
      if (now >= this.#reclaimAt) {
        this.#reclaimAt = now + RECLAIM_EVERY_MS;
        for (const [u, x] of this.#epochs) if (x.expiresAt <= now) this.#epochs.delete(u);
      }
      if (this.#epochs.size >= this.#max) {
        const oldest = this.#epochs.keys().next().value;
        if (oldest !== undefined) this.#epochs.delete(oldest);
      }
    }
    this.#epochs.set(userId, next);
  }

  /** Remove every expired epoch. */
  sweep(now: number): void {
    for (const [userId, e] of this.#epochs) if (e.expiresAt <= now) this.#epochs.delete(userId);
  }
}
