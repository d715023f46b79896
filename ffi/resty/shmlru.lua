-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru: the LuaJIT binding of shmlru, a shared-memory LRU cache that
-- nginx workers share with each other and with Go processes.
--
--   local shmlru = require "resty.shmlru"
--   local cache, err = shmlru.open("my-cache", { size = "64m" })
--   cache:set("k", "v", 60)             -- the ngx.shared.DICT methods
--   local v, flags = cache:get("k")
--
-- libshmlru.so is loaded lazily, by the first shmlru.open in a process: it
-- embeds the Go runtime, which does not survive fork(), so it must never be
-- loaded in nginx's master (open caches in init_worker_by_lua* or later).

local ffi = require "ffi"

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_cast = ffi.cast
local ffi_typeof = ffi.typeof
local type = type
local tostring = tostring
local tonumber = tonumber
local error = error
local pcall = pcall
local setmetatable = setmetatable
local getmetatable = getmetatable
local math_floor = math.floor
local math_min = math.min
local ipairs = ipairs
local tobit = require("bit").tobit
local str_lower = string.lower
local str_match = string.match

local ok, new_tab = pcall(require, "table.new")
if not ok then
    new_tab = function() return {} end
end


local _M = new_tab(0, 40)
_M._VERSION = "0.1.0"

local mt = { __index = _M }


local base = require "resty.shmlru.base"


-- BAD_SELF is what every method raises for a self that is not a cache
-- (a method called with a dot, cache.get(key), or on another table), with
-- ngx.shared.DICT's words: resty.core's check_zone raises it at the
-- method's caller, and so do these (level 2 in a method, 3 in check_self).
local BAD_SELF = 'bad "zone" argument'

local function check_self(self)
    if getmetatable(self) ~= mt then
        error(BAD_SELF, 3)
    end
end

-- Status codes (c/status.go, through resty.shmlru.base).
local OK = base.OK
local NOT_FOUND = base.NOT_FOUND
local FORKED = base.FORKED
local FORKED_MSG = base.FORKED_MSG
local errstr = base.errstr
local with_buf = base.with_buf
local check_key = base.check_key
local ttl_ms = base.ttl_ms

_M._CDEF = base.CDEF
_M.errors = base.errors

local C = ffi.C
local TYPE_BYTES, TYPE_NUMBER, TYPE_BOOL, TYPE_NONE =
    C.SHMLRU_TYPE_BYTES, C.SHMLRU_TYPE_NUMBER, C.SHMLRU_TYPE_BOOL, C.SHMLRU_TYPE_NONE
local MODE_SET, MODE_ADD, MODE_REPLACE, MODE_CAS =
    C.SHMLRU_MODE_SET, C.SHMLRU_MODE_ADD, C.SHMLRU_MODE_REPLACE, C.SHMLRU_MODE_CAS

-- The library, once the first open loaded it (resty.shmlru.base).
local lib

-- Scratch for the calls' small outputs; values are read into
-- resty.shmlru.base's buffer.
local size_out = base.size_out
local size_out2 = ffi_new("size_t[1]")
local int_out = ffi_new("int[1]")
local i64_out = ffi_new("int64_t[1]")
local num_in = ffi_new("double[1]")
local flags_in = ffi_new("int[1]")
local num_out = ffi_new("double[1]")
local meta = base.meta
local wopts = ffi_new("shmlru_write_opts")
local wres = ffi_new("shmlru_write_result")
local double_ptr = ffi_typeof("double *")
local u16_ptr = ffi_typeof("uint16_t *")


-- parse_size reads a size as lua_shared_dict does: a number of bytes or a
-- string with an optional k, m or g suffix ("64m").
local function parse_size(s)
    if type(s) == "number" then
        if s >= 0 and s == math_floor(s) then
            return s
        end
        return nil
    end
    if type(s) ~= "string" then
        return nil
    end
    local n, unit = str_match(str_lower(s), "^%s*(%d+)%s*([kmg]?)%s*$")
    n = tonumber(n)
    if not n then
        return nil
    end
    if unit == "k" then
        n = n * 1024
    elseif unit == "m" then
        n = n * 1024 * 1024
    elseif unit == "g" then
        n = n * 1024 * 1024 * 1024
    end
    return n
end
_M.parse_size = parse_size


local function get_phase()
    local ngx = ngx
    if ngx and ngx.get_phase then
        return ngx.get_phase()
    end
    return nil
