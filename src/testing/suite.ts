/**
 * The conformance suite, grouped by clause of the store contracts: one group (one file in
 * `groups/`) per clause. A store runs every group, or only the groups of the contracts it
 * implements: {@link SESSION_GROUPS} for a {@link SessionStore} alone, {@link CONFORMANCE_GROUPS}
 * (adding `kv`) for one that also implements `KeyValueStore`. Each case makes its own store, uses
 * fresh random ids, handles, user ids and keys, and asserts with `node:assert/strict`, so it runs
 * under any test runner.
 */
import type { SessionStore } from '../core/types.js';
import { defaultExecArgv, type WorkerSpec } from './child.js';
import { type CaseContext, makeContext, type WorkerSettings } from './context.js';
import { concurrencyCases } from './groups/concurrency.js';
import { hostileIdsCases } from './groups/hostile-ids.js';
import { kvCases } from './groups/kv.js';
import { limitsCases } from './groups/limits.js';
import { pagingCases } from './groups/paging.js';
import { recordsCases } from './groups/records.js';
import { rotationCases } from './groups/rotation.js';
import { sweepCases } from './groups/sweep.js';
import { usersCases } from './groups/users.js';

/** A store the suite runs against. */
export interface ConformanceTarget {
  /** A label for the suite's `describe`. */
  name: string;
  /**
   * Build a store. Each case calls it once and closes what it gets. A fresh, empty store is
   * best; a store on a shared backend works too, since every case uses its own random ids,
   * handles, user ids and keys, provided nothing else writes to that backend's namespace
   * while the suite runs (the `count` case compares totals, and the `sweep` cases remove
   * everything that expires within a minute).
   */
  create(): Promise<SessionStore> | SessionStore;
  /**
   * For the cross-process cases: a module (absolute file path or package specifier) exporting
   * an async factory function, without arguments, that builds an equivalent store connected to
   * the SAME backend in a child process. Absent for in-process-only stores (memory): the
   * cross-process cases are then left out.
   */
  worker?: {
    module: string;
    exportName: string;
    /** Extra environment variables for the child processes (e.g. where the backend is). */
    env?: Record<string, string>;
  };
}

/** One runnable case. `run` rejects (an `AssertionError` or the store's error) on failure. */
export interface ConformanceCase {
  name: string;
  /** The clause it checks: the group it belongs to. */
  group: ConformanceGroup;
  run(): Promise<void>;
  /** A timeout the case needs beyond a runner's default, in ms, when it has one. */
  timeout?: number;
}

/**
 * Every group of the suite, in the order it runs:
 * - `records`: get, getByHandle, create, update, touch, delete, deleteByHandle, close;
 * - `rotation`: rotate;
 * - `users`: listByUser, deleteByUser and the per-user revocation epoch;
 * - `limits`: the per-user session limit of a sign-in;
 * - `paging`: list and count;
 * - `sweep`: sweep;
 * - `kv`: the shared key-value space (`KeyValueStore`);
 * - `concurrency`: compare-and-set merges and sign-ins racing a revocation, in and across processes;
 * - `hostile-ids`: ids, handles, user ids and data a hostile app or user may choose.
 */
export const CONFORMANCE_GROUPS = [
  'records',
  'rotation',
  'users',
  'limits',
  'paging',
  'sweep',
  'kv',
  'concurrency',
  'hostile-ids',
] as const;

/** One group of the suite: see {@link CONFORMANCE_GROUPS}. */
export type ConformanceGroup = (typeof CONFORMANCE_GROUPS)[number];

/** The groups a store that implements only {@link SessionStore} runs: every group but `kv`. */
export const SESSION_GROUPS: readonly ConformanceGroup[] = CONFORMANCE_GROUPS.filter(
  (g) => g !== 'kv',
);

const GROUPS: Record<ConformanceGroup, (c: CaseContext) => void> = {
  records: recordsCases,
  rotation: rotationCases,
  users: usersCases,
  limits: limitsCases,
  paging: pagingCases,
  sweep: sweepCases,
  kv: kvCases,
  concurrency: concurrencyCases,
  'hostile-ids': hostileIdsCases,
};

/** Options for {@link conformanceCases}. */
export interface ConformanceOptions {
  /**
   * The groups to run, each a clause of the contracts. A store that implements only
   * `SessionStore` passes {@link SESSION_GROUPS}.
   * @default CONFORMANCE_GROUPS (all)
   */
  groups?: readonly ConformanceGroup[];
  /**
   * The clock the cases take their times from. Stores with native TTLs (Redis) need the real
   * clock: the cases create entries that live for at least 30 s from `now()`.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Node flags for the worker processes.
   * @default `['--import', 'tsx']` when the suite or the worker module is TypeScript source, else `[]`
   */
  workerExecArgv?: string[];
  /**
   * How long a worker process may run before it is killed, in ms.
   * @default 60_000
   */
  workerTimeoutMs?: number;
}

/**
 * Build the conformance cases for a store. Register them with any runner (or use
 * `registerConformance`); every case is independent of the others.
 *
 * @param target - the store under test
 * @param options - groups, clock and worker settings; see {@link ConformanceOptions}
 * @returns the cases of the chosen groups, group by group
 * @throws TypeError when `options.groups` names a group that does not exist
 * @example
 * ```ts
 * import { test } from 'node:test';
 * for (const c of conformanceCases({ name: 'mine', create: () => myStore() })) test(c.name, c.run);
 * ```
 */
export function conformanceCases(
  target: ConformanceTarget,
  options: ConformanceOptions = {},
): ConformanceCase[] {
  const now = options.now ?? Date.now;
  const chosen = options.groups ?? CONFORMANCE_GROUPS;
  for (const g of chosen) {
    if (!Object.hasOwn(GROUPS, g)) {
      throw new TypeError(
        `conformanceCases: no group ${JSON.stringify(g)}; the groups are ${CONFORMANCE_GROUPS.join(', ')}`,
      );
    }
  }
  let worker: WorkerSettings | undefined;
  if (target.worker !== undefined) {
    const spec: WorkerSpec = { module: target.worker.module, exportName: target.worker.exportName };
    if (target.worker.env !== undefined) spec.env = target.worker.env;
    worker = {
      spec,
      execArgv: options.workerExecArgv ?? defaultExecArgv(spec),
      timeout: options.workerTimeoutMs ?? 60_000,
    };
  }

  const cases: ConformanceCase[] = [];
  let group: ConformanceGroup = 'records';
  /** Run `fn` against a fresh store and always close it. */
  const withStore =
    (fn: (s: SessionStore, t: number) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const store = await target.create();
      // Every record of a run, and every user, is in the run's slot (see context.ts).
      store.useSlotTags?.(() => context.tag);
      try {
        await fn(store, now());
      } finally {
        await store.close();
      }
    };
  const context = makeContext((name, fn, timeout) => {
    const run = withStore(fn);
    cases.push(timeout === undefined ? { name, group, run } : { name, group, run, timeout });
  }, worker);
  for (const g of CONFORMANCE_GROUPS) {
    if (!chosen.includes(g)) continue;
    group = g;
    GROUPS[g](context);
  }
  return cases;
}
