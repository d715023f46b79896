-- LuaJIT side of shmlru-bench, run inside an nginx worker started by the
-- harness (see bench/cmd/shmlru-bench/lua.go). Two handlers:
--   /density: fills lua_shared_dict "d" with 16-byte keys and 32-byte values
--             until a set first reports forcible, then with as many again.
--   /bench:   times get/set loops and cache-aside workload replays against
--             one peer: lrucache, pureffi, shdict or shmlru.
-- Timed loops use clock_gettime(CLOCK_MONOTONIC) and run with the GC
-- stopped, so the KiB the Lua heap grows by per operation is measured too.
local ffi = require "ffi"

local ngx = ngx
local floor = math.floor
local string_format = string.format
local string_rep = string.rep
local collectgarbage = collectgarbage

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } shmlru_bench_timespec;
int clock_gettime(int clk_id, shmlru_bench_timespec *tp);
]]
local ts = ffi.new("shmlru_bench_timespec")
local function now_ns()
    ffi.C.clock_gettime(1, ts)
    return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local _M = {}

-- a small JSON encoder (Debian's nginx lua module comes without cjson):
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
local cjson = { encode = encode }

-- key i: ks bytes of hex digits of a bijective 64-bit mix of i (as the Go
-- side's keys: unique, and spread over every byte so that no hash function
-- sees a common prefix)
local bit = require "bit"
local tohex, bxor, rshift = bit.tohex, bit.bxor, bit.rshift
local function mix(x)
    x = x * 0x9E3779B97F4A7C15ULL
    x = bxor(x, rshift(x, 29))
    x = x * 0xBF58476D1CE4E5B9ULL
    return bxor(x, rshift(x, 32))
end
local function key(ks, i)
    local x = mix(0ULL + i)
    local s = tohex(x, 16)
    while #s < ks do
        x = mix(x)
        s = s .. tohex(x, 16)
    end
    return s:sub(1, ks)
end

function _M.density()
    local d = ngx.shared.d
    d:flush_all()
    d:flush_expired()
    local val = string_rep("v", 32)
    local first = -1
    local i = 0
    while first < 0 or i < 2 * first do
        local ok, err, forcible = d:set(key(16, i), val)
        if not ok then
            ngx.say(cjson.encode({ error = err }))
            return
        end
        if forcible and first < 0 then
            first = i
        end
        i = i + 1
    end
    local keys = d:get_keys(0)
    ngx.say(cjson.encode({ first_eviction = first, steady = #keys, capacity = d:capacity(), free_space = d:free_space() }))
    d:flush_all()
    d:flush_expired()
end

-- per-size state kept across requests: keys and traces
local state = {}

local function zipf_cdf(n, s)
    local cdf = ffi.new("double[?]", n)
    local sum = 0
    for i = 0, n - 1 do
        sum = sum + (i + 1) ^ (-s)
        cdf[i] = sum
    end
    for i = 0, n - 1 do
        cdf[i] = cdf[i] / sum
    end
    return cdf
end

local function zipf_rank(cdf, n, u)
    local lo, hi = 0, n - 1
    while lo < hi do
        local mid = floor((lo + hi) / 2)
        if cdf[mid] < u then lo = mid + 1 else hi = mid end
    end
    return lo
end

local function get_state(ks, vs, cap)
    local id = ks .. "/" .. vs .. "/" .. cap
    local st = state[id]
    if st then return st end
    st = { hot = {}, miss = {}, fresh = {}, traces = {}, val = string_rep("v", vs) }
    for i = 1, cap do st.hot[i] = key(ks, i) end
    for i = 1, 65536 do st.miss[i] = key(ks, 2 ^ 40 + i) end
    for i = 1, 4 * cap do st.fresh[i] = key(ks, 2 ^ 41 + i) end
    state[id] = st
    return st
end

-- a cache-aside trace, as workload.NewTrace in Go: hot keys with
-- probability hot (uniform or Zipf over hot*0.6*cap keys), else a cold key;
-- gets with probability read. Cold keys come from a pool of 2*cap keys taken
-- in turn, so that one recurs only after 2*cap other cold keys were stored:
-- by then an LRU of cap entries has evicted it (a one-hit wonder).
local function get_trace(st, ks, cap, hot, zipf, read)
    local id = hot .. "/" .. tostring(zipf) .. "/" .. read
    local tr = st.traces[id]
    if tr then return tr end
    math.randomseed(42)
    local nhot = math.max(1, floor(cap * hot * 0.6))
    local cdf = zipf and zipf_cdf(nhot, 0.99)
    local n = math.max(8 * cap, 65536)
    tr = { keys = {}, gets = {}, n = n }
    if not st.cold then
        st.cold = {}
        for i = 1, 2 * cap do st.cold[i] = key(ks, 2 ^ 42 + i) end
    end
    for i = 1, n do
        local k = false -- false: the next cold key
        if math.random() < hot then
            if cdf then
                k = key(ks, zipf_rank(cdf, nhot, math.random()) + 1)
            else
                k = key(ks, math.random(nhot))
            end
        end
        tr.keys[i] = k
        tr.gets[i] = math.random() < read
    end
    st.traces[id] = tr
    return tr
end

local shmlru_seq = 0

-- peers: each returns get(key) -> value or nil, set(key, val), close()
local function open_peer(name, vs, cap)
    if name == "lrucache" then
        local c = assert(require("resty.lrucache").new(cap))
        return { get = function(k) return c:get(k) end, set = function(k, v) c:set(k, v) end, close = function() c:flush_all() end }
    elseif name == "pureffi" then
        local c = assert(require("resty.lrucache.pureffi").new(cap))
        return { get = function(k) return c:get(k) end, set = function(k, v) c:set(k, v) end, close = function() c:flush_all() end }
    elseif name == "shdict" then
        local d = ngx.shared[vs <= 64 and "b16" or "b512"]
        d:flush_all()
        d:flush_expired()
        return {
            get = function(k) return (d:get(k)) end,
            set = function(k, v) d:set(k, v) end,
            close = function() d:flush_all(); d:flush_expired() end,
            raw = d,
        }
    elseif name == "shmlru" then
        local shmlru = require "resty.shmlru"
        shmlru_seq = shmlru_seq + 1
        local path = string_format("/dev/shm/shmlru-bench-lua-%d-%d", ngx.worker.pid(), shmlru_seq)
        os.remove(path)
        local per = 48 + 64 + vs
        local size = math.ceil((cap * (math.ceil(per / 64) * 64 + 4) * 1.25 + 8 * 2 ^ 20) / 2 ^ 20) * 2 ^ 20
        local c, err = shmlru.open(path, { size = size, max_entries = cap, max_value_size = math.max(vs, 4096) })
        if not c then error("shmlru.open: " .. tostring(err)) end
        return {
            get = function(k) return (c:get(k)) end,
            set = function(k, v) c:set(k, v) end,
            close = function() if c.close then c:close() end; os.remove(path) end,
            raw = c,
        }
    end
    error("unknown peer " .. tostring(name))
end

-- timed runs f(n) in chunks until dur_ns has passed; returns ns/op and
-- Lua heap bytes/op (GC stopped during the run).
local function timed(f, dur_ns)
    collectgarbage()
    collectgarbage("stop")
    local kb0 = collectgarbage("count")
    local ops = 0
    local t0 = now_ns()
    local t = t0
    local chunk = 16
    repeat
        local tc = t
        f(chunk)
        ops = ops + chunk
        t = now_ns()
        if t - tc < 1e6 and chunk < 65536 then chunk = chunk * 2 end
    until t - t0 >= dur_ns
    local kb1 = collectgarbage("count")
    collectgarbage("restart")
    return (t - t0) / ops, (kb1 - kb0) * 1024 / ops
end

local function cyc(list)
    local n, i = #list, 0
    return function()
        i = i + 1
        if i > n then i = 1 end
        return list[i]
    end
end

function _M.bench()
    local a = ngx.req.get_uri_args()
    local peer = a.peer
    local ks, vs, cap = tonumber(a.ks), tonumber(a.vs), tonumber(a.cap)
    local dur = tonumber(a.dur_ms) * 1e6
    local st = get_state(ks, vs, cap)
    local val = st.val
    local ok, p = pcall(open_peer, peer, vs, cap)
    if not ok then
        ngx.say(cjson.encode({ error = tostring(p) }))
        return
    end
    local get, set = p.get, p.set
    local res = {}
    for i = 1, cap do set(st.hot[i], val) end

    -- direct calls on the objects where we have them, to keep the closure
    -- out of the timed loop
    local nexthit, nextmiss, nextset, nextfresh = cyc(st.hot), cyc(st.miss), cyc(st.hot), cyc(st.fresh)
    local hits = 0
    res.get_hit = { timed(function(n)
        for _ = 1, n do
            if get(nexthit()) ~= nil then hits = hits + 1 end
        end
    end, dur) }
    res.get_hit_ok = hits
    res.get_miss = { timed(function(n)
        for _ = 1, n do get(nextmiss()) end
    end, dur) }
    res.set_update = { timed(function(n)
        for _ = 1, n do set(nextset(), val) end
    end, dur) }
    res.set_evict = { timed(function(n)
        for _ = 1, n do set(nextfresh(), val) end
    end, dur) }

    -- cache-aside workload replays
    res.mixed = {}
    for _, w in ipairs({ { 0.95, false }, { 0.95, true }, { 0.30, false }, { 0.30, true } }) do
        local tr = get_trace(st, ks, cap, w[1], w[2], 0.9)
        local keys, gets, n = tr.keys, tr.gets, tr.n
        local cold, ncold, cpos = st.cold, #st.cold, st.cpos or 0
        local pos = 0
        local g, h = 0, 0
        local function run(m)
            for _ = 1, m do
                pos = pos + 1
                if pos > n then pos = 1 end
                local k = keys[pos]
                if not k then
                    cpos = cpos + 1
                    if cpos > ncold then cpos = 1 end
                    k = cold[cpos]
                end
                if gets[pos] then
                    g = g + 1
                    if get(k) ~= nil then h = h + 1 else set(k, val) end
                else
                    set(k, val)
                end
            end
        end
        -- warm up: 2*cap requests, or 2 s at most (lua-resty-lrucache is
        -- very slow under churn, see RESULTS.md)
        local tw = now_ns()
        for _ = 1, 2 * cap, 256 do
            run(256)
            if now_ns() - tw > 1e9 then break end
        end
        g, h = 0, 0
        local ns, bytes = timed(run, dur)
        st.cpos = cpos -- the next workload goes on with fresh cold keys
        res.mixed[#res.mixed + 1] = { hot = w[1], zipf = w[2], read = 0.9, ns = ns, bytes = bytes, hit_ratio = h / math.max(g, 1) }
    end
    p.close()
    ngx.say(cjson.encode(res))
end

return _M
