/**
 * Rotation in the server-side engine: `regenerate` (a new token for the same session, the old
 * one a tombstone with a short grace), signing a user in (a rotation, or a new session over
 * another user's or on a store with slot tags; the store checks the epoch and the per-user limit
 * in the same atomic step, sign-in.ts) and `destroy`.
 */
import { TesseraError } from '../errors.js';
import {
  type AuthenticateOptions,
  idleDeadline,
  type KeepData,
  keepData,
  sessionDeadlines,
} from '../rules.js';
import { mintToken, tagOfId } from '../token.js';
import type { SessionData, SessionRecord, SignInResult } from '../types.js';
import type { ServerContext } from './context.js';
import { activate, applyPatch, type RegenerateOptions, type Session } from './session.js';
import { signedIn, signInOptions, signInRefused } from './sign-in.js';
import type { SessionWriter } from './write.js';

/** @internal Rotates, signs in and destroys sessions for one engine. */
export class SessionRotation {
  readonly #ctx: ServerContext;
  readonly #writer: SessionWriter;

  constructor(ctx: ServerContext, writer: SessionWriter) {
    this.#ctx = ctx;
    this.#writer = writer;
  }

  /**
   * Issue a new token for the same session (same handle), the data re-sealed to it; the old
   * token becomes a tombstone that serves safe requests for the grace (none after a sign-in).
   * With `userId` it is a sign-in or re-authentication (new `authenticatedAt`, deadlines).
   */
  async regenerate<Data extends SessionData>(
    s: Session<Data>,
    options: RegenerateOptions<Data>,
    reason: 'regenerate' | 'login' = 'regenerate',
    userId?: string,
  ): Promise<void> {
    s._writable();
    const now = this.#ctx.options.now();
    if (s._state === 'anonymous') {
      // Nothing stored yet: a fresh token is all rotation means (drops a pre-session binding).
      s._parsed = null;
      s._newToken = null;
      s._reserved = null;
      if (s._hadCookie) s._clear = true;
      return;
    }
    let rec = s._rec!;
    for (let attempt = 0; attempt <= this.#ctx.options.maxRetries; attempt++) {
      const base = this.#ctx.records.decode(rec);
      const merged = keepData(s._patch ? applyPatch(base, s._patch) : base, options.keep ?? 'all');
      const uid = userId ?? rec.userId;
      // The new token stays in its family's slot (a tagging store signs a visitor in as a new
      // session instead: see authenticate).
      const tag = this.#ctx.options.store.slotTags === true ? tagOfId(rec.handle) : '';
      const { token, parsed } = mintToken(this.#ctx.options.ring, 's', tag);
      const login = userId !== undefined;
      // Signing a user in (an anonymous session, or another user's): the store checks the epoch
      // and the limit in the same atomic step as the rotation.
      const signIn = uid !== null && uid !== rec.userId ? signInOptions(this.#ctx) : undefined;
      const next: SessionRecord = {
        ...rec,
        id: parsed.id,
        userId: uid,
        lastSeenAt: now,
        lastIp: s._req.ip ?? rec.lastIp,
        lastUserAgent: s._req.userAgent ?? null,
        version: rec.version + 1,
        data: '',
        ...(login
          ? {
              authenticatedAt: s._loadedAt,
              ...sessionDeadlines(
                this.#ctx.options,
                now,
                uid === rec.userId ? rec.absoluteExpiresAt : null,
              ),
            }
          : { idleExpiresAt: idleDeadline(this.#ctx.options, now, rec.absoluteExpiresAt) }),
      };
      const graceSec = Math.min(
        options.grace ?? this.#ctx.options.graceMs / 1000,
        this.#ctx.options.graceMs / 1000,
      );
      const tomb = {
        kind: 'rotated' as const,
        id: rec.id,
        handle: rec.handle,
        userId: rec.userId ?? uid,
        rotatedAt: now,
        graceUntil: reason === 'login' ? 0 : now + graceSec * 1000,
        expiresAt: Math.max(next.absoluteExpiresAt, rec.absoluteExpiresAt),
        reason,
      };
      // Sealed to the new id, user and deadlines (codec.ts): the rotation re-seals the data, and
      // the seal names the one rotated-out token that may still read it, and until when.
      const grace = tomb.graceUntil > now ? { id: rec.id, until: tomb.graceUntil } : null;
      next.data = this.#ctx.records.encode(merged, next, grace);
      const undo = async () => ((await this.#ctx.options.store.delete(next.id)) ? 1 : 0);
      let rotated: SignInResult | false;
      try {
        rotated = await this.#ctx.io(
          this.#ctx.orphans.ifUnknown(
            this.#ctx.options.store.rotate(rec.id, rec.version, next, tomb, signIn),
            next,
            undo,
          ),
        );
      } catch (e) {
        if (signIn) signInRefused(this.#ctx, s, uid!, e);
        throw e;
      }
      if (rotated) {
        if (signIn) signedIn(this.#ctx, s, uid!, rotated);
        activate(s, next, parsed, merged, token, grace);
        s._patch = null;
        this.#ctx.emit('rotated', s._req, next, { reason });
        return;
      }
      const entry = await this.#ctx.io(this.#ctx.options.store.get(rec.id));
      if (entry?.kind !== 'live') {
        s._state = 'anonymous';
        s._rec = null;
        s._parsed = null;
        s._clear = true;
        throw new TesseraError(
          'ERR_CONFLICT',
          'The session was rotated or ended by another request.',
        );
      }
      rec = entry;
    }
    throw new TesseraError(
      'ERR_CONFLICT',
      `Session kept changing under ${this.#ctx.options.maxRetries} retries.`,
    );
  }

  /** Sign a user in on `s` (see `Session.authenticate`). */
  async authenticate<Data extends SessionData>(
    s: Session<Data>,
    userId: string,
    options: AuthenticateOptions<Data>,
  ): Promise<void> {
    s._writable();
    const same = s._rec?.userId === userId;
    if (s._state === 'anonymous') {
      const data = applyPatch({}, s._patch ?? new Map());
      await this.#writer.create(s, userId, keepData(data, options.keep ?? 'all'));
      s._patch = null;
      this.#ctx.emit('authenticated', s._req, s._rec);
      return;
    }
    const prev = s._rec!;
    // On a store with slot tags (Redis Cluster) a user's sessions live in the user's slot, and a
    // visitor's elsewhere: signing a visitor in there is a new session, as a user switch is.
    if (!same && (prev.userId !== null || this.#ctx.options.store.slotTags === true)) {
      const keep = options.keep ?? (prev.userId === null ? 'all' : 'none');
      await this.#switchUser(s, prev, userId, keep);
      this.#ctx.emit('authenticated', s._req, s._rec);
      return;
    }
    await this.regenerate(
      s,
      { keep: options.keep ?? 'all' },
      same ? 'regenerate' : 'login',
      userId,
    );
    this.#ctx.emit('authenticated', s._req, s._rec);
  }

  /**
   * Sign another user in over a signed-in session: a new session (new token, handle and family),
   * then the previous user's whole family is deleted, so none of its rotated-out tokens can
   * later name the new user's session (a theft signal on them would sign the new user out).
   *
   * On a store with slot tags, a visitor's session is signed in the same way (the new session
   * is one write in the user's slot, with the epoch and limit checks), and deleting the visitor's
   * family is then best effort: a failure does not fail the sign-in (the delete is retried by
   * the follow-up queue), and until it lands the old token is still that visitor session.
   */
  async #switchUser<Data extends SessionData>(
    s: Session<Data>,
    prev: SessionRecord,
    userId: string,
    keep: KeepData<Data>,
  ): Promise<void> {
    const base = this.#ctx.records.decode(prev);
    const data = keepData(s._patch ? applyPatch(base, s._patch) : base, keep);
    s._reserved = null;
    await this.#writer.create(s, userId, data);
    s._patch = null;
    if (prev.userId !== null) {
      await this.#ctx.io(this.#ctx.options.store.deleteByHandle(prev.handle));
      this.#ctx.emit('destroyed', s._req, prev, { reason: 'user_switch' });
      return;
    }
    const drop = () => this.#ctx.options.store.deleteByHandle(prev.handle);
    try {
      await this.#ctx.io(this.#ctx.orphans.ifUnknown(drop(), prev, drop));
      this.#ctx.emit('destroyed', s._req, prev, { reason: 'signed_in' });
    } catch {
      // Reported as store_error by ctx.io; the signed-in session stands.
    }
  }

  /** End the session: delete it and every rotated-out token of it, clear the cookie. */
  async destroy<Data extends SessionData>(s: Session<Data>): Promise<void> {
    if (s._state === 'destroyed') return;
    // A rotated-out token inside its grace window only reads: it must not end the live session.
    s._writable();
    const rec = s._rec;
    if (rec) {
      await this.#ctx.io(this.#ctx.options.store.deleteByHandle(rec.handle));
      this.#ctx.emit('destroyed', s._req, rec);
    }
    s._state = 'destroyed';
    s._rec = null;
    s._parsed = null;
    s._patch = null;
    s._data = null;
    s._newToken = null;
    s._clear = true;
    s._hadCookie = true;
  }
}
