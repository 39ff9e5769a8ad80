package redisview

import "github.com/redis/go-redis/v9"

// The Lua scripts below are the store's only writers of view state, so every
// change a reader can observe is one script's complete effect (Redis runs a
// script without interleaving any other command).
//
// Every script takes KEYS[1] = the view's meta key, which routes the call to
// the view's Cluster slot, and ARGV[1] = the view's key prefix
// ("tm:{view}:"); the other keys it touches are built from that prefix and so
// share the hash tag and the slot. Scripts carry no shebang flags, so they run
// on Redis 6 and 7 alike.
//
// A script validates all of its input before its first write: Redis does not
// roll back a script that fails halfway, so a late error would leave half a
// batch applied.
//
// Errors are returned as error replies whose first word is a code the Go side
// maps to a sentinel (see scriptError).

// luaPrelude holds the helpers shared by the scripts: position comparison
// and token-wise state addition with exact big integers.
const luaPrelude = `
-- The string functions as locals: a global and a field lookup per call
-- were a good part of the per-group cost of the apply script.
local find, sub, format, byte, match, concat = string.find, string.sub, string.format, string.byte, string.match, table.concat
local tonumber = tonumber

-- bytecmp compares two strings byte by byte. Lua's < on strings uses
-- strcoll, and redis-server sets LC_COLLATE from its environment, so < is
-- not a byte order on every machine.
local function bytecmp(a, b)
  if a == b then return 0 end
  local n = #a
  if #b < n then n = #b end
  for i = 1, n do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then
      if x < y then return -1 end
      return 1
    end
  end
  if #a < #b then return -1 end
  return 1
end

-- poscmp compares two formats.Position strings "file:%010d:%06d[@gtid]" the
-- way Position.Compare does: the GTID takes no part, and a longer file name
-- (its sequence number outgrew the padding) sorts after a shorter one.
local function poscmp(a, b)
  local i = find(a, '@', 1, true)
  if i then a = sub(a, 1, i - 1) end
  i = find(b, '@', 1, true)
  if i then b = sub(b, 1, i - 1) end
  local fa, fb = #a - 18, #b - 18
  if fa ~= fb and fa > 0 and fb > 0 then
    if fa < fb then return -1 end
    return 1
  end
  return bytecmp(a, b)
end

-- Exact signed integers of any length, held as a sign and little-endian
-- base 1e7 limbs: Lua numbers are doubles, exact only below 2^53.
local BASE = 10000000
local WIDTH = 7

local function bigparse(s)
  local neg, first = false, 1
  if byte(s, 1) == 45 then neg, first = true, 2 end
  local limbs, n, j = {}, 0, #s
  while j >= first do
    local k = j - WIDTH + 1
    if k < first then k = first end
    n = n + 1
    limbs[n] = tonumber(sub(s, k, j))
    j = k - 1
  end
  while n > 0 and limbs[n] == 0 do
    limbs[n] = nil
    n = n - 1
  end
  if n == 0 then neg = false end
  return neg, limbs, n
end

local function bigcmpmag(a, na, b, nb)
  if na ~= nb then
    if na < nb then return -1 end
    return 1
  end
  for i = na, 1, -1 do
    if a[i] ~= b[i] then
      if a[i] < b[i] then return -1 end
      return 1
    end
  end
  return 0
end

local function bigaddmag(a, na, b, nb)
  local r, carry, n = {}, 0, na
  if nb > n then n = nb end
  for i = 1, n do
    local s = (a[i] or 0) + (b[i] or 0) + carry
    if s >= BASE then
      r[i], carry = s - BASE, 1
    else
      r[i], carry = s, 0
    end
  end
  if carry > 0 then
    n = n + 1
    r[n] = carry
  end
  return r, n
end

-- bigsubmag returns |a| - |b| for |a| >= |b|.
local function bigsubmag(a, na, b, nb)
  local r, borrow = {}, 0
  for i = 1, na do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then
      r[i], borrow = s + BASE, 1
    else
      r[i], borrow = s, 0
    end
  end
  local n = na
  while n > 0 and r[n] == 0 do
    r[n] = nil
    n = n - 1
  end
  return r, n
end

local function bigstring(neg, r, n)
  if n == 0 then return '0' end
  local parts = {format('%d', r[n])}
  if neg then parts[1] = '-' .. parts[1] end
  for i = n - 1, 1, -1 do
    parts[#parts + 1] = format('%07d', r[i])
  end
  return concat(parts)
end

-- bigadd adds two canonical signed decimal integer strings exactly.
local function bigadd(x, y)
  if #x <= 15 and #y <= 15 then
    -- Both below 1e15 in magnitude: the double sum is exact (< 2^53).
    return format('%d', tonumber(x) + tonumber(y))
  end
  local xn, xl, xc = bigparse(x)
  local yn, yl, yc = bigparse(y)
  if xn == yn then
    local r, n = bigaddmag(xl, xc, yl, yc)
    return bigstring(xn, r, n)
  end
  local c = bigcmpmag(xl, xc, yl, yc)
  if c == 0 then return '0' end
  if c > 0 then
    local r, n = bigsubmag(xl, xc, yl, yc)
    return bigstring(xn, r, n)
  end
  local r, n = bigsubmag(yl, yc, xl, xc)
  return bigstring(yn, r, n)
end

-- tokens splits a state at its single spaces (a plain find: faster than
-- gmatch in Lua 5.1).
local function tokens(s)
  local t, n, i = {}, 0, 1
  while true do
    local j = find(s, ' ', i, true)
    n = n + 1
    if not j then
      t[n] = sub(s, i)
      return t, n
    end
    t[n] = sub(s, i, j - 1)
    i = j + 1
  end
end

-- kindsof turns a layout string into an array: true for an exact integer
-- token ('i'), false for a float ('f'); nil for an invalid layout. For a
-- layout of at most 32 tokens (Lua's limit of captures) it also holds two
-- patterns that split a state into its tokens in one string.match, much
-- cheaper than a find and a sub per token: k.strict, whose integer tokens
-- must be canonical-looking integers (the check parsestate makes), and
-- k.any, any nk space-separated tokens (what tokens gives for a state of
-- nk tokens).
local function kindsof(layout)
  local k, strict, any = {}, {}, {}
  for i = 1, #layout do
    local c = byte(layout, i)
    if c == 105 then
      k[i] = true
      strict[i] = '(%-?%d+)'
    elseif c == 102 then
      k[i] = false
      strict[i] = '([^ ]+)'
    else
      return nil
    end
    any[i] = '([^ ]*)'
  end
  if #layout > 0 and #layout <= 32 then
    k.strict = '^' .. concat(strict, ' ') .. '$'
    k.any = '^' .. concat(any, ' ') .. '$'
  end
  return k
end

-- parsestate checks that s is a state of layout kinds (nk tokens: 'i' a
-- canonical signed integer, 'f' a number) and returns its tokens and
-- whether they are all zero, or nil when s is malformed.
local function parsestate(kinds, nk, s)
  local t, checked
  if kinds.strict then
    t = {match(s, kinds.strict)}
    -- A match has checked the integer tokens already.
    checked = t[1] ~= nil
  end
  if not checked then
    local n
    t, n = tokens(s)
    if n ~= nk then return nil end
  end
  local zero = true
  for i = 1, nk do
    local x = t[i]
    if kinds[i] then
      if not checked and not find(x, '^%-?%d+$') then return nil end
      if x ~= '0' and x ~= '-0' then zero = false end
    else
      local f = tonumber(x)
      if f == nil then return nil end
      if f ~= 0 then zero = false end
    end
  end
  return t, zero
end

-- addtokens adds state string a and parsed state tb token-wise; it returns
-- nil when every token of the sum is zero (the field is then deleted).
-- A delta token '0' leaves the stored token as it is, unparsed: most
-- deltas are partly zero (an update within a group moves sums, not
-- counts), and x + 0 = x for exact integers and for every float but -0.
local function addtokens(kinds, nk, a, tb)
  local ta
  if kinds.any then ta = {match(a, kinds.any)} end
  if not ta or not ta[1] then ta = tokens(a) end
  local out, zero = {}, true
  for i = 1, nk do
    local v
    local x, y = ta[i], tb[i]
    if y == '0' and x ~= '-0' then
      v = x
      if kinds[i] then
        if x ~= '0' then zero = false end
      elseif tonumber(x) ~= 0 then
        zero = false
      end
    elseif kinds[i] then
      if #x <= 15 and #y <= 15 then
        -- Both below 1e15 in magnitude: the double sum is exact (< 2^53).
        v = format('%d', tonumber(x) + tonumber(y))
      else
        v = bigadd(x, y)
      end
      if v ~= '0' then zero = false end
    else
      local f = tonumber(x) + tonumber(y)
      if f ~= 0 then zero = false end
      v = format('%.17g', f)
    end
    out[i] = v
  end
  if zero then return nil end
  return concat(out, ' ')
end

-- addstate adds two state strings of layout (for the test hook).
local function addstate(layout, a, b)
  local kinds = kindsof(layout)
  return addtokens(kinds, #layout, a, (tokens(b)))
end

-- addhash adds the states ds[1..n] (parsed: ts) into fields fs of hash
-- key, deleting fields whose sum is all zero. fs must not repeat a field.
-- Reads and writes go 256 fields per command.
local function addhash(key, kinds, nk, fs, ds, ts, n)
  local chunk = 256
  for base = 1, n, chunk do
    local last = base + chunk - 1
    if last > n then last = n end
    local names = {}
    for i = base, last do names[#names + 1] = fs[i] end
    local cur = redis.call('HMGET', key, unpack(names))
    local sets, dels = {}, {}
    for i = base, last do
      local c = cur[i - base + 1]
      if c then
        local v = addtokens(kinds, nk, c, ts[i])
        if v then
          sets[#sets + 1] = fs[i]
          sets[#sets + 1] = v
        else
          dels[#dels + 1] = fs[i]
        end
      else
        sets[#sets + 1] = fs[i]
        sets[#sets + 1] = ds[i]
      end
    end
    if #sets > 0 then redis.call('HSET', key, unpack(sets)) end
    if #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
  end
end

-- fenceguard refuses a batch write whose fencing token is older than the
-- newest token that wrote the view's batch state (meta field
-- fence:<scope>), and records a newer one: the store itself remembers the
-- highest token it saw, so a writer that passed its lease check before
-- its lease was taken over cannot land once the new holder has written.
-- No scope (nil or ''): an unfenced write, not checked.
local function fenceguard(meta, scope, token)
  if not scope or scope == '' then return nil end
  local f = 'fence:' .. scope
  local have = redis.call('HGET', meta, f)
  if have and tonumber(have) > tonumber(token) then
    return redis.error_reply('TMTOKEN ' .. scope .. ' token ' .. token .. ' is older than token ' .. have)
  end
  if have ~= token then redis.call('HSET', meta, f, token) end
  return nil
end

-- publishguard applies the rule shared by the publish scripts to the meta
-- fields m = {gen, cut, ckpt, layout}: it returns nil to go on, 0 when this
-- generation is already published at this cut, or an error reply for an
-- older generation or cut, or state written for another layout.
local function publishguard(m, gen, cut, layout)
  if m[1] then
    local g = tonumber(m[1])
    if tonumber(gen) == g and m[2] == cut then return 0 end
    if tonumber(gen) <= g then
      return redis.error_reply('TMSTALE generation ' .. gen .. ' is not newer than the published generation ' .. m[1])
    end
    if poscmp(cut, m[2]) < 0 then
      return redis.error_reply('TMSTALE cut ' .. cut .. ' is before the published cut ' .. m[2])
    end
  end
  if m[4] and m[4] ~= layout then
    return redis.error_reply('TMLAYOUT state was written for ' .. m[4] .. ', generation is for ' .. layout)
  end
  return nil
end

-- checkpoint applies the checkpoint rule shared by the apply scripts to
-- ck, the stored checkpoint (false if none). It returns nil to go on, 0
-- when the batch was already applied, or an error reply.
local function checkpoint(meta, ck, from, to)
  if not ck then
    return redis.error_reply('TMMISSING view state is missing (no checkpoint in ' .. meta .. ')')
  end
  if poscmp(ck, to) >= 0 then return 0 end
  if poscmp(ck, from) ~= 0 then
    return redis.error_reply('TMFENCED ' .. ck)
  end
  return nil
end
`

