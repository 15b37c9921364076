/**
 * The server-side engine's admin operations: a user's sessions listed, one revoked by handle,
 * all of a user's (or all but one) revoked with the user's revocation epoch raised in the same
 * atomic store step, and the sweep of expired entries. `SessionManager` documents each.
 */
import { checkId } from '../ids.js';
import { clockPast } from '../revocation.js';
import { epochExpiresAt } from '../rules.js';
import type { SessionData } from '../types.js';
import type { ServerContext } from './context.js';
import { type Session, type SessionInfo, toInfo } from './session.js';

/** @internal Live sessions of a user, oldest first (public view). */
export async function listSessions(ctx: ServerContext, userId: string): Promise<SessionInfo[]> {
  checkId('userId', userId, 'list()');
  const { store, now } = ctx.options;
  const recs = await ctx.io(store.listByUser(userId, now()));
  return recs.map(toInfo);
}

/** @internal Revoke one session by handle (with `userId`, only if it is that user's). */
export async function revokeSession(
  ctx: ServerContext,
  handle: string,
  options: { userId?: string },
): Promise<boolean> {
  checkId('handle', handle, 'revoke()');
  if (options.userId !== undefined) checkId('userId', options.userId, 'revoke()');
  const { store } = ctx.options;
  const rec = await ctx.io(store.getByHandle(handle));
  if (!rec || (options.userId !== undefined && rec.userId !== options.userId)) return false;
  const n = await ctx.io(store.deleteByHandle(handle));
  if (n > 0) ctx.emit('revoked', null, rec, { reason: 'handle' });
  return n > 0;
}

/** @internal Revoke every session of `s`'s user but `s`, raising the user's epoch. */
export async function revokeOtherSessions<Data extends SessionData>(
  ctx: ServerContext,
  s: Session<Data>,
): Promise<number> {
  if (!s._rec?.userId) return 0;
  const { store, now, absoluteMs } = ctx.options;
  const at = now();
  const n = await ctx.io(
    store.deleteByUser(s._rec.userId, {
      exceptHandle: s._rec.handle,
      epoch: { at, expiresAt: epochExpiresAt(at, absoluteMs) },
    }),
  );
  if (n > 0) ctx.emit('revoked', s._req, s._rec, { reason: 'others' });
  await clockPast(now, at);
  return n;
}

/** @internal Revoke every session of a user, raising the user's epoch. */
export async function revokeUserSessions(ctx: ServerContext, userId: string): Promise<number> {
  checkId('userId', userId, 'revokeAll()');
  const { store, now, absoluteMs } = ctx.options;
  const at = now();
  const n = await ctx.io(
    store.deleteByUser(userId, { epoch: { at, expiresAt: epochExpiresAt(at, absoluteMs) } }),
  );
  if (n > 0) ctx.emit('revoked', null, { handle: '', userId }, { reason: 'all' });
  await clockPast(now, at);
  return n;
}

/** @internal Remove entries expired by more than the clocks may disagree. */
export function sweepExpired(ctx: ServerContext, limit: number): Promise<number> {
  const { store, now } = ctx.options;
  return ctx.io(store.sweep(now() - ctx.clockAllowance(), limit));
}
