/**
 * The load path of the server-side engine: from a request's cookie to its {@link Session} —
 * the token's MAC, the store's entry, a rotated-out token's grace or theft signal, expiry, the
 * record's seal, `validate`, the binding signals (User-Agent, IP) and the touch decision.
 * Expected outcomes (no cookie, malformed, forged, unknown, expired) give an anonymous session.
 */
import type { RequestInfo } from '../contract.js';
import { findCookie } from '../cookie.js';
import { isSafeMethod } from '../csrf.js';
import { isTesseraError } from '../errors.js';
import { clientBucket } from '../limiter.js';
import { detached } from '../opened-cache.js';
import { touchDue } from '../rules.js';
import { type ParsedToken, verifyToken } from '../token.js';
import type { SessionData, SessionRecord, StoreEntry } from '../types.js';
import type { ServerContext } from './context.js';
import { Session, type SessionHost } from './session.js';

/** `validate` refused a record's data: delete it, then no session. */
const REFUSED = Symbol('refused');
/** The User-Agent policy revokes the session: delete it, emit `revoked`, then no session. */
const REVOKE_UA = Symbol('revoke-ua');

/**
 * A store's optional synchronous read, duck-typed (the engine imports no store): the memory
 * store's `getNow(id)` returns what `get(id)` resolves to.
 */
interface SyncReads {
  get(id: string): unknown;
  getNow?(id: string): unknown;
}

/**
 * The store's `getNow` when it is the twin of the `get` the engine would call: `get` is the one
 * defined beside `getNow` (on the same object or prototype). A wrapper that replaces `get` alone
 * — a Proxy that instruments or fails reads, a subclass that overrides `get` — keeps every read
 * on its `get`, so the synchronous read never bypasses it.
 */
function syncRead(store: SyncReads): ((id: string) => unknown) | undefined {
  const getNow = store.getNow;
  if (typeof getNow !== 'function') return undefined;
  let owner: object | null = store;
  while (owner !== null && !Object.hasOwn(owner, 'getNow')) owner = Object.getPrototypeOf(owner);
  return owner !== null && (owner as SyncReads).get === store.get ? getNow : undefined;
}

/** How many verified tokens the engine remembers (about 200 B each). */
const VERIFIED_CACHE = 10_000;

/** @internal Loads sessions for one engine. */
export class SessionLoader<Data extends SessionData> {
  readonly #ctx: ServerContext;
  readonly #host: SessionHost<Data>;
  readonly #verified = new Map<string, ParsedToken>();

  constructor(ctx: ServerContext, host: SessionHost<Data>) {
    this.#ctx = ctx;
    this.#host = host;
  }

  /**
   * Load the session a request carries. Expected outcomes (no cookie, malformed, forged, unknown,
   * expired) give an anonymous session, never an error.
   * @throws TesseraError `ERR_STORE_UNAVAILABLE` when the store fails (adapters answer 503)
   */
  async load(req: RequestInfo): Promise<Session<Data>> {
    const begun = this.#begin(req);
    if (begun instanceof Session) return begun;
    if ('reason' in begun) return this.#invalid(req, begun.reason);
    const entry =
      begun.entry !== undefined
        ? begun.entry
        : await this.#ctx.io(this.#ctx.options.store.get(begun.parsed.id));
    return this.#fromEntry(req, begun.parsed, entry);
  }

