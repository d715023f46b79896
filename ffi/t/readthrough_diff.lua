-- The Lua side of ffi/readthrough_diff_test.go: get_or_load on the keys
-- the test names, with a callback that behaves as told, so that the test
-- compares every outcome with Go's Cache.Load on the same scenario.
--
--   luajit ffi/t/readthrough_diff.lua REGION
--
-- Each line on stdin is one call, its fields separated by tabs:
--
--   KEY TTL NEG_TTL STALE_TTL RESURRECT_TTL TRACKED WAIT_TIMEOUT BEHAVIOUR
--
-- (seconds; TRACKED 1 or 0; BEHAVIOUR "value:V", "absent" or "fail:MSG").
-- The callback prints "loading" and waits for a line on stdin before it
-- answers, so that the test can queue a waiter on its load. The call's
-- answer is printed as "result\tVALUE\tERR\tSOURCE" (nil for none).
-- SHMLRU_LIB names the library.

package.path = "ffi/?.lua;" .. package.path

local shmlru = require "resty.shmlru"

local c = assert(shmlru.open(arg[1], { no_create = true }))

local function callback(behaviour)
    io.stdout:write("loading\n")
    io.stdout:flush()
    io.read("*l")
    local kind, arg = behaviour:match("^(%a+):?(.*)$")
    if kind == "value" then
        return arg
    elseif kind == "fail" then
        return nil, arg
    end
    return nil -- absent
end

for line in io.lines() do
    local f = {}
    for field in line:gmatch("[^\t]+") do
        f[#f + 1] = field
    end
    local opts = {
        ttl = tonumber(f[2]), neg_ttl = tonumber(f[3]),
        stale_ttl = tonumber(f[4]), resurrect_ttl = tonumber(f[5]),
        tracked = f[6] == "1", wait_timeout = tonumber(f[7]),
    }
    local v, err, src = c:get_or_load(f[1], opts, callback, f[8])
    io.stdout:write("result\t", tostring(v), "\t", tostring(err), "\t", tostring(src), "\n")
    io.stdout:flush()
end
