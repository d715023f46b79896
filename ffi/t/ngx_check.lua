-- The checks of the nginx handlers that test in one request
-- (ffi/t/ngx_mlcache.lua, ffi/t/ngx_load.lua's /ml_api): new() returns
-- check(cond, what), raises(pattern, fn, ...) and done(), which answers
-- "ok" or the failures, one a line.

local _M = {}

function _M.new()
    local fails = {}
    local function check(cond, what)
        if not cond then
            fails[#fails + 1] = what
        end
    end
    local function raises(pattern, fn, ...)
        local ok, err = pcall(fn, ...)
        check(not ok and tostring(err):find(pattern, 1, true),
              "expected an error with " .. pattern .. ", got " .. tostring(err))
    end
    local function done()
        ngx.say(#fails == 0 and "ok" or table.concat(fails, "\n"))
    end
    return check, raises, done
end

return _M
