/**
 * The Redis store (`tessera-session/redis`): sessions in Redis or a Redis Cluster through an
 * injected ioredis client, every multi-key step in one Lua script, native expiry mirroring the
 * records' deadlines. See docs/stores.md for the layout, the costs and what is atomic where.
 */
import type { Cluster, Redis } from 'ioredis';
import { TesseraError } from '../../core/errors.js';
import { checkStoreString } from '../../core/ids.js';
import { checkMaxPending, PendingCalls } from '../../core/pending-calls.js';
import { sessionLimitReached, signInRevoked } from '../../core/revocation.js';
import type {
  CounterResult,
  DeleteByUserOptions,
  KeyValueStore,
  ListOptions,
  ListResult,
  RecordChanges,
  SessionRecord,
  SessionStore,
  SignInOptions,
  SignInResult,
  StoreEntry,
  TombstoneRecord,
  TouchChanges,
} from '../../core/types.js';
import { decodeEntry, encodeLive, encodeTombstone, Keys, SEP, tagOf } from './codec.js';
import { decodeCursor, encodeCursor, type ScanPos, START } from './scan-cursor.js';
import { argv } from './script-args.js';
import {
  CREATE,
  DELETE,
  DELETE_BY_HANDLE,
  DELETE_BY_USER,
  GET_BY_HANDLE,
  INCREMENT,
  LIST_BY_USER,
  ROTATE,
  type Script,
  SWEEP_ONE,
  TOUCH,
  UPDATE,
} from './scripts.js';

/** Options for {@link redisStore}. */
export interface RedisStoreOptions {
  /** The app's ioredis client: a `Redis` or a `Cluster`. The store never closes it. */
  client: Redis | Cluster;
  /**
   * Prefix of every key the store writes. Must not contain `{` or `}` (Cluster hash tags).
   * @default 'tessera:'
   */
  prefix?: string;
  /**
   * Bound on each store call (all its round trips), in ms; past it the call rejects with
   * `ERR_STORE_UNAVAILABLE`. `0` leaves timing to the client.
   * @default 2000
   */
  commandTimeoutMs?: number;
  /**
   * Calls in flight at most: a call counts until the client settles it (an answer, or the
   * connection closing), not only until it times out, because until then the client keeps its
   * command queued. Past the bound a call fails at once with `ERR_STORE_UNAVAILABLE` and sends
   * nothing, so a hung server costs bounded memory. `Infinity` turns the bound off.
   * @default 1000
   */
  maxPendingCalls?: number;
}

const DEFAULTS = { prefix: 'tessera:', commandTimeoutMs: 2000, maxPendingCalls: 1000 } as const;

/** Keys examined per `SCAN` step of `list`, `count` and `sweep`. */
const SCAN_COUNT = 500;

/**
 * Create a store on Redis or Redis Cluster.
 *
 * A read (`get`) is one `GET`; creating, touching, saving, rotating and deleting a session is
 * one `EVALSHA` each, on a standalone server and on a Cluster alike: a session's record, handle
 * and family, and a signed-in user's index and epoch, share one slot tag (the engine mints ids
 * and handles so, and gives the store the keyed tag of each user through `useSlotTags`), so a
 * master's death touches only the sessions in its slots. Expiry is native (`PXAT` on the idle
 * deadline, and on a tombstone's `expiresAt`); `sweep` only finds what the server clock has not
 * yet expired.
 *
 * @param options - the client, key prefix and call timeout; see {@link RedisStoreOptions}
 * @returns a {@link SessionStore} named `redis`
 * @throws TesseraError `ERR_CONFIG` when the client is missing or the prefix holds `{` or `}`;
 *   from a call that names a user before `useSlotTags` (the engine calls it); on a Cluster,
 *   from a write whose keys would span slots
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { redisStore } from 'tessera-session/redis';
 * const store = redisStore({ client: new Redis(process.env.REDIS_URL!) });
 * ```
 */
