-- SPDX-License-Identifier: Apache-2.0
-- nginx handlers of ffi/mlcache_compat_test.go: resty.shmlru.mlcache
-- answering as lua-resty-mlcache does, call for call. Each handler checks
-- in one request and answers "ok" or its failures, one a line.

local mlcache = require "resty.shmlru.mlcache"
local checker = require("ngx_check").new

local _M = {}

local function cache()
    return package.loaded["shmlru.cache"]
end

local function new(name, opts)
    opts = opts or {}
    opts.prefix = ngx.var.arg_prefix .. ":" .. name .. ":"
    return assert(mlcache.new(name, cache(), opts))
end

local function s(v)
    return tostring(v)
end


-- /mlc_callbacks: what a callback returns, as get answers it.
function _M.callbacks()
    local check, raises, done = checker()
    local c = new("cb", { ttl = 60 })

    -- value and error together: both returned, nothing cached
    local v, err, lvl = c:get("both", nil, function() return "partial", "db down" end)
    check(v == "partial" and err == "db down" and lvl == nil,
          "value and err: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    check(c:peek("both") == nil, "a value returned with an error is not cached")

    -- a non-string error is turned into a string, __tostring honoured
    v, err = c:get("num", nil, function() return nil, 42 end)
    check(v == nil and err == "42", "number err: " .. s(err))
    local e = setmetatable({}, { __tostring = function() return "custom error" end })
    v, err = c:get("obj", nil, function() return nil, e end)
    check(err == "custom error", "__tostring err: " .. s(err))

    -- a Lua error carries its traceback
    v, err = c:get("throws", nil, function() error("kaboom") end)
    check(v == nil and type(err) == "string"
          and err:find("callback threw an error: ", 1, true) == 1
          and err:find("kaboom", 1, true) and err:find("stack traceback:", 1, true),
          "callback error with traceback: " .. s(err))

    -- a userdata (ngx.null) cannot be cached: get raises
    raises("cannot cache value of type userdata", c.get, c, "null", nil,
           function() return ngx.null end)

    -- a value too large for L2 is still served, and from L1 after
    local big = string.rep("x", 2 * 1024 * 1024)
    local calls = 0
    local function big_cb()
        calls = calls + 1
        return big
    end
    v, err, lvl = c:get("big", nil, big_cb)
    check(v == big and err == nil and lvl == 3, "too large for L2: " .. s(err) .. " " .. s(lvl))
    v, err, lvl = c:get("big", nil, big_cb)
    check(v == big and lvl == 1 and calls == 1, "too large for L2, then from L1: " .. s(lvl) .. " " .. calls)
    check(c:peek("big") == nil, "too large: not in L2")

    -- a nil with a negative ttl is not cached either
    calls = 0
    local function neg_nil()
        calls = calls + 1
        return nil, nil, -1
    end
    v, err, lvl = c:get("negnil", nil, neg_nil)
    check(v == nil and err == nil and lvl == 3, "nil with ttl -1: " .. s(lvl))
    v, err, lvl = c:get("negnil", nil, neg_nil)
    check(lvl == 3 and calls == 2 and c:peek("negnil") == nil, "nil with ttl -1 is not cached: " .. calls)
    done()
end


-- /mlc_peek: peek's fourth value and its clock.
function _M.peek()
    local check, _, done = checker()
    local c = new("peek", { ttl = 60 })
    assert(c:set("k", { ttl = 0.2 }, "v"))
    local ttl, err, v, stale = c:peek("k")
    check(ttl == 0.2 and err == nil and v == "v" and stale == false,
          "peek after set ttl 0.2: " .. s(ttl) .. " " .. s(v) .. " " .. s(stale))
    assert(c:set("forever", { ttl = 0 }, "v"))
    ttl = c:peek("forever")
    check(ttl == 0, "ttl 0 peeks as 0: " .. s(ttl))
    assert(c:set("short", { ttl = 0.05 }, "old"))
    ngx.sleep(0.12)
    check(c:peek("short") == nil, "an expired value is no peek without stale")
    ttl, err, v, stale = c:peek("short", true)
    check(ttl and ttl < 0 and v == "old" and stale == true,
          "peek stale: " .. s(ttl) .. " " .. s(v) .. " " .. s(stale))
    done()
end


-- /mlc_resurrect: resurrect_ttl 0 (resurrect for good).
function _M.resurrect()
    local check, raises, done = checker()
    local c = new("res", { ttl = 60 })
    assert(c:set("k", { ttl = 0.05 }, "old"))
    ngx.sleep(0.12)
    local v, err, lvl = c:get("k", { resurrect_ttl = 0 }, function() return nil, "down" end)
    check(v == "old" and err == nil and lvl == 4, "resurrect_ttl 0: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    local ttl = c:peek("k")
    check(ttl and ttl > 3600, "resurrected with resurrect_ttl 0 has no near expiry: " .. s(ttl))
    -- a cached nil that expired is resurrected as a nil
    local n, e2, l2 = c:get("nil", { neg_ttl = 0.05 }, function() return nil end)
    check(n == nil and e2 == nil and l2 == 3, "a nil cached: " .. s(l2))
    ngx.sleep(0.12)
    v, err, lvl = c:get("nil", { resurrect_ttl = 30 }, function() return nil, "down" end)
    check(v == nil and err == nil and lvl == 4, "a stale nil resurrected: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    v, err, lvl = c:get("nil", nil, function() return "new" end)
    check(v == nil and err == nil and lvl == 1, "the resurrected nil is served: " .. s(v) .. " " .. s(lvl))
    ttl = c:peek("nil")
    check(ttl and ttl > 29 and ttl <= 30, "the resurrected nil lives resurrect_ttl: " .. s(ttl))
    raises("opts.resurrect_ttl must be >= 0", mlcache.new, "x", cache(), { resurrect_ttl = -1 })
    check(pcall(mlcache.new, "x", cache(), { resurrect_ttl = 0 }), "new takes resurrect_ttl 0")
    done()
end


-- /mlc_resurrected: a resurrected value or nil read back from L2 (by
-- another instance, whose L1 is its own as another worker's is, and by
-- this one once its L1 dropped it) is hit level 4 until resurrect_ttl
-- ends, as mlcache's stale flag in its dict makes it; from L1 it is 1, as
-- in mlcache. Then the callback runs again: 3, or 4 if it fails again.
function _M.resurrected()
    local check, _, done = checker()
    local prefix = ngx.var.arg_prefix .. ":"
    local a = assert(mlcache.new("resa", cache(), { prefix = prefix, ttl = 60 }))
    local b = assert(mlcache.new("resb", cache(), { prefix = prefix, ttl = 60 }))
    local function fail() return nil, "down" end
    assert(a:set("k", { ttl = 0.05 }, "old"))
    assert(a:set("nil", { neg_ttl = 0.05 }, nil))
    ngx.sleep(0.12)
    local o = { resurrect_ttl = 0.3 }
    local v, err, lvl = a:get("k", o, fail)
    check(v == "old" and err == nil and lvl == 4, "resurrecting get: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    v, err, lvl = a:get("k", o, fail)
    check(v == "old" and lvl == 1, "then from its L1: " .. s(v) .. " " .. s(lvl))
    v, err, lvl = b:get("k", o, fail)
    check(v == "old" and err == nil and lvl == 4, "another instance, from L2: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    v, err, lvl = b:get("k")
    check(v == "old" and lvl == 1, "then from its L1: " .. s(v) .. " " .. s(lvl))
    a.lru:delete("k")
    v, err, lvl = a:get("k")
    check(v == "old" and err == nil and lvl == 4, "after L1 dropped it, without a callback: " .. s(v) .. " " .. s(lvl))
    local ttl, _, pv, stale = b:peek("k")
    check(ttl and ttl > 0 and ttl <= 0.3 and pv == "old" and stale == false,
          "peek: " .. s(ttl) .. " " .. s(pv) .. " " .. s(stale))
    v, err, lvl = a:get("nil", o, fail)
    check(v == nil and err == nil and lvl == 4, "a nil resurrected: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    v, err, lvl = b:get("nil", o, fail)
    check(v == nil and err == nil and lvl == 4, "the nil, from L2: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    -- a table: JSON with mlcache's flags, and the mark beside them, which
    -- the decode does not see
    assert(a:set("t", { ttl = 0.05 }, { n = 1, s = "x" }))
    ngx.sleep(0.12)
    v, err, lvl = a:get("t", o, fail)
    check(type(v) == "table" and v.n == 1 and v.s == "x" and lvl == 4,
          "a table resurrected: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    v, err, lvl = b:get("t", o, fail)
    check(type(v) == "table" and v.n == 1 and v.s == "x" and err == nil and lvl == 4,
          "the table, from L2: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    local _, _, tv = b:peek("t")
    check(type(tv) == "table" and tv.n == 1, "the table, peeked: " .. s(tv))

    -- a get that waited on the failing load: level 4, and only the
    -- caller whose callback failed warns that it resurrected the value
    assert(a:set("w", { ttl = 0.05 }, "old"))
    ngx.sleep(0.12)
    local warned, orig_log = {}, ngx.log
    ngx.log = function(lvl, ...)
        if lvl == ngx.WARN then
            local parts = {}
            for i = 1, select("#", ...) do
                parts[i] = tostring((select(i, ...)))
            end
            warned[#warned + 1] = table.concat(parts)
        end
        return orig_log(lvl, ...)
    end
    local th = ngx.thread.spawn(function()
        return a:get("w", o, function() ngx.sleep(0.1) return nil, "down" end)
    end)
    local wv, werr, wlvl = b:get("w", o, fail)
    local _, av, _, alvl = ngx.thread.wait(th)
    ngx.log = orig_log
    check(av == "old" and alvl == 4 and wv == "old" and werr == nil and wlvl == 4,
          "the loader and its waiter: " .. s(av) .. " " .. s(alvl) .. ", " .. s(wv) .. " " .. s(werr) .. " " .. s(wlvl))
    check(#warned == 1 and warned[1]:find("(down)", 1, true),
          "warnings: " .. table.concat(warned, " | "))

    ngx.sleep(0.4) -- past resurrect_ttl
    v, err, lvl = b:get("k", o, function() return "new" end)
    check(v == "new" and err == nil and lvl == 3, "past resurrect_ttl, the callback runs: " .. s(v) .. " " .. s(lvl))
    v, err, lvl = a:get("k", o, fail)
    check(v == "new" and err == nil and lvl == 2, "its value, from L2: " .. s(v) .. " " .. s(lvl))
    v, err, lvl = b:get("nil", o, fail)
    check(v == nil and err == nil and lvl == 4, "the nil, past resurrect_ttl, fails again: " .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    done()
end


-- /mlc_lock: get's resty_lock_opts.timeout bounds its wait on another
-- caller's load.
function _M.lock()
    local check, raises, done = checker()
    local c = new("lock", { ttl = 60 })
    local th = ngx.thread.spawn(function()
        return c:get("slow", nil, function() ngx.sleep(1) return "late" end)
    end)
    ngx.sleep(0.05) -- let the thread claim the load
    ngx.update_time()
    local t0 = ngx.now()
    local v, err = c:get("slow", { resty_lock_opts = { timeout = 0.1 } }, function() return "mine" end)
    ngx.update_time()
    local waited = ngx.now() - t0
    check(v == nil and err and waited < 0.5,
          "lock timeout 0.1: " .. s(v) .. " " .. s(err) .. " after " .. waited .. " s")
    check(err == "could not acquire callback lock: timeout", "mlcache's lock-timeout error: " .. s(err))
    local ok, tv = ngx.thread.wait(th)
    check(ok and tv == "late", "the loader: " .. s(tv))

    -- a stale cached nil is served on a lock timeout with resurrect_ttl
    local n = c:get("nil", { neg_ttl = 0.05 }, function() return nil end)
    check(n == nil, "a nil cached")
    ngx.sleep(0.12)
    th = ngx.thread.spawn(function()
        return c:get("nil", nil, function() ngx.sleep(0.5) return "late" end)
    end)
    ngx.sleep(0.05)
    local lvl
    v, err, lvl = c:get("nil", { resurrect_ttl = 30, resty_lock_opts = { timeout = 0.1 } },
                        function() return "mine" end)
    check(v == nil and err == nil and lvl == 4, "a stale nil on a lock timeout: "
          .. s(v) .. " " .. s(err) .. " " .. s(lvl))
    ok, tv = ngx.thread.wait(th)
    check(ok and tv == "late", "the nil's loader: " .. s(tv))
    raises("opts.resty_lock_opts must be a table", c.get, c, "k", { resty_lock_opts = 1 })
    done()
end


-- /mlc_args: argument checks, in mlcache's words.
function _M.args()
    local check, raises, done = checker()
    local c = new("args")
    raises("callback must be nil or a function", c.get, c, "k", nil, 1)
    raises("shm must be a string", mlcache.new, "x", 1)
    raises("opts.ttl must be a number", c.get, c, "k", { ttl = "x" })
    raises("opts.shm_set_tries must be a number", c.get, c, "k", { shm_set_tries = "x" })
    raises("opts.shm_set_tries must be >= 1", c.get, c, "k", { shm_set_tries = 0 })
    raises("opts.lru_size must be a number", mlcache.new, "x", cache(), { lru_size = "x" })
    raises("opts.ipc_shm must be a string", mlcache.new, "x", cache(), { ipc_shm = 1 })
    raises("cannot specify both of opts.ipc_shm and opts.ipc", mlcache.new, "x", cache(),
           { ipc_shm = "s", ipc = {} })
    raises("opts.ipc must be a table", mlcache.new, "x", cache(), { ipc = 1 })
    raises("opts.ipc.register_listeners must be a function", mlcache.new, "x", cache(), { ipc = {} })
    raises("opts.ipc.broadcast must be a function", mlcache.new, "x", cache(),
           { ipc = { register_listeners = function() end } })
    raises("opts.ipc.poll must be a function", mlcache.new, "x", cache(),
           { ipc = { register_listeners = function() end, broadcast = function() end, poll = 1 } })
    raises("opts.shm_miss must be a string", mlcache.new, "x", cache(), { shm_miss = 1 })
    raises("opts.shm_locks must be a string", mlcache.new, "x", cache(), { shm_locks = 1 })
    raises("opts.shm_set_tries must be >= 1", mlcache.new, "x", cache(), { shm_set_tries = 0 })
    local cn, nerr = mlcache.new("x", cache(), { shm_miss = "no_such_dict" })
    check(cn == nil and nerr == "no such lua_shared_dict for opts.shm_miss: no_such_dict",
          "shm_miss must exist: " .. s(nerr))
    cn, nerr = mlcache.new("x", cache(), { shm_locks = "no_such_dict" })
    check(cn == nil and nerr == "no such lua_shared_dict for opts.shm_locks: no_such_dict",
          "shm_locks must exist: " .. s(nerr))
    local events
    cn, nerr = mlcache.new("x", cache(), { ipc = {
        register_listeners = function(ev) events = ev return nil, "no bus" end,
        broadcast = function() end } })
    check(cn == nil and nerr == "failed to initialize custom IPC (opts.ipc.register_listeners returned an error): no bus"
          and events and events.invalidation.channel == "mlcache:invalidations:x"
          and events.purge.channel == "mlcache:purge:x", "custom ipc: " .. s(nerr))
    local v, err = c:get("ser", { l1_serializer = function() return nil end }, function() return "v" end)
    check(v == nil and err == "l1_serializer returned a nil value", "l1_serializer nil: " .. s(err))

    -- get_bulk and each_bulk_res
    raises("bulk must have n field", c.get_bulk, c, {})
    raises("opts.concurrency must be a number", c.get_bulk, c, { n = 0 }, { concurrency = "x" })
    raises("opts.concurrency must be > 0", c.get_bulk, c, { n = 0 }, { concurrency = 0 })
    local bulk = mlcache.new_bulk(2)
    bulk:add("a", nil, function() return 1 end)
    bulk:add("b", { ttl = -1 }, function() return 2 end)
    raises("options at index 6 for operation 2 are invalid: opts.ttl must be >= 0",
           c.get_bulk, c, bulk)
    raises("res must have res.n field; is this a get_bulk() result?", mlcache.each_bulk_res, {})
    done()
end


-- /mlc_shared_l1: two instances of one name share this worker's L1 (with
-- one prefix: an L1 entry is a copy of prefix .. key).
function _M.shared_l1()
    local check, _, done = checker()
    local name = "shared" .. ngx.var.arg_prefix
    local a = assert(mlcache.new(name, cache(), { prefix = "sa:" .. name .. ":" }))
    local b = assert(mlcache.new(name, cache(), { prefix = "sa:" .. name .. ":" }))
    local v, _, lvl = a:get("k", nil, function() return "from-a" end)
    check(v == "from-a" and lvl == 3, "a loads: " .. s(lvl))
    v, _, lvl = b:get("k", nil, function() return "from-b" end)
    check(v == "from-a" and lvl == 1, "b reads a's L1 entry: " .. s(v) .. " " .. s(lvl))
    local c = assert(mlcache.new(name, cache(), { prefix = "sb:" .. name .. ":" }))
    v, _, lvl = c:get("k", nil, function() return "from-c" end)
    check(v == "from-c" and lvl == 3, "another prefix has its own L1: " .. s(v) .. " " .. s(lvl))
    local other = assert(mlcache.new(name .. "-other", cache(), { prefix = "sc:" .. name .. ":" }))
    v, _, lvl = other:get("k", nil, function() return "from-other" end)
    check(v == "from-other" and lvl == 3, "another name has its own L1: " .. s(v) .. " " .. s(lvl))

    -- "update": the reverse map and cursors go with the shared L1, so
    -- either instance's update() drops what the other filled
    local ua = assert(mlcache.new(name, cache(), { prefix = "ua:" .. name .. ":",
                                                   l1_coherence = "update" }))
    local ub = assert(mlcache.new(name, cache(), { prefix = "ua:" .. name .. ":",
                                                   l1_coherence = "update" }))
    check(ua.lru == ub.lru, "update-mode instances of one name share an L1")
    check(ua.lru ~= a.lru, "an update-mode L1 is not an always-mode one")
    v, _, lvl = ua:get("u", nil, function() return "v1" end)
    check(v == "v1" and lvl == 3, "ua loads: " .. s(v) .. " " .. s(lvl))
    v, _, lvl = ub:get("u")
    check(v == "v1" and lvl == 1, "ub reads ua's L1 entry: " .. s(v) .. " " .. s(lvl))
    assert(cache():set("ua:" .. name .. ":u", "v2")) -- another writer
    v, _, lvl = ua:get("u")
    check(v == "v1" and lvl == 1, "stale until update(): " .. s(v) .. " " .. s(lvl))
    check(ub:update(), "ub:update()")
    v, _, lvl = ua:get("u")
    check(v == "v2" and lvl == 2, "ub's update() dropped ua's entry: " .. s(v) .. " " .. s(lvl))

    -- one opts.lru cannot hold both modes' entries
    local own = require("resty.lrucache").new(10)
    assert(mlcache.new(name .. "-own", cache(), { lru = own }))
    local bad, err = mlcache.new(name .. "-own", cache(), { lru = own, l1_coherence = "update" })
    check(bad == nil and s(err):find('l1_coherence "always"', 1, true),
          "an opts.lru of both modes: " .. s(err))
    done()
end


return _M
