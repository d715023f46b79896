-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.load: the read-through of resty.shmlru, cache:get_or_load,
-- and its core, which resty.shmlru.mlcache builds on.
--
--   local v, err, source = cache:get_or_load("user:42", { ttl = 60 }, fetch_user, 42)
--
-- On a miss, exactly one caller among every process that has the region
-- open (nginx workers and Go processes alike) runs the callback; the others
-- wait for it and read what it wrote. The load table that decides who
-- loads lives in the region (lru/flight.go; shmlru_load_begin, _wait and
-- _end in c/shmlru.h). What a load writes follows lru/load.go's rules
-- exactly, so that Go's Cache.GetOrLoad and this module share keys:
--
--   * a loaded value is a plain entry with the TTL;
--   * with a stale window (stale_ttl) the entry lives ttl + stale_ttl and
--     its user flags are 0x80000000 | window in ms: fresh until
--     expires - window, then served stale while one caller refreshes it;
--   * a remembered absence (neg_ttl) is an entry of SHMLRU_TYPE_NONE with an
--     empty value, which every reader takes for no entry.
--
-- With opts.tracked the key is one that the host's tracking agent keeps in
-- step with an outside store (lru/track.go; resty.shmlru.near is its Redis
-- client): an entry is served only while the cache is in step and its
-- user flags are the current generation, both read with the entry at one
-- instant (shmlru_get_tracked); a loader takes a guard
-- (shmlru_fill_begin) before it runs the callback and stores with it
-- (shmlru_fill_store), which keeps nothing if the agent invalidated the
-- key meanwhile; and while the cache is not in step the callback is called
-- directly and nothing is cached. lru/load.go's LoadOptions.Tracked is the
-- same protocol (one difference, safe for both, at run_tracked).
--
-- Waiting never blocks an nginx worker: a waiter polls the load with
-- shmlru_load_wait(..., 0, ...), which never sleeps, between ngx.sleep
-- calls of 1 ms doubling up to 20 ms. Each poll also asks whether the
-- loader's process is still alive, so a loader that died is taken over
-- within one step (20 ms at most). Outside nginx (plain LuaJIT) a waiter
-- sleeps in shmlru_load_wait itself, on a futex that the loader wakes.

local ffi = require "ffi"

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_cast = ffi.cast
local ffi_gc = ffi.gc
local C = ffi.C
local type = type
local tostring = tostring
local tonumber = tonumber
local error = error
local pcall = pcall
local math_floor = math.floor
local math_min = math.min


local _M = {}

