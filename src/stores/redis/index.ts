/**
 * The Redis store (`tessera-session/redis`): sessions in Redis or a Redis Cluster through an
 * injected ioredis client, every multi-key step in one Lua script, native expiry mirroring the
 * records' deadlines. See docs/stores.md for the layout, the costs and what is atomic where.
 * The plumbing is in calls.ts (its time and in-flight bounds in bounds.ts), the scripts'
 * arguments in session-args.ts, the scans in scan.ts, the key-value space in kv.ts.
 */
import { TesseraError } from '../../core/errors.js';
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
import { RedisCalls } from './calls.js';
import { decodeEntry, encodeLive, encodeTombstone, tagOf } from './codec.js';
import { RedisKeySpace } from './kv.js';
import type { RedisStoreOptions } from './options.js';
import { scanPage, scanRecords } from './scan.js';
import { START } from './scan-cursor.js';
import {
  CREATE,
  DELETE,
  DELETE_BY_HANDLE,
  DELETE_BY_USER,
  GET_BY_HANDLE,
  LIST_BY_USER,
  ROTATE,
  SWEEP_ONE,
  TOUCH,
  UPDATE,
} from './scripts.js';
import {
  checkRecordText,
  checkText,
  conflict,
  gateArgs,
  j,
  liveOf,
  px,
  type Reply,
  signInReply,
} from './session-args.js';

export type { RedisStoreOptions } from './options.js';

/** A write script's reply: `{1}` applied, `{0}` not (gone, or another version). */
const applied = (r: Reply): boolean => r[0] === 1;

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

class RedisStore implements SessionStore, KeyValueStore {
  readonly name = 'redis';
  readonly slotTags = true;
  /** The client, key names, slot tags and call bounds (calls.ts). */
  readonly #c: RedisCalls;
  /** The key-value methods (kv.ts). */
  readonly #kv: RedisKeySpace;

  constructor(options: RedisStoreOptions) {
    this.#c = new RedisCalls(options);
    this.#kv = new RedisKeySpace(this.#c);
  }

  useSlotTags(tagFor: (userId: string) => string): void {
    this.#c.useSlotTags(tagFor);
  }

  // ---- sessions --------------------------------------------------------------------------

