/**
 * What the Redis store's session scripts take and answer: `PXAT` and JSON arguments, the string
 * checks, a sign-in's arguments and reply, conflicts, and a stored value read as a live record.
 */
import { TesseraError } from '../../core/errors.js';
import { checkStoreString } from '../../core/ids.js';
import { sessionLimitReached, signInRevoked } from '../../core/revocation.js';
import type { SessionRecord, SignInOptions, StoreEntry } from '../../core/types.js';
import { decodeEntry } from './codec.js';

/** What a script answers. */
export type Reply = (string | number | null)[];

export function conflict(what: string): TesseraError {
  return new TesseraError('ERR_CONFLICT', `redisStore: a session with this ${what} exists`);
}

/** A `PXAT` argument: a positive integer (Redis refuses 0, negatives and fractions). */
export function px(t: number): string {
  return String(Math.max(1, Math.ceil(t)));
}

export const j = JSON.stringify;

/** What a user's slot tag may be: what `tagOf` reads back from `tag.rest`. */
export const USER_TAG = /^[A-Za-z0-9_-]{1,12}$/;

/**
 * Refuse a string Redis could not keep exactly: ioredis sends strings as UTF-8, where an
 * unpaired surrogate becomes U+FFFD (another id), and the scripts' JSON decoder fails on it.
 */
export function checkText(field: string, value: string | null | undefined): void {
  checkStoreString('redis', field, value);
}

export function checkRecordText(r: SessionRecord): void {
  checkText('id', r.id);
  checkText('handle', r.handle);
  checkText('userId', r.userId);
}

/** What a sign-in script answered: evicted handles, or a refusal as the error to throw. */
export function signInReply(r: Reply, limit: number): string[] {
  if (r[0] === -3) throw signInRevoked();
  if (r[0] === -4) throw sessionLimitReached(limit);
  return r.slice(2, 2 + Number(r[1])).map(String);
}

/** The arguments of the sign-in checks, in the order `gate` in scripts/lib.ts reads them. */
export function gateArgs(record: SessionRecord, o: SignInOptions): string[] {
  return [
    String(Math.max(0, Math.floor(o.limit))),
    o.policy === 'reject' ? 'r' : 'e',
    String(o.now),
    record.authenticatedAt === null ? '' : String(record.authenticatedAt),
    record.handle,
  ];
}

/** The live, unexpired record in `raw`, or null (tombstone, expired or unreadable). */
export function liveOf(id: string, raw: string, now: number): SessionRecord | null {
  let e: StoreEntry;
  try {
    e = decodeEntry(id, raw);
  } catch {
    return null;
  }
  if (e.kind !== 'live' || e.idleExpiresAt <= now || e.absoluteExpiresAt <= now) return null;
  return e;
}
