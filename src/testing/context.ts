/**
 * What every conformance group shares: the record factories of a run, the times cases take, and
 * small helpers to compare what a store returns with what a case wrote.
 *
 * Records carry the run's slot tag in their id and handle (`tag.random`), the tag a store with
 * `slotTags` is given for every user, as the engine mints a signed-in session's with its user's:
 * that is what lets a sharded store (Redis Cluster) keep a user's sessions, index and epoch in
 * one place and make the per-user steps atomic.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isTesseraError } from '../core/errors.js';
import type {
  KeyValueStore,
  SessionRecord,
  SessionStore,
  SignInOptions,
  StoreEntry,
  TombstoneRecord,
} from '../core/types.js';
import type { WorkerSpec } from './child.js';
import { makeRecord, makeTombstone } from './fixtures.js';

export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
/** Entries that "expire soon" live this long from the case's start. */
export const SOON = 30 * SECOND;
/** The instant cases pass as `now` to see "soon" entries as expired and the rest as live. */
export const PROBE = 60 * SECOND;
/** Entries that must outlive the case live this long. */
export const LATER = HOUR;
/** What a rotation that evicted nothing returns. */
export const ROTATED = Object.freeze({ evicted: [] });

/** How the cross-process cases reach the target's store from child processes. */
export interface WorkerSettings {
  spec: WorkerSpec;
  execArgv: string[];
  timeout: number;
}

/** What a group's cases get from the suite. */
export interface CaseContext {
  /** Register one case: `fn` runs against a fresh store (closed after) at the time `t`. */
  add(name: string, fn: (s: SessionStore, t: number) => Promise<void>, timeout?: number): void;
  /** The run's slot tag: of every id and handle, and of every user (`useSlotTags`). */
  tag: string;
  /** A fresh id or handle under the run's slot tag. */
  tagged(bytes: number): string;
  /** A live record created at `t` that outlives the case. */
  rec(t: number, overrides?: Partial<SessionRecord>): SessionRecord;
  /** A live record that is expired at `t + PROBE` (but not in real time during the case). */
  soon(t: number, overrides?: Partial<SessionRecord>): SessionRecord;
  /** The record that replaces `r` in a rotation: new id, same handle and data. */
  successor(r: SessionRecord, overrides?: Partial<SessionRecord>): SessionRecord;
  /** The tombstone a rotation of `r` at `t` leaves. */
  tomb(r: SessionRecord, t: number, overrides?: Partial<TombstoneRecord>): TombstoneRecord;
  /** A signed-in record of `userId` in the users' slot, authenticated at `t` unless told otherwise. */
  signedIn(t: number, userId: string, overrides?: Partial<SessionRecord>): SessionRecord;
  /** For the cross-process cases, when the target has a worker. */
  worker?: WorkerSettings;
}

/**
 * The record factories of one run.
 * @param add - registers a case
 * @param worker - the cross-process settings, if any
 */
export function makeContext(add: CaseContext['add'], worker?: WorkerSettings): CaseContext {
  const tag = `c${randomBytes(3).toString('base64url')}`;
  const tagged = (bytes: number): string => `${tag}.${randomBytes(bytes).toString('base64url')}`;
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
  return {
    add,
    tag,
    tagged,
    rec,
    soon: (t, overrides = {}) => rec(t, { idleExpiresAt: t + SOON, ...overrides }),
    successor: (r, overrides = {}) => ({ ...r, id: tagged(32), ...overrides }),
    tomb: (r, t, overrides = {}) =>
      makeTombstone(r, {
        rotatedAt: t,
        graceUntil: t + 10 * SECOND,
        expiresAt: r.absoluteExpiresAt,
        ...overrides,
      }),
    signedIn: (t, userId, overrides = {}) =>
      rec(t, { userId, id: tagged(32), handle: tagged(16), authenticatedAt: t, ...overrides }),
    ...(worker === undefined ? {} : { worker }),
  };
}

/** The store as a {@link KeyValueStore}, or a failed assertion that says which group to leave out. */
export function kvOf(s: SessionStore): SessionStore & KeyValueStore {
  const kv = s as Partial<KeyValueStore>;
  for (const m of ['kvGet', 'kvSet', 'kvDelete', 'increment'] as const) {
    assert.equal(
      typeof kv[m],
      'function',
      `the store has no ${m}: it does not implement KeyValueStore; leave the 'kv' group out (groups: SESSION_GROUPS)`,
    );
  }
  return s as SessionStore & KeyValueStore;
}

/** A user's revocation epoch at `at`, forgotten an hour later. */
export const epoch = (at: number) => ({ at, expiresAt: at + HOUR });
/** Sign-in options that refuse past `limit` (0: no limit). */
export const reject = (t: number, limit = 0): SignInOptions => ({
  now: t,
  limit,
  policy: 'reject',
});
/** Sign-in options that evict the oldest past `limit`. */
export const evict = (t: number, limit: number): SignInOptions => ({
  now: t,
  limit,
  policy: 'evict-oldest',
});

/** A short random string, unique per call, to keep cases apart on a shared backend. */
export function uniq(): string {
  return randomBytes(9).toString('base64url');
}

/** The contract's fields of a live record, so that extra properties a store adds are ignored. */
export function pickRecord(r: SessionRecord): SessionRecord {
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

/** The contract's fields of a tombstone. */
export function pickTombstone(t: TombstoneRecord): TombstoneRecord {
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

/** The contract's fields of whatever `get` returned. */
export function pick(e: StoreEntry | null): StoreEntry | null {
  if (e === null) return null;
  return e.kind === 'live' ? pickRecord(e) : pickTombstone(e);
}

export function ids(records: readonly SessionRecord[]): string[] {
  return records.map((r) => r.id);
}

/** The handles of records, sorted. */
export function handles(records: readonly SessionRecord[]): string[] {
  return records.map((r) => r.handle).sort();
}

export function sortedNumbers(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

export function oneToN(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** What a settled store call was: 'ok', an error code, or the error itself. */
export function outcome(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'ok';
  const e: unknown = r.reason;
  if (isTesseraError(e)) return e.code;
  throw e;
}

/** Let other work run, `n` turns of the event loop (spreads parallel calls out). */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
