/**
 * Key names and the compact record encoding of the Redis store, shared by the store and its
 * Lua scripts (which mirror {@link tagOf} and the field order below).
 *
 * A record is one Redis string: JSON texts of its fields joined by `\x01` (JSON never holds a
 * raw control character, so the separator cannot occur inside a field), with `data` last and
 * raw, so the sealed payload costs no escaping. Field order (1-based, as Lua sees it):
 *
 * live:      1 kind=1, 2 handle, 3 userId, 4 createdAt, 5 lastSeenAt, 6 authenticatedAt,
 *            7 idleExpiresAt, 8 absoluteExpiresAt, 9 createdIp, 10 createdUserAgent,
 *            11 lastIp (0 = same as createdIp), 12 lastUserAgent (0 = same as createdUserAgent),
 *            13 version, 14 user-index slot tag, 15 data (raw)
 * tombstone: 1 kind=0, 2 handle, 3 userId, 4 rotatedAt, 5 graceUntil, 6 expiresAt,
 *            7 reason (`l` login, `r` regenerate), 8 user-index slot tag
 */
import { TesseraError } from '../../core/errors.js';
import type { SessionRecord, StoreEntry, TombstoneRecord } from '../../core/types.js';

/** Field separator inside a record and inside a handle's id list. */
export const SEP = '\x01';
/** How many separators precede `data` in a live record. */
const LIVE_HEAD_FIELDS = 14;

const TAG_RE = /^[A-Za-z0-9_-]{1,12}$/;
const HEAD8_RE = /^[A-Za-z0-9_-]{8}/;

/**
 * The slot tag of an id or handle: the part before the first `.` when it is 1..12 characters
 * of `[A-Za-z0-9_-]`; otherwise the first 8 bytes, keeping only those characters (`_` if none).
 * The Lua `tagOf` computes the same thing byte for byte.
 */
export function tagOf(s: string): string {
  const dot = s.indexOf('.');
  if (dot > 0 && dot <= 12) {
    const t = s.slice(0, dot);
    if (TAG_RE.test(t)) return t;
  }
  if (HEAD8_RE.test(s)) return s.slice(0, 8);
  const head = Buffer.from(s, 'utf8')
    .subarray(0, 8)
    .toString('latin1')
    .replace(/[^A-Za-z0-9_-]/g, '');
  return head === '' ? '_' : head;
}

/**
 * Key names under one prefix. The first `{…}` of every key is its Cluster hash tag: a record's
 * and a family's come from the id or handle ({@link tagOf}); a user's index and epoch take the
 * user's slot tag, the keyed one the engine gives the store (`useSlotTags`).
 */
