-- What LuaJIT's compiler does from now on, for the tests that check what
-- compiles: watch() starts recording and returns the record, whose
-- aborts lists each trace abort as "reason at file:line", traces counts
-- the traces made, and stop() ends the recording.

local jit_util = require "jit.util"
local vmdef = require "jit.vmdef"

local _M = {}

function _M.watch()
    local rec = { aborts = {}, traces = 0 }
    local function on(what, _, func, pc, code, info)
        if what == "abort" then
            local reason = vmdef.traceerr[code]
            if type(info) == "string" or type(info) == "number" then
                reason = reason:format(info)
            end
            rec.aborts[#rec.aborts + 1] = reason .. " at " .. tostring(jit_util.funcinfo(func, pc).loc)
        elseif what == "stop" then
            rec.traces = rec.traces + 1
        end
    end
    jit.attach(on, "trace")
    rec.stop = function() jit.attach(on) end
    return rec
end

return _M
