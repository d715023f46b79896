-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.base: what every module of resty.shmlru shares, as
-- lua-resty-core's resty.core.base: the C declarations of libshmlru.so, the
-- library itself once loaded, its status codes and their error strings,
-- the scratch buffer calls read values into (with the retry while it is too
-- small), and the conversions every method makes. Not an API.
--
-- libshmlru.so is loaded lazily, by the first resty.shmlru.open in a
-- process: it embeds the Go runtime, which does not survive fork(), so it
-- must never be loaded in nginx's master.

local ffi = require "ffi"

local ffi_new = ffi.new
local ffi_load = ffi.load
local ffi_typeof = ffi.typeof
local ffi_str = ffi.string
local ffi_cast = ffi.cast
local C = ffi.C
local type = type
local tostring = tostring
local tonumber = tonumber
local pcall = pcall
local math_floor = math.floor
local str_gsub = string.gsub
local str_gmatch = string.gmatch
local io_open = io.open
local os_getenv = os.getenv


local _M = {}


-- The declarations of c/shmlru.h. c/pin_test.go holds them to the header
-- and to Go's tables: every constant, status code, struct layout and
-- prototype, and the error strings below.
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
	SHMLRU_STALE_FLAG_BIT = 31,
	SHMLRU_RESURRECT_FLAG_BIT = 29
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
int shmlru_l1_stamp(shmlru_t h, const char *key, size_t key_len, uint32_t *stripe, uint64_t *stamp);
int shmlru_l1_valid(shmlru_t h, uint32_t stripe, uint64_t stamp);
int shmlru_l1_current(shmlru_t h, const uint64_t *cursors, size_t ncursors, uint32_t stripe);
int shmlru_l1_heads(shmlru_t h, const volatile uint64_t **heads, size_t nheads, uint32_t *shift);
int shmlru_l1_changes(shmlru_t h, uint64_t *cursors, size_t ncursors, uint32_t *out, size_t out_len, size_t *n,
                      int *lapped);
typedef struct shmlru_guard {
	uint32_t gen;
	uint32_t slot;
	uint32_t count;
} shmlru_guard;
int shmlru_get_tracked(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta);
int shmlru_tracked_gen(shmlru_t h, uint32_t *gen);
int shmlru_fill_begin(shmlru_t h, const char *key, size_t key_len, shmlru_guard *guard);
int shmlru_fill_store(shmlru_t h, const char *key, size_t key_len, const void *value, size_t value_len, int absent, int64_t ttl_ms, const shmlru_guard *guard, int *stored);
typedef struct shmlru_load_opts {
	int64_t  ttl_ms;
	int64_t  neg_ttl_ms;
	int64_t  stale_ttl_ms;
	int64_t  resurrect_ttl_ms;
	uint8_t  tracked;
	uint8_t  reserved[7];
} shmlru_load_opts;
typedef struct shmlru_look {
	int64_t  fresh_ms;
	int32_t  state;
	uint32_t reserved;
} shmlru_look;
typedef struct shmlru_load_answer {
	uint64_t version;
	int64_t  fresh_ms;
	int32_t  source;
	uint8_t  kept;
	uint8_t  reserved[3];
} shmlru_load_answer;
enum {
	SHMLRU_DEFAULT_LEASE_MS = 30000,
	SHMLRU_LOOK_MISS       = 0,
	SHMLRU_LOOK_FRESH      = 1,
	SHMLRU_LOOK_ABSENT     = 2,
	SHMLRU_LOOK_SOFT_STALE = 3,
	SHMLRU_LOOK_EXPIRED    = 4,
	SHMLRU_LOOK_RESURRECTED = 5,
	SHMLRU_LOADED_VALUE    = 1,
	SHMLRU_LOADED_ABSENT   = 2,
	SHMLRU_LOADED_FAILED   = 3,
	SHMLRU_LOADED_GAVE_UP  = 4,
	SHMLRU_LOADED_UNCACHED = 5,
	SHMLRU_SOURCE_HIT         = 0,
	SHMLRU_SOURCE_LOADED      = 1,
	SHMLRU_SOURCE_WAITED      = 2,
	SHMLRU_SOURCE_STALE       = 3,
	SHMLRU_SOURCE_RESURRECTED = 4
};
int shmlru_load_check(const shmlru_load_opts *opts, char *errbuf, size_t errbuf_len);
int shmlru_load_look(shmlru_t h, const char *key, size_t key_len, int tracked, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta, shmlru_look *look);
int shmlru_load_prepare(shmlru_t h, shmlru_load *load, const char *key, size_t key_len, const shmlru_load_opts *opts, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta, shmlru_look *look, shmlru_guard *guard);
int shmlru_load_finish(shmlru_t h, shmlru_load *load, const char *key, size_t key_len, const shmlru_load_opts *opts, const shmlru_guard *guard, int outcome, const void *value, size_t value_len, int type, uint32_t flags, const char *msg, size_t msg_len, shmlru_load_answer *answer);
]]

