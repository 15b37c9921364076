/**
 * What tessera tells the operator: misconfiguration (once per cause), store failures
 * (rate-limited), and the adapters' refusals. It writes to the app's logger — pino, or anything
 * with its `warn(obj, msg)` / `error(obj, msg)` shape, or `console` — and by default to
 * `console`, warnings and errors only. A line never holds a session token, a cookie value or a
 * key: only hosts, option names, error codes and store messages.
 */

/** The structured fields of a log line; `event` names what happened (`insecure_transport`, …). */
export interface LogFields {
  /** A stable machine-readable name for the line. */
  event: string;
  [field: string]: unknown;
}

/**
 * A logger tessera can write to: pino's (`logger.warn(obj, msg)`), or any object with methods of
 * that shape. `console` itself is recognised and gets one readable line per call.
 */
export interface Logger {
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
  /** Optional: routine refusals (a CSRF rejection) are logged at `info` when it exists. */
  info?(fields: LogFields, message: string): void;
}

/** A level tessera logs at. */
export type LogLevel = 'info' | 'warn' | 'error';

/** How many distinct causes of one event are logged once each, before the rest go unlogged. */
const MAX_ONCE_PER_EVENT = 32;
/** How many rate-limited keys are tracked at once (per engine). */
const MAX_LIMITED_KEYS = 64;
/** The default window of a rate-limited line: the first at once, then a count per window. */
export const LOG_WINDOW_MS = 10_000;
/** The longest piece of text (a host, a store message) that goes into a line. */
const MAX_TEXT = 200;

/**
 * The causes already logged, per sink and event: a cause is logged once per process for a
 * given logger (the default `console` sink is one object, so once per process), whatever the
 * number of engines.
 */
const logged = new WeakMap<object, Map<string, Set<string>>>();

/** The default sink: `console`, warnings and errors only. */
const CONSOLE = Symbol('console');

/**
 * Text from outside (a Host header, a driver's message) made safe for one log line: control
 * characters replaced, length capped.
 * @param value - anything
 * @returns at most 200 printable characters
 */
