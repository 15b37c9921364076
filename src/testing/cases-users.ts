/**
 * Conformance cases for the per-user clauses of the contract: user ids a hostile app (or user)
 * may choose.
 *
 * Records of one user here carry the user's slot tag in their id and handle (`tag.random`), as
 * the engine mints a signed-in session's: that is what lets a sharded store (Redis Cluster) keep
 * a user's sessions and index in one place.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isTesseraError } from '../core/errors.js';
import { slotTagFor } from '../core/token.js';
import type { SessionRecord, SessionStore } from '../core/types.js';

/** What the per-user cases need from the suite. */
export interface UserCaseContext {
  add(name: string, fn: (s: SessionStore, t: number) => Promise<void>, timeout?: number): void;
  /** A live record created at `t` that outlives the case. */
  rec(t: number, overrides?: Partial<SessionRecord>): SessionRecord;
}

function uniq(): string {
  return randomBytes(9).toString('base64url');
}

/** An id or handle in the user's slot, as the engine mints a signed-in session's. */
function tagged(userId: string, bytes: number): string {
  return `${slotTagFor(userId)}.${randomBytes(bytes).toString('base64url')}`;
}

/**
 * Add the per-user cases to a conformance run.
 * @param c - the suite's `add` and record factory
 */
export function addUserCases(c: UserCaseContext): void {
  const { add } = c;
  /** A signed-in record of `userId`, authenticated at `t` unless told otherwise. */
  const signedIn = (t: number, userId: string, o: Partial<SessionRecord> = {}): SessionRecord =>
    c.rec(t, {
      userId,
      id: tagged(userId, 32),
      handle: tagged(userId, 16),
      authenticatedAt: t,
      ...o,
    });

  // ---- user ids an app may be given ---------------------------------------------------

  add(
    'a user id that is not well-formed UTF-16 or holds NUL is kept exactly or refused with a 4xx, never half-written',
    async (s, t) => {
      const base = `u-${uniq()}`;
      for (const userId of [`${base}\ud800`, `${base}\udc00x`, `${base}\0x`]) {
        const r = signedIn(t, base, { userId });
        const created = await Promise.allSettled([s.create(r)]);
        if (created[0]!.status === 'rejected') {
          const e: unknown = created[0]!.reason;
          assert.ok(
            isTesseraError(e) && e.status >= 400 && e.status < 500,
            `refused with ${String(e)} instead of a 4xx TesseraError`,
          );
          assert.equal(await s.get(r.id), null, 'a refused record was written');
          assert.equal(await s.getByHandle(r.handle), null, 'a refused record left its family');
          continue;
        }
        const listed = await s.listByUser(userId, t);
        assert.deepEqual(
          listed.map((x) => [x.id, x.userId]),
          [[r.id, userId]],
          'the user id did not round-trip',
        );
        // Not under the id a lossy encoding would turn it into.
        const alias = Buffer.from(userId, 'utf8').toString('utf8');
        if (alias !== userId) assert.deepEqual(await s.listByUser(alias, t), []);
        assert.equal(await s.deleteByUser(userId), 1);
      }
    },
  );
}
