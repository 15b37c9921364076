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
 */
import { defineScript, type Script } from './script-args.js';

export type { Script } from './script-args.js';

const LIB = `
local P = ARGV[1]
local LOC = ARGV[2]
local SEP = '\\1'

local function split(s, n)
  local out, i = {}, 1
  while true do
    if n and #out == n - 1 then out[#out + 1] = string.sub(s, i) return out end
    local j = string.find(s, SEP, i, true)
    if not j then out[#out + 1] = string.sub(s, i) return out end
    out[#out + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end

local function tagOf(s)
  local dot = string.find(s, '.', 1, true)
  if dot and dot > 1 and dot <= 13 then
    local t = string.sub(s, 1, dot - 1)
    if not string.find(t, '[^A-Za-z0-9_%-]') then return t end
  end
  local t = (string.gsub(string.sub(s, 1, 8), '[^A-Za-z0-9_%-]', ''))
  if t == '' then return '_' end
  return t
end

local function isLocal(tag) return LOC == '' or LOC == tag end
local function rKey(id) return P .. 's{' .. tagOf(id) .. '}' .. id end
local function hKey(h) return P .. 'h{' .. tagOf(h) .. '}' .. h end
local function uKey(ix, u) return P .. 'u{' .. ix .. '}' .. u end
local function eKey(ix, u) return P .. 'e{' .. ix .. '}' .. u end
local function int(x) return string.format('%.0f', x) end

-- A JSON field's text as a Lua string; JSON null as false.
local function str(j)
  if j == 'null' then return false end
  return cjson.decode(j)
end

-- The later of the caller's clock and the server's (both trim the same expired entries).
local function clock(given)
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if given and given > ms then return given end
  return ms
end

local function readRec(k)
  local v = redis.call('GET', k)
  if not v then return nil end
  if string.sub(v, 1, 1) == '1' then return split(v, 15) end
  return split(v)
end

-- User index: add (or raise the score of) a member, trim expired members, expire with the last.
local function uAdd(ix, u, id, score, now)
  if not isLocal(ix) then return end
  local k = uKey(ix, u)
  redis.call('ZADD', k, 'GT', score, id)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. int(now))
  local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', k, int(tonumber(top[2]))) end
end

local function uRem(ix, u, id)
  if isLocal(ix) then redis.call('ZREM', uKey(ix, u), id) end
end

-- Family (handle -> ids): append an id; with prune, drop ids whose record is gone.
local function hAdd(h, id, exp, prune)
  if not isLocal(tagOf(h)) then return end
  local k = hKey(h)
  local v = redis.call('GET', k)
  if not v then redis.call('SET', k, id, 'PXAT', exp) return end
  local keep = {}
  for _, x in ipairs(split(v)) do
    if x ~= id and not (prune and isLocal(tagOf(x)) and redis.call('EXISTS', rKey(x)) == 0) then
      keep[#keep + 1] = x
    end
  end
  keep[#keep + 1] = id
  redis.call('SET', k, table.concat(keep, SEP), 'KEEPTTL')
  redis.call('PEXPIREAT', k, exp, 'GT')
end

local function hRem(h, id)
  if not isLocal(tagOf(h)) then return end
  local k = hKey(h)
  local v = redis.call('GET', k)
  if not v then return end
  local keep = {}
  for _, x in ipairs(split(v)) do
    if x ~= id then keep[#keep + 1] = x end
  end
  if #keep == 0 then redis.call('DEL', k) else redis.call('SET', k, table.concat(keep, SEP), 'KEEPTTL') end
end

local function hExpire(h, exp)
  if isLocal(tagOf(h)) then redis.call('PEXPIREAT', hKey(h), exp, 'GT') end
end

-- The decoded fields of a record that deleting it needs (reads and decodes only).
local function facts(f)
  local ix
  if f[1] == '1' then ix = str(f[14]) else ix = str(f[8]) end
  return {h = str(f[2]), u = str(f[3]), ix = ix, live = f[1] == '1'}
end

-- Delete a record (live or tombstone) whose facts were read beforehand, with its family and
-- user-index entries.
local function dropFacts(id, d)
  redis.call('DEL', rKey(id))
  hRem(d.h, id)
  if d.u and d.ix then uRem(d.ix, d.u, id) end
end

local function newPlan() return {seen = {}} end

-- Plan the deletion of one entry (reads and decodes only); run the plan with runPlan.
local function planEntry(id, d, plan)
  if plan.seen[id] then return end
  plan.seen[id] = true
  plan[#plan + 1] = {id = id, d = d}
end

-- Plan the deletion of every entry of a family (live and tombstones), as deleteByHandle does.
local function planFamily(h, plan)
  if not isLocal(tagOf(h)) then return end
  local v = redis.call('GET', hKey(h))
  if not v then return end
  for _, id in ipairs(split(v)) do
    if isLocal(tagOf(id)) then
      local f = readRec(rKey(id))
      if f then
        local d = facts(f)
        if d.h == h then planEntry(id, d, plan) end
      end
    end
  end
end

local function runPlan(plan)
  for _, p in ipairs(plan) do dropFacts(p.id, p.d) end
end

-- The checks of a sign-in (SignInOptions) in the user's slot: reads and decodes only.
-- ARGV[G..]: limit, policy ('r' reject | 'e' evict-oldest), now, authenticatedAt ('' = null),
-- the family being written. Returns 'R' (the epoch refuses), 'L' (the limit refuses), or the
-- plan of the evictions and their handles.
local function gate(ix, u, G)
  local lim, pol, now = tonumber(ARGV[G]), ARGV[G + 1], tonumber(ARGV[G + 2])
  local authAt, except = tonumber(ARGV[G + 3]), ARGV[G + 4]
  local e = redis.call('GET', eKey(ix, u))
  if e and (not authAt or authAt <= tonumber(e)) then return 'R' end
  local plan, evicted = newPlan(), {}
  if lim <= 0 then return plan, evicted end
  local live = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', uKey(ix, u), '(' .. int(now), '+inf')) do
    if isLocal(tagOf(id)) then
      local f = readRec(rKey(id))
      if f and f[1] == '1' then
        local h = str(f[2])
        if str(f[3]) == u and h ~= except and tonumber(f[7]) > now and tonumber(f[8]) > now then
          live[#live + 1] = {tonumber(f[4]), id, h}
        end
      end
    end
  end
  if #live < lim then return plan, evicted end
  if pol == 'r' then return 'L' end
  table.sort(live, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for i = 1, #live - lim + 1 do
    evicted[#evicted + 1] = live[i][3]
    planFamily(live[i][3], plan)
  end
  return plan, evicted
end

-- The reply of a sign-in: {1, n, n evicted handles}.
local function signInHead(evicted)
  local head = {1, #evicted}
  for i = 1, #evicted do head[#head + 1] = evicted[i] end
  return head
end

-- Raise the user's epoch to at (never lower it); its expiry becomes the later of the two.
local function raiseEpoch(ix, u, at, exp)
  local k = eKey(ix, u)
  local cur = redis.call('GET', k)
  if not cur then
    redis.call('SET', k, at, 'PXAT', exp)
    return
  end
  if tonumber(cur) < tonumber(at) then redis.call('SET', k, at, 'KEEPTTL') end
  redis.call('PEXPIREAT', k, exp, 'GT')
end
`;

