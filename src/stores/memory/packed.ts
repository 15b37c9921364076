/**
 * The memory store's packed live records: one small object per session, its timestamps in a
 * shared `Float64Array` slab, its IP and User-Agent strings interned. A record's stored form is
 * never handed out: reads get a fresh {@link SessionRecord} ({@link Packer.unpack}).
 *
 * Why: a plain record costs a 15-field object, five boxed numbers (`Date.now()` stamps are past
 * the small-integer range) and its own copies of the client's IP and User-Agent (a header parser
 * makes a new string per request). Packed, the timestamps are 8 bytes each in the slab, and a
 * User-Agent that thousands of sessions share is stored once. See `docs/stores.md` › Memory.
 */
import { detached } from '../../core/opened-cache.js';
import type { RecordChanges, SessionRecord, TouchChanges } from '../../core/types.js';

/** Slab fields of one slot, in order. */
const CREATED = 0;
const LAST_SEEN = 1;
/** `authenticatedAt`; NaN stands for null. */
const AUTHENTICATED = 2;
const IDLE = 3;
const ABSOLUTE = 4;
/** The LRU stamp: the value of its class's use counter when the entry last moved (live.ts). */
const STAMP = 5;
const VERSION = 6;
/** Doubles per slot. */
const FIELDS = 7;
/** Int32 fields of one slot: intern indices ({@link Interner}) of the client's IP and agent. */
const CREATED_IP = 0;
const CREATED_USER_AGENT = 1;
const LAST_IP = 2;
const LAST_USER_AGENT = 3;
/** Int32s per slot. */
const REFS = 4;
/** Slots per slab chunk (a power of two): a chunk is 4,096 × (56 + 16) B = 288 KiB. */
const CHUNK_BITS = 12;
const CHUNK = 1 << CHUNK_BITS;
const IN_CHUNK = CHUNK - 1;
/** The intern index of a null string. */
const NONE = -1;

/**
 * The stored form of one live session: the strings the store indexes by (`id`, `handle`,
 * `userId`), the data, and its slot in the slab, which holds everything else (five fields:
 * 64 B on a 64-bit Node without pointer compression, the default build).
 */
export class PackedRecord {
  readonly id: string;
  readonly handle: string;
  userId: string | null;
  data: string;
  /** This record's slot in the slab; -1 once released. */
  slot: number;

  constructor(id: string, handle: string, userId: string | null, data: string, slot: number) {
    this.id = id;
    this.handle = handle;
    this.userId = userId;
    this.data = data;
    this.slot = slot;
  }
}

/**
 * The numbers of every live record: per {@link CHUNK} slots one `Float64Array` (timestamps,
 * version, LRU stamp) and one `Int32Array` (intern indices), allocated as the store grows and
 * kept at its peak (a freed slot is reused first).
 */
class Slab {
  readonly #chunks: Float64Array[] = [];
  readonly #refChunks: Int32Array[] = [];
  /** Freed slots, reused last-freed first. */
  readonly #free: number[] = [];
  /** The first slot never handed out. */
  #next = 0;

  alloc(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#next++;
    if (slot >>> CHUNK_BITS === this.#chunks.length) {
      this.#chunks.push(new Float64Array(CHUNK * FIELDS));
      this.#refChunks.push(new Int32Array(CHUNK * REFS));
    }
    return slot;
  }

  free(slot: number): void {
    this.#free.push(slot);
  }

