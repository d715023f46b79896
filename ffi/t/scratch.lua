-- The region a plain-LuaJIT test (ffi/t/*_test.lua) works in: open(name)
-- makes a new one of 4 MiB, open to this user alone, at the path given as
-- the script's first argument, or else at a path of its own in /dev/shm
-- named for the test and the process, and returns it and its path. The
-- test closes and removes it when done.

local shmlru = require "resty.shmlru"
local ffi = require "ffi"

ffi.cdef [[
int getpid(void);
]]

local _M = {}

function _M.open(name)
    local path = arg[1] or string.format("/dev/shm/shmlru-%s-%d", name, ffi.C.getpid())
    os.remove(path)
    return assert(shmlru.open(path, { size = "4m", mode = "0600" })), path
end

return _M
