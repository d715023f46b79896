-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.load: the read-through of resty.shmlru, cache:get_or_load,
-- and its core, which resty.shmlru.mlcache builds on.
--
--   local v, err, source = cache:get_or_load("user:42", { ttl = 60 }, fetch_user, 42)
--
-- On a miss, exactly one caller among every process that has the region
-- open (nginx workers and Go processes alike) runs the callback; the others
-- wait for it and read what it wrote. The rules are the library's, which
-- are lru/load.go's, so that Go's Cache.GetOrLoad and this module share
-- keys: what a key holds (shmlru_load_look), what a loader writes and how
-- its load ends (shmlru_load_prepare, _finish), which options are valid
-- (shmlru_load_check). This module marshals, runs the callback and waits.
--
-- Waiting on another caller's load never blocks an nginx worker
-- (resty.shmlru.flight).

local ffi = require "ffi"
local base = require "resty.shmlru.base"

local ffi_new = ffi.new
local ffi_str = ffi.string
local C = ffi.C
local type = type
local tostring = tostring
local tonumber = tonumber
local pcall = pcall
local flight = require "resty.shmlru.flight"
local new_ticket, wait, TIMEOUT = flight.new_ticket, flight.wait, flight.TIMEOUT

local OK = base.OK
local NOT_IN_STEP = base.NOT_IN_STEP
local errstr, with_buf, ttl_ms = base.errstr, base.with_buf, base.ttl_ms
local now_ms = base.now_ms


local _M = { now_ms = now_ms, TIMEOUT = TIMEOUT }

local MINE, WAITING, FAILED, ABSENT_END, ABANDONED =
    C.SHMLRU_LOAD_MINE, C.SHMLRU_LOAD_WAITING, C.SHMLRU_LOAD_FAILED,
    C.SHMLRU_LOAD_ABSENT, C.SHMLRU_LOAD_ABANDONED
local LOADED_VALUE, LOADED_ABSENT, LOADED_FAILED, LOADED_UNCACHED =
    C.SHMLRU_LOADED_VALUE, C.SHMLRU_LOADED_ABSENT, C.SHMLRU_LOADED_FAILED,
    C.SHMLRU_LOADED_UNCACHED
local RESURRECTED = C.SHMLRU_SOURCE_RESURRECTED
local TYPE_NONE = C.SHMLRU_TYPE_NONE

-- What a look found (shmlru_look.state), and OUT_OF_STEP for a tracked
-- key while the cache is not in step with its store (SHMLRU_NOT_IN_STEP).
local MISS, FRESH, ABSENT, SOFT_STALE, EXPIRED, RESURRECTED_LOOK, OUT_OF_STEP =
    C.SHMLRU_LOOK_MISS, C.SHMLRU_LOOK_FRESH, C.SHMLRU_LOOK_ABSENT,
    C.SHMLRU_LOOK_SOFT_STALE, C.SHMLRU_LOOK_EXPIRED,
    C.SHMLRU_LOOK_RESURRECTED, -1
_M.MISS, _M.FRESH, _M.ABSENT, _M.SOFT_STALE, _M.EXPIRED, _M.OUT_OF_STEP =
    MISS, FRESH, ABSENT, SOFT_STALE, EXPIRED, OUT_OF_STEP
_M.RESURRECTED = RESURRECTED_LOOK

-- The read-through's mark of a resurrected entry in its user flags.
local RESURRECT_MARK = 2 ^ C.SHMLRU_RESURRECT_FLAG_BIT

-- user_flags returns an entry's flags without the mark of a resurrected
-- entry, which is no part of what its codec wrote.
local function user_flags(flags)
    flags = tonumber(flags)
    if flags % (2 * RESURRECT_MARK) >= RESURRECT_MARK then
        return flags - RESURRECT_MARK
    end
    return flags
end
_M.user_flags = user_flags

local lib -- base.lib(), once a cache is open

-- Scratch, never held across a yield.
local size_out, meta = base.size_out, base.meta
local look_out = ffi_new("shmlru_look")
local answer = ffi_new("shmlru_load_answer")
local errbuf = ffi_new("char[?]", C.SHMLRU_ERRBUF_SIZE)
local guard_t = ffi.typeof("shmlru_guard")
local opts_t = ffi.typeof("shmlru_load_opts")

_M.check_tracked = base.check_read_through
local scalar = base.scalar
_M.scalar = scalar