// luaApplyAgg adds one batch of per-segment deltas and moves the checkpoint.
//
// ARGV: prefix, from, to, toSeg, fingerprint, nsegs, width, then per
// segment: seg id, nfields, then nfields entries of width arguments, then
// the checkpoint's commit time. The fingerprint is the token layout,
// optionally followed by '#' and a digest of the view definition; the
// stored one must equal it. An empty fingerprint (a view not bound yet) is
// allowed for a batch without deltas: it only moves the checkpoint.
//
// An entry of width 2 is a group key and its delta state, which the script
// adds to the segment's hash and the running total. An entry of width 6
// (see Known) adds, per hash (the segment's, then the total), the value
// the caller expects the field to hold ("-" absent, "" unknown) and the
// sum to store when it does ("" deletes): then the script stores that sum
// without parsing anything, and adds the delta itself otherwise. A batch
// of width 6 answers, per entry and hash, the value the script computed
// itself ("" for deleted) or false where it stored the caller's sum.
const luaApplyAgg = luaPrelude + luaApplyAggBody

const luaApplyAggBody = `
local meta, p = KEYS[1], ARGV[1]
local from, to, toseg, fp = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local m = redis.call('HMGET', meta, 'ckpt', 'layout')
local stop = checkpoint(meta, m[1], from, to)
if stop then return stop end
local stored = m[2]
local nsegs, width = tonumber(ARGV[6]), tonumber(ARGV[7])
if fp == '' then
  if nsegs > 0 then return redis.error_reply('TMBADSTATE deltas without a fingerprint') end
elseif stored and stored ~= fp then
  return redis.error_reply('TMLAYOUT state was written for ' .. stored .. ', batch is for ' .. fp)
end
if width ~= 2 and width ~= 6 then return redis.error_reply('TMBADSTATE entry width ' .. ARGV[7]) end
-- The layout is parsed only when a delta has to be: a batch whose sums
-- the caller computed (width 6) usually needs none.
local layout = match(fp, '^[^#]*')
local kinds, nk
local function parse(seg, f, d)
  if not kinds then
    kinds, nk = kindsof(layout), #layout
    if not kinds then return nil, redis.error_reply('TMBADSTATE layout ' .. layout) end
  end
  local t, zero = parsestate(kinds, nk, d)
  if not t then
    return nil, redis.error_reply('TMBADSTATE segment ' .. seg .. ' group ' .. f .. ': state ' .. d .. ' does not match layout ' .. layout)
  end
  return t, zero
end

local speed = p .. 'speed'
local i, reply = 8, 1
if width == 2 then
  -- Parse and check everything first: a script is not rolled back.
  local segs = {}
  for s = 1, nsegs do
    local seg, n = ARGV[i], tonumber(ARGV[i + 1])
    local fs, ds, ts, cnt, seen = {}, {}, {}, 0, {}
    for j = 0, n - 1 do
      local f, d = ARGV[i + 2 + 2 * j], ARGV[i + 3 + 2 * j]
      local t, zero = parse(seg, f, d)
      if not t then return zero end
      if seen[f] then
        return redis.error_reply('TMBADSTATE segment ' .. seg .. ': group ' .. f .. ' twice')
      end
      seen[f] = true
      if not zero then
        cnt = cnt + 1
        fs[cnt], ds[cnt], ts[cnt] = f, d, t
      end
    end
    if cnt > 0 then
      segs[#segs + 1] = {seg, fs, ds, ts, cnt}
    end
    i = i + 2 + 2 * n
  end
  for _, sg in ipairs(segs) do
    redis.call('ZADD', p .. 'segs', sg[1], sg[1])
    addhash(p .. 's:' .. sg[1], kinds, nk, sg[2], sg[3], sg[4], sg[5])
    addhash(speed, kinds, nk, sg[2], sg[3], sg[4], sg[5])
  end
else
  -- Read both hashes, decide every field and parse the deltas that must
  -- be added here, all before the first write.
  -- spd holds the running total's fields as the batch's earlier segments
  -- leave them ('' deleted): the reads all come before the first write.
  local out, writes, spd = {}, {}, {}
  for s = 1, nsegs do
    local seg, n = ARGV[i], tonumber(ARGV[i + 1])
    local key = p .. 's:' .. seg
    local fs, seen = {}, {}
    for j = 1, n do
      local f = ARGV[i + 6 * j - 4]
      if seen[f] then
        return redis.error_reply('TMBADSTATE segment ' .. seg .. ': group ' .. f .. ' twice')
      end
      seen[f], fs[j] = true, f
    end
    if n > 0 then
      local cur = {redis.call('HMGET', key, unpack(fs)), redis.call('HMGET', speed, unpack(fs))}
      local sets, dels = {{}, {}}, {{}, {}}
      for j = 1, n do
        local b = i + 6 * j - 4
        local f, d, t, zero = fs[j], ARGV[b + 1], nil, nil
        for h = 1, 2 do
          local c, want = cur[h][j], ARGV[b + 2 * h]
          if h == 2 and spd[f] ~= nil then c = spd[f] end
          if c == '' then c = false end
          local v, told = nil, false
          if want ~= '' and ((want == '-' and not c) or c == want) then
            v = ARGV[b + 2 * h + 1]
          else
            if not t then
              t, zero = parse(seg, f, d)
              if not t then return zero end
            end
            if not c then
              if zero then v = '' else v = d end
            elseif zero then
              v = c
            else
              v = addtokens(kinds, nk, c, t) or ''
            end
            told = v
          end
          out[#out + 1] = told
          if h == 2 then spd[f] = v end
          if v == '' then
            if c then dels[h][#dels[h] + 1] = f end
          elseif v ~= c then
            sets[h][#sets[h] + 1] = f
            sets[h][#sets[h] + 1] = v
          end
        end
      end
      writes[#writes + 1] = {seg, key, sets, dels}
    end
    i = i + 2 + 6 * n
  end
  for _, w in ipairs(writes) do
    redis.call('ZADD', p .. 'segs', w[1], w[1])
    for h, k in ipairs({w[2], speed}) do
      if #w[3][h] > 0 then redis.call('HSET', k, unpack(w[3][h])) end
      if #w[4][h] > 0 then redis.call('HDEL', k, unpack(w[4][h])) end
    end
  end
  reply = out
end
-- One HSET: the checkpoint and its time change in one command (one
-- keyspace notification for a reader waiting on the checkpoint).
local ctime = ARGV[#ARGV]
if ctime ~= '' then
  redis.call('HSET', meta, 'ckpt', to, 'seg', toseg, 'ckpt_time', ctime)
else
  redis.call('HSET', meta, 'ckpt', to, 'seg', toseg)
end
return reply
`

