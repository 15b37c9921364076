/**
 * The two engine steps every adapter takes, each without a promise when the engine can: open a
 * request's session (`loadNow`, else `load`) and commit it (`commitNow`, else `commit`).
 */
import type {
  CommitResult,
  EngineSession,
  RequestInfo,
  SessionEngine,
} from '../../core/contract.js';

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
  engine: Pick<SessionEngine<S>, 'load' | 'loadNow'>,
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

/**
 * Commit `session` and hand the cookie plan to `committed`, or the failure to `failed`: in the
 * same tick when there is nothing to write (`commitNow`), else once `commit` settles (through
 * `Promise.resolve`, as {@link loadThen}).
 *
 * @returns What `committed` or `failed` returned, or a promise of it when the commit needed I/O.
 * @example
 * ```ts
 * const r = commitThen(engine, session, (plan) => send(plan), (err) => answer(err));
 * ```
 */
export function commitThen<S extends EngineSession, R>(
  engine: Pick<SessionEngine<S>, 'commit' | 'commitNow'>,
  session: S,
  committed: (plan: CommitResult) => R,
  failed: (err: unknown) => R,
): R | Promise<Awaited<R>> {
  let plan: CommitResult | undefined;
  try {
    plan = engine.commitNow?.(session);
  } catch (err) {
    return failed(err);
  }
  if (plan !== undefined) return committed(plan);
  return Promise.resolve(engine.commit(session)).then(committed, failed) as Promise<Awaited<R>>;
}