end


-- open returns a cache on the region at path (a name without a slash is a
-- file under /dev/shm), creating it if needed, or nil and an error.
--
-- opts: size (bytes, or "64m"), mode (a number like 432 or a string like
-- "0660": the new file's permission and whom an existing file may be
-- shared with; "0600", "0660" or "0666", see the README's "Sharing a region
-- with other users"), lib (path of libshmlru.so), shards, max_entries,
-- max_value_size, exact, no_create. (block_size is gone since cache layout
-- 3, whose entries take as many 16-byte units as they need: giving it is
-- an error rather than a setting silently ignored.)
function _M.open(path, opts)
    if type(path) ~= "string" or path == "" then
        return nil, "bad path: a non-empty string expected"
    end
    if get_phase() == "init" then
        return nil, "shmlru.open cannot run in the init phase (nginx's master"
            .. " process: the Go runtime does not survive the fork of the"
            .. " workers); open the cache in init_worker_by_lua* or later"
    end
    opts = opts or {}
    if type(opts) ~= "table" then
        return nil, "bad opts: a table expected"
    end
    local o = ffi_new("shmlru_options")
    if opts.size ~= nil then
        local size = parse_size(opts.size)
        if not size then
            return nil, "bad size: " .. tostring(opts.size)
                .. " (bytes, or a number with a k, m or g suffix)"
        end
        o.size = size
    end
    local mode = opts.mode
    if type(mode) == "string" then
        mode = tonumber(mode, 8)
    end
    if opts.mode ~= nil and (type(mode) ~= "number" or mode < 0) then
        return nil, "bad mode: " .. tostring(opts.mode)
            .. " (a permission, e.g. \"0660\")"
    end
    o.mode = mode or 0
    if opts.block_size ~= nil then
        return nil, "bad block_size: the option is gone since cache layout 3"
            .. " (entries take as many 16-byte units as they need); remove it"
    end
    for _, f in ipairs({ "shards", "max_entries", "max_value_size" }) do
        local v = opts[f]
        if v ~= nil then
            if type(v) ~= "number" or v < 0 then
                return nil, "bad " .. f .. ": a non-negative number expected"
            end
            o[f] = v
        end
    end
    o.exact = opts.exact and 1 or 0
    o.no_create = opts.no_create and 1 or 0

    local l, err = base.load_lib(opts.lib)
    if not l then
        return nil, err
    end
    local out = ffi_new("shmlru_t[1]")
    local eb = ffi_new("char[512]")
    lib = l
    local rc = l.shmlru_open(path, #path, o, out, eb, 512)
    if rc ~= OK then
        if rc == FORKED then
            return nil, FORKED_MSG
        end
        return nil, ffi_str(eb)
    end
    return setmetatable({ h = tonumber(out[0]), path = path }, mt)
end


-- The library that open loaded, or nil.
_M.lib_path = base.lib_path


-- check_list_key checks the key of a list method (lpush, rpush, lpop, rpop,
-- llen). These are C functions in lua-nginx-module, which take the key with
-- luaL_checklstring: a number becomes a string, as with check_key, but a
-- boolean, table or other non-string raises rather than going through
-- tostring. level 3 is the method's caller (through push or pop, which the
-- methods tail-call).
local function check_list_key(key, method)
    local t = type(key)
    if t ~= "string" and t ~= "number" and key ~= nil then
        error("bad argument #1 to '" .. method .. "' (string expected, got "
              .. t .. ")", 3)
    end
    return check_key(key)
end


-- decode turns the value in buf (as meta describes it) into a Lua value:
-- nil and no error for a cached absence (SHMLRU_TYPE_NONE, written by a
-- read-through load that found nothing), which every reader treats as no
-- entry at all.
local function decode(buf, n)
    local t = meta.type
    if t == TYPE_BYTES then
        return ffi_str(buf, n)
    elseif t == TYPE_NUMBER then
        return tonumber(ffi_cast(double_ptr, buf)[0])
    elseif t == TYPE_BOOL then
        return buf[0] ~= 0
    elseif t == TYPE_NONE then
        return nil
    end
    return nil, "value is a list"
end


-- The get-like calls, for with_buf.
local function get_call(buf, size, h, key)
    return lib.shmlru_get(h, key, #key, buf, size, size_out, meta)
end
local function get_stale_call(buf, size, h, key)
    return lib.shmlru_get_stale(h, key, #key, buf, size, size_out, meta)
end


-- get returns the value and, when non-zero, its user flags; nil if there
-- is no live entry; nil and an error on failure.
function _M.get(self, key)
    if getmetatable(self) ~= mt then -- check_self, inline on the hot path
        error(BAD_SELF, 2)
    end
    if type(key) ~= "string" or key == "" then
        local err
        key, err = check_key(key)
        if not key then
            return nil, err
        end
    end
    local rc, buf = with_buf(get_call, self.h, key)
    if rc ~= OK then
        if rc == NOT_FOUND then
            return nil
        end
        return nil, errstr(rc)
    end
    local val, err = decode(buf, size_out[0])
    if val == nil then
        if err then
            return nil, err
        end
        return nil -- a cached absence is no entry
    end
    -- signed, as the dict's C int (see store)
    local flags = tobit(meta.flags)
    if flags ~= 0 then
        return val, flags
    end
    return val
end


-- get_stale is get that also returns expired entries not yet removed:
-- value, flags (or nil), stale.
function _M.get_stale(self, key)
    check_self(self)
    local err
    key, err = check_key(key)
    if not key then
        return nil, err
    end
    local rc, buf = with_buf(get_stale_call, self.h, key)
    if rc ~= OK then
        if rc == NOT_FOUND then
            return nil
        end
        return nil, errstr(rc)
    end
    local val
    val, err = decode(buf, size_out[0])
    if val == nil then
        if err then
            return nil, err
        end
        return nil -- a cached absence, live or expired, is no entry
    end
    -- signed, as the dict's C int (see store)
    local flags = tobit(meta.flags)
    return val, flags ~= 0 and flags or nil, meta.stale == 1
end


local function store(self, key, value, exptime, flags, mode, no_evict, version)
    if not exptime then
        exptime = 0
    elseif exptime < 0 then
        error('bad "exptime" argument', 3)
    end
    if not flags then
        flags = 0
    end
    local err
    key, err = check_key(key)
    if not key then
        return nil, err
    end
    local p, n, t
    local vt = type(value)
    if vt == "string" then
        p, n, t = value, #value, TYPE_BYTES
    elseif vt == "number" then
        num_in[0] = value
        p, n, t = num_in, 8, TYPE_NUMBER
    elseif vt == "boolean" then
        p, n, t = value and "\1" or "\0", 1, TYPE_BOOL
    elseif value ~= nil then
        return nil, "bad value type"
    end
    -- The dict's flags are a C int: LuaJIT converts the number as it does
    -- for resty.core's call (truncating; raising for a non-number), and the
    -- int's 32 bits are what is stored.
    flags_in[0] = flags
    if value == nil then
        -- nil deletes, as in ngx.shared.DICT, where add and replace (and
        -- safe_add) refuse it before looking at the key.
        if mode ~= MODE_SET then
            return false, "attempt to add or replace nil values", false
        end
        local rc = lib.shmlru_delete(self.h, key, #key, nil)
        if rc ~= OK then
            return false, errstr(rc), false
        end
        return true, nil, false
    end
    wopts.ttl_ms = ttl_ms(exptime)
    wopts.version = version or 0
    wopts.flags = flags_in[0]
    wopts.type = t
    wopts.mode = mode
    wopts.no_evict = no_evict
    local rc = lib.shmlru_write(self.h, key, #key, p, n, wopts, wres)
    if rc == OK then
        return true, nil, wres.forcible == 1
    end
    return false, errstr(rc), false
end


-- set stores value (a string, number, boolean, or nil to delete) with an
-- expiry in seconds (0 = never; whole ms, see ttl_ms) and user flags (see
-- store): ok, err, forcible.
function _M.set(self, key, value, exptime, flags)
    check_self(self)
    return store(self, key, value, exptime, flags, MODE_SET, 0)
end

-- safe_set is set that fails with "no memory" rather than evict live
-- entries.
function _M.safe_set(self, key, value, exptime, flags)
    check_self(self)
    return store(self, key, value, exptime, flags, MODE_SET, 1)
end

-- add is set only if there is no live entry: false, "exists" if there is.
function _M.add(self, key, value, exptime, flags)
    check_self(self)
    return store(self, key, value, exptime, flags, MODE_ADD, 0)
end

-- safe_add is add that fails with "no memory" rather than evict.
function _M.safe_add(self, key, value, exptime, flags)
    check_self(self)
    return store(self, key, value, exptime, flags, MODE_ADD, 1)
end

-- replace is set only over a live entry: false, "not found" if none.
function _M.replace(self, key, value, exptime, flags)
    check_self(self)
    return store(self, key, value, exptime, flags, MODE_REPLACE, 0)
end


-- cas replaces the live value at key with new_value only if it still
-- equals old_value, atomically (the entry's version is checked by the
-- write): true, or false and "not found" or "version mismatch".
function _M.cas(self, key, old_value, new_value, exptime, flags)
    check_self(self)
    local err
    key, err = check_key(key)
    if not key then
        return nil, err
    end
    if new_value == nil then
        return nil, "bad value type"
    end
    local rc, buf = with_buf(get_call, self.h, key)
    if rc ~= OK then
        return false, errstr(rc)
    end
    local cur
    cur, err = decode(buf, size_out[0])
    if cur == nil then
        return false, err or "not found" -- a cached absence is no entry
    end
    if cur ~= old_value then
        return false, "version mismatch"
    end
    -- The write succeeds only if nothing was written since the read.
    return store(self, key, new_value, exptime, flags, MODE_CAS, 0,
                 meta.version)
end


-- delete removes the entry at key: true, nil, false. As in ngx.shared.DICT
-- it is set(key, nil), so it returns what set returns.
function _M.delete(self, key)
    check_self(self)
    return store(self, key, nil, 0, 0, MODE_SET, 0)
end


-- incr adds value to the number at key: newval; with init, a missing entry
-- starts at init (expiring after init_ttl seconds): newval, nil, forcible.
function _M.incr(self, key, value, init, init_ttl)
    check_self(self)
    local err
    key, err = check_key(key)
    if not key then
        return nil, err
    end
    if type(value) ~= "number" then
        value = tonumber(value)
    end
    -- As in resty.core, a value that is not a number fails in LuaJIT's
    -- conversion, which raises "cannot convert 'nil' to 'double'".
    num_in[0] = value
    if init then
        local typ = type(init)
        if typ ~= "number" then
            init = tonumber(init)
            if not init then
                error("bad init arg: number expected, got " .. typ, 2)
            end
        end
    end
    if init_ttl ~= nil then
        local typ = type(init_ttl)
        if typ ~= "number" then
            init_ttl = tonumber(init_ttl)
            if not init_ttl then
                error("bad init_ttl arg: number expected, got " .. typ, 2)
            end
        end
        if init_ttl < 0 then
            error('bad "init_ttl" argument', 2)
        end
        if not init then
            error('must provide "init" when providing "init_ttl"', 2)
        end
    else
        init_ttl = 0
    end
    local rc = lib.shmlru_incr(self.h, key, #key, value, num_out,
                               init and 1 or 0, init or 0,
                               ttl_ms(init_ttl),
                               int_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    if not init then
        return tonumber(num_out[0])
    end
    return tonumber(num_out[0]), nil, int_out[0] == 1
end


local function push(self, fn, method, key, value)
    local err
    key, err = check_list_key(key, method)
    if not key then
        return nil, err
    end
    local p, n, t
    local vt = type(value)
    if vt == "string" then
        p, n, t = value, #value, TYPE_BYTES
    elseif vt == "number" then
        num_in[0] = value
        p, n, t = num_in, 8, TYPE_NUMBER
    else
        return nil, "bad value type"
    end
    local rc = fn(self.h, key, #key, p, n, t, size_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(size_out[0])
end

-- lpush inserts value (a string or number) at the head of the list at key:
-- the list's new length.
function _M.lpush(self, key, value)
    check_self(self)
    return push(self, lib.shmlru_lpush, "lpush", key, value)
end

-- rpush inserts value at the tail of the list at key.
function _M.rpush(self, key, value)
    check_self(self)
    return push(self, lib.shmlru_rpush, "rpush", key, value)
end


local function pop_call(buf, size, fn, h, key)
    return fn(h, key, #key, buf, size, size_out, int_out)
end

local function pop(self, fn, method, key)
    local err
    key, err = check_list_key(key, method)
    if not key then
        return nil, err
    end
    local rc, buf = with_buf(pop_call, fn, self.h, key)
    if rc ~= OK then
        if rc == NOT_FOUND then
            return nil
        end
        return nil, errstr(rc)
    end
    if int_out[0] == TYPE_NUMBER then
        return tonumber(ffi_cast(double_ptr, buf)[0])
    end
    return ffi_str(buf, size_out[0])
end

-- lpop removes and returns the item at the head of the list at key; nil if
-- there is none.
function _M.lpop(self, key)
    check_self(self)
    return pop(self, lib.shmlru_lpop, "lpop", key)
end

-- rpop removes and returns the item at the tail of the list at key.
function _M.rpop(self, key)
    check_self(self)
    return pop(self, lib.shmlru_rpop, "rpop", key)
end


-- llen returns the length of the list at key (0 if there is none).
function _M.llen(self, key)
    check_self(self)
    local err
    key, err = check_list_key(key, "llen")
    if not key then
        return nil, err
    end
    local rc = lib.shmlru_llen(self.h, key, #key, size_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(size_out[0])
end


-- ttl returns the seconds left before the entry at key expires (0 =
-- never; negative for an entry that has expired and is still stored, as
-- from the dict), or nil, "not found".
function _M.ttl(self, key)
    check_self(self)
    local err
    key, err = check_key(key)
    if not key then
        return nil, err
    end
    local rc = lib.shmlru_ttl(self.h, key, #key, i64_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(i64_out[0]) / 1000
end


-- expire sets a new expiry in seconds (0 or less = never) on the live
-- entry at key: true, or nil, "not found".
function _M.expire(self, key, exptime)
    check_self(self)
    if not exptime then
        error('bad "exptime" argument', 2)
    end
    local err
    key, err = check_key(key)
    if not key then
        return nil, err
    end
    -- A numeric string is a number, as in resty.core. A negative exptime
    -- raises as it does in set: resty.core's expire checks no sign and
    -- makes such an entry never expire, but a negative TTL is refused
    -- everywhere in shmlru (Go, C, shmctl), so it means one thing only.
    if tonumber(exptime) and tonumber(exptime) < 0 then
        error('bad "exptime" argument', 2)
    end
    local rc = lib.shmlru_expire(self.h, key, #key, ttl_ms(exptime))
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return true
end


-- flush_all removes every entry.
function _M.flush_all(self)
    check_self(self)
    local rc = lib.shmlru_flush_all(self.h)
    if rc ~= OK then
        return nil, errstr(rc)
    end
end


-- flush_expired removes up to max_count expired entries (0 or nil = all)
-- and returns how many it removed.
function _M.flush_expired(self, max_count)
    check_self(self)
    local rc = lib.shmlru_flush_expired(self.h, max_count or 0, size_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(size_out[0])
end


local function keys_call(buf, size, h, max_count)
    return lib.shmlru_keys(h, max_count, buf, size, size_out, size_out2)
end

-- get_keys returns up to max_count keys of live entries (default 1024,
-- 0 = all).
function _M.get_keys(self, max_count)
    check_self(self)
    if max_count == nil then
        max_count = 1024
    end
    local h = self.h
    local rc, buf = with_buf(keys_call, h, max_count)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    local count = tonumber(size_out2[0])
    local used = tonumber(size_out[0])
    local keys = new_tab(count, 0)
    local off = 0
    for i = 1, count do
        local n = ffi_cast(u16_ptr, buf + off)[0]
        keys[i] = ffi_str(buf + off + 2, n)
        off = off + 2 + n
    end
    if off ~= used then
        return nil, "internal error: bad key list"
    end
    return keys
end


-- capacity returns the size of the region in bytes.
function _M.capacity(self)
    check_self(self)
    local rc = lib.shmlru_capacity(self.h, size_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(size_out[0])
end


-- free_space returns the bytes of value storage not in use.
function _M.free_space(self)
    check_self(self)
    local rc = lib.shmlru_free_space(self.h, size_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(size_out[0])
end


local STAT_FIELDS = { "hits", "misses", "sets", "deletes", "evictions",
                      "expirations", "recoveries", "resets", "entries",
                      "used_bytes", "free_bytes", "capacity" }

-- stats returns the cache's counters and fill, shared by every process.
function _M.stats(self)
    check_self(self)
    local st = ffi_new("shmlru_stats")
    local rc = lib.shmlru_stats_get(self.h, st)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    local t = new_tab(0, #STAT_FIELDS)
    for _, f in ipairs(STAT_FIELDS) do
        t[f] = tonumber(st[f])
    end
    return t
end


local INFO_FIELDS = { "size", "shards", "unit_size", "heap_bytes_per_shard",
                      "buckets_per_shard", "max_entries", "max_key",
                      "max_value" }

-- info returns the cache's layout and limits.
function _M.info(self)
    check_self(self)
    local inf = ffi_new("shmlru_info")
    local rc = lib.shmlru_info_get(self.h, inf)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    local t = new_tab(0, #INFO_FIELDS)
    for _, f in ipairs(INFO_FIELDS) do
        t[f] = tonumber(inf[f])
    end
    return t
end


-- close releases the cache in this process; later calls fail with
-- "closed". The region stays for other processes.
function _M.close(self)
    check_self(self)
    local rc = lib.shmlru_close(self.h)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return true
end


-- The read-through (resty.shmlru.load): get_or_load marshals its
-- arguments here, as every method does.
local load = require "resty.shmlru.load"
local look = load.look
local MAX_TTL_MS = base.MAX_TTL_MS


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


-- check_opts reads get_or_load's opts (seconds) as load.options takes
-- them (ms), raising at get_or_load's caller on bad ones: their types
-- here, the rest by the library's rules (shmlru_load_check). It allocates
-- nothing.
local function check_opts(opts)
    if opts == nil then
        return 0, -1, 0, 0, C.SHMLRU_DEFAULT_LEASE_MS, 5000, false
    elseif type(opts) ~= "table" then
        error("bad opts: a table (or nil) expected, got " .. type(opts), 3)
    end
    local tracked = opts.tracked
    if tracked ~= nil and type(tracked) ~= "boolean" then
        error("bad opts.tracked: a boolean expected, got " .. type(tracked), 3)
    end
    local ttl = ttl_ms(seconds(opts, "ttl", 0, 4))
    local neg = ttl_ms(seconds(opts, "neg_ttl", 0, 4))
    neg = neg > 0 and neg or -1 -- 0: remember none
    local stale = ttl_ms(seconds(opts, "stale_ttl", 0, 4))
    local res = ttl_ms(seconds(opts, "resurrect_ttl", 0, 4))
    -- A lease below 1 ms would mean none at all (0: the loader keeps the
    -- load until it ends it); round it up as lru does.
    local lease = seconds(opts, "lease", C.SHMLRU_DEFAULT_LEASE_MS / 1000, 4) * 1000
    if lease > 0 and lease < 1 then
        lease = 1
    end
    local wait = seconds(opts, "wait_timeout", 5, 4) * 1000
    local ok, err = load.check(ttl, neg, stale, res, tracked == true)
    if not ok then
        error("bad opts: " .. err, 3)
    end
    return ttl, neg, stale, res, math_floor(math_min(lease, MAX_TTL_MS)),
        math_floor(math_min(wait, MAX_TTL_MS)), tracked == true
end


-- get_or_load returns the value of key: from the cache if it holds a fresh
-- one, else from callback(...), run once on the whole host however many
-- callers (nginx workers, Go processes) miss the key at once:
--
--   value, err, source = cache:get_or_load(key, opts, callback, ...)
--
-- opts (seconds): ttl, neg_ttl, stale_ttl, resurrect_ttl, lease,
-- wait_timeout, and tracked (a key kept in step with an outside store by
-- the host's tracking agent). ffi/README.md describes them, the callback's
-- answers and the sources ("hit", "loaded", "waited", "stale",
-- "resurrected", as lru.Source).
function _M.get_or_load(self, key, opts, cb, ...)
    check_self(self)
    local ok, err = load.check_tracked()
    if not ok then
        return nil, err
    end
    key, err = check_key(key)
    if not key then
        return nil, err
    end
    if type(cb) ~= "function" then
        error("bad callback: a function expected, got " .. type(cb), 2)
    end
    local ttl, neg, stale, res, lease, wait, tracked = check_opts(opts)
    local st, v = look(self.h, key, tracked)
    if st == load.FRESH then
        return v, nil, "hit"
    elseif st == load.ABSENT then
        return nil, nil, "hit"
    elseif st == load.RESURRECTED then
        return v, nil, "resurrected"
    elseif st == load.OUT_OF_STEP then
        return load.direct(cb, ...)
    elseif st == nil then
        return nil, v
    end
    local o = load.options(ttl, neg, stale, res, lease, wait, tracked)
    local val, e, src = load.resolve(self, key, o, st, v, cb, ...)
    return val, e, src
end



return _M
