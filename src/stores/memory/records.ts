/**
 * The memory store's record helpers: the stored copy of a tombstone (one hidden class), option
 * checks and the store's errors. Live records are packed: packed.ts.
 */
import { storeRefused, TesseraError } from '../../core/errors.js';
import type { TombstoneRecord } from '../../core/types.js';

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
