/**
 * Vitest global setup: gives the run an id (suites put it in their Redis prefixes and schema
 * names, see `namespace.ts`), and after the run fails it if anything under that id is left in the
 * shared Redis or PostgreSQL — then removes it, so a failed run does not leave it either. Only
 * this run's names are looked at: other processes use the same services at the same time.
 */
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import {
  deleteRedisPrefix,
  redisKeysUnder,
  runPrefix,
  runSchemaStart,
  schemasStartingWith,
  sharedPostgres,
  sharedRedis,
} from './cleanup.js';

/** What a run left in the shared services. */
interface Leftovers {
  keys: string[];
  schemas: string[];
}

/** The Redis keys and PostgreSQL schemas named with `runId`; removes them when `remove` is set. */
async function sweepRun(runId: string, options: { remove: boolean }): Promise<Leftovers> {
  const out: Leftovers = { keys: [], schemas: [] };
  const redis = await sharedRedis();
  if (redis) {
    try {
      out.keys = options.remove
        ? await deleteRedisPrefix(redis, runPrefix(runId))
        : await redisKeysUnder(redis, runPrefix(runId));
    } finally {
      redis.disconnect();
    }
  }
  const client = await sharedPostgres();
  if (client) {
    try {
      out.schemas = await schemasStartingWith(client, runSchemaStart(runId));
      if (options.remove)
        for (const s of out.schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    } finally {
      await client.end();
    }
  }
  return out;
}

/**
 * Provide the run id; the returned teardown fails the run on leftovers.
 * @param project - the Vitest project
 * @returns the teardown
 */
export default function setup(project: TestProject): () => Promise<void> {
  const runId = randomBytes(4).toString('hex');
  project.provide('tesseraRunId', runId);
  return async () => {
    const left = await sweepRun(runId, { remove: false });
    if (left.keys.length === 0 && left.schemas.length === 0) return;
    await sweepRun(runId, { remove: true });
    // Vitest only logs an error thrown here ("error during close"): this makes the run fail.
    process.exitCode = 1;
    const sample = left.keys.slice(0, 10).join(', ') + (left.keys.length > 10 ? ', …' : '');
    throw new Error(
      `The tests left data in the shared services (removed now): ${left.keys.length} Redis keys under ${runPrefix(runId)}${sample ? ` (${sample})` : ''}; PostgreSQL schemas: ${left.schemas.join(', ') || 'none'}. Every suite removes its namespace in afterAll (test/support/namespace.ts).`,
    );
  };
}
