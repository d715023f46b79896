-- Tests of resty.shmlru.l1 under plain LuaJIT:
--
--   luajit ffi/t/l1_test.lua [seed]
--
-- Run by `make test-lua`. Its promise is lua-resty-lrucache's behaviour, so
-- most of this is a differential test: one seeded random sequence of
-- get/set/delete/flush_all/get_keys/count/capacity with ttls and flags run
-- on both, at several sizes, every answer compared, on one hand-driven
-- clock (no sleeps: expiries happen when the test moves the clock), and
-- l1's list, free list and maps walked for consistency as it goes. Then
-- each edge of the API on its own, that instance methods can be replaced
-- per instance, that no global is written, and that a hit loop and a set
-- loop compile with no trace aborted.

package.path = "ffi/?.lua;ffi/t/?.lua;" .. package.path

-- The clock of both caches: lua-resty-lrucache reads ngx.now when loaded,
-- l1 is given it.
local clock = 1000
local function now() return clock end
ngx = { now = now }

local globals = {}
for k in pairs(_G) do globals[k] = true end

local lrucache = require "resty.lrucache"
local l1 = require "resty.shmlru.l1"
local T = require "check"
local expect, truthy, raises, pack, show = T.expect, T.truthy, T.raises, T.pack, T.show

local seed = tonumber(arg and arg[1]) or 20261207
math.randomseed(seed)
local random = math.random