// luaReadAgg returns the view's meta fields, the published generation's
// batch hash and the running speed total, all at one instant.
//
// ARGV: prefix. Reply: {ckpt, seg, gen, cut, cut_seg, cut_time, layout,
// batch fields, speed fields}.
const luaReadAgg = `
local meta, p = KEYS[1], ARGV[1]
local m = redis.call('HMGET', meta, 'ckpt', 'seg', 'gen', 'cut', 'cut_seg', 'cut_time', 'layout')
if not m[1] then
  return redis.error_reply('TMMISSING view state is missing (no checkpoint in ' .. meta .. ')')
end
local b = {}
if m[3] then b = redis.call('HGETALL', p .. 'b:' .. m[3]) end
m[8] = b
m[9] = redis.call('HGETALL', p .. 'speed')
m[10] = redis.call('HGET', meta, 'ckpt_time')
return m
`

// luaPublishAgg makes generation gen the view's batch: one pointer flip,
// the segments it covers dropped and the running total recomputed from the
// survivors.
//
// ARGV: prefix, gen, cut, cutSeg, cutTime, fingerprint, and optionally
// the fence scope and token (fenceguard).
const luaPublishAgg = luaPrelude + `
local meta, p = KEYS[1], ARGV[1]
local gen, cut, cutseg, cuttime, fp = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local layout = string.match(fp, '^[^#]*')
local fstop = fenceguard(meta, ARGV[7], ARGV[8])
if fstop then return fstop end
local m = redis.call('HMGET', meta, 'gen', 'cut', 'ckpt', 'layout')
local stop = publishguard(m, gen, cut, fp)
if stop then return stop end

local segs = p .. 'segs'
for _, id in ipairs(redis.call('ZRANGEBYSCORE', segs, '-inf', cutseg)) do
  redis.call('DEL', p .. 's:' .. id)
end
redis.call('ZREMRANGEBYSCORE', segs, '-inf', cutseg)

local speed = p .. 'speed'
redis.call('DEL', speed)
local kinds = kindsof(layout)
if not kinds then return redis.error_reply('TMBADSTATE layout ' .. layout) end
local nk = #layout
local acc, order = {}, {}
for _, id in ipairs(redis.call('ZRANGE', segs, 0, -1)) do
  local h = redis.call('HGETALL', p .. 's:' .. id)
  for j = 1, #h, 2 do
    local f, v = h[j], h[j + 1]
    local cur = acc[f]
    if cur == nil then
      order[#order + 1] = f
      acc[f] = v
    elseif cur == false then
      acc[f] = v
    else
      acc[f] = addtokens(kinds, nk, cur, (tokens(v))) or false
    end
  end
end
local sets = {}
for _, f in ipairs(order) do
  local v = acc[f]
  if v then
    sets[#sets + 1] = f
    sets[#sets + 1] = v
    if #sets >= 512 then
      redis.call('HSET', speed, unpack(sets))
      sets = {}
    end
  end
end
if #sets > 0 then redis.call('HSET', speed, unpack(sets)) end

local gens = p .. 'gens'
local keep = tonumber(gen)
if m[1] then keep = tonumber(m[1]) end
for _, g in ipairs(redis.call('ZRANGEBYSCORE', gens, '-inf', '(' .. keep)) do
  redis.call('DEL', p .. 'b:' .. g)
end
redis.call('ZREMRANGEBYSCORE', gens, '-inf', '(' .. keep)
redis.call('ZADD', gens, gen, gen)

redis.call('HSET', meta, 'gen', gen, 'cut', cut, 'cut_seg', cutseg, 'cut_time', cuttime, 'layout', fp)
if not m[3] or poscmp(m[3], cut) < 0 then
  redis.call('HSET', meta, 'ckpt', cut, 'seg', cutseg, 'ckpt_time', cuttime)
end
return 1
`

