/**
 * The Redis store's options and their defaults.
 */
import type { Cluster, Redis } from 'ioredis';

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

export const DEFAULTS = {
  prefix: 'tessera:',
  commandTimeoutMs: 2000,
  maxPendingCalls: 1000,
} as const;

/** Keys examined per `SCAN` step of `list`, `count` and `sweep`. */
export const SCAN_COUNT = 500;
