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
local ffi_load = ffi.load
local ffi_typeof = ffi.typeof
local type = type
local tostring = tostring
local tonumber = tonumber
local error = error
local pcall = pcall
local setmetatable = setmetatable
local getmetatable = getmetatable
local math_floor = math.floor
local ipairs = ipairs
local tobit = require("bit").tobit
local str_lower = string.lower
local str_match = string.match
local str_gsub = string.gsub
local str_gmatch = string.gmatch
local io_open = io.open
local os_getenv = os.getenv

local ok, new_tab = pcall(require, "table.new")
if not ok then
    new_tab = function() return {} end
end


local _M = new_tab(0, 40)
_M._VERSION = "0.1.0"

local mt = { __index = _M }


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


-- Keep in step with c/shmlru.h (c/pin_test.go compares the two).
local CDEF = [[
enum { SHMLRU_ABI_VERSION = 3 };
enum {
	SHMLRU_MAX_KEY_SIZE = 65535,
	SHMLRU_ERRBUF_SIZE  = 512
};
enum {
	SHMLRU_OK                =  0,
	SHMLRU_NOT_FOUND         = -1,
	SHMLRU_EXISTS            = -2,
	SHMLRU_NO_MEMORY         = -3,
	SHMLRU_NOT_NUMBER        = -4,
	SHMLRU_NOT_LIST          = -5,
	SHMLRU_VERSION_MISMATCH  = -6,
	SHMLRU_BUFFER_TOO_SMALL  = -7,
	SHMLRU_EMPTY_KEY         = -8,
	SHMLRU_KEY_TOO_LARGE     = -9,
	SHMLRU_VALUE_TOO_LARGE   = -10,
	SHMLRU_BAD_VALUE         = -11,
	SHMLRU_BAD_ARGUMENT      = -12,
	SHMLRU_BAD_OPTIONS       = -13,
	SHMLRU_BAD_HANDLE        = -14,
	SHMLRU_CLOSED            = -15,
	SHMLRU_NOT_REGION        = -16,
	SHMLRU_INCOMPATIBLE      = -17,
	SHMLRU_NO_SPACE          = -18,
	SHMLRU_NO_SLOT           = -19,
	SHMLRU_CORRUPT           = -20,
	SHMLRU_NOT_EXIST         = -21,
	SHMLRU_PERMISSION        = -22,
	SHMLRU_TOO_MANY_HANDLES  = -23,
	SHMLRU_SYSTEM            = -24,
	SHMLRU_INTERNAL          = -25,
	SHMLRU_FORKED            = -26,
	SHMLRU_BAD_TTL           = -27,
	SHMLRU_LOAD_LOST         = -28,
	SHMLRU_NOT_IN_STEP       = -29,
	SHMLRU_UNTRUSTED         = -30,
	SHMLRU_BUSY              = -31
};
enum {
	SHMLRU_TYPE_BYTES  = 0,
	SHMLRU_TYPE_NUMBER = 1,
	SHMLRU_TYPE_BOOL   = 2,
	SHMLRU_TYPE_LIST   = 3,
	SHMLRU_TYPE_NONE   = 4
};
enum {
	SHMLRU_MODE_SET     = 0,
	SHMLRU_MODE_ADD     = 1,
	SHMLRU_MODE_REPLACE = 2,
	SHMLRU_MODE_CAS     = 3
};
typedef uint64_t shmlru_t;
typedef struct shmlru_options {
	uint64_t size;
	uint64_t max_entries;
	uint64_t max_value_size;
	uint32_t shards;
	uint32_t reserved_block_size;
	uint32_t mode;
	uint8_t  exact;
	uint8_t  no_create;
	uint8_t  reserved[2];
} shmlru_options;
typedef struct shmlru_meta {
	uint64_t version;
	int64_t  expires_ms;
	uint32_t flags;
	uint8_t  type;
	uint8_t  stale;
	uint8_t  reserved[2];
} shmlru_meta;
typedef struct shmlru_write_opts {
	int64_t  ttl_ms;
	uint64_t version;
	uint32_t flags;
	uint8_t  type;
	uint8_t  mode;
	uint8_t  no_evict;
	uint8_t  reserved;
} shmlru_write_opts;
typedef struct shmlru_write_result {
	uint64_t version;
	uint8_t  forcible;
	uint8_t  reserved[7];
} shmlru_write_result;
typedef struct shmlru_info {
	uint64_t size;
	uint64_t shards;
	uint64_t unit_size;
	uint64_t heap_bytes_per_shard;
	uint64_t buckets_per_shard;
	uint64_t max_entries;
	uint64_t max_key;
	uint64_t max_value;
} shmlru_info;
typedef struct shmlru_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t sets;
	uint64_t deletes;
	uint64_t evictions;
	uint64_t expirations;
	uint64_t recoveries;
	uint64_t resets;
	uint64_t entries;
	uint64_t used_bytes;
	uint64_t free_bytes;
	uint64_t capacity;
} shmlru_stats;
int shmlru_abi_version(void);
const char *shmlru_version(void);
const char *shmlru_strerror(int status);
int shmlru_open(const char *path, size_t path_len, const shmlru_options *opts, shmlru_t *out, char *errbuf, size_t errbuf_len);
int shmlru_close(shmlru_t h);
int shmlru_get(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta);
int shmlru_get_stale(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta);
int shmlru_peek(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta);
int shmlru_write(shmlru_t h, const char *key, size_t key_len, const void *value, size_t value_len, const shmlru_write_opts *opts, shmlru_write_result *result);
int shmlru_delete(shmlru_t h, const char *key, size_t key_len, int *deleted);
int shmlru_incr(shmlru_t h, const char *key, size_t key_len, double delta, double *result, int has_init, double init, int64_t init_ttl_ms, int *forcible);
int shmlru_ttl(shmlru_t h, const char *key, size_t key_len, int64_t *ttl_ms);
int shmlru_expire(shmlru_t h, const char *key, size_t key_len, int64_t ttl_ms);
int shmlru_lpush(shmlru_t h, const char *key, size_t key_len, const void *item, size_t item_len, int type, size_t *length);
int shmlru_rpush(shmlru_t h, const char *key, size_t key_len, const void *item, size_t item_len, int type, size_t *length);
int shmlru_lpop(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len, size_t *item_len, int *type);
int shmlru_rpop(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len, size_t *item_len, int *type);
int shmlru_llen(shmlru_t h, const char *key, size_t key_len, size_t *length);
int shmlru_keys(shmlru_t h, size_t max_keys, void *buf, size_t buf_len, size_t *used, size_t *count);
int shmlru_flush_all(shmlru_t h);
int shmlru_flush_expired(shmlru_t h, size_t max_count, size_t *removed);
int shmlru_len(shmlru_t h, size_t *count);
int shmlru_capacity(shmlru_t h, size_t *bytes);
int shmlru_free_space(shmlru_t h, size_t *bytes);
int shmlru_stats_get(shmlru_t h, shmlru_stats *stats);
int shmlru_info_get(shmlru_t h, shmlru_info *info);
int shmlru_check(shmlru_t h, size_t *problems);
enum {
	SHMLRU_LOAD_MINE      = 1,
	SHMLRU_LOAD_WAITING   = 2,
	SHMLRU_LOAD_DONE      = 3,
	SHMLRU_LOAD_ABSENT    = 4,
	SHMLRU_LOAD_FAILED    = 5,
	SHMLRU_LOAD_ABANDONED = 6,
	SHMLRU_LOAD_MSG_SIZE  = 88,
	SHMLRU_STALE_FLAG_BIT = 31
};
typedef struct shmlru_load {
	uint64_t hash;
	uint32_t flight;
	uint32_t seq;
	int32_t  state;
	uint32_t reserved;
} shmlru_load;
int shmlru_load_begin(shmlru_t h, const char *key, size_t key_len, int64_t lease_ms, shmlru_load *load);
int shmlru_load_wait(shmlru_t h, shmlru_load *load, int64_t timeout_ms, int64_t lease_ms, char *msg, size_t msg_len, size_t *msg_used);
int shmlru_load_end(shmlru_t h, shmlru_load *load, int outcome, const char *msg, size_t msg_len);
int shmlru_load_store(shmlru_t h, const shmlru_load *load, const char *key, size_t key_len, const void *value, size_t value_len, const shmlru_write_opts *opts, shmlru_write_result *result);
int shmlru_changes(shmlru_t h, const char *key, size_t key_len, uint64_t *clock);
typedef struct shmlru_guard {
	uint32_t gen;
	uint32_t slot;
	uint32_t count;
} shmlru_guard;
int shmlru_get_tracked(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta);
int shmlru_tracked_gen(shmlru_t h, uint32_t *gen);
int shmlru_fill_begin(shmlru_t h, const char *key, size_t key_len, shmlru_guard *guard);
int shmlru_fill_store(shmlru_t h, const char *key, size_t key_len, const void *value, size_t value_len, int absent, int64_t ttl_ms, const shmlru_guard *guard, int *stored);
]]