// luaApplyMirror writes one batch of row versions into the mirror's
// overlay and moves the checkpoint.
//
// ARGV: prefix, from, to, layout, n, then n pairs of primary key and
// stored row.
const luaApplyMirror = luaPrelude + luaApplyMirrorBody

const luaApplyMirrorBody = `
local meta, p = KEYS[1], ARGV[1]
local from, to, layout = ARGV[2], ARGV[3], ARGV[4]
local m = redis.call('HMGET', meta, 'ckpt', 'layout')
local stop = checkpoint(meta, m[1], from, to)
if stop then return stop end
local stored = m[2]
local n = tonumber(ARGV[5])
if layout == '' then
  if n > 0 then return redis.error_reply('TMBADSTATE rows without a fingerprint') end
elseif stored and stored ~= layout then
  return redis.error_reply('TMLAYOUT state was written for ' .. stored .. ', batch is for ' .. layout)
end
local rows = p .. 'rows'
for base = 0, n - 1, 256 do
  local last = base + 255
  if last > n - 1 then last = n - 1 end
  redis.call('HSET', rows, unpack(ARGV, 6 + 2 * base, 7 + 2 * last))
end
local ctime = ARGV[#ARGV]
if ctime ~= '' then
  redis.call('HSET', meta, 'ckpt', to, 'ckpt_time', ctime)
else
  redis.call('HSET', meta, 'ckpt', to)
end
return 1
`