  get(id: string): Promise<StoreEntry | null> {
    return this.#c.call(
      () => this.#c.client.get(this.#c.keys.record(id)),
      (raw) => (raw === null ? null : decodeEntry(id, raw)),
    );
  }

  getByHandle(handle: string): Promise<SessionRecord | null> {
    return this.#c.guard(async () => {
      const key = this.#c.keys.handle(handle);
      const r = await this.#c.run(GET_BY_HANDLE, key, this.#c.loc(tagOf(handle)), { handle });
      if (r.length < 2) return null;
      const entry = decodeEntry(String(r[0]), String(r[1]));
      return entry.kind === 'live' && entry.handle === handle ? entry : null;
    });
  }

  create(record: SessionRecord, signIn?: SignInOptions): Promise<SignInResult> {
    return this.#c.script(
      CREATE,
      () => {
        checkRecordText(record);
        const { id, handle, userId } = record;
        const tag = tagOf(id);
        const ix = userId === null ? null : this.#c.userTag(userId);
        this.#c.oneSlot([tag, tagOf(handle), ix ?? tag]);
        const check = signIn !== undefined && userId !== null;
        return {
          key: this.#c.keys.record(id),
          loc: this.#c.loc(tag),
          named: {
            id,
            value: encodeLive(record, ix),
            idleAt: px(record.idleExpiresAt),
            handle,
            familyExpiresAt: px(Math.max(record.idleExpiresAt, record.absoluteExpiresAt)),
            userId: userId ?? '',
            userTag: ix ?? '',
            now: String(record.lastSeenAt),
            signIn: check ? '1' : '0',
          },
          rest: check ? gateArgs(record, signIn) : [],
        };
      },
      (r) => {
        if (r[0] === 0 || r[0] === -1) throw conflict(r[0] === -1 ? 'handle' : 'id');
        return { evicted: signInReply(r, signIn?.limit ?? 0) };
      },
    );
  }

  update(id: string, expectedVersion: number, changes: RecordChanges): Promise<boolean> {
    return this.#c.script(
      UPDATE,
      () => {
        checkText('userId', changes.userId);
        const rest: (string | number)[] = [];
        if (changes.userId !== undefined) {
          const ix = changes.userId === null ? null : this.#c.userTag(changes.userId);
          this.#c.oneSlot([tagOf(id), ix ?? tagOf(id)]);
          rest.push(3, j(changes.userId), 14, j(ix));
        }
        if (changes.lastSeenAt !== undefined) rest.push(5, j(changes.lastSeenAt));
        if (changes.authenticatedAt !== undefined) rest.push(6, j(changes.authenticatedAt));
        if (changes.idleExpiresAt !== undefined) rest.push(7, j(changes.idleExpiresAt));
        if (changes.absoluteExpiresAt !== undefined) rest.push(8, j(changes.absoluteExpiresAt));
        if (changes.lastIp !== undefined) rest.push(11, j(changes.lastIp));
        if (changes.lastUserAgent !== undefined) rest.push(12, j(changes.lastUserAgent));
        if (changes.data !== undefined) rest.push(15, changes.data);
        return {
          key: this.#c.keys.record(id),
          loc: this.#c.loc(tagOf(id)),
          named: { id, expectedVersion, now: String(changes.lastSeenAt ?? 0) },
          rest,
        };
      },
      applied,
    );
  }

  touch(id: string, changes: TouchChanges): Promise<boolean> {
    return this.#c.script(
      TOUCH,
      () => ({
        key: this.#c.keys.record(id),
        loc: this.#c.loc(tagOf(id)),
        named: {
          id,
          lastSeenAt: j(changes.lastSeenAt),
          idleExpiresAt: j(changes.idleExpiresAt),
          lastIp: changes.lastIp === undefined ? '' : j(changes.lastIp),
          lastUserAgent: changes.lastUserAgent === undefined ? '' : j(changes.lastUserAgent),
        },
      }),
      applied,
    );
  }

  rotate(
    oldId: string,
    expectedVersion: number,
    next: SessionRecord,
    tombstone: TombstoneRecord | null,
    signIn?: SignInOptions,
  ): Promise<SignInResult | false> {
    return this.#c.guard(async () => {
      checkRecordText(next);
      checkText('userId', tombstone?.userId);
      const tag = tagOf(oldId);
      const nix = next.userId === null ? null : this.#c.userTag(next.userId);
      const tix = tombstone?.userId == null ? null : this.#c.userTag(tombstone.userId);
      this.#c.oneSlot([tag, tagOf(next.id), tagOf(next.handle), nix ?? tag, tix ?? tag]);
      const check = signIn !== undefined && next.userId !== null;
      const r = await this.#c.run(
        ROTATE,
        this.#c.keys.record(oldId),
        this.#c.loc(tag),
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
    return this.#c.guard(async () => {
      const r = await this.#c.run(DELETE, this.#c.keys.record(id), this.#c.loc(tagOf(id)), { id });
      return r[0] === 1;
    });
  }

  deleteByHandle(handle: string): Promise<number> {
    return this.#c.guard(async () => {
      const key = this.#c.keys.handle(handle);
      const r = await this.#c.run(DELETE_BY_HANDLE, key, this.#c.loc(tagOf(handle)), { handle });
      return Number(r[0]);
    });
  }

  listByUser(userId: string, now: number): Promise<SessionRecord[]> {
    return this.#c.guard(async () => {
      checkText('userId', userId);
      const out = await this.#userRecords(userId, now);
      return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    });
  }

  /** The user's live, unexpired records, unordered. */
  async #userRecords(userId: string, now: number): Promise<SessionRecord[]> {
    const ix = this.#c.userTag(userId);
    const pairs = await this.#c.run(LIST_BY_USER, this.#c.keys.user(userId, ix), this.#c.loc(ix), {
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
    return this.#c.guard(async () => {
      checkText('userId', userId);
      const ix = this.#c.userTag(userId);
      const epoch = options.epoch;
      const r = await this.#c.run(DELETE_BY_USER, this.#c.keys.user(userId, ix), this.#c.loc(ix), {
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
    return this.#c.guard(async () => {
      checkText('userId', userId);
      // The key expires natively (PXAT), so what is there is current.
      const raw = await this.#c.client.get(this.#c.keys.epoch(userId, this.#c.userTag(userId)));
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
    return this.#c.guard(async () => {
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
      return scanPage(this.#c, limit, now, cursor);
    });
  }

  count(now: number, userId?: string): Promise<number> {
    return this.#c.guard(async () => {
      checkText('userId', userId);
      if (userId !== undefined) return (await this.#userRecords(userId, now)).length;
      let n = 0;
      await scanRecords(this.#c, START, async (batch) => {
        for (const [key, raw] of batch) {
          if (raw !== null && liveOf(this.#c.keys.idOfRecordKey(key), raw, now) !== null) n++;
        }
        return true;
      });
      return n;
    });
  }

  sweep(now: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    return this.#c.guard(async () => {
      let n = 0;
      if (limit <= 0) return 0;
      await scanRecords(this.#c, START, async (batch) => {
        const expired = batch.filter(([key, raw]) => {
          if (raw === null) return false;
          try {
            const e = decodeEntry(this.#c.keys.idOfRecordKey(key), raw);
            const at =
              e.kind === 'live' ? Math.min(e.idleExpiresAt, e.absoluteExpiresAt) : e.expiresAt;
            return at <= now;
          } catch {
            return false;
          }
        });
        for (const [key] of expired) {
          if (n >= limit) return false;
          const id = this.#c.keys.idOfRecordKey(key);
          const r = await this.#c.run(SWEEP_ONE, key, this.#c.loc(tagOf(id)), {
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

  // ---- shared key-value space: see kv.ts ------------------------------------------------

  kvGet(key: string, now: number): Promise<string | null> {
    return this.#kv.kvGet(key, now);
  }

  kvSet(key: string, value: string, expiresAt: number | null): Promise<void> {
    return this.#kv.kvSet(key, value, expiresAt);
  }

  kvDelete(key: string): Promise<boolean> {
    return this.#kv.kvDelete(key);
  }

  increment(key: string, now: number, windowEndsAt: number): Promise<CounterResult> {
    return this.#kv.increment(key, now, windowEndsAt);
  }

  /** The server's clock: `TIME` (seconds and microseconds), in epoch ms. */
  time(): Promise<number> {
    return this.#c.guard(async () => {
      const [s, us] = await this.#c.client.time();
      return Number(s) * 1000 + Number(us) / 1000;
    });
  }

  async close(): Promise<void> {
    // The client is the app's: closing it is the app's call.
  }
}

export { type ConnectRedisOptions, connectRedis } from './connect.js';