export function logText(value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point.
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT)}…` : clean;
}

/** The message of an error's cause chain, for a line (never its stack or its properties). */
function causeText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 3 && e instanceof Error; i++) {
    // A driver's code (ECONNREFUSED) says more than its message at times; tessera's own code is
    // the line's `reason` already.
    const code = (e as { code?: unknown }).code;
    const text =
      typeof code === 'string' && e.name !== 'TesseraError' && !e.message.includes(code)
        ? `${code}: ${e.message}`
        : e.message;
    if (text !== parts.at(-1)) parts.push(text);
    e = e.cause;
  }
  return logText(parts.join(': ') || String(err));
}

interface Limited {
  count: number;
  last: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * tessera's logger: the app's sink plus the once-per-cause and rate-limit rules. Each engine has
 * one (`engine.log`); adapters write through it.
 */
export class TesseraLog {
  readonly #sink: Logger | typeof CONSOLE | null;
  readonly #windowMs: number;
  readonly #limited = new Map<string, Limited>();

  /**
   * @param logger - the `logger` option: a logger, `false` for none, or undefined for `console`
   * @param options - `windowMs`: the window of rate-limited lines (default 10 s)
   */
  constructor(logger?: Logger | false, options: { windowMs?: number } = {}) {
    this.#sink =
      logger === false ? null : logger === undefined || logger === console ? CONSOLE : logger;
    this.#windowMs = options.windowMs ?? LOG_WINDOW_MS;
  }

  /** Whether anything is logged at all (`logger: false` turns it off). */
  get enabled(): boolean {
    return this.#sink !== null;
  }

  /**
   * Write one line. Never throws: a logger that throws is ignored.
   * @param level - `info` lines are dropped by the default `console` sink
   * @param fields - structured fields (`event` first)
   * @param message - the line, without the `tessera: ` prefix
   */
  write(level: LogLevel, fields: LogFields, message: string): void {
    const sink = this.#sink;
    if (sink === null) return;
    const line = `tessera: ${message}`;
    try {
      if (sink === CONSOLE) {
        if (level === 'info') return;
        const err = fields.err;
        if (err !== undefined) console[level](line, err);
        else console[level](line);
        return;
      }
      if (level === 'info') sink.info?.(fields, line);
      else sink[level](fields, line);
    } catch {
      // A broken logger must not break a request.
    }
  }

  /**
   * Write a line the first time `key` is seen for `fields.event` with this logger in this
   * process. Past 32 distinct keys of one event one last line says so, then nothing more, so a
   * client that varies what it sends (a Host header) cannot flood the log.
   * @returns whether the line was written
   */
  once(level: LogLevel, key: string, fields: LogFields, message: string): boolean {
    const sink = this.#sink;
    if (sink === null) return false;
    let byEvent = logged.get(sink === CONSOLE ? console : sink);
    if (!byEvent) {
      byEvent = new Map();
      logged.set(sink === CONSOLE ? console : sink, byEvent);
    }
    let keys = byEvent.get(fields.event);
    if (!keys) {
      keys = new Set();
      byEvent.set(fields.event, keys);
    }
    if (keys.has(key) || keys.size > MAX_ONCE_PER_EVENT) return false;
    keys.add(key);
    if (keys.size > MAX_ONCE_PER_EVENT) {
      this.write(
        level,
        { event: fields.event, suppressed: true },
        `more causes of "${fields.event}" than ${MAX_ONCE_PER_EVENT}: no longer logged in this process.`,
      );
      return false;
    }
    this.write(level, fields, message);
    return true;
  }

  /**
   * Write a line for `key` at once, then count repeats and write one summary per window while
   * they go on (not one line per request during an outage).
   * @param key - what repeats (`store:ERR_STORE_UNAVAILABLE`, `csrf:cross_site`)
   * @param fields - the first line's fields
   * @param message - the first line
   * @param summary - a repeat's short text, for the summary line
   */
  limited(level: LogLevel, key: string, fields: LogFields, message: string, summary: string): void {
    if (this.#sink === null || (level === 'info' && this.#sink === CONSOLE)) return;
    const seen = this.#limited.get(key);
    if (seen) {
      seen.count++;
      seen.last = summary;
      return;
    }
    if (this.#limited.size >= MAX_LIMITED_KEYS) return;
    const entry: Limited = { count: 0, last: summary, timer: undefined };
    this.#limited.set(key, entry);
    this.write(level, fields, message);
    const tick = () => {
      if (entry.count === 0) {
        this.#limited.delete(key);
        return;
      }
      const n = entry.count;
      entry.count = 0;
      this.write(
        level,
        { event: fields.event, repeated: n, windowMs: this.#windowMs },
        `${n} more in the last ${Math.round(this.#windowMs / 1000)} s (last: ${entry.last}).`,
      );
      entry.timer = setTimeout(tick, this.#windowMs);
      (entry.timer as { unref?: () => void }).unref?.();
    };
    entry.timer = setTimeout(tick, this.#windowMs);
    (entry.timer as { unref?: () => void }).unref?.();
  }

  /**
   * A store call failed (the request got 503, or a background clean-up will retry): the first
   * failure of each kind at once, with the store's message, then a count per window.
   * @param reason - the error code (`ERR_STORE_UNAVAILABLE`, `ERR_STORE_CORRUPT`, …)
   * @param store - the store's name
   * @param cause - the error, when known (only its messages are logged)
   */
  storeError(reason: string, store: string, cause?: unknown): void {
    if (this.#sink === null) return;
    const detail = cause === undefined ? reason : `${reason}: ${causeText(cause)}`;
    const what =
      reason === 'ERR_STORE_CORRUPT'
        ? 'a session record could not be read: damaged, or written by another app with other keys (give each app its own prefix / schema / tablePrefix, see docs/deploying.md)'
        : reason.startsWith('follow_up')
          ? 'a clean-up after a failed write was given up, so a record that write may have made stays until it expires'
          : 'requests that need the store get 503 until it recovers';
    this.limited(
      'error',
      `store:${reason}`,
      { event: 'store_error', store: logText(store), reason, detail },
      `the ${logText(store)} session store failed (${detail}): ${what}.`,
      detail,
    );
  }

  /** Stop the summary timers (for tests and shutdown); the counts are dropped. */
  close(): void {
    for (const e of this.#limited.values()) clearTimeout(e.timer);
    this.#limited.clear();
  }
}
