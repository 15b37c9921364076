/**
 * `node --import tsx bench/attribute.ts [--store memory,sealed,redis] [--ms 300] [--batches 9]`
 * (after `npm run build`): the engine's own CPU per request, without HTTP — `load()` and
 * `commit()` on the three request shapes of the benchmark app (read, hit, new), in a loop in this
 * process, CPU time (`process.cpuUsage()`) per operation, median over batches. Beside the
 * fixed-rate "extra CPU over the bare framework" of `npm run bench`, it splits a configuration's
 * extra into the engine's share and the adapter's (extra − engine). With `--pieces`, also the
 * parts of the sealed read (cookie lookup, AES-GCM open, JSON parse) and of a new visitor (token
 * mint, cookie serialisation), from the built modules.
 */
import { parseArgs } from 'node:util';
import type { SessionManager } from 'tessera-session';
import { createSealedSessions, createSessions, generateKey } from 'tessera-session';
import { BENCH_USER_AGENT, INITIAL_DATA } from './lib/app.js';
import { median } from './lib/stats.js';
import type { BenchSessionData } from './lib/tessera.js';

const { values: flags } = parseArgs({
  options: {
    store: { type: 'string', default: 'memory,sealed' },
    ms: { type: 'string', default: '300' },
    batches: { type: 'string', default: '9' },
    pieces: { type: 'boolean', default: false },
  },
  strict: true,
});

/** The engine surface used here (both engines implement it: src/core/contract.ts). */
interface Engine {
  load(req: { cookie?: string; method: string; userAgent?: string; ip?: string }): Promise<Sess>;
  commit(s: Sess): Promise<{ setCookie: string | null; private: boolean }>;
  close(): Promise<void>;
}
interface Sess {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  update(key: string, fn: (v: unknown) => unknown): void;
}

const request = (cookie?: string) => ({
  ...(cookie === undefined ? {} : { cookie }),
  method: 'GET',
  userAgent: BENCH_USER_AGENT,
  ip: '127.0.0.1',
});

/** CPU µs and wall µs per operation of an async op, median over batches. */
async function measure(
  op: () => Promise<unknown>,
): Promise<{ cpu: number; wall: number; min: number }> {
  const targetMs = Number(flags.ms);
  // Calibrate: how many ops fill a batch.
  let n = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < n; i++) await op();
    const spent = performance.now() - t;
    if (spent > targetMs / 4) {
      n = Math.max(1, Math.round((n * targetMs) / spent));
      break;
    }
    n *= 2;
  }
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let b = 0; b < Number(flags.batches); b++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await op();
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    cpu.push((c1.user + c1.system) / n);
    wall.push(((t1 - t0) * 1000) / n);
  }
  return { cpu: median(cpu), wall: median(wall), min: Math.min(...cpu) };
}

async function engineFor(name: string): Promise<{ engine: Engine; close: () => Promise<void> }> {
  if (name === 'sealed') {
    const engine = createSealedSessions<BenchSessionData>({ keys: [generateKey()] });
    return { engine: engine as unknown as Engine, close: () => engine.close() };
  }
  if (name === 'memory') {
    const { memoryStore } = await import('tessera-session/memory');
    const engine = createSessions<BenchSessionData>({
      store: memoryStore(),
      keys: [generateKey()],
    });
    return { engine: engine as unknown as Engine, close: () => engine.close() };
  }
  if (name === 'redis') {
    const { Redis } = await import('ioredis');
    const { redisStore } = await import('tessera-session/redis');
    const client = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
    const prefix = `bench:attribute:${process.pid}:`;
    const engine: SessionManager<BenchSessionData> = createSessions<BenchSessionData>({
      store: redisStore({ client, prefix }),
      keys: [generateKey()],
    });
    return {
      engine: engine as unknown as Engine,
      close: async () => {
        await engine.close();
        const stream = client.scanStream({ match: `${prefix}*`, count: 1000 });
        for await (const keys of stream as AsyncIterable<string[]>) {
          if (keys.length > 0) await client.unlink(...keys);
        }
        await client.quit();
      },
    };
  }
  throw new Error(`unknown --store ${name}`);
}

const cookieOf = (setCookie: string | null): string => {
  if (!setCookie) throw new Error('no Set-Cookie on a new session');
  return setCookie.split(';', 1)[0]!;
};

const rows: string[] = [];
const row = (engine: string, what: string, r: { cpu: number; wall: number; min: number }) => {
  rows.push(
    `| ${engine} | ${what} | ${r.cpu.toFixed(2)} | ${r.min.toFixed(2)} | ${r.wall.toFixed(2)} |`,
  );
  console.log(`${engine.padEnd(8)} ${what.padEnd(44)} ${r.cpu.toFixed(2).padStart(8)} µs CPU`);
};

