/** The one way every adapter opens a request's session: without a promise when the engine can. */
import type { EngineSession, RequestInfo, SessionEngine } from '../../core/contract.js';

/**
 * Load the session of `info` and hand it to `loaded`, or the failure to `failed`: in the same
 * tick when the engine opens it without I/O (`loadNow`), else once `load` settles. `load`'s
 * answer goes through `Promise.resolve`, so an engine answering with another realm's promise or a
 * thenable is still awaited (callers tell a pending result by `instanceof Promise`).
 *
 * @returns What `loaded` or `failed` returned, or a promise of it when the load needed I/O.
 * @example
 * ```ts
 * const r = loadThen(engine, info, (s) => proceed(s), (err) => answer(err));
 * ```
 */
export function loadThen<S extends EngineSession, R>(
  engine: SessionEngine<S>,
  info: RequestInfo,
  loaded: (session: S) => R,
  failed: (err: unknown) => R,
): R | Promise<Awaited<R>> {
  let session: S | undefined;
  try {
    session = engine.loadNow?.(info);
  } catch (err) {
    return failed(err);
  }
  if (session !== undefined) return loaded(session);
  return Promise.resolve(engine.load(info)).then(loaded, failed) as Promise<Awaited<R>>;
}
