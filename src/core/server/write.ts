/**
 * The write path of the server-side engine: a request's changes saved at commit — a visitor's
 * first write creates the record, a patch is merged onto the latest stored version by
 * compare-and-set (re-applied with jittered backoff when another writer won), a touch moves the
 * idle deadline. Writes to one session from this process queue behind each other, so
 * compare-and-set conflicts only come from other processes.
 */
import { isTesseraError, TesseraError } from '../errors.js';
import { idleDeadline } from '../rules.js';
import { newHandle } from '../token.js';
import type { SessionData, SessionRecord, SignInResult } from '../types.js';
import type { ServerContext } from './context.js';
import { activate, applyPatch, type Patch, type Session } from './session.js';
import { signedIn, signInOptions, signInRefused } from './sign-in.js';

/** @internal Saves sessions for one engine. */
export class SessionWriter {
  readonly #ctx: ServerContext;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** The last record a queued commit wrote, per handle, while its queue is not empty. */
  readonly #latest = new Map<string, SessionRecord>();

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Run `fn` after every write to `key` (a handle) this process has queued. */
  async #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(key);
    const run = prev ? prev.then(fn, fn) : fn();
    const tail = run.catch(() => {});
    this.#queues.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#queues.get(key) === tail) {
        this.#queues.delete(key);
        this.#latest.delete(key);
      }
    }
  }

  /**
   * Whether {@link save} has anything to write: a patch, or a due touch of a live session
   * (nothing in a grace window or after destroy). A commit that writes nothing needs no I/O.
   */
  writes<Data extends SessionData>(s: Session<Data>): boolean {
    if (s._state === 'destroyed' || s._state === 'grace') return false;
    if (s._patch !== null && s._patch.size > 0) return true;
    return s._state !== 'anonymous' && s._touch;
  }

  /** Write pending data and/or the touch (a no-op in a grace window or after destroy). */
  async save<Data extends SessionData>(s: Session<Data>): Promise<void> {
    if (!this.writes(s)) return;
    const patch = s._patch;
    if (s._state === 'anonymous') {
      if (!patch || patch.size === 0) return;
      if (await this.create(s, null, applyPatch({}, patch))) {
        await this.#serial(s._rec!.handle, () => this.#casPatch(s, patch));
      }
      s._patch = null;
      return;
    }
    if (!patch || patch.size === 0) {
      if (s._touch) await this.#touch(s);
      return;
    }
    // Writes to one session from this process queue behind each other, so compare-and-set
    // conflicts only come from other processes (a crowd of local writers would otherwise spin).
    await this.#serial(s._rec!.handle, () => this.#casPatch(s, patch));
    s._patch = null;
  }

  /**
   * Create a session's record (a visitor's first write, or a sign-in: `userId`) and make `s`
   * that session.
   * @returns true when the create lost to a parallel first write from the same pre-session
   *   cookie and `s` joined the session that one made (its patch must then be merged onto it)
   */
  async create<Data extends SessionData>(
    s: Session<Data>,
    userId: string | null,
    data: Record<string, unknown>,
    handle?: string,
  ): Promise<boolean> {
    const now = this.#ctx.options.now();
    // A visitor's first write keeps the pre-session's secret (so its CSRF token stays valid); a
    // login never does: it always draws a new secret (session fixation, OWASP ASVS V3.2.1).
    const carry = userId === null && s._parsed?.kind === 'p' ? s._parsed.secret : undefined;
    const reserved = userId === null ? s._reserved : null;
    s._reserved = null;
    const { token, parsed } = reserved ?? this.#ctx.mint(userId, carry);
    const h = handle ?? newHandle(parsed.tag); // the handle shares the token's slot tag (Redis Cluster)
    const rec = this.#ctx.newRecord(s._req, parsed.id, h, userId, now);
    // A sign-in is stamped with the moment its request began: a login that verified a password
    // before a revocation is then at or before the user's epoch, and the store refuses it.
    if (userId !== null) rec.authenticatedAt = s._loadedAt;
    rec.data = this.#ctx.records.encode(data, rec);
    let result: SignInResult;
    try {
      const created = this.#ctx.options.store.create(
        rec,
        userId === null ? undefined : signInOptions(this.#ctx),
      );
      // A reserved token's cookie is already sent, and a token carried over from a pre-session
      // cookie is held by the client, who sends it again (a retry then joins the record that
      // landed): neither record is an orphan to delete.
      result = await this.#ctx.io(
        reserved || carry !== undefined
          ? created
          : this.#ctx.orphans.ifUnknown(created, rec, () =>
              this.#ctx.options.store.deleteByHandle(h),
            ),
      );
    } catch (e) {
      if (userId !== null) signInRefused(this.#ctx, s, userId, e);
      // Two parallel first writes from one pre-session cookie mint the same token: the one that
      // lost the create joins the session the other made (its patch is then merged onto it).
      if (!isTesseraError(e, 'ERR_CONFLICT') || (carry === undefined && !reserved)) throw e;
      const existing = await this.#ctx.io(this.#ctx.options.store.get(parsed.id));
      if (existing?.kind !== 'live') throw e;
      activate(s, existing, parsed, null, reserved ? null : token);
      return true;
    }
    if (userId !== null) signedIn(this.#ctx, s, userId, result);
    activate(s, rec, parsed, data, reserved ? null : token);
    this.#ctx.emit('created', s._req, rec);
    return false;
  }

  async #touch<Data extends SessionData>(s: Session<Data>): Promise<void> {
    const rec = s._rec!;
    const now = this.#ctx.options.now();
    const changes = {
      lastSeenAt: now,
      idleExpiresAt: idleDeadline(this.#ctx.options, now, rec.absoluteExpiresAt),
      lastIp: s._req.ip ?? rec.lastIp,
      lastUserAgent: s._req.userAgent ?? null,
    };
    const ok = await this.#ctx.io(this.#ctx.options.store.touch(rec.id, changes));
    s._touch = false;
    if (ok) {
      s._rec = { ...rec, ...changes };
      this.#ctx.emit('touched', s._req, rec);
    }
  }

  async #casPatch<Data extends SessionData>(s: Session<Data>, patch: Patch): Promise<void> {
    let rec = s._rec!;
    const loaded = s._base();
    let base = loaded;
    let grace = s._grace;
    // A commit queued behind another one of this process starts from the version that one wrote,
    // instead of losing a compare-and-set to it and reloading (one round trip instead of three).
    const known = this.#latest.get(rec.handle);
    if (known && known.id === rec.id && known.version > rec.version) {
      rec = known;
      ({ value: base, grace } = this.#ctx.records.decodeFull(known));
    }
    const now = this.#ctx.options.now();
    for (let attempt = 0; attempt <= this.#ctx.options.maxRetries; attempt++) {
      const merged = applyPatch(base, patch);
      // An update changes no bound field: the seal is made for the record as it stands, and
      // keeps the grace its rotated-out token has left (codec.ts).
      const keep = grace !== null && now < grace.until ? grace : null;
      const data = this.#ctx.records.encode(merged, rec, keep);
      const touch = {
        lastSeenAt: now,
        idleExpiresAt: idleDeadline(this.#ctx.options, now, rec.absoluteExpiresAt),
        lastIp: s._req.ip ?? rec.lastIp,
        lastUserAgent: s._req.userAgent ?? null,
      };
      if (
        await this.#ctx.io(this.#ctx.options.store.update(rec.id, rec.version, { data, ...touch }))
      ) {
        if (base !== loaded) {
          // Same-key conflict: another writer changed a key this patch also sets. The later commit
          // wins for plain `set`; `update(fn)` re-applied on the latest value loses nothing.
          const keys = [...patch.entries()]
            .filter(([k, p]) => !('fn' in p) && !sameJSON(base[k], loaded[k]))
            .map(([k]) => k);
          if (keys.length > 0) this.#ctx.emit('conflict', s._req, rec, { keys });
        }
        s._rec = { ...rec, ...touch, data, version: rec.version + 1 };
        s._data = merged;
        s._grace = keep;
        s._touch = false;
        if (this.#queues.has(rec.handle)) this.#latest.set(rec.handle, s._rec);
        this.#ctx.emit('updated', s._req, rec, { keys: [...patch.keys()] });
        return;
      }
      // Lost the compare-and-set: reload the latest version (following a concurrent rotation by handle).
      const entry = await this.#ctx.io(this.#ctx.options.store.get(rec.id));
      let latest: SessionRecord | null = entry?.kind === 'live' ? entry : null;
      // Follow a concurrent rotation only when it kept the same user (a regenerate or re-auth):
      // a write begun before a sign-in or an account switch must not land in the new session.
      if (entry?.kind === 'rotated' && entry.reason === 'regenerate') {
        const next = await this.#ctx.io(this.#ctx.options.store.getByHandle(entry.handle));
        latest = next && next.userId === rec.userId ? next : null;
      }
      if (!latest) {
        // Destroyed or revoked meanwhile: nothing to write to, and the cookie is dead.
        s._state = 'anonymous';
        s._rec = null;
        s._clear = true;
        return;
      }
      rec = latest;
      ({ value: base, grace } = this.#ctx.records.decodeFull(rec));
      // Jittered exponential backoff spreads out a crowd of writers to one session.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
    }
    throw new TesseraError(
      'ERR_CONFLICT',
      `Session data kept changing under ${this.#ctx.options.maxRetries} retries.`,
    );
  }
}

function sameJSON(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