// luaApplyMany runs several apply scripts' bodies in one script call, one
// after the other, as a pipeline of their calls would: each validates its
// batch before its own first write. One call saves Redis the per-call cost
// of the others (the dispatch, the tables of KEYS and ARGV, the prelude),
// a good part of a small batch's time. It is for a single Redis: a Cluster
// refuses a script whose keys are in different slots.
//
// KEYS: each call's meta key. ARGV: the number of calls, then per call its
// kind ('a' aggregate, 'm' mirror), its number of arguments and its ARGV.
// Reply: each call's reply or error, in order.
const luaApplyMany = luaPrelude + `
local function applyagg(KEYS, ARGV)
` + luaApplyAggBody + `
end
local function applymirror(KEYS, ARGV)
` + luaApplyMirrorBody + `
end
local out, a = {}, 2
for c = 1, tonumber(ARGV[1]) do
  local kind, n = ARGV[a], tonumber(ARGV[a + 1])
  local args = {}
  for j = 1, n do args[j] = ARGV[a + 1 + j] end
  if kind == 'a' then
    out[c] = applyagg({KEYS[c]}, args)
  elseif kind == 'm' then
    out[c] = applymirror({KEYS[c]}, args)
  else
    out[c] = redis.error_reply('TMBADSTATE call kind ' .. kind)
  end
  a = a + 2 + n
end
return out
`

