/**
 * Namespaces on the shared Redis and PostgreSQL: every suite that writes there takes its own key
 * prefix and schema from {@link testNamespace} and removes them in `afterAll`
 * ({@link clearNamespace}). Both names carry the id of this test run (made by
 * `test/support/global-setup.ts`), so the global teardown can find — and fail the run on —
 * anything a suite left behind, without ever looking at another run's data: other processes
 * share these services.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import {
  deleteRedisPrefix,
  runPrefix,
  runSchemaStart,
  schemasStartingWith,
  sharedPostgres,
  sharedRedis,
} from './cleanup.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The id of this test run, from the global setup. */
    tesseraRunId: string;
  }
}

/** A suite's own place in the shared services. */
export interface TestNamespace {
  /** Redis key prefix, e.g. `tt:1a2b3c4d:demoredis:`. */
  prefix: string;
  /** PostgreSQL schema, e.g. `tt_1a2b3c4d_demopg`. */
  schema: string;
}

/** The run id when the file runs without the global setup (another config, say). */
const fallbackRunId = randomBytes(4).toString('hex');
/** The suite names this file took, so that one file cannot take one twice. */
const taken = new Set<string>();

/** This run's id: the global setup's, or this process's own when there is none. */
function runId(): string {
  try {
    return inject('tesseraRunId') ?? fallbackRunId;
  } catch {
    return fallbackRunId;
  }
}

/**
 * The Redis prefix and PostgreSQL schema of one suite in this run: `tt:<runId>:<suite>:` and
 * `tt_<runId>_<suite>`. The prefix is kept short on purpose: `test/stores/redis.test.ts` measures
 * the memory a session takes, key names included.
 * @param suite - a short name of lower-case letters and digits, unique among the test files (no
 *   `_`: a suite's extra schemas are `<schema>_<name>`)
 * @returns names no other suite or run uses
 * @throws Error for a name that would not make a valid schema name, or one this file took before
 */
export function testNamespace(suite: string): TestNamespace {
  if (!/^[a-z][a-z0-9]{0,29}$/.test(suite)) throw new Error(`bad suite name ${suite}`);
  if (taken.has(suite)) throw new Error(`the suite name ${suite} is taken`);
  taken.add(suite);
  const id = runId();
  return { prefix: `${runPrefix(id)}${suite}:`, schema: `${runSchemaStart(id)}${suite}` };
}

/**
 * Remove a suite's namespace from the shared services: its Redis keys, and its schema together
 * with the suite's extra schemas (named `<schema>_…`). A service that does not answer is skipped:
 * the suites that needed it were skipped too.
 * @param ns - the suite's namespace
 * @returns what was removed
 */
export async function clearNamespace(
  ns: TestNamespace,
): Promise<{ keys: string[]; schemas: string[] }> {
  const out = { keys: [] as string[], schemas: [] as string[] };
  const redis = await sharedRedis();
  if (redis) {
    try {
      out.keys = await deleteRedisPrefix(redis, ns.prefix);
    } finally {
      redis.disconnect();
    }
  }
  const client = await sharedPostgres();
  if (client) {
    try {
      for (const s of await schemasStartingWith(client, ns.schema)) {
        if (s !== ns.schema && !s.startsWith(`${ns.schema}_`)) continue;
        await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
        out.schemas.push(s);
      }
    } finally {
      await client.end();
    }
  }
  return out;
}

export { namespaceFor } from './namespace-for.js';
