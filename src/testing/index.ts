/**
 * `tessera-session/testing`: the conformance suite every `SessionStore` must pass, for
 * tessera's own stores and third-party ones alike. It is runner-agnostic: cases throw
 * `node:assert` errors, and {@link registerConformance} registers them with any runner that has
 * `describe` and `it` (Vitest, Jest, Mocha, `node:test`).
 */
import { type ConformanceOptions, type ConformanceTarget, conformanceCases } from './cases.js';

export {
  type ConformanceCase,
  type ConformanceOptions,
  type ConformanceTarget,
  conformanceCases,
} from './cases.js';
export {
  lastWriterWinsStore,
  makeRecord,
  makeTombstone,
  randomHandle,
  randomId,
} from './fixtures.js';
export { patchKey } from './patch.js';

/** The two functions of a test runner that {@link registerConformance} uses. */
export interface ConformanceRunner {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void>, timeout?: number): void;
}

/**
 * Register every conformance case for `target` with a test runner, inside one
 * `describe('conformance: <name>')`.
 *
 * @param target - the store under test; see {@link ConformanceTarget}
 * @param runner - the runner's `describe` and `it`
 * @param options - clock and worker settings; see {@link ConformanceOptions}
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * import { registerConformance } from 'tessera-session/testing';
 * import { memoryStore } from 'tessera-session/memory';
 *
 * registerConformance({ name: 'memory', create: () => memoryStore() }, { describe, it });
 * ```
 */
export function registerConformance(
  target: ConformanceTarget,
  runner: ConformanceRunner,
  options: ConformanceOptions = {},
): void {
  const cases = conformanceCases(target, options);
  runner.describe(`conformance: ${target.name}`, () => {
    for (const c of cases) runner.it(c.name, () => c.run(), c.timeout);
  });
}
