/**
 * Connecting to Redis or a Redis Cluster from a URL: an ioredis client with bounded timeouts,
 * checked before the store uses it.
 */
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { checkNonNegative, TesseraError } from '../../core/errors.js';
import { checkRedisUrl, connectFailure, verifyDatabase } from './connect-checks.js';

/** Options for {@link connectRedis}. */
export interface ConnectRedisOptions {
  /**
   * How long to wait for the first connection, in ms.
   * @default 2000
   */
  connectTimeoutMs?: number;
  /**
   * Drop a connection on which commands wait and nothing has arrived for this long, in ms, and
   * make a new one (ioredis's `socketTimeout`). Dropping it fails every command queued on it at
   * once, which is what frees their memory: a command that only timed out stays queued until the
   * server answers. Keep it above the store's `commandTimeoutMs` and above your slowest command.
   * `0` turns it off.
   * @default 5000
   */
  socketTimeoutMs?: number;
  /**
   * Idle time before TCP keepalive probes start on each connection, in ms (finds a peer that
   * vanished while no command was waiting).
   * @default 10000
   */
  keepAliveMs?: number;
  /** Extra ioredis options, merged over the fail-fast defaults (standalone and Cluster nodes). */
  redis?: RedisOptions;
  /** Extra ioredis Cluster options (Cluster URLs only). */
  cluster?: ClusterOptions;
}

/**
 * Connect to Redis or a Redis Cluster with ioredis (an optional peer dependency, loaded here).
 *
 * URLs: `redis://[user:password@]host:port[/db]` (`rediss://` for TLS) for one server;
 * `redis+cluster://[user:password@]host1:port1,host2:port2` (`rediss+cluster://` for TLS) for a
 * Cluster, listing one or more seed nodes. The client fails fast while Redis is down (no offline
 * queue, no automatic re-send of unanswered commands after a reconnect) and reconnects on its
 * own, backing off up to 500 ms between attempts. A connection on which commands wait without
 * any answer for `socketTimeoutMs` (a hung server, a silent network partition) is dropped and
 * made again, failing what waited on it. A command that was sent may still be applied when a
 * hung server resumes: a failed write's outcome is unknown (see docs/operations.md).
 *
 * Every part of the URL is checked before connecting: the path is a database number (0 on a
 * Cluster), the query holds only `db`, `password`, `username`, `family`, `connectionName`, there
 * is a host and no fragment. After connecting, a database other than 0 is selected once more and
 * a refusal fails: ioredis would otherwise stay in database 0 without a word.
 *
 * @param url - the server or Cluster URL
 * @param options - connect timeout and extra ioredis options; see {@link ConnectRedisOptions}
 * @returns a connected `Redis` or `Cluster`; the caller owns it (`quit()` it on shutdown)
 * @throws TesseraError `ERR_CONFIG` when ioredis is not installed, a part of the URL is wrong or
 *   the server has no such database (the message names the URL, password hidden);
 *   `ERR_STORE_UNAVAILABLE` when the first connection fails (naming `host:port` and the cause,
 *   e.g. `ECONNREFUSED`)
 * @example
 * ```ts
 * const client = await connectRedis('redis+cluster://10.0.0.1:6379,10.0.0.2:6379');
 * const store = redisStore({ client });
 * ```
 */