// luaReadMirror returns one row: the overlay's version when it is newer
// than the published cut, else the published generation's.
//
// ARGV: prefix, pk. Reply: {ckpt, gen, cut, cut_time, overlay row or false,
// batch row or false}.
const luaReadMirror = luaPrelude + `
local meta, p, pk = KEYS[1], ARGV[1], ARGV[2]
local m = redis.call('HMGET', meta, 'ckpt', 'gen', 'cut', 'cut_time', 'ckpt_time')
m[7] = m[5]
if not m[1] then
  return redis.error_reply('TMMISSING view state is missing (no checkpoint in ' .. meta .. ')')
end
local o = redis.call('HGET', p .. 'rows', pk)
if o then
  local v = string.match(o, '^%["([^"]*)"')
  if not m[3] or (v and poscmp(v, m[3]) > 0) then
    m[5] = o
    m[6] = false
    return m
  end
end
m[5] = false
m[6] = false
if m[2] then m[6] = redis.call('HGET', p .. 'mb:' .. m[2], pk) end
return m
`

// luaPublishMirror makes generation gen the mirror's batch (a pointer
// flip; readers ignore overlay rows at or before the new cut from then on).
//
// ARGV: prefix, gen, cut, cutTime, layout, and optionally the fence scope
// and token (fenceguard).
const luaPublishMirror = luaPrelude + `
local meta, p = KEYS[1], ARGV[1]
local gen, cut, cuttime, layout = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local fstop = fenceguard(meta, ARGV[6], ARGV[7])
if fstop then return fstop end
local m = redis.call('HMGET', meta, 'gen', 'cut', 'ckpt', 'layout')
local stop = publishguard(m, gen, cut, layout)
if stop then return stop end
local gens = p .. 'gens'
local keep = tonumber(gen)
if m[1] then keep = tonumber(m[1]) end
for _, g in ipairs(redis.call('ZRANGEBYSCORE', gens, '-inf', '(' .. keep)) do
  redis.call('DEL', p .. 'mb:' .. g)
end
redis.call('ZREMRANGEBYSCORE', gens, '-inf', '(' .. keep)
redis.call('ZADD', gens, gen, gen)
redis.call('HSET', meta, 'gen', gen, 'cut', cut, 'cut_time', cuttime, 'layout', layout)
if not m[3] or poscmp(m[3], cut) < 0 then
  redis.call('HSET', meta, 'ckpt', cut, 'ckpt_time', cuttime)
end
return 1
`

