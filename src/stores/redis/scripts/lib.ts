/**
 * The Lua library every Redis script starts with (key names, record fields, index upkeep), and
 * {@link script}, which puts it before a script's named arguments and body.
 */
import { defineScript, type Script } from '../script-args.js';

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

/** A Redis store script: {@link LIB}, then its arguments as locals, then `body`. */
export function script<const P extends string>(
  name: string,
  params: readonly P[],
  body: string,
  rest = false,
): Script<P> {
  return defineScript(LIB, name, params, body, rest);
}
