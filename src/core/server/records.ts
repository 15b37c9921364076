/**
 * A record's data as the server-side engine reads and writes it: opened (and verified) through
 * codec.ts, encoded under the size limit, and the cache of seals already opened, so a returning
 * session whose record has not changed skips the AES-GCM open on load.
 */
import {
  type DataBinding,
  type DecodeResult,
  decodeData,
  encodeData,
  type Grace,
  isSealedData,
  sameBinding,
} from '../codec.js';
import { TesseraError } from '../errors.js';
import type { KeyRing } from '../keys.js';
import type { SessionRecord } from '../types.js';

/** How many opened seals the engine remembers, and how many characters of sealed data at most. */
const OPENED_CACHE = 10_000;
const OPENED_CACHE_CHARS = 4_000_000;

/** A seal that opened for these record fields (codec.ts), remembered so a read-only load can skip it. */
interface OpenedSeal {
  binding: DataBinding;
  grace: Grace | null;
}

/** @internal Opens and encodes records' data for one engine. */
export class RecordCodec {
  readonly #ring: KeyRing;
  readonly #encrypt: boolean;
  readonly #maxDataBytes: number;
  /**
   * Sealed data already opened for a record's fields, keyed by the sealed text itself (bounded,
   * FIFO): a returning session whose record has not changed skips the AES-GCM open on load, and
   * its data is opened only if the request reads it. A changed field or changed data misses.
   */
  readonly #opened = new Map<string, OpenedSeal>();
  #openedChars = 0;

  constructor(options: { ring: KeyRing; encrypt: boolean; maxDataBytes: number }) {
    this.#ring = options.ring;
    this.#encrypt = options.encrypt;
    this.#maxDataBytes = options.maxDataBytes;
  }

  /**
   * The grace of a record whose seal this engine opened before for the same fields, or
   * undefined when it must be opened (again).
   */
  known(rec: SessionRecord): { grace: Grace | null } | undefined {
    const known = this.#opened.get(rec.data);
    return known !== undefined && sameBinding(known.binding, rec) ? known : undefined;
  }

  /**
   * A loaded record's data opened now, when it must be verified (encryption on, or sealed data),
   * or null when it may be decoded lazily (plain JSON with encryption off).
   */
  open(rec: SessionRecord): DecodeResult | null {
    if (!this.#encrypt && !isSealedData(rec.data)) return null;
    return decodeData(this.#ring, rec.data, rec, this.#encrypt);
  }

  /** Remember that `rec`'s seal opened (with `grace`), so the next load of it skips the open. */
  remember(rec: SessionRecord, grace: Grace | null): void {
    const { id, handle, userId, authenticatedAt, absoluteExpiresAt } = rec;
    if (this.#opened.has(rec.data)) return;
    this.#opened.set(rec.data, {
      binding: { id, handle, userId, authenticatedAt, absoluteExpiresAt },
      grace,
    });
    this.#openedChars += rec.data.length;
    while (this.#opened.size > OPENED_CACHE || this.#openedChars > OPENED_CACHE_CHARS) {
      const oldest = this.#opened.keys().next().value as string;
      this.#opened.delete(oldest);
      this.#openedChars -= oldest.length;
    }
  }

  /** Data and grace of a record (for a write that re-seals it); ERR_STORE_CORRUPT if it does not open. */
  decodeFull(rec: SessionRecord): { value: Record<string, unknown>; grace: Grace | null } {
    const r = decodeData(this.#ring, rec.data, rec, this.#encrypt);
    if (!r.ok) {
      throw new TesseraError(
        'ERR_STORE_CORRUPT',
        `Session data could not be opened (${r.reason}).`,
      );
    }
    return r;
  }

  /** Decode stored data; corrupt, tampered or (with encryption on) unsealed data is an ERR_STORE_CORRUPT. */
  decode(rec: SessionRecord): Record<string, unknown> {
    return this.decodeFull(rec).value;
  }

  /**
   * Encode data sealed to the record fields in `binding` (codec.ts): call it whenever one changes.
   * @throws TesseraError `ERR_INVALID_DATA` for data that is not JSON, `ERR_DATA_TOO_LARGE` over
   *   `maxDataBytes`
   */
  encode(data: Record<string, unknown>, binding: DataBinding, grace: Grace | null = null): string {
    let out: string;
    try {
      out = encodeData(this.#ring, data, binding, this.#encrypt, grace);
    } catch (e) {
      throw new TesseraError('ERR_INVALID_DATA', 'Session data must be JSON-serialisable.', {
        cause: e,
      });
    }
    if (out.length * 3 > this.#maxDataBytes && Buffer.byteLength(out) > this.#maxDataBytes) {
      throw new TesseraError(
        'ERR_DATA_TOO_LARGE',
        `Session data is over maxDataBytes (${this.#maxDataBytes}).`,
        { details: { size: Buffer.byteLength(out), limit: this.#maxDataBytes } },
      );
    }
    return out;
  }
}
