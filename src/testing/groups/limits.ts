/**
 * Conformance group `limits`: the per-user session limit a sign-in checks atomically (SignInOptions).
 */
import assert from 'node:assert/strict';
import { runWorkers } from '../child.js';
import type { CaseContext } from '../context.js';
import { evict, handles, outcome, PROBE, reject, SOON, uniq } from '../context.js';
import { makeTombstone } from '../fixtures.js';
import type { SignInOutcome } from '../patch.js';

/**
 * Add the `limits` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function limitsCases(c: CaseContext): void {
  const { add, signedIn } = c;

  // ---- the per-user limit -------------------------------------------------------------

  add('the per-user limit holds under parallel sign-ins (reject)', async (s, t) => {
    const user = `user-${uniq()}`;
    const records = Array.from({ length: 20 }, () => signedIn(t, user));
    const settled = await Promise.allSettled(records.map((r) => s.create(r, reject(t, 2))));
    const outcomes = settled.map(outcome);
    assert.equal(outcomes.filter((o) => o === 'ok').length, 2, `${outcomes.join(' ')}`);
    assert.equal(outcomes.filter((o) => o === 'ERR_SESSION_LIMIT').length, 18);
    const admitted = records.filter((_, i) => outcomes[i] === 'ok');
    assert.deepEqual(handles(await s.listByUser(user, t)), handles(admitted));
    for (const [i, r] of records.entries()) {
      if (outcomes[i] !== 'ok') assert.equal(await s.get(r.id), null, 'a refused sign-in stayed');
    }
  });

  add('the per-user limit holds under parallel sign-ins (evict-oldest)', async (s, t) => {
    const user = `user-${uniq()}`;
    const old = [3, 2, 1].map((ago) => signedIn(t, user, { createdAt: t - ago }));
    for (const r of old) await s.create(r);
    const fresh = Array.from({ length: 20 }, (_, i) => signedIn(t, user, { createdAt: t + i }));
    const results = await Promise.all(fresh.map((r) => s.create(r, evict(t, 2))));
    const evicted = results.flatMap((r) => r.evicted);
    assert.equal(new Set(evicted).size, evicted.length, 'a session was reported evicted twice');
    const live = await s.listByUser(user, t);
    assert.equal(live.length, 2, `${live.length} live sessions, the limit is 2`);
    // Every session is accounted for: live at the end, or reported evicted exactly once.
    assert.deepEqual([...handles(live), ...evicted].sort(), handles([...old, ...fresh]));
    for (const r of old) assert.ok(evicted.includes(r.handle), 'an older session was kept');
    for (const h of evicted) assert.equal(await s.getByHandle(h), null);
  });

  add(
    'the limit counts live sessions of the user only, not the family being rotated, and evicts the oldest',
    async (s, t) => {
      const user = `user-${uniq()}`;
      const a = signedIn(t, user, { createdAt: t });
      const b = signedIn(t, user, { createdAt: t + 1 });
      const expired = signedIn(t, user, { createdAt: t - 5, idleExpiresAt: t + SOON });
      const rotatedFrom = signedIn(t, user, { createdAt: t - 4 });
      const stranger = signedIn(t, `${user}-other`);
      for (const r of [a, b, expired, rotatedFrom, stranger]) await s.create(r);
      // A family whose live record rotated to another user: only its tombstone is this user's.
      const away = { ...signedIn(t, `${user}-away`), handle: rotatedFrom.handle, version: 2 };
      assert.ok(await s.rotate(rotatedFrom.id, 1, away, makeTombstone(rotatedFrom)));
      const probe = t + PROBE;
      const c1 = signedIn(t, user, { createdAt: t + 2 });
      await assert.rejects(s.create(c1, reject(probe, 2)), { code: 'ERR_SESSION_LIMIT' });
      assert.deepEqual(await s.create(c1, evict(probe, 2)), { evicted: [a.handle] });
      assert.equal(await s.getByHandle(a.handle), null);
      // A sign-in by rotation: the anonymous family itself never counts.
      const anon = c.rec(t);
      await s.create(anon);
      const next = { ...signedIn(t, user, { createdAt: t + 3 }), handle: anon.handle, version: 2 };
      const tomb = makeTombstone(anon, { userId: user, reason: 'login', graceUntil: 0 });
      await assert.rejects(s.rotate(anon.id, 1, next, tomb, reject(probe, 2)), {
        code: 'ERR_SESSION_LIMIT',
      });
      assert.equal((await s.get(anon.id))?.kind, 'live', 'the refused rotation changed the record');
      assert.deepEqual(await s.rotate(anon.id, 1, next, tomb, evict(probe, 2)), {
        evicted: [b.handle],
      });
      assert.deepEqual(handles(await s.listByUser(user, probe)), handles([c1, next]));
      assert.equal((await s.getByHandle(stranger.handle))?.id, stranger.id);
    },
  );

  if (c.worker !== undefined) {
    const { spec, execArgv, timeout } = c.worker;
    add(
      'the per-user limit holds under sign-ins from two processes',
      async (s, t) => {
        const user = `user-${uniq()}`;
        const task = {
          op: 'signIn',
          userId: user,
          tag: c.tag,
          times: 10,
          now: t,
          limit: 3,
        } as const;
        const results = (await runWorkers(
          spec,
          [task, task],
          execArgv,
          timeout,
        )) as SignInOutcome[][];
        const outcomes = results.flat();
        assert.equal(
          outcomes.filter((o) => o.outcome === 'ok').length,
          3,
          JSON.stringify(outcomes),
        );
        assert.equal(outcomes.filter((o) => o.outcome === 'ERR_SESSION_LIMIT').length, 17);
        assert.deepEqual(
          handles(await s.listByUser(user, t)),
          outcomes
            .filter((o) => o.outcome === 'ok')
            .map((o) => o.handle)
            .sort(),
        );
      },
      timeout + 10_000,
    );
  }
}
