-- The LuaJIT benchmark, run inside one nginx worker by ffi/bench/main.go
-- (`make bench-lua`): get and set through resty.shmlru against
-- ngx.shared.DICT, lua-resty-lrucache and its pureffi variant, on the same
-- keys and values, timed with CLOCK_MONOTONIC.

local ffi = require "ffi"
local lrucache = require "resty.lrucache"
local pureffi = require "resty.lrucache.pureffi"

pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } shmlru_bench_ts;
int clock_gettime(int clk_id, shmlru_bench_ts *tp);
]])
local ts = ffi.new("shmlru_bench_ts")

local function now_ns()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local NKEYS = 1000

local _M = {}

function _M.run(n)
    local keys, vals = {}, {}
    for i = 1, NKEYS do
        keys[i] = "bench:key:" .. i
        vals[i] = string.format("value %08d, 32 bytes long.....", i)
    end
    local caches = {
        { "shmlru (libshmlru.so)", package.loaded["shmlru.cache"] },
        { "ngx.shared.DICT", ngx.shared.bench },
        { "lua-resty-lrucache", lrucache.new(NKEYS * 2) },
        { "lrucache pureffi", pureffi.new(NKEYS * 2) },
    }
    local out = {}
    for _, entry in ipairs(caches) do
        local name, c = entry[1], entry[2]
        for i = 1, NKEYS do
            c:set(keys[i], vals[i])
        end
        -- get: every lookup hits
        local sink = 0
        local t0 = now_ns()
        for i = 1, n do
            local v = c:get(keys[i % NKEYS + 1])
            if v then sink = sink + 1 end
        end
        local get_ns = (now_ns() - t0) / n
        assert(sink == n, name .. ": missed")
        -- set: overwrite existing keys
        t0 = now_ns()
        for i = 1, n do
            local k = i % NKEYS + 1
            c:set(keys[k], vals[k])
        end
        local set_ns = (now_ns() - t0) / n
        -- get of a number
        c:set("bench:num", 12345)
        t0 = now_ns()
        for _ = 1, n do
            sink = sink + c:get("bench:num")
        end
        local num_ns = (now_ns() - t0) / n
        out[#out + 1] = string.format("%-24s get %7.1f ns/op   set %7.1f ns/op   get(number) %7.1f ns/op",
            name, get_ns, set_ns, num_ns)
    end
    return table.concat(out, "\n")
end

return _M
