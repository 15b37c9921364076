/**
 * Conformance group `records`: get, getByHandle, create, update, touch, delete, deleteByHandle and close: one record at a time.
 */
import assert from 'node:assert/strict';
import type { CaseContext } from '../context.js';
import { HOUR, ids, LATER, pick, pickRecord, ROTATED, uniq } from '../context.js';
import { randomHandle, randomId } from '../fixtures.js';

/**
 * Add the `records` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function recordsCases(c: CaseContext): void {
  const { add, rec, successor, tomb } = c;

  // ---- get / getByHandle / create ------------------------------------------------------

  add('get returns a live record exactly as created', async (s, t) => {
    const full = rec(t, {
      userId: `user-${uniq()}`,
      authenticatedAt: t - 5,
      createdIp: '203.0.113.7',
      createdUserAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
      lastIp: '2001:db8::1',
      lastUserAgent: 'curl/8.5.0',
      version: 7,
      data: '{"cart":[1,2,3]}',
    });
    const bare = rec(t, {
      userId: null,
      authenticatedAt: null,
      createdIp: null,
      createdUserAgent: null,
      lastIp: null,
      lastUserAgent: null,
      data: '',
    });
    await s.create(full);
    await s.create(bare);
    assert.deepEqual(pick(await s.get(full.id)), full);
    assert.deepEqual(pick(await s.get(bare.id)), bare);
  });

  add('get returns null for an unknown id', async (s) => {
    assert.equal(await s.get(randomId()), null);
  });

  add('getByHandle returns the live record, or null for an unknown handle', async (s, t) => {
    const r = rec(t);
    await s.create(r);
    const found = await s.getByHandle(r.handle);
    assert.ok(found !== null);
    assert.deepEqual(pickRecord(found), r);
    assert.equal(await s.getByHandle(randomHandle()), null);
  });

  add('getByHandle returns null when only tombstones of the family are left', async (s, t) => {
    const r = rec(t);
    const next = successor(r);
    await s.create(r);
    assert.deepEqual(await s.rotate(r.id, 1, next, tomb(r, t)), ROTATED);
    assert.equal(await s.delete(next.id), true);
    assert.equal(await s.getByHandle(r.handle), null);
    assert.equal((await s.get(r.id))?.kind, 'rotated');
  });

  add('create rejects a duplicate id and changes nothing', async (s, t) => {
    const r = rec(t);
    await s.create(r);
    const dup = rec(t, { id: r.id, data: '{"other":true}' });
    await assert.rejects(s.create(dup));
    assert.deepEqual(pick(await s.get(r.id)), r);
    assert.equal(await s.getByHandle(dup.handle), null);
  });

  add('create rejects a duplicate handle and writes nothing', async (s, t) => {
    const r = rec(t);
    await s.create(r);
    const dup = rec(t, { handle: r.handle });
    await assert.rejects(s.create(dup));
    assert.equal(await s.get(dup.id), null);
    assert.deepEqual(pick(await s.getByHandle(r.handle)), r);
  });

  add('create rejects an id that a tombstone holds', async (s, t) => {
    const r = rec(t);
    const next = successor(r);
    const tombstone = tomb(r, t);
    await s.create(r);
    assert.deepEqual(await s.rotate(r.id, 1, next, tombstone), ROTATED);
    await assert.rejects(s.create(rec(t, { id: r.id })));
    assert.deepEqual(pick(await s.get(r.id)), tombstone);
  });

  // ---- update -------------------------------------------------------------------------

  add(
    'update applies with the right version and bumps it only when data is present',
    async (s, t) => {
      const r = rec(t, { data: '{"a":1}' });
      await s.create(r);
      const user = `user-${uniq()}`;
      const meta = {
        userId: user,
        authenticatedAt: t + 1,
        lastSeenAt: t + 2,
        idleExpiresAt: t + LATER + 2,
        absoluteExpiresAt: t + 25 * HOUR,
        lastIp: '198.51.100.9',
        lastUserAgent: 'UA/2',
      };
      assert.equal(await s.update(r.id, 1, meta), true);
      const afterMeta = { ...r, ...meta };
      assert.deepEqual(pick(await s.get(r.id)), afterMeta);

      assert.equal(await s.update(r.id, 1, { data: '{"a":2}' }), true);
      const afterData = { ...afterMeta, data: '{"a":2}', version: 2 };
      assert.deepEqual(pick(await s.get(r.id)), afterData);

      assert.equal(await s.update(r.id, 2, { data: '{"a":3}', lastSeenAt: t + 3 }), true);
      assert.deepEqual(pick(await s.get(r.id)), {
        ...afterData,
        data: '{"a":3}',
        lastSeenAt: t + 3,
        version: 3,
      });
    },
  );

  add('update with a stale version returns false and changes nothing', async (s, t) => {
    const r = rec(t);
    await s.create(r);
    assert.equal(await s.update(r.id, 1, { data: '{"v":2}' }), true);
    const before = pick(await s.get(r.id));
    assert.equal(await s.update(r.id, 1, { data: '{"lost":true}', lastIp: '192.0.2.1' }), false);
    assert.equal(await s.update(r.id, 3, { data: '{"lost":true}' }), false);
    assert.equal(await s.update(r.id, 1, { lastSeenAt: t + 9 }), false);
    assert.deepEqual(pick(await s.get(r.id)), before);
  });

  add('update returns false for a missing id or a tombstone', async (s, t) => {
    assert.equal(await s.update(randomId(), 1, { data: '{}' }), false);
    const r = rec(t);
    const tombstone = tomb(r, t);
    await s.create(r);
    assert.deepEqual(await s.rotate(r.id, 1, successor(r), tombstone), ROTATED);
    assert.equal(await s.update(r.id, 1, { data: '{"x":1}' }), false);
    assert.deepEqual(pick(await s.get(r.id)), tombstone);
  });

  add('update sets fields to null when asked and leaves absent fields alone', async (s, t) => {
    const r = rec(t, { userId: `user-${uniq()}`, authenticatedAt: t, lastUserAgent: 'UA' });
    await s.create(r);
    const nulls = { userId: null, authenticatedAt: null, lastIp: null, lastUserAgent: null };
    assert.equal(await s.update(r.id, 1, nulls), true);
    assert.deepEqual(pick(await s.get(r.id)), { ...r, ...nulls });
    assert.equal(await s.update(r.id, 1, {}), true);
    assert.deepEqual(pick(await s.get(r.id)), { ...r, ...nulls });
  });

  add("update of userId moves the session between users' indexes", async (s, t) => {
    const a = `user-a-${uniq()}`;
    const b = `user-b-${uniq()}`;
    const r = rec(t, { userId: a });
    await s.create(r);
    assert.equal(await s.update(r.id, 1, { userId: b }), true);
    assert.deepEqual(await s.listByUser(a, t), []);
    assert.deepEqual(ids(await s.listByUser(b, t)), [r.id]);
    assert.equal(await s.count(t, a), 0);
    assert.equal(await s.count(t, b), 1);
    assert.equal(await s.deleteByUser(a), 0);
    assert.notEqual(await s.get(r.id), null);
    assert.equal(await s.update(r.id, 1, { userId: null }), true);
    assert.deepEqual(await s.listByUser(b, t), []);
  });

  // ---- touch --------------------------------------------------------------------------

  add('touch moves the idle deadline and metadata without a version bump', async (s, t) => {
    const r = rec(t, { lastIp: '192.0.2.1', lastUserAgent: 'UA/1', data: '{"k":1}' });
    await s.create(r);
    assert.equal(await s.touch(r.id, { lastSeenAt: t + 5, idleExpiresAt: t + LATER + 5 }), true);
    const touched = { ...r, lastSeenAt: t + 5, idleExpiresAt: t + LATER + 5 };
    assert.deepEqual(pick(await s.get(r.id)), touched);
    const meta = {
      lastSeenAt: t + 6,
      idleExpiresAt: t + LATER + 6,
      lastIp: '192.0.2.2',
      lastUserAgent: null,
    };
    assert.equal(await s.touch(r.id, meta), true);
    assert.deepEqual(pick(await s.get(r.id)), { ...touched, ...meta });
    // The version did not move, so a writer holding version 1 still wins its compare-and-set.
    assert.equal(await s.update(r.id, 1, { data: '{"k":2}' }), true);
  });

  add('touch returns false for a missing id or a tombstone', async (s, t) => {
    assert.equal(await s.touch(randomId(), { lastSeenAt: t, idleExpiresAt: t + LATER }), false);
    const r = rec(t);
    const tombstone = tomb(r, t);
    await s.create(r);
    assert.deepEqual(await s.rotate(r.id, 1, successor(r), tombstone), ROTATED);
    assert.equal(await s.touch(r.id, { lastSeenAt: t + 1, idleExpiresAt: t + LATER }), false);
    assert.deepEqual(pick(await s.get(r.id)), tombstone);
  });

  // ---- delete -------------------------------------------------------------------------

  add('delete removes a live record or a tombstone and reports whether it did', async (s, t) => {
    const user = `user-${uniq()}`;
    const r = rec(t, { userId: user });
    await s.create(r);
    assert.equal(await s.delete(r.id), true);
    assert.equal(await s.get(r.id), null);
    assert.equal(await s.getByHandle(r.handle), null);
    assert.deepEqual(await s.listByUser(user, t), []);
    assert.equal(await s.delete(r.id), false);
    assert.equal(await s.delete(randomId()), false);

    const q = rec(t, { userId: user });
    const next = successor(q);
    await s.create(q);
    assert.deepEqual(await s.rotate(q.id, 1, next, tomb(q, t)), ROTATED);
    assert.equal(await s.delete(q.id), true);
    assert.equal(await s.get(q.id), null);
    assert.deepEqual(pick(await s.get(next.id)), next);
  });

  add('deleteByHandle removes the live record and every tombstone of its family', async (s, t) => {
    const user = `user-${uniq()}`;
    const r0 = rec(t, { userId: user });
    const r1 = successor(r0);
    const r2 = successor(r1);
    const other = rec(t, { userId: user });
    await s.create(r0);
    await s.create(other);
    assert.deepEqual(await s.rotate(r0.id, 1, r1, tomb(r0, t)), ROTATED);
    assert.deepEqual(await s.rotate(r1.id, 1, r2, tomb(r1, t)), ROTATED);
    assert.equal(await s.deleteByHandle(r0.handle), 3);
    for (const id of [r0.id, r1.id, r2.id]) assert.equal(await s.get(id), null);
    assert.equal(await s.getByHandle(r0.handle), null);
    assert.deepEqual(pick(await s.get(other.id)), other);
    assert.deepEqual(ids(await s.listByUser(user, t)), [other.id]);
    assert.equal(await s.deleteByHandle(r0.handle), 0);
    assert.equal(await s.deleteByHandle(randomHandle()), 0);
  });

  add('close is idempotent', async (s) => {
    await s.close();
    await s.close();
  });
}