/** A script of this file: {@link LIB}, then its arguments as locals, then `body`. */
function script<const P extends string>(
  name: string,
  params: readonly P[],
  body: string,
  rest = false,
): Script<P> {
  return defineScript(LIB, name, params, body, rest);
}

/**
 * KEYS[1] record. `idleAt` and `familyExpiresAt` are PXAT values; `userId` and `userTag` are ''
 * for an anonymous record; `signIn` '1' runs the sign-in checks, whose arguments follow
 * (`gate`).
 * Reply: {1, n, n evicted handles} created, {0} id exists, {-1} handle exists, {-3} the epoch
 * refuses, {-4} the limit refuses.
 */
export const CREATE = script(
  'create',
  ['id', 'value', 'idleAt', 'handle', 'familyExpiresAt', 'userId', 'userTag', 'now', 'signIn'],
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local h = handle
if isLocal(tagOf(h)) and redis.call('EXISTS', hKey(h)) == 1 then return {-1} end
local plan, evicted = newPlan(), {}
if signIn == '1' then
  plan, evicted = gate(userTag, userId, REST)
  if plan == 'R' then return {-3} end
  if plan == 'L' then return {-4} end
end
runPlan(plan)
redis.call('SET', KEYS[1], value, 'PXAT', idleAt)
hAdd(h, id, familyExpiresAt, false)
if userId ~= '' then uAdd(userTag, userId, id, idleAt, clock(tonumber(now))) end
return signInHead(evicted)
`,
  true,
);

/**
 * KEYS[1] record. After the named arguments: pairs of (field number, JSON text; field 15 raw
 * data), from `REST` on. Reply: {1} applied, {0} gone or version differs.
 */
export const UPDATE = script(
  'update',
  ['id', 'expectedVersion', 'now'],
  `
local f = readRec(KEYS[1])
if not f or f[1] ~= '1' or tonumber(f[13]) ~= tonumber(expectedVersion) then return {0} end
if #ARGV < REST then return {1} end
local bump, index, family = false, false, false
local ou, oix = str(f[3]), str(f[14])
for i = REST, #ARGV, 2 do
  local n = tonumber(ARGV[i])
  local v = ARGV[i + 1]
  if (n == 11 or n == 12) and v == f[n - 2] then v = '0' end
  if n == 15 then bump = true end
  if n == 3 or n == 7 then index = true end
  if n == 7 or n == 8 then family = true end
  f[n] = v
end
if bump then f[13] = int(tonumber(expectedVersion) + 1) end
local u, ix, h = str(f[3]), str(f[14]), str(f[2])
redis.call('SET', KEYS[1], table.concat(f, SEP), 'PXAT', f[7])
if ou and oix and ou ~= u then uRem(oix, ou, id) end
if index and u and ix then uAdd(ix, u, id, f[7], clock(tonumber(now))) end
if family then hExpire(h, int(math.max(tonumber(f[7]), tonumber(f[8])))) end
return {1}
`,
  true,
);

/**
 * KEYS[1] record. `lastIp` and `lastUserAgent` are JSON text, or '' to leave them unchanged. Reply: {1} or {0} when there is no live record.
 */
export const TOUCH = script(
  'touch',
  ['id', 'lastSeenAt', 'idleExpiresAt', 'lastIp', 'lastUserAgent'],
  `
local f = readRec(KEYS[1])
if not f or f[1] ~= '1' then return {0} end
f[5] = lastSeenAt
f[7] = idleExpiresAt
if lastIp ~= '' then if lastIp == f[9] then f[11] = '0' else f[11] = lastIp end end
if lastUserAgent ~= '' then if lastUserAgent == f[10] then f[12] = '0' else f[12] = lastUserAgent end end
local u, ix = str(f[3]), str(f[14])
redis.call('SET', KEYS[1], table.concat(f, SEP), 'PXAT', f[7])
if u and ix then uAdd(ix, u, id, f[7], clock(tonumber(lastSeenAt))) end
return {1}
`,
);

/**
 * KEYS[1] old record. `nextIdleAt`, `familyExpiresAt` and `tombExpiresAt` are PXAT values;
 * `tombValue` '' leaves no tombstone; user ids and tags are '' when anonymous; `signIn` '1' runs
 * the sign-in checks, whose arguments follow (`gate`).
 * Reply: {1, n, n evicted handles}, {0} gone or version differs, {-1} next id exists,
 * {-2} next handle exists, {-3} the epoch refuses, {-4} the limit refuses.
 */
export const ROTATE = script(
  'rotate',
  [
    'oldId',
    'expectedVersion',
    'nextId',
    'nextValue',
    'nextIdleAt',
    'nextHandle',
    'nextUserId',
    'nextUserTag',
    'familyExpiresAt',
    'tombValue',
    'tombExpiresAt',
    'tombUserId',
    'tombUserTag',
    'now',
    'signIn',
  ],
  `
local f = readRec(KEYS[1])
if not f or f[1] ~= '1' or tonumber(f[13]) ~= tonumber(expectedVersion) then return {0} end
local oldId, nextId, nh = oldId, nextId, nextHandle
local oldHandle, ou, oix = str(f[2]), str(f[3]), str(f[14])
local at = clock(tonumber(now))
local same = nextId == oldId
if not same and redis.call('EXISTS', rKey(nextId)) == 1 then return {-1} end
if nh ~= oldHandle and redis.call('EXISTS', hKey(nh)) == 1 then return {-2} end
local plan, evicted = newPlan(), {}
if signIn == '1' then
  plan, evicted = gate(nextUserTag, nextUserId, REST)
  if plan == 'R' then return {-3} end
  if plan == 'L' then return {-4} end
end
runPlan(plan)
redis.call('SET', rKey(nextId), nextValue, 'PXAT', nextIdleAt)
local tomb = tombValue ~= '' and not same
if tomb then
  redis.call('SET', KEYS[1], tombValue, 'PXAT', tombExpiresAt)
elseif not same then
  redis.call('DEL', KEYS[1])
end
hAdd(nh, nextId, familyExpiresAt, true)
if not tomb and not same then hRem(oldHandle, oldId) end
if nextUserId ~= '' then uAdd(nextUserTag, nextUserId, nextId, nextIdleAt, at) end
if not same then
  local tu = tombUserId
  if tomb and tu ~= '' then
    uAdd(tombUserTag, tu, oldId, tombExpiresAt, at)
    if ou and oix and ou ~= tu then uRem(oix, ou, oldId) end
  elseif ou and oix then
    uRem(oix, ou, oldId)
  end
end
return signInHead(evicted)
`,
  true,
);

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

/** KEYS[1] record. Deletes it if expired at `now`. Reply: {1} or {0}. */
export const SWEEP_ONE = script(
  'sweep-one',
  ['id', 'now'],
  `
local f = readRec(KEYS[1])
if not f then return {0} end
local exp
if f[1] == '1' then exp = math.min(tonumber(f[7]), tonumber(f[8])) else exp = tonumber(f[6]) end
if exp > tonumber(now) then return {0} end
dropFacts(id, facts(f))
return {1}
`,
);

/**
 * KEYS[1] counter. `windowEndsAt` is stored, `windowEndsAtPx` its PXAT.
 * Reply: {count, expiresAt}. The value is `count,expiresAt`; anything else under the key (an
 * expired window, a value, a list an earlier version wrote) is replaced by a new window.
 */
export const INCREMENT = script(
  'increment',
  ['now', 'windowEndsAt', 'windowEndsAtPx'],
  `
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then
  redis.call('DEL', KEYS[1])
elseif v then
  local c, e = string.match(v, '^(%d+),(.+)$')
  if c and tonumber(e) and tonumber(e) > tonumber(now) then
    c = tonumber(c) + 1
    redis.call('SET', KEYS[1], int(c) .. ',' .. e, 'KEEPTTL')
    return {c, e}
  end
end
redis.call('SET', KEYS[1], '1,' .. windowEndsAt, 'PXAT', windowEndsAtPx)
return {1, windowEndsAt}
`,
);
