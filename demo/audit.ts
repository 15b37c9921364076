/**
 * The audit trail: every engine event goes to the log as a JSON line (pino, on stdout), and each
 * user's security events are kept in the store (newest first, last 50) for `/api/events` and the
 * sessions page, so every instance shows the same trail. No event ever holds a token.
 */
import type { Logger } from 'pino';
import type { SessionEvent, SessionManager, SessionStore } from 'tessera-session';

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
  readonly #store: SessionStore;
  readonly #log: Logger;
  readonly #pending = new Set<Promise<void>>();

  /**
   * @param store - where trails are kept (its `listPush` / `listRange`)
   * @param log - the JSON-lines audit sink
   */
  constructor(store: SessionStore, log: Logger) {
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
    const p = this.#store
      .listPush(this.#key(userId), JSON.stringify(event), TRAIL_LENGTH, null)
      .catch((err: unknown) => {
        this.#log.error({ err, userId, type: event.type }, 'could not store a security event');
      })
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
    return p;
  }

  /** Wait until every event recorded so far is in the store. */
  async flush(): Promise<void> {
    if (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** A user's last events, newest first. Entries that do not parse are skipped. */
  async list(userId: string): Promise<TrailEvent[]> {
    const raw = await this.#store.listRange(this.#key(userId), TRAIL_LENGTH, Date.now());
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
