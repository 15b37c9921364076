/**
 * The compare-and-set merge loop the concurrency cases run, in this process and in workers.
 */
import type { SessionStore } from '../core/types.js';

/**
 * Add `key: value` to the JSON object in a record's `data` the way the engine saves a patch:
 * read, merge, `update` with the version read, and retry when another writer won.
 *
 * @param store - the store under test
 * @param id - the live record's id
 * @param key - the key to add
 * @param value - its value
 * @param maxTries - how many lost compare-and-sets to tolerate
 * @returns how many tries it took
 * @throws Error when the record is gone or every try lost
 */
export async function patchKey(
  store: SessionStore,
  id: string,
  key: string,
  value: unknown,
  maxTries: number,
): Promise<number> {
  for (let attempt = 1; attempt <= maxTries; attempt++) {
    const entry = await store.get(id);
    if (entry === null || entry.kind !== 'live') throw new Error(`record ${id} is gone`);
    const data = JSON.parse(entry.data) as Record<string, unknown>;
    data[key] = value;
    if (await store.update(id, entry.version, { data: JSON.stringify(data) })) return attempt;
  }
  throw new Error(`patching ${key} lost the compare-and-set ${maxTries} times`);
}

/** What a conformance worker process is asked to do. */
export type WorkerTask =
  | { op: 'patch'; id: string; keys: string[]; maxTries: number }
  | { op: 'increment'; key: string; times: number; now: number; windowEndsAt: number }
  | {
      /** `times` parallel sign-in creates for one user under a `reject` limit. */
      op: 'signIn';
      userId: string;
      /** The user's slot tag, for the ids and handles (and `useSlotTags`). */
      tag: string;
      times: number;
      now: number;
      limit: number;
    };

/** One sign-in of a `signIn` worker task: the session's handle and `ok` or the error code. */
export interface SignInOutcome {
  handle: string;
  outcome: string;
}

/** The command line argument a worker process receives (JSON). */
export interface WorkerRequest {
  module: string;
  exportName: string;
  task: WorkerTask;
}

/** The last line a worker process prints (JSON). */
export type WorkerReply = { ok: true; result: unknown } | { ok: false; error: string };
