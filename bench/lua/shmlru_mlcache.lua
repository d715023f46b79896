-- LuaJIT side of shmlru-bench's mlcache section (-only mlcache,
-- bench/cmd/shmlru-bench/mlcache.go), run in the same nginx worker as
-- shmlru_bench.lua and through its loop machinery (measure, keys,
-- shuffled order). shmlru_bench.lua's handlers mlcache_setup,
-- mlcache_round and mlcache_teardown call this module's.
--
-- For one key count N (16 B keys, 32 B values, every loop in a shuffled
-- key order) it measures a get of:
--   lrucache:         lua-resty-lrucache holding the N keys (the base);
--   shdict:           ngx.shared.DICT holding them;
--   shmlru.mlcache M: resty.shmlru.mlcache in each L1 coherence mode M
--                     (opts.l1_coherence; the harness's -mlcache.modes):
--                     "L1 hit", every key in L1 (lru_size N); "L2 hit", an
--                     instance of lru_size 1 over the same region, so that
--                     every get misses L1 (consecutive keys differ), reads
--                     the region and puts the value into L1, as a real L1
--                     miss does; and "L1's LRU, got directly", a plain
--                     get of the "L1 hit" instance's own LRU (the
--                     module's default, resty.shmlru.l1), which tells what
--                     the L1 layer costs from what its LRU costs after
--                     its history (filled through loads, invalidations
--                     and refills; the base's through one set per key);
--   lua-resty-mlcache: the same two, its L2 a lua_shared_dict, when the
--                     harness was given a checkout (setup's mlcache=1);
-- and "get, writes": the reader gets while a second instance of the same
-- name and L2, with an L1 of its own, sets one key of the same set (its
-- own value, keys in another shuffled order) after every WRITE_EVERY gets,
-- after which the reader calls update() (a no-op where there are no
-- events to apply). The writer runs in the reader's worker, between its
-- gets: the write fraction is exact, and nothing of the machine's other
-- load shifts it; what it does to the reader's L1 goes through shared
-- memory as another process's write would (the L2 entry and its change
-- counts, or lua-resty-mlcache's ipc events). The writes are timed and
-- their time taken out of ns per get; update() stays in. Reported: the L1
-- hit ratio, the share of gets answered at hit level 1, and the L2 reads
-- per get: for resty.shmlru.mlcache the region's lookups (its read
-- counters, less the writes' own), which also counts an L1 hit that
-- checked its entry against L2; for lua-resty-mlcache, whose L1 hit reads
-- no L2, the share of gets not at level 1.
local shmlru_bench = require "shmlru_bench"
local lrucache = require "resty.lrucache"

local u = shmlru_bench.util
local key, shuffled, measure, now_ns, clock_ns = u.key, u.shuffled, u.measure, u.now_ns, u.clock_ns
local encode, fail = u.encode, u.fail
local KEY, VALUE = 16, 32
local WRITE_EVERY = 100
local CLOCK_THREAD_CPUTIME_ID = 3

local _M = {}

-- The timed loop (see shmlru_bench.lua's LOOP), compiled once per cell.
-- c is the cache read; w, the writer instance or nil; st, the cell's
-- counters (gets, L1 hits by level, writes and their ns, and the gets
-- left until the next write, kept across calls).
local LOOP = [[
local c, w, seq, wseq, wvals, st, now_ns = ...
local nseq, nw = #seq, #wseq
return function(n, j)
    local sum, l1, left = 0, 0, st.left
    for _ = 1, n do
        j = j + 1
        if j > nseq then j = 1 end
        %s
    end
    st.gets = st.gets + n
    st.l1, st.left = st.l1 + l1, left
    return j, sum
end
]]

-- Loop bodies: a plain get (sum: gets that returned a value), mlcache's
-- get at an expected hit level (sum: gets at that level), and the get
-- under writes (sum: gets that returned a value).
local PLAIN = "if c:get(seq[j]) ~= nil then sum = sum + 1 end"
local LEVEL = "local _, _, l = c:get(seq[j]) if l == %d then sum = sum + 1 end"
local WRITES = [[
local v, _, l = c:get(seq[j])
if v ~= nil then sum = sum + 1 end
if l == 1 then l1 = l1 + 1 end
left = left - 1
if left == 0 then
    left = ]] .. WRITE_EVERY .. [[

    local wj = st.wj + 1
    if wj > nw then wj = 1 end
    st.wj = wj
    local t0 = now_ns()
    assert(w:set(wseq[wj], nil, wvals[wj]))
    st.wns = st.wns + (now_ns() - t0)
    st.writes = st.writes + 1
    c:update()
end]]

local function loop(body, chunkname, ...)
    return assert(loadstring(string.format(LOOP, body), "=" .. chunkname))(...)
end

-- benches[n]: what setup built for n keys, until teardown.
local benches = {}

local function counters()
    return { gets = 0, l1 = 0, wj = 0, wns = 0, writes = 0, left = WRITE_EVERY }
end

-- l2_reads is the region's lookups so far (hits and misses, every
-- process's).
local function l2_reads(region)
    local s = assert(region:stats())
    return s.hits + s.misses
end

-- setup?keys=N&path=REGION&size=SIZE&dict=ZONE&modes=a,b[&mlcache=1&mlc_dict=ZONE&ipc=ZONE]
-- (lua-resty-mlcache's L2 and ipc zones, each of this key count alone)
-- [&jitlog=FILE] as shmlru_bench.lua's setup.
function _M.setup()
    local q = ngx.req.get_uri_args()
    local n = tonumber(q.keys)
    local ok, err = pcall(function()
        if benches[n] then error("already set up for " .. n .. " keys") end
        if q.jitlog then require("jit.v").start(q.jitlog) end
        local b = { cells = {}, closers = {} }
        benches[n] = b
        local keys, vals = {}, {}
        for i = 1, n do
            keys[i], vals[i] = key(KEY, i), key(VALUE, 2 ^ 42 + i)
        end
        local seq, order = {}, shuffled(n)
        for j = 1, n do seq[j] = keys[order[j]] end
        local wseq, wvals = {}, {}
        math.randomseed(n + 1)
        for j = 1, n do
            local i = math.random(n)
            wseq[j], wvals[j] = keys[i], vals[i]
        end
        local function cell(peer, op, body, c, w, expect, region)
            local st = counters()
            b.cells[#b.cells + 1] = {
                peer = peer, op = op, j = 0, st = st, region = region, writes = w ~= nil,
                expect = expect and function(iters) return iters end,
                f = loop(body, peer .. " " .. op, c, w, seq, wseq, wvals, st, now_ns),
            }
        end
        -- filled loads every key into c (L2 and L1) through get's
        -- callback, which broadcasts no ipc event, and checks that each is
        -- then an L1 hit. A load is a write: in resty.shmlru.mlcache it
        -- invalidates the L1 copies of the keys loaded before it that share
        -- its stripe, so one more pass takes those from L2 first. In
        -- l1_coherence "always" that happens as each load's copy is kept;
        -- in "update" at c's first update(), which comes here, not in a
        -- timed loop: the loads' changes may overrun the change rings, and
        -- that update() then drops all of L1.
        local function filled(c, name)
            for i = 1, n do
                local v, e = c:get(keys[i], nil, function() return vals[i] end)
                if v ~= vals[i] then error(name .. ": load of key " .. i .. ": " .. tostring(e)) end
            end
            assert(c:update())
            for i = 1, n do
                local v, e = c:get(keys[i])
                if v ~= vals[i] then error(name .. ": key " .. i .. ": " .. tostring(e)) end
            end
            for i = 1, n do
                local v, e, l = c:get(keys[i])
                if v ~= vals[i] or l ~= 1 then
                    error(string.format("%s: key %d: %s at level %s (%s)", name, i, tostring(v), tostring(l), tostring(e)))
                end
            end
            return c
        end

        local lru = assert(lrucache.new(n))
        for i = 1, n do lru:set(keys[i], vals[i]) end
        cell("lrucache", "get", PLAIN, lru, nil, true)
        local dict = ngx.shared[q.dict]
        if not dict then error("no lua_shared_dict " .. tostring(q.dict)) end
        dict:flush_all()
        b.closers[#b.closers + 1] = function() dict:flush_all(); dict:flush_expired() end
        for i = 1, n do assert(dict:set(keys[i], vals[i])) end
        cell("shdict", "get", PLAIN, dict, nil, true)

        -- resty.shmlru.mlcache: one region for the hit cells and one for
        -- the writes, so that the writes change no count the hit cells'
        -- L1 entries were filled under.
        local shmlru = require "resty.shmlru"
        local mlc = require "resty.shmlru.mlcache"
        local function region(tag)
            local path = q.path .. "-" .. n .. "-" .. tag
            os.remove(path)
            local r = assert(shmlru.open(path, { size = q.size }))
            b.closers[#b.closers + 1] = function() r:close(); os.remove(path) end
            return r
        end
        local hits = region("hits")
        for mode in string.gmatch(q.modes or "always", "[^,]+") do
            local writes = region("writes-" .. mode)
            -- Each instance its own name, so its own L1 (the module's,
            -- resty.shmlru.l1): instances of one name over one region
            -- share one.
            local function new(r, size, name)
                local opts = { prefix = "", lru_size = size, l1_coherence = mode, ttl = 0 }
                return assert(mlc.new(name, r, opts))
            end
            local peer = "shmlru.mlcache " .. mode
            local l1c = filled(new(hits, n, "l1 hit"), peer)
            cell(peer, "L1 hit", LEVEL:format(1), l1c, nil, true)
            cell(peer, "L1's LRU, got directly", PLAIN, l1c.lru, nil, true)
            cell(peer, "L2 hit", LEVEL:format(2), new(hits, 1, "l2 hit"), nil, true)
            local reader, writer = filled(new(writes, n, "reader"), peer), new(writes, n, "writer")
            -- The region's lookups that a write makes itself, taken out
            -- of the reader's.
            local r0 = l2_reads(writes)
            for i = 1, 100 do assert(writer:set(keys[i % n + 1], nil, vals[i % n + 1])) end
            cell(peer, "get, writes", WRITES, reader, writer, true, writes)
            b.cells[#b.cells].write_reads = (l2_reads(writes) - r0) / 100
        end

        if q.mlcache == "1" then
            local rmlc = require "resty.mlcache"
            -- One instance per name shares one L1 (lua-resty-mlcache's
            -- LRU_INSTANCES), unless given its own: every instance here
            -- has its own. ttl 0: no entry expires during the run.
            -- debug: the reader applies the ipc events of its own worker,
            -- which it otherwise skips as its own (debug changes nothing
            -- else but logging in get_bulk).
            local function new(name, size, debug)
                return assert(rmlc.new(name .. "-" .. n, q.mlc_dict, { lru = assert(lrucache.new(size)), lru_size = size,
                    ttl = 0, ipc_shm = q.ipc, debug = debug }))
            end
            local d = ngx.shared[q.mlc_dict]
            d:flush_all()
            b.closers[#b.closers + 1] = function() d:flush_all(); d:flush_expired() end
            cell("lua-resty-mlcache", "L1 hit", LEVEL:format(1), filled(new("hits", n), "lua-resty-mlcache"), nil, true)
            cell("lua-resty-mlcache", "L2 hit", LEVEL:format(2), new("hits", 1), nil, true)
            local reader = filled(new("writes", n, true), "lua-resty-mlcache")
            assert(reader:update())
            cell("lua-resty-mlcache", "get, writes", WRITES, reader, new("writes", n), true)
            b.cells[#b.cells].ipc = ngx.shared[q.ipc]
        end
    end)
    if not ok then
        return fail(tostring(err))
    end
    ngx.say(encode({ cells = #benches[n].cells }))
end

-- drain empties lua-resty-mlcache's ipc zone but for its event index,
-- which goes on counting. The zone would otherwise fill with events (one
-- per write; mlcache.ipc never deletes one) until a broadcast fails with
-- "no memory" rather than evicting; the reader has polled every event by
-- then (it calls update() after each write).
local IPC_INDEX = "lua-resty-ipc:index"
local function drain(d)
    local idx = d:get(IPC_INDEX)
    d:flush_all()
    d:flush_expired()
    if idx then assert(d:set(IPC_INDEX, idx)) end
end

-- round?keys=N&dur_ms=D&round=R runs every cell once, starting with a
-- different one each round, and returns per cell ns and Lua heap bytes
-- per get, the worker's CPU share while it ran, and for the write cells
-- the L1 hit ratio and L2 reads per get.
function _M.round()
    local q = ngx.req.get_uri_args()
    local n = tonumber(q.keys)
    local b = benches[n]
    if not b then
        return fail("not set up for " .. tostring(n) .. " keys")
    end
    local dur, r = tonumber(q.dur_ms) * 1e6, tonumber(q.round) or 0
    local out = {}
    local ok, err = pcall(function()
        for i = 0, #b.cells - 1 do
            local c = b.cells[(i + r) % #b.cells + 1]
            local reads0
            c.reset = function()
                local st = c.st
                st.gets, st.l1, st.wns, st.writes = 0, 0, 0, 0
                if c.region then reads0 = l2_reads(c.region) end
            end
            if c.ipc then drain(c.ipc) end
            local cpu0, t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), now_ns()
            local ns, bytes = measure(c, dur)
            local share = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0) / (now_ns() - t0)
            local x = { peer = c.peer, op = c.op, ns = ns, bytes = bytes, cpu = share }
            if c.writes then
                local st = c.st
                x.ns = ns - st.wns / st.gets
                x.l1 = st.l1 / st.gets
                x.l2_reads = 1 - x.l1
                if c.region then
                    x.l2_reads = (l2_reads(c.region) - reads0 - st.writes * c.write_reads) / st.gets
                end
            end
            out[#out + 1] = x
        end
    end)
    if not ok then
        return fail(tostring(err))
    end
    ngx.say(encode({ cells = out }))
end

-- teardown?keys=N closes what setup opened for N keys.
function _M.teardown()
    local n = tonumber(ngx.req.get_uri_args().keys)
    local b = benches[n]
    benches[n] = nil
    if b then
        for _, close in ipairs(b.closers) do close() end
    end
    collectgarbage()
    ngx.say(encode({ ok = true }))
end

return _M
