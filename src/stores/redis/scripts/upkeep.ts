/**
 * The upkeep and key-value scripts: sweep one expired record, and the fixed-window counter of
 * `increment`.
 */
import { script } from './lib.js';

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
