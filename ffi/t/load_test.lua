-- Tests of resty.shmlru's read-through (get_or_load) and of the JSON codec
-- of resty.shmlru.mlcache under plain LuaJIT, in one process, against the
-- built libshmlru.so:
--
--   SHMLRU_LIB=build/libshmlru.so luajit ffi/t/load_test.lua [region]
--
-- Run by `make test-lua`. Waits on another process's load (blocking, as
-- outside nginx) are driven by ffi/luajit_test.go with ffi/t/load_child.lua;
-- nginx workers by ffi/load_test.go and ffi/mlcache_test.go.
--
-- What it covers: argument errors (key errors returned as by get, the rest
-- raised at the caller's line); a hit and a load, with the callback's
-- arguments; each value type; a cached absence (SHMLRU_TYPE_NONE), which
-- get, get_stale and cas take for no entry; absent with and without
-- neg_ttl; failures and error objects; a Lua error in the callback, which
-- leaves the load free for the next caller; resurrect_ttl; the stale
-- window's flags and TTL, then the stale value refreshed; a list at the
-- key; a tracked key with no agent on the host (every call runs the
-- callback and nothing is cached, not even over an entry written by hand
-- with the generation's flags; a non-string value and a Lua error;
-- tracked with stale_ttl or resurrect_ttl raises); closed handles; and the
-- JSON codec of resty.shmlru.json (round trips, exact numbers, Go's
-- escapes, every error).

package.path = "ffi/?.lua;ffi/t/?.lua;" .. package.path

local shmlru = require "resty.shmlru"
local json = require "resty.shmlru.json"
local ffi = require "ffi"
local bit = require "bit"
local T = require "check"
local expect, truthy, raises = T.expect, T.truthy, T.raises

ffi.cdef [[
int poll(void *fds, unsigned long nfds, int timeout);
]]

local c, path = require("scratch").open("loadtest")

local now_ms = require("resty.shmlru.load").now_ms

-- sleep_until waits (in 1 ms naps) until cond() holds, 5 s at most: for
-- TTLs to run out.
local function sleep_until(cond)
    local deadline = now_ms() + 5000
    while not cond() do
        if now_ms() > deadline then
            error("condition never held", 2)
        end
        ffi.C.poll(nil, 0, 1)
    end
end

-- counter returns a callback that returns what it is given and counts its
-- calls in calls[1].
local function counter(...)
    local calls = { 0 }
    local ret = T.pack(...)
    return function()
        calls[1] = calls[1] + 1
        return unpack(ret, 1, ret.n)
    end, calls
end


-- bad arguments: key errors are returned as by get; the rest raise, at
-- the caller, naming the option and what to give
do
    local cb, calls = counter("v")
    expect({ nil, "nil key" }, c:get_or_load(nil, nil, cb))
    expect({ nil, "empty key" }, c:get_or_load("", nil, cb))
    expect({ nil, "key too long" }, c:get_or_load(string.rep("k", 65536), nil, cb))
    raises("bad callback: a function expected, got nil", c.get_or_load, c, "k")
    raises("bad callback: a function expected, got string", c.get_or_load, c, "k", nil, "cb")
    raises("bad opts: a table (or nil) expected, got number", c.get_or_load, c, "k", 5, cb)
    raises("bad opts.ttl: -1 is negative; give a number of seconds >= 0",
           c.get_or_load, c, "k", { ttl = -1 }, cb)
    raises("bad opts.neg_ttl: a number of seconds expected, got string",
           c.get_or_load, c, "k", { neg_ttl = "10" }, cb)
    raises("bad opts.wait_timeout: a number of seconds expected, got number NaN",
           c.get_or_load, c, "k", { wait_timeout = 0 / 0 }, cb)
    raises("bad opts.lease: -0.5 is negative", c.get_or_load, c, "k", { lease = -0.5 }, cb)
    raises("bad opts.resurrect_ttl: -1 is negative", c.get_or_load, c, "k", { resurrect_ttl = -1 }, cb)
    raises("bad opts: shmlru: invalid options: LoadOptions.StaleTTL needs a TTL", c.get_or_load, c, "k", { stale_ttl = 1 }, cb)
    raises("; at most 149h7m50.911s", c.get_or_load, c, "k",
           { ttl = 1, stale_ttl = 536871 }, cb)
    -- one table changed between calls is checked again each time
    do
        local o = { ttl = 60, stale_ttl = 1 }
        expect({ 1, nil, "loaded" }, c:get_or_load("k-mut", o, counter(1)))
        o.ttl = 0
        raises("StaleTTL needs a TTL", c.get_or_load, c, "k-mut", o, cb)
        o.ttl, o.tracked = 60, true
        raises("Tracked excludes StaleTTL", c.get_or_load, c, "k-mut", o, cb)
        o.tracked, o.stale_ttl = nil, 0
        expect({ 1, nil, "hit" }, c:get_or_load("k-mut", o, cb))
        c:delete("k-mut")
    end
    -- the error points at the caller's line
    local err = raises("bad opts.ttl", function()
        local v = c:get_or_load("k", { ttl = "x" }, cb) -- not a tail call: keep this frame
        return v
    end)
    truthy(tostring(err):find("^[^:]*load_test.lua:%d+: bad opts.ttl"), "error position: " .. tostring(err))
    expect({ 0 }, calls[1])
    expect({ nil }, c:get("k"))
end

-- hit and loaded; the callback gets the extra arguments, nils included
do
    local calls = 0
    local function cb(a, b, cc)
        calls = calls + 1
        return a .. tostring(b) .. cc
    end
    expect({ "xnilz", nil, "loaded" }, c:get_or_load("args", { ttl = 60 }, cb, "x", nil, "z"))
    expect({ "xnilz", nil, "hit" }, c:get_or_load("args", { ttl = 60 }, cb, "y", nil, "z"))
    expect({ 1 }, calls)
    local ttl = c:ttl("args")
    truthy(ttl > 59 and ttl <= 60, "ttl of a loaded value: " .. tostring(ttl))
    -- a plain entry: no flags, readable by get (and by Go as bytes)
    expect({ "xnilz" }, c:get("args"))
    -- ttl 0 (the default): never expires
    expect({ "forever", nil, "loaded" }, c:get_or_load("forever", nil, counter("forever")))
    expect({ 0 }, c:ttl("forever"))
end

-- each value type keeps its type; false is a value, not a miss
do
    for _, v in ipairs({ 3.5, -0.25, true, false, "", "a\0b" }) do
        local key = "type-" .. tostring(v) .. #tostring(v)
        local cb, calls = counter(v)
        expect({ v, nil, "loaded" }, c:get_or_load(key, nil, cb))
        expect({ v, nil, "hit" }, c:get_or_load(key, nil, cb))
        expect({ v }, c:get(key))
        expect({ 1 }, calls[1])
    end
end

-- a value the scalar codec does not take is the callback's failure; the
-- load is released, so the next caller loads at once
do
    local v, err, src = c:get_or_load("tbl", nil, counter({ 1 }))
    truthy(v == nil and src == "loaded" and err:find("the callback returned a table;", 1, true)
           and err:find("resty.shmlru.mlcache caches tables too", 1, true), tostring(err))
    expect({ "fine", nil, "loaded" }, c:get_or_load("tbl", { wait_timeout = 0.05 }, counter("fine")))
    v, err = c:get_or_load("fn", nil, counter(print))
    truthy(v == nil and err:find("returned a function", 1, true), tostring(err))
end

-- a value the library refuses to write (larger than the region takes):
-- the call fails, and the load is ended, so the next caller loads at once
-- rather than wait for the lease
do
    local big = string.rep("x", 8 * 1024 * 1024)
    local v, err = c:get_or_load("too-big", nil, counter(big))
    truthy(v == nil and err ~= nil, tostring(err))
    expect({ "fine", nil, "loaded" }, c:get_or_load("too-big", { wait_timeout = 0.05 }, counter("fine")))
end

-- absent without neg_ttl: nothing is remembered, every call loads
do
    local cb, calls = counter(nil)
    expect({ nil, nil, "loaded" }, c:get_or_load("absent", nil, cb))
    expect({ nil, nil, "loaded" }, c:get_or_load("absent", nil, cb))
    expect({ 2 }, calls[1])
    expect({ nil }, c:get_stale("absent"))
end

-- negative caching writes SHMLRU_TYPE_NONE entries with shmlru_write: the
-- library must take them (an empty value of type 4)
do
    local o = ffi.new("shmlru_write_opts")
    o.type, o.ttl_ms = ffi.C.SHMLRU_TYPE_NONE, 60000
    local lib = ffi.load(shmlru.lib_path())
    local rc = lib.shmlru_write(c.h, "probe-none", #"probe-none", "", 0, o, nil)
    truthy(rc == 0, "libshmlru.so refuses to write an SHMLRU_TYPE_NONE entry (status "
        .. rc .. ", " .. tostring(shmlru.errors[rc]) .. "): shmlru_write (c/write.go) must"
        .. " take type 4 with an empty value, or neg_ttl cannot cache an absence")
    expect({ nil }, c:get("probe-none"))
end

-- absent with neg_ttl: an entry of SHMLRU_TYPE_NONE, which get_or_load
-- takes for a hit and get, get_stale and cas for no entry at all
do
    local cb, calls = counter(nil)
    expect({ nil, nil, "loaded" }, c:get_or_load("neg", { neg_ttl = 60 }, cb))
    expect({ nil, nil, "hit" }, c:get_or_load("neg", { neg_ttl = 60 }, cb))
    expect({ 1 }, calls[1])
    expect({ nil }, c:get("neg"))
    expect({ nil }, c:get_stale("neg"))
    expect({ false, "not found" }, c:cas("neg", "x", "y"))
    local ttl = c:ttl("neg")
    truthy(ttl and ttl > 59 and ttl <= 60, "the absence is remembered for neg_ttl: " .. tostring(ttl))
    -- add writes over a cached absence, as over no entry
    expect({ true, nil, false }, c:add("neg", "now here"))
    expect({ "now here", nil, "hit" }, c:get_or_load("neg", nil, cb))
    -- an expired absence is no entry for get_stale either, and loads again
    expect({ nil, nil, "loaded" }, c:get_or_load("neg-short", { neg_ttl = 0.01 }, cb))
    sleep_until(function() return c:ttl("neg-short") < 0 end)
    expect({ nil }, c:get_stale("neg-short"))
    expect({ nil, nil, "loaded" }, c:get_or_load("neg-short", { neg_ttl = 0.01 }, cb))
    expect({ 3 }, calls[1])
end

-- failure: the error is returned, nothing is cached
do
    local cb, calls = counter(nil, "db down")
    expect({ nil, "db down", "loaded" }, c:get_or_load("fail", { ttl = 60, neg_ttl = 60 }, cb))
    expect({ nil }, c:get_stale("fail"))
    expect({ nil, "db down", "loaded" }, c:get_or_load("fail", { ttl = 60 }, cb))
    expect({ 2 }, calls[1])
    -- an error object that is not a string is passed on as it is
    local e = setmetatable({}, { __tostring = function() return "custom error" end })
    expect({ nil, e, "loaded" }, c:get_or_load("fail2", nil, counter(nil, e)))
    -- a value with an error is an error
    expect({ nil, "partial", "loaded" }, c:get_or_load("fail3", nil, counter("v", "partial")))
    expect({ nil }, c:get("fail3"))
end

-- a Lua error in the callback is caught, returned, and ends the load: the
-- next caller loads at once instead of waiting on a load left claimed
do
    local v, err, src = c:get_or_load("raise", nil, function() error("oops") end)
    truthy(v == nil and src == "loaded" and err:find("^callback threw an error: .*oops$"), tostring(err))
    v, err, src = c:get_or_load("raise", nil, function() error({}) end)
    truthy(v == nil and err:find("^callback threw an error: table: "), tostring(err))
    expect({ "after", nil, "loaded" }, c:get_or_load("raise", { wait_timeout = 0.05 }, counter("after")))
end

-- resurrect_ttl: when the callback fails and the expired value is still
-- stored, it is served and kept for resurrect_ttl, and read back as
-- resurrected until then
do
    expect({ "old", nil, "loaded" }, c:get_or_load("res", { ttl = 0.01 }, counter("old")))
    sleep_until(function() return c:get("res") == nil end)
    expect({ nil, "down", "loaded" }, c:get_or_load("res", { ttl = 60 }, counter(nil, "down")))
    expect({ "old", nil, "resurrected" },
           c:get_or_load("res", { ttl = 60, resurrect_ttl = 10 }, counter(nil, "down")))
    local ttl = c:ttl("res")
    truthy(ttl > 9 and ttl <= 10, "resurrected for resurrect_ttl: " .. tostring(ttl))
    expect({ "old", nil, "resurrected" }, c:get_or_load("res", { ttl = 60 }, counter("new")))
    -- a Lua error resurrects nothing
    expect({ "x", nil, "loaded" }, c:get_or_load("res2", { ttl = 0.01 }, counter("x")))
    sleep_until(function() return c:get("res2") == nil end)
    local v, err = c:get_or_load("res2", { resurrect_ttl = 10 }, function() error("bug") end)
    truthy(v == nil and err:find("bug", 1, true), tostring(err))
end

-- stale_ttl: the entry lives ttl + stale_ttl with the flags
-- 0x80000000 | window ms (lru/load.go); once ttl has passed the stale
-- value is served while one caller refreshes it (here, outside nginx,
-- inline)
do
    local cb, calls = counter("v1")
    expect({ "v1", nil, "loaded" }, c:get_or_load("swr", { ttl = 0.5, stale_ttl = 10 }, cb))
    local cb2, calls2 = counter("v2")
    expect({ "v1", nil, "hit" }, c:get_or_load("swr", { ttl = 0.5, stale_ttl = 10 }, cb2))
    expect({ "v1", bit.tobit(0x80000000 + 10000) }, c:get("swr"))
    local ttl = c:ttl("swr")
    truthy(ttl > 10 and ttl <= 10.5, "ttl + stale_ttl: " .. tostring(ttl))
    -- fresh until the deadline less the window; now_ms() read after ttl()
    -- puts this at or past it
    local fresh_end = now_ms() + ttl * 1000 - 10000
    sleep_until(function() return now_ms() > fresh_end end)
    expect({ "v1", nil, "stale" }, c:get_or_load("swr", { ttl = 0.5, stale_ttl = 10 }, cb2))
    expect({ "v2", nil, "hit" }, c:get_or_load("swr", { ttl = 0.5, stale_ttl = 10 }, cb2))
    expect({ 1, 1 }, calls[1], calls2[1])
    -- a stale window on an entry written by set is the same thing
    expect({ true, nil, false }, c:set("swr2", "w1", 0.01, bit.tobit(0x80000000 + 60000)))
    expect({ "w1", nil, "stale" }, c:get_or_load("swr2", { ttl = 1, stale_ttl = 1 }, counter("w2")))
    expect({ "w2", nil, "hit" }, c:get_or_load("swr2", { ttl = 1, stale_ttl = 1 }, counter("w3")))
end

-- the callback's third value is mlcache's, not get_or_load's: ignored
do
    expect({ "v", nil, "loaded" }, c:get_or_load("cbttl", { ttl = 30 }, counter("v", nil, -1)))
    local ttl = c:ttl("cbttl")
    truthy(ttl > 29 and ttl <= 30, "ttl from opts: " .. tostring(ttl))
end

-- a list at the key is an error, as for get
do
    c:rpush("list", "x")
    expect({ nil, "value is a list" }, c:get_or_load("list", nil, counter("v")))
end

-- a tracked key with no tracking agent on the host (a fresh region is not
-- in step): the callback answers every call directly and nothing is
-- cached; option errors raise at the caller (the agent's side, in step, is
-- tested in nginx with a Go agent by ffi/near_test.go)
do
    local topts = { tracked = true, ttl = 60, neg_ttl = 60 }
    local cb, calls = counter("from the store")
    expect({ "from the store", nil, "loaded" }, c:get_or_load("tr", topts, cb))
    expect({ "from the store", nil, "loaded" }, c:get_or_load("tr", topts, cb))
    expect({ 2 }, calls[1])
    expect({ nil }, c:get("tr"))
    local absent = counter(nil)
    expect({ nil, nil, "loaded" }, c:get_or_load("tr-none", topts, absent))
    expect({ nil }, c:get_stale("tr-none"))
    expect({ nil, "store down", "loaded" }, c:get_or_load("tr", topts, counter(nil, "store down")))
    expect({ nil, "the callback returned a number; a tracked key's value is a"
             .. " string (the store's bytes) or nil", "loaded" },
           c:get_or_load("tr", topts, counter(5)))
    local v, err, src = c:get_or_load("tr", topts, function() error("boom") end)
    truthy(v == nil and src == "loaded" and err:find("callback threw an error: .*boom"),
           "a Lua error: " .. tostring(err))
    -- a copy stored by hand, even with the generation's flags, is not
    -- served while not in step
    assert(c:set("tr", "by hand", 0, 1))
    expect({ "from the store", nil, "loaded" }, c:get_or_load("tr", topts, cb))
    raises("bad opts.tracked: a boolean expected, got string", c.get_or_load, c, "k",
           { tracked = "yes" }, cb)
    raises("bad opts: shmlru: invalid options: LoadOptions.Tracked excludes StaleTTL and ResurrectTTL", c.get_or_load, c, "k",
           { tracked = true, ttl = 1, stale_ttl = 1 }, cb)
    raises("bad opts: shmlru: invalid options: LoadOptions.Tracked excludes StaleTTL and ResurrectTTL", c.get_or_load, c, "k",
           { tracked = true, resurrect_ttl = 1 }, cb)
end

-- a closed cache
do
    local c2 = assert(shmlru.open(path))
    c2:close()
    expect({ nil, "closed" }, c2:get_or_load("k", nil, counter("v")))
end


-- resty.shmlru.json
do
    local function roundtrip(v)
        local s, err = json.encode(v)
        assert(s, err)
        local back, derr = json.decode(s)
        assert(derr == nil, derr)
        return back, s
    end
    local function deep_eq(a, b)
        if type(a) ~= "table" or type(b) ~= "table" then
            return a == b
        end
        for k, v in pairs(a) do
            if not deep_eq(v, b[k]) then
                return false
            end
        end
        for k in pairs(b) do
            if a[k] == nil then
                return false
            end
        end
        return true
    end
    local values = {
        { name = "Ada", langs = { "en", "fr" }, age = 36, ok = true, no = false },
        { 1, 2.5, -3e-300, 1e300, 2 ^ 53, -(2 ^ 53) + 1, 0.1 },
        { nested = { deeper = { deepest = { "x" } } } },
        { s = "quote \" backslash \\ slash / nl \n tab \t cr \r bell \7 nul \0 del \127" },
        { utf8 = "héllo – 日本 🎉" },
        {},
        { [""] = "empty key" },
    }
    for i, v in ipairs(values) do
        local back, s = roundtrip(v)
        truthy(deep_eq(v, back), "round trip " .. i .. ": " .. s)
    end
    -- exact numbers
    local back = roundtrip({ 0.1, 1 / 3, 123456789.123456789 })
    truthy(back[1] == 0.1 and back[2] == 1 / 3 and back[3] == 123456789.123456789, "numbers exact")
    -- number keys of a non-array become strings, as with lua-cjson
    back = roundtrip({ [1] = "a", [3] = "c" })
    truthy(back["1"] == "a" and back["3"] == "c", "sparse array as an object")
    back = roundtrip({ [1] = "a", x = "y" })
    truthy(back["1"] == "a" and back.x == "y", "mixed keys")
    expect({ "{}" }, json.encode({}))
    expect({ "[1,2,3]" }, json.encode({ 1, 2, 3 }))
    expect({ '{"a":"b"}' }, json.encode({ a = "b" }))
    -- what Go's encoding/json writes decodes
    local t = json.decode('{"html":"\\u003cb\\u003e","pair":"\\ud83c\\udf89","esc":"\\/\\b\\f","n":null,"arr":[1,null,3],"e":1.5E+3} ')
    truthy(t and t.html == "<b>" and t.pair == "🎉" and t.esc == "/\b\f" and t.n == nil
           and t.arr[1] == 1 and t.arr[2] == nil and t.arr[3] == 3 and t.e == 1500, "Go's JSON")
    -- errors
    local function enc_err(v, pattern)
        local s, err = json.encode(v)
        truthy(s == nil and tostring(err):find(pattern, 1, true), "encode error: " .. tostring(err))
    end
    enc_err({ f = print }, "cannot serialize a function")
    enc_err({ 0 / 0 }, "cannot serialize the number")
    enc_err({ math.huge }, "cannot serialize the number")
    enc_err({ [true] = 1 }, "cannot serialize a table key of type boolean")
    local cyc = {}
    cyc.self = cyc
    enc_err(cyc, "nesting deeper than 1000")
    local function dec_err(s, pattern)
        local v, err = json.decode(s)
        truthy(v == nil and tostring(err):find(pattern, 1, true), "decode error for " .. s .. ": " .. tostring(err))
    end
    dec_err('{"a":1', "bad JSON at byte 7")
    dec_err('{"a" 1}', "':' expected")
    dec_err('[1 2]', "',' or ']' expected")
    dec_err('"abc', "unterminated string")
    dec_err('"a\\qb"', "bad escape")
    dec_err('"\\u12"', "bad \\u escape")
    dec_err('{} x', "trailing characters")
    dec_err('nope', "a value expected")
    dec_err('"a\nb"', "control character in a string")
    dec_err(string.rep("[", 1002) .. string.rep("]", 1002), "nesting deeper than 1000")
end

expect({ true }, c:close())
os.remove(path)

T.done("load_test.lua")
