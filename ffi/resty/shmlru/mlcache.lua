-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.mlcache: lua-resty-mlcache's API over a shmlru region, so
-- that an mlcache user changes one require:
--
--   local mlcache = require "resty.shmlru.mlcache"   -- was "resty.mlcache"
--   local cache, err = mlcache.new("users", "my-region", { ttl = 60, lru_size = 1000 })
--   local user, err, hit_level = cache:get("user:42", nil, fetch_user, 42)
--
-- L1 is a lua-resty-lrucache per worker; L2 the region, shared with every
-- nginx worker and every Go process that opens it (in place of a
-- lua_shared_dict); L3 the callback, run once per key across all of them
-- (resty.shmlru.load's read-through, the same load table Go's
-- Cache.GetOrLoad uses).
--
-- L1 stays coherent through the region's invalidation stripes (see
-- shmlru.h, "Per-process copies"): every write, delete, expire or flush,
-- by any process, bumps the stripe of the key it changed, a count a
-- handful of keys share, and appends it to its shard's change ring. Each
-- L1 entry is filled with its key's stripe and the stripe's count, read
-- before the L2 read that filled it (shmlru_l1_stamp). new()'s
-- opts.l1_coherence chooses how it is used:
--
--   "always" (the default): an L1 hit is served only while its stripe
--   still reads its count (shmlru_l1_valid, one load): once a writer's
--   call has returned, every get that starts after it sees the new value.
--   update() has nothing to do.
--   "update": lua-resty-mlcache's contract. An L1 hit is a plain lrucache
--   get, and may be stale until update(), which asks the region which
--   stripes changed since its last call (shmlru_l1_changes) and drops the
--   L1 entries filled under them (every L1 entry if a ring was overrun).
--
-- Values in L2: strings, numbers and booleans as themselves (Go and
-- resty.shmlru's get read them as plain values); tables as JSON text
-- (resty.shmlru.json) in an entry with the user flags 0x4A534F4E ("JSON");
-- a cached nil as an entry of SHMLRU_TYPE_NONE, as Go's negative caching.

local shmlru = require "resty.shmlru"
local base = require "resty.shmlru.base"
local load = require "resty.shmlru.load"
local json = require "resty.shmlru.json"
local lrucache = require "resty.lrucache"
local ffi = require "ffi"

local ffi_new = ffi.new
local ffi_str = ffi.string
local type = type
local tostring = tostring
local tonumber = tonumber
local error = error
local pcall = pcall
local setmetatable = setmetatable

local look = load.look
local resolve = load.resolve
local put = load.put
local options = load.options
local now_ms = base.now_ms
local scalar = load.scalar
local ttl_ms = base.ttl_ms
local errstr = base.errstr
local with_buf = base.with_buf
local FRESH, ABSENT, SOFT_STALE = load.FRESH, load.ABSENT, load.SOFT_STALE


local _M = { _VERSION = shmlru._VERSION } -- one version (version/version.go)
local mt = { __index = _M }

local OK = base.OK
local NOT_FOUND = base.NOT_FOUND
local TYPE_BYTES, TYPE_NONE = ffi.C.SHMLRU_TYPE_BYTES, ffi.C.SHMLRU_TYPE_NONE

-- The user flags of an entry holding a table as JSON text: "JSON" in ASCII.
local FLAG_JSON = 0x4A534F4E
_M.FLAG_JSON = FLAG_JSON

-- The L1 value standing for a cached nil.
local NIL = setmetatable({}, { __tostring = function() return "mlcache nil" end })

-- hit levels by the read-through's source
local LEVEL = { hit = 2, waited = 2, loaded = 3, stale = 4, resurrected = 4 }

-- Set once a region is open.
local lib
-- Reused by the L1 fill and update paths (never across a yield).
local stripe_out = ffi_new("uint32_t[1]")
local stamp_out = ffi_new("uint64_t[1]")
local CHANGES = 256 -- stripes read per shmlru_l1_changes call
local changes_out = ffi_new("uint32_t[?]", CHANGES)
local n_out = ffi_new("size_t[1]")
local lapped_out = ffi_new("int[1]")
local size_out, meta = base.size_out, base.meta

-- One handle per region path and worker, shared by its instances.
local opened = {}


-- The codec of L2: resty.shmlru.load's for scalars, JSON for tables.
local codec = {}

function codec.encode(v)
    if type(v) == "table" then
        local s, err = json.encode(v)
        if not s then
            return nil, "cannot cache the table: " .. err
        end
        return s, #s, TYPE_BYTES, FLAG_JSON
    end
    local p, n, t, flags = scalar.encode(v)
    if not p then
        return nil, "cannot cache a value of type " .. type(v)
    end
    return p, n, t, flags
end

function codec.decode(p, n, t, flags)
    if t == TYPE_BYTES and flags == FLAG_JSON then
        local v, err = json.decode(ffi_str(p, n))
        if v == nil then
            return nil, "L2 value is not a table's JSON: " .. tostring(err)
        end
        return v
    end
    return scalar.decode(p, n, t)
end


-- l1_changes asks the region for the stripes changed since the
-- instance's cursors (shmlru_l1_changes), into changes_out: their number
-- and whether a ring was overrun, or nil and an error.
local function l1_changes(self, out_len)
    local rc = lib.shmlru_l1_changes(self.h, self.cursors, self.nshards,
                                     changes_out, out_len, n_out, lapped_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(n_out[0]), lapped_out[0] ~= 0
end


-- bind sets the instance on its region's handle; with l1_coherence
-- "update", its cursors start at the region's present changes, before
-- any fill.
local function bind(self, shm)
    self.shm, self.h = shm, shm.h
    lib = base.lib()
    if self.always then
        return shm
    end
    local info, err = shm:info()
    if not info then
        return nil, err
    end
    self.nshards = info.shards
    self.cursors = ffi_new("uint64_t[?]", info.shards)
    ffi.fill(self.cursors, 8 * info.shards, 0xff) -- UINT64_MAX: from now on
    local _, err = l1_changes(self, 0)
    if err then
        return nil, err
    end
    return shm
end


local function open_region(self)
    local path = self.region
    local shm = opened[path]
    if not shm then
        local err
        shm, err = shmlru.open(path, self.region_opts)
        if not shm then
            return nil, err
        end
        opened[path] = shm
    end
    return bind(self, shm)
end


-- check_number raises unless opts[name] is nil or a number >= 0 (> 0
-- with positive); level is error's, counted from here.
local function check_number(opts, name, positive, level)
    local v = opts[name]
    if v ~= nil then
        if type(v) ~= "number" or v ~= v then
            error("opts." .. name .. " must be a number", level)
        end
        if v < 0 or (positive and v == 0) then
            error("opts." .. name .. " must be " .. (positive and "> 0" or ">= 0"), level)
        end
    end
end


-- check_get_opts checks the options get and set take, raising at their
-- caller.
local function check_get_opts(opts)
    if type(opts) ~= "table" then
        error("opts must be a table", 3)
    end
    check_number(opts, "ttl", false, 4)
    check_number(opts, "neg_ttl", false, 4)
    check_number(opts, "resurrect_ttl", true, 4)
    check_number(opts, "lease", false, 4)
    check_number(opts, "wait_timeout", false, 4)
    local s = opts.l1_serializer
    if s ~= nil and type(s) ~= "function" then
        error("opts.l1_serializer must be a function", 3)
    end
    local tries = opts.shm_set_tries
    if tries ~= nil and (type(tries) ~= "number" or tries < 1) then
        error("opts.shm_set_tries must be >= 1", 3)
    end
end


-- new creates an instance named name over a shmlru region.
--
-- region is a region path (a name without a slash is a file under
-- /dev/shm; created as shmlru.open does, with opts.region_opts) or a cache
-- that resty.shmlru.open returned. Given a path, the region is opened on
-- first use in each worker, so new may run in init_by_lua as with mlcache
-- (the library cannot be loaded in nginx's master; see resty.shmlru).
--
-- opts: lru_size (100), ttl (30), neg_ttl (5), resurrect_ttl, lru (an
-- lrucache instance of your own), l1_serializer, prefix (L2 keys are
-- prefix .. key; default name .. ":"; "" shares keys as they are with Go
-- and resty.shmlru), lease (30) and wait_timeout (5) of the read-through,
-- resty_lock_opts (its exptime and timeout are lease and wait_timeout),
-- region_opts (shmlru.open's opts), l1_coherence ("always", the default,
-- or "update": see the top of this file). shm_set_tries, shm_miss, shm_locks,
-- ipc_shm and ipc are taken and have no use here (see ffi/README.md).
function _M.new(name, region, opts)
    if type(name) ~= "string" then
        error("name must be a string", 2)
    end
    local rt = type(region)
    if rt ~= "string" and not (rt == "table" and region.h) then
        error("region must be a region path or a resty.shmlru cache", 2)
    end
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        error("opts must be a table", 2)
    end
    check_number(opts, "ttl", false, 3)
    check_number(opts, "neg_ttl", false, 3)
    check_number(opts, "resurrect_ttl", true, 3)
    check_number(opts, "lease", false, 3)
    check_number(opts, "wait_timeout", false, 3)
    local lru_size = opts.lru_size
    if lru_size ~= nil and (type(lru_size) ~= "number" or lru_size < 1) then
        error("opts.lru_size must be a number >= 1", 2)
    end
    local s = opts.l1_serializer
    if s ~= nil and type(s) ~= "function" then
        error("opts.l1_serializer must be a function", 2)
    end
    local tries = opts.shm_set_tries
    if tries ~= nil and (type(tries) ~= "number" or tries < 1) then
        error("opts.shm_set_tries must be >= 1", 2)
    end
    local prefix = opts.prefix
    if prefix == nil then
        prefix = name .. ":"
    elseif type(prefix) ~= "string" then
        error("opts.prefix must be a string", 2)
    end
    local ro = opts.region_opts
    if ro ~= nil and type(ro) ~= "table" then
        error("opts.region_opts must be a table", 2)
    end
    local lock = opts.resty_lock_opts
    if lock ~= nil and type(lock) ~= "table" then
        error("opts.resty_lock_opts must be a table", 2)
    end
    local coherence = opts.l1_coherence
    if coherence ~= nil and coherence ~= "always" and coherence ~= "update" then
        error('opts.l1_coherence must be "always" or "update"', 2)
    end
    lock = lock or {}

    local lru = opts.lru
    if lru == nil then
        local err
        lru, err = lrucache.new(lru_size or 100)
        if not lru then
            return nil, "failed to create the L1 lrucache: " .. tostring(err)
        end
    end

    local self = setmetatable({
        name = name,
        prefix = prefix,
        lru = lru,
        lru_size = lru_size or 100,
        custom_lru = opts.lru ~= nil,
        ttl = opts.ttl or 30,
        neg_ttl = opts.neg_ttl or 5,
        resurrect_ttl = opts.resurrect_ttl,
        l1_serializer = s,
        lease = opts.lease or lock.exptime or 30,
        wait_timeout = opts.wait_timeout or lock.timeout or 5,
        region_opts = ro,
        always = coherence ~= "update",
        -- "update" mode: the L1 keys filled under each stripe (stripe ->
        -- { key = true }), and how many were added since the last prune.
        keys_of = {},
        keys_n = 0,
    }, mt)
    if rt == "table" then
        local ok, err = bind(self, region)
        if not ok then
            return nil, err
        end
    else
        self.region = region
        local phase = ngx and ngx.get_phase and ngx.get_phase()
        if phase ~= "init" then
            local ok, err = open_region(self)
            if not ok then
                return nil, err
            end
        end
    end
    return self
end


-- opt returns opts[name] if given, else the instance's.
local function opt(self, opts, name)
    if opts then
        local v = opts[name]
        if v ~= nil then
            return v
        end
    end
    return self[name]
end


-- load_opts builds resty.shmlru.load's options for one miss.
local function load_opts(self, opts)
    local lease = opt(self, opts, "lease") * 1000
    if lease > 0 and lease < 1 then
        lease = 1
    end
    local res = opt(self, opts, "resurrect_ttl")
    local o, err = options(ttl_ms(opt(self, opts, "ttl")),
                           ttl_ms(opt(self, opts, "neg_ttl")), -- 0: a nil never expires
                           0, res and ttl_ms(res) or 0, math.floor(lease),
                           math.floor(opt(self, opts, "wait_timeout") * 1000),
                           false, codec)
    if not o then
        return nil, err
    end
    o.cb_ttl = true                   -- the callback's third value is a ttl
    o.stale_on_timeout = res ~= nil   -- as mlcache with resurrect_ttl
    return o
end


-- forget_keys drops from L1 the keys filled under stripe st.
local function forget_keys(self, st)
    local keys = self.keys_of[st]
    if keys then
        local lru = self.lru
        for k in pairs(keys) do
            lru:delete(k)
        end
        self.keys_of[st] = nil
    end
end


-- prune drops from the reverse map the keys no longer in L1 (evicted or
-- expired there), so that it stays about as large as L1.
local function prune(self)
    local lru, n = self.lru, 0
    for st, keys in pairs(self.keys_of) do
        local left = false
        for k in pairs(keys) do
            if lru:get(k) == nil then
                keys[k] = nil
            else
                n = n + 1
                left = true
            end
        end
        if not left then
            self.keys_of[st] = nil
        end
    end
    self.keys_n = n
end


-- l1_set keeps v (nil for a cached nil) in L1 for ttl seconds (nil:
-- none), filled under stripe st at its count stamp: with the stripe
-- and its count, or in "update" mode as itself, in the stripe's
-- reverse map.
local function l1_set(self, key, v, st, stamp, ttl)
    if v == nil then
        v = NIL
    end
    if self.always then
        self.lru:set(key, { v, st, stamp }, ttl)
        return
    end
    self.lru:set(key, v, ttl)
    local keys = self.keys_of[st]
    if not keys then
        keys = {}
        self.keys_of[st] = keys
    end
    if not keys[key] then
        keys[key] = true
        local n = self.keys_n + 1
        self.keys_n = n
        if n > 2 * self.lru_size + 64 then
            prune(self)
        end
    end
end


-- stamp reads the stripe of l2key and its count, before any read of its
-- value: stripe, count, or nil and an error.
local function stamp(h, l2key)
    local rc = lib.shmlru_l1_stamp(h, l2key, #l2key, stripe_out, stamp_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return stripe_out[0], tonumber(stamp_out[0])
end


local function version_call(buf, size, h, key)
    return lib.shmlru_peek(h, key, #key, buf, size, size_out, meta)
end

-- restamp is the count of l2key's stripe after this process wrote (or
-- loaded) its entry at version, fresh until fresh (Unix ms, 0: never), if
-- the entry is still at that version after the count was read and its
-- deadline is not before fresh: a copy of it is current at that count.
-- (A new deadline keeps the version: an expire between the write and the
-- count would otherwise leave the copy in L1 past L2's deadline.) nil if
-- the entry changed since (the copy keeps the count read before the write).
local function restamp(h, l2key, version, fresh)
    if not version then
        return nil
    end
    local st, c1 = stamp(h, l2key)
    if not st then
        return nil
    end
    local rc = with_buf(version_call, h, l2key)
    if rc == OK and tonumber(meta.version) == version then
        local x = tonumber(meta.expires_ms)
        if x == 0 or (fresh and fresh ~= 0 and x >= fresh) then
            return c1
        end
    end
    return nil
end


-- promote puts v (read from, or written to, L2 after its stripe st read
-- the count c0) into L1, through the l1_serializer, and returns get's
-- answer.
local function promote(self, opts, key, v, st, c0, fresh, level)
    if v ~= nil then
        local ser = opt(self, opts, "l1_serializer")
        if ser then
            local ok, sv, err = pcall(ser, v)
            if not ok then
                return nil, "l1_serializer threw an error: " .. tostring(sv)
            end
            if sv == nil then
                return nil, err or "l1_serializer returned nil"
            end
            v = sv
        end
    end
    if fresh then
        local ttl
        if fresh ~= 0 then
            ttl = (fresh - now_ms()) / 1000
        end
        if not ttl or ttl > 0 then
            l1_set(self, key, v, st, c0, ttl)
        end
    end
    return v, nil, level
end


-- get_l2l3 is get past an L1 miss: the region, then the callback.
local function get_l2l3(self, key, opts, cb, ...)
    local shm = self.shm
    if not shm then
        local err
        shm, err = open_region(self)
        if not shm then
            return nil, err
        end
    end
    local h = self.h
    local l2key = self.prefix .. key
    local stripe, c0 = stamp(h, l2key)
    if not stripe then
        return nil, c0
    end
    local st, v, version, fresh = look(h, l2key, false, codec)
    if st == nil then
        return nil, v
    end
    if st == FRESH or st == ABSENT then
        return promote(self, opts, key, v, stripe, c0, fresh, 2)
    end
    if not cb then
        if st == SOFT_STALE then
            return promote(self, opts, key, v, stripe, c0, nil, 4)
        end
        return nil, nil, -1
    end
    local o, err = load_opts(self, opts)
    if not o then
        return nil, err
    end
    local val, src
    val, err, src, version, fresh = resolve(shm, l2key, o, st, v, cb, ...)
    if err then
        return nil, err
    end
    if src == "stale" then
        fresh = nil -- served, not kept in L1: the next get looks again
    elseif fresh then
        -- The load wrote the entry after c0 was read: keep it in L1 at the
        -- count after the write if nothing else changed it since.
        c0 = restamp(h, l2key, version, fresh) or c0
    end
    return promote(self, opts, key, val, stripe, c0, fresh, LEVEL[src])
end


-- get returns value, err, hit_level (1: L1, 2: L2, 3: the callback ran,
-- 4: a stale value; nil, nil, -1 on a miss without a callback), as
-- mlcache's get. opts: ttl, neg_ttl, resurrect_ttl, l1_serializer,
-- shm_set_tries (no use), lease, wait_timeout. callback(...) returns
-- value, err, ttl as mlcache's.
function _M.get(self, key, opts, cb, ...)
    if type(key) ~= "string" then
        error("key must be a string", 2)
    end
    if cb ~= nil and type(cb) ~= "function" then
        error("callback must be a function", 2)
    end
    if opts ~= nil then
        check_get_opts(opts)
    end
    local e = self.lru:get(key)
    if e ~= nil then
        if not self.always then
            -- "update": served until update() drops it
            if e == NIL then
                return nil, nil, 1
            end
            return e, nil, 1
        end
        if lib.shmlru_l1_valid(self.h, e[2], e[3]) == 1 then
            local v = e[1]
            if v == NIL then
                return nil, nil, 1
            end
            return v, nil, 1
        end
        self.lru:delete(key)
    end
    return get_l2l3(self, key, opts, cb, ...)
end


local function peek_call(buf, size, h, key)
    return lib.shmlru_peek(h, key, #key, buf, size, size_out, meta)
end

-- peek returns the seconds left of key's entry in L2 (0: no expiry;
-- negative for an expired one, with stale), nil, and its value, without
-- promoting it to L1 or moving it in L2's LRU order, as mlcache's peek;
-- nil if there is none.
function _M.peek(self, key, stale)
    if type(key) ~= "string" then
        error("key must be a string", 2)
    end
    if not self.shm then
        local ok, err = open_region(self)
        if not ok then
            return nil, err
        end
    end
    local l2key = self.prefix .. key
    local h = self.h
    local rc, buf = with_buf(peek_call, h, l2key)
    if rc ~= OK then
        if rc == NOT_FOUND then
            return nil
        end
        return nil, errstr(rc)
    end
    if meta.stale ~= 0 and not stale then
        return nil
    end
    local expires = tonumber(meta.expires_ms)
    local ttl = 0
    if expires ~= 0 then
        ttl = (expires - now_ms()) / 1000
        if ttl == 0 then
            ttl = -0.001 -- expired this very millisecond
        end
    end
    if meta.type == TYPE_NONE then
        return ttl, nil, nil
    end
    local v, err = codec.decode(buf, size_out[0], meta.type, meta.flags)
    if v == nil then
        return nil, err
    end
    return ttl, nil, v
end


-- set stores value (a scalar, a table, or nil: a cached nil for neg_ttl)
-- in L2 and in this worker's L1: true, or nil and an error. Every other
-- worker and process sees it from its next get on (no update() needed).
function _M.set(self, key, opts, value)
    if type(key) ~= "string" then
        error("key must be a string", 2)
    end
    if opts ~= nil then
        check_get_opts(opts)
    end
    if not self.shm then
        local ok, err = open_region(self)
        if not ok then
            return nil, err
        end
    end
    local h = self.h
    local l2key = self.prefix .. key
    local stripe, c0 = stamp(h, l2key)
    if not stripe then
        return nil, c0
    end
    local o, err = options(ttl_ms(opt(self, opts, "ttl")),
                           ttl_ms(opt(self, opts, "neg_ttl")), 0, 0, 0, 0,
                           false, codec)
    if not o then
        return nil, err
    end
    local ok, version, fresh = put(h, l2key, value, o)
    if not ok then
        return nil, "could not write to the region: " .. tostring(version)
    end
    -- The write bumped the stripe after c0: the copy is current at the
    -- count after it if the entry is still this write's.
    c0 = restamp(h, l2key, version, fresh) or c0
    local _, err = promote(self, opts, key, value, stripe, c0, fresh, 0)
    if err then
        return nil, err
    end
    return true
end


-- delete removes key from L2 and from this worker's L1 (every other
-- worker's L1 notices from its next get): true, or nil and an error.
function _M.delete(self, key)
    if type(key) ~= "string" then
        error("key must be a string", 2)
    end
    if not self.shm then
        local ok, err = open_region(self)
        if not ok then
            return nil, err
        end
    end
    local ok, err = self.shm:delete(self.prefix .. key)
    if not ok then
        return nil, err
    end
    self.lru:delete(key)
    return true
end


-- purge empties this worker's L1 and the whole region, as mlcache's purge
-- flushes its whole lua_shared_dict: every process's entries go, not only
-- this instance's. flush_expired is taken for the API (flush_all frees
-- everything at once). true, or nil and an error.
function _M.purge(self, flush_expired)
    if not self.shm then
        local ok, err = open_region(self)
        if not ok then
            return nil, err
        end
    end
    local _, err = self.shm:flush_all()
    if err then
        return nil, err
    end
    self.keys_of, self.keys_n = {}, 0
    if self.lru.flush_all then
        self.lru:flush_all()
    elseif not self.custom_lru then
        self.lru = lrucache.new(self.lru_size)
    else
        return nil, "cannot purge a custom LRU cache without flush_all"
    end
    return true
end


-- flush_l1 drops every L1 entry this instance filled.
local function flush_l1(self)
    for st in pairs(self.keys_of) do
        forget_keys(self, st)
    end
    self.keys_n = 0
end


-- update applies to L1 every change any process made to L2 since the last
-- call, with l1_coherence "update": the L1 entries of every changed
-- stripe go (all of them after a ring was overrun or a flush). With
-- "always" it has nothing to do: each L1 hit checks its stripe, and a
-- stale entry is replaced at its next get. true, or nil and an error.
function _M.update(self, timeout)
    if self.always or not self.shm then
        return true
    end
    local lapped = false
    repeat
        local n, lap = l1_changes(self, CHANGES)
        if not n then
            -- The call may have moved cursors past changes it could not
            -- report (or past a lap this loop saw): what changed is not
            -- known, so no copy stands.
            flush_l1(self)
            return nil, lap
        end
        lapped = lapped or lap
        if not lapped then
            for i = 0, n - 1 do
                forget_keys(self, changes_out[i])
            end
        end
    until n < CHANGES
    if lapped then
        flush_l1(self)
    end
    return true
end


-- new_bulk, get_bulk and each_bulk_res as mlcache's: lookups of 4 slots
-- (key, opts, callback, arg) in bulk, answers of 3 (value, err,
-- hit_level) in res. Callbacks run concurrently in up to
-- opts.concurrency (3) light threads, each doing a share of the lookups
-- in turn.
local bulk_mt = {}
bulk_mt.__index = bulk_mt

function _M.new_bulk(n_lookups)
    local bulk = setmetatable({ n = 0 }, bulk_mt)
    return bulk
end

function bulk_mt.add(bulk, key, opts, cb, arg)
    local i = bulk.n * 4
    bulk[i + 1], bulk[i + 2], bulk[i + 3], bulk[i + 4] = key, opts, cb, arg
    bulk.n = bulk.n + 1
end

local function bulk_run(self, bulk, res, from, to, step)
    for i = from, to, step do
        local b = (i - 1) * 4
        local r = (i - 1) * 3
        local ok, v, err, lvl = pcall(self.get, self, bulk[b + 1], bulk[b + 2],
                                      bulk[b + 3], bulk[b + 4])
        if not ok then
            v, err, lvl = nil, v, nil
        end
        res[r + 1], res[r + 2], res[r + 3] = v, err, lvl
    end
end

function _M.get_bulk(self, bulk, opts)
    if type(bulk) ~= "table" then
        error("bulk must be a table", 2)
    end
    if type(bulk.n) ~= "number" then
        error("bulk.n must be a number", 2)
    end
    local concurrency = 3
    if opts ~= nil then
        if type(opts) ~= "table" then
            error("opts must be a table", 2)
        end
        if opts.concurrency ~= nil then
            concurrency = opts.concurrency
            if type(concurrency) ~= "number" or concurrency < 1 then
                error("opts.concurrency must be a number > 0", 2)
            end
        end
    end
    for i = 1, bulk.n do
        local b = (i - 1) * 4
        if type(bulk[b + 1]) ~= "string" then
            error("key at index " .. (b + 1) .. " must be a string for operation "
                  .. i .. " (got " .. type(bulk[b + 1]) .. ")", 2)
        end
        if type(bulk[b + 3]) ~= "function" then
            error("callback at index " .. (b + 3) .. " must be a function for operation "
                  .. i .. " (got " .. type(bulk[b + 3]) .. ")", 2)
        end
    end
    local res = { n = bulk.n * 3 }
    local spawn = ngx and ngx.thread and ngx.thread.spawn
    if not spawn or concurrency == 1 or bulk.n <= 1 then
        bulk_run(self, bulk, res, 1, bulk.n, 1)
        return res
    end
    local threads = {}
    local nt = math.min(concurrency, bulk.n)
    for t = 1, nt do
        local th, err = spawn(bulk_run, self, bulk, res, t, bulk.n, nt)
        if not th then
            return nil, "could not spawn a thread: " .. tostring(err)
        end
        threads[t] = th
    end
    for t = 1, nt do
        local ok, err = ngx.thread.wait(threads[t])
        if not ok then
            return nil, "bulk thread failed: " .. tostring(err)
        end
    end
    return res
end

function _M.each_bulk_res(res)
    if type(res) ~= "table" then
        error("res must be a table", 2)
    end
    local i = 0
    return function()
        if i * 3 >= res.n then
            return nil
        end
        i = i + 1
        local r = (i - 1) * 3
        return i, res[r + 1], res[r + 2], res[r + 3]
    end
end


return _M
