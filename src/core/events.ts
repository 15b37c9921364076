/**
 * Typed lifecycle and security events. One closed list of snake_case types, one subscribe API.
 * No event ever carries a session token: only the public handle, the user id and metadata.
 */

/** Every event type tessera emits. The list is closed and documented in docs/events.md. */
export type SessionEventType =
  /** A session was first written to the store. */
  | 'created'
  /** The idle deadline was moved forward and written. */
  | 'touched'
  /** Session data was saved. */
  | 'updated'
  /** Two writers changed the same data key at once; `keys` names them (the later commit won). */
  | 'conflict'
  /** The token was replaced (regenerate, re-auth, privilege change); the handle stayed. */
  | 'rotated'
  /** A user signed in on this session (a login rotation). */
  | 'authenticated'
  /** The session was ended by its own request (logout). */
  | 'destroyed'
  /** The session was ended by someone else (revoke by handle, revoke others, revoke all). */
  | 'revoked'
  /** A request came with a session past its idle or absolute deadline. */
  | 'expired'
  /** A cookie held a malformed, forged, unknown or retired token. `reason` says which. */
  | 'token_invalid'
  /** A rotated-out token was used within its grace window. */
  | 'token_grace_used'
  /** A rotated-out authenticated token was used after its grace window: likely theft. */
  | 'theft_suspected'
  /** An unsafe request failed the CSRF check. `reason` says which part. */
  | 'csrf_rejected'
  /** The user agent differs from the one the session last saw. */
  | 'user_agent_changed'
  /** The client IP differs from the one the session last saw. */
  | 'ip_changed'
  /** Many invalid tokens came from one client in a short time. */
  | 'guessing_suspected'
  /** A new login was refused or the oldest session evicted by the per-user limit. */
  | 'session_limit'
  /** A store call failed; the request was answered with ERR_STORE_UNAVAILABLE. */
  | 'store_error';

/** One event. `at` is epoch milliseconds from the engine's clock. */
export interface SessionEvent {
  type: SessionEventType;
  at: number;
  /** The session's public handle, when there is a session. */
  handle?: string;
  userId?: string | null;
  /** A short machine-readable reason (never a token), e.g. `bad_mac`, `unknown`, `idle`. */
  reason?: string;
  ip?: string | null;
  userAgent?: string | null;
  /** Data keys involved (`conflict`, `updated`). */
  keys?: string[];
}

/** A subscriber. Errors it throws are caught and reported to `console.error`, never to the request. */
export type SessionEventListener = (event: SessionEvent) => void;

/** A tiny synchronous emitter; cheap when nobody listens. */
export class EventHub {
  #all: SessionEventListener[] = [];
  #byType = new Map<SessionEventType, SessionEventListener[]>();

  /** True when at least one listener would receive events. */
  get active(): boolean {
    return this.#all.length > 0 || this.#byType.size > 0;
  }

  /**
   * Subscribe to one type, or to every type with `'*'`.
   * @returns a function that unsubscribes
   */
  on(type: SessionEventType | '*', listener: SessionEventListener): () => void {
    if (type === '*') {
      this.#all.push(listener);
      return () => {
        this.#all = this.#all.filter((l) => l !== listener);
      };
    }
    const list = this.#byType.get(type) ?? [];
    list.push(listener);
    this.#byType.set(type, list);
    return () => {
      const next = (this.#byType.get(type) ?? []).filter((l) => l !== listener);
      if (next.length === 0) this.#byType.delete(type);
      else this.#byType.set(type, next);
    };
  }

  /** Deliver an event to its listeners. */
  emit(event: SessionEvent): void {
    const typed = this.#byType.get(event.type);
    if (typed) for (const l of typed) safeCall(l, event);
    for (const l of this.#all) safeCall(l, event);
  }
}

function safeCall(listener: SessionEventListener, event: SessionEvent): void {
  try {
    listener(event);
  } catch (error) {
    console.error('tessera: an event listener threw', error);
  }
}
