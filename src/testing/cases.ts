/**
 * The conformance cases: one per clause of the {@link SessionStore} contract, plus concurrency
 * and injection-safety cases. Each case makes its own store, uses fresh random ids, handles,
 * user ids and keys, and asserts with `node:assert/strict`, so it runs under any test runner.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { SessionRecord, SessionStore, StoreEntry, TombstoneRecord } from '../core/types.js';
import { addUserCases } from './cases-users.js';
import { defaultExecArgv, runWorkers, type WorkerSpec } from './child.js';
import { makeRecord, makeTombstone, randomHandle, randomId } from './fixtures.js';
import { patchKey } from './patch.js';

/** A store the suite runs against. */
export interface ConformanceTarget {
  /** A label for the suite's `describe`. */
  name: string;
  /**
   * Build a store. Each case calls it once and closes what it gets. A fresh, empty store is
   * best; a store on a shared backend works too, since every case uses its own random ids,
   * handles, user ids and keys, provided nothing else writes to that backend's namespace
   * while the suite runs (the `count` case compares totals, and the `sweep` cases remove
   * everything that expires within a minute).
   */
  create(): Promise<SessionStore> | SessionStore;
  /**
   * For the cross-process cases: a module (absolute file path or package specifier) exporting
   * an async factory function, without arguments, that builds an equivalent store connected to
   * the SAME backend in a child process. Absent for in-process-only stores (memory): the
   * cross-process cases are then left out.
   */
  worker?: {
    module: string;
    exportName: string;
    /** Extra environment variables for the child processes (e.g. where the backend is). */
    env?: Record<string, string>;
  };
}

/** One runnable case. `run` rejects (an `AssertionError` or the store's error) on failure. */
export interface ConformanceCase {
  name: string;
  run(): Promise<void>;
  /** A timeout the case needs beyond a runner's default, in ms, when it has one. */
  timeout?: number;
}

