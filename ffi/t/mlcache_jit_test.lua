-- A test that resty.shmlru.mlcache's L2 hit path stays compilable by
-- LuaJIT under plain LuaJIT, against the built libshmlru.so:
--
--   SHMLRU_LIB=build/libshmlru.so luajit ffi/t/mlcache_jit_test.lua [region]
--
-- Run by `make test-lua`. A function on that path that LuaJIT blacklists
-- (one whose own traces abort every time they are started) makes every
-- trace that calls it abort, and the whole L2 hit runs in the interpreter
-- from then on: several times slower, and only in a process that first
-- called the function often enough from interpreted code (in nginx, the
-- L1 fills of a warm-up). This test calls the L2 hit path (in both L1
-- coherence modes) and set from interpreted code until their functions
-- are hot, then checks that no trace aborted as blacklisted and that a
-- loop of each compiles.

package.path = "ffi/?.lua;ffi/t/?.lua;" .. package.path

-- lua-resty-lrucache reads ngx.now (its expiry clock) when loaded; no
-- entry here expires.
ngx = { now = os.time }

local scratch = require "scratch"
local mlc = require "resty.shmlru.mlcache"
local lrucache = require "resty.lrucache"
local T = require "check"
local expect, truthy = T.expect, T.truthy

local region, path = scratch.open("mlcjit")

local N = 200
local keys, vals = {}, {}
for i = 1, N do
    keys[i], vals[i] = string.format("key-%012d", i), string.rep("v", 32)
end
local fill = assert(mlc.new("jit", region, { prefix = "", ttl = 0, lru_size = N }))
for i = 1, N do
    expect({ vals[i] }, (fill:get(keys[i], nil, function() return vals[i] end)))
end

-- Every trace abort from here on, by its reason.
local rec = require("aborts").watch()

-- An instance of lru_size 1: consecutive gets of different keys each miss
-- L1 and hit L2.
local function l2_reader(mode)
    return assert(mlc.new("jit-" .. mode, region, { prefix = "", ttl = 0, lru_size = 1,
                                                    lru = lrucache.new(1), l1_coherence = mode }))
end

-- hot runs op(j) from interpreted code, many times over the hot count of
-- each function it calls, so that each of them starts its own traces;
-- then a compiled loop of it, whose trace has to take the whole path.
-- op returns true when its call did what it should. Returns the failed
-- interpreted call and the compiled calls that did.
local function hot(op)
    local function interpreted()
        for j = 1, 400000 do
            if not op(j) then
                return j
            end
        end
    end
    jit.off(interpreted)
    local failed = interpreted()
    local good = 0
    for j = 1, 20000 do
        if op(j) then good = good + 1 end
    end
    return failed, good
end

for _, mode in ipairs({ "always", "update" }) do
    local c = l2_reader(mode)
    local failed, good = hot(function(j)
        local i = j % N + 1
        local v, _, level = c:get(keys[i])
        return v == vals[i] and level == 2
    end)
    expect({ nil, 20000 }, failed, good)
end

-- set: every call builds the read-through's options for its write.
for _, mode in ipairs({ "always", "update" }) do
    local w = assert(mlc.new("jit-set-" .. mode, region, { prefix = "", ttl = 0, lru_size = N,
                                                          l1_coherence = mode }))
    local failed, good = hot(function(j)
        local i = j % N + 1
        return w:set(keys[i], nil, vals[i]) == true
    end)
    expect({ nil, 20000 }, failed, good)
end
rec.stop()

local blacklisted = {}
for _, a in ipairs(rec.aborts) do
    if a:find("blacklisted", 1, true) then
        blacklisted[#blacklisted + 1] = a
    end
end
truthy(#blacklisted == 0, "traces aborted on a blacklisted function: " .. table.concat(blacklisted, "; "))

region:close()
os.remove(path)
T.done("mlcache_jit_test.lua")
