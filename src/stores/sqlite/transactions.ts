/**
 * The SQLite store's multi-statement methods, each one `BEGIN IMMEDIATE` transaction: it holds
 * the database's write lock, so sign-ins and revocations from every connection and process are
 * serialised.
 */
import { sessionLimitReached, signInRevoked } from '../../core/revocation.js';
import type {
  DeleteByUserOptions,
  SessionRecord,
  SignInOptions,
  TombstoneRecord,
} from '../../core/types.js';
import { recordToRow } from '../sql/shared.js';
import type { SQLiteDatabase } from './options.js';
import type { Statements } from './statements.js';

/** The transactions of one store. */
export type Transactions = ReturnType<typeof transactions>;

/**
 * Build the transactions of a store over its prepared statements.
 * @param db - the open database
 * @param s - its prepared statements
 */
export function transactions(db: SQLiteDatabase, s: Statements) {
  /**
   * The epoch and limit checks of a sign-in, inside the caller's `BEGIN IMMEDIATE`
   * transaction (which holds the database's write lock, so sign-ins and revocations from every
   * connection and process are serialised): throws, or returns the handles to evict.
   */
  const gate = (record: SessionRecord, o: SignInOptions): string[] => {
    if (record.userId === null) return [];
    const e = s.epochGet.get(record.userId) as { epoch: number } | undefined;
    if (e !== undefined && (record.authenticatedAt === null || record.authenticatedAt <= e.epoch))
      throw signInRevoked();
    if (o.limit <= 0) return [];
    const live = s.liveHandles.all({
      user_id: record.userId,
      now: o.now,
      except: record.handle,
    }) as { handle: string }[];
    if (live.length < o.limit) return [];
    if (o.policy === 'reject') throw sessionLimitReached(o.limit);
    return live.slice(0, live.length - o.limit + 1).map((r) => r.handle);
  };
  const signInCreate = db.transaction((record: SessionRecord, o: SignInOptions) => {
    const evicted = gate(record, o);
    for (const h of evicted) s.deleteByHandle.run(h);
    s.insert.run(recordToRow(record));
    return { evicted };
  }).immediate;
  const rotate = db.transaction(
    (
      oldId: string,
      expectedVersion: number,
      next: SessionRecord,
      tombstone: TombstoneRecord | null,
      signIn: SignInOptions | undefined,
    ) => {
      const evicted = signIn === undefined ? [] : gate(next, signIn);
      const changed =
        tombstone === null
          ? s.deleteLiveVersion.run(oldId, expectedVersion).changes
          : s.toTombstone.run({
              id: oldId,
              version: expectedVersion,
              handle: tombstone.handle,
              user_id: tombstone.userId,
              rotated_at: tombstone.rotatedAt,
              grace_until: tombstone.graceUntil,
              reason: tombstone.reason,
              expires_at: tombstone.expiresAt,
            }).changes;
      if (changed !== 1) return false;
      for (const h of evicted) s.deleteByHandle.run(h);
      s.insert.run(recordToRow(next));
      return { evicted };
    },
  ).immediate;
  const deleteByUser = db.transaction((userId: string, o: DeleteByUserOptions) => {
    if (o.epoch !== undefined) {
      s.epochRaise.run({ user_id: userId, epoch: o.epoch.at, expires_at: o.epoch.expiresAt });
    }
    const params = { user_id: userId, except: o.exceptHandle ?? null };
    s.deleteUserFamilyTombs.run(params);
    const live = s.deleteUserLive.run(params).changes;
    s.deleteUserTombs.run(params);
    return live;
  }).immediate;
  const kvDelete = db.transaction((key: string) => s.kvDelete.run(key).changes > 0).immediate;
  return { signInCreate, rotate, deleteByUser, kvDelete };
}
