import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isTesseraError, TesseraError } from '../../core/errors.js';
import { CallBounds } from './bounds.js';

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

/** How a call ended, and when (fake ms), recorded as it happens. */
function watch(p: Promise<unknown>): { code: string | null; at: number | null; why: string } {
  const o = { code: null as string | null, at: null as number | null, why: '' };
  p.then(
    () => {
      o.code = 'resolved';
      o.at = Date.now();
    },
    (e: unknown) => {
      o.code = isTesseraError(e) ? e.code : String(e);
      o.at = Date.now();
      o.why = String((e as { cause?: unknown }).cause);
    },
  );
  return o;
}

describe('CallBounds', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fails each call at its own deadline, not before, with one timer for all of them', async () => {
    const bounds = new CallBounds({ timeoutMs: 100, max: 10 });
    const hung = deferred<string>();
    const a = watch(bounds.run(() => hung.promise, String));
    await vi.advanceTimersByTimeAsync(30);
    const b = watch(bounds.run(() => hung.promise, String));
    await vi.advanceTimersByTimeAsync(40);
    const c = watch(bounds.run(() => hung.promise, String));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(29);
    expect(a.code).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect([a.code, a.at]).toEqual(['ERR_STORE_UNAVAILABLE', 100]);
    expect(a.why).toMatch(/redis call timed out after 100 ms/);
    expect(b.code).toBeNull();
    await vi.advanceTimersByTimeAsync(30);
    expect([b.code, b.at]).toEqual(['ERR_STORE_UNAVAILABLE', 130]);
    expect(c.code).toBeNull();
    await vi.advanceTimersByTimeAsync(40);
    expect([c.code, c.at]).toEqual(['ERR_STORE_UNAVAILABLE', 170]);
    // An answer after the deadline changes nothing, and frees the three slots.
    expect(bounds.pending).toBe(3);
    hung.resolve('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(bounds.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('answers a call that is answered in time, and leaves no deadline behind it', async () => {
    const bounds = new CallBounds({ timeoutMs: 100, max: 10 });
    const first = deferred<string>();
    const second = deferred<string>();
    const a = watch(
      bounds.run(
        () => first.promise,
        (r) => `${r}!`,
      ),
    );
    await vi.advanceTimersByTimeAsync(50);
    const b = watch(
      bounds.run(
        () => second.promise,
        (r) => `${r}?`,
      ),
    );
    first.resolve('one');
    await vi.advanceTimersByTimeAsync(0);
    expect(a.code).toBe('resolved');
    // The timer set for the first call fires idle and waits for the second one's deadline.
    await vi.advanceTimersByTimeAsync(99);
    expect(b.code).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect([b.code, b.at]).toEqual(['ERR_STORE_UNAVAILABLE', 150]);
    await expect(
      bounds.run(
        () => Promise.resolve('x'),
        (r) => r,
      ),
    ).resolves.toBe('x');
    expect(bounds.pending).toBe(1);
    second.reject(new Error('connection closed'));
    await vi.advanceTimersByTimeAsync(0);
    expect(bounds.pending).toBe(0);
  });

  it('counts a timed-out call until its driver work settles, and refuses calls past the bound without starting them', async () => {
    const bounds = new CallBounds({ timeoutMs: 100, max: 2 });
    const hung = [deferred<string>(), deferred<string>()];
    const a = watch(bounds.run(() => hung[0]!.promise, String));
    const b = watch(bounds.run(() => hung[1]!.promise, String));
    await vi.advanceTimersByTimeAsync(100);
    expect([a.code, b.code]).toEqual(['ERR_STORE_UNAVAILABLE', 'ERR_STORE_UNAVAILABLE']);
    expect(bounds.pending).toBe(2);
    let started = false;
    const refused = watch(
      bounds.run(async () => {
        started = true;
        return 'x';
      }, String),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect([refused.code, refused.at]).toEqual(['ERR_STORE_UNAVAILABLE', 100]);
    expect(refused.why).toMatch(/2 redis calls are still waiting for the server/);
    expect(started).toBe(false);
    hung[0]!.resolve('late');
    hung[1]!.reject(new Error('connection closed'));
    await vi.advanceTimersByTimeAsync(0);
    expect(bounds.pending).toBe(0);
    await expect(bounds.run(async () => 'ok', String)).resolves.toBe('ok');
  });

  it('maps driver failures, throws in send and map to ERR_STORE_UNAVAILABLE, and passes its own errors', async () => {
    const bounds = new CallBounds({ timeoutMs: 0, max: 10 });
    const codeOf = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'resolved';
      } catch (e) {
        return isTesseraError(e) ? e.code : String(e);
      }
    };
    expect(await codeOf(bounds.run(() => Promise.reject(new Error('ECONNRESET')), String))).toBe(
      'ERR_STORE_UNAVAILABLE',
    );
    const sync = () => {
      throw new Error('sync');
    };
    expect(await codeOf(bounds.run(sync, String))).toBe('ERR_STORE_UNAVAILABLE');
    expect(await codeOf(bounds.run(() => Promise.resolve(1), sync))).toBe('ERR_STORE_UNAVAILABLE');
    const own = new TesseraError('ERR_CONFLICT', 'exists');
    await expect(bounds.run(() => Promise.reject(own), String)).rejects.toBe(own);
    const thrown = () => {
      throw own;
    };
    await expect(bounds.run(() => Promise.resolve(1), thrown)).rejects.toBe(own);
    expect(bounds.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('retries once when asked, within the same deadline and the same slot', async () => {
    const bounds = new CallBounds({ timeoutMs: 100, max: 1 });
    const sent: boolean[] = [];
    const again = deferred<string>();
    const call = watch(
      bounds.run(
        (retry) => {
          sent.push(retry);
          return retry ? again.promise : Promise.reject(new Error('NOSCRIPT'));
        },
        String,
        (e) => (e as Error).message === 'NOSCRIPT',
      ),
    );
    await vi.advanceTimersByTimeAsync(50);
    expect(sent).toEqual([false, true]);
    expect(bounds.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect([call.code, call.at]).toEqual(['ERR_STORE_UNAVAILABLE', 100]);
    again.resolve('ok');
    await vi.advanceTimersByTimeAsync(0);
    expect(bounds.pending).toBe(0);
    // Not a second retry: the retry's own failure is the call's.
    const twice: boolean[] = [];
    const failing = watch(
      bounds.run(
        (retry) => {
          twice.push(retry);
          return Promise.reject(new Error('NOSCRIPT'));
        },
        String,
        () => true,
      ),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(twice).toEqual([false, true]);
    expect(failing.code).toBe('ERR_STORE_UNAVAILABLE');
  });

  it('keeps a time-out longer than a Node timer can hold, instead of firing at once', async () => {
    const day = 24 * 3_600_000;
    const bounds = new CallBounds({ timeoutMs: 30 * day, max: 10 });
    const hung = deferred<string>();
    const call = watch(bounds.run(() => hung.promise, String));
    await vi.advanceTimersByTimeAsync(29 * day);
    expect(call.code).toBeNull();
    await vi.advanceTimersByTimeAsync(day);
    expect([call.code, call.at]).toEqual(['ERR_STORE_UNAVAILABLE', 30 * day]);
  });

  it('has no bound with Infinity', async () => {
    const bounds = new CallBounds({ timeoutMs: 0, max: Number.POSITIVE_INFINITY });
    const hung = deferred<number>();
    const all = Array.from({ length: 5000 }, () => bounds.run(() => hung.promise, Number));
    expect(bounds.pending).toBe(5000);
    hung.resolve(1);
    expect((await Promise.all(all)).length).toBe(5000);
  });
});