-- Declare once per Lua VM, even if the module is loaded again.
if not pcall(ffi_typeof, "shmlru_meta") then
    ffi.cdef(CDEF)
end
_M.CDEF = CDEF


-- Status codes (c/status.go).
local OK = C.SHMLRU_OK
local BUFFER_TOO_SMALL = C.SHMLRU_BUFFER_TOO_SMALL
local FORKED = C.SHMLRU_FORKED
_M.OK = OK
_M.NOT_FOUND = C.SHMLRU_NOT_FOUND
_M.BUFFER_TOO_SMALL = BUFFER_TOO_SMALL
_M.FORKED = FORKED
_M.LOAD_LOST = C.SHMLRU_LOAD_LOST
_M.NOT_IN_STEP = C.SHMLRU_NOT_IN_STEP

local ABI_VERSION = C.SHMLRU_ABI_VERSION

-- Error strings by status code: c/status.go's Lua strings,
-- ngx.shared.DICT's where it has one.
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
_M.FORKED_MSG = FORKED_MSG

-- errstr is the error string of a status code.
function _M.errstr(rc)
    if rc == FORKED then
        return FORKED_MSG
    end
    return errors[rc] or ("shmlru status " .. tostring(rc))
end


-- The library, loaded by the first open in this process.
local lib
local lib_path

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


-- load_lib loads the library (from path, else where find_lib says) unless
-- it is loaded: the library, or nil and an error.
function _M.load_lib(path)
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


-- lib returns the library, or nil before the first open loaded it.
function _M.lib()
    return lib
end


-- lib_path returns the path the library was loaded from, or nil.
function _M.lib_path()
    return lib_path
end


-- The scratch every call reads into: an nginx worker runs one Lua call at
-- a time, and a call never yields between filling it and reading it back.
local buf_size = 4096
local buf = ffi_new("unsigned char[?]", buf_size)
local size_out = ffi_new("size_t[1]")
local meta = ffi_new("shmlru_meta")
_M.size_out = size_out
_M.meta = meta


-- with_buf calls fn(buf, buf_size, ...), which passes the scratch buffer
-- to a library call and returns its status, and calls it again with a
-- buffer grown to size_out[0] bytes while the status is
-- SHMLRU_BUFFER_TOO_SMALL. Returns the status and the buffer.
function _M.with_buf(fn, ...)
    local rc = fn(buf, buf_size, ...)
    while rc == BUFFER_TOO_SMALL do
        local need = tonumber(size_out[0])
        local n = buf_size
        while n < need do
            n = n * 2
        end
        buf = ffi_new("unsigned char[?]", n)
        buf_size = n
        rc = fn(buf, buf_size, ...)
    end
    return rc, buf
end


