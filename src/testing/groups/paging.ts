/**
 * Conformance group `paging`: list (stable pages, no duplicates or misses) and count.
 */
import assert from 'node:assert/strict';
import type { SessionRecord, SessionStore } from '../../core/types.js';
import type { CaseContext } from '../context.js';
import { ids, PROBE, pickRecord, ROTATED, uniq } from '../context.js';

/**
 * Add the `paging` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function pagingCases(c: CaseContext): void {
  const { add, rec, soon, successor, tomb } = c;

  // ---- list / count -------------------------------------------------------------------

  add("list pages through one user's sessions with no duplicates or misses", async (s, t) => {
    const user = `user-${uniq()}`;
    const live = Array.from({ length: 23 }, () => rec(t, { userId: user }));
    const expired = [soon(t, { userId: user }), soon(t, { userId: user })];
    for (const r of [...live, ...expired]) await s.create(r);
    const rotated = live[0]!;
    const rotatedTo = successor(rotated);
    assert.deepEqual(await s.rotate(rotated.id, 1, rotatedTo, tomb(rotated, t)), ROTATED);
    live[0] = rotatedTo;

    const seen = new Map<string, SessionRecord>();
    let cursor: string | null = null;
    let firstPage: string[] | undefined;
    for (let page = 0; ; page++) {
      assert.ok(page < 100, 'list did not reach its last page');
      const result: Awaited<ReturnType<SessionStore['list']>> = await s.list({
        limit: 5,
        userId: user,
        now: t + PROBE,
        ...(cursor === null ? {} : { cursor }),
      });
      assert.ok(result.records.length <= 5, 'a page is larger than its limit');
      firstPage ??= ids(result.records);
      for (const r of result.records) {
        assert.equal(seen.has(r.id), false, 'a record appears on two pages');
        assert.equal(r.kind, 'live');
        seen.set(r.id, pickRecord(r));
      }
      cursor = result.nextCursor;
      if (cursor === null) break;
    }
    assert.deepEqual(
      [...seen.keys()].sort(),
      ids(live).sort(),
      'paging missed a record or listed an expired one',
    );
    for (const r of live) assert.deepEqual(seen.get(r.id), r);
    // The same query gives the same first page: the order is stable.
    const again = await s.list({ limit: 5, userId: user, now: t + PROBE });
    assert.deepEqual(ids(again.records), firstPage);
  });

  add('list without a user filter lists every unexpired session once', async (s, t) => {
    const mine = Array.from({ length: 12 }, (_, i) =>
      rec(t, { userId: i % 2 === 0 ? null : `user-${uniq()}` }),
    );
    const expired = [soon(t), soon(t, { userId: `user-${uniq()}` })];
    for (const r of [...mine, ...expired]) await s.create(r);
    const seen = new Set<string>();
    let cursor: string | null = null;
    for (let page = 0; ; page++) {
      assert.ok(page < 10_000, 'list did not reach its last page');
      const result: Awaited<ReturnType<SessionStore['list']>> = await s.list({
        limit: 7,
        now: t + PROBE,
        ...(cursor === null ? {} : { cursor }),
      });
      assert.ok(result.records.length <= 7, 'a page is larger than its limit');
      for (const r of result.records) {
        assert.equal(seen.has(r.id), false, 'a record appears on two pages');
        assert.ok(r.idleExpiresAt > t + PROBE, 'list returned an expired session');
        seen.add(r.id);
      }
      cursor = result.nextCursor;
      if (cursor === null) break;
    }
    for (const r of mine) assert.ok(seen.has(r.id), 'paging missed a record');
    for (const r of expired) assert.ok(!seen.has(r.id), 'list returned an expired session');
  });

  add('count counts live, unexpired sessions, in all or for one user', async (s, t) => {
    const user = `user-${uniq()}`;
    const probe = t + PROBE;
    const before = await s.count(probe);
    const a = rec(t, { userId: user });
    const b = rec(t, { userId: user });
    const c = rec(t);
    for (const r of [a, b, c, soon(t, { userId: user }), soon(t)]) await s.create(r);
    assert.deepEqual(await s.rotate(a.id, 1, successor(a), tomb(a, t)), ROTATED);
    assert.equal(await s.count(probe, user), 2);
    assert.equal(await s.count(t, user), 3);
    assert.equal(await s.count(probe), before + 3);
    assert.equal(await s.count(probe, `user-${uniq()}`), 0);
  });
}
