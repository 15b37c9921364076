/**
 * Guessing-burst limiter: counts invalid tokens per client in fixed windows, in memory, without
 * touching the store. Over the limit, the engine emits `guessing_suspected` (once per window)
 * and delays its "no session" answer; it never turns a request into anything but "no session".
 */

/** A pluggable limiter. `hit` records one invalid token and returns how long to delay (ms). */
export interface GuessLimiter {
  hit(client: string, now: number): { delayMs: number; firstOverLimit: boolean };
}

/** Options of {@link memoryGuessLimiter}. */
export interface GuessLimiterOptions {
  /** Invalid tokens per client per window before slowing down. @default 20 */
  limit?: number;
  /** Window length in ms. @default 60000 */
  windowMs?: number;
  /** Delay per invalid token over the limit, in ms, growing linearly. @default 50 */
  stepMs?: number;
  /** Largest delay in ms. @default 2000 */
  maxDelayMs?: number;
  /** Most clients tracked at once (oldest windows dropped first). @default 10000 */
  maxClients?: number;
}

/**
 * The default in-memory limiter (per process; it needs no coordination, since a guess never
 * reaches the store anyway — the token MAC refuses it first).
 * @example createSessions({ store, keys, guessLimiter: memoryGuessLimiter({ limit: 50 }) })
 */
export function memoryGuessLimiter(options: GuessLimiterOptions = {}): GuessLimiter {
  const limit = options.limit ?? 20;
  const windowMs = options.windowMs ?? 60_000;
  const step = options.stepMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 2000;
  const maxClients = options.maxClients ?? 10_000;
  const windows = new Map<string, { start: number; count: number }>();
  return {
    hit(client, now) {
      let w = windows.get(client);
      if (!w || now - w.start >= windowMs) {
        if (w) windows.delete(client);
        w = { start: now, count: 0 };
        if (windows.size >= maxClients) windows.delete(windows.keys().next().value as string);
        windows.set(client, w);
      }
      w.count++;
      const over = w.count - limit;
      return {
        delayMs: over > 0 ? Math.min(maxDelay, over * step) : 0,
        firstOverLimit: over === 1,
      };
    },
  };
}