-- answer_of turns a look in buf (look_out, meta) into what look returns.
local function answer_of(buf, codec)
    local st = look_out.state
    if st == ABSENT then
        return ABSENT, nil, tonumber(meta.version), tonumber(look_out.fresh_ms)
    elseif st == MISS then
        return MISS
    end
    if st == EXPIRED and meta.type == TYPE_NONE then
        return EXPIRED -- an expired absence, resurrectable as one
    elseif st == RESURRECTED_LOOK and meta.type == TYPE_NONE then
        return st, nil, tonumber(meta.version), tonumber(look_out.fresh_ms)
    end
    local v, err = codec.decode(buf, size_out[0], meta.type, user_flags(meta.flags))
    if v == nil then
        if st == EXPIRED then
            return MISS -- nothing this codec can resurrect
        end
        return nil, err
    elseif st == FRESH or st == RESURRECTED_LOOK then
        return st, v, tonumber(meta.version), tonumber(look_out.fresh_ms)
    end
    return st, v
end


local function look_call(buf, size, h, key, tracked)
    return lib.shmlru_load_look(h, key, #key, tracked, buf, size, size_out, meta, look_out)
end

-- look reads key as a read-through sees it (shmlru_load_look): a state
-- and, for FRESH, SOFT_STALE, EXPIRED and RESURRECTED (a live value or,
-- with none, absence that a failed load resurrected), the value; for FRESH,
-- ABSENT and RESURRECTED also the entry's version and the Unix ms until which it is fresh (0: no
-- expiry). nil and an error on failure.
local function look(h, key, tracked, codec)
    lib = lib or base.lib()
    local rc, buf = with_buf(look_call, h, key, tracked and 1 or 0)
    if rc == NOT_IN_STEP then
        return OUT_OF_STEP
    elseif rc ~= OK then
        return nil, errstr(rc)
    end
    return answer_of(buf, codec or scalar)
end
_M.look = look


-- new_lopts is a shmlru_load_opts of these options. Built by field
-- stores: LuaJIT compiles neither a struct constructor with initializers
-- for this type (its array field) nor the calls around one, and would
-- blacklist every function that builds options that way.
local function new_lopts(ttl, neg, stale, res, tracked)
    local lo = ffi_new(opts_t)
    lo.ttl_ms, lo.neg_ttl_ms = ttl, neg
    lo.stale_ttl_ms, lo.resurrect_ttl_ms = stale, res
    lo.tracked = tracked and 1 or 0
    return lo
end


-- The last options the library accepted, so that calls with the same ones
-- (every hit of a get_or_load site) do not ask it again.
local ok_ttl, ok_neg, ok_stale, ok_res, ok_tracked

-- check asks the library whether it takes these options (ms; neg < 0
-- remembers no absence, 0 one without expiry): true, or nil and its
-- objection.
local function check(ttl, neg, stale, res, tracked)
    if ttl == ok_ttl and neg == ok_neg and stale == ok_stale and res == ok_res
            and tracked == ok_tracked then
        return true
    end
    lib = lib or base.lib()
    local lo = new_lopts(ttl, neg, stale, res, tracked)
    if lib.shmlru_load_check(lo, errbuf, C.SHMLRU_ERRBUF_SIZE) ~= OK then
        return nil, ffi_str(errbuf)
    end
    ok_ttl, ok_neg, ok_stale, ok_res, ok_tracked = ttl, neg, stale, res, tracked
    return true
end
_M.check = check

-- options returns one read-through's options (as check takes them, and
-- lease and wait in ms) with their shmlru_load_opts, or nil and the
-- library's objection.
local function options(ttl, neg, stale, res, lease, wait, tracked, codec)
    local ok, err = check(ttl, neg, stale, res, tracked)
    if not ok then
        return nil, err
    end
    return { lopts = new_lopts(ttl, neg, stale, res, tracked),
             res = res, lease = lease, wait = wait, tracked = tracked,
             codec = codec or scalar }
end
_M.options = options


-- direct answers a tracked key while the cache is not in step with its
-- store: the callback's answer, cached nowhere (source "loaded").
local function direct(cb, ...)
    local ok, val, err = pcall(cb, ...)
    if not ok then
        return nil, "callback threw an error: " .. tostring(val), "loaded"
    elseif err then
        return nil, err, "loaded"
    elseif val ~= nil and type(val) ~= "string" then
        return nil, "the callback returned a " .. type(val) .. "; a tracked"
            .. " key's value is a string (the store's bytes) or nil", "loaded"
    end
    return val, nil, "loaded"
