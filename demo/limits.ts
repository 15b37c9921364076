/**
 * The login limit: after N failed password checks for one user name (case-folded, known or not)
 * from one client IP within a fixed 60-second window that starts at the first counted failure,
 * every attempt for them — right or wrong — is refused until the window ends. Counts live in the
 * store, so every instance enforces the same limit.
 */
import { createHash } from 'node:crypto';
import type { SessionStore } from 'tessera-session';
import { foldUsername } from './users.js';

/** Length of the fixed window, in ms. */
export const LIMIT_WINDOW_MS = 60_000;

/** The verdict of {@link AttemptLimiter.check}. */
export type LimitVerdict = { limited: false } | { limited: true; retryAfter: number };

/** A fixed-window failure counter per (user name, client IP) in the store. */
export class AttemptLimiter {
  readonly #store: SessionStore;
  readonly #max: number;
  readonly #now: () => number;

  /**
   * @param store - the shared store (its `increment` and key-value space)
   * @param max - failures allowed per window; 0 turns the limit off
   */
  constructor(store: SessionStore, max: number, now: () => number = Date.now) {
    this.#store = store;
    this.#max = max;
    this.#now = now;
  }

  /** A bounded, non-reversible key: user names and IPs are hashed, not stored. */
  #key(kind: 'count' | 'lock', name: string, ip: string): string {
    const h = createHash('sha256')
      .update(`${foldUsername(name)}\n${ip}`)
      .digest('base64url');
    return `demo:login-${kind}:${h}`;
  }

  /** Whether attempts for this name and IP are refused now, and for how many more seconds. */
  async check(name: string, ip: string): Promise<LimitVerdict> {
    if (this.#max === 0) return { limited: false };
    const now = this.#now();
    const until = await this.#store.kvGet(this.#key('lock', name, ip), now);
    const end = until === null ? Number.NaN : Number(until);
    if (!(end > now)) return { limited: false };
    return { limited: true, retryAfter: Math.max(1, Math.ceil((end - now) / 1000)) };
  }

  /**
   * Count one failed password check. The N-th failure of a window locks the pair until the
   * window ends (the lock is a key with the same expiry as the counter).
   */
  async fail(name: string, ip: string): Promise<void> {
    if (this.#max === 0) return;
    const now = this.#now();
    const { count, expiresAt } = await this.#store.increment(
      this.#key('count', name, ip),
      now,
      now + LIMIT_WINDOW_MS,
    );
    if (count >= this.#max) {
      await this.#store.kvSet(this.#key('lock', name, ip), String(expiresAt), expiresAt);
    }
  }
}
