/**
 * The scripts on one record or one session family (by handle): delete a record, delete a
 * family, read a family's live record.
 */
import { script } from './lib.js';

/** KEYS[1] record. Reply: {1} deleted, {0} nothing there. */
export const DELETE = script(
  'delete',
  ['id'],
  `
local f = readRec(KEYS[1])
if not f then return {0} end
dropFacts(id, facts(f))
return {1}
`,
);

/** KEYS[1] family. Deletes the family's records. Reply: {deleted}. */
export const DELETE_BY_HANDLE = script(
  'delete-by-handle',
  ['handle'],
  `
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local plan, gone = newPlan(), {}
for _, id in ipairs(split(v)) do
  if isLocal(tagOf(id)) then
    local f = readRec(rKey(id))
    if f then
      local d = facts(f)
      if d.h == handle then planEntry(id, d, plan) end
    else
      gone[#gone + 1] = id
    end
  end
end
runPlan(plan)
for _, id in ipairs(gone) do hRem(handle, id) end
return {#plan}
`,
);

/**
 * KEYS[1] family. Reply: {id, value} of the family's live record (the newest
 * first), or {} when it has none.
 */
export const GET_BY_HANDLE = script(
  'get-by-handle',
  ['handle'],
  `
local v = redis.call('GET', KEYS[1])
if not v then return {} end
local ids = split(v)
for i = #ids, 1, -1 do
  local id = ids[i]
  if isLocal(tagOf(id)) then
    local r = redis.call('GET', rKey(id))
    if r and string.sub(r, 1, 1) == '1' and str(split(r, 3)[2]) == handle then return {id, r} end
  end
end
return {}
`,
);
