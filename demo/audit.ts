/**
 * The audit trail: every engine event goes to the log as a JSON line (pino, on stdout), and each
 * user's security events are kept in the store (newest first, last 50) for `/api/events` and the
 * sessions page, so every instance shows the same trail. No event ever holds a token. One
 * source adds at most {@link FAILED_PER_SOURCE} `login_failed` entries to a user's trail per
 * window, so nobody can flush a user's trail with failed logins.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { KeyValueStore, SessionEvent, SessionManager } from 'tessera-session';
import { ringPush, ringRead } from './ring.js';

/** The security event types a user sees. */
export type TrailEventType =
  | 'login'
  | 'login_failed'
  | 'logout'
  | 'reauth'
  | 'revoke'
  | 'revoke_others'
  | 'password_changed'
  | 'csrf_rejected'
  | 'theft_suspected'
  | 'expired';

/** One entry of a user's trail. Timestamps are ISO 8601. */
export interface TrailEvent {
  type: TrailEventType;
  at: string;
  ip: string | null;
  userAgent: string | null;
  /** The public handle of the session concerned (never its token). */
  handle?: string;
  /** A short machine-readable reason, e.g. `cross_site`, `idle`, `bad_password`. */
  reason?: string;
}

/** How many events a user's trail keeps. */
export const TRAIL_LENGTH = 50;

/**
 * How many `login_failed` entries one source (client IP) may add to one user's trail per
 * {@link FAILED_WINDOW_MS}. Anyone can fail a login for any user name, so without a cap one
 * client could push every other event out of a user's trail; failures beyond it are counted (in
 * the store and in the audit log) but not added.
 */
export const FAILED_PER_SOURCE = 5;
/** The window of {@link FAILED_PER_SOURCE}, fixed from the source's first failure. */
export const FAILED_WINDOW_MS = 15 * 60_000;

/** Engine events that belong in a user's trail, as they are named there. */
const FROM_ENGINE: Partial<Record<SessionEvent['type'], TrailEventType>> = {
  csrf_rejected: 'csrf_rejected',
  theft_suspected: 'theft_suspected',
  expired: 'expired',
};

/** Engine events logged at debug level only (routine, frequent). */
const ROUTINE = new Set<SessionEvent['type']>(['touched', 'updated']);
/** Engine events logged as warnings. */
const ALARMING = new Set<SessionEvent['type']>([
  'theft_suspected',
  'csrf_rejected',
  'guessing_suspected',
  'store_error',
  'conflict',
]);

/** Writes the audit log and keeps per-user trails in the store. */
export class AuditTrail {
  readonly #store: KeyValueStore;
  readonly #log: Logger;
  readonly #pending = new Set<Promise<void>>();

  /**
   * @param store - where trails are kept: each a ring of about {@link TRAIL_LENGTH} keys
   *   (ring.ts, on `increment`, `kvSet`, `kvGet` and `kvDelete`), and `increment` for the
   *   per-source cap of failed logins
   * @param log - the JSON-lines audit sink
   */
  constructor(store: KeyValueStore, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  #key(userId: string): string {
    return `demo:events:${userId}`;
  }

  /**
   * Subscribe to an engine: log every event, and add the ones a user should see to their trail.
   * @returns unsubscribe
   */
  attach(engine: SessionManager): () => void {
    return engine.on('*', (e) => {
      const level = ROUTINE.has(e.type) ? 'debug' : ALARMING.has(e.type) ? 'warn' : 'info';
      this.#log[level]({ audit: 'engine', ...clean(e), at: new Date(e.at).toISOString() }, e.type);
      const type = FROM_ENGINE[e.type];
      if (type && e.userId) {
        void this.record(e.userId, {
          type,
          at: new Date(e.at).toISOString(),
          ip: e.ip ?? null,
          userAgent: e.userAgent ?? null,
          ...(e.handle ? { handle: e.handle } : {}),
          ...(e.reason ? { reason: e.reason } : {}),
        });
      }
    });
  }

  /**
   * Add an event to a user's trail and the log. The returned promise settles when the store has
   * it; {@link flush} waits for every such write.
   */
  record(userId: string, event: TrailEvent): Promise<void> {
    this.#log.info({ audit: 'trail', userId, ...event }, event.type);
    const p = ringPush(
      this.#store,
      this.#key(userId),
      JSON.stringify(event),
      TRAIL_LENGTH,
      null,
      Date.now(),
    )
      .catch((err: unknown) => {
        this.#log.error({ err, userId, type: event.type }, 'could not store a security event');
      })
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
    return p;
  }

  /**
   * Add a `login_failed` event to a user's trail, unless its source (client IP) has already
   * added {@link FAILED_PER_SOURCE} of them within the window: then it is only counted (an
   * audit log line with `suppressed: true` and the source's count), never stored in the trail.
   * {@link flush} waits for it as for {@link record}.
   */
  recordFailure(userId: string, event: TrailEvent): Promise<void> {
    const p = (async () => {
      const now = Date.now();
      const source = createHash('sha256')
        .update(`${userId}\n${event.ip ?? ''}`)
        .digest('base64url');
      let count: number;
      try {
        ({ count } = await this.#store.increment(
          `demo:events-failed:${source}`,
          now,
          now + FAILED_WINDOW_MS,
        ));
      } catch (err) {
        this.#log.error({ err, userId, type: event.type }, 'could not count a failed login');
        return;
      }
      if (count > FAILED_PER_SOURCE) {
        this.#log.info(
          { audit: 'trail', userId, ...event, suppressed: true, fromSource: count },
          `${event.type} not added to the trail: this source's cap is reached`,
        );
        return;
      }
      await this.record(userId, event);
    })().finally(() => this.#pending.delete(p));
    this.#pending.add(p);
    return p;
  }

  /** Wait until every event recorded so far is in the store. */
  async flush(): Promise<void> {
    if (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** A user's last events, newest first. Entries that do not parse are skipped. */
  async list(userId: string): Promise<TrailEvent[]> {
    const raw = await ringRead(this.#store, this.#key(userId), TRAIL_LENGTH, Date.now());
    const out: TrailEvent[] = [];
    for (const r of raw) {
      try {
        out.push(JSON.parse(r) as TrailEvent);
      } catch {
        // A damaged entry is dropped rather than failing the whole list.
      }
    }
    return out;
  }
}

/** Drop undefined fields so the log lines stay small. */
function clean(e: SessionEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (v !== undefined && k !== 'at') out[k] = v;
  return out;
}
