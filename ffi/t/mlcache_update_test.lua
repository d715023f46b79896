-- Tests of resty.shmlru.mlcache's l1_coherence "update" under plain
-- LuaJIT, against the built libshmlru.so:
--
--   SHMLRU_LIB=build/libshmlru.so luajit ffi/t/mlcache_update_test.lua [region]
--
-- Run by `make test-lua`. The rule: after update(), no L1 copy of a key
-- whose stripe changed survives; the other copies stay. Checked for keys
-- sharing a stripe, under L1 churn (the reverse map pruned many times
-- over), and for an update() whose change calls never run dry. Writes go
-- through the region's own handle, as another process's would.

package.path = "ffi/?.lua;ffi/t/?.lua;" .. package.path

-- lua-resty-lrucache reads ngx.now (its expiry clock) when loaded; no
-- entry here expires.
ngx = { now = os.time }

local scratch = require "scratch"
local stripes = require "stripes"
local base = require "resty.shmlru.base"
local mlc = require "resty.shmlru.mlcache"
local lrucache = require "resty.lrucache"
local T = require "check"
local expect, truthy = T.expect, T.truthy

local region, path = scratch.open("mlcupd")

local function stripe(key)
    return stripes.of(region, key)
end

local names = 0
local function instance(size, lru)
    names = names + 1
    return assert(mlc.new("upd" .. names, region, { prefix = "", ttl = 0, lru_size = size,
                                                   lru = lru, l1_coherence = "update" }))
end

-- level is the hit level of c's get of key, after checking that it
-- answers the region's value.
local function level(c, key, line)
    local v, err, l = c:get(key)
    local want = region:get(key)
    if v ~= want then
        truthy(false, string.format("line %d: %s read %s (%s) at level %s; the region holds %s",
            line, key, tostring(v), tostring(err), tostring(l), tostring(want)))
    end
    return l
end

