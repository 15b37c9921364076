/**
 * An open-loop, fixed-rate load driver: requests are scheduled at `rate` per second on a fixed
 * clock, whatever the server's answers, and sent over a small pool of keep-alive connections
 * (each one visitor replaying its own cookie). A request whose slot comes while every connection
 * is busy waits in a queue, and its latency counts from its scheduled time (no coordinated
 * omission). The window reports the rate it achieved beside the target, so a configuration that
 * cannot hold the rate is flagged instead of silently measured at a lower one.
 *
 * autocannon's `overallRate` is closed-loop (each connection waits for its answer, then for a
 * per-second token budget), so it bursts at the start of every second and hides a server that
 * falls behind; this driver uses raw sockets and pre-built request bytes so that its own CPU
 * stays small beside the server on a 2-core host.
 */
import { connect, type Socket } from 'node:net';
import { createHistogram } from 'node:perf_hooks';
import { BENCH_USER_AGENT } from './app.js';
import type { LoadResult } from './load.js';

/** What one fixed-rate window measured. */
export interface RateResult extends LoadResult {
  /** The rate asked for, req/s. */
  targetRate: number;
  /** Requests answered inside the window ÷ window length, req/s. */
  achievedRate: number;
  /** The most requests that waited for a free connection at once. */
  maxBacklog: number;
  /** How long after the window's end the last answer came, ms (≈ 0 when the rate is held). */
  drainMs: number;
  /** Whether the server held the rate (≥ 97 % answered in the window, drained within 100 ms). */
  held: boolean;
}

/** Options of one fixed-rate window. */
export interface RateOptions {
  rate: number;
  durationSeconds: number;
  /** Keep-alive connections in the pool (each one visitor when cookies are given). */
  connections: number;
}

/** A keep-alive connection that carries one request at a time. */
class Connection {
  readonly socket: Socket;
  readonly request: Buffer;
  /** Scheduled time (performance.now()) of the request in flight, or -1 when idle. */
  scheduled = -1;
  #buffer: Buffer = Buffer.alloc(0);
  readonly #onDone: (connection: Connection, status: number) => void;

  constructor(
    port: number,
    request: Buffer,
    onDone: (connection: Connection, status: number) => void,
    onError: (error: Error) => void,
  ) {
    this.request = request;
    this.#onDone = onDone;
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    this.socket.on('error', onError);
  }

