import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TesseraError } from './errors.js';
import { type FollowUpDropReason, FollowUps } from './follow-up.js';

const down = () => new TesseraError('ERR_STORE_UNAVAILABLE', 'down');
const subject = (n = 1) => ({ handle: `h${n}`, userId: 'u1' });

describe('FollowUps', () => {
  let reports: [FollowUpDropReason, string][];
  const onDrop = (reason: FollowUpDropReason, s: { handle: string }) => {
    reports.push([reason, s.handle]);
  };

  beforeEach(() => {
    vi.useFakeTimers();
    reports = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries a failing delete with doubling delays until the store answers', async () => {
    const q = new FollowUps(onDrop, { firstDelayMs: 100, maxDelayMs: 1000 });
    const at: number[] = [];
    const start = Date.now();
    let up = false;
    q.add(subject(), async () => {
      at.push(Date.now() - start);
      if (!up) throw down();
      return 1;
    });
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1000);
    expect(at).toEqual([100, 300, 700, 1500, 2500]);
    up = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(at).toEqual([100, 300, 700, 1500, 2500, 3500]);
    expect(q.size).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(at).toHaveLength(6);
    expect(reports).toEqual([]);
  });

  it('repeats a delete that found nothing once, settleMs later, in case the write lands late', async () => {
    const q = new FollowUps(onDrop, { firstDelayMs: 10, settleMs: 500 });
    const calls: number[] = [];
    const start = Date.now();
    q.add(subject(), async () => {
      calls.push(Date.now() - start);
      return 0;
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([10, 510]);
    expect(q.size).toBe(0);
  });

  it('ends the job when the repeated delete finds the late record', async () => {
    const q = new FollowUps(onDrop, { firstDelayMs: 10, settleMs: 500 });
    let n = 0;
    q.add(subject(), async () => (n++ === 0 ? 0 : 1));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(n).toBe(2);
    expect(q.size).toBe(0);
  });

  it('drops a job past maxJobs and reports it, never growing', async () => {
    const q = new FollowUps(onDrop, { maxJobs: 3, firstDelayMs: 100 });
    const added = [1, 2, 3, 4, 5].map((i) =>
      q.add(subject(i), async () => {
        throw down();
      }),
    );
    expect(added).toEqual([true, true, true, false, false]);
    expect(q.size).toBe(3);
    expect(reports).toEqual([
      ['follow_up_dropped', 'h4'],
      ['follow_up_dropped', 'h5'],
    ]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(q.size).toBe(3);
  });

  it('abandons a job after maxAgeMs and reports it', async () => {
    const q = new FollowUps(onDrop, { maxAgeMs: 5_000, firstDelayMs: 100, maxDelayMs: 1000 });
    let attempts = 0;
    q.add(subject(), async () => {
      attempts++;
      throw down();
    });
    await vi.advanceTimersByTimeAsync(4_000);
    expect(reports).toEqual([]);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(reports).toEqual([['follow_up_expired', 'h1']]);
    expect(q.size).toBe(0);
    const before = attempts;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toBe(before);
  });

  it('stops at a definite refusal from the store', async () => {
    const q = new FollowUps(onDrop, { firstDelayMs: 10 });
    let attempts = 0;
    q.add(subject(), async () => {
      attempts++;
      throw new TesseraError('ERR_STORE_CORRUPT', 'bad record');
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toBe(1);
    expect(reports).toEqual([['follow_up_expired', 'h1']]);
  });

  it('runs at most `concurrency` deletes at once', async () => {
    const q = new FollowUps(onDrop, { firstDelayMs: 10, concurrency: 2 });
    let running = 0;
    let most = 0;
    for (let i = 0; i < 6; i++) {
      q.add(subject(i), async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 50));
        running--;
        return 1;
      });
    }
    await vi.advanceTimersByTimeAsync(1_000);
    expect(most).toBe(2);
    expect(q.size).toBe(0);
  });

  it('drops everything on close and refuses new jobs', async () => {
    const q = new FollowUps(onDrop, { firstDelayMs: 10 });
    let attempts = 0;
    q.add(subject(), async () => {
      attempts++;
      return 1;
    });
    q.close();
    expect(q.add(subject(2), async () => 1)).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(attempts).toBe(0);
    expect(reports).toEqual([['follow_up_dropped', 'h2']]);
  });

  it('ifUnknown queues the undo only when the outcome is unknown, and rethrows', async () => {
    const q = new FollowUps(onDrop, { firstDelayMs: 10 });
    const undone: string[] = [];
    const undo = (h: string) => async () => {
      undone.push(h);
      return 1;
    };
    await expect(q.ifUnknown(Promise.resolve(7), subject(1), undo('ok'))).resolves.toBe(7);
    await expect(q.ifUnknown(Promise.reject(down()), subject(2), undo('down'))).rejects.toThrow();
    const raw = new Error('socket closed');
    await expect(q.ifUnknown(Promise.reject(raw), subject(3), undo('raw'))).rejects.toBe(raw);
    const conflict = new TesseraError('ERR_CONFLICT', 'exists');
    await expect(q.ifUnknown(Promise.reject(conflict), subject(4), undo('conflict'))).rejects.toBe(
      conflict,
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(undone.sort()).toEqual(['down', 'raw']);
  });

  it('keeps running when the drop listener throws', () => {
    const q = new FollowUps(
      () => {
        throw new Error('listener bug');
      },
      { maxJobs: 1 },
    );
    q.add(subject(1), async () => 1);
    expect(q.add(subject(2), async () => 1)).toBe(false);
    q.close();
  });
});
