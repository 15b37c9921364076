/**
 * Conformance group `concurrency`: compare-and-set merges and sign-ins racing a revocation, in one process and across processes.
 */
import assert from 'node:assert/strict';
import type { TombstoneRecord } from '../../core/types.js';
import { runWorkers } from '../child.js';
import type { CaseContext } from '../context.js';
import { epoch, outcome, reject, turns, uniq } from '../context.js';
import { makeTombstone } from '../fixtures.js';
import { patchKey } from '../patch.js';

/**
 * Add the `concurrency` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function concurrencyCases(c: CaseContext): void {
  const { add, rec, signedIn } = c;

  // ---- concurrency --------------------------------------------------------------------

  add(
    'concurrent compare-and-set merges from 100 in-process writers lose nothing',
    async (s, t) => {
      const r = rec(t, { data: '{}' });
      await s.create(r);
      const writers = 100;
      await Promise.all(
        Array.from({ length: writers }, (_, i) => patchKey(s, r.id, `k${i}`, i, 1_000)),
      );
      const after = await s.get(r.id);
      assert.ok(after !== null && after.kind === 'live');
      const data = JSON.parse(after.data) as Record<string, number>;
      const expected = Object.fromEntries(Array.from({ length: writers }, (_, i) => [`k${i}`, i]));
      assert.deepEqual(data, expected, 'concurrent writers lost updates');
      assert.equal(after.version, 1 + writers);
    },
  );

  add(
    'parallel sign-ins racing deleteByUser with an epoch: none begun before it survives',
    async (s, t) => {
      const user = `user-${uniq()}`;
      // All of these began (authenticated) before the revocation at t.
      const attempt = () => s.create(signedIn(t, user, { authenticatedAt: t - 1 }), reject(t));
      const before = await Promise.allSettled(Array.from({ length: 10 }, attempt));
      assert.deepEqual(new Set(before.map(outcome)), new Set(['ok']));
      const racing = Array.from({ length: 30 }, async (_, i) => {
        await turns(i % 7);
        return attempt();
      });
      const revoke = (async () => {
        await turns(3);
        return s.deleteByUser(user, { epoch: epoch(t) });
      })();
      const raced = await Promise.allSettled(racing);
      const revoked = await revoke;
      const after = await Promise.allSettled(Array.from({ length: 10 }, attempt));
      for (const o of raced.map(outcome)) assert.ok(o === 'ok' || o === 'ERR_SESSION_REVOKED', o);
      assert.deepEqual(new Set(after.map(outcome)), new Set(['ERR_SESSION_REVOKED']));
      const survived = raced.filter((r) => r.status === 'fulfilled').length;
      assert.equal(revoked, 10 + survived, 'deleteByUser did not delete every earlier sign-in');
      assert.deepEqual(
        await s.listByUser(user, t),
        [],
        'a sign-in begun before the epoch survived',
      );
      assert.equal(await s.count(t, user), 0);
    },
  );

  add(
    'same-user rotations racing deleteByUser: no session a rotation wrote survives it',
    async (s, t) => {
      const user = `user-${uniq()}`;
      const rounds = 5;
      for (let round = 0; round < rounds; round++) {
        const olds = Array.from({ length: 12 }, () => signedIn(t, user));
        for (const r of olds) await s.create(r);
        // Regenerate / re-authentication of the same user: no sign-in checks, but a revocation
        // landing meanwhile must delete what the rotation wrote, or the rotation must fail.
        const rotations = olds.map(async (old, i) => {
          await turns(i % 5);
          const next = signedIn(t, user, { handle: old.handle, version: old.version + 1 });
          const tomb: TombstoneRecord = makeTombstone(old, { rotatedAt: t, reason: 'regenerate' });
          return s.rotate(old.id, old.version, next, tomb);
        });
        const revoke = (async () => {
          await turns(2);
          return s.deleteByUser(user, { epoch: epoch(t + round) });
        })();
        await Promise.allSettled([...rotations, revoke]);
        assert.deepEqual(
          await s.listByUser(user, t),
          [],
          `round ${round}: a session a rotation wrote outlived deleteByUser`,
        );
      }
    },
    60_000,
  );

  if (c.worker !== undefined) {
    const { spec, execArgv, timeout } = c.worker;

    add(
      'concurrent compare-and-set merges from two processes lose nothing',
      async (s, t) => {
        const r = rec(t, { data: '{}' });
        await s.create(r);
        const keys = (p: string) => Array.from({ length: 50 }, (_, i) => `${p}${i}`);
        await runWorkers(
          spec,
          [
            { op: 'patch', id: r.id, keys: keys('a'), maxTries: 1_000 },
            { op: 'patch', id: r.id, keys: keys('b'), maxTries: 1_000 },
          ],
          execArgv,
          timeout,
        );
        const after = await s.get(r.id);
        assert.ok(after !== null && after.kind === 'live');
        const data = JSON.parse(after.data) as Record<string, unknown>;
        assert.deepEqual(
          Object.keys(data).sort(),
          [...keys('a'), ...keys('b')].sort(),
          'concurrent processes lost updates',
        );
        assert.equal(after.version, 101);
      },
      timeout + 10_000,
    );
  }
}