// luaPruneMirror deletes, from one HSCAN page of the overlay, the rows at or
// before the published cut (readers already ignore them). ARGV: prefix,
// cursor. Reply: the next cursor ("0" when done).
const luaPruneMirror = luaPrelude + `
local meta, p = KEYS[1], ARGV[1]
local cut = redis.call('HGET', meta, 'cut')
if not cut then return '0' end
local rows = p .. 'rows'
local r = redis.call('HSCAN', rows, ARGV[2], 'COUNT', 512)
local h = r[2]
for j = 1, #h, 2 do
  local v = string.match(h[j + 1], '^%["([^"]*)"')
  if v and poscmp(v, cut) <= 0 then redis.call('HDEL', rows, h[j]) end
end
return r[1]
`

// luaBigAdd is a test hook: it returns addstate(ARGV[1], ARGV[2], ARGV[3])
// (or "" for an all-zero sum), so tests can hold the Lua arithmetic against
// math/big. It touches no key.
const luaBigAdd = luaPrelude + `
local v = addstate(ARGV[1], ARGV[2], ARGV[3])
if v == nil then return '' end
return v
`

// luaLoadStart begins a fenced batch load: the fence checked, the
// generation's hash emptied and registered (see loadEncoded).
//
// KEYS: meta, the generation's hash, gens. ARGV: scope, token, gen.
const luaLoadStart = luaPrelude + `
local stop = fenceguard(KEYS[1], ARGV[1], ARGV[2])
if stop then return stop end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3])
return 1
`

