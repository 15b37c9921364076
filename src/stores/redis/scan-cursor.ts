/**
 * The cursor of the Redis store's `list`: where a `SCAN` over the masters stands, as an opaque
 * base64url string.
 */
import { TesseraError } from '../../core/errors.js';

/** Where a `SCAN` stands: node index, the cursor of the current batch, last key returned. */
export interface ScanPos {
  node: number;
  cursor: string;
  last: string | null;
}

/** The first position: the first master, a fresh `SCAN`. */
export const START: ScanPos = { node: 0, cursor: '0', last: null };

/** A position as a cursor string. */
export function encodeCursor(p: ScanPos): string {
  return Buffer.from(JSON.stringify([p.node, p.cursor, p.last])).toString('base64url');
}

/**
 * The position a cursor names, or the start without one.
 * @throws TesseraError `ERR_BAD_REQUEST` for a cursor this store did not make
 */
export function decodeCursor(cursor: string | undefined): ScanPos {
  if (cursor === undefined) return START;
  try {
    const [node, c, last] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (
      Number.isSafeInteger(node) &&
      typeof c === 'string' &&
      /^\d+$/.test(c) &&
      (last === null || typeof last === 'string')
    ) {
      return { node: node as number, cursor: c, last };
    }
  } catch {
    // fall through
  }
  throw new TesseraError('ERR_BAD_REQUEST', 'redisStore: the list cursor is malformed', {
    details: { reason: 'malformed' },
  });
}