-- Declare once per Lua VM, even if the module is loaded again.
if not pcall(ffi_typeof, "shmlru_meta") then
    ffi.cdef(CDEF)
end
_M._CDEF = CDEF


-- Status codes (as in c/shmlru.h).
local OK = 0
local NOT_FOUND = -1
local BUFFER_TOO_SMALL = -7
local FORKED = -26

local ABI_VERSION = 3
local TYPE_BYTES, TYPE_NUMBER, TYPE_BOOL, TYPE_NONE = 0, 1, 2, 4
local MODE_SET, MODE_ADD, MODE_REPLACE, MODE_CAS = 0, 1, 2, 3

-- Error strings by status code: ngx.shared.DICT's where it has one.
local errors = {
    [-1] = "not found",
    [-2] = "exists",
    [-3] = "no memory",
    [-4] = "not a number",
    [-5] = "value not a list",
    [-6] = "version mismatch",
    [-7] = "buffer too small",
    [-8] = "empty key",
    [-9] = "key too long",
    [-10] = "value too large",
    [-11] = "bad value type",
    [-12] = "bad argument",
    [-13] = "bad options",
    [-14] = "bad handle",
    [-15] = "closed",
    [-16] = "not a shmlru region",
    [-17] = "incompatible region",
    [-18] = "no space",
    [-19] = "no process slot",
    [-20] = "corrupt",
    [-21] = "no such region",
    [-22] = "permission denied",
    [-23] = "too many handles",
    [-24] = "system error",
    [-25] = "internal error",
    [-26] = "forked",
    [-27] = "bad ttl",
    [-28] = "load lost",
    [-29] = "not in step",
    [-30] = "untrusted region",
    [-31] = "region busy",
}
_M.errors = errors