// luaLoadChunk writes one chunk of a fenced batch load, the fence checked
// in the same step.
//
// KEYS: meta, the generation's hash. ARGV: scope, token, then field and
// value pairs.
const luaLoadChunk = luaPrelude + `
local stop = fenceguard(KEYS[1], ARGV[1], ARGV[2])
if stop then return stop end
if #ARGV > 2 then redis.call('HSET', KEYS[2], unpack(ARGV, 3)) end
return 1
`

type scripts struct {
	loadStart, loadChunk                                *redis.Script
	applyAgg, readAgg, publishAgg                       *redis.Script
	applyMirror, readMirror, publishMirror, pruneMirror *redis.Script
	applyMany                                           *redis.Script
	bigAdd                                              *redis.Script
}

func newScripts() scripts {
	return scripts{
		loadStart:     redis.NewScript(luaLoadStart),
		loadChunk:     redis.NewScript(luaLoadChunk),
		applyAgg:      redis.NewScript(luaApplyAgg),
		readAgg:       redis.NewScript(luaReadAgg),
		publishAgg:    redis.NewScript(luaPublishAgg),
		applyMirror:   redis.NewScript(luaApplyMirror),
		applyMany:     redis.NewScript(luaApplyMany),
		readMirror:    redis.NewScript(luaReadMirror),
		publishMirror: redis.NewScript(luaPublishMirror),
		pruneMirror:   redis.NewScript(luaPruneMirror),
		bigAdd:        redis.NewScript(luaBigAdd),
	}
}
