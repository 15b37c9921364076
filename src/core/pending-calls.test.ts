import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isTesseraError, TesseraError } from './errors.js';
import { checkMaxPending, PendingCalls } from './pending-calls.js';

/** A driver call that settles only when told to. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isTesseraError(e) ? e.code : String(e);
  }
}

describe('PendingCalls', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts a timed-out call until its driver work settles, and refuses calls past the bound without starting them', async () => {
    const calls = new PendingCalls('redis', { timeoutMs: 100, max: 2 });
    const hung = [deferred<string>(), deferred<string>()];
    const a = calls.run(() => hung[0]!.promise);
    const b = calls.run(() => hung[1]!.promise);
    const outcomes = Promise.all([codeOf(a), codeOf(b)]);
    await vi.advanceTimersByTimeAsync(100);
    expect(await outcomes).toEqual(['ERR_STORE_UNAVAILABLE', 'ERR_STORE_UNAVAILABLE']);
    // Both timed out, but the driver still holds them: a third call is refused at once.
    expect(calls.pending).toBe(2);
    let started = false;
    expect(
      await codeOf(
        calls.run(async () => {
          started = true;
          return 'x';
        }),
      ),
    ).toBe('ERR_STORE_UNAVAILABLE');
    expect(started).toBe(false);
    // The server answers: the slots free up and calls go through again.
    hung[0]!.resolve('late');
    hung[1]!.reject(new Error('connection closed'));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.pending).toBe(0);
    await expect(calls.run(async () => 'ok')).resolves.toBe('ok');
  });

  it('maps driver failures and synchronous throws to ERR_STORE_UNAVAILABLE and passes its own errors', async () => {
    const calls = new PendingCalls('postgres', { timeoutMs: 0, max: 10 });
    expect(await codeOf(calls.run(() => Promise.reject(new Error('ECONNRESET'))))).toBe(
      'ERR_STORE_UNAVAILABLE',
    );
    expect(
      await codeOf(
        calls.run(() => {
          throw new Error('sync');
        }),
      ),
    ).toBe('ERR_STORE_UNAVAILABLE');
    const own = new TesseraError('ERR_CONFLICT', 'exists');
    await expect(calls.run(() => Promise.reject(own))).rejects.toBe(own);
    expect(calls.pending).toBe(0);
  });

  it('has no bound with Infinity', async () => {
    const calls = new PendingCalls('redis', { timeoutMs: 0, max: Number.POSITIVE_INFINITY });
    const hung = deferred<number>();
    const all = Array.from({ length: 5000 }, () => calls.run(() => hung.promise));
    expect(calls.pending).toBe(5000);
    hung.resolve(1);
    expect((await Promise.all(all)).length).toBe(5000);
  });

  it('accepts a positive integer or Infinity as the bound, nothing else', () => {
    expect(checkMaxPending(1, 'x')).toBe(1);
    expect(checkMaxPending(Number.POSITIVE_INFINITY, 'x')).toBe(Number.POSITIVE_INFINITY);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => checkMaxPending(bad, 'x')).toThrowError(/maxPendingCalls/);
    }
  });
});
