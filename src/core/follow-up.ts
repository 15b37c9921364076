/**
 * The engine's follow-ups after a write whose outcome is unknown. A store call that times out
 * or fails answers 503, but the command may already be on its way and be applied when the store
 * resumes. For a write that made a record nobody holds a token for (a first write or a sign-in
 * whose response failed), that record is an orphan: it would show in the user's list and count
 * towards their limit until it expires. A {@link FollowUps} queue removes it with an idempotent
 * delete once the store answers again: bounded in jobs, attempts and time; when full it drops a
 * new job (and says so) rather than grow.
 */
import { isTesseraError, StoreRefusal } from './errors.js';

/** Options of {@link FollowUps}; every field has a default. */
export interface FollowUpOptions {
  /**
   * Jobs waiting at most; a job past it is dropped (reported with `follow_up_dropped`).
   * @default 1000
   */
  maxJobs?: number;
  /**
   * How long a job is tried at most, in ms, from when it was queued; then it is abandoned
   * (reported with `follow_up_expired`).
   * @default 300000
   */
  maxAgeMs?: number;
  /**
   * Delay before the first attempt, in ms (the store has just failed); it doubles after each
   * failed attempt, up to `maxDelayMs`.
   * @default 1000
   */
  firstDelayMs?: number;
  /**
   * Longest delay between two attempts, in ms.
   * @default 10000
   */
  maxDelayMs?: number;
  /**
   * When the delete finds nothing, it is repeated once this long after, in ms: a write sent
   * before the outage on another connection may land just after the store resumes.
   * @default 1000
   */
  settleMs?: number;
  /**
   * Attempts running at once.
   * @default 8
   */
  concurrency?: number;
}

/** Why a job ended without its delete being done. */
export type FollowUpDropReason = 'follow_up_dropped' | 'follow_up_expired';

/** The session a job cleans up after, for the report. */
export interface FollowUpSubject {
  handle: string;
  userId: string | null;
}

/** An idempotent delete: resolves to how many records it removed. */
export type FollowUpDelete = () => Promise<number>;

interface Job {
  subject: FollowUpSubject;
  run: FollowUpDelete;
  queuedAt: number;
  attempts: number;
  dueAt: number;
  /** When a delete was first answered with nothing removed, or null. */
  emptyAt: number | null;
}

const DEFAULTS = {
  maxJobs: 1000,
  maxAgeMs: 300_000,
  firstDelayMs: 1000,
  maxDelayMs: 10_000,
  settleMs: 1000,
  concurrency: 8,
} as const;

/**
 * A bounded queue of idempotent deletes, retried with backoff until the store answers.
 *
 * A job is done when its delete removed something, or when two deletes at least `settleMs`
 * apart both found nothing (the write never landed). A failed attempt is retried with backoff
 * until `maxAgeMs`. Timers are unref'd: the queue never keeps a process alive.
 *
 * @example
 * ```ts
 * const followUps = new FollowUps((reason, s) => log.warn(reason, s.handle));
 * followUps.add({ handle, userId }, () => store.deleteByHandle(handle));
 * ```
 */
export class FollowUps {
  readonly #o: Required<FollowUpOptions>;
  readonly #onDrop: (reason: FollowUpDropReason, subject: FollowUpSubject) => void;
  readonly #now: () => number;
  readonly #jobs: Job[] = [];
  #running = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = 0;
  #closed = false;

  /**
   * @param onDrop - told of a job dropped (queue full) or abandoned (too old); must not throw
   * @param options - bounds and delays; see {@link FollowUpOptions}
   * @param now - the clock (epoch ms)
   */
  constructor(
    onDrop: (reason: FollowUpDropReason, subject: FollowUpSubject) => void,
    options: FollowUpOptions = {},
    now: () => number = Date.now,
  ) {
    this.#o = { ...DEFAULTS, ...options };
    this.#onDrop = onDrop;
    this.#now = now;
  }

  /** Jobs queued or running. */
  get size(): number {
    return this.#jobs.length + this.#running;
  }

