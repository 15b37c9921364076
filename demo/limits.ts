/**
 * The login limit: after N failed password checks for one user name (case-folded, known or not)
 * from one client IP within a fixed 60-second window that starts at the first checked attempt,
 * every attempt for them — right or wrong — is refused until the window ends. Counts live in the
 * store, so every instance enforces the same limit.
 *
 * The check is a reservation: an attempt takes its slot with the store's atomic `increment`
 * BEFORE the password is verified, so a burst of parallel guesses cannot all pass a check that
 * none of them has counted yet (30 guesses sent at once meet a limit of 10 with 10 checks and 20
 * refusals). A right password gives its slot back — a success neither counts as a failure nor
 * resets the count. The store has no atomic decrement, so a refund is a credit: each refund takes
 * the next number of a per-window credit counter and pushes it onto a short ring of
 * {@link CREDIT_SLOTS} entries (ring.ts, on the key-value space); an attempt beyond N reads the
 * largest credit among them and is let through while `attempts - credits ≤ N`. A credit that is
 * lost (more refunds at once than the ring holds, or a push that fails) only makes the limit
 * stricter, never looser: at most N wrong passwords are checked per window.
 */
import { createHash } from 'node:crypto';
import type { KeyValueStore } from 'tessera-session';
import { ringPush, ringRead } from './ring.js';
import { foldUsername } from './users.js';

/** Length of the fixed window, in ms. */
export const LIMIT_WINDOW_MS = 60_000;

/** How many recent credits are read back (refunds landing at once beyond this may be lost). */
export const CREDIT_SLOTS = 8;

/** The outcome of {@link AttemptLimiter.reserve}. */
export type Attempt =
  | { limited: true; retryAfter: number }
  | {
      limited: false;
      /** The password was right, or was never checked: give the reserved slot back. */
      refund(): Promise<void>;
    };

const NOTHING_TO_REFUND = async (): Promise<void> => {};

/** A fixed-window attempt counter per (user name, client IP) in the store. */
export class AttemptLimiter {
  readonly #store: KeyValueStore;
  readonly #max: number;
  readonly #now: () => number;

  /**
   * @param store - the shared store (its `increment`, and `kvSet` / `kvGet` / `kvDelete` for the
   *   credit ring)
   * @param max - failures allowed per window; 0 turns the limit off
   * @param now - the clock (epoch ms) @default Date.now
   */
  constructor(store: KeyValueStore, max: number, now: () => number = Date.now) {
    this.#store = store;
    this.#max = max;
    this.#now = now;
  }

  /** A bounded, non-reversible key part: user names and IPs are hashed, not stored. */
  #id(name: string, ip: string): string {
    return createHash('sha256')
      .update(`${foldUsername(name)}\n${ip}`)
      .digest('base64url');
  }

  /**
   * Reserve one attempt for this name and IP, before its password is checked: atomically counted
   * at once, so parallel attempts each see the ones before them.
   * @returns `limited` with the seconds until the window ends, or a reservation whose `refund()`
   *   the caller awaits when the password turns out right (a wrong one keeps the slot: it counts)
   */
  async reserve(name: string, ip: string): Promise<Attempt> {
    if (this.#max === 0) return { limited: false, refund: NOTHING_TO_REFUND };
    const now = this.#now();
    const id = this.#id(name, ip);
    const { count, expiresAt } = await this.#store.increment(
      `demo:login-count:${id}`,
      now,
      now + LIMIT_WINDOW_MS,
    );
    if (count > this.#max && count > this.#max + (await this.#credits(id, expiresAt, now))) {
      return { limited: true, retryAfter: Math.max(1, Math.ceil((expiresAt - now) / 1000)) };
    }
    return { limited: false, refund: () => this.#refund(id, expiresAt) };
  }

  /** Credits are per window: the window's end is part of their keys. */
  #creditKeys(id: string, windowEnd: number): { counter: string; ring: string } {
    return {
      counter: `demo:login-credits:${id}:${windowEnd}`,
      ring: `demo:login-credit-ring:${id}:${windowEnd}`,
    };
  }

  async #credits(id: string, windowEnd: number, now: number): Promise<number> {
    const raw = await ringRead(
      this.#store,
      this.#creditKeys(id, windowEnd).ring,
      CREDIT_SLOTS,
      now,
    );
    let most = 0;
    for (const r of raw) {
      const n = Number(r);
      if (Number.isSafeInteger(n) && n > most) most = n;
    }
    return most;
  }

  async #refund(id: string, windowEnd: number): Promise<void> {
    const now = this.#now();
    if (windowEnd <= now) return; // that window, and the slot with it, is gone already
    const keys = this.#creditKeys(id, windowEnd);
    const { count } = await this.#store.increment(keys.counter, now, windowEnd);
    await ringPush(this.#store, keys.ring, String(count), CREDIT_SLOTS, windowEnd, now);
  }
}
