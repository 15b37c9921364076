/**
 * Conformance group `users`: a user's sessions (listByUser, deleteByUser) and the per-user revocation epoch.
 */
import assert from 'node:assert/strict';
import type { TombstoneRecord } from '../../core/types.js';
import type { CaseContext } from '../context.js';
import { epoch, ids, PROBE, pick, pickRecord, ROTATED, reject, uniq } from '../context.js';
import { makeTombstone } from '../fixtures.js';

/**
 * Add the `users` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function usersCases(c: CaseContext): void {
  const { add, rec, signedIn, soon, successor, tomb } = c;

  // ---- users --------------------------------------------------------------------------

  add(
    'listByUser returns live, unexpired sessions oldest first, without tombstones',
    async (s, t) => {
      const user = `user-${uniq()}`;
      const a = rec(t, { userId: user, createdAt: t + 2 });
      const b = rec(t, { userId: user, createdAt: t });
      const c = rec(t, { userId: user, createdAt: t + 1 });
      const expired = soon(t, { userId: user, createdAt: t + 3 });
      const f0 = rec(t, { userId: user, createdAt: t + 4 });
      const f1 = successor(f0);
      const stranger = rec(t, { userId: `user-${uniq()}` });
      for (const r of [a, b, c, expired, f0, stranger]) await s.create(r);
      assert.deepEqual(await s.rotate(f0.id, 1, f1, tomb(f0, t)), ROTATED);

      const listed = await s.listByUser(user, t + PROBE);
      assert.deepEqual(ids(listed), [b.id, c.id, a.id, f1.id]);
      assert.deepEqual(listed.map(pickRecord), [b, c, a, f1]);
      assert.deepEqual(ids(await s.listByUser(user, t)), [b.id, c.id, a.id, expired.id, f1.id]);
      assert.deepEqual(await s.listByUser(`user-${uniq()}`, t), []);
    },
  );

  add(
    'deleteByUser deletes every session and tombstone of a user except one family',
    async (s, t) => {
      const user = `user-${uniq()}`;
      const bystander = rec(t, { userId: `user-${uniq()}` });
      const s1 = rec(t, { userId: user });
      const s2 = rec(t, { userId: user });
      const s2b = successor(s2);
      const s2Tomb = tomb(s2, t);
      const keep = rec(t, { userId: user });
      const keepB = successor(keep);
      const keepTomb = tomb(keep, t);
      const gone = rec(t, { userId: user });
      const goneB = successor(gone);
      const goneTomb = tomb(gone, t);
      for (const r of [bystander, s1, s2, keep, gone]) await s.create(r);
      assert.deepEqual(await s.rotate(s2.id, 1, s2b, s2Tomb), ROTATED);
      assert.deepEqual(await s.rotate(keep.id, 1, keepB, keepTomb), ROTATED);
      assert.deepEqual(await s.rotate(gone.id, 1, goneB, goneTomb), ROTATED);
      // A family with only a tombstone left.
      assert.equal(await s.delete(goneB.id), true);

      assert.equal(await s.deleteByUser(user, { exceptHandle: keep.handle }), 2);
      assert.deepEqual(ids(await s.listByUser(user, t)), [keepB.id]);
      for (const id of [s1.id, s2.id, s2b.id, gone.id]) assert.equal(await s.get(id), null);
      assert.deepEqual(pick(await s.get(keep.id)), keepTomb);
      assert.deepEqual(pick(await s.get(keepB.id)), keepB);
      assert.deepEqual(pick(await s.get(bystander.id)), bystander);
    },
  );

  add("deleteByUser without exceptHandle deletes all of the user's sessions", async (s, t) => {
    const user = `user-${uniq()}`;
    const x = rec(t, { userId: user });
    const y = rec(t, { userId: user });
    const y2 = successor(y);
    const bystander = rec(t, { userId: `user-${uniq()}` });
    for (const r of [x, y, bystander]) await s.create(r);
    assert.deepEqual(await s.rotate(y.id, 1, y2, tomb(y, t)), ROTATED);
    assert.equal(await s.deleteByUser(user), 2);
    for (const id of [x.id, y.id, y2.id]) assert.equal(await s.get(id), null);
    assert.equal(await s.getByHandle(y.handle), null);
    assert.deepEqual(await s.listByUser(user, t), []);
    assert.deepEqual(pick(await s.get(bystander.id)), bystander);
    assert.equal(await s.deleteByUser(user), 0);
  });

  add(
    "deleteByUser also deletes a family's pre-login tombstone (whose userId is null)",
    async (s, t) => {
      const user = `user-${uniq()}`;
      const anon = rec(t);
      await s.create(anon);
      const next = { ...rec(t, { userId: user }), handle: anon.handle, version: 2 };
      const pre = makeTombstone(anon, { userId: null, reason: 'login', graceUntil: 0 });
      assert.deepEqual(await s.rotate(anon.id, 1, next, pre), ROTATED);
      assert.equal((await s.get(anon.id))?.kind, 'rotated');
      assert.equal(await s.deleteByUser(user), 1);
      assert.equal(await s.get(anon.id), null);
      assert.equal(await s.get(next.id), null);
      assert.equal(await s.getByHandle(anon.handle), null);
    },
  );

  // ---- the revocation epoch -----------------------------------------------------------

  add(
    'a sign-in create is refused when authenticated at or before the user epoch, and writes nothing',
    async (s, t) => {
      const user = `user-${uniq()}`;
      assert.equal(await s.getRevocationEpoch(user, t), null);
      assert.equal(await s.deleteByUser(user, { epoch: epoch(t) }), 0);
      assert.equal(await s.getRevocationEpoch(user, t), t);
      for (const authenticatedAt of [t - 1, t, null]) {
        const r = signedIn(t, user, { authenticatedAt });
        await assert.rejects(s.create(r, reject(t)), { code: 'ERR_SESSION_REVOKED' });
        assert.equal(await s.get(r.id), null, 'a refused sign-in left its record');
        assert.equal(await s.getByHandle(r.handle), null);
      }
      assert.deepEqual(await s.listByUser(user, t), []);
      assert.equal(await s.count(t, user), 0);
      // One millisecond after the epoch is after it; other users and anonymous records are free.
      const after = signedIn(t, user, { authenticatedAt: t + 1 });
      assert.deepEqual(await s.create(after, reject(t)), { evicted: [] });
      const other = signedIn(t, `${user}x`, { authenticatedAt: t - 1 });
      assert.deepEqual(await s.create(other, reject(t)), { evicted: [] });
      assert.deepEqual(await s.create(c.rec(t), reject(t)), { evicted: [] });
      assert.deepEqual(
        (await s.listByUser(user, t)).map((r) => r.id),
        [after.id],
      );
    },
  );

  add(
    'a sign-in rotate is refused by the epoch and leaves the old session as it was',
    async (s, t) => {
      const user = `user-${uniq()}`;
      const anon = c.rec(t, { data: '{"cart":[1]}' });
      await s.create(anon);
      await s.deleteByUser(user, { epoch: epoch(t) });
      const next = { ...signedIn(t, user), handle: anon.handle, version: 2 };
      const tomb: TombstoneRecord = makeTombstone(anon, {
        userId: user,
        reason: 'login',
        graceUntil: 0,
      });
      await assert.rejects(s.rotate(anon.id, 1, next, tomb, reject(t)), {
        code: 'ERR_SESSION_REVOKED',
      });
      const kept = await s.get(anon.id);
      assert.ok(
        kept !== null && kept.kind === 'live',
        'the refused rotation removed the old record',
      );
      assert.equal(kept.data, anon.data);
      assert.equal(await s.get(next.id), null);
      assert.equal((await s.getByHandle(anon.handle))?.id, anon.id);
      assert.deepEqual(await s.listByUser(user, t), []);
      const later = { ...next, authenticatedAt: t + 1 };
      assert.deepEqual(await s.rotate(anon.id, 1, later, tomb, reject(t)), { evicted: [] });
      assert.equal((await s.getByHandle(anon.handle))?.id, later.id);
    },
  );

  add(
    'deleteByUser with an epoch raises it (never lowers it) and keeps the excepted family',
    async (s, t) => {
      const user = `user-${uniq()}`;
      const keep = signedIn(t, user);
      const gone = signedIn(t, user);
      for (const r of [keep, gone]) await s.create(r);
      assert.equal(
        await s.deleteByUser(user, { exceptHandle: keep.handle, epoch: epoch(t + 5) }),
        1,
      );
      assert.deepEqual(
        (await s.listByUser(user, t)).map((r) => r.id),
        [keep.id],
      );
      assert.equal(await s.getRevocationEpoch(user, t), t + 5);
      assert.equal(await s.deleteByUser(user, { epoch: epoch(t + 2) }), 1);
      assert.equal(await s.getRevocationEpoch(user, t), t + 5, 'a lower epoch replaced a higher');
      await assert.rejects(s.create(signedIn(t, user, { authenticatedAt: t + 5 }), reject(t)), {
        code: 'ERR_SESSION_REVOKED',
      });
      assert.equal(await s.deleteByUser(user, { epoch: epoch(t + 9) }), 0);
      assert.equal(await s.getRevocationEpoch(user, t), t + 9);
      assert.equal(await s.getRevocationEpoch(`${user}x`, t), null);
    },
  );
}