local FORKED_MSG = "libshmlru.so was loaded by another process (this one was"
    .. " forked after loading it): the Go runtime does not survive fork;"
    .. " open caches in the worker (init_worker_by_lua* or later)"

local function errstr(rc)
    if rc == FORKED then
        return FORKED_MSG
    end
    return errors[rc] or ("shmlru status " .. tostring(rc))
end


-- The library, loaded by the first open in this process.
local lib
local lib_path

-- Per-module scratch, reused by every call (an nginx worker runs one Lua
-- call at a time; ffi calls do not yield).
local buf_size = 4096
local buf = ffi_new("unsigned char[?]", buf_size)
local size_out = ffi_new("size_t[1]")
local size_out2 = ffi_new("size_t[1]")
local int_out = ffi_new("int[1]")
local i64_out = ffi_new("int64_t[1]")
local num_in = ffi_new("double[1]")
local flags_in = ffi_new("int[1]")
local num_out = ffi_new("double[1]")
local meta = ffi_new("shmlru_meta")
local wopts = ffi_new("shmlru_write_opts")
local wres = ffi_new("shmlru_write_result")
local double_ptr = ffi_typeof("double *")
local u16_ptr = ffi_typeof("uint16_t *")


local function grow(need)
    local n = buf_size
    while n < need do
        n = n * 2
    end
    buf = ffi_new("unsigned char[?]", n)
    buf_size = n
end


-- The library that `make install` installed along with this module: the
-- path of its soname in the install's libdir. The installed copy of this
-- file has it written in (mk/install.mk); here, in the source tree, nil.
local installed_lib = nil

-- The library's soname, for the system's dynamic loader: it names the ABI
-- version this module speaks.
local SONAME = "libshmlru.so." .. ABI_VERSION
local SYSTEM = "the system's library path"

local function file_exists(p)
    local f = io_open(p, "rb")
    if f then
        f:close()
        return true
    end
    return false
end


-- find_lib returns the library to load, and where it was found:
-- $SHMLRU_LIB; else the library installed with this module; else the first
-- libshmlru.so on package.cpath; else the soname, for the system's loader
-- to look up (ld.so.cache, LD_LIBRARY_PATH).
local function find_lib()
    local p = os_getenv("SHMLRU_LIB")
    if p and p ~= "" then
        return p, "$SHMLRU_LIB"
    end
    if installed_lib and file_exists(installed_lib) then
        return installed_lib, "the install's libdir"
    end
    for tpl in str_gmatch(package.cpath, "[^;]+") do
        local cand = str_gsub(tpl, "%?", "libshmlru")
        if file_exists(cand) then
            return cand, "package.cpath"
        end
    end
    return SONAME, SYSTEM
end


local function load_lib(path)
    if lib then
        return lib
    end
    local from = "opts.lib"
    if not path then
        path, from = find_lib()
    end
    local ok, l = pcall(ffi_load, path)
    if not ok then
        if from == SYSTEM then
            return nil, "libshmlru.so not found: install shmlru (make install,"
                .. " and ldconfig for a system libdir), pass opts.lib, set"
                .. " SHMLRU_LIB, or put libshmlru.so on package.cpath ("
                .. package.cpath .. "); loading " .. SONAME .. " from "
                .. SYSTEM .. " failed: " .. tostring(l)
        end
        return nil, "failed to load " .. path .. " (from " .. from .. "): "
            .. tostring(l)
    end
    local v = l.shmlru_abi_version()
    if v ~= ABI_VERSION then
        return nil, path .. " implements ABI version " .. v .. ", this module "
            .. ABI_VERSION
    end
    lib, lib_path = l, path
    return l