  send(scheduled: number): void {
    this.scheduled = scheduled;
    this.socket.write(this.request);
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const length = responseLength(this.#buffer);
      if (length < 0) return;
      const status = Number(this.#buffer.toString('latin1', 9, 12));
      this.#buffer = this.#buffer.subarray(length);
      this.#onDone(this, status);
      if (this.#buffer.length === 0) return;
    }
  }
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * The length of the first complete HTTP/1.1 response in `buffer`, or -1 when it is not complete
 * yet (Content-Length or chunked bodies; the benchmark servers answer one of the two).
 */
export function responseLength(buffer: Buffer): number {
  const headerEnd = buffer.indexOf(HEADER_END);
  if (headerEnd < 0) return -1;
  const head = buffer.toString('latin1', 0, headerEnd).toLowerCase();
  const bodyStart = headerEnd + 4;
  const lengthMatch = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (lengthMatch) {
    const end = bodyStart + Number(lengthMatch[1]);
    return buffer.length >= end ? end : -1;
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
    let at = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at, 'latin1');
      if (lineEnd < 0) return -1;
      const size = Number.parseInt(buffer.toString('latin1', at, lineEnd), 16);
      if (!Number.isFinite(size)) throw new Error('malformed chunked response');
      if (size === 0) {
        // No trailers in these responses: the last chunk ends with an empty line.
        return buffer.length >= lineEnd + 4 ? lineEnd + 4 : -1;
      }
      at = lineEnd + 2 + size + 2;
      if (buffer.length < at) return -1;
    }
  }
  // No body framing: a response without a body (e.g. 204/304).
  return bodyStart;
}

/**
 * Drives `url` at a fixed rate for a fixed duration (open loop) and returns the window's figures.
 *
 * @param url - An http://127.0.0.1 URL (GET).
 * @param cookies - Cookie headers, one per connection in turn, or null to send none.
 * @param options - Rate, duration and connection count.
 * @returns The window's figures, with the achieved rate and whether the rate was held.
 * @throws When a connection fails.
 * @example
 * ```ts
 * const result = await driveAtRate('http://127.0.0.1:3000/read', cookies, { rate: 2000, durationSeconds: 4, connections: 10 });
 * ```
 */
export async function driveAtRate(
  url: string,
  cookies: readonly string[] | null,
  options: RateOptions,
): Promise<RateResult> {
  const { hostname, port, pathname, search } = new URL(url);
  const planned = Math.round(options.rate * options.durationSeconds);
  const interval = 1000 / options.rate;
  const latencies = createHistogram();
  const idle: Connection[] = [];
  const queue: number[] = [];
  let queueHead = 0;
  let maxBacklog = 0;
  let completed = 0;
  let inWindow = 0;
  let failures = 0;
  let lastAnswer = 0;
  let start = 0;
  let windowEnd = 0;

  let finish: (() => void) | null = null;
  let fail: ((error: Error) => void) | null = null;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });

  const onDone = (connection: Connection, status: number): void => {
    const now = performance.now();
    latencies.record(Math.max(1, Math.round((now - connection.scheduled) * 1000)));
    if (status < 200 || status >= 300) failures++;
    completed++;
    if (now <= windowEnd) inWindow++;
    lastAnswer = now;
    if (queueHead < queue.length) {
      connection.send(queue[queueHead++]!);
      if (queueHead > 4096) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
    } else {
      connection.scheduled = -1;
      idle.push(connection);
    }
    if (completed === planned) finish?.();
  };
  const onError = (error: Error): void => fail?.(error);

  const connections: Connection[] = [];
  for (let i = 0; i < options.connections; i++) {
    const cookie = cookies && cookies.length > 0 ? cookies[i % cookies.length] : undefined;
    const request = Buffer.from(
      `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUser-Agent: ${BENCH_USER_AGENT}\r\n` +
        (cookie ? `Cookie: ${cookie}\r\n` : '') +
        'Connection: keep-alive\r\n\r\n',
      'latin1',
    );
    connections.push(new Connection(Number(port), request, onDone, onError));
  }
  await Promise.all(
    connections.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.socket.once('connect', resolve);
          c.socket.once('error', reject);
        }),
    ),
  );
  // FIFO: successive requests go to different connections (visitors) in turn.
  idle.push(...connections);

  let sent = 0;
  start = performance.now();
  windowEnd = start + options.durationSeconds * 1000;
  const tick = (): void => {
    const now = performance.now();
    const due = Math.min(planned, Math.floor((now - start) / interval) + 1);
    while (sent < due) {
      const scheduled = start + sent * interval;
      sent++;
      const connection = idle.shift();
      if (connection) connection.send(scheduled);
      else {
        queue.push(scheduled);
        maxBacklog = Math.max(maxBacklog, queue.length - queueHead);
      }
    }
    if (sent < planned) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
  };
  tick();

  // A server that stops answering must not hang the run: give up 30 s after the window.
  const timer = setTimeout(
    () => fail?.(new Error(`only ${completed} of ${planned} requests answered`)),
    options.durationSeconds * 1000 + 30_000,
  );
  try {
    await done;
  } finally {
    clearTimeout(timer);
    for (const c of connections) c.socket.destroy();
  }
  const seconds = options.durationSeconds;
  const achievedRate = inWindow / seconds;
  const drainMs = Math.max(0, lastAnswer - windowEnd);
  return {
    requests: completed,
    seconds,
    requestsPerSecond: achievedRate,
    latencyP50: latencies.percentile(50) / 1000,
    latencyP99: latencies.percentile(99) / 1000,
    failures,
    targetRate: options.rate,
    achievedRate,
    maxBacklog,
    drainMs,
    held: achievedRate >= 0.97 * options.rate && drainMs <= 100,
  };
}
