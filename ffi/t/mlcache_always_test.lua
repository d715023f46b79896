-- Tests of resty.shmlru.mlcache's l1_coherence "always" (the default)
-- under plain LuaJIT, against the built libshmlru.so:
--
--   SHMLRU_LIB=build/libshmlru.so luajit ffi/t/mlcache_always_test.lua [region]
--
-- Run by `make test-lua`. The rule: an L1 hit serves a copy only once the
-- changes made in its shard since the L1's cursors were applied (or there
-- were none), and a fill keeps a copy only if its stripe did not change
-- between the stamp and the fill. Checked for a write by another process
-- (its stripe's copies go, the others stay), a change applied between a
-- fill's stamp and the fill, a ring overrun, an L1 of the caller's that
-- keeps no user flags, an L1 given to instances over two regions, and
-- under L1 churn (the reverse map pruned many times over). Writes go
-- through the region's own handle, as another process's would.

package.path = "ffi/?.lua;ffi/t/?.lua;" .. package.path

-- lua-resty-lrucache reads ngx.now (its expiry clock) when loaded. Here it
-- is the wall clock moved by lag seconds, as nginx's cached clock lags the
-- wall clock (one block sets lag; no other entry here expires).
local lag = 0
ngx = { now = function() return os.time() + lag end }

local scratch = require "scratch"
local stripes = require "stripes"
local mlc = require "resty.shmlru.mlcache"
local lrucache = require "resty.lrucache"
local ffi = require "ffi"
local T = require "check"
local expect, truthy = T.expect, T.truthy

local region, path = scratch.open("mlcalw")

local function stripe(key)
    return stripes.of(region, key)
end

-- same returns n keys prefix-0, prefix-i... that share one stripe.
local function same(prefix, n)
    local keys = stripes.sharing(region, prefix, n)
    expect({ n }, #keys)
    return keys
end

local names = 0
local function instance(size, lru, r)
    names = names + 1
    return assert(mlc.new("alw" .. names, r or region, { prefix = "", ttl = 0, lru_size = size, lru = lru }))
end

-- A write by another process: the next get of its key reads the region;
-- the copies of the keys sharing its stripe go with it (they were filled
-- under it), the others stay in L1.
do
    local a, b = unpack(same("written", 2))
    local others = {}
    for i = 1, 40 do others[i] = "written-other-" .. i end
    for _, k in ipairs({ a, b, unpack(others) }) do assert(region:set(k, "1-" .. k)) end
    local c = instance(100)
    for _, k in ipairs({ a, b, unpack(others) }) do
        expect({ "1-" .. k, nil, 2 }, c:get(k))
        expect({ "1-" .. k, nil, 1 }, c:get(k))
    end
    assert(region:set(a, "2"))
    expect({ "2", nil, 2 }, c:get(a))
    expect({ "1-" .. b, nil, 2 }, c:get(b))
    local st = stripe(a)
    for _, k in ipairs(others) do
        if stripe(k) ~= st then
            expect({ "1-" .. k, nil, 1 }, c:get(k))
        end
    end
    expect({ "2", nil, 1 }, c:get(a))
end

-- A change that the L1's cursors pass between a fill's stamp and the fill
-- (here: another process writes a while get's callback runs, and the
-- callback applies the changes, as a get of another key would): the copy
-- is not kept, since no later pass would drop it. a's value is too large
-- for the region, so the callback's value is what get fills L1 with.
do
    local c = instance(100)
    local big = string.rep("x", region:info().max_value + 1)
    local v, err, l = c:get("raced", nil, function()
        assert(region:set("raced", "theirs"))
        assert(c:update())
        return big
    end)
    expect({ true, nil, 3 }, v == big, err, l)
    v, err, l = c:get("raced")
    expect({ true, nil, 2 }, v == "theirs", err, l)
    v, err, l = c:get("raced")
    expect({ true, nil, 1 }, v == "theirs", err, l)
end

-- More changes in a shard than its ring holds: the next get finds the
-- ring overrun and drops every copy; what it serves is current.
do
    local keys = {}
    for i = 1, 30 do
        keys[i] = "lapped-" .. i
        assert(region:set(keys[i], "1"))
    end
    local c = instance(100)
    for _, k in ipairs(keys) do c:get(k) end
    for _, k in ipairs(keys) do expect({ "1", nil, 1 }, c:get(k)) end
    for i = 1, 20000 do assert(region:set(keys[1], tostring(i))) end
    expect({ "20000", nil, 2 }, c:get(keys[1]))
    for i = 2, #keys do expect({ "1", nil, 2 }, c:get(keys[i])) end
end

-- An L1 of the caller's whose get returns no user flags (not a
-- lua-resty-lrucache): nothing in it can be checked, so every get reads
-- the region, and answers its value.
do
    local lru = lrucache.new(10)
    local flagless = {
        get = function(_, k) return (lru:get(k)) end,
        set = function(_, k, v, ttl) return lru:set(k, v, ttl) end,
        delete = function(_, k) return lru:delete(k) end,
    }
    local c = instance(10, flagless)
    assert(region:set("flagless", "1"))
    expect({ "1", nil, 2 }, c:get("flagless"))
    expect({ "1", nil, 2 }, c:get("flagless"))
    assert(region:set("flagless", "2"))
    expect({ "2", nil, 2 }, c:get("flagless"))
end

-- An L1 of the caller's given to an instance over another region is
-- refused: its entries are checked against one region's stripes.
do
    local other, other_path = scratch.open("mlcalw2-" .. ffi.C.getpid())
    local lru = lrucache.new(10)
    instance(10, lru)
    names = names + 1
    local c, err = mlc.new("alw" .. names, other, { lru = lru })
    expect({ nil }, c)
    truthy(err and err:find("another region", 1, true), "err: " .. tostring(err))
    other:close()
    os.remove(other_path)
end

-- Two instances of one name over one region with different prefixes read
-- different L2 keys: each serves its own key's value, never the other's
-- copy, and a write to one key is seen by the get that follows it. An
-- opts.lru given to instances of two prefixes is refused, as one given
-- to two regions is.
do
    names = names + 1
    local name = "alw" .. names
    local a = assert(mlc.new(name, region, { prefix = "pa:", ttl = 0 }))
    local b = assert(mlc.new(name, region, { prefix = "pb:", ttl = 0 }))
    assert(region:set("pa:k", "a1"))
    assert(region:set("pb:k", "b1"))
    expect({ "a1", nil, 2 }, a:get("k"))
    expect({ "b1", nil, 2 }, b:get("k"))
    expect({ "a1", nil, 1 }, a:get("k"))
    expect({ "b1", nil, 1 }, b:get("k"))
    assert(region:set("pb:k", "b2"))
    expect({ "b2", nil, 2 }, b:get("k"))
    expect({ "a1", nil, 1 }, a:get("k"))
    local lru = lrucache.new(10)
    assert(mlc.new(name .. "-lru", region, { prefix = "pa:", lru = lru }))
    local c, err = mlc.new(name .. "-lru", region, { prefix = "pb:", lru = lru })
    expect({ nil }, c)
    truthy(err and err:find("another prefix", 1, true), "err: " .. tostring(err))
end

-- A copy of this worker's own write lives in L1 for the write's TTL on
-- L1's clock (ngx.now), as mlcache counts it, even where that clock lags
-- the wall clock the region's deadline is on: with ngx.now 10 s behind, a
-- set with ttl 5 is gone from L1 once ngx.now has moved 6 s (and read
-- from L2, where it lives on), not kept 15 s.
do
    local c = instance(10)
    lag = -10
    expect({ true }, c:set("lagged", { ttl = 5 }, "v"))
    expect({ "v", nil, 1 }, c:get("lagged"))
    lag = -4
    expect({ "v", nil, 2 }, c:get("lagged"))
    lag = 0
end

-- mlcache's cache.lru holds the values themselves, as mlcache's does.
do
    local c = instance(10)
    assert(region:set("lru-value", "v"))
    expect({ "v", nil, 2 }, c:get("lru-value"))
    expect({ "v" }, (c.lru:get("lru-value")))
end

-- Churn: an L1 of 16 over 400 keys, with writes in between: every L1 hit
-- serves the region's value, and the reverse map stays about as large as
-- L1.
do
    local SIZE, KEYS = 16, 400
    local keys = {}
    for i = 1, KEYS do
        keys[i] = "churn-" .. i
        assert(region:set(keys[i], "0"))
    end
    local c = instance(SIZE)
    math.randomseed(11)
    local hits, stale, most_keys = 0, 0, 0
    for step = 1, 20000 do
        local k = keys[math.random(KEYS)]
        if math.random() < 0.05 then
            assert(region:set(k, tostring(step)))
        else
            local v, _, l = c:get(k)
            if l == 1 then
                hits = hits + 1
                if v ~= region:get(k) then stale = stale + 1 end
            end
        end
        local n = 0
        for _, ks in pairs(c.l1.keys_of) do
            if type(ks) == "table" then
                for _ in pairs(ks) do n = n + 1 end
            else
                n = n + 1
            end
        end
        if n > most_keys then most_keys = n end
    end
    expect({ 0 }, stale)
    truthy(hits > 400, "L1 hits: " .. hits)
    truthy(most_keys <= 2 * SIZE + 65, "the reverse map held " .. most_keys .. " keys for an L1 of " .. SIZE)
end

-- The L1 hit reads the library's ring-head watch (shmlru_l1_heads), not a
-- call. An entry put into cache.lru with user flags that name no stripe
-- (past the last, or negative) is never read past the watch's end: such
-- a stripe is never current, and the copy is served as the caller's own
-- value once the changes were applied, as through the call.
do
    local c = instance(10)
    truthy(c.heads ~= nil, "an always L1 over a native handle reads the ring-head watch")
    for i, flags in ipairs({ 2 ^ 31, 2 ^ 32 - 1, -1, 1e9 }) do
        local k = "planted-" .. i
        c.lru:set(k, "mine", nil, flags)
        expect({ "mine", nil, 1 }, c:get(k))
    end
end

-- A region truncated under an always L1 holding a copy: the watch's page
-- is gone from the file, and the next get neither dies nor serves the
-- copy; it says what the library says of the region (corrupt), and so
-- does the get after it. Closed under it: the copy is not served either,
-- and the get says the region is closed.
do
    ffi.cdef [[ int truncate(const char *path, int64_t length); ]]
    for _, how in ipairs({ "truncated", "closed" }) do
        local r, p = scratch.open("mlcalw-" .. how)
        local c = instance(10, nil, r)
        expect({ "v", nil, 3 }, c:get("k", nil, function() return "v" end))
        expect({ "v", nil, 1 }, c:get("k"))
        if how == "truncated" then
            expect({ 0 }, ffi.C.truncate(p, 4096))
        else
            r:close()
        end
        for _ = 1, 2 do
            local v, err, level = c:get("k")
            expect({ nil }, v)
            truthy(level ~= 1 and type(err) == "string" and err:find(how == "truncated" and "corrupt" or "closed", 1, true),
                how .. ": " .. tostring(err))
        end
        r:close()
        os.remove(p)
    end
end

-- A loop of gets that LuaJIT compiles sees another process's writes: the
-- L1 hit reads the ring head afresh at every get, and never keeps the
-- head it read before. LuaJIT ignores volatile, and would hoist the load
-- out of the loop were nothing in it a store it must take for one to the
-- head. lua-resty-lrucache's own stores happen to be; a caller's L1 of
-- plain tables makes none, so that is the L1 here. The writer never stops
-- writing while the loop runs, which runs until it saw 10 of the writes;
-- with the head hoisted, the copy the loop found when compiled would be
-- served to its end (a bound of gets far more than enough otherwise).
do
    local vals, flags = {}, {}
    local lru = {
        get = function(_, k) return vals[k], nil, flags[k] end,
        set = function(_, k, v, _, f) vals[k], flags[k] = v, f end,
        delete = function(_, k) vals[k], flags[k] = nil, nil end,
    }
    local c = instance(10, lru)
    truthy(c.heads ~= nil, "the loop reads the ring-head watch")
    local k = "bumped"
    assert(region:set(k, "w0"))
    assert(region:delete("stop"))
    local luajit, i = "luajit", -1
    while arg[i] do -- the interpreter, before its options
        luajit, i = arg[i], i - 1
    end
    local child = assert(io.popen(string.format("'%s' ffi/t/writer_child.lua '%s' %s", luajit, path, k)))
    local deadline = os.time() + 60 -- a bound for a machine however loaded
    repeat -- the writer's first write, read from the region (a call)
    until region:get(k) ~= "w0" or os.time() > deadline
    truthy(region:get(k) ~= "w0", "the writer started")
    -- Three loops, each compiled afresh (jit.flush): no trace of the
    -- blocks above (get's own, entered at every call) takes the loop's
    -- place, and a loop whose first trace is a side trace (which hoists
    -- nothing) is not the only one.
    local seen = {}
    for l = 1, 3 do
        jit.flush()
        local last, n, gets = c:get(k), 0, 0
        repeat
            local v = c:get(k)
            if v ~= last then
                last, n = v, n + 1
            end
            gets = gets + 1
        until n == 10 or gets == 2e8
        seen[l] = n
    end
    assert(region:set("stop", "1"))
    local writes = tonumber(child:read("*a"))
    child:close()
    truthy(writes and writes > 0, "the writer wrote")
    for l = 1, 3 do
        truthy(seen[l] >= 10, "compiled loop " .. l .. " of gets saw " .. seen[l] .. " of " .. tostring(writes) .. " writes")
    end
    assert(region:delete("stop"))
end

region:close()
os.remove(path)
T.done("mlcache_always_test.lua")
