/**
 * Load generation (autocannon as a library) and the session handshake that precedes it: a
 * session is created and checked with plain `fetch` before any measurement, so that a server
 * that silently fails to keep sessions is caught instead of benchmarked.
 */
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { BENCH_USER_AGENT, NO_SESSION } from './app.js';

/** What autocannon saw in one measured window. */
export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Milliseconds. */
  latencyP50: number;
  /** Milliseconds. */
  latencyP99: number;
  /** Non-2xx responses, errors and timeouts: any of them makes the window suspect. */
  failures: number;
}

/**
 * Drives `url` with autocannon (pipelining 1) and returns the figures of the window.
 *
 * @param url - An http://127.0.0.1 URL.
 * @param cookies - Cookie headers, one per connection in turn (each connection is then one
 *   visitor replaying its own session), or null to send none.
 * @param options - Duration (or `amount`: a fixed number of requests) and connections.
 * @returns The window's figures.
 * @throws When autocannon cannot run.
 * @example
 * ```ts
 * const result = await drive('http://127.0.0.1:3000/read', [cookie], { durationSeconds: 5 });
 * ```
 */
export async function drive(
  url: string,
  cookies: readonly string[] | null,
  options: { durationSeconds: number; connections?: number; amount?: number },
): Promise<LoadResult> {
  let nextCookie = 0;
  const instance = autocannon({
    url,
    connections: options.connections ?? 10,
    pipelining: 1,
    duration: options.durationSeconds,
    ...(options.amount === undefined ? {} : { amount: options.amount }),
    headers: { 'user-agent': BENCH_USER_AGENT },
    ...(cookies && cookies.length > 0
      ? {
          setupClient: (client: { setHeaders(headers: Record<string, string>): void }) => {
            client.setHeaders({
              'user-agent': BENCH_USER_AGENT,
              cookie: cookies[nextCookie++ % cookies.length]!,
            });
          },
        }
      : {}),
  });
  // autocannon's own latency histogram keeps whole milliseconds; loopback latencies are
  // sub-millisecond, so they are recorded here in microseconds.
  const latencies = createHistogram();
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    latencies.record(Math.max(1, Math.round(responseTime * 1000)));
  });
  const result = await instance;
  const requests = result.requests.total;
  return {
    requests,
    seconds: result.duration,
    requestsPerSecond: result.duration > 0 ? requests / result.duration : 0,
    latencyP50: latencies.percentile(50) / 1000,
    latencyP99: latencies.percentile(99) / 1000,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

/** A minimal cookie jar: name → value, updated from Set-Cookie headers. */
class CookieJar {
  readonly #cookies = new Map<string, string>();

  update(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /;\s*max-age=0/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  get size(): number {
    return this.#cookies.size;
  }
}

/**
 * Creates a session on a server and checks that it behaves as the benchmark app requires
 * (`/new` sets a cookie; `/hit` increments; `/read` sees the count; no cookie, no session).
 *
 * @param base - `http://127.0.0.1:<port>`.
 * @returns The Cookie header that carries the session (count = 2).
 * @throws When the server does not keep sessions as required (the message says which step).
 * @example
 * ```ts
 * const cookie = await obtainSession(`http://127.0.0.1:${server.port}`);
 * ```
 */
export async function obtainSession(base: string): Promise<string> {
  const jar = new CookieJar();
  const get = async (path: string, withCookie = true): Promise<string> => {
    const headers: Record<string, string> = { 'user-agent': BENCH_USER_AGENT };
    if (withCookie && jar.size > 0) headers['cookie'] = jar.header();
    const response = await fetch(`${base}${path}`, { headers });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
    if (withCookie) jar.update(response);
    return body;
  };
  await get('/new');
  if (jar.size === 0) throw new Error('GET /new set no cookie');
  const expect = (step: string, actual: string, wanted: string): void => {
    if (actual !== wanted) throw new Error(`${step} answered '${actual}', expected '${wanted}'`);
  };
  expect('GET /hit', await get('/hit'), '1');
  expect('GET /hit (second)', await get('/hit'), '2');
  expect('GET /read', await get('/read'), '2');
  expect('GET /read (no cookie)', await get('/read', false), NO_SESSION);
  const cookie = jar.header();
  // The cookie must carry the state by itself (no server-side per-connection state).
  expect('GET /read (replayed cookie)', await get('/read'), '2');
  return cookie;
}

/**
 * Creates and checks `count` sessions (see {@link obtainSession}), one per load connection.
 *
 * @param base - `http://127.0.0.1:<port>`.
 * @param count - How many sessions.
 * @returns Their Cookie headers.
 * @throws As {@link obtainSession}.
 * @example
 * ```ts
 * const cookies = await obtainSessions(base, 10);
 * ```
 */
export async function obtainSessions(base: string, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) cookies.push(await obtainSession(base));
  return cookies;
}
