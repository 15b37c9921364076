/**
 * A bound on a store's calls in flight. A call that times out (see {@link storeCall}) answers at
 * once, but its driver work stays queued until the server answers or the connection closes: a
 * hung server would make that queue — and the heap — grow with every request. Counting calls
 * until their driver work settles, and refusing new ones past a bound, keeps memory flat and
 * answers the excess at once instead of after the time-out.
 */
import { storeCall, storeUnavailable, TesseraError } from './errors.js';

/** Options of {@link PendingCalls}. */
export interface PendingCallsOptions {
  /** Bound on each call, in ms; `0` leaves timing to the driver. */
  timeoutMs: number;
  /**
   * Calls whose driver work has not settled, at most; a call past it fails at once with
   * `ERR_STORE_UNAVAILABLE` and sends nothing. `Infinity` turns the bound off.
   */
  max: number;
}

/**
 * Check a `maxPendingCalls` option: a positive integer, or `Infinity`.
 * @param value - the option as given
 * @param where - the factory's name, for the message
 * @returns the value
 * @throws TesseraError `ERR_CONFIG` for anything else
 */
export function checkMaxPending(value: number, where: string): number {
  if (value === Number.POSITIVE_INFINITY || (Number.isSafeInteger(value) && value >= 1))
    return value;
  throw new TesseraError(
    'ERR_CONFIG',
    `${where}: maxPendingCalls must be an integer >= 1 or Infinity`,
  );
}

/**
 * Runs a store's calls under a time bound and a bound on how many are in flight.
 *
 * A call counts from its start until its driver work settles — not until it times out — since
 * that is how long the driver holds its command, arguments and callbacks.
 *
 * @example
 * ```ts
 * const calls = new PendingCalls('redis', { timeoutMs: 2000, max: 1000 });
 * const value = await calls.run(() => client.get(key));
 * ```
 */
export class PendingCalls {
  readonly #store: string;
  readonly #timeoutMs: number;
  readonly #max: number;
  #pending = 0;

  /**
   * @param store - the store's name, for messages
   * @param options - the time bound and the in-flight bound
   */
  constructor(store: string, options: PendingCallsOptions) {
    this.#store = store;
    this.#timeoutMs = options.timeoutMs;
    this.#max = options.max;
  }

  /** Calls whose driver work has not settled yet. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Run one call: refused at once when {@link PendingCallsOptions.max} calls are in flight,
   * else bounded by the time-out; every failure is an `ERR_STORE_UNAVAILABLE` (tessera's own
   * errors pass through).
   * @param work - the call; it starts only when admitted
   * @returns what `work` resolves to
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#pending >= this.#max) {
      return Promise.reject(
        storeUnavailable(
          this.#store,
          new Error(`${this.#pending} ${this.#store} calls are still waiting for the server`),
        ),
      );
    }
    this.#pending++;
    let p: Promise<T>;
    try {
      p = work();
    } catch (e) {
      p = Promise.reject(e);
    }
    const done = (): void => {
      this.#pending--;
    };
    p.then(done, done);
    return storeCall(this.#store, this.#timeoutMs, () => p);
  }
}
