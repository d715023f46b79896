-- A plain LuaJIT process on a read-through key, for ffi/luajit_test.go:
--
--   luajit ffi/t/load_child.lua REGION MODE KEY [WAIT_TIMEOUT]
--
-- MODE wait: get_or_load(KEY) with a callback that returns "from-lua-PID",
--   waiting (blocking, as outside nginx) for wait_timeout seconds (30)
--   on another process's load; prints "type\tvalue\terr\tsource".
-- MODE hold: get_or_load(KEY) with a callback that prints "loading PID"
--   and then never returns (the test kills the process).
-- MODE get: prints get, get_stale and get_or_load of KEY, one a line
--   (get_or_load with neg_ttl 60 and a callback returning nil).
-- MODE interleave: the tracked read of KEY (resty.shmlru.load's look,
--   tracked) once per line N read from stdin, stopped at the N-th line
--   of look that runs: it prints "at" and waits for a line on
--   stdin (the test changes the region meanwhile), then prints
--   "fired\tSTATE\tVALUE"; "done\tSTATE\tVALUE" if the read ran fewer lines.
-- SHMLRU_LIB names the library.

package.path = "ffi/?.lua;" .. package.path

local shmlru = require "resty.shmlru"
local ffi = require "ffi"

ffi.cdef [[
int getpid(void);
int poll(void *fds, unsigned long nfds, int timeout);
]]

local region, mode, key = arg[1], arg[2], arg[3]
local wait_timeout = tonumber(arg[4]) or 30
local pid = ffi.C.getpid()
local c = assert(shmlru.open(region, { no_create = true }))

local function show(...)
    local out = {}
    for i = 1, select("#", ...) do
        out[i] = tostring((select(i, ...)))
    end
    return table.concat(out, "\t")
end

if mode == "wait" then
    local v, err, src = c:get_or_load(key, { ttl = 60, wait_timeout = wait_timeout }, function()
        return "from-lua-" .. pid
    end)
    print(show(type(v), v, err, src))
elseif mode == "hold" then
    c:get_or_load(key, { ttl = 60 }, function()
        io.stdout:write("loading ", pid, "\n")
        io.stdout:flush()
        while true do
            ffi.C.poll(nil, 0, 1000)
        end
    end)
    print("hold returned")
elseif mode == "get" then
    print(show("get", c:get(key)))
    print(show("get_stale", c:get_stale(key)))
    local ran = false
    print(show("get_or_load", c:get_or_load(key, { neg_ttl = 60 }, function()
        ran = true
        return nil
    end)))
    print(show("callback", ran))
elseif mode == "interleave" then
    local load = require "resty.shmlru.load"
    assert(load.check_tracked())
    jit.off() -- line hooks run in the interpreter only
    for line in io.lines() do
        local n, count, fired = tonumber(line), 0, false
        debug.sethook(function()
            if fired or debug.getinfo(2, "f").func ~= load.look then
                return
            end
            count = count + 1
            if count == n then
                fired = true
                io.stdout:write("at\n")
                io.stdout:flush()
                io.read("*l")
            end
        end, "l")
        local st, v = load.look(c.h, key, true)
        debug.sethook()
        print(show(fired and "fired" or "done", st, v))
        io.stdout:flush()
    end
else
    error("bad mode " .. tostring(mode))
end
