/**
 * Conformance group `kv`: the shared key-value space (KeyValueStore): values and counters, one key space.
 */
import assert from 'node:assert/strict';
import type { KeyValueStore, SessionStore } from '../../core/types.js';
import { runWorkers } from '../child.js';
import type { CaseContext } from '../context.js';
import { HOUR, kvOf, LATER, oneToN, PROBE, SOON, sortedNumbers, uniq } from '../context.js';

/**
 * Add the `kv` cases to a conformance run.
 * @param c - the suite's `add` and record factories
 */
export function kvCases(c: CaseContext): void {
  /** The kv cases run on the store as a `KeyValueStore` (a failed assertion if it is not one). */
  const add = (
    name: string,
    fn: (s: SessionStore & KeyValueStore, t: number) => Promise<void>,
    timeout?: number,
  ): void => c.add(name, (s, t) => fn(kvOf(s), t), timeout);

  // ---- key-value space ----------------------------------------------------------------

  add('kvSet, kvGet and kvDelete round-trip values with expiry', async (s, t) => {
    const k = `conformance:${uniq()}:kv`;
    assert.equal(await s.kvGet(k, t), null);
    await s.kvSet(k, 'v1 ✓ "quoted"', t + SOON);
    assert.equal(await s.kvGet(k, t), 'v1 ✓ "quoted"');
    assert.equal(await s.kvGet(k, t + PROBE), null, 'kvGet returned an expired value');
    await s.kvSet(k, 'v2', t + LATER);
    assert.equal(await s.kvGet(k, t + PROBE), 'v2', 'kvSet did not replace value and expiry');
    await s.kvSet(k, '', null);
    assert.equal(await s.kvGet(k, t + 10 * 365 * 24 * HOUR), '', 'a null expiry expired');
    assert.equal(await s.kvDelete(k), true);
    assert.equal(await s.kvGet(k, t), null);
    assert.equal(await s.kvDelete(k), false);
    const other = `conformance:${uniq()}:kv`;
    await s.kvSet(other, 'x', null);
    assert.equal(await s.kvGet(`${other}*`, t), null);
    assert.equal(await s.kvDelete(`${other.slice(0, -2)}*`), false);
    assert.equal(await s.kvGet(other, t), 'x');
  });

  add('increment counts in a fixed window and restarts after it', async (s, t) => {
    const k = `conformance:${uniq()}:counter`;
    assert.deepEqual(await s.increment(k, t, t + SOON), { count: 1, expiresAt: t + SOON });
    assert.deepEqual(await s.increment(k, t + 1, t + SOON + 1), { count: 2, expiresAt: t + SOON });
    assert.deepEqual(await s.increment(k, t + 2, t + LATER), { count: 3, expiresAt: t + SOON });
    assert.deepEqual(await s.increment(k, t + PROBE, t + PROBE + SOON), {
      count: 1,
      expiresAt: t + PROBE + SOON,
    });
    assert.deepEqual(await s.increment(k, t + PROBE + 1, t + LATER), {
      count: 2,
      expiresAt: t + PROBE + SOON,
    });
    const other = `conformance:${uniq()}:counter`;
    assert.deepEqual(await s.increment(other, t, t + SOON), { count: 1, expiresAt: t + SOON });
  });

  add('kvDelete removes a counter under its key', async (s, t) => {
    const counter = `conformance:${uniq()}:counter`;
    await s.increment(counter, t, t + LATER);
    await s.increment(counter, t, t + LATER);
    assert.equal(await s.kvDelete(counter), true);
    assert.equal((await s.increment(counter, t, t + LATER)).count, 1);
  });

  add(
    'values and counters share one key space: writing one kind replaces the other',
    async (s, t) => {
      const k = `conformance:${uniq()}:kv`;
      await s.kvSet(k, 'v', null);
      assert.equal((await s.increment(k, t, t + LATER)).count, 1, 'increment counted from a value');
      assert.equal(await s.kvGet(k, t), null, 'kvGet read a counter as a value');
      await s.kvSet(k, 'w', t + LATER);
      assert.equal(await s.kvGet(k, t), 'w');
      assert.equal((await s.increment(k, t, t + LATER)).count, 1, 'kvSet left the counter');
    },
  );

  add('concurrent increments in-process give distinct counts 1..N', async (s, t) => {
    const k = `conformance:${uniq()}:counter`;
    const results = await Promise.all(
      Array.from({ length: 100 }, () => s.increment(k, t, t + LATER)),
    );
    assert.deepEqual(sortedNumbers(results.map((x) => x.count)), oneToN(100));
    for (const x of results) assert.equal(x.expiresAt, t + LATER);
  });

  if (c.worker !== undefined) {
    const { spec, execArgv, timeout } = c.worker;

    add(
      'concurrent increments from two processes give distinct counts 1..N',
      async (s, t) => {
        const k = `conformance:${uniq()}:counter`;
        const task = {
          op: 'increment',
          key: k,
          times: 50,
          now: t,
          windowEndsAt: t + LATER,
        } as const;
        const results = (await runWorkers(spec, [task, task], execArgv, timeout)) as number[][];
        assert.deepEqual(sortedNumbers(results.flat()), oneToN(100));
        assert.equal((await s.increment(k, t, t + LATER)).count, 101);
      },
      timeout + 10_000,
    );
  }
}