  get(slot: number, field: number): number {
    return (this.#chunks[slot >>> CHUNK_BITS] as Float64Array)[(slot & IN_CHUNK) * FIELDS + field]!;
  }

  set(slot: number, field: number, value: number): void {
    (this.#chunks[slot >>> CHUNK_BITS] as Float64Array)[(slot & IN_CHUNK) * FIELDS + field] = value;
  }

  ref(slot: number, field: number): number {
    return (this.#refChunks[slot >>> CHUNK_BITS] as Int32Array)[(slot & IN_CHUNK) * REFS + field]!;
  }

  setRef(slot: number, field: number, value: number): void {
    (this.#refChunks[slot >>> CHUNK_BITS] as Int32Array)[(slot & IN_CHUNK) * REFS + field] = value;
  }

  /** Bytes held by the chunks (for tests and measurements). */
  get bytes(): number {
    return this.#chunks.length * CHUNK * (FIELDS * 8 + REFS * 4);
  }
}

/**
 * Interned strings with reference counts: each distinct IP or User-Agent that a live record
 * holds is stored once, and dropped when the last record holding it lets go. Bounded by what
 * the live records hold (four per record at most), so a client sending a new User-Agent per
 * request grows it no further than the records themselves.
 */
class Interner {
  readonly #index = new Map<string, number>();
  readonly #strings: (string | undefined)[] = [];
  readonly #refs: number[] = [];
  readonly #free: number[] = [];

  /** Take a reference to `s` (null: {@link NONE}). @returns its index */
  acquire(s: string | null): number {
    if (s === null) return NONE;
    let i = this.#index.get(s);
    if (i !== undefined) {
      this.#refs[i]!++;
      return i;
    }
    // A copy: the string may be a slice of a whole request header (an IP split out of
    // X-Forwarded-For), which V8 keeps alive as long as the slice lives. Only a new distinct
    // string pays for it.
    const own = detached(s);
    i = this.#free.pop() ?? this.#strings.length;
    this.#strings[i] = own;
    this.#refs[i] = 1;
    this.#index.set(own, i);
    return i;
  }

  /** Let go of one reference taken by {@link acquire}. */
  release(i: number): void {
    if (i === NONE) return;
    if (--this.#refs[i]! > 0) return;
    this.#index.delete(this.#strings[i]!);
    this.#strings[i] = undefined;
    this.#free.push(i);
  }

  /** Swap the reference held in `i` for one to `s`; cheap when `s` is what `i` already holds. */
  replace(i: number, s: string | null): number {
    if (this.value(i) === s) return i;
    const next = this.acquire(s);
    this.release(i);
    return next;
  }

  value(i: number): string | null {
    return i === NONE ? null : (this.#strings[i] as string);
  }

  /** How many distinct strings are held. */
  get size(): number {
    return this.#index.size;
  }
}

/**
 * Packs and unpacks the live records of one store; owns their slab and interned strings. Every
 * {@link PackedRecord} comes from {@link pack} and goes back through {@link release}.
 */
export class Packer {
  readonly #slab = new Slab();
  readonly #strings = new Interner();

  /** The stored form of `r`: a slot and interned strings taken, nothing of `r` aliased but strings. */
  pack(r: SessionRecord): PackedRecord {
    const slab = this.#slab;
    const slot = slab.alloc();
    const p = new PackedRecord(r.id, r.handle, r.userId, flat(r.data), slot);
    slab.set(slot, CREATED, r.createdAt);
    slab.set(slot, LAST_SEEN, r.lastSeenAt);
    slab.set(slot, AUTHENTICATED, r.authenticatedAt ?? Number.NaN);
    slab.set(slot, IDLE, r.idleExpiresAt);
    slab.set(slot, ABSOLUTE, r.absoluteExpiresAt);
    slab.set(slot, STAMP, 0);
    slab.set(slot, VERSION, r.version);
    const strings = this.#strings;
    slab.setRef(slot, CREATED_IP, strings.acquire(r.createdIp));
    slab.setRef(slot, CREATED_USER_AGENT, strings.acquire(r.createdUserAgent));
    slab.setRef(slot, LAST_IP, strings.acquire(r.lastIp));
    slab.setRef(slot, LAST_USER_AGENT, strings.acquire(r.lastUserAgent));
    return p;
  }

  /** Give back the slot and interned strings of a record the store no longer holds. Idempotent. */
  release(p: PackedRecord): void {
    const slot = p.slot;
    if (slot < 0) return;
    const slab = this.#slab;
    const strings = this.#strings;
    strings.release(slab.ref(slot, CREATED_IP));
    strings.release(slab.ref(slot, CREATED_USER_AGENT));
    strings.release(slab.ref(slot, LAST_IP));
    strings.release(slab.ref(slot, LAST_USER_AGENT));
    slab.free(slot);
    p.slot = -1;
  }

  /**
   * A fresh record with the stored values, in one fixed property order (one hidden class). The
   * caller owns it: changing it changes nothing in the store.
   */
  unpack(p: PackedRecord): SessionRecord {
    const slab = this.#slab;
    const slot = p.slot;
    const strings = this.#strings;
    const authenticatedAt = slab.get(slot, AUTHENTICATED);
    return {
      kind: 'live',
      id: p.id,
      handle: p.handle,
      userId: p.userId,
      createdAt: slab.get(slot, CREATED),
      lastSeenAt: slab.get(slot, LAST_SEEN),
      authenticatedAt: Number.isNaN(authenticatedAt) ? null : authenticatedAt,
      idleExpiresAt: slab.get(slot, IDLE),
      absoluteExpiresAt: slab.get(slot, ABSOLUTE),
      createdIp: strings.value(slab.ref(slot, CREATED_IP)),
      createdUserAgent: strings.value(slab.ref(slot, CREATED_USER_AGENT)),
      lastIp: strings.value(slab.ref(slot, LAST_IP)),
      lastUserAgent: strings.value(slab.ref(slot, LAST_USER_AGENT)),
      version: slab.get(slot, VERSION),
      data: p.data,
    };
  }

  /** The record's expiry: its idle deadline, never past its absolute one. */
  expiry(p: PackedRecord): number {
    return Math.min(this.#slab.get(p.slot, IDLE), this.#slab.get(p.slot, ABSOLUTE));
  }

  version(p: PackedRecord): number {
    return this.#slab.get(p.slot, VERSION);
  }

  createdAt(p: PackedRecord): number {
    return this.#slab.get(p.slot, CREATED);
  }

  stamp(p: PackedRecord): number {
    return this.#slab.get(p.slot, STAMP);
  }

  setStamp(p: PackedRecord, stamp: number): void {
    this.#slab.set(p.slot, STAMP, stamp);
  }

  /** Apply a touch in place: last seen, idle deadline and, when given, the client's IP and agent. */
  touch(p: PackedRecord, changes: TouchChanges): void {
    this.#slab.set(p.slot, LAST_SEEN, changes.lastSeenAt);
    this.#slab.set(p.slot, IDLE, changes.idleExpiresAt);
    this.#client(p.slot, changes.lastIp, changes.lastUserAgent);
  }

  /** Swap the last-seen IP and agent, each when given. */
  #client(slot: number, ip: string | null | undefined, userAgent: string | null | undefined): void {
    const slab = this.#slab;
    if (ip !== undefined)
      slab.setRef(slot, LAST_IP, this.#strings.replace(slab.ref(slot, LAST_IP), ip));
    if (userAgent !== undefined) {
      const i = slab.ref(slot, LAST_USER_AGENT);
      slab.setRef(slot, LAST_USER_AGENT, this.#strings.replace(i, userAgent));
    }
  }

  /**
   * Apply an update's changes in place, except `userId` (the caller re-indexes the record).
   * `data` bumps the version to `expectedVersion + 1`.
   */
  update(p: PackedRecord, expectedVersion: number, changes: RecordChanges): void {
    const slab = this.#slab;
    const slot = p.slot;
    if (changes.data !== undefined) {
      p.data = flat(changes.data);
      slab.set(slot, VERSION, expectedVersion + 1);
    }
    if (changes.authenticatedAt !== undefined) {
      slab.set(slot, AUTHENTICATED, changes.authenticatedAt ?? Number.NaN);
    }
    if (changes.lastSeenAt !== undefined) slab.set(slot, LAST_SEEN, changes.lastSeenAt);
    if (changes.idleExpiresAt !== undefined) slab.set(slot, IDLE, changes.idleExpiresAt);
    if (changes.absoluteExpiresAt !== undefined) {
      slab.set(slot, ABSOLUTE, changes.absoluteExpiresAt);
    }
    this.#client(slot, changes.lastIp, changes.lastUserAgent);
  }

  /** What the packing holds, for tests and measurements: slab bytes and distinct strings. */
  stats(): { slabBytes: number; internedStrings: number } {
    return { slabBytes: this.#slab.bytes, internedStrings: this.#strings.size };
  }
}

/**
 * `s` as one flat string. Data built by concatenation is a rope (a V8 ConsString: a node per
 * piece, 120 B for a 55-character session instead of 72); turning it into a number makes V8
 * flatten it, and the next young-generation GC drops the rope for the flat copy. A string that
 * is already flat costs one character read (no number starts with `{`).
 */
function flat(s: string): string {
  Number(s);
  return s;
}
