/**
 * The engine's clock (DESIGN decision 13): decisions that several app instances must agree on —
 * expiry, the grace of a rotated-out token, theft — are made on one clock, the store's where it
 * has one. Asking the store on every request would cost a round trip, so the engine reads its
 * local clock plus an offset to the store's clock, estimated from {@link SessionStore.time} in
 * the background and never on a request's critical path.
 */
import type { SessionStore } from './types.js';

/**
 * Which clock decides expiry, grace and theft: `store` (the store's, through `time()`) or
 * `local` (this process's `now`).
 */
export type ClockMode = 'store' | 'local';

/** Real milliseconds between two samples of the store's clock. */
export const RESAMPLE_MS = 30_000;
/** Real milliseconds before trying again after a sample failed or was too imprecise to use. */
export const RETRY_MS = 1_000;
/**
 * A sample whose round trip took longer than this many real milliseconds is not used: the
 * offset it gives may be off by half of it.
 */
export const MAX_ROUND_TRIP_MS = 1_000;
/**
 * What two clocks may drift apart between two samples, in ms: each drifting up to 500 ppm (the
 * most NTP slews) over {@link RESAMPLE_MS}.
 */
export const DRIFT_MS = 30;
/**
 * A sample further than this many ms from the local clock is not used: no clock is a year off,
 * but a `time()` answering seconds, microseconds or 0 is, and following it would mint deadlines
 * decades in the past (every session dead on arrival) or the future.
 */
export const MAX_OFFSET_MS = 366 * 24 * 3_600_000;

/** Options of {@link EngineClock}. */
export interface EngineClockOptions {
  /** The local clock, epoch ms: the app's `now`, or `Date.now`. */
  local: () => number;
  /** The store's clock, epoch ms; without it the engine's clock is the local clock alone. */
  source?: (() => Promise<number>) | undefined;
  /**
   * How far (ms) clocks may disagree while the engine runs on the local clock (no store clock,
   * or before its first sample); once sampled, see {@link EngineClock.allowance}.
   * @default 0
   */
  skewMs?: number;
  /** Real ms between samples. @default 30_000 */
  resampleMs?: number;
  /** Real ms before retrying after a failed or imprecise sample. @default 1_000 */
  retryMs?: number;
  /** Longest usable round trip of a sample, real ms. @default 1_000 */
  maxRoundTripMs?: number;
  /**
   * A monotonic clock of real time, in ms, for the round trip and the resampling schedule —
   * never the injected `local` clock, which a test may stop or move at will.
   * @default performance.now
   */
  real?: () => number;
}

/**
 * The local clock plus an offset to the store's clock.
 *
 * The offset is sampled once at construction (not awaited: until it arrives the local clock
 * is used), then again whenever {@link EngineClock.tick} finds that {@link RESAMPLE_MS} of real
 * time have passed: one sample in flight at a time, a failed one keeps the last offset.
 * Reading the clock is a function call plus an addition.
 *
 * @example
 * ```ts
 * const clock = new EngineClock({ local: Date.now, source: () => store.time!() })
 * await clock.sync() // optional: start on the store's clock
 * const t = clock.now()
 * ```
 */
export class EngineClock {
  /** The engine's clock, epoch ms: the local clock plus the last offset. */
  readonly now: () => number;
  readonly #local: () => number;
  readonly #source: (() => Promise<number>) | null;
  readonly #real: () => number;
  readonly #resampleMs: number;
  readonly #retryMs: number;
  readonly #maxRoundTripMs: number;
  readonly #skewMs: number;
  #offset = 0;
  #synced = false;
  /** Real round trip of the sample the offset comes from. */
  #roundTrip = 0;
  /** Real time of the last successful sample. */
  #sampledAt = Number.NEGATIVE_INFINITY;
  /** Real time from which the next sample is due. */
  #due = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<void> | null = null;

  /** @param options - the local clock and, for the store's clock, its source */
  constructor(options: EngineClockOptions) {
    const local = options.local;
    this.#local = local;
    this.#source = options.source ?? null;
    this.#real = options.real ?? (() => performance.now());
    this.#resampleMs = options.resampleMs ?? RESAMPLE_MS;
    this.#retryMs = options.retryMs ?? RETRY_MS;
    this.#maxRoundTripMs = options.maxRoundTripMs ?? MAX_ROUND_TRIP_MS;
    this.#skewMs = options.skewMs ?? 0;
    if (this.#source === null) {
      this.now = local;
      return;
    }
    this.now = () => local() + this.#offset;
    void this.sync();
  }

  /** Store clock minus local clock, in ms, as last estimated (0 before the first sample). */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Whether a fresh sample could tell something new: there is a store clock to sample
   * (`clock: 'store'` over a store with `time()`) and the last sample is older than
   * {@link RETRY_MS} of real time.
   */
  get resampleWorthwhile(): boolean {
    return this.#source !== null && this.#real() - this.#sampledAt >= this.#retryMs;
  }

  /** Whether the clock follows the store's (a sample has succeeded). */
  get synced(): boolean {
    return this.#synced;
  }

  /**
   * How far (ms) another instance's clock may disagree with this one: `skewMs` on the local
   * clock; on the store's, the error of the offset estimates — half a round trip each, this
   * instance's and (taken to be alike) the other's — plus {@link DRIFT_MS}, never more than
   * `skewMs`.
   */
  get allowance(): number {
    if (!this.#synced) return this.#skewMs;
    return Math.min(this.#skewMs, Math.ceil(this.#roundTrip) + DRIFT_MS);
  }

  /** Start a sample in the background when one is due (cheap: one read of the real clock). */
  tick(): void {
    if (this.#source !== null && this.#inFlight === null && this.#real() >= this.#due) {
      void this.sync();
    }
  }

  /**
   * Sample the store's clock now, or join the sample in flight.
   * @returns a promise that settles when the sample is done; it never rejects (a failed sample
   *   keeps the last offset)
   */
  sync(): Promise<void> {
    if (this.#source === null) return Promise.resolve();
    this.#inFlight ??= this.#sample().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  async #sample(): Promise<void> {
    const r0 = this.#real();
    this.#due = r0 + this.#retryMs;
    try {
      const t0 = this.#local();
      const at = await this.#source!();
      const t1 = this.#local();
      const roundTrip = this.#real() - r0;
      if (typeof at !== 'number' || !Number.isFinite(at)) return;
      if (roundTrip > this.#maxRoundTripMs) return;
      if (Math.abs(at - (t0 + t1) / 2) > MAX_OFFSET_MS) return;
      // The store read its clock somewhere inside the round trip: take the midpoint. A reading
      // inside [t0, t1] cannot be told from the local clock (SQLite and memory read that very
      // clock), so it gives no offset rather than a rounding error.
      this.#offset = at >= t0 && at <= t1 ? 0 : Math.round(at - (t0 + t1) / 2);
      this.#roundTrip = roundTrip;
      this.#synced = true;
      this.#sampledAt = r0;
      this.#due = r0 + this.#resampleMs;
    } catch {
      // A store that is down answers requests with 503 anyway; keep the last offset.
    }
  }
}

/**
 * The store clock source of a store (or a revocation store) that offers one.
 * @param store - anything that may have a `time()` method
 * @returns a function reading it, or undefined
 */
export function clockSource(
  store: Pick<SessionStore, 'time'> | null | undefined,
): (() => Promise<number>) | undefined {
  const time = store?.time;
  return typeof time === 'function' ? () => time.call(store) : undefined;
}
