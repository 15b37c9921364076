/**
 * The memory store's record helpers: the stored copies of records and tombstones (one hidden
 * class each), a live record's expiry, option checks and the store's errors.
 */
import { storeRefused, TesseraError } from '../../core/errors.js';
import type { SessionRecord, TombstoneRecord } from '../../core/types.js';

/** An option that must be an integer of at least `min`. @throws TesseraError `ERR_CONFIG` */
export function checkCount(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TesseraError(
      'ERR_CONFIG',
      `memoryStore: ${name} must be an integer >= ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/** A live record's expiry: its idle deadline, never past its absolute one. */
export function expiryOf(r: SessionRecord): number {
  return Math.min(r.idleExpiresAt, r.absoluteExpiresAt);
}

/** A fresh record with a fixed property order, so every stored record shares one hidden class. */
export function copyRecord(r: SessionRecord): SessionRecord {
  return {
    kind: 'live',
    id: r.id,
    handle: r.handle,
    userId: r.userId,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    authenticatedAt: r.authenticatedAt,
    idleExpiresAt: r.idleExpiresAt,
    absoluteExpiresAt: r.absoluteExpiresAt,
    createdIp: r.createdIp,
    createdUserAgent: r.createdUserAgent,
    lastIp: r.lastIp,
    lastUserAgent: r.lastUserAgent,
    version: r.version,
    data: r.data,
  };
}

/** A stored tombstone under the rotated-out `id`, with a fixed property order. */
export function copyTombstone(t: TombstoneRecord, id: string): TombstoneRecord {
  return {
    kind: 'rotated',
    id,
    handle: t.handle,
    userId: t.userId,
    rotatedAt: t.rotatedAt,
    graceUntil: t.graceUntil,
    expiresAt: t.expiresAt,
    reason: t.reason,
  };
}

export function conflict(what: string): TesseraError {
  return new TesseraError('ERR_CONFLICT', `memoryStore: a session with this ${what} exists`);
}

/** A certain refusal: nothing was written, so the engine queues no clean-up (errors.ts). */
export function full(message: string): TesseraError {
  return storeRefused(`memoryStore: ${message}`);
}