  /**
   * Queue a delete.
   * @param subject - the session it cleans up after (reported if the job is dropped)
   * @param run - the idempotent delete
   * @returns false when the queue was full (or closed) and the job was dropped
   */
  add(subject: FollowUpSubject, run: FollowUpDelete): boolean {
    if (this.#closed || this.size >= this.#o.maxJobs) {
      this.#report('follow_up_dropped', subject);
      return false;
    }
    const now = this.#now();
    this.#jobs.push({
      subject,
      run,
      queuedAt: now,
      attempts: 0,
      dueAt: now + this.#o.firstDelayMs,
      emptyAt: null,
    });
    this.#schedule();
    return true;
  }

  /**
   * Run `write`; when it fails with an unknown outcome (`ERR_STORE_UNAVAILABLE` other than a
   * {@link StoreRefusal}, or anything that is not a {@link TesseraError}), queue `undo` for `subject`. The result is `write`'s.
   * @param write - the write whose record nobody would hold a token for if it failed
   * @param subject - the session it writes
   * @param undo - the idempotent delete of what `write` may have written
   */
  async ifUnknown<T>(
    write: Promise<T>,
    subject: FollowUpSubject,
    undo: FollowUpDelete,
  ): Promise<T> {
    try {
      return await write;
    } catch (e) {
      // A refusal that wrote nothing (StoreRefusal) is a certain "not done": nothing to undo.
      const unknown =
        !isTesseraError(e) ||
        (e.code === 'ERR_STORE_UNAVAILABLE' && !(e.cause instanceof StoreRefusal));
      if (unknown) this.add(subject, undo);
      throw e;
    }
  }

  /** Drop every queued job (the store is closing); nothing more runs. */
  close(): void {
    this.#closed = true;
    this.#jobs.length = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #report(reason: FollowUpDropReason, subject: FollowUpSubject): void {
    try {
      this.#onDrop(reason, subject);
    } catch {
      // A listener's mistake must not stop the queue.
    }
  }

  /** Arm the timer for the earliest due job (or now); with every slot busy, a finishing attempt does. */
  #schedule(): void {
    if (this.#closed || this.#jobs.length === 0 || this.#running >= this.#o.concurrency) return;
    const at = Math.min(...this.#jobs.map((j) => j.dueAt));
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, at - this.#now()));
    this.#timer.unref?.();
  }

  #tick(): void {
    this.#timer = null;
    const now = this.#now();
    for (let i = 0; i < this.#jobs.length && this.#running < this.#o.concurrency; ) {
      const job = this.#jobs[i]!;
      if (job.dueAt > now) {
        i++;
        continue;
      }
      this.#jobs.splice(i, 1);
      if (now - job.queuedAt > this.#o.maxAgeMs) {
        this.#report('follow_up_expired', job.subject);
        continue;
      }
      this.#running++;
      void this.#attempt(job).finally(() => {
        this.#running--;
        // Also lets a job that was due while every slot was busy run now.
        this.#schedule();
      });
    }
    this.#schedule();
  }

  async #attempt(job: Job): Promise<void> {
    job.attempts++;
    let removed: number;
    try {
      removed = await job.run();
    } catch (e) {
      if (isTesseraError(e) && e.code !== 'ERR_STORE_UNAVAILABLE') {
        // The store answered with a definite refusal (a corrupt record): retrying cannot help.
        this.#report('follow_up_expired', job.subject);
        return;
      }
      const delay = Math.min(this.#o.maxDelayMs, this.#o.firstDelayMs * 2 ** job.attempts);
      this.#requeue(job, this.#now() + delay);
      return;
    }
    const now = this.#now();
    if (removed > 0) return;
    if (job.emptyAt !== null && now - job.emptyAt >= this.#o.settleMs) return;
    job.emptyAt ??= now;
    this.#requeue(job, job.emptyAt + this.#o.settleMs);
  }

  #requeue(job: Job, dueAt: number): void {
    if (this.#closed) return;
    job.dueAt = dueAt;
    this.#jobs.push(job);
  }
}
