-- LuaJIT side of shmlru-bench, run inside the one nginx worker that the
-- harness starts through internal/ngxrun (see bench/cmd/shmlru-bench/nginx.go).
-- Handlers:
--   /density:  fills the lua_shared_dict named by ?dict with keys of ?key
--              bytes and values of ?value bytes until a set first reports
--              forcible, then with as many again.
--   /setup:    for one key count, builds the keys and values, opens and
--              fills every peer (resty.shmlru, ngx.shared.DICT,
--              lua-resty-lrucache and its pureffi variant) and compiles one
--              timed loop per peer and operation.
--   /round:    runs each of those loops once, peers in an order that turns
--              with the round number, and returns ns and Lua heap bytes per
--              operation for each. The harness interleaves rounds of both
--              key counts and reports medians.
--   /teardown: closes the peers of one key count.
--   /mlcache_setup, /mlcache_round, /mlcache_teardown: the same for the
--              mlcache section, in shmlru_mlcache.lua (which measures
--              through this module's util).
local ffi = require "ffi"
local bit = require "bit"

local ngx = ngx
local floor = math.floor
local string_format = string.format
local collectgarbage = collectgarbage

-- pcall: the cdef would fail if this module were loaded twice in one VM.
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } shmlru_bench_timespec;
int clock_gettime(int clk_id, shmlru_bench_timespec *tp);
]])
local ts = ffi.new("shmlru_bench_timespec")
local CLOCK_MONOTONIC = 1
local function clock_ns(clock)
    ffi.C.clock_gettime(clock, ts)
    return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end
local function now_ns() return clock_ns(CLOCK_MONOTONIC) end

local _M = {}

