/**
 * The bounds on the Redis store's calls: a deadline per call, and a cap on the calls whose
 * driver work has not settled (a timed-out call still holds its command in the client until the
 * server answers or the connection closes, so a hung server would otherwise grow that queue with
 * every request).
 *
 * A call is one promise: the driver's reply is mapped and settled straight into it, with no
 * wrapper per layer. The deadlines of all calls share one timer: every call has the same time-out,
 * so deadlines fall in the order calls start, and the calls waiting form a list in that order,
 * whose first entry the timer is set for. An answered call leaves the list at once; the timer is
 * reset only when it fires (then for the new first entry, if any), so a call costs no timer of
 * its own.
 */
import { storeUnavailable, type TesseraError } from '../../core/errors.js';

/** The longest delay `setTimeout` keeps (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A call waiting for its answer or its deadline. */
interface Waiting {
  /** Its deadline, on the bounds' clock. */
  readonly at: number;
  prev: Waiting | null;
  next: Waiting | null;
  /** Set when the deadline passed first: the answer, when it comes, is dropped. */
  late: boolean;
  readonly fail: (e: TesseraError) => void;
}

/** Options of {@link CallBounds}. */
export interface CallBoundsOptions {
  /** Bound on each call, in ms; `0` leaves timing to the driver. */
  timeoutMs: number;
  /** Calls whose driver work has not settled, at most; `Infinity` turns the bound off. */
  max: number;
  /** A monotonic clock in ms. @default performance.now */
  now?: () => number;
}

/**
 * Runs the Redis store's calls under a time bound and a bound on how many are in flight; every
 * failure becomes `ERR_STORE_UNAVAILABLE` (tessera's own errors pass through).
 *
 * @example
 * ```ts
 * const bounds = new CallBounds({ timeoutMs: 2000, max: 1000 });
 * const entry = await bounds.run(() => client.get(key), (raw) => decode(raw));
 * ```
 */
export class CallBounds {
  readonly #timeoutMs: number;
  readonly #max: number;
  readonly #now: () => number;
  #pending = 0;
  #first: Waiting | null = null;
  #last: Waiting | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** @param options - the time bound, the in-flight bound and the clock */
  constructor(options: CallBoundsOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#max = options.max;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Calls whose driver work has not settled yet (timed-out ones included). */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Run one call: refused at once, sending nothing, when `max` calls are in flight; else bounded
   * by the time-out, from its start to its answer (a retry included).
   * @param send - starts the driver work; `again` is true for the one retry that `retry` asked
   *   for. A synchronous throw rejects the call, with nothing sent.
   * @param map - the answer from the driver's reply; a throw rejects the call
   * @param retry - whether a driver failure asks for one retry (`send(true)`)
   * @returns the answer; rejects with `ERR_STORE_UNAVAILABLE` for a failure or a time-out
   */
  run<R, T>(
    send: (again: boolean) => Promise<R>,
    map: (reply: R) => T,
    retry?: (e: unknown) => boolean,
  ): Promise<T> {
    if (this.#pending >= this.#max) {
      return Promise.reject(
        storeUnavailable(
          'redis',
          new Error(`${this.#pending} redis calls are still waiting for the server`),
        ),
      );
    }
    let sent: Promise<R>;
    try {
      sent = send(false);
    } catch (e) {
      return Promise.reject(storeUnavailable('redis', e));
    }
    this.#pending++;
    return new Promise<T>((resolve, reject) => {
      const w = this.#timeoutMs === 0 ? null : this.#wait(reject);
      let again = false;
      const answered = (reply: R): void => {
        this.#pending--;
        if (w !== null) {
          if (w.late) return;
          this.#leave(w);
        }
        try {
          resolve(map(reply));
        } catch (e) {
          reject(storeUnavailable('redis', e));
        }
      };
      const failed = (e: unknown): void => {
        if (!again && retry?.(e) === true) {
          again = true;
          let next: Promise<R>;
          try {
            next = send(true);
          } catch (e2) {
            next = Promise.reject(e2);
          }
          next.then(answered, failed);
          return;
        }
        this.#pending--;
        if (w !== null) {
          if (w.late) return;
          this.#leave(w);
        }
        reject(storeUnavailable('redis', e));
      };
      sent.then(answered, failed);
    });
  }

  /** Put a call at the end of the waiting list (its deadline is the latest), with the timer set. */
  #wait(fail: (e: TesseraError) => void): Waiting {
    const w: Waiting = {
      at: this.#now() + this.#timeoutMs,
      prev: this.#last,
      next: null,
      late: false,
      fail,
    };
    if (this.#last === null) this.#first = w;
    else this.#last.next = w;
    this.#last = w;
    if (this.#timer === null) this.#timer = this.#arm(this.#timeoutMs);
    return w;
  }

  /** Take a call off the list (the timer stays: it fires once more, maybe idle). */
  #leave(w: Waiting): void {
    if (w.prev === null) this.#first = w.next;
    else w.prev.next = w.next;
    if (w.next === null) this.#last = w.prev;
    else w.next.prev = w.prev;
  }

  /**
   * The timer, in `ms`. Unreferenced: it must not keep a process alive on its own, and while a
   * call waits its client's connection does (ioredis fails what waits on a connection it closes).
   */
  #arm(ms: number): ReturnType<typeof setTimeout> {
    // Node fires a longer timer at once (it takes it for 1 ms): wait the longest it keeps.
    const t = setTimeout(this.#fire, Math.min(ms, MAX_TIMER_MS));
    t.unref();
    return t;
  }

  /** The timer: fail every call whose deadline passed, then wait for the next one. */
  readonly #fire = (): void => {
    this.#timer = null;
    const now = this.#now();
    // Node may fire a timer up to a loop iteration early by this clock: 1 ms of slack keeps
    // that from costing a second timer.
    for (let w = this.#first; w !== null && w.at <= now + 1; w = this.#first) {
      w.late = true;
      this.#leave(w);
      w.fail(
        storeUnavailable('redis', new Error(`redis call timed out after ${this.#timeoutMs} ms`)),
      );
    }
    if (this.#first !== null) this.#timer = this.#arm(Math.max(1, Math.ceil(this.#first.at - now)));
  };
}
