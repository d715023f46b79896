-- Handlers of the read-through tests in nginx (ffi/load_test.go and
-- ffi/mlcache_test.go): get_or_load and resty.shmlru.mlcache driven by the
-- query string, with callbacks that follow the tests' loader protocol.
--
-- The loader protocol, shared with the Go loaders of the tests: a loader
-- appends "lua PID KEY" (or "go PID KEY") to the count file cf, opened
-- O_APPEND, then, if the request names a release file rel, waits until it
-- exists, then answers as mode says: the value v ("value", the default),
-- nil ("nil"), nil and the error v ("error"), or raises v ("raise").
--
-- Every answer is one line of tab-separated fields: the worker's pid,
-- then what the call returned (type and value, err, source or hit level).

local shmlru_json = require "resty.shmlru.json"

local _M = {}

local function cache()
    return package.loaded["shmlru.cache"]
end

local function exists(path)
    local f = io.open(path, "r")
    if f then
        f:close()
        return true
    end
    return false
end

-- announce appends this loader's line to the count file.
local function announce(cf, key)
    if not cf then
        return
    end
    local f = assert(io.open(cf, "a"))
    assert(f:write("lua ", ngx.worker.pid(), " ", key, "\n"))
    f:close()
end

-- hold waits for the release file (30 s at most, then raises).
local function hold(rel)
    if not rel then
        return
    end
    ngx.update_time()
    local deadline = ngx.now() + 30
    while not exists(rel) do
        ngx.sleep(0.002)
        if ngx.now() > deadline then
            error("the release file " .. rel .. " never came")
        end
    end
end

-- callback builds the loader a request asks for.
local function callback(a)
    local mode = a.mode or "value"
    return function(key)
        announce(a.cf, key)
        hold(a.rel)
        if mode == "nil" then
            return nil
        elseif mode == "error" then
            return nil, a.v
        elseif mode == "raise" then
            error(a.v)
        elseif mode == "table" then
            return { name = a.v, list = { 1, 2, 3 }, ok = true }
        end
        return a.v, nil, tonumber(a.cbttl)
    end
end

local function show(v)
    if type(v) == "table" then
        return shmlru_json.encode(v)
    end
    return tostring(v)
end

local function answer(v, err, src)
    return table.concat({ ngx.worker.pid(), type(v), show(v), tostring(err), tostring(src) }, "\t")
end

local function gol_opts(a)
    return {
        ttl = tonumber(a.ttl), neg_ttl = tonumber(a.neg_ttl),
        stale_ttl = tonumber(a.stale_ttl), resurrect_ttl = tonumber(a.resurrect_ttl),
        lease = tonumber(a.lease), wait_timeout = tonumber(a.wait_timeout),
    }
end

-- /gol: cache:get_or_load(k, opts, callback).
function _M.gol()
    local a = ngx.req.get_uri_args()
    local v, err, src = cache():get_or_load(a.k, gol_opts(a), callback(a), a.k)
    ngx.say(answer(v, err, src))
end

-- /gol_access: get_or_load in the access phase; content says the answer.
function _M.gol_access()
    local a = ngx.req.get_uri_args()
    local v, err, src = cache():get_or_load(a.k, gol_opts(a), callback(a), a.k)
    ngx.ctx.answer = answer(v, err, src)
end

function _M.say_ctx()
    ngx.say(ngx.ctx.answer)
end

-- /gol_timer: get_or_load in a timer; the request waits for its answer.
function _M.gol_timer()
    local a = ngx.req.get_uri_args()
    local sema = require("ngx.semaphore").new()
    local out
    local ok, err = ngx.timer.at(0, function(premature)
        local v, e, src = cache():get_or_load(a.k, gol_opts(a), callback(a), a.k)
        out = answer(v, e, tostring(src) .. "/" .. ngx.get_phase())
        sema:post(1)
    end)
    if not ok then
        ngx.say("timer: ", err)
        return
    end
    local ok2, werr = sema:wait(30)
    ngx.say(ok2 and out or ("timer did not answer: " .. tostring(werr)))
end

