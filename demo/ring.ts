/**
 * A bounded, newest-first list on the shared key-value space (`KeyValueStore`), for the demo's
 * audit trails and login credits. The store has no list: a ring is built on `increment`,
 * `kvSet`, `kvGet` and `kvDelete`, and stays right under parallel pushes from every instance.
 *
 * - A push takes the next number of the ring's counter (`increment`: no two pushes share one),
 *   writes its entry under a key of its own (`<key>:<number>`, never overwritten, so a slow
 *   writer cannot clobber a newer entry), raises the ring's head to its number, then deletes the
 *   entry `cap` numbers back: a ring holds about `cap` keys.
 * - A read takes the head and fetches the `cap` numbers up to it at once.
 *
 * The head is a maximum kept atomically with `increment` alone: a counter keeps its window while
 * that window ends after the `now` it is given, and otherwise starts a new window ending at
 * `windowEndsAt`. So `increment(head, n - 1, n)` leaves a window that ends at `n` or later and
 * replaces an earlier one with `n` (the window end only grows), and `increment(head, 0, 1)`
 * reads it without moving it. An absent head gets a window that ended in 1970: it reads as empty.
 *
 * A number is the counter's window end plus its count, so a counter that starts again (the
 * memory store evicts counters under a counter flood) numbers its entries after the old ones;
 * the entries of the earlier count are not read again (on the memory store, at most `cap`
 * values stay behind for each such reset).
 */
import type { KeyValueStore } from 'tessera-session';

/**
 * The window of the counter of a ring that never expires: longer than any demo runs. Its end
 * is also the first number of the ring's entries.
 */
const FOREVER_MS = 100 * 365 * 24 * 3_600_000;

const seqKey = (key: string) => `${key}:seq`;
const headKey = (key: string) => `${key}:head`;
const entryKey = (key: string, n: number) => `${key}:${n}`;

/**
 * Add `value` to the ring under `key`. Parallel pushes, from any number of instances, each keep
 * their entry until `cap` later pushes have come.
 * @param kv - the shared store
 * @param key - the ring's key (its keys are `<key>:seq`, `<key>:head` and `<key>:<number>`)
 * @param value - the entry
 * @param cap - how many entries the ring keeps (the same on every push and read of this ring)
 * @param expiresAt - when the ring may be forgotten (epoch ms), or null for never
 * @param now - the caller's clock (epoch ms)
 */
export async function ringPush(
  kv: KeyValueStore,
  key: string,
  value: string,
  cap: number,
  expiresAt: number | null,
  now: number,
): Promise<void> {
  const { count, expiresAt: base } = await kv.increment(
    seqKey(key),
    now,
    expiresAt ?? now + FOREVER_MS,
  );
  const n = base + count;
  await kv.kvSet(entryKey(key, n), value, expiresAt);
  await kv.increment(headKey(key), n - 1, n);
  if (count > cap) await kv.kvDelete(entryKey(key, n - cap));
}

/**
 * The ring's entries, newest first: at most `cap`. An entry whose push has not finished is not
 * there yet; while pushes run, an entry that a newer push is deleting may be missing too.
 * @param kv - the shared store
 * @param key - the ring's key
 * @param cap - the ring's size, as pushed
 * @param now - the caller's clock (epoch ms)
 */
export async function ringRead(
  kv: KeyValueStore,
  key: string,
  cap: number,
  now: number,
): Promise<string[]> {
  const { expiresAt: head } = await kv.increment(headKey(key), 0, 1);
  if (head <= 1) return [];
  const values = await Promise.all(
    Array.from({ length: cap }, (_, i) => kv.kvGet(entryKey(key, head - i), now)),
  );
  return values.filter((v): v is string => v !== null);
}
