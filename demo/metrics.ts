/**
 * Prometheus metrics for `/metrics` (prom-client is a dependency of the demo, not of the library,
 * which offers the raw facts through its events): active sessions, logins, rejections by reason,
 * engine events, and store latency per operation.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { KeyValueStore, SessionManager, SessionStore } from 'tessera-session';

/** The demo's metrics. */
export interface DemoMetrics {
  registry: Registry;
  /** Logins by `result`: `success`, `failure`, `limited`. */
  logins: Counter<'result'>;
  /** Refused requests and tokens by `reason`. */
  rejections: Counter<'reason'>;
  /** Wrap a store so that every call is timed. */
  timeStore<S extends SessionStore & KeyValueStore>(store: S): S;
  /** Count engine events and turn rejections into `rejections`. */
  attach(engine: SessionManager): () => void;
}

/**
 * Create the registry and its metrics.
 * @param activeSessions - how many live sessions there are now (asked at scrape time)
 * @returns the metrics and their helpers
 * @example const m = createMetrics(() => store.count(Date.now()))
 */
export function createMetrics(activeSessions: () => Promise<number>): DemoMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'tessera_active_sessions',
    help: 'Live, unexpired sessions in the store',
    registers: [registry],
    async collect() {
      try {
        this.set(await activeSessions());
      } catch {
        // A scrape while the store is down reports the last value rather than failing.
      }
    },
  });
  const logins = new Counter({
    name: 'tessera_logins_total',
    help: 'Login attempts by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'tessera_rejections_total',
    help: 'Refused requests and tokens by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const events = new Counter({
    name: 'tessera_events_total',
    help: 'Session engine events by type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'tessera_store_latency_seconds',
    help: 'Store call latency by operation and outcome',
    labelNames: ['op', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });

  function timeStore<S extends SessionStore & KeyValueStore>(store: S): S {
    const cache = new Map<PropertyKey, unknown>();
    return new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || prop === 'constructor') return v;
        let w = cache.get(prop);
        if (!w) {
          const op = String(prop);
          w = async (...args: unknown[]) => {
            const end = latency.startTimer({ op });
            try {
              const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
              end({ outcome: 'ok' });
              return r;
            } catch (e) {
              end({ outcome: 'error' });
              throw e;
            }
          };
          cache.set(prop, w);
        }
        return w;
      },
    });
  }

  function attach(engine: SessionManager): () => void {
    return engine.on('*', (e) => {
      events.inc({ type: e.type });
      if (e.type === 'csrf_rejected') rejections.inc({ reason: `csrf_${e.reason ?? 'unknown'}` });
      else if (e.type === 'token_invalid')
        rejections.inc({ reason: `token_${e.reason ?? 'unknown'}` });
      else if (e.type === 'expired') rejections.inc({ reason: `expired_${e.reason ?? 'unknown'}` });
      else if (e.type === 'theft_suspected' || e.type === 'guessing_suspected')
        rejections.inc({ reason: e.type });
    });
  }

  return { registry, logins, rejections, timeStore, attach };
}
