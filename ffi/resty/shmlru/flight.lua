-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.flight: a caller's part in one load of the region's load
-- table (lru/flight.go; shmlru_load_begin, _wait and _end), for
-- resty.shmlru.load: its ticket, and waiting on another caller's load
-- without blocking an nginx worker. Not an API.
--
-- A waiter in nginx polls the load with shmlru_load_wait(..., 0, ...),
-- which never sleeps, between ngx.sleep calls of 1 ms doubling up to
-- 20 ms. Each poll also asks whether the loader's process is still alive,
-- so a loader that died is taken over within one step. Outside nginx
-- (plain LuaJIT) a waiter sleeps in shmlru_load_wait itself, on a futex
-- that the loader wakes.

local ffi = require "ffi"
local base = require "resty.shmlru.base"

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_gc = ffi.gc
local C = ffi.C
local tonumber = tonumber
local math_min = math.min

local OK, errstr, now_ms = base.OK, base.errstr, base.now_ms
local MINE, WAITING, FAILED, ABANDONED =
    C.SHMLRU_LOAD_MINE, C.SHMLRU_LOAD_WAITING, C.SHMLRU_LOAD_FAILED,
    C.SHMLRU_LOAD_ABANDONED


local _M = {}

local TIMEOUT = "timeout waiting for the load"
_M.TIMEOUT = TIMEOUT

local MSG_SIZE = C.SHMLRU_LOAD_MSG_SIZE

local msg_buf = ffi_new("char[?]", MSG_SIZE)
local msg_used = ffi_new("size_t[1]")
local load_t = ffi.typeof("shmlru_load")

-- The phases in which ngx.sleep may yield (lua-nginx-module's docs).
local CAN_SLEEP = {
    rewrite = true, server_rewrite = true, access = true, content = true,
    timer = true, ssl_cert = true, ssl_session_fetch = true,
    ssl_client_hello = true, preread = true,
}

-- new_ticket returns a shmlru_load for one claim. Should its loader's
-- coroutine die without ending the load (its request aborted), the
-- collector abandons it, so that a waiter loads at once.
function _M.new_ticket(h)
    local lib = base.lib()
    return ffi_gc(load_t(), function(ld)
        if ld.state == MINE then
            lib.shmlru_load_end(h, ld, ABANDONED, nil, 0)
        end
    end)
end


-- wait waits on a WAITING ticket until its state changes or the deadline
-- (Unix ms) passes: the loader's message for FAILED; nil and an error on
-- a timeout, in a phase that cannot yield, or from the library.
function _M.wait(h, ld, o, deadline)
    local lib = base.lib()
    local ngx = ngx
    local sleep = ngx and ngx.sleep
    -- In nginx a waiter only looks (timeout 0) between ngx.sleep calls,
    -- so the worker never blocks; plain LuaJIT sleeps in the library, on
    -- the flight's futex, until the deadline.
    local can_sleep = sleep and CAN_SLEEP[ngx.get_phase()]
    local step = 1
    while true do
        local left = deadline - now_ms()
        if left < 0 then
            left = 0
        end
        local rc = lib.shmlru_load_wait(h, ld, sleep and 0 or left, o.lease,
                                        msg_buf, MSG_SIZE, msg_used)
        if rc ~= OK then
            return nil, errstr(rc)
        end
        if ld.state ~= WAITING then
            break
        end
        if sleep and not can_sleep then
            return nil, "another caller is loading the key, and waiting"
                .. " for it needs ngx.sleep, which the "
                .. ngx.get_phase() .. " phase does not allow; call"
                .. " get_or_load in rewrite, access, content or a timer"
        end
        if left == 0 then
            return nil, TIMEOUT
        end
        if sleep then
            sleep(math_min(step, left) / 1000)
            if step < 20 then
                step = math_min(step * 2, 20)
            end
        end
    end
    if ld.state == FAILED then
        return ffi_str(msg_buf, math_min(tonumber(msg_used[0]), MSG_SIZE))
    end
    return nil
end


return _M
