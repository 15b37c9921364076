/**
 * Micro-benchmarks of the request hot path's building blocks, in this process:
 * iron-session's `sealData` / `unsealData`, the `cookie` package's parse / serialize, and
 * tessera's own token, seal/open and cookie functions when `src/core/` provides them.
 *
 * Each case runs a warm-up, then several timed batches (`process.hrtime.bigint()`); the figure is
 * the median ns/op of the batches. Run alone with `node --import tsx bench/micro.ts [--quick]`.
 */
import { pathToFileURL } from 'node:url';
import { median } from './lib/stats.js';

/** One micro-benchmark case. */
export interface MicroCase {
  group: string;
  name: string;
  /** One operation; an async case is awaited, which adds a microtask turn (noted in results). */
  run: () => unknown;
}

/** A case's result. */
export interface MicroResult {
  group: string;
  name: string;
  nsPerOp: number;
  /** Fastest and slowest batch, ns/op. */
  minNsPerOp: number;
  maxNsPerOp: number;
  batches: number;
  opsPerBatch: number;
}

/** Settings of a micro run. */
export interface MicroOptions {
  /** Wall time to spend warming each case up, ms. */
  warmupMs: number;
  /** Wall time of each batch, ms (the op count per batch is calibrated to it). */
  batchMs: number;
  batches: number;
}

/** The sample session payload, the same for every sealing library. */
export const MICRO_PAYLOAD = { userId: 'u1', count: 42, prefs: { theme: 'dark' } };

/** Why tessera cases are absent, when they are (filled by {@link microCases}). */
export const microNotes: string[] = [];

/**
 * Builds the micro-benchmark cases from what is installed and what `src/core/` exports.
 *
 * @returns The cases, peers first.
 * @example
 * ```ts
 * const cases = await microCases();
 * ```
 */
export async function microCases(): Promise<MicroCase[]> {
  microNotes.length = 0;
  const cases: MicroCase[] = [];

  const iron = await import('iron-session');
  const password = 'bench-only-password-0123456789-abcdef';
  const sealed = await iron.sealData(MICRO_PAYLOAD, { password });
  cases.push(
    {
      group: 'seal',
      name: 'iron-session sealData',
      run: () => iron.sealData(MICRO_PAYLOAD, { password }),
    },
    {
      group: 'open',
      name: 'iron-session unsealData',
      run: () => iron.unsealData(sealed, { password }),
    },
  );

  try {
    // The hoisted `cookie` (1.x, used by @fastify/cookie; package.json pins it: 2.x needs Node 22);
    // express-session and iron-session bundle 0.7.x, the same algorithm under the old names.
    const cookie = await import('cookie');
    const header = `theme=dark; bench-iron=${sealed}; _ga=GA1.2.3.4`;
    cases.push(
      {
        group: 'cookie',
        name: 'cookie parseCookie (3 cookies)',
        run: () => cookie.parseCookie(header),
      },
      {
        group: 'cookie',
        name: 'cookie stringifySetCookie (HttpOnly, Secure, Lax)',
        run: () =>
          cookie.stringifySetCookie({
            name: '__Host-sid',
            value: 'a'.repeat(43),
            httpOnly: true,
            secure: true,
            sameSite: 'lax',
            path: '/',
          }),
      },
    );
  } catch {
    microNotes.push('cookie package not installed: its cases are skipped');
  }

  cases.push(...(await tesseraCases()));
  const groups = ['token', 'seal', 'open', 'cookie'];
  return cases.sort((a, b) => groups.indexOf(a.group) - groups.indexOf(b.group));
}

/**
 * tessera's own cases, from the built package (`npm run build` first): the key ring from the
 * public root, and the token, cookie and data codec primitives from their built modules
 * (`dist/core/token.js`, `cookie.js`, `codec.js`: not exported, no part of the public API).
 * A missing piece is reported in {@link microNotes} rather than failing the run.
 */
