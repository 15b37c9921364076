/**
 * What the SQLite and PostgreSQL stores share: one `sessions` table layout, so one mapping of
 * rows to records and back, one paging rule (keyset on `id`, a page of `limit + 1` rows telling
 * whether another follows), one sweep loop (small batches until a short one), and one set of
 * errors. Each store keeps its own schema, statements and class.
 */
import { TesseraError } from '../../core/errors.js';
import { checkStoreString } from '../../core/ids.js';
import type { ListResult, SessionRecord, StoreEntry } from '../../core/types.js';

/** Which SQL store speaks, in messages (`sqliteStore: …`). */
export type SQLStoreName = 'sqlite' | 'postgres';

/**
 * A row of the `sessions` table as a driver returns it. Times are `INTEGER` in SQLite (numbers)
 * and `bigint` in PostgreSQL (`pg` returns strings); a tombstone row has no live columns.
 */
export interface SessionRow {
  id: string;
  kind: string;
  handle: string;
  user_id: string | null;
  created_at: number | string | null;
  last_seen_at: number | string | null;
  authenticated_at: number | string | null;
  idle_expires_at: number | string | null;
  absolute_expires_at: number | string | null;
  created_ip: string | null;
  created_user_agent: string | null;
  last_ip: string | null;
  last_user_agent: string | null;
  version: number | null;
  data: string | null;
  rotated_at: number | string | null;
  grace_until: number | string | null;
  reason: string | null;
  expires_at: number | string;
}

const num = (v: number | string | null): number => Number(v);
const numOrNull = (v: number | string | null): number | null => (v === null ? null : Number(v));

/** `ERR_STORE_CORRUPT`: a row or a schema this code cannot read. */
export function corrupt(store: SQLStoreName, message: string): TesseraError {
  return new TesseraError('ERR_STORE_CORRUPT', `${store}Store: ${message}`);
}

/**
 * `ERR_CONFLICT`: a `create` or `rotate` met an id or handle that exists.
 * @param what - `id`, `handle`, or `id or handle` when the driver does not say which
 */
export function conflict(store: SQLStoreName, what: string, cause?: unknown): TesseraError {
  return new TesseraError(
    'ERR_CONFLICT',
    `${store}Store: a session with this ${what} exists`,
    cause === undefined ? {} : { cause },
  );
}

/** The live record or tombstone a row holds. @throws TesseraError `ERR_STORE_CORRUPT` */
export function rowToEntry(store: SQLStoreName, r: SessionRow): StoreEntry {
  if (r.kind === 'live') {
    return {
      kind: 'live',
      id: r.id,
      handle: r.handle,
      userId: r.user_id,
      createdAt: num(r.created_at),
      lastSeenAt: num(r.last_seen_at),
      authenticatedAt: numOrNull(r.authenticated_at),
      idleExpiresAt: num(r.idle_expires_at),
      absoluteExpiresAt: num(r.absolute_expires_at),
      createdIp: r.created_ip,
      createdUserAgent: r.created_user_agent,
      lastIp: r.last_ip,
      lastUserAgent: r.last_user_agent,
      version: r.version ?? 0,
      data: r.data ?? '',
    };
  }
  if (r.kind === 'rotated' && (r.reason === 'login' || r.reason === 'regenerate')) {
    return {
      kind: 'rotated',
      id: r.id,
      handle: r.handle,
      userId: r.user_id,
      rotatedAt: num(r.rotated_at),
      graceUntil: num(r.grace_until),
      expiresAt: num(r.expires_at),
      reason: r.reason,
    };
  }
  throw corrupt(store, 'a session row has an unknown kind or reason');
}

/** The live record a row of a live-only query holds. @throws TesseraError `ERR_STORE_CORRUPT` */
export function rowToRecord(store: SQLStoreName, r: SessionRow): SessionRecord {
  const entry = rowToEntry(store, r);
  if (entry.kind !== 'live') throw corrupt(store, 'a tombstone row was read as a live session');
  return entry;
}

/** The live columns of the `sessions` table, in the order the PostgreSQL statements bind them. */
export const LIVE_COLUMNS = [
  'id',
  'handle',
  'user_id',
  'created_at',
  'last_seen_at',
  'authenticated_at',
  'idle_expires_at',
  'absolute_expires_at',
  'created_ip',
  'created_user_agent',
  'last_ip',
  'last_user_agent',
  'version',
  'data',
] as const;

/** A live record as column values, plus `expires_at` (the earlier of its two deadlines). */
export function recordToRow(
  r: SessionRecord,
): Record<(typeof LIVE_COLUMNS)[number] | 'expires_at', unknown> {
  return {
    id: r.id,
    handle: r.handle,
    user_id: r.userId,
    created_at: r.createdAt,
    last_seen_at: r.lastSeenAt,
    authenticated_at: r.authenticatedAt,
    idle_expires_at: r.idleExpiresAt,
    absolute_expires_at: r.absoluteExpiresAt,
    created_ip: r.createdIp,
    created_user_agent: r.createdUserAgent,
    last_ip: r.lastIp,
    last_user_agent: r.lastUserAgent,
    version: r.version,
    data: r.data,
    expires_at: Math.min(r.idleExpiresAt, r.absoluteExpiresAt),
  };
}

/**
 * Refuse a string the database could not keep exactly (an unpaired surrogate: both store UTF-8;
 * NUL: PostgreSQL `text` holds none), before any write.
 */
export function checkString(
  store: SQLStoreName,
  field: string,
  value: string | null | undefined,
): void {
  checkStoreString(store, field, value, store === 'postgres');
}

/** Refuse a record whose strings the database could not keep exactly, before any write. */
export function checkRecordStrings(store: SQLStoreName, r: SessionRecord): void {
  checkString(store, 'id', r.id);
  checkString(store, 'handle', r.handle);
  checkString(store, 'userId', r.userId);
}

/**
 * One page of `list`: the keyset query's parameters, and the page made of its rows. Records are
 * ordered by `id`; the cursor is the last id of a page. The query asks for `limit + 1` rows: one
 * more than the page says whether another page follows.
 */
export const paging = {
  /** The contract's range is 1..1000; a 0 would page forever. */
  limit: (limit: number): number => Math.max(1, Math.min(1_000, Math.trunc(limit))),
  /** Ids sort after '' : the first page starts there. */
  after: (cursor: string | undefined): string => cursor ?? '',
  page(store: SQLStoreName, rows: readonly SessionRow[], limit: number): ListResult {
    const records = rows.slice(0, limit).map((r) => rowToRecord(store, r));
    const last = records[records.length - 1];
    return { records, nextCursor: rows.length > limit && last !== undefined ? last.id : null };
  },
};

/** Rows `sweep` deletes per statement: short locks, and the event loop gets turns between. */
export const SWEEP_BATCH = 500;

/**
 * Delete in batches of at most {@link SWEEP_BATCH} until `limit` rows are gone or a batch comes
 * back short (nothing more has expired).
 * @param limit - most rows to delete in all
 * @param batch - delete up to `n` rows, resolving how many went
 * @param between - run between two full batches (SQLite yields to the event loop there)
 * @returns how many rows were deleted
 */
export async function sweepInBatches(
  limit: number,
  batch: (n: number) => Promise<number>,
  between?: () => Promise<void>,
): Promise<number> {
  let removed = 0;
  while (removed < limit) {
    const size = Math.min(SWEEP_BATCH, limit - removed);
    const n = await batch(size);
    removed += n;
    if (n < size) break;
    if (between !== undefined) await between();
  }
  return removed;
}
