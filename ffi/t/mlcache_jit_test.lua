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
-- L1 fills of a warm-up). This test calls the L2 hit path from
-- interpreted code until its functions are hot, then checks that no trace
-- aborted as blacklisted and that a loop of L2 hits compiles.

package.path = "ffi/?.lua;ffi/t/?.lua;" .. package.path

-- lua-resty-lrucache reads ngx.now (its expiry clock) when loaded; no
-- entry here expires.
ngx = { now = os.time }

local shmlru = require "resty.shmlru"
local mlc = require "resty.shmlru.mlcache"
local lrucache = require "resty.lrucache"
local ffi = require "ffi"
local jit_util = require "jit.util"
local vmdef = require "jit.vmdef"
local T = require "check"
local expect, truthy = T.expect, T.truthy

ffi.cdef [[
int getpid(void);
]]

local path = arg[1] or string.format("/dev/shm/shmlru-mlcjit-%d", ffi.C.getpid())
os.remove(path)
local region = assert(shmlru.open(path, { size = "4m", mode = "0600" }))

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
local aborts = {}
jit.attach(function(what, _, func, pc, code, info)
    if what == "abort" then
        local reason = vmdef.traceerr[code]
        if type(info) == "string" or type(info) == "number" then
            reason = reason:format(info)
        end
        local fi = jit_util.funcinfo(func, pc)
        aborts[#aborts + 1] = reason .. " at " .. tostring(fi.loc)
    end
end, "trace")

-- An instance of lru_size 1: consecutive gets of different keys each miss
-- L1 and hit L2.
local c = assert(mlc.new("jit", region, { prefix = "", ttl = 0, lru_size = 1, lru = lrucache.new(1) }))

-- Interpreted calls of the L2 hit, many times over the hot count of each
-- function it calls, so that each of them starts its own traces.
local function interpreted()
    for j = 1, 400000 do
        local i = j % N + 1
        local v, _, level = c:get(keys[i])
        if v ~= vals[i] or level ~= 2 then
            return i, v, level
        end
    end
end
jit.off(interpreted)
expect({}, interpreted())

-- A compiled loop of L2 hits: its trace has to take the whole path.
local levels = 0
for j = 1, 20000 do
    local _, _, level = c:get(keys[j % N + 1])
    if level == 2 then levels = levels + 1 end
end
expect({ 20000 }, levels)
jit.attach(function() end)

local blacklisted = {}
for _, a in ipairs(aborts) do
    if a:find("blacklisted", 1, true) then
        blacklisted[#blacklisted + 1] = a
    end
end
truthy(#blacklisted == 0, "traces aborted on a blacklisted function: " .. table.concat(blacklisted, "; "))

region:close()
os.remove(path)
T.done("mlcache_jit_test.lua")
