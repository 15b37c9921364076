/**
 * What {@link connectRedis} checks around the connection: every part of the URL before it
 * connects (ioredis reads `/abc` as database 0 and applies any query parameter as an option),
 * the selected database after (ioredis ignores a failed `SELECT` and stays on database 0, where
 * another app's sessions may live), and an error that names the server and the cause when the
 * first connection fails.
 */
import type { Redis } from 'ioredis';
import { TesseraError } from '../../core/errors.js';
import { redactStoreUrl } from '../redact.js';

/** Query parameters ioredis reads from a URL that mean something for one connection. */
const URL_PARAMS = new Set(['db', 'password', 'username', 'family', 'connectionName']);

function bad(url: string, what: string): TesseraError {
  return new TesseraError('ERR_CONFIG', `connectRedis: ${what} (in ${redactStoreUrl(url)}).`);
}

/**
 * Refuse a Redis URL whose parts would be misread: a path that is not a database number (or, on
 * a Cluster, not database 0), query parameters that are not connection settings, a fragment, a
 * missing host, port 0.
 * @param url - `redis[s]://…` or `redis[s]+cluster://…`
 * @param cluster - whether it is a Cluster URL
 * @returns the database number the URL selects (0 when it names none)
 * @throws TesseraError `ERR_CONFIG` naming the part and the URL (password hidden)
 */
export function checkRedisUrl(url: string, cluster: boolean): number {
  const rest = url.slice(url.indexOf('://') + 3);
  const end = rest.search(/[/?#]/);
  const tail = end < 0 ? '' : rest.slice(end);
  if (tail.includes('#'))
    throw bad(url, 'a URL holds a fragment (#…); percent-encode a # in a password as %23');
  const q = tail.indexOf('?');
  const path = q < 0 ? tail : tail.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : tail.slice(q + 1));
  if (path !== '' && path !== '/' && !/^\/\d{1,6}$/.test(path))
    throw bad(url, `the path "${path}" is not a database number (redis://host:port/0 … /15)`);
  let db = path.length > 1 ? Number(path.slice(1)) : 0;
  for (const [name, value] of params) {
    if (!URL_PARAMS.has(name))
      throw bad(
        url,
        `unknown URL parameter "${name}" (ioredis would apply it as a client option unchecked); the URL takes ${[...URL_PARAMS].join(', ')}, other ioredis options go in connectRedis(url, { redis })`,
      );
    if (name === 'family' && !/^[046]$/.test(value)) throw bad(url, 'family must be 4, 6 or 0');
    if (name === 'db') {
      if (!/^\d{1,6}$/.test(value)) throw bad(url, `db=${value} is not a database number`);
      if (path.length > 1 && Number(value) !== db)
        throw bad(url, 'the database is given twice, in the path and in ?db=, differently');
      db = Number(value);
    }
  }
  if (cluster && db !== 0)
    throw bad(url, `a Redis Cluster has only database 0, the URL selects ${db}`);
  if (!cluster) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw bad(url, 'the URL is malformed (a port above 65535? a raw @, / or ? in the password?)');
    }
    if (u.hostname === '') throw bad(url, 'the URL names no host');
    if (u.port === '0') throw bad(url, 'port 0 is not a port');
  }
  return db;
}

/**
 * The error for a first connection that failed: it names the server (`host:port`), the URL
 * (password hidden) and the cause, taken from the client's last `error` event when there was
 * one (the connect promise itself only says "Connection is closed.").
 */
export function connectFailure(
  url: string,
  where: string,
  cause: unknown,
  lastError: unknown,
): TesseraError {
  const why = (lastError ?? cause) as { code?: unknown; message?: unknown } | undefined;
  const message = typeof why?.message === 'string' ? why.message : String(why);
  const code = typeof why?.code === 'string' && !message.includes(why.code) ? `${why.code}: ` : '';
  return new TesseraError(
    'ERR_STORE_UNAVAILABLE',
    `connectRedis: cannot connect to Redis at ${where} (${redactStoreUrl(url)}): ${code}${message}`,
    { cause: lastError ?? cause },
  );
}

/**
 * Select database `db` on a connected client and fail if the server refuses it: ioredis only
 * reports a failed `SELECT` as an `error` event and carries on in database 0.
 * @throws TesseraError `ERR_CONFIG` when the database does not exist (or the server is a Cluster
 *   node, which has only database 0); `ERR_STORE_UNAVAILABLE` when the server does not answer
 */
export async function verifyDatabase(
  client: Redis,
  db: number,
  url: string,
  where: string,
): Promise<void> {
  try {
    await client.select(db);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (/DB index|invalid DB|not allowed in cluster mode/i.test(message)) {
      throw new TesseraError(
        'ERR_CONFIG',
        `connectRedis: the server at ${where} refuses database ${db} (${message}) — ${redactStoreUrl(url)} selects it; ioredis would have used database 0 instead, which may hold another app's data. Use a database the server has (its "databases" setting, 16 by default: 0–15)${/cluster/i.test(message) ? ', or redis+cluster:// for a Cluster' : ''}.`,
        { cause: e },
      );
    }
    throw connectFailure(url, where, e, undefined);
  }
}
