/**
 * Conformance group `sweep`: sweep: expired records and tombstones go, in batches of at most its limit.
 */
import assert from 'node:assert/strict';
import type { CaseContext } from '../context.js';
import { ids, LATER, PROBE, pick, ROTATED, SOON, uniq } from '../context.js';

/**
 * Add the `sweep` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function sweepCases(c: CaseContext): void {
  const { add, rec, soon, successor, tomb } = c;

  // ---- sweep --------------------------------------------------------------------------

  add('sweep removes expired records and tombstones and leaves unexpired ones', async (s, t) => {
    const user = `user-${uniq()}`;
    const expired = soon(t, { userId: user });
    const lasting = rec(t, { userId: user });
    const shortFamily = rec(t, { userId: user });
    const shortNext = successor(shortFamily);
    const shortTomb = tomb(shortFamily, t, { expiresAt: t + SOON });
    const longFamily = rec(t, { userId: user });
    const longNext = successor(longFamily);
    const longTomb = tomb(longFamily, t, { expiresAt: t + LATER });
    for (const r of [expired, lasting, shortFamily, longFamily]) await s.create(r);
    assert.deepEqual(await s.rotate(shortFamily.id, 1, shortNext, shortTomb), ROTATED);
    assert.deepEqual(await s.rotate(longFamily.id, 1, longNext, longTomb), ROTATED);

    const removed = await s.sweep(t + PROBE);
    assert.ok(removed >= 2, `sweep reported ${removed} removals, expected at least 2`);
    assert.equal(await s.get(expired.id), null);
    assert.equal(await s.get(shortFamily.id), null);
    assert.deepEqual(pick(await s.get(lasting.id)), lasting);
    assert.deepEqual(pick(await s.get(shortNext.id)), shortNext);
    assert.deepEqual(pick(await s.get(longNext.id)), longNext);
    assert.deepEqual(pick(await s.get(longFamily.id)), longTomb);
    assert.deepEqual(
      ids(await s.listByUser(user, t)).sort(),
      [lasting.id, shortNext.id, longNext.id].sort(),
    );
  });

  add('sweep removes at most its limit per call', async (s, t) => {
    const expired = Array.from({ length: 5 }, () => soon(t));
    const lasting = rec(t);
    for (const r of [...expired, lasting]) await s.create(r);
    const first = await s.sweep(t + PROBE, 2);
    assert.ok(first >= 1 && first <= 2, `sweep(limit 2) removed ${first}`);
    let total = first;
    for (let i = 0; ; i++) {
      assert.ok(i < 10_000, 'sweep never finished');
      const n = await s.sweep(t + PROBE, 2);
      assert.ok(n >= 0 && n <= 2, `sweep(limit 2) removed ${n}`);
      if (n === 0) break;
      total += n;
    }
    assert.ok(total >= 5);
    for (const r of expired) assert.equal(await s.get(r.id), null);
    assert.deepEqual(pick(await s.get(lasting.id)), lasting);
  });
}
