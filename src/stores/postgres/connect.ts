/**
 * Connecting to PostgreSQL: a `pg` pool with bounded timeouts, checked by one query.
 */
import type { Pool, PoolConfig } from 'pg';
import { checkNonNegative, TesseraError } from '../../core/errors.js';

/** Options for {@link connectPostgres}. */
export interface ConnectPostgresOptions {
  /**
   * Server-side `statement_timeout` of every connection, in ms.
   * @default 5000
   */
  statementTimeoutMs?: number;
  /**
   * How long to wait for a new connection, or for a free one from the pool, in ms.
   * @default 2000
   */
  connectTimeoutMs?: number;
  /**
   * Client-side bound on a query, in ms (pg's `query_timeout`): past it the query fails and its
   * connection is closed and replaced — the server-side `statement_timeout` cannot fire on a
   * server that hangs or cannot be reached. `0` turns it off.
   * @default statementTimeoutMs + 1000
   */
  queryTimeoutMs?: number;
  /**
   * Idle time before TCP keepalive probes start on each connection, in ms. `0` turns keepalive
   * off.
   * @default 10000
   */
  keepAliveMs?: number;
  /** Extra `pg` pool options, merged over these defaults. */
  pool?: PoolConfig;
}

/**
 * Make a `pg` pool for `url` (pg is an optional peer dependency, loaded here) with fail-fast
 * settings: a connect timeout (also bounding the wait for a free connection), a server-side
 * statement timeout, a client-side query timeout that closes the connection of a query the
 * server never answers (a hung server, a silent network partition), TCP keepalive, and an
 * `error` listener so a dropped idle connection never crashes the process. Connections open
 * lazily, on first use. A query that timed out may still run when a hung server resumes: a
 * failed write's outcome is unknown (see docs/operations.md).
 *
 * @param url - `postgres://user[:password]@host[:port]/database[?sslmode=…]`
 * @param options - timeouts and extra pool options; see {@link ConnectPostgresOptions}
 * @returns a pool; the caller owns it (`await pool.end()` on shutdown)
 * @throws TesseraError `ERR_CONFIG` when pg is not installed or the URL is not a postgres URL
 * @example
 * ```ts
 * const pool = await connectPostgres(process.env.DATABASE_URL!);
 * const store = postgresStore({ pool });
 * ```
 */
export async function connectPostgres(
  url: string,
  options: ConnectPostgresOptions = {},
): Promise<Pool> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new TesseraError(
      'ERR_CONFIG',
      'connectPostgres: the URL must start with postgres:// or postgresql://',
    );
  }
  let Ctor: new (config: PoolConfig) => Pool;
  try {
    const mod = (await import('pg')) as unknown as {
      default?: { Pool: typeof Ctor };
      Pool?: typeof Ctor;
    };
    Ctor = (mod.default?.Pool ?? mod.Pool)!;
  } catch (cause) {
    throw new TesseraError(
      'ERR_CONFIG',
      "connectPostgres needs the optional peer dependency 'pg': npm install pg",
      { cause },
    );
  }
  const statement = options.statementTimeoutMs ?? 5000;
  const query = options.queryTimeoutMs ?? (statement > 0 ? statement + 1000 : 0);
  const keepAlive = options.keepAliveMs ?? 10_000;
  checkNonNegative('connectPostgres', {
    statementTimeoutMs: statement,
    queryTimeoutMs: query,
    keepAliveMs: keepAlive,
  });
  const pool = new Ctor({
    connectionString: url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    statement_timeout: statement,
    // Longer than statement_timeout, so a slow statement is cancelled by the server first.
    ...(query > 0 ? { query_timeout: query } : {}),
    keepAlive: keepAlive > 0,
    ...(keepAlive > 0 ? { keepAliveInitialDelayMillis: keepAlive } : {}),
    idleTimeoutMillis: 30_000,
    ...options.pool,
  });
  pool.on('error', () => {});
  return pool;
}
