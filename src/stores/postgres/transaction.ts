/**
 * The PostgreSQL store's per-user transactions, and what its driver errors mean.
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

/** First key of the two-key advisory lock that serialises one user's sign-ins and revocations ("tssu"). */
const USER_LOCK_NAMESPACE = 0x74737375;

/** A unique index refused the row (an id or handle that exists). */
export function isUniqueViolation(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '23505';
}

/** PostgreSQL refused a string it cannot hold (NUL in `text`, a character outside UTF-8). */
export function isUnrepresentable(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return code === '22021' || code === '22P05';
}

/** The schema or its tables do not exist (yet). */
export function isMissingRelation(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return code === '42P01' || code === '3F000';
}

/**
 * Run `fn` in a transaction that first takes the user's advisory lock, so that one user's
 * sign-ins and revocations (from every connection and process) run one at a time, each
 * statement after the lock seeing what the previous holder committed (READ COMMITTED takes a
 * snapshot per statement). `BEGIN` and the lock go in one round trip.
 */
export async function userTransaction<T>(
  pool: Pool,
  schema: string,
  userId: string,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const key = createHash('sha256').update(`${schema}\0${userId}`).digest().readInt32BE(0);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // Both numbers are integers made here, never caller text: safe to inline.
    await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${USER_LOCK_NAMESPACE}, ${key})`);
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (e) {
    try {
      await client.query('ROLLBACK');
    } catch (rollback) {
      // A connection that cannot roll back is not returned to the pool for reuse.
      broken = rollback instanceof Error ? rollback : new Error(String(rollback));
    }
    throw e;
  } finally {
    client.release(broken);
  }
}