/** Options for {@link conformanceCases}. */
export interface ConformanceOptions {
  /**
   * The clock the cases take their times from. Stores with native TTLs (Redis) need the real
   * clock: the cases create entries that live for at least 30 s from `now()`.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Node flags for the worker processes.
   * @default `['--import', 'tsx']` when the suite or the worker module is TypeScript source, else `[]`
   */
  workerExecArgv?: string[];
  /**
   * How long a worker process may run before it is killed, in ms.
   * @default 60_000
   */
  workerTimeoutMs?: number;
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Entries that "expire soon" live this long from the case's start. */
const SOON = 30 * SECOND;
/** The instant cases pass as `now` to see "soon" entries as expired and the rest as live. */
const PROBE = 60 * SECOND;
/** Entries that must outlive the case live this long. */
const LATER = HOUR;
/** What a rotation that evicted nothing returns. */
const ROTATED = Object.freeze({ evicted: [] });

/** A short random string, unique per call, to keep cases apart on a shared backend. */
function uniq(): string {
  return randomBytes(9).toString('base64url');
}

/** The contract's fields of a live record, so that extra properties a store adds are ignored. */
function pickRecord(r: SessionRecord): SessionRecord {
  return {
    kind: r.kind,
    id: r.id,
    handle: r.handle,
    userId: r.userId,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    authenticatedAt: r.authenticatedAt,
    idleExpiresAt: r.idleExpiresAt,
    absoluteExpiresAt: r.absoluteExpiresAt,
    createdIp: r.createdIp,
    createdUserAgent: r.createdUserAgent,
    lastIp: r.lastIp,
    lastUserAgent: r.lastUserAgent,
    version: r.version,
    data: r.data,
  };
}

function pickTombstone(t: TombstoneRecord): TombstoneRecord {
  return {
    kind: t.kind,
    id: t.id,
    handle: t.handle,
    userId: t.userId,
    rotatedAt: t.rotatedAt,
    graceUntil: t.graceUntil,
    expiresAt: t.expiresAt,
    reason: t.reason,
  };
}

function pick(e: StoreEntry | null): StoreEntry | null {
  if (e === null) return null;
  return e.kind === 'live' ? pickRecord(e) : pickTombstone(e);
}

function ids(records: readonly SessionRecord[]): string[] {
  return records.map((r) => r.id);
}

function sortedNumbers(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

function oneToN(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/**
 * Build the conformance cases for a store. Register them with any runner (or use
 * {@link registerConformance}); every case is independent of the others.
 *
 * @param target - the store under test
 * @param options - clock and worker settings; see {@link ConformanceOptions}
 * @returns the cases, in a readable order
 * @example
 * ```ts
 * import { test } from 'node:test';
 * for (const c of conformanceCases({ name: 'mine', create: () => myStore() })) test(c.name, c.run);
 * ```
 */
export function conformanceCases(
  target: ConformanceTarget,
  options: ConformanceOptions = {},
): ConformanceCase[] {
  const now = options.now ?? Date.now;
  const cases: ConformanceCase[] = [];
  /**
   * The slot tag of every id and handle the cases make, and of every user: a store with
   * `slotTags` is given it for every user (`useSlotTags`), so all records of a run share one
   * slot, as the engine keeps each session, and each user's sessions, in one. (The cases also
   * move records between users and families, which the engine never does across slots.)
   */
  const tag = `c${randomBytes(3).toString('base64url')}`;
  /** A fresh id or handle under the run's slot tag. */
  const tagged = (bytes: number): string => `${tag}.${randomBytes(bytes).toString('base64url')}`;

  /** Run `fn` against a fresh store and always close it. */
  const withStore =
    (fn: (s: SessionStore, t: number) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const store = await target.create();
      store.useSlotTags?.(() => tag);
      try {
        await fn(store, now());
      } finally {
        await store.close();
      }
    };
  const add = (
    name: string,
    fn: (s: SessionStore, t: number) => Promise<void>,
    timeout?: number,
  ): void => {
    cases.push(
      timeout === undefined ? { name, run: withStore(fn) } : { name, run: withStore(fn), timeout },
    );
  };

  /** A live record created at `t` that outlives the case. */
  const rec = (t: number, overrides: Partial<SessionRecord> = {}): SessionRecord =>
    makeRecord({
      id: tagged(32),
      handle: tagged(16),
      createdAt: t,
      lastSeenAt: t,
      idleExpiresAt: t + LATER,
      absoluteExpiresAt: t + 24 * HOUR,
      ...overrides,
    });
  /** A live record that is expired at `t + PROBE` (but not in real time during the case). */
  const soon = (t: number, overrides: Partial<SessionRecord> = {}): SessionRecord =>
    rec(t, { idleExpiresAt: t + SOON, ...overrides });
  /** The record that replaces `r` in a rotation: new id, same handle and data. */
  const successor = (r: SessionRecord, overrides: Partial<SessionRecord> = {}): SessionRecord => ({
    ...r,
    id: tagged(32),
    ...overrides,
  });
  const tomb = (r: SessionRecord, t: number, overrides: Partial<TombstoneRecord> = {}) =>
    makeTombstone(r, {
      rotatedAt: t,
      graceUntil: t + 10 * SECOND,
      expiresAt: r.absoluteExpiresAt,
      ...overrides,
    });

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

  // ---- key-value space ----------------------------------------------------------------

  add('kvSet, kvGet and kvDelete round-trip values with expiry', async (s, t) => {
    const k = `conformance:${uniq()}:kv`;
    assert.equal(await s.kvGet(k, t), null);
    await s.kvSet(k, 'v1 ✓ "quoted"', t + SOON);
    assert.equal(await s.kvGet(k, t), 'v1 ✓ "quoted"');
    assert.equal(await s.kvGet(k, t + PROBE), null, 'kvGet returned an expired value');
    await s.kvSet(k, 'v2', t + LATER);
    assert.equal(await s.kvGet(k, t + PROBE), 'v2', 'kvSet did not replace value and expiry');
    await s.kvSet(k, '', null);
    assert.equal(await s.kvGet(k, t + 10 * 365 * 24 * HOUR), '', 'a null expiry expired');
    assert.equal(await s.kvDelete(k), true);
    assert.equal(await s.kvGet(k, t), null);
    assert.equal(await s.kvDelete(k), false);
    const other = `conformance:${uniq()}:kv`;
    await s.kvSet(other, 'x', null);
    assert.equal(await s.kvGet(`${other}*`, t), null);
    assert.equal(await s.kvDelete(`${other.slice(0, -2)}*`), false);
    assert.equal(await s.kvGet(other, t), 'x');
  });

  add('increment counts in a fixed window and restarts after it', async (s, t) => {
    const k = `conformance:${uniq()}:counter`;
    assert.deepEqual(await s.increment(k, t, t + SOON), { count: 1, expiresAt: t + SOON });
    assert.deepEqual(await s.increment(k, t + 1, t + SOON + 1), { count: 2, expiresAt: t + SOON });
    assert.deepEqual(await s.increment(k, t + 2, t + LATER), { count: 3, expiresAt: t + SOON });
    assert.deepEqual(await s.increment(k, t + PROBE, t + PROBE + SOON), {
      count: 1,
      expiresAt: t + PROBE + SOON,
    });
    assert.deepEqual(await s.increment(k, t + PROBE + 1, t + LATER), {
      count: 2,
      expiresAt: t + PROBE + SOON,
    });
    const other = `conformance:${uniq()}:counter`;
    assert.deepEqual(await s.increment(other, t, t + SOON), { count: 1, expiresAt: t + SOON });
  });

  add('kvDelete removes a counter and a list under its key', async (s, t) => {
    const counter = `conformance:${uniq()}:counter`;
    await s.increment(counter, t, t + LATER);
    await s.increment(counter, t, t + LATER);
    assert.equal(await s.kvDelete(counter), true);
    assert.equal((await s.increment(counter, t, t + LATER)).count, 1);
    const list = `conformance:${uniq()}:list`;
    await s.listPush(list, 'a', 10, t + LATER);
    assert.equal(await s.kvDelete(list), true);
    assert.deepEqual(await s.listRange(list, 10, t), []);
  });

  add('listPush keeps the newest entries first, trimmed to max, until expiry', async (s, t) => {
    const k = `conformance:${uniq()}:list`;
    assert.deepEqual(await s.listRange(k, 10, t), []);
    for (const v of ['a', 'b', 'c', 'd ✓']) await s.listPush(k, v, 3, t + SOON);
    assert.deepEqual(await s.listRange(k, 10, t), ['d ✓', 'c', 'b']);
    assert.deepEqual(await s.listRange(k, 2, t), ['d ✓', 'c']);
    assert.deepEqual(await s.listRange(k, 10, t + PROBE), [], 'listRange returned an expired list');

    const forever = `conformance:${uniq()}:list`;
    await s.listPush(forever, '{"event":"login"}', 100, null);
    await s.listPush(forever, '', 100, null);
    assert.deepEqual(await s.listRange(forever, 100, t + 10 * 365 * 24 * HOUR), [
      '',
      '{"event":"login"}',
    ]);
  });

  add('close is idempotent', async (s) => {
    await s.close();
    await s.close();
  });

  // ---- what real ids, user ids and data look like -------------------------------------

  add(
    'ids and handles with every id character round-trip exactly and case-sensitively',
    async (s, t) => {
      const rand = randomBytes(32).toString('base64url');
      // 43 characters with `-` and `_` certain to appear, and letters whose case can flip.
      const hash = `-_aZ${rand.slice(4)}`;
      const idList = [
        `ab12Cd.${hash}`,
        `AB12cD.${hash}`,
        hash,
        `AB12CD.${hash.toUpperCase()}`,
        `ab12cd.${hash.toLowerCase()}`,
      ];
      // A store with slot tags keeps a record's id and handle in one slot: there, every id
      // carries a tag, and each handle the tag of its id.
      if (s.slotTags) idList[2] = `${tag}.${hash}`;
      const family = (i: number, h: string): string =>
        s.slotTags ? `${idList[i]!.slice(0, idList[i]!.indexOf('.'))}.${h}` : h;
      const hBase = `-_${randomBytes(15).toString('base64url')}xY`;
      const handles = [
        hBase,
        hBase.toUpperCase(),
        hBase.toLowerCase(),
        `${hBase}.`,
        `_${hBase}`,
      ].map((h, i) => family(i, h));
      assert.equal(new Set(idList).size, idList.length);
      assert.equal(new Set(handles).size, handles.length);
      const records = idList.map((id, i) =>
        rec(t, { id, handle: handles[i]!, data: `{"i":${i}}` }),
      );
      for (const r of records) await s.create(r);
      for (const r of records) {
        assert.deepEqual(pick(await s.get(r.id)), r);
        assert.deepEqual(pick(await s.getByHandle(r.handle)), r);
      }
      // Ids and handles that differ from stored ones only by case are other ids (a
      // case-folding collation or a lower-cased key would find the stored ones).
      const probes = [
        `ab12cd.${hash}`,
        `AB12CD.${hash.toLowerCase()}`,
        `ab12cd.${hash.toUpperCase()}`,
      ];
      for (const probe of probes) {
        assert.ok(!idList.includes(probe));
        assert.equal(await s.get(probe), null, 'ids are not case-sensitive');
      }
      assert.equal(
        await s.getByHandle(family(0, `${hBase.slice(0, -2)}xy`)),
        null,
        'handles are not case-sensitive',
      );
      const last = idList[0]!.slice(-1);
      assert.equal(await s.get(`${idList[0]!.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`), null);
      assert.equal(await s.delete(idList[0]!), true);
      for (const r of records.slice(1)) assert.deepEqual(pick(await s.get(r.id)), r);
      const next = successor(records[1]!, {
        id: s.slotTags ? family(1, `Zz99${hash.slice(4)}`) : `Zz99Yy.${hash}`,
      });
      assert.deepEqual(await s.rotate(records[1]!.id, 1, next, tomb(records[1]!, t)), ROTATED);
      assert.deepEqual(pick(await s.getByHandle(handles[1]!)), next);
      assert.equal(await s.deleteByHandle(handles[2]!), 1);
      assert.deepEqual(pick(await s.get(idList[3]!)), records[3]);
    },
  );

  add('user ids with unicode, quotes and pattern characters match exactly', async (s, t) => {
    const base = `u-${uniq()}`;
    const userIds = [
      `${base}'; DROP TABLE sessions; --`,
      `${base}" OR "1"="1`,
      `${base}\\back\\slash`,
      `${base}*`,
      `${base}?`,
      `${base}[a-z]`,
      `${base}%`,
      `${base}_`,
      `${base}x`,
      `${base}:sessions`,
      `${base}{tag}`,
      `${base} Zoë 🦊 日本語 \u202e`,
      `${base}\n\t`,
    ];
    const records = userIds.map((userId) => rec(t, { userId }));
    for (const r of records) await s.create(r);
    for (const r of records) {
      assert.deepEqual((await s.listByUser(r.userId!, t)).map(pickRecord), [r]);
      assert.equal(await s.count(t, r.userId!), 1);
    }
    assert.deepEqual(await s.listByUser(base, t), []);
    assert.equal(await s.deleteByUser(base), 0);
    assert.equal(await s.deleteByUser(`${base}*`), 1);
    assert.equal(await s.deleteByUser(`${base}%`), 1);
    assert.equal(await s.deleteByUser(`${base}?`), 1);
    for (const r of records) {
      const gone = [`${base}*`, `${base}%`, `${base}?`].includes(r.userId!);
      assert.equal(await s.count(t, r.userId!), gone ? 0 : 1, `wrong count for ${r.userId}`);
    }
    const page = await s.list({ limit: 10, userId: `${base}_`, now: t });
    assert.deepEqual(ids(page.records), [records[7]!.id]);
  });

  add(
    'data with unicode up to 64 KiB round-trips through create, update and rotate',
    async (s, t) => {
      const chunk = 'aé€😀"\\\n\t<>&\'\u2028日本語 ';
      const big = (marker: string): string => {
        let text = marker;
        while (Buffer.byteLength(text + chunk) <= 64 * 1024) text += chunk;
        return text;
      };
      const first = big('{1}');
      const second = big('{2}');
      const third = big('{3}');
      assert.ok(Buffer.byteLength(first) > 63 * 1024);
      const user = `user-${uniq()}`;
      const r = rec(t, { userId: user, data: first });
      await s.create(r);
      assert.deepEqual(pick(await s.get(r.id)), r);
      assert.equal(await s.update(r.id, 1, { data: second }), true);
      assert.equal(((await s.get(r.id)) as SessionRecord | null)?.data, second);
      const next = successor(r, { data: third, version: 2 });
      assert.deepEqual(await s.rotate(r.id, 2, next, tomb(r, t)), ROTATED);
      assert.deepEqual(pick(await s.get(next.id)), next);
      assert.deepEqual(
        (await s.listByUser(user, t)).map((x) => x.data),
        [third],
      );
    },
  );

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

  add('concurrent increments in-process give distinct counts 1..N', async (s, t) => {
    const k = `conformance:${uniq()}:counter`;
    const results = await Promise.all(
      Array.from({ length: 100 }, () => s.increment(k, t, t + LATER)),
    );
    assert.deepEqual(sortedNumbers(results.map((x) => x.count)), oneToN(100));
    for (const x of results) assert.equal(x.expiresAt, t + LATER);
  });

  const worker = target.worker;
  let workers: { spec: WorkerSpec; execArgv: string[]; timeout: number } | undefined;
  if (worker !== undefined) {
    const spec: WorkerSpec = { module: worker.module, exportName: worker.exportName };
    if (worker.env !== undefined) spec.env = worker.env;
    workers = {
      spec,
      execArgv: options.workerExecArgv ?? defaultExecArgv(spec),
      timeout: options.workerTimeoutMs ?? 60_000,
    };
  }

  // ---- per user: the revocation epoch, the atomic limit, hostile user ids --------------

  addUserCases({ add, rec, tag, ...(workers === undefined ? {} : { worker: workers }) });

  if (workers !== undefined) {
    const { spec, execArgv, timeout } = workers;

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

    add(
      'concurrent increments from two processes give distinct counts 1..N',
      async (s, t) => {
        const k = `conformance:${uniq()}:counter`;
        const task = {
          op: 'increment',
          key: k,
          times: 50,
          now: t,
          windowEndsAt: t + LATER,
        } as const;
        const results = (await runWorkers(spec, [task, task], execArgv, timeout)) as number[][];
        assert.deepEqual(sortedNumbers(results.flat()), oneToN(100));
        assert.equal((await s.increment(k, t, t + LATER)).count, 101);
      },
      timeout + 10_000,
    );
  }

  return cases;
}
