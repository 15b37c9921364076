/**
 * Record fixtures and a deliberately broken store wrapper for the conformance suite.
 */
import { randomBytes } from 'node:crypto';
import type { SessionRecord, SessionStore, TombstoneRecord } from '../core/types.js';

/**
 * A random store id shaped as a real one: a 6-character slot tag, a dot, and 43 base64url
 * characters (the size of a base64url SHA-256).
 * @returns a fresh id such as `ab12Cd.` followed by 43 characters of `[A-Za-z0-9_-]`
 */
export function randomId(): string {
  return `${randomBytes(6).toString('base64url').slice(0, 6)}.${randomBytes(32).toString('base64url')}`;
}

/**
 * A random public handle: 22 base64url characters (128 bits), after `tag.` when given one.
 * @param tag - a slot tag to put in front (a record's id and handle share one: see `slotTags`)
 * @returns a fresh handle
 */
export function randomHandle(tag = ''): string {
  const r = randomBytes(16).toString('base64url');
  return tag === '' ? r : `${tag}.${r}`;
}

/** The slot tag in front of an id (`tag.rest`), or `''`. */
function tagOf(id: string): string {
  const dot = id.indexOf('.');
  return dot > 0 ? id.slice(0, dot) : '';
}

/**
 * A live session record with a random id and handle, created now, idle for 30 minutes at most
 * and living 24 hours at most; any field can be overridden. The handle carries the id's slot tag
 * (as the engine mints them for a store with `slotTags`), so the record is in one slot.
 *
 * @param overrides - fields to set instead of the defaults
 * @returns a new {@link SessionRecord}
 * @example
 * ```ts
 * const record = makeRecord({ userId: 'u1', data: '{"cart":[]}' });
 * await store.create(record);
 * ```
 */
export function makeRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const t = Date.now();
  const id = overrides.id ?? randomId();
  return {
    kind: 'live',
    id,
    handle: randomHandle(tagOf(id)),
    userId: null,
    createdAt: t,
    lastSeenAt: t,
    authenticatedAt: null,
    idleExpiresAt: t + 30 * 60_000,
    absoluteExpiresAt: t + 24 * 3_600_000,
    createdIp: '127.0.0.1',
    createdUserAgent: 'conformance/1.0',
    lastIp: '127.0.0.1',
    lastUserAgent: 'conformance/1.0',
    version: 1,
    data: '{}',
    ...overrides,
  };
}

/**
 * The tombstone a rotation of `record` leaves behind, with defaults from `record`.
 * @param record - the record being rotated out
 * @param overrides - fields to set instead of the defaults
 * @returns a {@link TombstoneRecord} under `record.id`
 */
export function makeTombstone(
  record: SessionRecord,
  overrides: Partial<TombstoneRecord> = {},
): TombstoneRecord {
  const t = Date.now();
  return {
    kind: 'rotated',
    id: record.id,
    handle: record.handle,
    userId: record.userId,
    rotatedAt: t,
    graceUntil: t + 10_000,
    expiresAt: record.absoluteExpiresAt,
    reason: 'regenerate',
    ...overrides,
  };
}

/**
 * Wrap a store so that `update` ignores `expectedVersion`: it reads, yields to the event loop,
 * then writes over whatever version is there (read-modify-write without compare-and-set).
 * It exists to prove that the conformance suite's concurrency cases fail against a store that
 * loses writes; never use it for anything else.
 *
 * @param inner - the store to break
 * @returns a store whose `update` always wins, losing concurrent writes
 * @example
 * ```ts
 * const broken = lastWriterWinsStore(memoryStore());
 * const cas = conformanceCases({ name: 'broken', create: () => broken })
 *   .find((c) => c.name.includes('concurrent compare-and-set'));
 * await assert.rejects(cas!.run());
 * ```
 */
export function lastWriterWinsStore(inner: SessionStore): SessionStore {
  return {
    name: `${inner.name}+last-writer-wins`,
    ...(inner.inProcess === undefined ? {} : { inProcess: inner.inProcess }),
    get: (id) => inner.get(id),
    getByHandle: (handle) => inner.getByHandle(handle),
    create: (record, signIn) => inner.create(record, signIn),
    async update(id, _expectedVersion, changes) {
      const before = await inner.get(id);
      if (before === null || before.kind !== 'live') return false;
      // Let other writers (in this process or another) run between the read and the write, for
      // long enough that two busy processes on a loaded machine still overlap: the race is real.
      await new Promise<void>((resolve) => setTimeout(resolve, 2));
      // The bug, on purpose: write over whatever version is there now.
      for (let i = 0; i < 1_000; i++) {
        const current = await inner.get(id);
        if (current === null || current.kind !== 'live') return false;
        if (await inner.update(id, current.version, changes)) return true;
      }
      return false;
    },
    touch: (id, changes) => inner.touch(id, changes),
    rotate: (oldId, expectedVersion, next, tombstone, signIn) =>
      inner.rotate(oldId, expectedVersion, next, tombstone, signIn),
    delete: (id) => inner.delete(id),
    deleteByHandle: (handle) => inner.deleteByHandle(handle),
    listByUser: (userId, now) => inner.listByUser(userId, now),
    deleteByUser: (userId, options) => inner.deleteByUser(userId, options),
    getRevocationEpoch: (userId, now) => inner.getRevocationEpoch(userId, now),
    list: (options) => inner.list(options),
    count: (now, userId) => inner.count(now, userId),
    sweep: (now, limit) => inner.sweep(now, limit),
    close: () => inner.close(),
  };
}
