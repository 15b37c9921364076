/**
 * The scripts on a user's index: list the user's records, and delete them all (raising the
 * user's revocation epoch in the same step).
 */
import { script } from './lib.js';

/**
 * KEYS[1] user index. Pairs of (id, value) for members scored after `now`; value
 * is '' for a missing record.
 */
export const LIST_BY_USER = script(
  'list-by-user',
  ['now'],
  `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, id in ipairs(ids) do
  if isLocal(tagOf(id)) then
    out[#out + 1] = id
    out[#out + 1] = redis.call('GET', rKey(id)) or ''
  end
end
return out
`,
);

/**
 * KEYS[1] user index. `exceptHandle` '' keeps no family; `epochAt` '' raises no epoch;
 * `epochExpiresAt` is a PXAT value. Raises the user's epoch, and deletes the user's records and the other
 * entries of their live sessions' families, in one step. Reply: {live deleted}.
 */
export const DELETE_BY_USER = script(
  'delete-by-user',
  ['userId', 'exceptHandle', 'userTag', 'epochAt', 'epochExpiresAt'],
  `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n, plan, gone = 0, newPlan(), {}
for _, id in ipairs(ids) do
  if isLocal(tagOf(id)) then
    local f = readRec(rKey(id))
    if not f then
      gone[#gone + 1] = id
    else
      local d = facts(f)
      if d.u == userId and d.h ~= exceptHandle then
        planEntry(id, d, plan)
        if d.live then
          n = n + 1
          planFamily(d.h, plan)
        end
      end
    end
  end
end
if epochAt ~= '' then raiseEpoch(userTag, userId, epochAt, epochExpiresAt) end
for _, id in ipairs(gone) do redis.call('ZREM', KEYS[1], id) end
runPlan(plan)
return {n}
`,
);