  /**
   * A cookie value's token, or why it is refused. Verified tokens are remembered (bounded, FIFO):
   * a returning visitor costs a map lookup instead of an HMAC and a SHA-256. Only tokens that
   * passed the MAC check ever enter.
   */
  #parse(value: string): ParsedToken | string {
    let parsed = this.#verified.get(value);
    if (parsed === undefined) {
      // A copy: the cookie value is a slice of the whole Cookie header, which V8 would keep
      // alive with the remembered token and its parts (opened-cache.ts, `detached`).
      const token = detached(value);
      const r = verifyToken(this.#ctx.options.ring, token);
      if (typeof r === 'string') return r;
      parsed = r;
      if (this.#verified.size >= VERIFIED_CACHE)
        this.#verified.delete(this.#verified.keys().next().value as string);
      this.#verified.set(token, parsed);
    }
    return parsed;
  }

  /**
   * The session when no I/O is needed to open it — no cookie, several or a malformed one, a
   * pre-session token, a forged token that the guess limiter will not delay, a live session a
   * store reads synchronously — else `undefined`, with no effect.
   */
  loadNow(req: RequestInfo): Session<Data> | undefined {
    const begun = this.#begin(req);
    return begun instanceof Session ? begun : undefined;
  }

  /**
   * The steps of a load that need no I/O: the session when they settle it, else what the rest
   * of {@link load} needs — the refusal the guess limiter delays, or the token with the store's
   * entry when it was read synchronously (`undefined`: not read yet). Only a settled session
   * has had an effect (events).
   */
  #begin(
    req: RequestInfo,
  ):
    | Session<Data>
    | { reason: string }
    | { parsed: ParsedToken; entry: StoreEntry | null | undefined } {
    const found = findCookie(req.cookie, this.#ctx.options.cookie.name);
    if (found.kind === 'absent')
      return new Session(this.#host, req, 'anonymous', null, null, false);
    if (found.kind !== 'one') return this.#invalidNow(req, found.kind);
    const parsed = this.#parse(found.value);
    if (typeof parsed === 'string')
      return this.#delays(req, parsed) ? { reason: parsed } : this.#invalidNow(req, parsed);
    if (parsed.kind === 'p') return new Session(this.#host, req, 'anonymous', null, parsed, true);
    const entry = this.#getNow(parsed.id);
    if (entry === undefined) return { parsed, entry };
    return this.#fromEntryNow(req, parsed, entry) ?? { parsed, entry };
  }

  /**
   * The store's entry when the store can read it synchronously (the memory store's `getNow`,
   * which returns what `get` resolves to, and only while `get` is its twin: {@link syncRead}),
   * else `undefined`. A store whose `getNow` throws or
   * answers with a promise is read through `get` instead, which reports its failure.
   */
  #getNow(id: string): StoreEntry | null | undefined {
    const store = this.#ctx.options.store as unknown as SyncReads;
    const getNow = syncRead(store);
    if (getNow === undefined) return undefined;
    let entry: unknown;
    try {
      entry = getNow.call(store, id);
    } catch {
      return undefined;
    }
    if (typeof (entry as PromiseLike<unknown> | null)?.then === 'function') {
      // Not a synchronous read after all (a wrapper that makes every method async).
      (entry as Promise<unknown>).then(undefined, () => {});
      return undefined;
    }
    return entry as StoreEntry | null;
  }

  /** Whether the guess limiter takes part in refusing this cookie (its delay is I/O-like). */
  #delays(req: RequestInfo, reason: string): boolean {
    return reason === 'bad_mac' && !!this.#ctx.options.guessLimiter && !!req.ip;
  }

  /** {@link #invalid} for a refusal the guess limiter takes no part in. */
  #invalidNow(req: RequestInfo, reason: string): Session<Data> {
    this.#ctx.emit('token_invalid', req, null, { reason });
    return this.#anonymous(req);
  }

  /**
   * A cookie that opens no session: event, then "no session". Only a token whose MAC fails
   * (`bad_mac`) counts as a guess; a genuine token whose record is gone does not (limiter.ts).
   */
  async #invalid(req: RequestInfo, reason: string): Promise<Session<Data>> {
    if (!this.#delays(req, reason)) return this.#invalidNow(req, reason);
    this.#ctx.emit('token_invalid', req, null, { reason });
    const limiter = this.#ctx.options.guessLimiter;
    if (limiter && req.ip && reason === 'bad_mac') {
      const { delayMs, firstOverLimit } = limiter.hit(
        clientBucket(req.ip),
        this.#ctx.options.now(),
      );
      if (firstOverLimit) this.#ctx.emit('guessing_suspected', req, null, { reason });
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    }
    return this.#anonymous(req);
  }

  #anonymous(req: RequestInfo): Session<Data> {
    const s = new Session(this.#host, req, 'anonymous', null, null, true);
    s._clear = true;
    return s;
  }