export class Keys {
  constructor(readonly prefix: string) {}
  /** The live record or tombstone under `id`. */
  record(id: string): string {
    return `${this.prefix}s{${tagOf(id)}}${id}`;
  }
  /** The ids of a session family (live and tombstones), by handle. */
  handle(handle: string): string {
    return `${this.prefix}h{${tagOf(handle)}}${handle}`;
  }
  /** A user's index: a sorted set of ids scored by expiry, in the slot of the user's `tag`. */
  user(userId: string, tag: string): string {
    return `${this.prefix}u{${tag}}${userId}`;
  }
  /** A user's revocation epoch: in the slot of the user's index. */
  epoch(userId: string, tag: string): string {
    return `${this.prefix}e{${tag}}${userId}`;
  }
  /** The shared key-value space: values, counters and lists share one namespace. */
  kv(key: string): string {
    return `${this.prefix}k:${key}`;
  }
  /** A `SCAN MATCH` pattern for every record key. */
  recordPattern(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}s{*`;
  }
  /** The id inside a record key. */
  idOfRecordKey(key: string): string {
    return key.slice(key.indexOf('}', this.prefix.length) + 1);
  }
}

const j = JSON.stringify;

/**
 * Encode a live record (see the module comment for the layout).
 * @param ix - the slot tag of the user's index (`null` without a user)
 */
export function encodeLive(r: SessionRecord, ix: string | null): string {
  return [
    '1',
    j(r.handle),
    j(r.userId),
    j(r.createdAt),
    j(r.lastSeenAt),
    j(r.authenticatedAt),
    j(r.idleExpiresAt),
    j(r.absoluteExpiresAt),
    j(r.createdIp),
    j(r.createdUserAgent),
    r.lastIp === r.createdIp ? '0' : j(r.lastIp),
    r.lastUserAgent === r.createdUserAgent ? '0' : j(r.lastUserAgent),
    j(r.version),
    j(r.userId === null ? null : ix),
    r.data,
  ].join(SEP);
}

/**
 * Encode a tombstone (see the module comment for the layout).
 * @param ix - the slot tag of the user's index (`null` without a user)
 */
export function encodeTombstone(t: TombstoneRecord, ix: string | null): string {
  return [
    '0',
    j(t.handle),
    j(t.userId),
    j(t.rotatedAt),
    j(t.graceUntil),
    j(t.expiresAt),
    t.reason === 'login' ? '"l"' : '"r"',
    j(t.userId === null ? null : ix),
  ].join(SEP);
}

function corrupt(id: string, cause?: unknown): TesseraError {
  return new TesseraError(
    'ERR_STORE_CORRUPT',
    `redisStore: the record under a session id (${id.slice(0, 8)}…) could not be read`,
    cause === undefined ? {} : { cause },
  );
}

const isNum = (v: unknown): v is number => typeof v === 'number';
const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isNumOrNull = (v: unknown): v is number | null => v === null || typeof v === 'number';

/** A character JSON escapes in a string (a control character other than `SEP`, a backslash). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point.
const ESCAPED = /[\x00\x02-\x1f\\]/;
/** Not a field's value: {@link plainFields} could not read it. */
const UNREAD = Symbol('unread');

/**
 * The fields of a record's head, read without `JSON.parse` when every one is in the plain form
 * `encodeLive` / `encodeTombstone` write for the usual values: `null`, a string with nothing to
 * unescape, or a number in the plain decimal form `JSON.stringify` writes. Anything else (an
 * escape, an exponent, a value of another shape) gives null, and the caller parses the head as
 * JSON: what this accepts, JSON.parse reads the same way.
 */
function plainFields(head: string): unknown[] | null {
  if (ESCAPED.test(head)) return null;
  const out: unknown[] = [];
  let start = 0;
  for (;;) {
    const sep = head.indexOf(SEP, start);
    const end = sep < 0 ? head.length : sep;
    const v = plainField(head, start, end);
    if (v === UNREAD) return null;
    out.push(v);
    if (sep < 0) return out;
    start = sep + 1;
  }
}

/**
 * The value of the field `head[from, to)`, or {@link UNREAD} (see {@link plainFields}); the
 * head holds no character JSON escapes.
 */
function plainField(head: string, from: number, to: number): unknown {
  if (to <= from) return UNREAD;
  const c = head.charCodeAt(from);
  if (c === 34 /* " */) {
    // A string: quoted at both ends, with no quote inside.
    return to - from >= 2 && head.indexOf('"', from + 1) === to - 1
      ? head.slice(from + 1, to - 1)
      : UNREAD;
  }
  if (c === 110 /* n */) return to - from === 4 && head.startsWith('null', from) ? null : UNREAD;
  // A number: -?(0|[1-9][0-9]*)(.[0-9]+)?, the form JSON.stringify gives a finite number below
  // 1e21 (an exponent is left to JSON.parse).
  let i = c === 45 /* - */ ? from + 1 : from;
  const first = i;
  let whole = 0;
  for (; i < to; i++) {
    const d = head.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    whole = whole * 10 + d;
  }
  const digits = i - first;
  if (digits === 0 || (digits > 1 && head.charCodeAt(first) === 48)) return UNREAD;
  if (i === to && digits <= 15) return c === 45 ? -whole : whole; // exact below 2^53
  if (i < to) {
    if (head.charCodeAt(i) !== 46 /* . */) return UNREAD;
    const dot = ++i;
    while (i < to && isDigit(head.charCodeAt(i))) i++;
    if (i === dot || i < to) return UNREAD;
  }
  return Number(head.slice(from, to));
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * Decode what `GET` returned for `id`.
 * @throws TesseraError `ERR_STORE_CORRUPT` when the value is not a record this store wrote
 */
export function decodeEntry(id: string, raw: string): StoreEntry {
  let head: string;
  let data = '';
  if (raw.startsWith('1')) {
    let at = -1;
    for (let i = 0; i < LIVE_HEAD_FIELDS; i++) {
      at = raw.indexOf(SEP, at + 1);
      if (at < 0) throw corrupt(id);
    }
    head = raw.slice(0, at);
    data = raw.slice(at + 1);
  } else {
    head = raw;
  }
  let f = plainFields(head);
  if (f === null) {
    try {
      f = JSON.parse(`[${head.replaceAll(SEP, ',')}]`) as unknown[];
    } catch (e) {
      throw corrupt(id, e);
    }
  }
  if (f[0] === 1 && f.length === LIVE_HEAD_FIELDS) {
    const [, handle, userId, createdAt, lastSeenAt, authAt, idle, abs, cip, cua, lip, lua, ver] = f;
    if (
      typeof handle !== 'string' ||
      !isStrOrNull(userId) ||
      !isNum(createdAt) ||
      !isNum(lastSeenAt) ||
      !isNumOrNull(authAt) ||
      !isNum(idle) ||
      !isNum(abs) ||
      !isStrOrNull(cip) ||
      !isStrOrNull(cua) ||
      !(lip === 0 || isStrOrNull(lip)) ||
      !(lua === 0 || isStrOrNull(lua)) ||
      !isNum(ver)
    ) {
      throw corrupt(id);
    }
    return {
      kind: 'live',
      id,
      handle,
      userId,
      createdAt,
      lastSeenAt,
      authenticatedAt: authAt,
      idleExpiresAt: idle,
      absoluteExpiresAt: abs,
      createdIp: cip,
      createdUserAgent: cua,
      lastIp: lip === 0 ? cip : lip,
      lastUserAgent: lua === 0 ? cua : lua,
      version: ver,
      data,
    };
  }
  if (f[0] === 0 && f.length === 8) {
    const [, handle, userId, rotatedAt, graceUntil, expiresAt, reason] = f;
    if (
      typeof handle !== 'string' ||
      !isStrOrNull(userId) ||
      !isNum(rotatedAt) ||
      !isNum(graceUntil) ||
      !isNum(expiresAt) ||
      (reason !== 'l' && reason !== 'r')
    ) {
      throw corrupt(id);
    }
    return {
      kind: 'rotated',
      id,
      handle,
      userId,
      rotatedAt,
      graceUntil,
      expiresAt,
      reason: reason === 'l' ? 'login' : 'regenerate',
    };
  }
  throw corrupt(id);
}
