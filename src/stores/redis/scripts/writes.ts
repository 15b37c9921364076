/**
 * The scripts that write one session: create (with a sign-in's checks), update (compare-and-set
 * on the version), touch, and rotate (new record, tombstone or deletion of the old one).
 */
import { script } from './lib.js';

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
