/**
 * The Redis store's plumbing: the client and its checks, key names, the slot tags of users, the
 * timeout and in-flight bound of every call, and running a script (`EVALSHA`, or `EVAL` on a
 * node that lacks it).
 */
import type { Cluster, Redis } from 'ioredis';
import { TesseraError } from '../../core/errors.js';
import { checkMaxPending } from '../../core/pending-calls.js';
import { CallBounds } from './bounds.js';
import { Keys } from './codec.js';
import { DEFAULTS, type RedisStoreOptions } from './options.js';
import { argv } from './script-args.js';
import type { Script } from './scripts.js';
import { type Reply, USER_TAG } from './session-args.js';

/** Minimal view of the client used here, common to `Redis` and `Cluster`. */
type Client = Redis | Cluster;

/** What {@link RedisCalls.script} sends: the script's key, its slot tag and its arguments. */
export interface ScriptCall<P extends string> {
  /** `KEYS[1]`: the script runs on the node that owns it. */
  key: string;
  /** `ARGV[2]`: the key's slot tag on a Cluster, '' on a standalone server (`loc`). */
  loc: string;
  /** The script's arguments by name (see `argv`). */
  named: Record<P, string | number>;
  /** What follows them (see `argv`). */
  rest?: readonly (string | number)[];
}

const same = <T>(x: T): T => x;

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

/** The connection side of one Redis store: what every store method runs through. */
export class RedisCalls {
  /** The app's client (the store never closes it). */
  readonly client: Client;
  /** Whether the client is a Redis Cluster. */
  readonly cluster: boolean;
  /** The store's key names. */
  readonly keys: Keys;
  readonly #prefix: string;
  readonly #bounds: CallBounds;
  #tagFor: ((userId: string) => string) | null = null;

  /**
   * @param options - the store's options
   * @throws TesseraError `ERR_CONFIG` when the client is missing, the prefix holds `{` or `}`, a
   *   timeout is negative, or the client has ioredis's `keyPrefix` set
   */
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
    this.client = options.client;
    this.cluster = (options.client as { isCluster?: boolean }).isCluster === true;
    this.keys = new Keys(prefix);
    this.#prefix = prefix;
    this.#bounds = new CallBounds({
      timeoutMs: timeout,
      max: checkMaxPending(options.maxPendingCalls ?? DEFAULTS.maxPendingCalls, 'redisStore'),
    });
  }

  useSlotTags(tagFor: (userId: string) => string): void {
    if (typeof tagFor !== 'function') {
      throw new TesseraError('ERR_USAGE', 'redisStore: useSlotTags takes a function');
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

  /**
   * Run a whole store call under the timeout and the in-flight bound, mapping failures to
   * `ERR_STORE_UNAVAILABLE`.
   */
  guard<T>(fn: () => Promise<T>): Promise<T> {
    return this.#bounds.run(fn, same);
  }

  /**
   * One command as one bounded call (see {@link guard}): `send` starts it, `map` makes the
   * answer of its reply; a throw in either rejects the call.
   */
  call<R, T>(send: () => Promise<R>, map: (reply: R) => T): Promise<T> {
    return this.#bounds.run(send, map);
  }

  /**
   * One script as one bounded call (see {@link guard}): `EVALSHA` on the node of the key
   * `prepare` names, then `EVAL` if that node lacks the script. `prepare` checks and names the
   * arguments (a throw rejects the call, with nothing sent); `map` makes the answer of the reply.
   */
  script<P extends string, T>(
    s: Script<P>,
    prepare: () => ScriptCall<P>,
    map: (reply: Reply) => T,
  ): Promise<T> {
    return this.#bounds.run(
      (again) => {
        const { key, loc, named, rest } = prepare();
        const args = argv(s, named, rest);
        const c = this.client;
        return (
          again
            ? c.eval(s.lua, 1, key, this.#prefix, loc, ...args)
            : c.evalsha(s.sha, 1, key, this.#prefix, loc, ...args)
        ) as Promise<Reply>;
      },
      map,
      isNoScript,
    );
  }

  /** The `ARGV[2]` of a script whose key carries `tag`: '' on a standalone server. */
  loc(tag: string): string {
    return this.cluster ? tag : '';
  }

  /** The slot tag of a user's index and epoch (the keyed tag the engine gave). */
  userTag(userId: string): string {
    if (this.#tagFor === null) {
      throw new TesseraError(
        'ERR_USAGE',
        "redisStore: a call that names a user needs the slot tags of the app's key ring: create the engine (createSessions) with this store first, or call store.useSlotTags(userId => slotTagFor(ring, userId))",
      );
    }
    const tag = this.#tagFor(userId);
    if (typeof tag !== 'string' || !USER_TAG.test(tag)) {
      throw new TesseraError(
        'ERR_USAGE',
        'redisStore: a slot tag must be 1 to 12 characters of [A-Za-z0-9_-]',
      );
    }
    return tag;
  }

  /**
   * On a Cluster, refuse a write whose keys would span slots: one script runs in one slot, and
   * a write of a session is one script or it is not atomic (nor safe when another master dies).
   */
  oneSlot(tags: string[]): void {
    if (!this.cluster || tags.every((t) => t === tags[0])) return;
    throw new TesseraError(
      'ERR_USAGE',
      "redisStore: on a Redis Cluster a session's id and handle, and a signed-in session's user, must share one slot tag (the engine mints them so); this write would span slots",
    );
  }

  /**
   * Run a script on `key`'s node: `EVALSHA`, or `EVAL` when the node lacks it.
   * @param named - the script's arguments by name; `rest` what follows them (see `argv`)
   */
  async run<P extends string>(
    s: Script<P>,
    key: string,
    loc: string,
    named: Record<P, string | number>,
    rest: readonly (string | number)[] = [],
  ): Promise<Reply> {
    const args = argv(s, named, rest);
    const c = this.client;
    try {
      return (await c.evalsha(s.sha, 1, key, this.#prefix, loc, ...args)) as Reply;
    } catch (e) {
      if (isNoScript(e)) return (await c.eval(s.lua, 1, key, this.#prefix, loc, ...args)) as Reply;
      throw e;
    }
  }
}