export function redisStore(options: RedisStoreOptions): SessionStore & KeyValueStore {
  return new RedisStore(options);
}

function conflict(what: string): TesseraError {
  return new TesseraError('ERR_CONFLICT', `redisStore: a session with this ${what} exists`);
}

/** A `PXAT` argument: a positive integer (Redis refuses 0, negatives and fractions). */
function px(t: number): string {
  return String(Math.max(1, Math.ceil(t)));
}

const j = JSON.stringify;

/** What a user's slot tag may be: what `tagOf` reads back from `tag.rest`. */
const USER_TAG = /^[A-Za-z0-9_-]{1,12}$/;

/**
 * Refuse a string Redis could not keep exactly: ioredis sends strings as UTF-8, where an
 * unpaired surrogate becomes U+FFFD (another id), and the scripts' JSON decoder fails on it.
 */
function checkText(field: string, value: string | null | undefined): void {
  checkStoreString('redis', field, value);
}

function checkRecordText(r: SessionRecord): void {
  checkText('id', r.id);
  checkText('handle', r.handle);
  checkText('userId', r.userId);
}

/** What a sign-in script answered: evicted handles, or a refusal as the error to throw. */
function signInReply(r: Reply, limit: number): string[] {
  if (r[0] === -3) throw signInRevoked();
  if (r[0] === -4) throw sessionLimitReached(limit);
  return r.slice(2, 2 + Number(r[1])).map(String);
}

/** The arguments of the sign-in checks, in the order `gate` in scripts/lib.ts reads them. */
function gateArgs(record: SessionRecord, o: SignInOptions): string[] {
  return [
    String(Math.max(0, Math.floor(o.limit))),
    o.policy === 'reject' ? 'r' : 'e',
    String(o.now),
    record.authenticatedAt === null ? '' : String(record.authenticatedAt),
    record.handle,
  ];
}

/**
 * Whether a failed `EVALSHA` met a node without the script (it then did nothing): a `NOSCRIPT`
 * reply, or one that ioredis's Cluster client wrapped — `Too many Cluster redirections. Last
 * error: ReplyError: NOSCRIPT …` when the redirections of a fail-over used up its budget, or an
 * error whose `lastNodeError` (or `cause`) is one.
 */
function isNoScript(e: unknown): boolean {
  let x: unknown = e;
  for (let depth = 0; x instanceof Error && depth < 4; depth++) {
    if (/^(?:ReplyError: )?NOSCRIPT\b/.test(x.message)) return true;
    if (/^Too many Cluster redirections\..*\bNOSCRIPT\b/s.test(x.message)) return true;
    x = (x as { lastNodeError?: unknown }).lastNodeError ?? x.cause;
  }
  return false;
}

/** Minimal view of the client used here, common to `Redis` and `Cluster`. */
type Client = Redis | Cluster;

type Reply = (string | number | null)[];

class RedisStore implements SessionStore, KeyValueStore {
  readonly name = 'redis';
  readonly slotTags = true;
  readonly #client: Client;
  readonly #cluster: boolean;
  readonly #keys: Keys;
  readonly #prefix: string;
  readonly #calls: PendingCalls;
  #tagFor: ((userId: string) => string) | null = null;