export async function connectRedis(
  url: string,
  options: ConnectRedisOptions = {},
): Promise<Redis | Cluster> {
  let mod: { Redis: typeof Redis; Cluster: typeof Cluster };
  try {
    mod = (await import('ioredis')) as unknown as typeof mod;
  } catch (cause) {
    throw new TesseraError(
      'ERR_CONFIG',
      "connectRedis needs the optional peer dependency 'ioredis': npm install ioredis",
      { cause },
    );
  }
  const connectTimeout = options.connectTimeoutMs ?? 2000;
  const socketTimeout = options.socketTimeoutMs ?? 5000;
  const keepAlive = options.keepAliveMs ?? 10_000;
  checkNonNegative('connectRedis', {
    connectTimeoutMs: connectTimeout,
    socketTimeoutMs: socketTimeout,
    keepAliveMs: keepAlive,
  });
  // Without an offline queue and with no retry per request, a command is either written at once
  // or refused at once; a dropped connection fails (never re-sends) what waited on it.
  // No `commandTimeout`: a command it times out stays in ioredis's queue until the reply comes
  // (the store bounds each call itself), so it would free nothing — `socketTimeout` does.
  const failFast: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout,
    keepAlive,
    ...(socketTimeout > 0 ? { socketTimeout } : {}),
    retryStrategy: (times: number) => Math.min(50 * times, 500),
  };
  const m = /^(rediss?)\+cluster:\/\/(.+)$/.exec(url);
  let client: Redis | Cluster;
  let where: string;
  if (m) {
    checkRedisUrl(url, true);
    const { nodes, username, password } = parseClusterUrl(m[2]!);
    where = nodes.map((n) => `${n.host}:${n.port}`).join(',');
    const redisOptions: RedisOptions = {
      ...failFast,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(m[1] === 'rediss' ? { tls: {} } : {}),
      ...options.redis,
    };
    client = new mod.Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      redisOptions,
      ...options.cluster,
    });
  } else if (/^rediss?:\/\//.test(url)) {
    checkRedisUrl(url, false);
    const redis = new mod.Redis(url, { ...failFast, lazyConnect: true, ...options.redis });
    where = `${redis.options.host}:${redis.options.port}`;
    client = redis;
  } else {
    throw new TesseraError(
      'ERR_CONFIG',
      'connectRedis: the URL must start with redis://, rediss://, redis+cluster:// or rediss+cluster://',
    );
  }
  // The client keeps reconnecting in the background; an 'error' listener (kept for the
  // client's life) stops Node from treating those reconnect errors as unhandled. It remembers a
  // socket error (with a code: ECONNREFUSED…), which names the cause that connect()'s rejection
  // ("Connection is closed.") does not.
  let lastError: unknown;
  const remember = (e: unknown) => {
    if (typeof (e as { code?: unknown })?.code === 'string') lastError = e;
  };
  client.on('error', remember);
  if (m) client.on('node error', remember);
  try {
    await withTimeout(client.connect(), connectTimeout * 2);
    // ioredis ignores a failed SELECT (database 99 of 16) and stays in database 0: check it.
    const db = m ? 0 : Number((client as Redis).options.db ?? 0);
    if (db !== 0)
      await withTimeout(verifyDatabase(client as Redis, db, url, where), connectTimeout);
  } catch (cause) {
    client.disconnect();
    if (cause instanceof TesseraError) throw cause;
    throw connectFailure(url, where, cause, lastError);
  }
  return client;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no connection after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function parseClusterUrl(rest: string): {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
} {
  const bad = (): TesseraError =>
    new TesseraError(
      'ERR_CONFIG',
      'connectRedis: a Cluster URL is redis+cluster://[user:password@]host:port[,host:port…]',
    );
  const hostsEnd = rest.search(/[/?#]/);
  let authority = hostsEnd < 0 ? rest : rest.slice(0, hostsEnd);
  let username: string | undefined;
  let password: string | undefined;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const info = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = info.indexOf(':');
    const user = decodeURIComponent(colon < 0 ? info : info.slice(0, colon));
    if (user !== '') username = user;
    if (colon >= 0) password = decodeURIComponent(info.slice(colon + 1));
  }
  const nodes = authority.split(',').map((hp) => {
    const mm = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(hp.trim());
    if (!mm) throw bad();
    return { host: mm[1]!.replace(/^\[|\]$/g, ''), port: Number(mm[2]) };
  });
  if (nodes.length === 0) throw bad();
  return {
    nodes,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}