end


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

    local l, err = load_lib(opts.lib)
    if not l then
        return nil, err
    end
    local out = ffi_new("shmlru_t[1]")
    local eb = ffi_new("char[512]")
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
function _M.lib_path()
    return lib_path
end


local function check_key(key)
    if key == nil then
        return nil, "nil key"
    end
    if type(key) ~= "string" then
        key = tostring(key)
    end
    local n = #key
    if n == 0 then
        return nil, "empty key"
    end
    if n > 65535 then
        return nil, "key too long"
    end
    return key
end


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


-- MAX_TTL_MS is the longest TTL the library takes, in ms: a Go
-- time.Duration holds up to 2^63 - 1 ns, about 292 years.
local MAX_TTL_MS = 9223372036854

-- ttl_ms converts a TTL in seconds to the library's whole milliseconds the
-- way ngx.shared.DICT does: resty.core passes exptime * 1000 to a C long,
-- which truncates (0.0005 s is 0 ms: no expiry; 1.9 ms is 1 ms) and is
-- negative for NaN and out-of-range values, and only a positive long
-- expires. A TTL beyond the library's limit is cut to it. exptime is
-- named as in resty.core, whose arithmetic errors name it.
local function ttl_ms(exptime)
    local ms = exptime * 1000
    if ms >= 1 and ms < 2 ^ 63 then
        if ms >= MAX_TTL_MS then
            return MAX_TTL_MS
        end
        return math_floor(ms)
    end
    return 0
end


-- decode turns the value in buf (as meta describes it) into a Lua value:
-- nil and no error for a cached absence (SHMLRU_TYPE_NONE, written by a
-- read-through load that found nothing), which every reader treats as no
-- entry at all.
local function decode(n)
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


-- read runs a get-like call, growing the buffer while it is too small.
local function read(fn, h, key)
    local rc = fn(h, key, #key, buf, buf_size, size_out, meta)
    while rc == BUFFER_TOO_SMALL do
        grow(tonumber(size_out[0]))
        rc = fn(h, key, #key, buf, buf_size, size_out, meta)
    end
    return rc
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
    local rc = lib.shmlru_get(self.h, key, #key, buf, buf_size, size_out, meta)
    if rc ~= OK then
        if rc == NOT_FOUND then
            return nil
        end
        if rc ~= BUFFER_TOO_SMALL then
            return nil, errstr(rc)
        end
        rc = read(lib.shmlru_get, self.h, key)
        if rc ~= OK then
            if rc == NOT_FOUND then
                return nil
            end
            return nil, errstr(rc)
        end
    end
    local val, err = decode(size_out[0])
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
    local rc = read(lib.shmlru_get_stale, self.h, key)
    if rc ~= OK then
        if rc == NOT_FOUND then
            return nil
        end
        return nil, errstr(rc)
    end
    local val
    val, err = decode(size_out[0])
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
    local rc = read(lib.shmlru_get, self.h, key)
    if rc ~= OK then
        return false, errstr(rc)
    end
    local cur
    cur, err = decode(size_out[0])
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


local function pop(self, fn, method, key)
    local err
    key, err = check_list_key(key, method)
    if not key then
        return nil, err
    end
    local rc = fn(self.h, key, #key, buf, buf_size, size_out, int_out)
    while rc == BUFFER_TOO_SMALL do
        grow(tonumber(size_out[0]))
        rc = fn(self.h, key, #key, buf, buf_size, size_out, int_out)
    end
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


-- get_keys returns up to max_count keys of live entries (default 1024,
-- 0 = all).
function _M.get_keys(self, max_count)
    check_self(self)
    if max_count == nil then
        max_count = 1024
    end
    local h = self.h
    local rc = lib.shmlru_keys(h, max_count, buf, buf_size, size_out, size_out2)
    while rc == BUFFER_TOO_SMALL do
        grow(tonumber(size_out[0]))
        rc = lib.shmlru_keys(h, max_count, buf, buf_size, size_out, size_out2)
    end
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


-- What resty.shmlru.load (get_or_load) and resty.shmlru.mlcache share with
-- this module: the library once open loaded it, and the conversions and
-- checks every method uses. Not an API.
_M._internal = {
    lib = function() return lib end,
    errstr = errstr,
    check_key = check_key,
    ttl_ms = ttl_ms,
    MAX_TTL_MS = MAX_TTL_MS,
}

-- get_or_load, the read-through: see resty/shmlru/load.lua.
require("resty.shmlru.load").install(_M)

return _M