-- A small JSON encoder (Debian's nginx lua module comes without cjson):
-- tables with a [1] are arrays, others objects; numbers, strings, booleans.
local encode
function encode(v)
    local t = type(v)
    if t == "number" then
        if v ~= v or v == math.huge or v == -math.huge then return "null" end
        return string_format("%.17g", v)
    elseif t == "string" then
        return '"' .. v:gsub('[%c"\\]', function(c) return string_format("\\u%04x", c:byte()) end) .. '"'
    elseif t == "boolean" then
        return tostring(v)
    elseif t == "table" then
        local parts = {}
        if v[1] ~= nil then
            for i = 1, #v do parts[i] = encode(v[i]) end
            return "[" .. table.concat(parts, ",") .. "]"
        end
        for k, x in pairs(v) do parts[#parts + 1] = encode(tostring(k)) .. ":" .. encode(x) end
        return "{" .. table.concat(parts, ",") .. "}"
    end
    return "null"
end

-- Key i: n hex digits of a bijective 64-bit mix of i (as the Go side's
-- keys: unique, and spread over every byte so that no hash function sees a
-- common prefix).
local tohex, bxor, rshift = bit.tohex, bit.bxor, bit.rshift
local function mix(x)
    x = x * 0x9E3779B97F4A7C15ULL
    x = bxor(x, rshift(x, 29))
    x = x * 0xBF58476D1CE4E5B9ULL
    return bxor(x, rshift(x, 32))
end
local function key(n, i)
    local x = mix(0ULL + i)
    local s = tohex(x, 16)
    while #s < n do
        x = mix(x)
        s = s .. tohex(x, 16)
    end
    return s:sub(1, n)
end

local KEY, VALUE = 16, 32

function _M.density()
    local args = ngx.req.get_uri_args()
    local d = ngx.shared[args.dict or ""]
    local klen, vlen = tonumber(args.key), tonumber(args.value)
    if not d or not klen or not vlen then
        ngx.say(encode({ error = "density: no dict " .. tostring(args.dict) .. " or no key/value sizes" }))
        return
    end
    d:flush_all()
    d:flush_expired()
    local val = string.rep("v", vlen)
    local first = -1
    local i = 0
    while first < 0 or i < 2 * first do
        local ok, err, forcible = d:set(key(klen, i), val)
        if not ok then
            ngx.say(encode({ error = err }))
            return
        end
        if forcible and first < 0 then
            first = i
        end
        i = i + 1
    end
    local keys = d:get_keys(0)
    ngx.say(encode({ first_eviction = first, steady = #keys, capacity = d:capacity(), free_space = d:free_space() }))
    d:flush_all()
    d:flush_expired()
end

-- The timed loop, compiled from this source once per peer and operation
-- (load_loop): each gets a function prototype of its own, so LuaJIT records
-- a trace per loop. One shared loop function, called with each peer in
-- turn, would have one root trace specialised to the first peer's methods,
-- which every other peer would leave through a failing guard, each
-- iteration, into a side trace of its own (this harness's earlier LuaJIT
-- loops did, as LuaJIT's trace log showed).
--
-- Every loop does the same work around its operation: step a cursor through
-- a shuffled key list and add to a sum that the caller checks, so that the
-- JIT can drop neither. The keys and values are built before any timing.
local LOOP = [[
local c, lib, seq, vals = ...
local nseq = #seq
return function(n, j)
    local sum = 0
    for _ = 1, n do
        j = j + 1
        if j > nseq then j = 1 end
        local k = seq[j]
        %s
    end
    return j, sum
end
]]

-- The operations. expect(iterations) is what the sum must come to, where a
-- wrong sum means the loop did not do what it is named for (a get that
-- should hit missed, a set failed). A failed incr returns nil, and the
-- addition raises.
local OPS = {
    { name = "get (hit)", keys = "hit", body = "if c:get(k) ~= nil then sum = sum + 1 end",
      expect = function(n) return n end },
    { name = "get (miss)", keys = "miss", body = "if c:get(k) == nil then sum = sum + 1 end",
      expect = function(n) return n end },
    -- lrucache's set returns nothing, the others true or false.
    { name = "set (update)", keys = "hit", body = "if c:set(k, vals[j]) ~= false then sum = sum + 1 end",
      expect = function(n) return n end },
    { name = "incr", keys = "incr", body = "sum = sum + c:incr(k, 1)", counters = true },
}

-- Calibration loops, peer "calls": the loop alone (fetch a key, add its
-- length) and an FFI call into libshmlru.so that does nothing else, once
-- into a plain C function and once into a Go export (shmlru_strerror is C
-- that calls the Go function shmlru_go_strerror, an array index). The
-- difference between the two is the cgo crossing every shmlru call pays.
local CALLS = {
    { name = "loop alone", keys = "hit", body = "sum = sum + #k",
      expect = function(n) return KEY * n end },
    { name = "FFI call: C function", keys = "hit", body = "if lib.shmlru_abi_version() > 0 then sum = sum + 1 end",
      expect = function(n) return n end },
    { name = "FFI call: Go export", keys = "hit", body = "if lib.shmlru_strerror(0) ~= nil then sum = sum + 1 end",
      expect = function(n) return n end },
}

local PEERS = { "shmlru", "shdict", "lrucache", "pureffi" }

local function load_loop(body, chunkname, ...)
    local f = assert(loadstring(string_format(LOOP, body), "=" .. chunkname))
    return f(...)
end

-- open_peer opens a cache of a peer for n keys, and adds what closes it
-- to closers. Every peer has get and set with ngx.shared.DICT's arguments;
-- shmlru and the dict, incr too. path and dict name shmlru's region and the
-- dict's zone; the harness gives both the same size.
local function open_peer(closers, name, n, path, dict, size)
    local c, close
    if name == "shmlru" then
        local shmlru = require "resty.shmlru"
        os.remove(path)
        local err
        c, err = shmlru.open(path, { size = size })
        if not c then error("shmlru.open: " .. tostring(err)) end
        close = function() c:close(); os.remove(path) end
    elseif name == "shdict" then
        c = ngx.shared[dict]
        if not c then error("no lua_shared_dict " .. tostring(dict)) end
        close = function() c:flush_all(); c:flush_expired() end
        close()
    elseif name == "lrucache" then
        c = assert(require("resty.lrucache").new(n))
        close = function() c:flush_all() end
    elseif name == "pureffi" then
        c = assert(require("resty.lrucache.pureffi").new(n))
        close = function() c:flush_all() end
    else
        error("unknown peer " .. tostring(name))
    end
    closers[#closers + 1] = close
    return c
end

-- fill stores keys[i] = vals[i] in c, then checks that c holds them all.
local function fill(c, name, keys, vals)
    for i = 1, #keys do
        local done, err = c:set(keys[i], vals[i])
        if done == false then error(name .. ": set: " .. tostring(err)) end
    end
    for i = 1, #keys do
        if c:get(keys[i]) ~= vals[i] then
            error(name .. " does not hold all of its " .. #keys .. " keys (it evicted, or failed)")
        end
    end
end

-- shuffled returns a permutation of 1..n, the same for a given n.
local function shuffled(n)
    math.randomseed(n)
    local p = {}
    for i = 1, n do p[i] = i end
    for i = n, 2, -1 do
        local j = math.random(i)
        p[i], p[j] = p[j], p[i]
    end
    return p
end

-- benches[n] holds what /setup built for n keys, until /teardown.
local benches = {}

local function args()
    local a = ngx.req.get_uri_args()
    return a, tonumber(a.keys)
end

local function fail(msg)
    ngx.say(encode({ error = msg }))
end

-- setup?keys=N&path=REGION&dict=ZONE&path_incr=REGION&dict_incr=ZONE&size=SIZE[&jitlog=FILE]
-- The counters that incr adds to are kept in caches of their own (a second
-- region and zone), so that every cache holds exactly N keys.
-- jitlog: LuaJIT's verbose trace log (jit.v) goes to FILE from here on, to
-- show the loops compiled, and any trace that aborts.
function _M.setup()
    local q, n = args()
    local ok, err = pcall(function()
        if q.jitlog then require("jit.v").start(q.jitlog) end
        if benches[n] then error("already set up for " .. n .. " keys") end
        -- Three disjoint key sets: stored strings, stored numbers (incr),
        -- absent keys. Values are distinct, and stay referenced from here,
        -- so the Lua string a get of shmlru or the dict builds is found
        -- interned and allocates nothing, as lrucache's get does not.
        local hit, incr, miss, vals, zeros = {}, {}, {}, {}, {}
        for i = 1, n do
            hit[i] = key(KEY, i)
            incr[i] = key(KEY, 2 ^ 40 + i)
            miss[i] = key(KEY, 2 ^ 41 + i)
            vals[i] = key(VALUE, 2 ^ 42 + i)
            zeros[i] = 0
        end
        -- The loops visit the keys in a shuffled order, not the order they
        -- were stored in, so that they do not walk memory that the caches
        -- filled in sequence. vseq[j] is the value of seqs.hit[j].
        local order = shuffled(n)
        local seqs, vseq = { hit = {}, incr = {}, miss = {} }, {}
        for j = 1, n do
            local i = order[j]
            seqs.hit[j], seqs.incr[j], seqs.miss[j], vseq[j] = hit[i], incr[i], miss[i], vals[i]
        end
        local b = { n = n, closers = {}, cells = {} }
        benches[n] = b -- for teardown, even if this fails half-way
        for _, name in ipairs(PEERS) do
            local strings = open_peer(b.closers, name, n, q.path, q.dict, q.size)
            fill(strings, name, hit, vals)
            local counters
            if name == "shmlru" or name == "shdict" then
                counters = open_peer(b.closers, name, n, q.path_incr, q.dict_incr, q.size)
                fill(counters, name, incr, zeros)
            end
            for _, op in ipairs(OPS) do
                local c = strings
                if op.counters then c = counters end
                if c then
                    b.cells[#b.cells + 1] = {
                        peer = name, op = op.name, expect = op.expect, j = 0,
                        f = load_loop(op.body, name .. " " .. op.name, c, nil, seqs[op.keys], vseq),
                    }
                end
            end
        end
        local lib = ffi.load(require("resty.shmlru").lib_path())
        for _, call in ipairs(CALLS) do
            b.cells[#b.cells + 1] = {
                peer = "calls", op = call.name, expect = call.expect, j = 0,
                f = load_loop(call.body, call.name, nil, lib, seqs[call.keys], vseq),
            }
        end
    end)
    if not ok then
        return fail(tostring(err))
    end
    ngx.say(encode({ cells = #benches[n].cells }))
end

-- measure runs a cell's loop for dur_ns and returns ns and Lua heap bytes
-- per iteration. A warm-up of a tenth of that comes first, untimed: the
-- JIT records and compiles the loop's trace in its first iterations (and
-- again after a trace flush). The loop runs in chunks that double until
-- one takes 2 ms, so the clock reads cost nothing measurable. The GC is
-- stopped while timing, so that every byte allocated shows. cell.reset, if
-- any, runs between the warm-up and the timing (to zero the cell's own
-- counters).
local function measure(cell, dur_ns)
    local f, j = cell.f, cell.j
    local t0 = now_ns()
    repeat
        j = f(256, j)
    until now_ns() - t0 >= dur_ns / 10
    collectgarbage()
    if cell.reset then cell.reset() end
    collectgarbage("stop")
    local kb0 = collectgarbage("count")
    local iters, sum, chunk = 0, 0, 64
    t0 = now_ns()
    local t = t0
    repeat
        local tc, s = t, nil
        j, s = f(chunk, j)
        sum = sum + s
        iters = iters + chunk
        t = now_ns()
        if t - tc < 2e6 and chunk < 2 ^ 24 then chunk = chunk * 2 end
    until t - t0 >= dur_ns
    local kb1 = collectgarbage("count")
    collectgarbage("restart")
    cell.j = j
    if cell.expect and sum ~= cell.expect(iters) then
        error(string_format("%s %s: the loop's sum is %.17g after %d iterations, not %.17g",
            cell.peer, cell.op, sum, iters, cell.expect(iters)))
    end
    return (t - t0) / iters, (kb1 - kb0) * 1024 / iters
end

-- round?keys=N&dur_ms=D&round=R runs every cell once: operation by
-- operation, each operation's peers one after the other (so that the
-- machine's noise at that moment hits them alike), starting with a
-- different peer each round.
function _M.round()
    local q, n = args()
    local b = benches[n]
    if not b then
        return fail("not set up for " .. tostring(n) .. " keys")
    end
    local dur = tonumber(q.dur_ms) * 1e6
    local r = tonumber(q.round) or 0
    local byop, ops = {}, {}
    for _, c in ipairs(b.cells) do
        if not byop[c.op] then
            byop[c.op] = {}
            ops[#ops + 1] = c.op
        end
        local l = byop[c.op]
        l[#l + 1] = c
    end
    local out = {}
    local ok, err = pcall(function()
        for _, op in ipairs(ops) do
            local l = byop[op]
            for i = 0, #l - 1 do
                local c = l[(i + r) % #l + 1]
                local ns, bytes = measure(c, dur)
                out[#out + 1] = { peer = c.peer, op = c.op, ns = ns, bytes = bytes }
            end
        end
    end)
    if not ok then
        return fail(tostring(err))
    end
    ngx.say(encode({ cells = out }))
end

-- teardown?keys=N closes the peers of N keys and forgets their loops.
function _M.teardown()
    local _, n = args()
    local b = benches[n]
    benches[n] = nil
    if b then
        for _, close in ipairs(b.closers) do close() end
    end
    collectgarbage()
    ngx.say(encode({ ok = true }))
end

-- What shmlru_mlcache.lua measures with.
_M.util = { key = key, shuffled = shuffled, measure = measure, now_ns = now_ns,
            clock_ns = clock_ns, encode = encode, fail = fail }

for _, h in ipairs({ "setup", "round", "teardown" }) do
    _M["mlcache_" .. h] = function() return require("shmlru_mlcache")[h]() end
end

return _M