  constructor(options: RedisStoreOptions) {
    // An ioredis client has a `client()` method (the CLIENT command): redisStore(client) used to
    // pass a check on `options.client`, and every call then failed with 503. Ask for an object.
    const client = (options as { client?: unknown } | null)?.client;
    if (
      options === null ||
      typeof options !== 'object' ||
      client === null ||
      typeof client !== 'object'
    ) {
      const bare = typeof (options as { evalsha?: unknown } | null)?.evalsha === 'function';
      throw new TesseraError(
        'ERR_CONFIG',
        `redisStore: pass { client }, an ioredis Redis or Cluster instance (see connectRedis)${bare ? ': you passed the client itself, write redisStore({ client })' : typeof client === 'string' ? ': client is a string, connect first with await connectRedis(url)' : ''}`,
      );
    }
    const prefix = options.prefix ?? DEFAULTS.prefix;
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new TesseraError(
        'ERR_CONFIG',
        'redisStore: prefix must be a string without `{` or `}` (they would change Cluster slots)',
      );
    }
    const timeout = options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs;
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw new TesseraError('ERR_CONFIG', 'redisStore: commandTimeoutMs must be a number >= 0');
    }
    // ioredis's keyPrefix renames declared keys only, not those the scripts derive: refuse it.
    if ((options.client as { options?: { keyPrefix?: string } }).options?.keyPrefix) {
      throw new TesseraError(
        'ERR_CONFIG',
        "redisStore: the client has ioredis's keyPrefix option set; use a client without it and pass { prefix } to redisStore instead",
      );
    }
    this.#client = options.client;
    this.#cluster = (options.client as { isCluster?: boolean }).isCluster === true;
    this.#keys = new Keys(prefix);
    this.#prefix = prefix;
    this.#calls = new PendingCalls('redis', {
      timeoutMs: timeout,
      max: checkMaxPending(options.maxPendingCalls ?? DEFAULTS.maxPendingCalls, 'redisStore'),
    });
  }

  useSlotTags(tagFor: (userId: string) => string): void {
    if (typeof tagFor !== 'function') {
      throw new TesseraError('ERR_CONFIG', 'redisStore: useSlotTags takes a function');
    }
    // Two engines on one store must agree, or one's users would be indexed where the other's
    // sessions are not. Any user id tells: the tags of two key rings differ for nearly all.
    const probe = '\u0000tessera-slot-probe';
    if (this.#tagFor !== null && this.#tagFor(probe) !== tagFor(probe)) {
      throw new TesseraError(
        'ERR_CONFIG',
        'redisStore: this store already serves an engine whose key ring gives other slot tags; use one key ring (one oldest key) for every engine on a store',
      );
    }
    this.#tagFor = tagFor;
  }

  // ---- plumbing --------------------------------------------------------------------------

  /**
   * Run a whole store call under the timeout and the in-flight bound, mapping failures to
   * `ERR_STORE_UNAVAILABLE`.
   */
  #guard<T>(fn: () => Promise<T>): Promise<T> {
    return this.#calls.run(fn);
  }

  /** The `ARGV[2]` of a script whose key carries `tag`: '' on a standalone server. */
  #loc(tag: string): string {
    return this.#cluster ? tag : '';
  }

  /** The slot tag of a user's index and epoch (the keyed tag the engine gave). */
  #userTag(userId: string): string {
    if (this.#tagFor === null) {
      throw new TesseraError(
        'ERR_CONFIG',
        "redisStore: a call that names a user needs the slot tags of the app's key ring: create the engine (createSessions) with this store first, or call store.useSlotTags(userId => slotTagFor(ring, userId))",
      );
    }
    const tag = this.#tagFor(userId);
    if (typeof tag !== 'string' || !USER_TAG.test(tag)) {
      throw new TesseraError(
        'ERR_CONFIG',
        'redisStore: a slot tag must be 1 to 12 characters of [A-Za-z0-9_-]',
      );
    }
    return tag;
  }

  /**
   * On a Cluster, refuse a write whose keys would span slots: one script runs in one slot, and
   * a write of a session is one script or it is not atomic (nor safe when another master dies).
   */
  #oneSlot(tags: string[]): void {
    if (!this.#cluster || tags.every((t) => t === tags[0])) return;
    throw new TesseraError(
      'ERR_CONFIG',
      "redisStore: on a Redis Cluster a session's id and handle, and a signed-in session's user, must share one slot tag (the engine mints them so); this write would span slots",
    );
  }

  /**
   * Run a script on `key`'s node: `EVALSHA`, or `EVAL` when the node lacks it.
   * @param named - the script's arguments by name; `rest` what follows them (see `argv`)
   */
  async #run<P extends string>(
    s: Script<P>,
    key: string,
    loc: string,
    named: Record<P, string | number>,
    rest: readonly (string | number)[] = [],
  ): Promise<Reply> {
    const args = argv(s, named, rest);
    const c = this.#client;
    try {
      return (await c.evalsha(s.sha, 1, key, this.#prefix, loc, ...args)) as Reply;
    } catch (e) {
      if (isNoScript(e)) return (await c.eval(s.lua, 1, key, this.#prefix, loc, ...args)) as Reply;
      throw e;
    }
  }

  // ---- sessions --------------------------------------------------------------------------

  get(id: string): Promise<StoreEntry | null> {
    return this.#guard(async () => {
      const raw = await this.#client.get(this.#keys.record(id));
      return raw === null ? null : decodeEntry(id, raw);
    });
  }

  getByHandle(handle: string): Promise<SessionRecord | null> {
    return this.#guard(async () => {
      const key = this.#keys.handle(handle);
      const r = await this.#run(GET_BY_HANDLE, key, this.#loc(tagOf(handle)), { handle });
      if (r.length < 2) return null;
      const entry = decodeEntry(String(r[0]), String(r[1]));
      return entry.kind === 'live' && entry.handle === handle ? entry : null;
    });
  }

  create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    return this.#guard(async () => {
      checkRecordText(record);
      const { id, handle, userId } = record;
      const tag = tagOf(id);
      const ix = userId === null ? null : this.#userTag(userId);
      this.#oneSlot([tag, tagOf(handle), ix ?? tag]);
      const idle = px(record.idleExpiresAt);
      const check = signIn !== undefined && userId !== null;
      const r = await this.#run(
        CREATE,
        this.#keys.record(id),
        this.#loc(tag),
        {
          id,
          value: encodeLive(record, ix),
          idleAt: idle,
          handle,
          familyExpiresAt: px(Math.max(record.idleExpiresAt, record.absoluteExpiresAt)),
          userId: userId ?? '',
          userTag: ix ?? '',
          now: String(record.lastSeenAt),
          signIn: check ? '1' : '0',
        },
        check ? gateArgs(record, signIn) : [],
      );
      if (r[0] === 0 || r[0] === -1) throw conflict(r[0] === -1 ? 'handle' : 'id');
      return { evicted: signInReply(r, signIn?.limit ?? 0) };
    });
  }

  update(id: string, expectedVersion: number, changes: RecordChanges): Promise<boolean> {
    return this.#guard(async () => {
      checkText('userId', changes.userId);
      const args: (string | number)[] = [];
      if (changes.userId !== undefined) {
        const ix = changes.userId === null ? null : this.#userTag(changes.userId);
        this.#oneSlot([tagOf(id), ix ?? tagOf(id)]);
        args.push(3, j(changes.userId), 14, j(ix));
      }
      if (changes.lastSeenAt !== undefined) args.push(5, j(changes.lastSeenAt));
      if (changes.authenticatedAt !== undefined) args.push(6, j(changes.authenticatedAt));
      if (changes.idleExpiresAt !== undefined) args.push(7, j(changes.idleExpiresAt));
      if (changes.absoluteExpiresAt !== undefined) args.push(8, j(changes.absoluteExpiresAt));
      if (changes.lastIp !== undefined) args.push(11, j(changes.lastIp));
      if (changes.lastUserAgent !== undefined) args.push(12, j(changes.lastUserAgent));
      if (changes.data !== undefined) args.push(15, changes.data);
      const named = { id, expectedVersion, now: String(changes.lastSeenAt ?? 0) };
      const r = await this.#run(UPDATE, this.#keys.record(id), this.#loc(tagOf(id)), named, args);
      return r[0] === 1;
    });
  }

  touch(id: string, changes: TouchChanges): Promise<boolean> {
    return this.#guard(async () => {
      const r = await this.#run(TOUCH, this.#keys.record(id), this.#loc(tagOf(id)), {
        id,
        lastSeenAt: j(changes.lastSeenAt),
        idleExpiresAt: j(changes.idleExpiresAt),
        lastIp: changes.lastIp === undefined ? '' : j(changes.lastIp),
        lastUserAgent: changes.lastUserAgent === undefined ? '' : j(changes.lastUserAgent),
      });
      return r[0] === 1;
    });
  }

  rotate(
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
    signIn?: SignInOptions,
  ): Promise<SignInResult | false> {
    return this.#guard(async () => {
      checkRecordText(next);
      checkText('userId', tombstone?.userId);
      const tag = tagOf(oldId);
      const nix = next.userId === null ? null : this.#userTag(next.userId);
      const tix = tombstone?.userId == null ? null : this.#userTag(tombstone.userId);
      this.#oneSlot([tag, tagOf(next.id), tagOf(next.handle), nix ?? tag, tix ?? tag]);
      const check = signIn !== undefined && next.userId !== null;
      const r = await this.#run(
        ROTATE,
        this.#keys.record(oldId),
        this.#loc(tag),
        {
          oldId,
          expectedVersion,
          nextId: next.id,
          nextValue: encodeLive(next, nix),
          nextIdleAt: px(next.idleExpiresAt),
          nextHandle: next.handle,
          nextUserId: next.userId ?? '',
          nextUserTag: nix ?? '',
          familyExpiresAt: px(
            Math.max(next.idleExpiresAt, next.absoluteExpiresAt, tombstone?.expiresAt ?? 0),
          ),
          tombValue: tombstone === null ? '' : encodeTombstone(tombstone, tix),
          tombExpiresAt: tombstone === null ? '0' : px(tombstone.expiresAt),
          tombUserId: tombstone?.userId ?? '',
          tombUserTag: tix ?? '',
          now: String(next.lastSeenAt),
          signIn: check ? '1' : '0',
        },
        check ? gateArgs(next, signIn) : [],
      );
      if (r[0] === 0) return false;
      if (r[0] === -1) throw conflict('id');
      if (r[0] === -2) throw conflict('handle');
      return { evicted: signInReply(r, signIn?.limit ?? 0) };
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#guard(async () => {
      const r = await this.#run(DELETE, this.#keys.record(id), this.#loc(tagOf(id)), { id });
      return r[0] === 1;
    });
  }

  deleteByHandle(handle: string): Promise<number> {
    return this.#guard(async () => {
      const key = this.#keys.handle(handle);
      const r = await this.#run(DELETE_BY_HANDLE, key, this.#loc(tagOf(handle)), { handle });
      return Number(r[0]);
    });
  }

  listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    return this.#guard(async () => {
      checkText('userId', userId);
      const out = await this.#userRecords(userId, now);
      return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    });
  }

  /** The user's live, unexpired records, unordered. */
  async #userRecords(userId: string, now: number): Promise<SessionRecord[]> {
    const ix = this.#userTag(userId);
    const pairs = await this.#run(LIST_BY_USER, this.#keys.user(userId, ix), this.#loc(ix), {
      now: String(now),
    });
    const out: SessionRecord[] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const raw = pairs[i + 1];
      const r = typeof raw === 'string' && raw !== '' ? liveOf(String(pairs[i]), raw, now) : null;
      if (r !== null && r.userId === userId) out.push(r);
    }
    return out;
  }

  deleteByUser(userId: string, options: DeleteByUserOptions = {}): Promise<number> {
    return this.#guard(async () => {
      checkText('userId', userId);
      const ix = this.#userTag(userId);
      const epoch = options.epoch;
      const r = await this.#run(DELETE_BY_USER, this.#keys.user(userId, ix), this.#loc(ix), {
        userId,
        exceptHandle: options.exceptHandle ?? '',
        userTag: ix,
        epochAt: epoch === undefined ? '' : String(Math.floor(epoch.at)),
        epochExpiresAt: epoch === undefined ? '0' : px(epoch.expiresAt),
      });
      return Number(r[0]);
    });
  }

  getRevocationEpoch(userId: string, _now: number): Promise<number | null> {
    return this.#guard(async () => {
      checkText('userId', userId);
      // The key expires natively (PXAT), so what is there is current.
      const raw = await this.#client.get(this.#keys.epoch(userId, this.#userTag(userId)));
      if (raw === null) return null;
      const at = Number(raw);
      if (!Number.isSafeInteger(at)) {
        throw new TesseraError(
          'ERR_STORE_CORRUPT',
          'redisStore: a revocation epoch is not a number',
        );
      }
      return at;
    });
  }

  list(options: ListOptions): Promise<ListResult> {
    return this.#guard(async () => {
      const { now, userId, cursor } = options;
      checkText('userId', userId);
      const limit = Math.min(1000, Math.max(1, Math.floor(options.limit)));
      if (userId !== undefined) {
        // One user's sessions come from the index, ordered by id; the cursor is the last id.
        const all = (await this.#userRecords(userId, now))
          .filter((r) => cursor === undefined || r.id > cursor)
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        const records = all.slice(0, limit);
        const last = records[records.length - 1];
        return { records, nextCursor: all.length > limit && last ? last.id : null };
      }
      return this.#scanPage(limit, now, cursor);
    });
  }

  /**
   * A page of every live, unexpired record by `SCAN` (node by node on a Cluster). The cursor
   * names the node, the `SCAN` cursor of the batch and the last key returned from it; a batch
   * re-read after a resize of the server's table may repeat a record but never skips one.
   */
  async #scanPage(limit: number, now: number, cursor?: string): Promise<ListResult> {
    const page = { pos: decodeCursor(cursor), more: false };
    const records: SessionRecord[] = [];
    await this.#scan(page.pos, async (batch, at) => {
      for (const [key, raw] of batch) {
        const r = raw === null ? null : liveOf(this.#keys.idOfRecordKey(key), raw, now);
        if (r === null) continue;
        if (records.length >= limit) {
          // One more exists: the page is full and the next one starts after its last record.
          page.more = true;
          return false;
        }
        records.push(r);
        page.pos = { ...at, last: key };
      }
      return true;
    });
    return { records, nextCursor: page.more ? encodeCursor(page.pos) : null };
  }

  /**
   * Visit record keys with their values from `from`, batch by batch, until `visit` returns
   * false or every node is done.
   */
  async #scan(
    from: ScanPos,
    visit: (batch: [string, string | null][], at: ScanPos) => Promise<boolean>,
  ): Promise<void> {
    const nodes = this.#nodes();
    const pattern = this.#keys.recordPattern();
    for (let n = from.node; n < nodes.length; n++) {
      let c = n === from.node ? from.cursor : '0';
      let skipThrough = n === from.node ? from.last : null;
      do {
        const [nextCursor, keys] = await nodes[n]!.scan(c, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        let todo = keys;
        if (skipThrough !== null) {
          const i = keys.indexOf(skipThrough);
          if (i >= 0) todo = keys.slice(i + 1);
          skipThrough = null;
        }
        const values = await this.#getMany(todo);
        const batch = todo.map((k, i): [string, string | null] => [k, values[i] ?? null]);
        if (!(await visit(batch, { node: n, cursor: c, last: null }))) return;
        c = nextCursor;
      } while (c !== '0');
    }
  }

  /** Values of many record keys: one `MGET` standalone, one `GET` each on a Cluster. */
  async #getMany(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    if (!this.#cluster) return this.#client.mget(keys);
    return Promise.all(keys.map((k) => this.#client.get(k)));
  }

  /** The nodes to `SCAN`, in a stable order. */
  #nodes(): Redis[] {
    if (!this.#cluster) return [this.#client as Redis];
    return (this.#client as Cluster)
      .nodes('master')
      .map((n) => ({ n, id: `${n.options.host}:${n.options.port}` }))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((x) => x.n);
  }

  count(now: number, userId?: string): Promise<number> {
    return this.#guard(async () => {
      checkText('userId', userId);
      if (userId !== undefined) return (await this.#userRecords(userId, now)).length;
      let n = 0;
      await this.#scan(START, async (batch) => {
        for (const [key, raw] of batch) {
          if (raw !== null && liveOf(this.#keys.idOfRecordKey(key), raw, now) !== null) n++;
        }
        return true;
      });
      return n;
    });
  }

  sweep(now: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    return this.#guard(async () => {
      let n = 0;
      if (limit <= 0) return 0;
      await this.#scan(START, async (batch) => {
        const expired = batch.filter(([key, raw]) => {
          if (raw === null) return false;
          try {
            const e = decodeEntry(this.#keys.idOfRecordKey(key), raw);
            const at =
              e.kind === 'live' ? Math.min(e.idleExpiresAt, e.absoluteExpiresAt) : e.expiresAt;
            return at <= now;
          } catch {
            return false;
          }
        });
        for (const [key] of expired) {
          if (n >= limit) return false;
          const id = this.#keys.idOfRecordKey(key);
          const r = await this.#run(SWEEP_ONE, key, this.#loc(tagOf(id)), {
            id,
            now: String(now),
          });
          if (r[0] === 1) n++;
        }
        return n < limit;
      });
      return n;
    });
  }

  // ---- shared key-value space --------------------------------------------------------------

  kvGet(key: string, now: number): Promise<string | null> {
    return this.#guard(async () => {
      const raw = await this.#client.get(this.#keys.kv(key)).catch(nullOnWrongType);
      if (raw === null) return null;
      const at = raw.indexOf(SEP);
      if (at < 0) return null;
      const exp = raw.slice(0, at);
      if (exp !== '' && Number(exp) <= now) return null;
      return raw.slice(at + 1);
    });
  }

  kvSet(key: string, value: string, expiresAt: number | null): Promise<void> {
    return this.#guard(async () => {
      const k = this.#keys.kv(key);
      if (expiresAt === null) await this.#client.set(k, `${SEP}${value}`);
      else await this.#client.set(k, `${j(expiresAt)}${SEP}${value}`, 'PXAT', px(expiresAt));
    });
  }

  kvDelete(key: string): Promise<boolean> {
    return this.#guard(async () => (await this.#client.del(this.#keys.kv(key))) > 0);
  }

  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult> {
    return this.#guard(async () => {
      const k = this.#keys.kv(key);
      const r = await this.#run(INCREMENT, k, '', {
        now: String(now),
        windowEndsAt: j(windowEndsAt),
        windowEndsAtPx: px(windowEndsAt),
      });
      return { count: Number(r[0]), expiresAt: Number(r[1]) };
    });
  }

  /** The server's clock: `TIME` (seconds and microseconds), in epoch ms. */
  time(): Promise<number> {
    return this.#guard(async () => {
      const [s, us] = await this.#client.time();
      return Number(s) * 1000 + Number(us) / 1000;
    });
  }

  async close(): Promise<void> {
    // The client is the app's: closing it is the app's call.
  }
}

/** The live, unexpired record in `raw`, or null (tombstone, expired or unreadable). */
function liveOf(id: string, raw: string, now: number): SessionRecord | null {
  let e: StoreEntry;
  try {
    e = decodeEntry(id, raw);
  } catch {
    return null;
  }
  if (e.kind !== 'live' || e.idleExpiresAt <= now || e.absoluteExpiresAt <= now) return null;
  return e;
}

/**
 * A Redis list under a key (a `KeyValueStore` list, which an earlier version wrote) reads as
 * nothing: values and counters are strings, and `kvSet` or `increment` replaces the list.
 */
function nullOnWrongType(e: unknown): null {
  if (e instanceof Error && e.message.startsWith('WRONGTYPE')) return null;
  throw e;
}

export { type ConnectRedisOptions, connectRedis } from './connect.js';