end
_M.direct = direct


-- finish hands what the callback returned to shmlru_load_finish (ld nil:
-- a write outside any load), which writes it and ends the load: true, and
-- if the caller may keep a copy its version and fresh-until ms; or nil
-- and an error. A call the library refuses has ended nothing (a value too
-- large for the region, say): the load is abandoned, so that its waiters
-- load rather than wait out the lease.
local function finish(h, ld, key, lopts, g, outcome, p, n, t, flags, msg)
    local rc = lib.shmlru_load_finish(h, ld, key, #key, lopts, g, outcome, p,
                                      n or 0, t or 0, flags or 0, msg,
                                      msg and #msg or 0, answer)
    if rc ~= OK then
        if ld ~= nil and ld.state == MINE then
            lib.shmlru_load_end(h, ld, ABANDONED, nil, 0)
        end
        return nil, errstr(rc)
    end
    if answer.kept == 1 then
        local version = tonumber(answer.version)
        return true, version ~= 0 and version or nil, tonumber(answer.fresh_ms)
    end
    return true
end


-- put writes v (nil: an absence) at key outside any load, as a load would
-- (resty.shmlru.mlcache's set): true, its version and fresh-until ms, or
-- nil and an error.
function _M.put(h, key, v, o)
    local outcome, p, n, t, flags = LOADED_ABSENT
    if v ~= nil then
        p, n, t, flags = o.codec.encode(v)
        if not p then
            return nil, n
        end
        outcome = LOADED_VALUE
    end
    return finish(h, nil, key, o.lopts, nil, outcome, p, n, t, flags)
end


local function prepare_call(buf, size, h, ld, key, lopts, g)
    return lib.shmlru_load_prepare(h, ld, key, #key, lopts, buf, size,
                                   size_out, meta, look_out, g)
end

-- run_loader is the loader's side of a claimed load: shmlru_load_prepare,
-- the callback, shmlru_load_finish. Returns value, err, source, and for an
-- answer the region keeps its version and fresh-until ms.
local function run_loader(h, ld, key, o, has_stale, stale, cb, ...)
    local g = guard_t() -- the callback may yield: not module scratch
    local rc, buf = with_buf(prepare_call, h, ld, key, o.lopts, g)
    if rc == NOT_IN_STEP then
        return direct(cb, ...) -- the library abandoned the load
    elseif rc ~= OK then
        if ld.state == MINE then
            lib.shmlru_load_end(h, ld, ABANDONED, nil, 0)
        end
        return nil, errstr(rc)
    end
    local st, v, version, fresh = answer_of(buf, o.codec)
    if st == FRESH or st == ABSENT then
        return v, nil, "waited", version, fresh -- the load is ended
    elseif st == RESURRECTED_LOOK then
        return v, nil, "resurrected", version, fresh -- the load is ended
    end

    local ok, val, err, cb_ttl = pcall(cb, ...)
    local lopts = o.lopts
    if not ok then
        -- A Lua error: a bug, not an outage; no stale value is resurrected.
        local msg = "callback threw an error: " .. tostring(val)
        local _, e = finish(h, ld, key, lopts, g, LOADED_FAILED, nil, 0, 0, 0, msg)
        return nil, e or msg, "loaded"
    end
    if o.tracked and not err and val ~= nil and type(val) ~= "string" then
        err = "the callback returned a " .. type(val) .. "; a tracked key's"
            .. " value is a string (the store's bytes) or nil"
    end
    local outcome = LOADED_VALUE
    if o.cb_ttl and type(cb_ttl) == "number" then
        -- mlcache's third return value: >= 0 replaces ttl and neg_ttl,
        -- < 0 returns the value uncached.
        if cb_ttl < 0 then
            outcome = LOADED_UNCACHED
        else
            local ms = ttl_ms(cb_ttl)
            lopts = opts_t(lopts)
            lopts.ttl_ms, lopts.neg_ttl_ms = ms, ms
        end
    end

    if err then
        local p, n, t, flags
        if has_stale and o.res > 0 then
            if stale == nil then
                t = TYPE_NONE -- resurrect the expired absence
            else
                p, n, t, flags = o.codec.encode(stale)
            end
        end
        local sok, e, sv, sf = finish(h, ld, key, lopts, g, LOADED_FAILED,
                                      p, n, t, flags, tostring(err))
        if not sok then
            return nil, e
        elseif answer.source == RESURRECTED then
            return stale, nil, "resurrected", e, sv
        end
        return nil, err, "loaded"
    end
    local p, n, t, flags
    if val == nil then
        if outcome ~= LOADED_UNCACHED then -- an uncached nil stays uncached
            outcome = LOADED_ABSENT
        end
    else
        p, n, t, flags = o.codec.encode(val)
        if not p then
            -- Not a value the codec takes: the callback's bug, as a Lua
            -- error would be.
            local _, e = finish(h, ld, key, lopts, g, LOADED_FAILED, nil, 0, 0, 0, n)
            return nil, e or n, "loaded"
        end
    end
    local sok, e, fv = finish(h, ld, key, lopts, g, outcome, p, n, t, flags)
    if not sok then
        return nil, e
    end
    return val, nil, "loaded", e, fv
end


-- load_shared is a miss among all processes: claim the key's load, or wait
-- for whoever holds it, until there is an answer.
local function load_shared(h, key, o, has_stale, stale, cb, ...)
    local waited = false
    local deadline
    while true do
        local ld = new_ticket(h)
        local rc = lib.shmlru_load_begin(h, key, #key, o.lease, ld)
        if rc ~= OK then
            return nil, errstr(rc)
        end
        local msg
        if ld.state == WAITING then
            waited = true
            if not deadline then
                deadline = now_ms() + o.wait
            end
            local err
            msg, err = wait(h, ld, o, deadline)
            if err then
                if err == TIMEOUT and o.stale_on_timeout and has_stale then
                    return stale, nil, "stale"
                end
                return nil, err
            end
        end
        local state = ld.state
        if state == MINE then
            return run_loader(h, ld, key, o, has_stale, stale, cb, ...)
        elseif state == ABSENT_END then
            return nil, nil, "waited"
        elseif state == FAILED then
            return nil, msg, "waited"
        end
        -- DONE: the answer should be there now.
        local st, v, version, fresh = look(h, key, o.tracked, o.codec)
        if st == nil then
            return nil, v
        end
        local src = waited and "waited" or "hit"
        if st == FRESH or st == ABSENT then
            return v, nil, src, version, fresh
        elseif st == RESURRECTED_LOOK then
            return v, nil, "resurrected", version, fresh
        elseif st == SOFT_STALE then
            return v, nil, src
        elseif st == OUT_OF_STEP then
            return direct(cb, ...)
        end
        -- Gone again (the load was abandoned, or its value evicted at
        -- once): claim again.
    end
end


-- refresh_timer runs a stale value's refresh in the background.
local function refresh_timer(premature, h, ld, key, o, cb, ...)
    if premature then
        lib.shmlru_load_end(h, ld, ABANDONED, nil, 0) -- the worker exits; another loads
        return
    end
    local _, err = run_loader(h, ld, key, o, false, nil, cb, ...)
    if err then
        ngx.log(ngx.WARN, "shmlru: background refresh of ", key, ": ",
                tostring(err))
    end
end


-- refresh starts the background reload of a value served stale, unless a
-- load of the key is under way: in a zero-delay timer in nginx, else (or
-- if nginx refuses one) inline.
local function refresh(h, key, o, cb, ...)
    local ld = new_ticket(h)
    local rc = lib.shmlru_load_begin(h, key, #key, o.lease, ld)
    if rc ~= OK or ld.state ~= MINE then
        return -- someone refreshes it already (or the next caller will)
    end
    local ngx = ngx
    if ngx and ngx.timer then
        local ok = ngx.timer.at(0, refresh_timer, h, ld, key, o, cb, ...)
        if ok then
            return
        end
    end
    run_loader(h, ld, key, o, false, nil, cb, ...)
end


-- resolve answers a key that look found neither FRESH nor ABSENT (st, v):
-- serve it stale while one caller refreshes it, or load it once among
-- every process. o is what options returns (resty.shmlru.mlcache adds
-- cb_ttl and stale_on_timeout). Returns value, err, source ("loaded",
-- "waited", "hit", "stale" or "resurrected"), and for an entry in the
-- region its version and fresh-until ms.
function _M.resolve(shm, key, o, st, v, cb, ...)
    local h = shm.h
    if st == SOFT_STALE then
        refresh(h, key, o, cb, ...)
        return v, nil, "stale"
    end
    return load_shared(h, key, o, st == EXPIRED, v, cb, ...)
end
local resolve = _M.resolve


return _M