-- same reports whether two packed answers are equal, value by value.
local function same(a, b)
    local n = math.max(a.n or #a, b.n or #b)
    for i = 1, n do
        if a[i] ~= b[i] then return false end
    end
    return true
end

local function dump(p)
    local s = {}
    for i = 1, math.min(p.n or #p, 24) do s[i] = show(p[i]) end
    return "(" .. table.concat(s, ", ") .. ")"
end

-- The picks of the random sequence.
local VALUES = { "a", "bb", 1, 0, -2.5, false, true, "", nil }
local TTLS = { nil, nil, 0, 1, 2.5, 10, -1, 0.001 }
local FLAGS = { nil, 0, 1, 7, 0xffffffff, -1, 2.5, "3", true }

-- structure_error walks c's LRU list both ways and its free list, and
-- says what is wrong, or nil: no cycle, the list as long as count, each
-- listed slot's key mapped to it, nothing mapped or valued outside the
-- list, every slot handed out either listed or free.
local function structure_error(c)
    local links, map, keys, vals = c.links, c.map, c.keys, c.vals
    local listed, n, prev = {}, 0, 0
    local slot = links[0].next
    while slot ~= 0 do
        if listed[slot] or n >= c.slots then return "a cycle at slot " .. slot end
        if slot < 1 or slot > c.used then return "slot " .. slot .. " never handed out" end
        if links[slot].prev ~= prev then return "slot " .. slot .. "'s prev is not " .. prev end
        if keys[slot] == nil or map[keys[slot]] ~= slot then return "slot " .. slot .. "'s key is not mapped to it" end
        listed[slot], n, prev = true, n + 1, slot
        slot = links[slot].next
    end
    if links[0].prev ~= prev then return "the tail is " .. links[0].prev .. ", not " .. prev end
    if n ~= c:count() then return "count " .. c:count() .. ", listed " .. n end
    local back, s = 0, links[0].prev
    while s ~= 0 and back <= n do back, s = back + 1, links[s].prev end
    if back ~= n then return "listed " .. n .. " forward, " .. back .. " backward" end
    for k, sl in pairs(map) do
        if not listed[sl] or keys[sl] ~= k then return "key " .. tostring(k) .. " mapped to slot " .. sl end
    end
    for sl in pairs(vals) do
        if not listed[sl] then return "a value in unlisted slot " .. sl end
    end
    local free, f = 0, c.free
    while f ~= 0 do
        if listed[f] or free > c.used then return "free slot " .. f .. " listed, or a cycle" end
        if keys[f] ~= nil then return "free slot " .. f .. " keeps a key" end
        free, f = free + 1, links[f].next
    end
    if free + n ~= c.used then return (c.used - free - n) .. " slots neither listed nor free" end
    return nil
end

-- differential runs ops random operations on an lrucache and an l1 of
-- size, over a key space a little larger than size, and checks that they
-- answer the same, and that they hold the same keys in the same order
-- every check_every operations.
local function differential(size, ops, check_every)
    local ref = assert(lrucache.new(size))
    local got = assert(l1.new(size, now))
    local nkeys = math.floor(size * 1.5) + 3
    local keys = {}
    for i = 1, nkeys do
        keys[i] = (i % 5 == 0) and i or ("k" .. i) -- numbers as keys too
    end
    -- and keys of other types: lrucache takes any but nil and NaN (false
    -- aside: see below)
    for _, k in ipairs({ true, 1.5, -0.0, math.huge, {}, print }) do
        keys[#keys + 1] = k
    end
    nkeys = #keys
    local checks, failed = 0, nil
    local function cmp(what, a, b)
        checks = checks + 1
        if not failed and not same(a, b) then
            failed = string.format("size %d, op %s: lrucache %s, l1 %s", size, what, dump(a), dump(b))
        end
    end
    local res_a, res_b = {}, {}
    for op = 1, ops do
        if failed then break end
        local r = random(100)
        local key = keys[random(nkeys)]
        if r <= 40 then
            cmp("get " .. tostring(key), pack(ref:get(key)), pack(got:get(key)))
        elseif r <= 75 then
            local v = VALUES[random(#VALUES)]
            local ttl = TTLS[random(#TTLS)]
            local flags = FLAGS[random(#FLAGS)]
            cmp("set " .. tostring(key), pack(ref:set(key, v, ttl, flags)),
                pack(got:set(key, v, ttl, flags)))
        elseif r <= 85 then
            cmp("delete " .. tostring(key), pack(ref:delete(key)), pack(got:delete(key)))
        elseif r <= 92 then
            clock = clock + random(0, 3) * 0.5
        elseif r <= 94 then
            local maxes = { nil, 0, 1, 3, size, size + 5 }
            local m = maxes[random(#maxes)]
            local a, b
            if random(2) == 1 then
                a, b = ref:get_keys(m), got:get_keys(m)
            else
                -- a reused result table, longer than the answer
                for i = 1, size + 8 do res_a[i], res_b[i] = "x" .. i, "x" .. i end
                a, b = ref:get_keys(m, res_a), got:get_keys(m, res_b)
                truthy(a == res_a and b == res_b, "get_keys returns res")
            end
            a.n, b.n = size + 8, size + 8
            cmp("get_keys " .. tostring(m), a, b)
            a.n, b.n = nil, nil
        elseif r <= 95 then
            if random(4) == 1 then
                cmp("flush_all", pack(ref:flush_all()), pack(got:flush_all()))
            end
        else
            cmp("count", pack(ref:count(), ref:capacity()), pack(got:count(), got:capacity()))
        end
        if op % check_every == 0 then
            local bad = structure_error(got)
            if bad and not failed then
                failed = string.format("size %d, after op %d: %s", size, op, bad)
            end
            local a, b = ref:get_keys(), got:get_keys()
            a.n, b.n = size + 1, size + 1
            cmp("order after op " .. op, a, b)
        end
    end
    truthy(failed == nil, failed)
    truthy(checks > ops / 2, "the differential test compared answers")
end

for _, c in ipairs({ { 1, 3000, 1 }, { 2, 5000, 1 }, { 2.5, 5000, 1 }, { 7, 20000, 1 }, { 1000, 200000, 97 } }) do
    differential(c[1], c[2], c[3])
end


-- A key false is evicted as any other: lrucache's eviction skips a false
-- key (it tests the old key for truth), leaving it readable after it was
-- evicted. The one place l1 does not follow lrucache, and the
-- differential test keeps false out of its keys.
do
    local a, b = assert(lrucache.new(1)), assert(l1.new(1, now))
    for _, c in ipairs({ a, b }) do
        c:set(false, "f")
        c:set("other", "o")
    end
    expect({ "f", nil, 0 }, a:get(false))
    expect({ nil }, b:get(false))
    expect({ 1 }, b:count())
    truthy(structure_error(b) == nil, structure_error(b))
end

-- new: lrucache's checks and message; a fractional size holds its floor.
expect({ nil, "size too small" }, l1.new(0))
expect({ nil, "size too small" }, l1.new(-3))
expect({ nil, "size too small" }, lrucache.new(0))
expect({ nil, "size too large" }, l1.new(2 ^ 40))
expect({ nil, "size too large" }, l1.new(0 / 0))
raises("attempt to compare", l1.new, "x")
raises("attempt to compare", l1.new)
do
    local c = assert(l1.new(2.5, now))
    expect({ 2.5 }, c:capacity())
    c:set("a", 1); c:set("b", 2); c:set("c", 3)
    expect({ 2 }, c:count())
    expect({ nil }, c:get("a"))
end

-- get: a live entry, an expired one (moved to the front too, and kept),
-- an absent one.
do
    local c = assert(l1.new(3, now))
    c:set("a", "va", 1, 5)
    c:set("b", "vb")
    expect({ "va", nil, 5 }, c:get("a"))
    expect({ "vb", nil, 0 }, c:get("b"))
    expect({ nil }, c:get("nope"))
    expect({ nil }, c:get(nil))
    clock = clock + 1
    expect({ "va", nil, 5 }, c:get("a")) -- expires strictly after its ttl
    clock = clock + 0.5
    expect({ nil, "va", 5 }, c:get("a"))
    expect({ "a", "b" }, unpack(c:get_keys()))
    expect({ nil, "va", 5 }, c:get("a"))
    expect({ 2 }, c:count())
    -- an expired entry is evicted in its turn, not first
    c:set("c", "vc")
    c:get("a")
    c:set("d", "vd")
    expect({ nil }, c:get("b"))
    expect({ nil, "va", 5 }, c:get("a"))
    -- set again revives it
    c:set("a", "va2")
    expect({ "va2", nil, 0 }, c:get("a"))
end

-- set: ttl 0 lives until the clock moves, a negative ttl is expired at
-- once, a ttl as a string is a number; flags other than numbers >= 0 are
-- 0; a nil value is an entry read as absent.
do
    local c = assert(l1.new(10, now))
    c:set("z", 1, 0)
    expect({ 1, nil, 0 }, c:get("z"))
    clock = clock + 0.001
    expect({ nil, 1, 0 }, c:get("z"))
    c:set("n", 2, -1)
    expect({ nil, 2, 0 }, c:get("n"))
    c:set("s", 3, "5")
    clock = clock + 4
    expect({ 3, nil, 0 }, c:get("s"))
    clock = clock + 2
    expect({ nil, 3, 0 }, c:get("s"))
    c:set("f", 1, nil, -1)
    expect({ 1, nil, 0 }, c:get("f"))
    c:set("f", 1, nil, "7")
    expect({ 1, nil, 0 }, c:get("f"))
    c:set("f", 1, nil, 7.9)
    expect({ 1, nil, 7 }, c:get("f"))
    c:set("f", 1, nil, 0xffffffff)
    expect({ 1, nil, 0xffffffff }, c:get("f"))
    c:set("f", false)
    expect({ false, nil, 0 }, c:get("f"))
    local before = c:count()
    c:set("nilval", nil)
    expect({ before + 1 }, c:count())
    expect({ nil }, c:get("nilval"))
    expect({ "nilval" }, c:get_keys(1)[1])
    expect({ true }, c:delete("nilval"))
    expect({ before }, c:count())
end

-- A ttl so negative that the expiry falls before the clock's zero reads
-- as no expiry, in lrucache (its mark for none is a negative expiry) and
-- so here.
do
    local a, b = assert(lrucache.new(2)), assert(l1.new(2, now))
    a:set("k", 1, -clock - 10)
    b:set("k", 1, -clock - 10)
    expect({ 1, nil, 0 }, a:get("k"))
    expect({ 1, nil, 0 }, b:get("k"))
end

-- set of a nil or NaN key: lrucache's error, and nothing changes.
do
    local c = assert(l1.new(1, now))
    c:set("only", 1)
    raises("table index is nil", c.set, c, nil, 1)
    raises("table index is NaN", c.set, c, 0 / 0, 1)
    raises("table index is nil", lrucache.set, lrucache.new(1), nil, 1)
    expect({ 1, nil, 0 }, c:get("only"))
    expect({ 1 }, c:count())
end

-- delete: true for a present entry (expired or not), false for an absent
-- one; a nil key raises as lrucache's does. A deleted slot is reused.
do
    local c = assert(l1.new(2, now))
    c:set("a", 1, -1)
    expect({ true }, c:delete("a"))
    expect({ false }, c:delete("a"))
    expect({ nil }, c:get("a"))
    raises("table index is nil", c.delete, c, nil)
    raises("table index is nil", lrucache.delete, lrucache.new(1), nil)
    c:set("b", 2); c:set("c", 3)
    expect({ 2 }, c:count())
    expect({ true }, c:delete("b"))
    c:set("d", 4); c:set("e", 5)
    expect({ "e", "d" }, unpack(c:get_keys()))
end

-- get_keys: MRU first, max_count 0 or nil for all, res filled and ended
-- with one nil (what follows is left alone).
do
    local c = assert(l1.new(5, now))
    for _, k in ipairs({ "a", "b", "c", "d" }) do c:set(k, k) end
    c:get("b")
    expect({ "b", "d", "c", "a", nil }, unpack(c:get_keys(), 1, 5))
    expect({ "b", "d", "c", "a", nil }, unpack(c:get_keys(0), 1, 5))
    expect({ "b", "d", nil }, unpack(c:get_keys(2), 1, 3))
    local res = { 1, 2, 3, 4, 5, 6, 7 }
    expect({ true }, c:get_keys(2, res) == res)
    expect({ "b", "d", nil, 4, 5, 6, 7 }, unpack(res, 1, 7))
    c:get_keys(9, res)
    expect({ "b", "d", "c", "a", nil, 6, 7 }, unpack(res, 1, 7))
    expect({ nil }, c:get_keys(-1)[1])
    c:flush_all()
    expect({ nil }, c:get_keys()[1])
end

-- flush_all: empty, and every slot reusable.
do
    local c = assert(l1.new(3, now))
    for i = 1, 5 do c:set(i, i) end
    c:delete(4)
    c:flush_all()
    expect({ 0, 3 }, c:count(), c:capacity())
    expect({ nil }, c:get(5))
    for i = 11, 14 do c:set(i, i) end
    expect({ 3 }, c:count())
    expect({ 14, 13, 12 }, unpack(c:get_keys()))
end

-- new takes no more of Lua's heap than lrucache.new of the same size: a
-- large L1 (or mlcache's record of its own writes, one per instance, of
-- lru_size too) costs what lrucache's did until it fills.
do
    local function heap_of(mod)
        collectgarbage()
        local before = collectgarbage("count")
        local c = assert(mod.new(1e6, now))
        collectgarbage()
        local kb = collectgarbage("count") - before
        expect({ 1e6 }, c:capacity())
        return kb
    end
    local ref, got = heap_of(lrucache), heap_of(l1)
    truthy(got <= ref, "l1.new(1e6) takes " .. math.floor(got) .. " KB, lrucache.new " .. math.floor(ref) .. " KB")
end

-- The default clock is base.l1_now (here the test's ngx.now).
do
    local c = assert(l1.new(1))
    c:set("t", 1, 1)
    clock = clock + 2
    expect({ nil, 1, 0 }, c:get("t"))
end

-- Methods are found through the metatable: one instance's can be
-- replaced without touching another's.
do
    local a, b = assert(l1.new(2, now)), assert(l1.new(2, now))
    local deleted
    a.delete = function(self, key) deleted = key; return l1.delete(self, key) end
    a:set("x", 1); b:set("x", 1)
    expect({ true }, a:delete("x"))
    expect({ "x" }, deleted)
    deleted = nil
    expect({ true }, b:delete("x"))
    expect({ nil }, deleted)
end

-- No global written but the test's own ngx.
do
    local extra = {}
    for k in pairs(_G) do
        if not globals[k] and k ~= "ngx" then extra[#extra + 1] = tostring(k) end
    end
    truthy(#extra == 0, "globals written: " .. table.concat(extra, ", "))
end

-- A hit loop and a set loop (evicting, with ttls and flags) compile: no
-- trace aborts in l1 nor for a function not compiled (NYI) or given up on
-- (blacklisted), and the loops are traces.
do
    local rec = require("aborts").watch()
    local N = 1000
    local keys = {}
    for i = 1, 2 * N do keys[i] = string.format("key-%012d", i) end
    local c = assert(l1.new(N, now))
    local hits = 0
    local function hit_loop()
        for j = 1, 200000 do
            local i = j % N + 1
            if c:get(keys[i]) == i then hits = hits + 1 end
        end
    end
    local function set_loop()
        for j = 1, 200000 do
            local i = j % (2 * N) + 1
            c:set(keys[i], i, (j % 3 == 0) and 60 or nil, j % 7)
        end
    end
    for i = 1, N do c:set(keys[i], i, 60) end
    hit_loop()
    set_loop()
    for i = 1, N do c:set(keys[i], i) end
    hits = 0
    hit_loop()
    rec.stop()
    expect({ 200000 }, hits)
    -- A side trace of set that returns into the test's own loop may hit
    -- that loop's unroll limit: the loop's business.
    local aborts = {}
    for _, a in ipairs(rec.aborts) do
        if a:find("NYI", 1, true) or a:find("blacklisted", 1, true) or a:find("l1.lua", 1, true) then
            aborts[#aborts + 1] = a
        end
    end
    truthy(#aborts == 0, "trace aborts: " .. table.concat(aborts, "; "))
    truthy(rec.traces >= 2, "the loops compiled")
end

T.done("l1_test.lua")