for (const name of flags.store!.split(',')) {
  const { engine, close } = await engineFor(name);
  try {
    // One session like the benchmark's: created by /new, then replayed.
    const created = await engine.load(request());
    for (const [k, v] of Object.entries(structuredClone(INITIAL_DATA))) created.set(k, v);
    const cookie = cookieOf((await engine.commit(created)).setCookie);
    row(
      name,
      'read: load + get + commit',
      await measure(async () => {
        const s = await engine.load(request(cookie));
        s.get('count');
        await engine.commit(s);
      }),
    );
    row(name, 'read: load only', await measure(() => engine.load(request(cookie))));
    // A hit replays the same cookie (as the harness does): a sealed session re-seals each time.
    let hitCookie = cookie;
    row(
      name,
      'hit: load + update + commit',
      await measure(async () => {
        const s = await engine.load(request(hitCookie));
        s.update('count', (c) => ((c as number | undefined) ?? 0) + 1);
        const out = await engine.commit(s);
        if (name !== 'sealed' && out.setCookie) hitCookie = cookieOf(out.setCookie);
      }),
    );
    row(
      name,
      'new: load + 3 × set + commit',
      await measure(async () => {
        const s = await engine.load(request());
        for (const [k, v] of Object.entries(structuredClone(INITIAL_DATA))) s.set(k, v);
        await engine.commit(s);
      }),
    );
    row(name, 'new: load (no cookie) only', await measure(() => engine.load(request())));
  } finally {
    await close();
  }
}

if (flags.pieces) {
  // Internal modules of the build, for the parts of a request (not public API).
  const dist = new URL('../dist/core/', import.meta.url).href;
  const cookieMod = (await import(`${dist}cookie.js`)) as Record<string, unknown>;
  const cryptoMod = (await import(`${dist}crypto.js`)) as Record<string, unknown>;
  const tokenMod = (await import(`${dist}token.js`)) as Record<string, unknown>;
  const sealed = createSealedSessions<BenchSessionData>({ keys: [generateKey()] });
  const s = (await sealed.load(request())) as unknown as Sess;
  for (const [k, v] of Object.entries(structuredClone(INITIAL_DATA))) s.set(k, v);
  const setCookie = (await sealed.commit(s as never)).setCookie;
  const cookie = cookieOf(setCookie);
  const header = `${cookie}; other=1; third=abc`;
  const value = cookie.slice(cookie.indexOf('=') + 1);
  console.log(`sealed cookie: ${cookie.length} characters`);
  const sync = (fn: () => unknown) => measure(async () => fn());
  const findCookie = cookieMod['findCookie'] as ((h: string, n: string) => unknown) | undefined;
  if (findCookie) {
    const name = cookie.slice(0, cookie.indexOf('='));
    row(
      'pieces',
      `findCookie (3 cookies, sealed value ${value.length} chars)`,
      await sync(() => findCookie(header, name)),
    );
  }
  const aeadSeal = cryptoMod['aeadSeal'] as
    | ((k: Buffer, p: string, a: string) => string)
    | undefined;
  const aeadOpen = cryptoMod['aeadOpen'] as
    | ((k: Buffer, s: string, a: string) => unknown)
    | undefined;
  if (aeadSeal && aeadOpen) {
    const key = Buffer.alloc(32, 7);
    const payload = JSON.stringify({ v: 1, d: INITIAL_DATA, c: 'x'.repeat(43), t: [1, 2, 3, 4] });
    const blob = aeadSeal(key, payload, 'aad');
    row(
      'pieces',
      `aeadOpen (${payload.length} B payload)`,
      await sync(() => aeadOpen(key, blob, 'aad')),
    );
    row('pieces', 'aeadSeal (same payload)', await sync(() => aeadSeal(key, payload, 'aad')));
    row(
      'pieces',
      'base64url decode + re-encode (canonical check)',
      await sync(() => Buffer.from(blob, 'base64url').toString('base64url')),
    );
    row('pieces', `JSON.parse (${payload.length} B)`, await sync(() => JSON.parse(payload)));
  }
  const randomToken = cryptoMod['randomToken'] as ((n: number) => string) | undefined;
  const hmac = cryptoMod['hmac'] as ((k: Buffer, s: string, n?: number) => string) | undefined;
  const sha256 = cryptoMod['sha256'] as ((s: string) => string) | undefined;
  if (randomToken && hmac && sha256) {
    // mintToken's parts: a 256-bit secret, its HMAC, the SHA-256 store key.
    row('pieces', 'randomToken(32)', await sync(() => randomToken(32)));
    row('pieces', 'hmac (token MAC)', await sync(() => hmac(Buffer.alloc(32, 1), 's.k1..abc', 16)));
    row(
      'pieces',
      'sha256 (store key)',
      await sync(() => sha256('s.k1..abcdefghijklmnopqrstuvwxyz')),
    );
  }
  void tokenMod;
  await sealed.close();
}

console.log(
  [
    '',
    `| engine | operation | CPU µs/op (median) | fastest batch | wall µs/op |`,
    '|---|---|---:|---:|---:|',
    ...rows,
  ].join('\n'),
);
