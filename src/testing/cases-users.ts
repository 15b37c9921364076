/**
 * Conformance cases for the per-user clauses of the contract: the revocation epoch, the atomic
 * per-user limit of a sign-in, and user ids a hostile app (or user) may choose.
 *
 * Records here carry the run's slot tag in their id and handle (`tag.random`), the tag a store
 * with `slotTags` is given for every user, as the engine mints a signed-in session's with its
 * user's: that is what lets a sharded store (Redis Cluster) keep a user's sessions, index and
 * epoch in one place and make these steps atomic.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isTesseraError } from '../core/errors.js';
import type { SessionRecord, SessionStore, SignInOptions, TombstoneRecord } from '../core/types.js';
import type { WorkerSpec } from './child.js';
import { runWorkers } from './child.js';
import { makeTombstone } from './fixtures.js';
import type { SignInOutcome } from './patch.js';

/** What the per-user cases need from the suite. */
export interface UserCaseContext {
  add(name: string, fn: (s: SessionStore, t: number) => Promise<void>, timeout?: number): void;
  /** A live record created at `t` that outlives the case. */
  rec(t: number, overrides?: Partial<SessionRecord>): SessionRecord;
  /** The run's slot tag: of every id and handle, and of every user (`useSlotTags`). */
  tag: string;
  /** For the cross-process case, when the target has a worker. */
  worker?: { spec: WorkerSpec; execArgv: string[]; timeout: number };
}

const HOUR = 3_600_000;
const SOON = 30_000;
const PROBE = 60_000;

function uniq(): string {
  return randomBytes(9).toString('base64url');
}

/** What a settled store call was: 'ok', an error code, or the error itself. */
function outcome(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'ok';
  const e: unknown = r.reason;
  if (isTesseraError(e)) return e.code;
  throw e;
}

/** Let other work run, `n` turns of the event loop (spreads parallel calls out). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function handles(records: readonly SessionRecord[]): string[] {
  return records.map((r) => r.handle).sort();
}

/**
 * Add the per-user cases (epoch, atomic limit, hostile user ids) to a conformance run.
 * @param c - the suite's `add` and record factory
 */
export function addUserCases(c: UserCaseContext): void {
  const { add } = c;
  /** An id or handle in the users' slot, as the engine mints a signed-in session's. */
  const tagged = (bytes: number): string => `${c.tag}.${randomBytes(bytes).toString('base64url')}`;
  /** A signed-in record of `userId`, authenticated at `t` unless told otherwise. */
  const signedIn = (t: number, userId: string, o: Partial<SessionRecord> = {}): SessionRecord =>
    c.rec(t, {
      userId,
      id: tagged(32),
      handle: tagged(16),
      authenticatedAt: t,
      ...o,
    });
  const epoch = (at: number) => ({ at, expiresAt: at + HOUR });
  const reject = (t: number, limit = 0): SignInOptions => ({ now: t, limit, policy: 'reject' });
  const evict = (t: number, limit: number): SignInOptions => ({
    now: t,
    limit,
    policy: 'evict-oldest',
  });

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

  // ---- user ids an app may be given ---------------------------------------------------

  add('epochs and limits are per exact user id, whatever characters it holds', async (s, t) => {
    const base = `u-${uniq()}`;
    const userIds = [
      base,
      `${base}*`,
      `${base}?`,
      `${base}[a-z]`,
      `${base}%`,
      `${base}_`,
      `${base}\\`,
      `${base}'"; --`,
      `${base}{tag}`,
      `{${base}}`,
      `${base}:e`,
      `${base} Zoë 🦊 日本語 \u202e`,
      `${base}\n\t`,
      `${base}${'x'.repeat(1000)}`,
      `${base.slice(0, -1)}`,
    ];
    assert.equal(new Set(userIds).size, userIds.length);
    for (const userId of userIds) await s.create(signedIn(t, userId), reject(t, 1));
    // The epoch and the limit of `base` must touch no other user, however alike.
    assert.equal(await s.deleteByUser(base, { epoch: epoch(t) }), 1);
    await assert.rejects(s.create(signedIn(t, base, { authenticatedAt: t }), reject(t)), {
      code: 'ERR_SESSION_REVOKED',
    });
    for (const userId of userIds.slice(1)) {
      assert.equal(await s.getRevocationEpoch(userId, t), null, `epoch leaked to ${userId}`);
      assert.equal(await s.count(t, userId), 1, `wrong count for ${JSON.stringify(userId)}`);
      await assert.rejects(s.create(signedIn(t, userId), reject(t, 1)), {
        code: 'ERR_SESSION_LIMIT',
      });
      const { evicted } = await s.create(signedIn(t, userId), evict(t, 1));
      assert.equal(evicted.length, 1, `evicted ${evicted.length} for ${JSON.stringify(userId)}`);
    }
    const again = signedIn(t, base, { authenticatedAt: t + 1 });
    assert.deepEqual(await s.create(again, reject(t, 1)), { evicted: [] });
    for (const userId of userIds) assert.equal(await s.count(t, userId), 1);
  });

  add(
    'a user id that is not well-formed UTF-16 or holds NUL is kept exactly or refused with a 4xx, never half-written',
    async (s, t) => {
      const base = `u-${uniq()}`;
      for (const userId of [`${base}\ud800`, `${base}\udc00x`, `${base}\0x`]) {
        const r = signedIn(t, base, { userId });
        const created = await Promise.allSettled([s.create(r, reject(t, 5))]);
        if (created[0]!.status === 'rejected') {
          const e: unknown = created[0]!.reason;
          assert.ok(
            isTesseraError(e, 'ERR_INVALID_ID'),
            `refused with ${String(e)} instead of ERR_INVALID_ID (a 400)`,
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
        assert.equal(await s.deleteByUser(userId, { epoch: epoch(t) }), 1);
        assert.equal(await s.getRevocationEpoch(userId, t), t);
      }
    },
  );
}
