/**
 * The Lua scripts of the Redis store. Each runs atomically on the node that owns its one
 * declared key (`KEYS[1]`), and takes `ARGV[1]` = key prefix, `ARGV[2]` = the slot tag of
 * `KEYS[1]` in a Cluster, or `''` on a standalone server, where every key is "local"; its own
 * arguments follow, by name (see {@link Script} and {@link argv}).
 *
 * Every write of a session is one script in one slot: the caller checks that the records it
 * writes share `KEYS[1]`'s tag (id, handle, family and, for a signed-in record, the user's index
 * and epoch), so on a Cluster a script never needs a key of another slot. An id or family that a
 * script finds in a stored list and that lives in another slot (left by an older version of this
 * store) is skipped: a script never touches a key outside its slot. The record layout is
 * described in `codec.ts`.
 *
 * Redis does not roll a script back when it fails half-way, so every script reads and decodes
 * everything it needs (and runs every check) before its first write: a failure (a record a
 * script cannot decode, say) then leaves everything as it was.
 *
 * One module per family of scripts under `scripts/`: the shared Lua library (`lib.ts`), the
 * writes of one session (`writes.ts`), records and families (`families.ts`), a user's index
 * (`users.ts`), and upkeep and the key-value space (`upkeep.ts`).
 */
export type { Script } from './script-args.js';
export { DELETE, DELETE_BY_HANDLE, GET_BY_HANDLE } from './scripts/families.js';
export { INCREMENT, SWEEP_ONE } from './scripts/upkeep.js';
export { DELETE_BY_USER, LIST_BY_USER } from './scripts/users.js';
export { CREATE, ROTATE, TOUCH, UPDATE } from './scripts/writes.js';