-- /gol_hf: get_or_load in header_filter, which cannot yield.
function _M.gol_hf()
    local a = ngx.req.get_uri_args()
    local v, err, src = cache():get_or_load(a.k, gol_opts(a), callback(a), a.k)
    ngx.header["X-Answer"] = ngx.escape_uri(answer(v, err, src))
end


-- resty.shmlru.mlcache

local mlcache = require "resty.shmlru.mlcache"

-- One instance per worker (per name), over the worker's open cache.
local instances = {}
local function ml(name)
    name = name or "ml"
    local c = instances[name]
    if not c then
        -- "mlu" keeps mlcache's own contract: L1 may be stale until update().
        local coherence = name == "mlu" and "update" or nil
        c = assert(mlcache.new(name, cache(), { ttl = 60, neg_ttl = 60, lru_size = 100,
                                                l1_coherence = coherence }))
        instances[name] = c
    end
    return c
end

local function ml_opts(a)
    local o = {
        ttl = tonumber(a.ttl), neg_ttl = tonumber(a.neg_ttl),
        resurrect_ttl = tonumber(a.resurrect_ttl), wait_timeout = tonumber(a.wait_timeout),
    }
    if next(o) == nil then
        return nil
    end
    return o
end

-- /ml: get(k, opts, callback) (without a callback if nocb is set; after
-- update() if update is set).
function _M.ml()
    local a = ngx.req.get_uri_args()
    local c = ml(a.name)
    if a.update then
        assert(c:update())
    end
    local v, err, lvl
    if a.nocb then
        v, err, lvl = c:get(a.k, ml_opts(a))
    else
        v, err, lvl = c:get(a.k, ml_opts(a), callback(a), a.k)
    end
    ngx.say(answer(v, err, lvl))
end

