-- nginx side of shmlru-bench's hot-key section (-only hot,
-- bench/cmd/shmlru-bench/hot.go): every worker of one nginx loops get on
-- the same keys at the same time, through resty.shmlru (the cache that
-- internal/ngxrun opens in every worker) or through ngx.shared.DICT (zone
-- shmlru_hot). Zone shmlru_hot_ctl carries the runs' commands and results.
-- Handlers:
--   /hot_setup:  stores keys 1..1000 (16 B keys, 32 B values) in both caches
--                and checks that each holds them all.
--   /hot_arm:    starts, once per worker, a timer in the worker that serves
--                it, which polls for runs; answers "armed workers". The
--                harness repeats it, each on a new connection, until every
--                worker is armed.
--   /hot_start?gen=G&peer=shmlru|shdict&keys=N&dur_ms=D: posts run G. Each
--                worker's timer picks it up, counts itself ready, runs the
--                loop untimed (the JIT compiles it), waits for the start
--                time (START_NS after the post), checks that every worker
--                is ready, loops until start + D and stores its line.
--   /hot_result?gen=G: "pending" until every worker has stored its line,
--                then the lines: "worker iterations start_ns end_ns
--                cpu_ns" (start and end on CLOCK_MONOTONIC, one clock for
--                all processes; the worker's CPU time in the loop), or
--                "worker error MESSAGE".
-- This module is not loaded beside shmlru_bench.lua (each has its own
-- nginx), whose clock_gettime declaration would clash with this one's.
local ffi = require "ffi"

local ngx = ngx
local string_format = string.format
local tonumber = tonumber
local tostring = tostring
local pcall = pcall

pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } shmlru_hot_timespec;
int clock_gettime(int clk_id, shmlru_hot_timespec *tp);
]])
local ts = ffi.new("shmlru_hot_timespec")
local CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID = 1, 3
local function clock_ns(clock)
    ffi.C.clock_gettime(clock, ts)
    return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end
local function now_ns() return clock_ns(CLOCK_MONOTONIC) end

local _M = {}

local KEYS_MAX = 1000
local START_NS = 200e6 -- from the post to the start: polls, warm-up
local POLL_S = 0.01
local WARM = 20000 -- untimed iterations before the start

-- keys[i] (16 bytes) and vals[i] (32 bytes), kept referenced, so that the
-- Lua string a get returns is found interned and allocates nothing.
local keys, vals = {}, {}
for i = 1, KEYS_MAX do
    keys[i] = string_format("hotkey-%09d", i)
    vals[i] = string_format("value-%026d", i)
end

local function cache(peer)
    if peer == "shmlru" then
        local c = package.loaded["shmlru.cache"]
        if not c then error("no resty.shmlru cache in this worker (see ngxrun's init_worker in the error log)") end
        return c
    elseif peer == "shdict" then
        return ngx.shared.shmlru_hot
    end
    error("unknown peer " .. tostring(peer))
end

