/**
 * Session rules that the server-side engine and sealed-cookie mode share (DESIGN decision 9):
 * one copy, called by both, so the two modes cannot drift apart.
 */
import { TesseraError } from './errors.js';

/**
 * Refuse a data key that would not be a plain key: `__proto__` would set the session object's
 * prototype instead of a property (and `JSON.stringify` would then drop it).
 * @param key - the key an app writes with `set`, `unset` or `update`
 * @throws TesseraError `ERR_INVALID_DATA` for `__proto__`
 */
export function assertDataKey(key: string): void {
  if (key === '__proto__') {
    throw new TesseraError('ERR_INVALID_DATA', 'Session data may not have a "__proto__" key.');
  }
}