-- Status codes, types and load states (c/shmlru.h; the cdef is
-- resty.shmlru's, and c/pin_test.go holds the two together).
local OK = 0
local NOT_FOUND = -1
local BUFFER_TOO_SMALL = -7
local LOAD_LOST = C.SHMLRU_LOAD_LOST
local NOT_IN_STEP = C.SHMLRU_NOT_IN_STEP
local TYPE_BYTES, TYPE_NUMBER, TYPE_BOOL, TYPE_LIST, TYPE_NONE =
    C.SHMLRU_TYPE_BYTES, C.SHMLRU_TYPE_NUMBER, C.SHMLRU_TYPE_BOOL,
    C.SHMLRU_TYPE_LIST, C.SHMLRU_TYPE_NONE
local MODE_SET = 0
local MINE, WAITING, DONE, ABSENT, FAILED, ABANDONED =
    C.SHMLRU_LOAD_MINE, C.SHMLRU_LOAD_WAITING, C.SHMLRU_LOAD_DONE,
    C.SHMLRU_LOAD_ABSENT, C.SHMLRU_LOAD_FAILED, C.SHMLRU_LOAD_ABANDONED

-- The top bit of the user flags marks a stale window; the other 31 hold
-- it in milliseconds (lru.StaleFlag, SHMLRU_STALE_FLAG_BIT).
local STALE_FLAG = 2 ^ C.SHMLRU_STALE_FLAG_BIT
local MAX_STALE_MS = STALE_FLAG - 1

-- What a look at the key found (lru/load.go's lookState); OUT_OF_STEP
-- only for a tracked key (the cache is not in step with its store).
local MISS, FRESH, ABSENT_HIT, SOFT_STALE, EXPIRED, OUT_OF_STEP = 0, 1, 2, 3, 4, 5
_M.MISS, _M.FRESH, _M.ABSENT, _M.SOFT_STALE, _M.EXPIRED, _M.OUT_OF_STEP =
    MISS, FRESH, ABSENT_HIT, SOFT_STALE, EXPIRED, OUT_OF_STEP

local TIMEOUT = "timeout waiting for the load"
_M.TIMEOUT = TIMEOUT

-- A loader's message reaches the other processes cut to this many bytes
-- (lru.LoadMsgSize).
local MSG_SIZE = C.SHMLRU_LOAD_MSG_SIZE

-- The phases in which ngx.sleep may yield (lua-nginx-module's docs).
local CAN_SLEEP = {
    rewrite = true, server_rewrite = true, access = true, content = true,
    timer = true, ssl_cert = true, ssl_session_fetch = true,
    ssl_client_hello = true, preread = true,
}


-- Set by install: resty.shmlru's internals.
local I
local lib
local errstr, ttl_ms, MAX_TTL_MS

-- Per-module scratch, reused by every call. A call never yields between
-- filling one and reading it back.
local buf_size = 4096
local buf = ffi_new("unsigned char[?]", buf_size)
local size_out = ffi_new("size_t[1]")
local meta = ffi_new("shmlru_meta")
local wopts = ffi_new("shmlru_write_opts")
local wres = ffi_new("shmlru_write_result")
local num_in = ffi_new("double[1]")
local msg_buf = ffi_new("char[?]", MSG_SIZE)
local msg_used = ffi_new("size_t[1]")
local int_out = ffi_new("int[1]")
local double_ptr = ffi.typeof("double *")
local load_t = ffi.typeof("shmlru_load")
local guard_t = ffi.typeof("shmlru_guard")


-- now_ms is the wall clock in Unix milliseconds, as lru's nowMillis: the
-- clock that entries' deadlines are written in. (ngx.now would do in
-- nginx, but it is the time of the event loop's last turn; plain LuaJIT
-- has nothing finer than os.time.)
pcall(ffi.cdef, "int clock_gettime(int clk_id, void *tp);")
local ts = ffi_new("int64_t[2]") -- struct timespec on LP64
local function now_ms()
    C.clock_gettime(0, ts) -- CLOCK_REALTIME
    return tonumber(ts[0]) * 1000 + math_floor(tonumber(ts[1]) / 1e6)
end
if not pcall(now_ms) then
    -- clock_gettime declared elsewhere with another prototype
    now_ms = function()
        local ngx = ngx
        if ngx and ngx.update_time then
            ngx.update_time()
            return math_floor(ngx.now() * 1000)
        end
        return os.time() * 1000
    end
end
_M.now_ms = now_ms


local function grow(need)
    local n = buf_size
    while n < need do
        n = n * 2
    end
    buf = ffi_new("unsigned char[?]", n)
    buf_size = n
end


-- The codec of get_or_load: strings, numbers and booleans, stored with
-- their types as resty.shmlru's set stores them (Go reads them as bytes,
-- float64 and bool). resty.shmlru.mlcache has one that takes tables too.
-- encode returns the pointer, length, type and user flags to write, or
-- nil and an error; decode the Lua value of an entry.
local scalar = {}

function scalar.encode(v)
    local vt = type(v)
    if vt == "string" then
        return v, #v, TYPE_BYTES, 0
    elseif vt == "number" then
        num_in[0] = v
        return num_in, 8, TYPE_NUMBER, 0
    elseif vt == "boolean" then
        return v and "\1" or "\0", 1, TYPE_BOOL, 0
    end
    return nil, "the callback returned a " .. vt .. "; get_or_load caches"
        .. " strings, numbers and booleans (resty.shmlru.mlcache caches"
        .. " tables too)"
end

function scalar.decode(p, n, t)
    if t == TYPE_BYTES then
        return ffi_str(p, n)
    elseif t == TYPE_NUMBER then
        return tonumber(ffi_cast(double_ptr, p)[0])
    end
    return p[0] ~= 0 -- TYPE_BOOL
end

_M.scalar = scalar


-- look reads key as a read-through sees it (lru/load.go's look): a state
-- (MISS, FRESH, ABSENT, SOFT_STALE or EXPIRED) and, but for MISS, the
-- value; for FRESH and ABSENT also the entry's version and the Unix ms
-- until which it is fresh (0: no expiry). nil and an error on failure.
local function look(h, key, codec)
    local rc = lib.shmlru_get_stale(h, key, #key, buf, buf_size, size_out, meta)
    while rc == BUFFER_TOO_SMALL do
        grow(tonumber(size_out[0]))
        rc = lib.shmlru_get_stale(h, key, #key, buf, buf_size, size_out, meta)
    end
    if rc ~= OK then
        if rc == NOT_FOUND then
            return MISS
        end
        return nil, errstr(rc)
    end
    local t = meta.type
    if meta.stale ~= 0 then
        -- Expired, not yet removed: a value to resurrect, if it reads.
        if t == TYPE_NONE or t == TYPE_LIST then
            return MISS
        end
        local v = codec.decode(buf, size_out[0], t, meta.flags)
        if v == nil then
            return MISS
        end
        return EXPIRED, v
    end
    local expires = tonumber(meta.expires_ms)
    if t == TYPE_NONE then
        return ABSENT_HIT, nil, tonumber(meta.version), expires
    elseif t == TYPE_LIST then
        return nil, "value is a list"
    end
    local flags = meta.flags
    local version = tonumber(meta.version)
    local v, err = codec.decode(buf, size_out[0], t, flags)
    if v == nil then
        return nil, err
    end
    if flags >= STALE_FLAG and expires ~= 0 then
        local fresh = expires - (flags - STALE_FLAG)
        if now_ms() >= fresh then
            return SOFT_STALE, v
        end
        return FRESH, v, version, fresh
    end
    return FRESH, v, version, expires
end
_M.look = look


-- look_tracked reads a tracked key (shmlru_get_tracked, which reads
-- whether the cache is in step, the generation and the entry at one
-- instant): a state (FRESH with the value, ABSENT, MISS or OUT_OF_STEP), or
-- nil and an error. A tracked value is bytes: an entry of another type at
-- the key is not a fill's, and is a miss (the fill overwrites it).
local function look_tracked(h, key)
    local rc = lib.shmlru_get_tracked(h, key, #key, buf, buf_size, size_out, meta)
    while rc == BUFFER_TOO_SMALL do
        grow(tonumber(size_out[0]))
        rc = lib.shmlru_get_tracked(h, key, #key, buf, buf_size, size_out, meta)
    end
    if rc == NOT_IN_STEP then
        return OUT_OF_STEP
    elseif rc == NOT_FOUND then
        return MISS
    elseif rc ~= OK then
        return nil, errstr(rc)
    end
    local t = meta.type
    if t == TYPE_NONE then
        return ABSENT_HIT
    elseif t ~= TYPE_BYTES then
        return MISS
    end
    return FRESH, ffi_str(buf, size_out[0])
end
_M.look_tracked = look_tracked


-- write writes what wopts says at key: for the loader of the load ld
-- (shmlru_load_store: nothing is written, SHMLRU_LOAD_LOST, once the load
-- was taken over), or as a plain write without one (or with a library
-- that predates shmlru_load_store).
local load_store_ok
local function write(h, key, p, n, ld)
    if ld then
        if load_store_ok == nil then
            load_store_ok = pcall(function() return lib.shmlru_load_store end)
        end
        if load_store_ok then
            return lib.shmlru_load_store(h, ld, key, #key, p, n, wopts, wres)
        end
    end
    return lib.shmlru_write(h, key, #key, p, n, wopts, wres)
end


-- store writes a loaded (or resurrected) value fresh for ttl ms, with the
-- stale window if the options have one (lru/load.go's storeLoaded), and
-- returns true, the entry's version and the Unix ms it is fresh until (0:
-- no expiry), or nil and an error (and true if the codec refused the
-- value, or false and true if the load ld was taken over: see write).
local function store(h, key, v, ttl, o, ld)
    local now = now_ms()
    local p, n, t, flags = o.codec.encode(v)
    if not p then
        return nil, n, true
    end
    local fresh = ttl > 0 and now + ttl or 0
    if o.stale > 0 and ttl > 0 then
        if flags ~= 0 then
            return nil, "a value stored with user flags cannot have a stale window"
        end
        ttl = ttl + o.stale
        flags = STALE_FLAG + o.stale
    end
    wopts.ttl_ms = ttl
    wopts.version = 0
    wopts.flags = flags
    wopts.type = t
    wopts.mode = MODE_SET
    wopts.no_evict = 0
    local rc = write(h, key, p, n, ld)
    if rc ~= OK then
        return nil, errstr(rc), false, rc == LOAD_LOST
    end
    return true, tonumber(wres.version), fresh
end
_M.store = store


-- store_absent remembers that key has no value for ttl ms (0: no expiry):
-- an entry of SHMLRU_TYPE_NONE, written for the load ld if given. Returns
-- what store returns.
local function store_absent(h, key, ttl, ld)
    local now = now_ms()
    wopts.ttl_ms = ttl
    wopts.version = 0
    wopts.flags = 0
    wopts.type = TYPE_NONE
    wopts.mode = MODE_SET
    wopts.no_evict = 0
    local rc = write(h, key, "", 0, ld)
    if rc ~= OK then
        return nil, errstr(rc), false, rc == LOAD_LOST
    end
    return true, tonumber(wres.version), ttl > 0 and now + ttl or 0
end
_M.store_absent = store_absent


-- new_ticket returns a shmlru_load for one claim. Should the coroutine that
-- holds it as its loader die without ending the load (its request
-- aborted, say), the garbage collector ends it as abandoned, so that a
-- waiter loads at once rather than when the lease runs out.
local function new_ticket(h)
    return ffi_gc(load_t(), function(ld)
        if ld.state == MINE then
            lib.shmlru_load_end(h, ld, ABANDONED, nil, 0)
        end
    end)
end


-- end_load ends the caller's load with an outcome. A load taken over
-- meanwhile (its lease ran out) is no error: the caller wrote nothing once
-- it was (store and store_absent refused), and the new loader's outcome is
-- what waiters see.
local function end_load(h, ld, outcome, msg)
    local rc = lib.shmlru_load_end(h, ld, outcome, msg, msg and #msg or 0)
    if rc ~= OK and rc ~= LOAD_LOST then
        return errstr(rc)
    end
    return nil
end


-- wait waits on a WAITING ticket until its state changes or the deadline
-- (Unix ms) passes. Returns the loader's message when the state is FAILED;
-- nil and an error on a timeout, in a phase that cannot yield, or on a
-- failure of the library.
local function wait(h, ld, o, deadline)
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


-- call runs the callback, catching its Lua error: value, err.
local function call(cb, ...)
    local ok, val, err = pcall(cb, ...)
    if not ok then
        return nil, "callback threw an error: " .. tostring(val)
    end
    return val, err
end


-- direct answers a tracked key while the cache is not in step with its
-- store: the callback's answer, cached nowhere (lru/load.go's
-- loadUncached; the source is "loaded", this caller ran the callback).
local function direct(cb, ...)
    local val, err = call(cb, ...)
    if err then
        return nil, err, "loaded"
    end
    if val ~= nil and type(val) ~= "string" then
        return nil, "the callback returned a " .. type(val) .. "; a tracked"
            .. " key's value is a string (the store's bytes) or nil", "loaded"
    end
    return val, nil, "loaded"
end


-- run_tracked is run_loader for a tracked key, after its look found no
-- servable copy, as lru/load.go's runLoader: the guard (shmlru_fill_begin)
-- before the callback reads the store, and the fill with it after. Out of
-- step, the load is abandoned at once (a waiter takes it over, finds the
-- same and does the same: each answers for itself) and the callback
-- answers this caller uncached. Every fill ends DONE, an absence kept or
-- refused included: the waiters look at the key, and find the value or
-- the absence, or nothing if the key changed while it loaded or since
-- (they load again), rather than take an answer that may predate the
-- change. (lru's runLoader ends a kept absence ABSENT, which its waiters
-- take without a look; DONE is as good an answer to them, and a safer
-- one.) Only an absence neg_ttl does not keep ends ABSENT: there is
-- nothing to look at.
local function run_tracked(h, ld, key, o, cb, ...)
    local g = guard_t() -- the callback may yield: not module scratch
    local rc = lib.shmlru_fill_begin(h, key, #key, g)
    if rc ~= OK then
        local e = end_load(h, ld, ABANDONED)
        if e then
            return nil, e
        end
        if rc == NOT_IN_STEP then
            return direct(cb, ...)
        end
        return nil, errstr(rc)
    end

    local val, err = call(cb, ...)
    if not err and val ~= nil and type(val) ~= "string" then
        err = "the callback returned a " .. type(val) .. "; a tracked key's"
            .. " value is a string (the store's bytes) or nil"
    end
    if err then
        local e = end_load(h, ld, FAILED, tostring(err))
        return nil, e or err, "loaded"
    end

    local outcome = DONE
    if val ~= nil then
        rc = lib.shmlru_fill_store(h, key, #key, val, #val, 0, o.ttl, g, int_out)
        if rc ~= OK then
            -- The caller has its value; the waiters learn why it was not
            -- kept, as in run_loader.
            local e = end_load(h, ld, FAILED, "loaded value not cached: " .. errstr(rc))
            if e then
                return nil, e
            end
            return val, nil, "loaded"
        end
    elseif o.neg > 0 then
        -- Kept or not (refused, or no room), DONE: see above.
        lib.shmlru_fill_store(h, key, #key, nil, 0, 1, o.neg, g, int_out)
    else
        outcome = ABSENT
    end
    local e = end_load(h, ld, outcome)
    if e then
        return nil, e
    end
    return val, nil, "loaded"
end


-- run_loader is the loader's side of a load the caller has claimed
-- (lru/load.go's runLoader): look once more, run the callback, write what
-- it returned, and end the load whatever happens. Returns value, err,
-- source, and for a value it wrote the entry's version and fresh-until ms.
local function run_loader(h, ld, key, o, has_stale, stale, cb, ...)
    -- A load that ended just before this one was claimed wrote its value.
    local st, v, version, fresh = (o.look or look)(h, key, o.codec)
    if st == FRESH or st == ABSENT_HIT then
        local e = end_load(h, ld, DONE)
        if e then
            return nil, e
        end
        return v, nil, "waited", version, fresh
    end
    if o.tracked then
        return run_tracked(h, ld, key, o, cb, ...)
    end

    local ok, val, err, cb_ttl = pcall(cb, ...)
    if not ok then
        -- A Lua error: every waiter gets it, as a returned error, and the
        -- load ends here (nothing is cached, no stale value is
        -- resurrected: it is a bug, not an outage).
        local msg = "callback threw an error: " .. tostring(val)
        local e = end_load(h, ld, FAILED, msg)
        return nil, e or msg, "loaded"
    end
    local ttl, neg = o.ttl, o.neg
    if o.cb_ttl and type(cb_ttl) == "number" then
        -- mlcache's third return value: >= 0 replaces ttl or neg_ttl,
        -- < 0 returns the value uncached.
        if cb_ttl < 0 then
            local e = end_load(h, ld, DONE) -- nothing written: a waiter loads
            if e then
                return nil, e
            end
            return val, nil, "loaded"
        end
        ttl = ttl_ms(cb_ttl)
        neg = ttl
    end

    if err then
        if o.res > 0 and has_stale then
            local sok, r2, r3, lost = store(h, key, stale, o.res, o, ld)
            if sok or lost then
                -- Taken over (lost), the stale value is not written over
                -- the new loader's, but still answers this caller.
                local e = end_load(h, ld, DONE)
                if e then
                    return nil, e
                end
                if lost then
                    return stale, nil, "resurrected"
                end
                return stale, nil, "resurrected", r2, r3
            end
        end
        local e = end_load(h, ld, FAILED, tostring(err))
        return nil, e or err, "loaded"
    end

    if val == nil then
        version, fresh = nil, nil
        if neg >= 0 then
            -- If it cannot be kept, the waiters still learn the answer.
            -- (The caller may still keep its own copy for neg ms: fresh
            -- says until when, and no version that the region's entry
            -- could have.)
            local now = now_ms()
            local sok, r2, r3, lost = store_absent(h, key, neg, ld)
            if sok then
                version, fresh = r2, r3
            elseif not lost then
                version, fresh = nil, neg > 0 and now + neg or 0
            end
            -- (Taken over, lost: the new loader's answer stands in the
            -- region, and the caller keeps no copy of this one.)
        end
        local e = end_load(h, ld, ABSENT)
        if e then
            return nil, e
        end
        return nil, nil, "loaded", version, fresh
    end

    local sok, r2, r3, lost = store(h, key, val, ttl, o, ld)
    if lost then
        -- Taken over while the callback ran (its lease ran out): the new
        -- loader writes the key, and its waiters hear from it. This caller
        -- still gets what its callback returned, which is what the source
        -- said during its call; no version, as the region holds another.
        local e = end_load(h, ld, DONE)
        if e then
            return nil, e
        end
        return val, nil, "loaded"
    end
    if not sok then
        local serr, refused = r2, r3
        if refused then
            -- Not a value the codec takes: the callback's bug, as a Lua
            -- error would be.
            local e = end_load(h, ld, FAILED, serr)
            return nil, e or serr, "loaded"
        end
        -- The caller has its value; the waiters learn why it was not kept.
        local e = end_load(h, ld, FAILED, "loaded value not cached: " .. serr)
        if e then
            return nil, e
        end
        return val, nil, "loaded"
    end
    version, fresh = r2, r3
    local e = end_load(h, ld, DONE)
    if e then
        return nil, e
    end
    return val, nil, "loaded", version, fresh
end


-- load_shared is a miss among all processes (lru/load.go's loadShared):
-- claim the key's load, or wait for whoever holds it, until there is an
-- answer.
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
        elseif state == ABSENT then
            return nil, nil, "waited"
        elseif state == FAILED then
            return nil, msg, "waited"
        end
        -- DONE: the value should be there now.
        local st, v, version, fresh = (o.look or look)(h, key, o.codec)
        if st == nil then
            return nil, v
        end
        local src = waited and "waited" or "hit"
        if st == FRESH or st == ABSENT_HIT then
            return v, nil, src, version, fresh
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
        end_load(h, ld, ABANDONED) -- the worker is exiting; another loads
        return
    end
    local _, err = run_loader(h, ld, key, o, false, nil, cb, ...)
    if err then
        ngx.log(ngx.WARN, "shmlru: background refresh of ", key, ": ",
                tostring(err))
    end
end


-- refresh starts the background reload of a value served stale, unless a
-- load of the key is under way already (lru/load.go's refresh). In nginx
-- the reload runs in a zero-delay timer; where no timer can be created
-- (outside nginx, or nginx refuses one), the caller runs it inline.
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


-- resolve answers a key that look found not FRESH and not ABSENT (st and v
-- are what it returned): serve a stale value while one caller refreshes it,
-- or load it once among every process. o is what options returns (or
-- resty.shmlru.mlcache builds). Returns value, err, source ("loaded",
-- "waited", "hit", "stale" or "resurrected"), and when the answer is an
-- entry in the region, its version and fresh-until ms.
function _M.resolve(shm, key, o, st, v, cb, ...)
    local h = shm.h
    if st == SOFT_STALE then
        refresh(h, key, o, cb, ...)
        return v, nil, "stale"
    end
    return load_shared(h, key, o, st == EXPIRED, v, cb, ...)
end
local resolve = _M.resolve


-- seconds reads opts[name], a number of seconds >= 0 (default def).
-- Raises naming the option otherwise; level is the caller's caller's.
local function seconds(opts, name, def, level)
    local v = opts[name]
    if v == nil then
        return def
    end
    if type(v) ~= "number" or v ~= v then
        error("bad opts." .. name .. ": a number of seconds expected, got "
              .. type(v) .. (type(v) == "number" and " NaN" or ""), level)
    end
    if v < 0 then
        error("bad opts." .. name .. ": " .. v .. " is negative; give a"
              .. " number of seconds >= 0", level)
    end
    return v
end
_M.seconds = seconds


-- check_opts checks get_or_load's opts and returns them in ms: ttl,
-- neg_ttl, stale_ttl, resurrect_ttl, lease and wait_timeout, then
-- tracked. It raises on bad ones (at get_or_load's caller), allocating
-- nothing.
local function check_opts(opts)
    if opts == nil then
        return 0, 0, 0, 0, 30000, 5000, false
    end
    if type(opts) ~= "table" then
        error("bad opts: a table (or nil) expected, got " .. type(opts), 3)
    end
    local ttl = ttl_ms(seconds(opts, "ttl", 0, 4))
    local neg = ttl_ms(seconds(opts, "neg_ttl", 0, 4))
    local stale = ttl_ms(seconds(opts, "stale_ttl", 0, 4))
    local res = ttl_ms(seconds(opts, "resurrect_ttl", 0, 4))
    local lease = seconds(opts, "lease", 30, 4)
    local wt = seconds(opts, "wait_timeout", 5, 4)
    local tracked = opts.tracked
    if tracked ~= nil and type(tracked) ~= "boolean" then
        error("bad opts.tracked: a boolean expected, got " .. type(tracked), 3)
    end
    if tracked and (stale > 0 or res > 0) then
        -- A tracked entry's user flags are its generation, and the store
        -- is the truth: there is no stale value to serve.
        error("bad opts: a tracked key takes no " .. (stale > 0 and
              "stale_ttl" or "resurrect_ttl") .. " (its entries are kept in"
              .. " step with the store, never served stale)", 3)
    end
    if stale > 0 then
        if ttl == 0 then
            error("bad opts.stale_ttl: it needs a ttl (a value that never"
                  .. " expires is never stale)", 3)
        end
        if stale > MAX_STALE_MS then
            error("bad opts.stale_ttl: at most " .. MAX_STALE_MS / 1000
                  .. " seconds (the window is kept in 31 bits of ms)", 3)
        end
        if ttl + stale > MAX_TTL_MS then
            error("bad opts: ttl + stale_ttl is too long (at most "
                  .. MAX_TTL_MS / 1000 .. " seconds)", 3)
        end
    end
    -- A lease below 1 ms would mean none at all (0: the loader keeps the
    -- load until it ends it); round it up as lru does.
    local lease_ms = lease * 1000
    if lease_ms > 0 and lease_ms < 1 then
        lease_ms = 1
    end
    return ttl, neg, stale, res, math_floor(math_min(lease_ms, MAX_TTL_MS)),
        math_floor(math_min(wt * 1000, MAX_TTL_MS)), tracked == true
end


-- tracked_ok says whether the library has tracked reads and fills
-- (libshmlru.so builds of ABI 3 before shmlru_get_tracked do not): true,
-- or nil and what to do.
local tracked_ok
local function check_tracked()
    if tracked_ok == nil then
        if not lib then
            lib = I.lib()
            if not lib then
                return nil, "no cache is open in this process: open one"
                    .. " (resty.shmlru.open) first"
            end
        end
        tracked_ok = pcall(function() return lib.shmlru_get_tracked end)
    end
    if not tracked_ok then
        return nil, "the loaded libshmlru.so has no one-call tracked read"
            .. " (shmlru_get_tracked): it predates it; build and install a"
            .. " newer one (make build, make install)"
    end
    return true
end
_M.check_tracked = check_tracked


-- get_tracked is get_or_load with opts.tracked.
local function get_tracked(h, key, ttl, neg, lease, wt, cb, ...)
    local ok, err = check_tracked()
    if not ok then
        return nil, err
    end
    local st, v = look_tracked(h, key)
    if st == FRESH then
        return v, nil, "hit"
    elseif st == ABSENT_HIT then
        return nil, nil, "hit"
    elseif st == OUT_OF_STEP then
        return direct(cb, ...)
    elseif st == nil then
        return nil, v
    end
    local o = {
        ttl = ttl, neg = neg > 0 and neg or -1, stale = 0, res = 0,
        lease = lease, wait = wt, codec = scalar, tracked = true,
        look = look_tracked,
    }
    local val, e, src = load_shared(h, key, o, false, nil, cb, ...)
    return val, e, src
end


-- get_or_load returns the value of key: from the cache if it holds a fresh
-- one, else from callback(...), run once on the whole host however many
-- callers (nginx workers, Go processes) miss the key at once.
--
--   value, err, source = cache:get_or_load(key, opts, callback, ...)
--
-- opts (all in seconds, all optional): ttl of a loaded value (0: never
-- expires), neg_ttl (remember a "not found" this long; 0: not at all),
-- stale_ttl (stale-while-revalidate: serve the value this long after ttl
-- while one caller refreshes it), resurrect_ttl (when the callback fails
-- and an expired value is at hand, serve it and keep it this long),
-- lease (how long a loader keeps the load before a waiter may take it
-- over; default 30), wait_timeout (how long to wait for another caller's
-- load; default 5).
--
-- callback returns a string, number or boolean; nil for "no value"; or
-- nil, err on failure. Its Lua errors are caught. source is "hit",
-- "loaded" (this caller ran the callback), "waited" (another caller did),
-- "stale" or "resurrected", as lru.Source. A missing value is nil, nil,
-- source; a failure nil, err (and the source when the error is the
-- callback's).
--
-- opts.tracked = true: key is kept in step with an outside store by the
-- host's tracking agent (see the top of this file), and callback reads
-- that store: it returns the store's value, a string, or nil if the store
-- has none, and it is called after the fill's guard is taken. A value is
-- kept for ttl at most (0: until invalidated or evicted), an absence for
-- neg_ttl; stale_ttl and resurrect_ttl are refused. While the cache is not
-- in step, every caller runs callback itself (source "loaded") and
-- nothing is cached. This is lru's LoadOptions.Tracked.
local function get_or_load(self, key, opts, cb, ...)
    if not lib then
        lib = I.lib()
    end
    local err
    key, err = I.check_key(key)
    if not key then
        return nil, err
    end
    if type(cb) ~= "function" then
        error("bad callback: a function expected, got " .. type(cb), 2)
    end
    local ttl, neg, stale, res, lease, wt, tracked = check_opts(opts)
    if tracked then
        return get_tracked(self.h, key, ttl, neg, lease, wt, cb, ...)
    end
    local st, v = look(self.h, key, scalar)
    if st == FRESH then
        return v, nil, "hit"
    elseif st == ABSENT_HIT then
        return nil, nil, "hit"
    elseif st == nil then
        return nil, v
    end
    local o = {
        ttl = ttl, neg = neg > 0 and neg or -1, stale = stale, res = res,
        lease = lease, wait = wt, codec = scalar,
    }
    local val, e, src = resolve(self, key, o, st, v, cb, ...)
    return val, e, src
end


-- install adds get_or_load to resty.shmlru's methods. resty.shmlru calls
-- it as it loads (this module cannot require it: it is still loading).
function _M.install(shmlru)
    I = shmlru._internal
    errstr, ttl_ms, MAX_TTL_MS = I.errstr, I.ttl_ms, I.MAX_TTL_MS
    shmlru.get_or_load = get_or_load
end


-- bind returns the library, once a cache is open (resty.shmlru.mlcache
-- calls it after opening one).
function _M.bind()
    if not lib then
        lib = I.lib()
    end
    return lib
end


return _M