-- /ml_levels: the three levels in one request: the callback (3), this
-- worker's L1 (1), and an instance of another name on the same L2 keys,
-- whose L1 is its own and empty, from L2 (2).
function _M.ml_levels()
    local a = ngx.req.get_uri_args()
    local first = mlcache.new("levels", cache(), { ttl = 60 })
    local second = mlcache.new("levels2", cache(), { ttl = 60, prefix = "levels:" })
    local out = {}
    for _, c in ipairs({ first, first, second }) do
        local v, err, lvl = c:get(a.k, nil, callback(a), a.k)
        out[#out + 1] = show(v) .. " " .. tostring(err) .. " " .. tostring(lvl)
    end
    ngx.say(ngx.worker.pid(), "\t", table.concat(out, "\t"))
end

-- /ml_breadth: in one request, fills L1 (of an instance in the given
-- l1_coherence mode) with the n keys "br<i>" Go wrote, writes w keys
-- through the region (the first of them one of the n, the others keys of
-- their own), calls update(), and gets the n keys again: prints how many
-- were L1 hits (level 1), whether every value read was right, and the
-- other keys that missed.
local breadth_runs = 0
function _M.ml_breadth()
    local a = ngx.req.get_uri_args()
    local n, w = tonumber(a.n), tonumber(a.w)
    -- A name of its own: instances of one name share an L1, and this
    -- request starts from an empty one.
    breadth_runs = breadth_runs + 1
    local c = assert(mlcache.new("br" .. breadth_runs, cache(), {
        ttl = 60, lru_size = n * 2, prefix = "", l1_coherence = a.mode }))
    assert(cache():set("br1", "v1")) -- as Go wrote it, whatever an earlier request did
    for i = 1, n do
        local v, err, lvl = c:get("br" .. i)
        if v ~= "v" .. i or lvl ~= 2 then
            ngx.say("fill br", i, ": ", tostring(v), " ", tostring(err), " ", tostring(lvl))
            return
        end
    end
    assert(cache():set("br1", "changed"))
    for i = 2, w do
        assert(cache():set("other" .. i, "x"))
    end
    assert(c:update())
    local hits, right, missed = 0, true, {}
    for i = 1, n do
        local v, _, lvl = c:get("br" .. i)
        if lvl == 1 then
            hits = hits + 1
        elseif i ~= 1 then
            missed[#missed + 1] = "br" .. i
        end
        if v ~= (i == 1 and "changed" or "v" .. i) then
            right = false
        end
    end
    ngx.say(hits, " ", tostring(right), " ", table.concat(missed, ","))
end

-- /ml_init: get through the instance created in init_by_lua (the region
-- opened on first use in the worker).
function _M.ml_init()
    local a = ngx.req.get_uri_args()
    local v, err, lvl = ml_from_init:get(a.k, nil, callback(a), a.k)
    ngx.say(answer(v, err, lvl))
end

-- /ml_alloc: the L1 hit path allocates nothing once compiled: KB
-- allocated by n gets of one key that L1 holds, measured after a warm-up,
-- and whether the JIT is on.
function _M.ml_alloc()
    local c = ml("alloc")
    local key = "alloc-key"
    assert(c:set(key, nil, "value"))
    local get = c.get
    local function loop(n)
        local hits = 0
        for _ = 1, n do
            local v, _, lvl = get(c, key)
            if lvl == 1 and v == "value" then
                hits = hits + 1
            end
        end
        return hits
    end
    loop(20000) -- warm up: the loop and lrucache's are compiled
    collectgarbage("collect")
    collectgarbage("stop")
    local before = collectgarbage("count")
    local hits = loop(100000)
    local after = collectgarbage("count")
    collectgarbage("restart")
    ngx.say(string.format("%d\t%.1f\t%s", hits, after - before, tostring(jit.status())))
end

-- /ml_api: the rest of the API in one worker, checked here; answers "ok"
-- or the failures, one a line.
function _M.ml_api()
    local a = ngx.req.get_uri_args()
    local check, raises, done = require("ngx_check").new()
    local calls = 0
    local function counted(v, err, ttl)
        return function()
            calls = calls + 1
            return v, err, ttl
        end
    end
    local p = a.prefix or "api"
    local c = assert(mlcache.new("api", cache(), { ttl = 60, neg_ttl = 60, prefix = p .. ":" }))

    -- set, then get from this worker's L1; peek reads L2
    check(c:set("s", nil, "hello") == true, "set")
    local v, err, lvl = c:get("s")
    check(v == "hello" and err == nil and lvl == 1, "get after set: " .. tostring(v) .. " " .. tostring(lvl))
    local ttl, perr, pv = c:peek("s")
    check(perr == nil and pv == "hello" and ttl > 59 and ttl <= 60, "peek: " .. tostring(ttl) .. " " .. tostring(pv))
    check(cache():get(p .. ":s") == "hello", "L2 holds the plain string under the prefix")
    -- numbers and booleans stay plain values in L2
    check(c:set("n", nil, 42.5) and cache():get(p .. ":n") == 42.5, "number in L2")
    check(c:set("b", nil, false) and cache():get(p .. ":b") == false, "boolean in L2")
    v, err, lvl = c:get("b")
    check(v == false and lvl == 1, "false from L1")
    -- tables: JSON in L2 with the flags 0x4A534F4E
    check(c:set("t", nil, { x = 1, y = { "a", "b" } }), "set a table")
    local raw, flags = cache():get(p .. ":t")
    check(type(raw) == "string" and flags == mlcache.FLAG_JSON, "table in L2: " .. tostring(raw) .. " " .. tostring(flags))
    local c2 = assert(mlcache.new("api2", cache(), { prefix = p .. ":" }))
    v, err, lvl = c2:get("t")
    check(type(v) == "table" and v.x == 1 and v.y[2] == "b" and lvl == 2, "table from L2")
    -- set(nil) caches a nil for neg_ttl
    check(c:set("nothing", nil, nil), "set nil")
    v, err, lvl = c:get("nothing", nil, counted("x"))
    check(v == nil and err == nil and lvl == 1 and calls == 0, "cached nil from L1: " .. tostring(lvl))
    v, err, lvl = c2:get("nothing", nil, counted("x"))
    check(v == nil and err == nil and lvl == 2 and calls == 0, "cached nil from L2: " .. tostring(v) .. " " .. tostring(err) .. " " .. tostring(lvl))
    check(cache():get(p .. ":nothing") == nil, "a cached nil reads as nil through resty.shmlru")
    ttl, perr, pv = c:peek("nothing")
    check(ttl and ttl > 59 and pv == nil and perr == nil, "peek a cached nil: " .. tostring(ttl))
    -- delete
    check(c:delete("s") == true, "delete")
    v, err, lvl = c:get("s")
    check(v == nil and err == nil and lvl == -1, "get without callback after delete: " .. tostring(lvl))
    check(c:peek("s") == nil, "peek after delete")
    -- the callback's third value: a ttl, or < 0 for "do not cache"
    calls = 0
    v, err, lvl = c:get("short", nil, counted("v", nil, 5))
    ttl = c:peek("short")
    check(v == "v" and lvl == 3 and ttl and ttl <= 5 and ttl > 4, "callback ttl: " .. tostring(ttl))
    v, err, lvl = c:get("uncached", nil, counted("u", nil, -1))
    check(v == "u" and lvl == 3 and c:peek("uncached") == nil, "negative callback ttl: not cached")
    v, err, lvl = c:get("uncached", nil, counted("u", nil, -1))
    check(calls == 3, "an uncached value loads again: " .. calls)
    -- errors
    v, err, lvl = c:get("fails", nil, counted(nil, "db down"))
    check(v == nil and err == "db down" and lvl == nil, "callback error")
    v, err = c:get("throws", nil, function() error("kaboom") end)
    check(v == nil and tostring(err):find("callback threw an error: ", 1, true) and err:find("kaboom", 1, true), "callback raising: " .. tostring(err))
    raises("cannot cache value of type function", c.get, c, "fn", nil, function() return function() end end)
    -- l1_serializer: applied once on promotion; its failure is get's error
    local sc = assert(mlcache.new("api", cache(), {
        prefix = p .. ":",
        l1_serializer = function(s) return { wrapped = s } end,
    }))
    v, err, lvl = sc:get("ser", nil, counted("raw"))
    check(type(v) == "table" and v.wrapped == "raw" and lvl == 3, "l1_serializer on L3")
    local again = sc:get("ser", nil, counted("raw"))
    check(again == v, "the serialized value is kept in L1")
    check(cache():get(p .. ":ser") == "raw", "L2 keeps the raw value")
    v, err = c:get("ser2", { l1_serializer = function() return nil, "no good" end }, counted("raw"))
    check(v == nil and err == "no good", "l1_serializer error: " .. tostring(err))
    v, err = c:get("ser3", { l1_serializer = function() error("bad ser") end }, counted("raw"))
    check(v == nil and tostring(err):find("l1_serializer threw an error", 1, true), "l1_serializer raising: " .. tostring(err))
    -- resurrect_ttl: an expired value comes back when the callback fails
    check(c:set("res", { ttl = 0.01 }, "old"), "set res")
    ngx.sleep(0.03)
    v, err, lvl = c:get("res", { resurrect_ttl = 30 }, counted(nil, "down"))
    ttl = c:peek("res")
    check(v == "old" and err == nil and lvl == 4 and ttl and ttl > 29, "resurrect: " .. tostring(v) .. " " .. tostring(err) .. " " .. tostring(lvl))
    -- bulk
    local bulk = mlcache.new_bulk(3)
    bulk:add("b1", nil, function(x) return x end, "one")
    bulk:add("b2", nil, function(x) return x end, "two")
    bulk:add("b3", nil, function() return nil, "bulk error" end)
    local res, berr = c:get_bulk(bulk, { concurrency = 2 })
    check(res and berr == nil and res.n == 9, "get_bulk: " .. tostring(berr))
    local seen = {}
    for i, data, e, l in mlcache.each_bulk_res(res) do
        seen[i] = tostring(data) .. "/" .. tostring(e) .. "/" .. tostring(l)
    end
    check(seen[1] == "one/nil/3" and seen[2] == "two/nil/3" and seen[3] == "nil/bulk error/nil",
          "each_bulk_res: " .. table.concat(seen, " "))
    -- update is a no-op; purge empties L1 and L2
    check(c:update() == true, "update")
    check(c:set("p", nil, "x") and c:purge() == true, "purge")
    v, err, lvl = c:get("p")
    check(v == nil and lvl == -1 and cache():get(p .. ":p") == nil, "after purge")
    -- bad arguments raise, as mlcache's
    raises("key must be a string", c.get, c, 1)
    raises("callback must be nil or a function", c.get, c, "k", nil, "x")
    raises("opts must be a table", c.get, c, "k", "x")
    raises("opts.ttl must be >= 0", c.get, c, "k", { ttl = -1 })
    raises("opts.neg_ttl must be a number", c.get, c, "k", { neg_ttl = "x" })
    raises("opts.resurrect_ttl must be >= 0", c.get, c, "k", { resurrect_ttl = -1 })
    raises("opts.l1_serializer must be a function", c.get, c, "k", { l1_serializer = 1 })
    raises("name must be a string", mlcache.new, 1, cache())
    raises("shm must be a string", mlcache.new, "x", 5)
    raises("opts.lru_size must be >= 1", mlcache.new, "x", cache(), { lru_size = 0 })
    raises("opts.ttl must be >= 0", mlcache.new, "x", cache(), { ttl = -5 })
    done()
end

-- /ml_restamp: an Expire (by any process) that lands between set's write
-- and its second stamp keeps the entry's version, so the version check
-- alone took the copy for current at the count after the Expire: L1 kept
-- the value for the set's ttl after L2 dropped it. The library's stamp
-- call is wrapped, in this worker only, to make that Expire at that point.
-- Answers "ok" or what L1 served.
function _M.ml_restamp()
    local base = require "resty.shmlru.base"
    local real_lib = base.lib
    local real = real_lib()
    local stamps = 0
    local proxy = setmetatable({
        shmlru_l1_stamp = function(h, k, n, st, c0)
            stamps = stamps + 1
            if stamps == 2 then -- set's restamp, after its write
                assert(real.shmlru_expire(h, k, n, 1) == 0)
            end
            return real.shmlru_l1_stamp(h, k, n, st, c0)
        end,
    }, { __index = real })
    base.lib = function() return proxy end
    local c = assert(mlcache.new("restamp", cache(), { ttl = 60, prefix = "restamp:" }))
    base.lib = real_lib
    local ok, serr = c:set("k", nil, "v1")
    assert(mlcache.new("restamp2", cache())) -- binds the module to the library again
    assert(ok and stamps == 2, tostring(serr))
    local deadline = ngx.now() + 5
    while cache():get("restamp:k") ~= nil do
        assert(ngx.now() < deadline, "the 1 ms deadline never passed")
        ngx.sleep(0.001)
        ngx.update_time()
    end
    local v, err, lvl = c:get("k")
    if v == nil and err == nil and lvl == -1 then
        ngx.say("ok")
    else
        ngx.say("L1 served ", tostring(v), " ", tostring(err), " at level ", tostring(lvl), " after L2 expired it")
    end
end

-- /ml_update_err: update() whose shmlru_l1_changes fails after it moved
-- the cursors (the native path read some shards, then Go's call for the
-- rest failed): the changes read are lost to the caller, so update() must
-- drop every L1 copy, not keep serving them. The library's call is
-- wrapped, in this worker only, to fail that way once. Answers "ok" or
-- what L1 served.
function _M.ml_update_err()
    local base = require "resty.shmlru.base"
    local real_lib = base.lib
    local real = real_lib()
    local fail = false
    local proxy = setmetatable({
        shmlru_l1_changes = function(...)
            local rc = real.shmlru_l1_changes(...)
            if fail and rc == 0 then
                fail = false
                return -20 -- SHMLRU_CORRUPT, as if Go failed on the rest of the shards
            end
            return rc
        end,
    }, { __index = real })
    base.lib = function() return proxy end
    local c = assert(mlcache.new("upderr", cache(), { ttl = 60, prefix = "upderr:", l1_coherence = "update" }))
    base.lib = real_lib
    local out = {}
    assert(c:set("k", nil, "v1"))
    local v, _, lvl = c:get("k")
    assert(v == "v1" and lvl == 1, "primed")
    assert(cache():set("upderr:k", "v2"))
    fail = true
    local ok, err = c:update()
    out[#out + 1] = "update: " .. tostring(ok) .. " " .. tostring(err)
    assert(c:update())
    v, _, lvl = c:get("k")
    assert(mlcache.new("upderr2", cache())) -- binds the module to the library again
    if v == "v2" then
        ngx.say("ok")
    else
        ngx.say(table.concat(out, "; "), "; then get served ", tostring(v), " at level ", tostring(lvl))
    end
end

return _M
