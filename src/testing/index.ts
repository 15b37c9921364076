/**
 * `tessera-session/testing`: the conformance suite every store passes, for tessera's own stores
 * and third-party ones alike, grouped by clause of the contracts (`SessionStore`, and the
 * optional `KeyValueStore`). It is runner-agnostic: cases throw `node:assert` errors, and
 * {@link registerConformance} registers them with any runner that has `describe` and `it`
 * (Vitest, Jest, Mocha, `node:test`).
 */
import {
  CONFORMANCE_GROUPS,
  type ConformanceOptions,
  type ConformanceTarget,
  conformanceCases,
} from './suite.js';

export {
  lastWriterWinsStore,
  makeRecord,
  makeTombstone,
  randomHandle,
  randomId,
} from './fixtures.js';
export { patchKey } from './patch.js';
export {
  CONFORMANCE_GROUPS,
  type ConformanceCase,
  type ConformanceGroup,
  type ConformanceOptions,
  type ConformanceTarget,
  conformanceCases,
  SESSION_GROUPS,
} from './suite.js';

/** The two functions of a test runner that {@link registerConformance} uses. */
export interface ConformanceRunner {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void>, timeout?: number): void;
}

/**
 * Register the conformance cases for `target` with a test runner: one
 * `describe('conformance: <name>')`, and inside it one `describe` per group.
 *
 * @param target - the store under test; see {@link ConformanceTarget}
 * @param runner - the runner's `describe` and `it`
 * @param options - groups, clock and worker settings; see {@link ConformanceOptions}
 * @throws TypeError when `options.groups` names a group that does not exist
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * import { registerConformance, SESSION_GROUPS } from 'tessera-session/testing';
 * import { memoryStore } from 'tessera-session/memory';
 *
 * // Every group: memoryStore implements SessionStore and KeyValueStore.
 * registerConformance({ name: 'memory', create: () => memoryStore() }, { describe, it });
 * // A store that implements SessionStore only runs the session groups:
 * // registerConformance(target, { describe, it }, { groups: SESSION_GROUPS });
 * ```
 */
export function registerConformance(
  target: ConformanceTarget,
  runner: ConformanceRunner,
  options: ConformanceOptions = {},
): void {
  const cases = conformanceCases(target, options);
  runner.describe(`conformance: ${target.name}`, () => {
    for (const group of CONFORMANCE_GROUPS) {
      const inGroup = cases.filter((c) => c.group === group);
      if (inGroup.length === 0) continue;
      runner.describe(group, () => {
        for (const c of inGroup) runner.it(c.name, () => c.run(), c.timeout);
      });
    }
  });
}
