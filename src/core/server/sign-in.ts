/**
 * What a write that signs a user in asks the store to check (the revocation epoch always, the
 * per-user limit when set, in the same atomic step as the write) and how its outcome is reported.
 * The create of the write path and the rotation both sign users in.
 */
import { isTesseraError } from '../errors.js';
import type { SessionData, SignInOptions, SignInResult } from '../types.js';
import type { ServerContext } from './context.js';
import type { Session } from './session.js';

/** @internal What the store checks with a sign-in write: the epoch always, the limit when set. */
export function signInOptions(ctx: ServerContext): SignInOptions {
  const { max, policy } = ctx.options.sessionLimit;
  return { now: ctx.options.now(), limit: max, policy };
}

/** @internal Report the sessions a sign-in evicted to respect the per-user limit. */
export function signedIn<Data extends SessionData>(
  ctx: ServerContext,
  s: Session<Data>,
  userId: string,
  result: SignInResult,
): void {
  if (result.evicted.length === 0) return;
  ctx.emit(
    'session_limit',
    s._req,
    { handle: s._rec?.handle ?? '', userId },
    { reason: 'evict-oldest' },
  );
  for (const handle of result.evicted) {
    ctx.emit('revoked', s._req, { handle, userId }, { reason: 'session_limit' });
  }
}

/** @internal Report a sign-in the per-user limit refused (the caller rethrows). */
export function signInRefused<Data extends SessionData>(
  ctx: ServerContext,
  s: Session<Data>,
  userId: string,
  e: unknown,
): void {
  if (!isTesseraError(e, 'ERR_SESSION_LIMIT')) return;
  ctx.emit('session_limit', s._req, { handle: s._rec?.handle ?? '', userId }, { reason: 'reject' });
}