-- check_key returns key as a string, or nil and get's error for it.
function _M.check_key(key)
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
    if n > C.SHMLRU_MAX_KEY_SIZE then
        return nil, "key too long"
    end
    return key
end


-- MAX_TTL_MS is the longest TTL the library takes, in ms: a Go
-- time.Duration holds up to 2^63 - 1 ns, about 292 years.
local MAX_TTL_MS = 9223372036854
_M.MAX_TTL_MS = MAX_TTL_MS

-- ttl_ms converts a TTL in seconds to the library's whole milliseconds the
-- way ngx.shared.DICT does: resty.core passes exptime * 1000 to a C long,
-- which truncates (0.0005 s is 0 ms: no expiry; 1.9 ms is 1 ms) and is
-- negative for NaN and out-of-range values, and only a positive long
-- expires. A TTL beyond the library's limit is cut to it. exptime is
-- named as in resty.core, whose arithmetic errors name it.
function _M.ttl_ms(exptime)
    local ms = exptime * 1000
    if ms >= 1 and ms < 2 ^ 63 then
        if ms >= MAX_TTL_MS then
            return MAX_TTL_MS
        end
        return math_floor(ms)
    end
    return 0
end


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

-- new_tab(narr, nrec) and clear_tab(t) are LuaJIT's table.new and
-- table.clear, or the same done plainly where they are missing.
local ok_new, new_tab = pcall(require, "table.new")
if not ok_new then
    new_tab = function() return {} end
end
local ok_clear, clear_tab = pcall(require, "table.clear")
if not ok_clear then
    clear_tab = function(t)
        for k in pairs(t) do
            t[k] = nil
        end
    end
end
_M.new_tab, _M.clear_tab = new_tab, clear_tab

-- l1_now is the clock of a process's own copies' expiries (lrucache's and
-- resty.shmlru.l1's), in seconds: ngx.now in nginx, as lua-resty-lrucache
-- reads it, else now_ms.
_M.l1_now = ngx and ngx.now or function() return now_ms() / 1000 end


-- check_read_through says whether a cache is open and the library has the
-- read-through's calls (shmlru_load_look and the others): true, or nil
-- and what to do.
local rt_ok
function _M.check_read_through()
    if rt_ok == nil then
        if not lib then
            return nil, "no cache is open in this process: open one"
                .. " (resty.shmlru.open) first"
        end
        rt_ok = pcall(function() return lib.shmlru_load_finish end)
    end
    if not rt_ok then
        return nil, "the loaded libshmlru.so has no read-through calls"
            .. " (shmlru_load_finish): it predates them; build and install a"
            .. " newer one (make build, make install)"
    end
    return true
end


-- The codec of get_or_load (resty.shmlru.load): strings, numbers and
-- booleans, stored with their types as resty.shmlru's set stores them (Go
-- reads them as bytes, float64 and bool). resty.shmlru.mlcache has one that takes tables too.
-- encode returns the pointer, length, type and user flags to write, or
-- nil and an error; decode the Lua value of an entry, or nil and an error.
local num_in = ffi_new("double[1]")
local double_ptr = ffi_typeof("double *")
local TYPE_BYTES, TYPE_NUMBER, TYPE_BOOL =
    C.SHMLRU_TYPE_BYTES, C.SHMLRU_TYPE_NUMBER, C.SHMLRU_TYPE_BOOL
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

-- decode returns no builtin's call as its own (a tail call): a trace
-- started here would have the builtin return below it, which aborts the
-- trace every time until LuaJIT blacklists decode, and from then on every
-- trace through decode (every read's) aborts too.
function scalar.decode(p, n, t)
    if t == TYPE_BYTES then
        local s = ffi_str(p, n)
        return s
    elseif t == TYPE_NUMBER then
        local x = tonumber(ffi_cast(double_ptr, p)[0])
        return x
    elseif t == TYPE_BOOL then
        return p[0] ~= 0
    end
    return nil, "value is a list"
end

_M.scalar = scalar


return _M