-- The timed loop, compiled once per peer and key count in each worker, so
-- that LuaJIT records a trace for each (see shmlru_bench.lua's LOOP). It
-- returns the cursor and the gets that returned the key's value.
local LOOP = [[
local c, keys, vals, n = ...
return function(iters, j)
    local hits = 0
    for _ = 1, iters do
        j = j + 1
        if j > n then j = 1 end
        if c:get(keys[j]) == vals[j] then hits = hits + 1 end
    end
    return j, hits
end
]]

local loops = {}

local function loop(peer, n)
    local name = peer .. " " .. n
    local f = loops[name]
    if not f then
        f = assert(loadstring(LOOP, "=hot " .. name))(cache(peer), keys, vals, n)
        loops[name] = f
    end
    return f
end

function _M.setup()
    local ok, err = pcall(function()
        ngx.shared.shmlru_hot:flush_all()
        for _, peer in ipairs({ "shmlru", "shdict" }) do
            local c = cache(peer)
            for i = 1, KEYS_MAX do
                local done, err = c:set(keys[i], vals[i])
                if not done then error(peer .. ": set: " .. tostring(err)) end
            end
            for i = 1, KEYS_MAX do
                if c:get(keys[i]) ~= vals[i] then error(peer .. " does not hold key " .. keys[i]) end
            end
        end
    end)
    ngx.say(ok and "ok" or "error " .. tostring(err))
end

-- run runs this worker's part of run gen and returns its result line.
local function run(ctl, gen)
    local cmd = ctl:get("cmd:" .. gen)
    local peer, n, t0, t1 = (cmd or ""):match("^(%S+) (%d+) (%d+) (%d+)$")
    if not peer then error("run " .. gen .. ": bad command " .. tostring(cmd)) end
    n, t0, t1 = tonumber(n), tonumber(t0), tonumber(t1)
    ctl:incr("ready:" .. gen, 1, 0)
    local f = loop(peer, n)
    local j, hits = f(WARM, 0)
    if hits ~= WARM then error(string_format("%s: %d of %d gets missed", peer, WARM - hits, WARM)) end
    local late = now_ns() - t0
    if late > 0 then error(string_format("ready %.1f ms after the start", late / 1e6)) end
    while t0 - now_ns() > 2e6 do ngx.sleep(0.001) end
    while now_ns() < t0 do end
    local ready, count = ctl:get("ready:" .. gen), ngx.worker.count()
    if ready ~= count then error(string_format("%s of %d workers ready at the start", tostring(ready), count)) end
    -- Chunks double until one takes a millisecond: the clock reads cost
    -- nothing measurable, and every worker stops within a few ms of t1.
    local iters, total, chunk = 0, 0, 64
    local cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID)
    local start = now_ns()
    local t = start
    repeat
        local tc = t
        j, hits = f(chunk, j)
        total, iters = total + hits, iters + chunk
        t = now_ns()
        if t - tc < 1e6 and chunk < 2 ^ 24 then chunk = chunk * 2 end
    until t >= t1
    cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu
    if total ~= iters then error(string_format("%s: %d of %d gets missed", peer, iters - total, iters)) end
    return string_format("%d %d %.0f %.0f %.0f", ngx.worker.id(), iters, start, t, cpu)
end

local last_gen

local function poll(premature)
    if premature then return end
    local ctl = ngx.shared.shmlru_hot_ctl
    local gen = ctl:get("gen")
    if not gen or gen == last_gen then return end
    last_gen = gen
    local ok, res = pcall(run, ctl, gen)
    if not ok then res = string_format("%d error %s", ngx.worker.id(), tostring(res)) end
    ctl:set(string_format("res:%d:%d", gen, ngx.worker.id()), res)
end

function _M.arm()
    local ctl = ngx.shared.shmlru_hot_ctl
    if not last_gen then
        local ok, err = ngx.timer.every(POLL_S, poll)
        if not ok then return ngx.say("error ngx.timer.every: ", err) end
        last_gen = ctl:get("gen") or 0
        ctl:incr("armed", 1, 0)
    end
    ngx.say(ctl:get("armed"))
end

function _M.start()
    local a = ngx.req.get_uri_args()
    local gen, n, dur = tonumber(a.gen), tonumber(a.keys), tonumber(a.dur_ms)
    if not gen or not n or n < 1 or n > KEYS_MAX or not dur or (a.peer ~= "shmlru" and a.peer ~= "shdict") then
        return ngx.say("error bad arguments")
    end
    local ctl = ngx.shared.shmlru_hot_ctl
    local t0 = now_ns() + START_NS
    ctl:set("cmd:" .. gen, string_format("%s %d %.0f %.0f", a.peer, n, t0, t0 + dur * 1e6))
    ctl:set("gen", gen)
    ngx.say("ok")
end

function _M.result()
    local ctl = ngx.shared.shmlru_hot_ctl
    local gen = tonumber(ngx.var.arg_gen)
    local lines = {}
    for w = 0, ngx.worker.count() - 1 do
        local r = ctl:get(string_format("res:%d:%d", gen or -1, w))
        if not r then return ngx.say("pending") end
        lines[#lines + 1] = r
    end
    ngx.say(table.concat(lines, "\n"))
end

return _M
