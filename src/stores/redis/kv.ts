/**
 * The Redis store's key-value space (`KeyValueStore`): values as `<expiresAt>\x01<value>`
 * strings with native expiry, counters by the `increment` script; one key space under
 * `<prefix>k:`.
 */
import type { CounterResult } from '../../core/types.js';
import type { RedisCalls } from './calls.js';
import { SEP } from './codec.js';
import { INCREMENT } from './scripts.js';
import { j, px } from './session-args.js';

/** The key-value methods of one Redis store. */
export class RedisKeySpace {
  readonly #c: RedisCalls;

  /** @param calls - the store's plumbing */
  constructor(calls: RedisCalls) {
    this.#c = calls;
  }

  kvGet(key: string, now: number): Promise<string | null> {
    return this.#c.guard(async () => {
      const raw = await this.#c.client.get(this.#c.keys.kv(key)).catch(nullOnWrongType);
      if (raw === null) return null;
      const at = raw.indexOf(SEP);
      if (at < 0) return null;
      const exp = raw.slice(0, at);
      if (exp !== '' && Number(exp) <= now) return null;
      return raw.slice(at + 1);
    });
  }

  kvSet(key: string, value: string, expiresAt: number | null): Promise<void> {
    return this.#c.guard(async () => {
      const k = this.#c.keys.kv(key);
      if (expiresAt === null) await this.#c.client.set(k, `${SEP}${value}`);
      else await this.#c.client.set(k, `${j(expiresAt)}${SEP}${value}`, 'PXAT', px(expiresAt));
    });
  }

  kvDelete(key: string): Promise<boolean> {
    return this.#c.guard(async () => (await this.#c.client.del(this.#c.keys.kv(key))) > 0);
  }

  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult> {
    return this.#c.guard(async () => {
      const k = this.#c.keys.kv(key);
      const r = await this.#c.run(INCREMENT, k, '', {
        now: String(now),
        windowEndsAt: j(windowEndsAt),
        windowEndsAtPx: px(windowEndsAt),
      });
      return { count: Number(r[0]), expiresAt: Number(r[1]) };
    });
  }
}

/**
 * A Redis list under a key (a `KeyValueStore` list, which an earlier version wrote) reads as
 * nothing: values and counters are strings, and `kvSet` or `increment` replaces the list.
 */
function nullOnWrongType(e: unknown): null {
  if (e instanceof Error && e.message.startsWith('WRONGTYPE')) return null;
  throw e;
}