  async #fromEntry(
    req: RequestInfo,
    parsed: ParsedToken,
    entry: StoreEntry | null,
    resynced = false,
  ): Promise<Session<Data>> {
    const now = this.#ctx.options.now();
    if (entry === null) return this.#invalid(req, 'unknown');
    if (entry.kind === 'rotated') {
      if (entry.reason === 'regenerate' && now < entry.graceUntil && entry.expiresAt > now) {
        if (!isSafeMethod(req.method)) {
          this.#ctx.emit('token_grace_used', req, entry, { reason: 'unsafe_method' });
          return new Session(this.#host, req, 'anonymous', null, null, true);
        }
        const live = await this.#ctx.io(this.#ctx.options.store.getByHandle(entry.handle));
        if (
          live &&
          live.idleExpiresAt > now &&
          live.absoluteExpiresAt > now &&
          !this.#ctx.strayed(live)
        ) {
          const r = this.#ctx.records.open(live);
          if (r !== null && !r.ok) return this.#corrupt(req, r.reason);
          // With sealed data, the live record's own seal must name this token and its window:
          // the tombstone alone is the store's word (codec.ts).
          if (r === null || (r.grace?.id === entry.id && now < r.grace.until)) {
            this.#ctx.emit('token_grace_used', req, entry);
            const g = new Session(this.#host, req, 'grace', live, parsed, true);
            g._data = r?.value ?? null;
            return g;
          }
          this.#ctx.emit('token_invalid', req, entry, { reason: 'rotated' });
        }
        return this.#anonymous(req);
      }
      // Just past the grace by this instance's clock, but within the skew allowance: by the
      // clock of the instance that rotated it, it may still be inside. Refused, but no theft
      // signal, and the cookie is kept: the client may hold the new token under that name.
      if (
        entry.reason === 'regenerate' &&
        entry.expiresAt > now &&
        now - entry.graceUntil < this.#ctx.clockAllowance()
      ) {
        this.#ctx.emit('token_invalid', req, entry, { reason: 'rotated_skew' });
        return new Session(this.#host, req, 'anonymous', null, null, true);
      }
      if (entry.reason === 'regenerate' && entry.userId !== null && entry.expiresAt > now) {
        // A theft signal revokes the family for every instance: judge it once more on a fresh
        // sample of the store's clock (it may have been stepped since the last one).
        if (!resynced && (await this.#ctx.resyncClock())) {
          return this.#fromEntry(req, parsed, entry, true);
        }
        this.#ctx.emit('theft_suspected', req, entry, { reason: 'rotated_token_reuse' });
        if (this.#ctx.options.theftPolicy === 'revoke') {
          const n = await this.#ctx.io(this.#ctx.options.store.deleteByHandle(entry.handle));
          if (n > 0) this.#ctx.emit('revoked', req, entry, { reason: 'theft' });
        }
      } else {
        this.#ctx.emit('token_invalid', req, entry, {
          reason: entry.reason === 'login' ? 'rotated_by_login' : 'rotated',
        });
      }
      return this.#anonymous(req);
    }
    if (entry.absoluteExpiresAt <= now || entry.idleExpiresAt <= now) {
      // Deleting cannot be undone: before a deletion, judge once more on a fresh sample of the
      // store's clock (it may have been stepped since the last one).
      const due = Math.min(entry.absoluteExpiresAt, entry.idleExpiresAt);
      if (!resynced && now - due >= this.#ctx.clockAllowance() && (await this.#ctx.resyncClock())) {
        return this.#fromEntry(req, parsed, entry, true);
      }
      this.#ctx.emit('expired', req, entry, {
        reason: entry.absoluteExpiresAt <= now ? 'absolute' : 'idle',
      });
      // Deleting ends the session for every instance: only once it is expired by more than the
      // clocks may disagree. Short of that it is not served here (nor is the cookie cleared),
      // and the store's TTL or sweep removes it (DESIGN decision 13).
      const deadline = Math.min(entry.absoluteExpiresAt, entry.idleExpiresAt);
      if (now - deadline < this.#ctx.clockAllowance()) {
        return new Session(this.#host, req, 'anonymous', null, null, true);
      }
      await this.#ctx.io(this.#ctx.options.store.deleteByHandle(entry.handle));
      return this.#anonymous(req);
    }
    const active = this.#active(req, parsed, entry);
    if (active === REFUSED) {
      await this.#ctx.io(this.#ctx.options.store.deleteByHandle(entry.handle));
      return this.#anonymous(req);
    }
    if (active === REVOKE_UA) {
      await this.#ctx.io(this.#ctx.options.store.deleteByHandle(entry.handle));
      this.#ctx.emit('revoked', req, entry, { reason: 'user_agent_changed' });
      return this.#anonymous(req);
    }
    return active;
  }

  /**
   * A live, unexpired record's session when no I/O is needed: the record must not be due for a
   * deletion (expiry), follow-up reads (a rotated token's grace), `validate` (whose refusal
   * deletes) nor a User-Agent revocation. Else `undefined`, with no effect.
   */
  #fromEntryNow(
    req: RequestInfo,
    parsed: ParsedToken,
    entry: StoreEntry | null,
  ): Session<Data> | undefined {
    if (entry === null) return this.#invalidNow(req, 'unknown');
    const now = this.#ctx.options.now();
    if (entry.kind !== 'live' || entry.absoluteExpiresAt <= now || entry.idleExpiresAt <= now)
      return undefined;
    if (this.#ctx.options.validate || this.#revokesUA(req, entry)) return undefined;
    // Neither marker can come back: both were ruled out above.
    return this.#active(req, parsed, entry) as Session<Data>;
  }

  /** Whether the User-Agent policy revokes this record on this request. */
  #revokesUA(req: RequestInfo, entry: SessionRecord): boolean {
    return (
      this.#ctx.options.userAgentPolicy === 'revoke' &&
      entry.lastUserAgent !== null &&
      (req.userAgent ?? null) !== entry.lastUserAgent
    );
  }

  /**
   * The session of a live, unexpired record — the slot tag, the record's seal, `validate`, the
   * binding signals and the touch decision — all without I/O; or what the caller must delete:
   * {@link REFUSED} when `validate` refused the data (`token_invalid` emitted), {@link REVOKE_UA}
   * when the User-Agent policy revokes the session (`user_agent_changed` emitted).
   */
  #active(
    req: RequestInfo,
    parsed: ParsedToken,
    entry: SessionRecord,
  ): Session<Data> | typeof REFUSED | typeof REVOKE_UA {
    if (this.#ctx.strayed(entry)) {
      this.#ctx.emit('token_invalid', req, entry, { reason: 'slot_tag' });
      return this.#anonymous(req);
    }
    const now = this.#ctx.options.now();
    // With encryption on, the record's data is opened now: its seal is what vouches for the
    // record's user, sign-in time and deadlines (codec.ts), so a record that fails to open is
    // no session at all — not a session whose data cannot be read.
    const known = this.#ctx.records.known(entry);
    const s = new Session(this.#host, req, 'active', entry, parsed, true);
    if (known !== undefined) {
      s._grace = known.grace;
    } else {
      const opened = this.#ctx.records.open(entry);
      if (opened !== null && !opened.ok) return this.#corrupt(req, opened.reason);
      if (opened) {
        s._data = opened.value;
        s._grace = opened.grace;
        this.#ctx.records.remember(entry, opened.grace);
      }
    }
    if (this.#ctx.options.validate) {
      try {
        s._data = this.#ctx.options.validate(s._data ?? this.#ctx.records.decode(entry)) as Record<
          string,
          unknown
        >;
      } catch (e) {
        this.#ctx.emit('token_invalid', req, entry, {
          reason: isTesseraError(e, 'ERR_STORE_CORRUPT') ? 'corrupt_data' : 'invalid_data',
        });
        return REFUSED;
      }
    }
    // Binding signals (OWASP Session Management Cheat Sheet, "Binding the Session ID to Other User Properties").
    // A missing User-Agent counts as a change (else omitting it would dodge the check); the
    // touch then records it, so the next request like it is no change.
    const ua = req.userAgent ?? null;
    if (
      this.#ctx.options.userAgentPolicy !== 'off' &&
      ua !== entry.lastUserAgent &&
      entry.lastUserAgent !== null
    ) {
      this.#ctx.emit('user_agent_changed', req, entry);
      if (this.#ctx.options.userAgentPolicy === 'revoke') return REVOKE_UA;
      s._touch = true;
    }
    const ip = req.ip ?? null;
    if (ip !== entry.lastIp && ip !== null) {
      if (this.#ctx.options.ipPolicy === 'event' && entry.lastIp !== null)
        this.#ctx.emit('ip_changed', req, entry);
      s._touch = true;
    }
    if (touchDue(this.#ctx.options, now, entry)) s._touch = true;
    return s;
  }

  /**
   * A record whose data does not open for it: no session. A 0.1.0 record (`legacy`) is an
   * expected upgrade outcome; anything else means the store was written by someone else.
   */
  #corrupt(req: RequestInfo, reason: string): Session<Data> {
    if (reason === 'legacy') {
      this.#ctx.emit('token_invalid', req, null, { reason: 'legacy_data' });
    } else {
      this.#ctx.emit('store_error', req, null, { reason: 'ERR_STORE_CORRUPT' });
      this.#ctx.emit('token_invalid', req, null, { reason: 'corrupt_data' });
    }
    return this.#anonymous(req);
  }
}
