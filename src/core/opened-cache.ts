/**
 * A small cache of seals already opened (AES-256-GCM open + JSON.parse), keyed by the exact
 * sealed text that authenticated, for the sealed-cookie codec (sealed/payload.ts) and the
 * server-side engine's encrypted-at-rest data (codec.ts): a browser replays the same cookie on
 * every request until it is re-sealed, so a repeat costs a map lookup and a copy.
 *
 * What it trades: the decoded plaintext of up to two generations of recent seals stays in this
 * process's memory (bounded: entry count and text length). Only what opened enters; a lookup is
 * by the whole sealed string, so a changed character misses and goes through the AEAD. Callers
 * still run every per-request check (deadlines, revocation, validation) on what they get, and
 * get a deep copy, so a change made by one request never reaches the next (docs/sealed.md,
 * "Opened-seal cache").
 */

/**
 * @internal Two generations of at most `size` entries each: a lookup that hits the older one
 * moves the entry to the young one; when the young one is full it becomes the old one and the
 * previous old one is dropped. Cheaper than an LRU list, and a working set of up to `size`
 * seals stays cached.
 */
export class OpenedCache<V> {
  readonly #size: number;
  readonly #maxChars: number;
  #young = new Map<string, Entry<V>>();
  #old = new Map<string, Entry<V>>();

  /**
   * @param size - entries per generation (so at most 2 × size in all)
   * @param maxChars - longest sealed text remembered (a longer one is opened every time)
   */
  constructor(size: number, maxChars: number) {
    this.#size = size;
    this.#maxChars = maxChars;
  }

  /** The value remembered for exactly this sealed text, or undefined. */
  get(sealed: string): V | undefined {
    const k = keyOf(sealed);
    let e = this.#young.get(k);
    if (e === undefined) {
      e = this.#old.get(k);
      if (e === undefined) return undefined;
      this.#old.delete(k);
      // Keyed by the entry's own text, not by this request's (which may hold its whole header).
      this.#put(keyOf(e.sealed), e);
    }
    // The map key is only the tail: the whole text must be the one that opened.
    return e.sealed === sealed ? e.value : undefined;
  }

  /**
   * Remember what `sealed` opened to (it must have authenticated); a long text is not kept.
   * @param options - `made: true` for a text this process has just sealed (its own string, no
   *   slice of a request), which is kept as it is; any other is copied first (`detached`)
   */
  set(sealed: string, value: V, options?: { made?: boolean }): void {
    if (sealed.length > this.#maxChars) return;
    const own = options?.made ? sealed : detached(sealed);
    this.#put(keyOf(own), { sealed: own, value });
  }

  /** Entries held now (both generations). */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  #put(k: string, e: Entry<V>): void {
    if (this.#young.size >= this.#size) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(k, e);
  }
}

interface Entry<V> {
  readonly sealed: string;
  readonly value: V;
}

/**
 * @internal A copy of `s` that shares no memory with the string it came from. A cookie value is a slice of
 * the request's whole `Cookie` header, and V8 keeps a slice's parent alive: kept as it is, each
 * entry would hold its request's header (up to Node's 16 KB header limit, other cookies
 * included) instead of its own ≤ 2 KB. Measured: 300 cached seals sliced from 50 KB headers kept
 * 15 MB alive, copies 0.1 MB. A JSON round trip copies any string exactly.
 */
export function detached(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

/**
 * The map key of a sealed text: its last 22 characters, which spell the AES-GCM tag (128 bits,
 * different for every seal). Hashing a fresh 300-character cookie string for a Map lookup cost
 * ~480 ns, its tail ~110 ns with the full comparison; two seals with one tail only take each
 * other's place (a miss, then an open), never each other's value.
 */
function keyOf(sealed: string): string {
  return sealed.length > 22 ? sealed.slice(-22) : sealed;
}

/**
 * @internal A deep copy of a JSON value (what JSON.parse makes: plain objects, arrays,
 * strings, numbers, booleans, null). An own `__proto__` key is copied as a property, as
 * JSON.parse makes it, never as the prototype.
 */
export function copyJSON<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copyJSON(v[i]);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    const x = copyJSON((v as Record<string, unknown>)[k]);
    if (k === '__proto__')
      Object.defineProperty(out, k, {
        value: x,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else out[k] = x;
  }
  return out as T;
}
