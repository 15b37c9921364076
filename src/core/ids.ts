/**
 * What a user id or a session handle may be, checked where the app hands one to tessera
 * (`authenticate`, `list`, `revoke`, `revokeOthers`, `revokeAll`, the CLI) and by the stores
 * that could not keep it exactly (Redis, SQLite and PostgreSQL encode strings as UTF-8, in which
 * a lone surrogate has no spelling; PostgreSQL `text` cannot hold NUL).
 */
import { TesseraError } from './errors.js';

/** `String.prototype.isWellFormed` (Node 20+; ES2024, newer than the lib this code targets). */
type WellFormed = string & { isWellFormed(): boolean };

/** Longest user id or handle accepted, in UTF-16 code units. */
export const MAX_ID_LENGTH = 1024;

/**
 * Why `value` is not an acceptable id, or null when it is: a non-empty string of well-formed
 * UTF-16 (no unpaired surrogate), without NUL, at most {@link MAX_ID_LENGTH} code units.
 * @param value - anything
 * @returns a short reason, or null
 */
export function idProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a string';
  if (value === '') return 'must not be empty';
  if (value.length > MAX_ID_LENGTH) return `must be at most ${MAX_ID_LENGTH} characters`;
  if (value.includes('\0')) return 'must not contain NUL';
  if (!(value as WellFormed).isWellFormed())
    return 'must be well-formed UTF-16 (it has an unpaired surrogate)';
  return null;
}

/**
 * Throw unless `value` is an acceptable id (see {@link idProblem}).
 * @param field - what the value is, for the message (`userId`, `handle`)
 * @param value - the value the caller passed
 * @param where - the function it was passed to, for the message
 * @throws TesseraError `ERR_INVALID_ID` naming the field (adapters answer 400)
 */
export function checkId(field: string, value: unknown, where: string): asserts value is string {
  const problem = idProblem(value);
  if (problem !== null) {
    throw new TesseraError('ERR_INVALID_ID', `${where}: ${field} ${problem}.`, {
      details: { field },
    });
  }
}

/**
 * For a store that keeps strings as UTF-8 (which has no spelling for an unpaired surrogate: it
 * would become U+FFFD and alias another id) or, with `noNul`, in PostgreSQL `text`: refuse a
 * value it could not keep exactly, before any write.
 * @param store - the store's name, for the message
 * @param field - what the value is (`userId`, `handle`, `id`)
 * @param value - the value; null and undefined pass
 * @param noNul - also refuse NUL
 * @throws TesseraError `ERR_INVALID_ID` naming the field (adapters answer 400)
 * @internal
 */
export function checkStoreString(
  store: string,
  field: string,
  value: string | null | undefined,
  noNul = false,
): void {
  if (value == null) return;
  if (!(value as WellFormed).isWellFormed() || (noNul && value.includes('\0'))) {
    throw new TesseraError(
      'ERR_INVALID_ID',
      `${store}Store: a ${field} must be well-formed UTF-16${noNul ? ' without NUL' : ''}.`,
      { details: { field } },
    );
  }
}
