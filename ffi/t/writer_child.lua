-- A plain LuaJIT process that keeps writing one key, for the tests under
-- plain LuaJIT that need another process's writes while a loop of theirs
-- runs (a write from their own process would be a call in that loop):
--
--   luajit ffi/t/writer_child.lua REGION KEY
--
-- Sets KEY to "w1", "w2", ... until the region holds the key "stop", then
-- prints how many writes it made. SHMLRU_LIB names the library.

package.path = "ffi/?.lua;" .. package.path

local shmlru = require "resty.shmlru"

local region, key = arg[1], arg[2]
local c = assert(shmlru.open(region, { no_create = true }))
local n = 0
repeat
    n = n + 1
    assert(c:set(key, "w" .. n))
until c:get("stop") ~= nil
c:close()
print(n)