async function tesseraCases(): Promise<MicroCase[]> {
  const cases: MicroCase[] = [];
  let tessera: typeof import('tessera-session');
  try {
    tessera = await import('tessera-session');
  } catch (error) {
    microNotes.push(`tessera cases skipped: tessera-session not built (${String(error)})`);
    return cases;
  }
  const ring = new tessera.KeyRing([tessera.generateKey()]);
  // The type check reads `tessera-session` from src/ (tsconfig paths): type the built modules
  // as their sources, so that they take the same KeyRing.
  let primitives: typeof import('../src/core/token.js') & typeof import('../src/core/cookie.js');
  try {
    primitives = {
      ...((await import(
        '../dist/core/token.js'
      )) as unknown as typeof import('../src/core/token.js')),
      ...((await import(
        '../dist/core/cookie.js'
      )) as unknown as typeof import('../src/core/cookie.js')),
    };
  } catch (error) {
    microNotes.push(`tessera token/cookie cases skipped: dist/core (${String(error)})`);
    return cases;
  }
  const { findCookie, mintToken, parseCookies, serializeCookie, verifyToken } = primitives;
  const { token } = mintToken(ring, 's');
  cases.push(
    { group: 'token', name: 'tessera mintToken', run: () => mintToken(ring, 's') },
    { group: 'token', name: 'tessera verifyToken', run: () => verifyToken(ring, token) },
  );
  try {
    const codec = (await import(
      '../dist/core/codec.js'
    )) as unknown as typeof import('../src/core/codec.js');
    // What a record's seal is bound to (its id, handle, user, sign-in time, absolute deadline).
    const aad = {
      id: 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd',
      handle: 'handle-0123456789abcdef',
      userId: 'user-42',
      authenticatedAt: 1_800_000_000_000,
      absoluteExpiresAt: 1_800_043_200_000,
    };
    const sealed = codec.encodeData(ring, MICRO_PAYLOAD, aad, true);
    cases.push(
      {
        group: 'seal',
        name: 'tessera encodeData (AES-256-GCM)',
        run: () => codec.encodeData(ring, MICRO_PAYLOAD, aad, true),
      },
      {
        group: 'open',
        name: 'tessera decodeData (AES-256-GCM)',
        run: () => codec.decodeData(ring, sealed, aad, true),
      },
    );
  } catch (error) {
    microNotes.push(`tessera seal/open cases skipped: dist/core/codec.js (${String(error)})`);
  }
  const header = `theme=dark; __Host-tessera=${token}; _ga=GA1.2.3.4`;
  cases.push(
    {
      group: 'cookie',
      name: 'tessera findCookie (3 cookies)',
      run: () => findCookie(header, '__Host-tessera'),
    },
    {
      group: 'cookie',
      name: 'tessera parseCookies (3 cookies)',
      run: () => parseCookies(header),
    },
    {
      group: 'cookie',
      name: 'tessera serializeCookie (HttpOnly, Secure, Lax)',
      run: () => serializeCookie('__Host-tessera', token),
    },
  );
  return cases;
}

/**
 * Times one case: calibrates the op count per batch, warms up, then measures the batches.
 *
 * @param item - The case.
 * @param options - Warm-up and batch durations.
 * @returns Its median ns/op.
 * @example
 * ```ts
 * const result = await measure(cases[0], { warmupMs: 300, batchMs: 200, batches: 7 });
 * ```
 */
export async function measure(item: MicroCase, options: MicroOptions): Promise<MicroResult> {
  const first = item.run();
  const isAsync = first instanceof Promise;
  if (isAsync) await first;
  const loop = isAsync
    ? async (n: number): Promise<bigint> => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < n; i++) await item.run();
        return process.hrtime.bigint() - start;
      }
    : async (n: number): Promise<bigint> => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < n; i++) item.run();
        return process.hrtime.bigint() - start;
      };
  // Calibrate: grow n until a batch takes ≥ 10 ms, then scale it to the batch duration.
  let n = 1;
  let elapsed = await loop(n);
  while (elapsed < 10_000_000n) {
    n *= 4;
    elapsed = await loop(n);
  }
  const perOp = Number(elapsed) / n;
  const opsPerBatch = Math.max(1, Math.round((options.batchMs * 1e6) / perOp));
  const warmupEnd = process.hrtime.bigint() + BigInt(options.warmupMs) * 1_000_000n;
  while (process.hrtime.bigint() < warmupEnd) await loop(Math.max(1, opsPerBatch >> 2));
  const perBatch: number[] = [];
  for (let b = 0; b < options.batches; b++) {
    perBatch.push(Number(await loop(opsPerBatch)) / opsPerBatch);
  }
  return {
    group: item.group,
    name: item.name,
    nsPerOp: median(perBatch),
    minNsPerOp: Math.min(...perBatch),
    maxNsPerOp: Math.max(...perBatch),
    batches: options.batches,
    opsPerBatch,
  };
}

/**
 * Runs every micro case.
 *
 * @param options - `quick` for a short run; `log` for progress lines.
 * @returns The results and the notes on absent cases.
 * @example
 * ```ts
 * const { results } = await runMicro({ quick: true, log: console.log });
 * ```
 */
export async function runMicro(options: {
  quick: boolean;
  log: (line: string) => void;
}): Promise<{ results: MicroResult[]; notes: string[] }> {
  const settings: MicroOptions = options.quick
    ? { warmupMs: 200, batchMs: 100, batches: 5 }
    : { warmupMs: 500, batchMs: 250, batches: 9 };
  const results: MicroResult[] = [];
  for (const item of await microCases()) {
    const result = await measure(item, settings);
    options.log(`  ${item.name.padEnd(50)} ${formatNs(result.nsPerOp).padStart(10)}/op`);
    results.push(result);
  }
  for (const note of microNotes) options.log(`  note: ${note}`);
  return { results, notes: [...microNotes] };
}

/**
 * Formats nanoseconds as ns or µs.
 *
 * @param ns - Nanoseconds.
 * @returns `812 ns` or `3.4 µs`.
 * @example
 * ```ts
 * formatNs(3400); // '3.40 µs'
 * ```
 */
export function formatNs(ns: number): string {
  return ns < 1000 ? `${Math.round(ns)} ns` : `${(ns / 1000).toFixed(2)} µs`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runMicro({ quick: process.argv.includes('--quick'), log: console.log });
}
