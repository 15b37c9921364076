/**
 * What every part of the server-side engine shares (load, write path, rotation, admin): the
 * resolved options, the record codec, the store wrapped so its failures are typed and reported,
 * the follow-up queue for writes whose outcome is unknown, and the minting of tokens and records.
 * The manager builds one and hands it to its parts; nothing here is public API.
 */
import type { RequestInfo } from '../contract.js';
import { isTesseraError, storeUnavailable } from '../errors.js';
import type { SessionEvent, SessionEventType } from '../events.js';
import { FollowUps } from '../follow-up.js';
import type { DerivedKey } from '../keys.js';
import type { ResolvedOptions } from '../options.js';
import { sessionDeadlines } from '../rules.js';
import {
  mintToken,
  newSecret,
  type ParsedToken,
  slotTagFor,
  tagOfId,
  visitorSlotTag,
} from '../token.js';
import type { SessionRecord } from '../types.js';
import { RecordCodec } from './records.js';

/**
 * Users whose slot tag the context remembers (FIFO, ~100 B each). Only an engine on a store that
 * asks for slot tags (Redis) fills it.
 */
const SLOT_TAGS = 10_000;

/** @internal What the context takes from the manager (its event hub and clock). */
export interface ServerHooks {
  emit(
    type: SessionEventType,
    req: RequestInfo | null,
    rec: { handle: string; userId: string | null } | null,
    extra?: Partial<SessionEvent>,
    cause?: unknown,
  ): void;
  /** How far (ms) another instance's clock may disagree with this engine's now. */
  clockAllowance(): number;
  /** Sample the store's clock again before a decision others must agree on; true when it did. */
  resyncClock(): Promise<boolean>;
}

/** @internal The state and helpers the server-side engine's parts share. */
export class ServerContext {
  /** The resolved options, with the engine's clock as `now`. */
  readonly options: ResolvedOptions;
  readonly records: RecordCodec;
  /** Deletes of records a failed write may still have made, that nobody holds a token for. */
  readonly orphans: FollowUps;
  readonly #hooks: ServerHooks;
  /** Slot tags by user id, under {@link #tagKey}. */
  readonly #tags = new Map<string, string>();
  /** The slot subkey the remembered tags were made with. */
  #tagKey: DerivedKey | null = null;

  constructor(options: ResolvedOptions, hooks: ServerHooks) {
    this.options = options;
    this.#hooks = hooks;
    this.records = new RecordCodec(options);
    this.orphans = new FollowUps((reason, rec) => this.emit('store_error', null, rec, { reason }));
  }

  /** Emit an event (a `store_error` is also logged). */
  emit(
    type: SessionEventType,
    req: RequestInfo | null,
    rec: { handle: string; userId: string | null } | null,
    extra?: Partial<SessionEvent>,
    cause?: unknown,
  ): void {
    this.#hooks.emit(type, req, rec, extra, cause);
  }

  clockAllowance(): number {
    return this.#hooks.clockAllowance();
  }

  resyncClock(): Promise<boolean> {
    return this.#hooks.resyncClock();
  }

  /** Wrap a store call: failures become ERR_STORE_UNAVAILABLE plus a `store_error` event. */
  async io<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      const err = isTesseraError(e) ? e : storeUnavailable(this.options.store.name, e);
      if (err.code === 'ERR_STORE_UNAVAILABLE' || err.code === 'ERR_STORE_CORRUPT') {
        this.emit('store_error', null, null, { reason: err.code }, err);
      }
      throw err;
    }
  }

  /**
   * A new session token. On a store that asks for slot tags (DESIGN decision 10) it carries a
   * keyed one: the user's for a sign-in, else one of its own (from its secret, so that parallel
   * first writes from one pre-session cookie still mint one token); the session's handle then
   * carries the same tag, so its record, handle and family — and a user's index — share a slot.
   */
  mint(
    userId: string | null,
    secret: string = newSecret(),
  ): { token: string; parsed: ParsedToken } {
    const { ring, store } = this.options;
    let tag = '';
    if (store.slotTags === true) {
      tag = userId === null ? visitorSlotTag(ring, secret) : this.slotTag(userId);
    }
    return mintToken(ring, 's', tag, secret);
  }

  /**
   * Whether a signed-in record lives outside its user's slot on a tagging store: it was tagged
   * under another slot subkey (the ring's oldest key has retired since) or by another engine.
   * Such a session is out of reach of its user's index (`revokeAll`, lists, the limit), so it is
   * no session.
   */
  strayed(rec: SessionRecord): boolean {
    return (
      rec.userId !== null &&
      this.options.store.slotTags === true &&
      tagOfId(rec.id) !== this.slotTag(rec.userId)
    );
  }

  /**
   * `slotTagFor(ring, userId)`, remembered for the last {@link SLOT_TAGS} users: it is an HMAC
   * (≈ 4.5 µs), and every load of a signed-in session on a tagging store needs it. The tag
   * depends only on the ring's slot subkey (from its oldest key, which a rotation keeps), so the
   * remembered tags are dropped if the options ever name a ring with another subkey.
   */
  slotTag(userId: string): string {
    const ring = this.options.ring;
    const key = ring.slotKey();
    if (key !== this.#tagKey) {
      this.#tags.clear();
      this.#tagKey = key;
    }
    let tag = this.#tags.get(userId);
    if (tag === undefined) {
      tag = slotTagFor(ring, userId);
      if (this.#tags.size >= SLOT_TAGS) this.#tags.delete(this.#tags.keys().next().value!);
      this.#tags.set(userId, tag);
    }
    return tag;
  }

  /** A new live record (its data still to encode), with both deadlines from `now`. */
  newRecord(
    req: RequestInfo,
    id: string,
    handle: string,
    userId: string | null,
    now: number,
  ): SessionRecord {
    return {
      kind: 'live',
      id,
      handle,
      userId,
      createdAt: now,
      lastSeenAt: now,
      authenticatedAt: userId === null ? null : now,
      ...sessionDeadlines(this.options, now, null),
      createdIp: req.ip ?? null,
      createdUserAgent: req.userAgent ?? null,
      lastIp: req.ip ?? null,
      lastUserAgent: req.userAgent ?? null,
      version: 1,
      data: '',
    };
  }
}
