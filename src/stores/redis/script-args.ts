/**
 * Named arguments for the Redis store's Lua scripts: a script declares the names of its
 * arguments, reads each as a Lua local of that name, and its callers pass them by name, so no
 * side counts `ARGV` positions (scripts.test.ts checks that both sides agree).
 */
import { createHash } from 'node:crypto';

/**
 * A Lua script and its SHA1, for `EVALSHA` with an `EVAL` fallback on `NOSCRIPT`, and the names
 * of its arguments: `ARGV[1]` and `ARGV[2]` are always the key prefix and the slot tag (`#run`
 * adds them), `ARGV[3]` on are `params` in order — the script reads each one as a Lua local of
 * the same name, declared at its top — and, when `rest` is set, further arguments follow (the
 * sign-in checks of `gate`, `update`'s field pairs), from the index the script knows as `REST`.
 * Callers build the arguments with {@link argv}, by name.
 */
export interface Script<P extends string = string> {
  readonly name: string;
  readonly params: readonly P[];
  readonly rest: boolean;
  readonly lua: string;
  readonly sha: string;
}

/** The first `ARGV` index of a script's own arguments (1 and 2 are the prefix and slot tag). */
export const FIRST_PARAM = 3;

/**
 * A script's arguments from `ARGV[3]` on, in its declared order, from values given by name.
 * @param s - the script
 * @param named - a value for every one of its `params`
 * @param rest - the arguments after them (only for a script with `rest`)
 * @returns the `ARGV` tail to send after the prefix and slot tag
 * @throws Error when a name is missing or unknown, or `rest` is given to a script without it
 */
export function argv<P extends string>(
  s: Script<P>,
  named: Record<P, string | number>,
  rest: readonly (string | number)[] = [],
): (string | number)[] {
  if (rest.length > 0 && !s.rest)
    throw new Error(`redis script ${s.name} takes no further arguments`);
  const { params } = s;
  const out: (string | number)[] = new Array(params.length + rest.length);
  let given = 0;
  for (const k in named) if (Object.hasOwn(named, k)) given++;
  // As many names as params, each param among them: the same set (an object's keys are unique).
  let ok = given === params.length;
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (!Object.hasOwn(named, p)) ok = false;
    out[i] = named[p];
  }
  if (!ok) {
    throw new Error(
      `redis script ${s.name}: arguments ${Object.keys(named).join(', ')} are not ${params.join(', ')}`,
    );
  }
  for (let i = 0; i < rest.length; i++) out[params.length + i] = rest[i]!;
  return out;
}

/**
 * Build a script: `lib`, then one `local <name> = ARGV[n]` per argument (and `REST` with `rest`),
 * then `body`.
 * @param lib - the shared Lua functions
 * @param name - the script's name, for messages
 * @param params - its arguments' names, from `ARGV[3]` on
 * @param body - the script's own Lua, reading its arguments by name
 * @param rest - whether further arguments follow the named ones
 * @returns the script with its SHA1
 */
export function defineScript<const P extends string>(
  lib: string,
  name: string,
  params: readonly P[],
  body: string,
  rest = false,
): Script<P> {
  const locals = params.map((p, i) => `local ${p} = ARGV[${FIRST_PARAM + i}]`);
  if (rest) locals.push(`local REST = ${FIRST_PARAM + params.length}`);
  const lua = `${lib}\n${locals.join('\n')}\n${body}`;
  return { name, params, rest, lua, sha: createHash('sha1').update(lua).digest('hex') };
}
