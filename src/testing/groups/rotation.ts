/**
 * Conformance group `rotation`: rotate: a new id for the same family, the tombstone left behind, the version check.
 */
import assert from 'node:assert/strict';
import type { CaseContext } from '../context.js';
import { ids, pick, ROTATED, uniq } from '../context.js';

/**
 * Add the `rotation` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function rotationCases(c: CaseContext): void {
  const { add, rec, successor, tagged, tomb } = c;

  // ---- rotate -------------------------------------------------------------------------

  add('rotate replaces the record, leaves the tombstone and keeps the handle', async (s, t) => {
    const user = `user-${uniq()}`;
    const anon = rec(t, { data: '{"cart":[1]}' });
    await s.create(anon);
    // A login rotation: the anonymous session becomes the user's, with no grace window.
    const login = successor(anon, { userId: user, authenticatedAt: t + 1, version: 1 });
    const loginTomb = tomb(anon, t + 1, { reason: 'login', graceUntil: 0, userId: null });
    assert.deepEqual(await s.rotate(anon.id, 1, login, loginTomb), ROTATED);
    assert.deepEqual(pick(await s.get(login.id)), login);
    assert.deepEqual(pick(await s.get(anon.id)), loginTomb);
    assert.deepEqual(pick(await s.getByHandle(anon.handle)), login);
    assert.deepEqual(ids(await s.listByUser(user, t)), [login.id]);

    // A regeneration, carrying a version other than 1 as given.
    assert.equal(await s.update(login.id, 1, { data: '{"cart":[1,2]}' }), true);
    const regen = successor(login, { data: '{"cart":[1,2]}', version: 5 });
    const regenTomb = tomb(login, t + 2, { userId: user });
    assert.deepEqual(await s.rotate(login.id, 2, regen, regenTomb), ROTATED);
    assert.deepEqual(pick(await s.get(regen.id)), regen);
    assert.deepEqual(pick(await s.get(login.id)), regenTomb);
    assert.deepEqual(pick(await s.get(anon.id)), loginTomb);
    assert.deepEqual(pick(await s.getByHandle(anon.handle)), regen);
    assert.deepEqual(ids(await s.listByUser(user, t)), [regen.id]);
    assert.equal(await s.count(t, user), 1);
    assert.equal(await s.update(regen.id, 5, { data: '{}' }), true);
  });

  add('rotate with a null tombstone removes the old id', async (s, t) => {
    const r = rec(t);
    const next = successor(r, { userId: `user-${uniq()}` });
    await s.create(r);
    assert.deepEqual(await s.rotate(r.id, 1, next, null), ROTATED);
    assert.equal(await s.get(r.id), null);
    assert.deepEqual(pick(await s.get(next.id)), next);
    assert.deepEqual(pick(await s.getByHandle(r.handle)), next);
    assert.equal(await s.delete(r.id), false);
  });

  add(
    'rotate with a stale version, a missing id or a tombstone returns false and changes nothing',
    async (s, t) => {
      const r = rec(t);
      await s.create(r);
      const next = successor(r);
      assert.equal(await s.rotate(r.id, 2, next, tomb(r, t)), false);
      assert.deepEqual(pick(await s.get(r.id)), r);
      assert.equal(await s.get(next.id), null);
      assert.deepEqual(pick(await s.getByHandle(r.handle)), r);

      const orphan = rec(t);
      assert.equal(await s.rotate(tagged(32), 1, orphan, null), false);
      assert.equal(await s.get(orphan.id), null);
      assert.equal(await s.getByHandle(orphan.handle), null);

      const tombstone = tomb(r, t);
      assert.deepEqual(await s.rotate(r.id, 1, next, tombstone), ROTATED);
      const again = successor(next);
      assert.equal(await s.rotate(r.id, 1, again, null), false);
      assert.equal(await s.get(again.id), null);
      assert.deepEqual(pick(await s.get(r.id)), tombstone);
      assert.deepEqual(pick(await s.getByHandle(r.handle)), next);
    },
  );
}