-- Keys sharing one stripe: a write to any of them drops the others' L1
-- copies too (they were filled under the same count), and only theirs.
do
    local shared, st = stripes.sharing(region, "same", 3), stripe("same-0")
    expect({ 3 }, #shared)
    local others = {}
    for i = 1, 50 do
        local k = "other-" .. i
        if stripe(k) ~= st then others[#others + 1] = k end
    end
    local all = { unpack(shared) }
    for _, k in ipairs(others) do all[#all + 1] = k end
    for _, k in ipairs(all) do assert(region:set(k, "v-" .. k)) end

    local c = instance(100)
    assert(c:update())
    for round, written in ipairs({ shared[1], shared[3], shared[2] }) do
        for _, k in ipairs(all) do level(c, k, 0) end
        for _, k in ipairs(all) do
            expect({ 1 }, level(c, k, 1))
        end
        assert(region:set(written, "round-" .. round))
        -- before update(): every copy is served, stale or not
        expect({ "v-" .. written, nil, 1 }, c:get(written))
        assert(c:update())
        for _, k in ipairs(shared) do
            expect({ 2 }, level(c, k, 2)) -- dropped: the stripe changed
        end
        for _, k in ipairs(others) do
            expect({ 1 }, level(c, k, 3))
        end
        for _, k in ipairs(shared) do assert(region:set(k, "v-" .. k)) end
        assert(c:update())
    end
end

-- Churn: an L1 of 16 over 400 keys, so that the reverse map is pruned
-- every few dozen fills, with writes and update()s in between. After each
-- update(), every L1 hit serves the region's value; L1's order is its
-- own (a prune reorders nothing: the copies evicted are the least
-- recently used); the reverse map stays about as large as L1. The same
-- with an LRU of the caller's without get_keys (prune asks it key by key,
-- which reorders it: its order is not checked), given as wrap(lrucache).
local names_churn = 0
local function churn(wrap)
    local SIZE, KEYS = 16, 400
    names_churn = names_churn + 1
    local keys = {}
    for i = 1, KEYS do
        keys[i] = "churn-" .. names_churn .. "-" .. i
        assert(region:set(keys[i], "0"))
    end
    local lru = lrucache.new(SIZE)
    local c = instance(SIZE, wrap and wrap(lru) or lru)
    assert(c:update())
    math.randomseed(7)
    local recent = {} -- the keys got, most recent first, as L1 should order them
    local hits, stale, most, misordered = 0, 0, 0, nil
    for step = 1, 20000 do
        local r = math.random()
        if r < 0.05 then
            local k = keys[math.random(KEYS)]
            assert(region:set(k, tostring(step)))
        elseif r < 0.1 then
            assert(c:update())
            -- every copy L1 serves now is current
            for _, k in ipairs(lru:get_keys(0)) do
                local v, _, l = c:get(k)
                if l == 1 and v ~= region:get(k) then
                    stale = stale + 1
                end
            end
            -- (those gets reordered L1, and update() dropped some of it)
            recent = lru:get_keys(0)
        else
            local k = keys[math.random(KEYS)]
            local v, _, l = c:get(k)
            if l == 1 then hits = hits + 1 end
            for i = #recent, 1, -1 do
                if recent[i] == k then table.remove(recent, i) end
            end
            table.insert(recent, 1, k)
            recent[SIZE + 1] = nil
            -- L1's order is the order of the gets
            local got = lru:get_keys(0)
            for i = 1, wrap and 0 or #recent do
                if got[i] ~= recent[i] then
                    misordered = misordered or string.format("step %d: L1's key %d is %s; want %s",
                        step, i, tostring(got[i]), recent[i])
                    recent = got -- go on from L1's order
                    break
                end
            end
            _ = v
        end
        local n = 0
        for _, ks in pairs(c.l1.keys_of) do
            n = n + (type(ks) == "table" and 0 or 1)
            if type(ks) == "table" then
                for _ in pairs(ks) do n = n + 1 end
            end
        end
        if n > most then most = n end
    end
    expect({ 0 }, stale)
    expect({ nil }, misordered) -- L1 in the gets' order
    truthy(hits > 0, "no L1 hits")
    truthy(most <= 2 * SIZE + 65, "the reverse map held " .. most .. " keys for an L1 of " .. SIZE)
end
churn()
churn(function(lru)
    return {
        get = function(_, k) return lru:get(k) end,
        set = function(_, k, v, ttl) return lru:set(k, v, ttl) end,
        delete = function(_, k) return lru:delete(k) end,
    }
end)

-- An update() whose change calls always come back full (a scribbled ring,
-- or a write rate update() cannot keep up with) returns after a bounded
-- number of them, drops every L1 copy, and follows the changes from then
-- on.
do
    local real = base.lib()
    local scribble, calls = false, 0
    local proxy = setmetatable({
        shmlru_l1_changes = function(h, cursors, ncursors, out, out_len, n, lapped)
            if scribble and out_len > 0 then
                calls = calls + 1
                for i = 0, tonumber(out_len) - 1 do out[i] = 0 end
                n[0], lapped[0] = out_len, 0
                return 0
            end
            return real.shmlru_l1_changes(h, cursors, ncursors, out, out_len, n, lapped)
        end,
    }, { __index = real })
    local real_lib = base.lib
    base.lib = function() return proxy end
    local c = instance(100)
    base.lib = real_lib
    local keys = {}
    for i = 1, 20 do
        keys[i] = "scribble-" .. i
        assert(region:set(keys[i], "v" .. i))
    end
    for _, k in ipairs(keys) do level(c, k, 4) end
    for _, k in ipairs(keys) do expect({ 1 }, level(c, k, 5)) end
    scribble = true
    expect({ true }, c:update())
    scribble = false
    truthy(calls >= 1 and calls <= 64, "update() made " .. calls .. " change calls")
    for _, k in ipairs(keys) do expect({ 2 }, level(c, k, 6)) end
    -- the cursors follow the region from there
    assert(region:set(keys[1], "new"))
    expect({ true }, c:update())
    expect({ 2 }, level(c, keys[1], 7))
    expect({ 1 }, level(c, keys[2], 8))
    assert(instance(1)) -- binds the module to the library again
end

-- This worker's own writes stay in its L1 through update(), as mlcache's
-- update() skips its own worker's events: a set, and a load whose
-- callback ran here. Another process's write after them still drops them.
do
    local c = instance(100)
    assert(c:update())
    expect({ true }, c:set("own-set", nil, "mine"))
    expect({ "own-load", nil, 3 }, c:get("own-load", nil, function() return "own-load" end))
    assert(c:update())
    expect({ "mine", nil, 1 }, c:get("own-set"))
    expect({ "own-load", nil, 1 }, c:get("own-load"))
    assert(region:set("own-set", "theirs"))
    assert(c:update())
    expect({ "theirs", nil, 2 }, c:get("own-set"))
end

-- A change that update() passes between a fill's stamp and the fill
-- (another process writes the key while get's callback runs, and the
-- callback calls update()): the copy is not kept, since no later
-- update() would drop it. The key's value is too large for the region,
-- so the callback's value is what get fills L1 with.
do
    local c = instance(100)
    assert(c:update())
    local big = string.rep("x", region:info().max_value + 1)
    local v, err, l = c:get("upd-raced", nil, function()
        assert(region:set("upd-raced", "theirs"))
        assert(c:update())
        return big
    end)
    expect({ true, nil, 3 }, v == big, err, l)
    assert(c:update())
    v, err, l = c:get("upd-raced")
    expect({ true, nil, 2 }, v == "theirs", err, l)
end

-- mlcache's purge event, given to a custom opts.ipc, on an LRU of the
-- caller's without flush_all: every L1 entry goes all the same (those the
-- reverse map lists), so that the next gets read L2.
do
    local lru = lrucache.new(10)
    local bare = {
        get = function(_, k) return lru:get(k) end,
        set = function(_, k, v, ttl, flags) return lru:set(k, v, ttl, flags) end,
        delete = function(_, k) return lru:delete(k) end,
    }
    local handlers = {}
    local ipc = {
        register_listeners = function(events)
            for _, e in pairs(events) do handlers[e.channel] = e.handler end
            return true
        end,
        broadcast = function() return true end,
        poll = function() return true end,
    }
    names = names + 1
    local c = assert(mlc.new("upd" .. names, region, { prefix = "", ttl = 0, lru = bare, ipc = ipc,
                                                      l1_coherence = "update" }))
    assert(region:set("purged", "p"))
    expect({ "p", nil, 2 }, c:get("purged"))
    expect({ "p", nil, 1 }, c:get("purged"))
    local purge = handlers["mlcache:purge:upd" .. names]
    truthy(purge ~= nil, "no purge handler registered")
    purge()
    expect({ "p", nil, 2 }, c:get("purged"))
end

region:close()
os.remove(path)
T.done("mlcache_update_test.lua")
