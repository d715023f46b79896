-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.mlcache: lua-resty-mlcache's API over a shmlru region, so
-- that an mlcache user changes one require:
--
--   local mlcache = require "resty.shmlru.mlcache"   -- was "resty.mlcache"
--   local cache, err = mlcache.new("users", "my-region", { ttl = 60, lru_size = 1000 })
--   local user, err, hit_level = cache:get("user:42", nil, fetch_user, 42)
--
-- L1 is an LRU per worker (resty.shmlru.l1, lua-resty-lrucache's API; or
-- an lrucache of the caller's, opts.lru); L2 the region, shared with every
-- nginx worker and every Go process that opens it (in place of a
-- lua_shared_dict); L3 the callback, run once per key across all of them
-- (resty.shmlru.load's read-through, the same load table Go's
-- Cache.GetOrLoad uses).
--
-- L1 stays coherent through the region's invalidation stripes (see
-- shmlru.h, "Per-process copies"): every write, delete, expire or flush,
-- by any process, bumps the stripe of the key it changed, a count a
-- handful of keys share, and appends it to its shard's change ring.
--
-- An L1 entry is the value itself, with its key's stripe in the LRU's
-- user flags, and the L1 keeps a reverse map, stripe -> the keys filled
-- under it (keys_of), and a cursor per shard into the change rings.
-- Applying the changes (apply_changes: shmlru_l1_changes) drops the keys
-- of every stripe changed since the cursors (every key if a ring was
-- overrun, or if more changed than one pass reads: UPDATE_CALLS). A fill
-- reads the stripe's count (shmlru_l1_stamp) before the L2 read, and keeps
-- the copy only if the stripe still reads that count after it
-- (shmlru_l1_valid): a change made in between may have come before the
-- cursors, and no later pass would drop the copy. new()'s
-- opts.l1_coherence chooses when the changes are applied:
--
--   "always" (the default): before an L1 hit is served, if its shard
--   changed since the cursors (one load of a word only the shard's
--   writers change, from the library's ring-head watch, shmlru_l1_heads,
--   or through shmlru_l1_current). So once a writer's call has returned,
--   every get that starts after it sees the new value, and a write drops
--   the copies of its stripe only. update() applies them too.
--   "update": lua-resty-mlcache's contract. An L1 hit is a plain LRU
--   get, and may be stale until update() applies them.
--
-- Values in L2: strings, numbers and booleans as themselves (Go and
-- resty.shmlru's get read them as plain values); tables as JSON text
-- (resty.shmlru.json) in an entry with the user flags 0x4A534F4E ("JSON");
-- a cached nil as an entry of SHMLRU_TYPE_NONE, as Go's negative caching.

local shmlru = require "resty.shmlru"
local base = require "resty.shmlru.base"
local load = require "resty.shmlru.load"
local json = require "resty.shmlru.json"
local l1lru = require "resty.shmlru.l1"
local ffi = require "ffi"

local ffi_new = ffi.new
local rshift = require("bit").rshift
local ffi_str = ffi.string
local type = type
local tostring = tostring
local tonumber = tonumber
local error = error
local pcall = pcall
local ipairs = ipairs
local xpcall = xpcall
local traceback = debug.traceback
local setmetatable = setmetatable
local new_tab, clear_tab = base.new_tab, base.clear_tab

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
local RESURRECTED = load.RESURRECTED
local TIMEOUT = load.TIMEOUT

-- l1_now is the clock of L1's expiries (ngx.now in nginx), on which
-- mlcache counts the seconds left of what it copies to L1.
local l1_now = base.l1_now

-- mlcache's error for a get that waited on another's callback too long.
local LOCK_TIMEOUT = "could not acquire callback lock: timeout"


-- warn logs at nginx's warn level (nothing outside nginx), as mlcache
-- reports what it serves in place of an answer.
local function warn(...)
    if ngx and ngx.log then
        ngx.log(ngx.WARN, ...)
    end
end


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
-- The most shmlru_l1_changes calls one update() makes. Rings written
-- faster than update() reads them (or a scribbled region) could otherwise
-- keep it from returning; past this many, update() takes what is left
-- for a lap and drops every copy.
local UPDATE_CALLS = 8
local changes_out = ffi_new("uint32_t[?]", CHANGES)
local n_out = ffi_new("size_t[1]")
local lapped_out = ffi_new("int[1]")
local size_out, meta = base.size_out, base.meta

-- One handle per region path and worker, shared by its instances.
local opened = {}

-- The L1s of this worker: region (the path or the resty.shmlru cache new
-- was given) -> name .. " " .. l1_coherence .. " " .. prefix -> { lru,
-- size, keys_of, keys_n, live, spare, cursors, nshards, heads, shift,
-- reads, heads_h, restart }. The
-- instances of one name share an L1 as mlcache's do, but only with the
-- same region, l1_coherence and prefix: its cursors follow one region's
-- rings, for one mode, and its entries are copies of prefix .. key.
-- Weak, so an L1 goes with its last instance.
local l1_sets = setmetatable({}, { __mode = "k" })
-- The L1 of an opts.lru of the caller's: that lrucache -> the table
-- above without its lru (a weak key's own value must not hold it), for
-- the instances given it; all of one region, one l1_coherence and one
-- prefix, as its stripes and cursors are that region's, for that mode,
-- and its entries copies of that prefix's keys.
local l1_of_lru = setmetatable({}, { __mode = "k" })

-- resurrect_ttl 0 is mlcache's "resurrect for good"; the read-through's 0
-- means no resurrection, so 0 asks for the longest TTL the library keeps.
local RESURRECT_FOREVER = 1e12


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
    -- Not a tail call, as scalar.decode's (see there): a trace started
    -- here returns through this frame.
    local v, err = scalar.decode(p, n, t)
    return v, err
end


-- max_value_of returns the largest value the region takes (an entry's
-- value cannot be larger: get keeps such a value in L1 only).
local function max_value_of(shm)
    local inf = shm:info()
    return inf and inf.max_value or math.huge
end


-- l1_changes asks the region for the stripes changed since the cursors
-- of the instance's L1 (shmlru_l1_changes), into changes_out: their
-- number and whether a ring was overrun, or nil and an error.
local function l1_changes(self, out_len)
    local l1 = self.l1
    local rc = lib.shmlru_l1_changes(self.h, l1.cursors, l1.nshards,
                                     changes_out, out_len, n_out, lapped_out)
    if rc ~= OK then
        return nil, errstr(rc)
    end
    return tonumber(n_out[0]), lapped_out[0] ~= 0
end


-- reset_cursors sets the cursors of the instance's L1 to the region's
-- present changes: true, or nil and an error.
local function reset_cursors(self)
    local l1 = self.l1
    ffi.fill(l1.cursors, 8 * l1.nshards, 0xff) -- UINT64_MAX: from now on
    local n, err = l1_changes(self, 0)
    if not n then
        return nil, err
    end
    return true
end


-- watch_heads asks the library where L1 may read each shard's ring head
-- itself (shmlru_l1_heads: the ring-head watch, which no fault ends) for
-- handle h: l1.heads and l1.shift, or none, and l1_current then calls
-- shmlru_l1_current.
--
-- l1.reads counts the loads l1_current makes there, and is stored to
-- before each: LuaJIT ignores volatile, and would keep a head loaded once
-- for every pass of a compiled loop of gets, or hoist it out of the loop,
-- unless something between two loads might have changed the word. A store
-- through a pointer it cannot tell from the head's is such a thing (its
-- alias analysis), and a count never stores the same value twice, which
-- it would drop.
local function watch_heads(l1, h)
    local heads = ffi_new("const volatile uint64_t *[?]", l1.nshards)
    local shift = ffi_new("uint32_t[1]")
    if lib.shmlru_l1_heads(h, heads, l1.nshards, shift) == 1 then
        l1.heads, l1.shift = heads, shift[0]
        l1.reads = l1.reads or ffi_new("uint64_t[1]")
    else
        l1.heads, l1.shift = nil, nil
    end
    l1.heads_h = h
end


-- bind sets the instance on its region's handle; the cursors of its L1
-- start at the region's present changes, before any fill (once per L1: an
-- instance bound later shares the cursors of those that filled it).
local function bind(self, shm)
    self.shm, self.h = shm, shm.h
    lib = base.lib()
    self.max_value = max_value_of(shm)
    local l1 = self.l1
    if not l1.cursors then
        local info, err = shm:info()
        if not info then
            return nil, err
        end
        l1.nshards = info.shards
        l1.cursors = ffi_new("uint64_t[?]", info.shards)
        local _, err = reset_cursors(self)
        if err then
            l1.cursors = nil
            return nil, err
        end
    end
    if l1.heads_h ~= self.h then
        watch_heads(l1, self.h)
    end
    -- get's, on every L1 hit; the cursors are only ever written in place
    self.cursors, self.nshards = l1.cursors, l1.nshards
    self.heads, self.shift, self.reads = l1.heads, l1.shift, l1.reads
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


-- number_error says what is wrong with opts[name], as mlcache's checks
-- say it: nil if it is nil or a number >= 0.
local function number_error(opts, name)
    local v = opts[name]
    if v ~= nil then
        if type(v) ~= "number" then
            return "opts." .. name .. " must be a number"
        end
        if v < 0 then
            return "opts." .. name .. " must be >= 0"
        end
    end
end


-- type_error says what is wrong with opts[name] unless it is nil or of
-- type want.
local function type_error(opts, name, want)
    local v = opts[name]
    if v ~= nil and type(v) ~= want then
        return "opts." .. name .. " must be a " .. want
    end
end


-- tries_error checks opts.shm_set_tries as mlcache does (it has no use
-- here: a write to the region evicts what it needs or fails).
local function tries_error(opts)
    local tries = opts.shm_set_tries
    if tries ~= nil then
        if type(tries) ~= "number" then
            return "opts.shm_set_tries must be a number"
        end
        if tries < 1 then
            return "opts.shm_set_tries must be >= 1"
        end
    end
end


-- get_opts_error says what is wrong with the options get, set and
-- get_bulk's operations take, in mlcache's words and order; nil if
-- nothing is.
local function get_opts_error(opts)
    if type(opts) ~= "table" then
        return "opts must be a table"
    end
    return number_error(opts, "ttl") or number_error(opts, "neg_ttl")
        or number_error(opts, "resurrect_ttl")
        or type_error(opts, "l1_serializer", "function")
        or tries_error(opts)
        or type_error(opts, "resty_lock_opts", "table")
        or number_error(opts, "lease") or number_error(opts, "wait_timeout")
end


-- new_opts_error says what is wrong with new's options, in mlcache's
-- words and order, then this module's own.
local function new_opts_error(opts)
    local e = type_error(opts, "lru_size", "number")
        or number_error(opts, "ttl") or number_error(opts, "neg_ttl")
        or number_error(opts, "resurrect_ttl")
        or type_error(opts, "resty_lock_opts", "table")
        or type_error(opts, "ipc_shm", "string")
    if e then
        return e
    end
    local ipc = opts.ipc
    if ipc ~= nil then
        if opts.ipc_shm then
            return "cannot specify both of opts.ipc_shm and opts.ipc"
        elseif type(ipc) ~= "table" then
            return "opts.ipc must be a table"
        elseif type(ipc.register_listeners) ~= "function" then
            return "opts.ipc.register_listeners must be a function"
        elseif type(ipc.broadcast) ~= "function" then
            return "opts.ipc.broadcast must be a function"
        elseif ipc.poll ~= nil and type(ipc.poll) ~= "function" then
            return "opts.ipc.poll must be a function"
        end
    end
    e = type_error(opts, "l1_serializer", "function") or tries_error(opts)
        or type_error(opts, "shm_miss", "string")
        or type_error(opts, "shm_locks", "string")
        or number_error(opts, "lease") or number_error(opts, "wait_timeout")
        or type_error(opts, "prefix", "string")
        or type_error(opts, "region_opts", "table")
    if e then
        return e
    end
    local coherence = opts.l1_coherence
    if coherence ~= nil and coherence ~= "always" and coherence ~= "update" then
        return 'opts.l1_coherence must be "always" or "update"'
    end
    if opts.lru_size ~= nil and opts.lru_size < 1 then
        return "opts.lru_size must be >= 1"
    end
end


-- forget_all (below) drops every L1 entry the reverse map lists.
local forget_all


-- flush_l1 empties this worker's L1 of self (shared by the instances of
-- its name) and its reverse map. From a custom LRU without flush_all (an
-- lrucache older than any this module's dependencies install), the
-- entries the reverse map lists are dropped one by one (what the caller
-- put there itself stays).
local function flush_l1(self)
    local l1 = self.l1
    if not self.lru.flush_all then
        forget_all(self)
        return
    end
    self.lru:flush_all()
    l1.keys_of, l1.keys_n = {}, 0
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
-- region_opts (shmlru.open's opts), debug (get_bulk's debug log),
-- l1_coherence ("always", the default, or "update": see the top of this
-- file). shm_set_tries, shm_miss, shm_locks, ipc_shm and ipc are checked
-- as mlcache checks them and have no use here (see ffi/README.md). The
-- instances of one name share this worker's L1, as mlcache's do, when
-- they also share region, l1_coherence and prefix (see l1_sets).
function _M.new(name, region, opts)
    if type(name) ~= "string" then
        error("name must be a string", 2)
    end
    local rt = type(region)
    if rt ~= "string" and not (rt == "table" and region.h) then
        error("shm must be a string", 2) -- mlcache's words; or a resty.shmlru cache
    end
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        error("opts must be a table", 2)
    end
    local e = new_opts_error(opts)
    if e then
        error(e, 2)
    end
    -- shm_miss, shm_locks and ipc_shm have no use here, but must name
    -- dicts that exist, as mlcache's must.
    local shared = ngx and ngx.shared
    if shared then
        for _, o in ipairs({ "shm_miss", "shm_locks" }) do
            if opts[o] and not shared[opts[o]] then
                return nil, "no such lua_shared_dict for opts." .. o .. ": " .. opts[o]
            end
        end
        if opts.ipc_shm and not shared[opts.ipc_shm] then
            return nil, "failed to initialize mlcache IPC (could not instantiate"
                .. " mlcache.ipc): no such lua_shared_dict: " .. opts.ipc_shm
        end
    end
    local lru_size = opts.lru_size
    local s = opts.l1_serializer
    local prefix = opts.prefix or name .. ":"
    local ro = opts.region_opts
    local lock = opts.resty_lock_opts or {}

    local coherence = opts.l1_coherence or "always"
    local l1
    if opts.lru then
        l1 = l1_of_lru[opts.lru]
        if not l1 then
            l1 = { size = lru_size or 100, coherence = coherence, region = region,
                   prefix = prefix }
            l1_of_lru[opts.lru] = l1
        elseif l1.coherence ~= coherence then
            return nil, "opts.lru is the L1 of an instance with l1_coherence \""
                .. l1.coherence .. "\": its entries cannot serve \"" .. coherence .. "\""
        elseif l1.region ~= region then
            return nil, "opts.lru is the L1 of an instance over another region: its"
                .. " entries are checked against that region's changes; give this"
                .. " instance an lrucache of its own"
        elseif l1.prefix ~= prefix then
            return nil, "opts.lru is the L1 of an instance with another prefix: its"
                .. " entries are copies of other keys of the region; give this"
                .. " instance an lrucache of its own"
        end
    else
        local set = l1_sets[region]
        if not set then
            set = setmetatable({}, { __mode = "v" })
            l1_sets[region] = set
        end
        -- the prefix too: an L1 entry is a copy of prefix .. key
        local id = name .. " " .. coherence .. " " .. prefix
        l1 = set[id]
        if not l1 then
            local lru, err = l1lru.new(lru_size or 100)
            if not lru then
                return nil, "failed to create the L1: " .. tostring(err)
            end
            l1 = { lru = lru, size = lru_size or 100 }
            set[id] = l1
        end
    end
    if not l1.keys_of then
        -- The L1 keys filled under each stripe: stripe -> the key, or,
        -- once several keys share it, a list of them (a list, not a set:
        -- the loops over it compile, where pairs() would not). There are more
        -- stripes than keys in most regions, so most stripes hold one key
        -- and a fill allocates nothing. keys_n: how many were added since
        -- the last prune; live and spare: prune's scratch (see prune).
        l1.keys_of, l1.keys_n, l1.live = {}, 0, {}
    end
    local lru = opts.lru or l1.lru

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
        l1 = l1,
        debug = opts.debug,
    }, mt)
    if opts.ipc then
        -- A custom IPC gets mlcache's events, as with mlcache; nothing here
        -- broadcasts them (L1 needs no invalidation events), but a handler
        -- called by another cache still drops this worker's L1 copies.
        local events = {
            invalidation = {
                channel = "mlcache:invalidations:" .. name,
                handler = function(key) self.lru:delete(key) end,
            },
            purge = {
                channel = "mlcache:purge:" .. name,
                handler = function() flush_l1(self) end,
            },
        }
        local ok, err = opts.ipc.register_listeners(events)
        if not ok and err ~= nil then
            return nil, "failed to initialize custom IPC (opts.ipc.register_listeners"
                .. " returned an error): " .. tostring(err)
        end
    end
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


-- lock_opt returns get's opts.resty_lock_opts[name] (timeout or exptime),
-- if given.
local function lock_opt(opts, name)
    local lock = opts and opts.resty_lock_opts
    return lock and lock[name]
end


-- load_opts builds resty.shmlru.load's options for one miss. The
-- resty_lock_opts of a get stand for its lease (exptime) and wait
-- (timeout) unless the get gives lease or wait_timeout itself.
local function load_opts(self, opts)
    local lease = (opts and opts.lease or lock_opt(opts, "exptime")
                   or self.lease) * 1000
    if lease > 0 and lease < 1 then
        lease = 1
    end
    local wait = opts and opts.wait_timeout or lock_opt(opts, "timeout")
                 or self.wait_timeout
    local res = opt(self, opts, "resurrect_ttl")
    if res == 0 then
        res = RESURRECT_FOREVER
    end
    local o, err = options(ttl_ms(opt(self, opts, "ttl")),
                           ttl_ms(opt(self, opts, "neg_ttl")), -- 0: a nil never expires
                           0, res and ttl_ms(res) or 0, math.floor(lease),
                           math.floor(wait * 1000), false, codec)
    if not o then
        return nil, err
    end
    o.cb_ttl = true                   -- the callback's third value is a ttl
    o.stale_on_timeout = res ~= nil   -- as mlcache with resurrect_ttl
    return o
end


-- forget_keys drops from L1 the keys filled under stripe st.
local function forget_keys(self, st)
    local keys_of = self.l1.keys_of
    local keys = keys_of[st]
    if keys then
        local lru = self.lru
        if type(keys) == "string" then
            lru:delete(keys)
        else
            for i = 1, #keys do
                lru:delete(keys[i])
            end
        end
        keys_of[st] = nil
    end
end


-- live_set is the set of the keys L1 holds (expired or not), from
-- the LRU's key list, which reorders nothing; nil for an LRU without
-- get_keys, which in_l1 then asks key by key (its get reorders it: the
-- best such an LRU offers).
local function live_set(self)
    local lru = self.lru
    if not lru.get_keys then
        return nil
    end
    local list = lru:get_keys(0, self.l1.live)
    local set = new_tab(0, #list)
    local i = 1
    -- get_keys ends the list with one nil, not the scratch's older tail
    local k = list[1]
    while k ~= nil do
        set[k] = true
        i = i + 1
        k = list[i]
    end
    return set
end


-- in_l1 says whether L1 (lru) holds key: from set, live_set's answer,
-- or if nil from lru:get.
local function in_l1(lru, set, key)
    if set then
        return set[key] ~= nil
    end
    return lru:get(key) ~= nil
end


-- prune drops from the reverse map the keys no longer in L1 (evicted or
-- expired there), so that it stays about as large as L1. The map is
-- built anew in spare (the map before the last prune, emptied), which has
-- room for the keys added until the next prune: keys dropped from a table
-- in place leave their slots behind, and a table grown from empty again
-- rehashes at every doubling.
local function prune(self)
    local l1, lru = self.l1, self.lru
    local set = live_set(self)
    local kept = l1.spare or new_tab(0, 2 * l1.size + 64)
    local n = 0
    for st, keys in pairs(l1.keys_of) do
        if type(keys) == "string" then
            if in_l1(lru, set, keys) then
                kept[st] = keys
                n = n + 1
            end
        else
            local left = 0
            for i = 1, #keys do
                local k = keys[i]
                keys[i] = nil
                if in_l1(lru, set, k) then
                    left = left + 1
                    keys[left] = k
                end
            end
            if left == 1 then
                kept[st] = keys[1]
            elseif left > 1 then
                kept[st] = keys
            end
            n = n + left
        end
    end
    local old = l1.keys_of
    clear_tab(old)
    l1.keys_of, l1.keys_n, l1.spare = kept, n, old
end


-- forget_all drops every L1 entry in the reverse map.
function forget_all(self)
    local l1 = self.l1
    for st in pairs(l1.keys_of) do
        forget_keys(self, st)
    end
    l1.keys_n = 0
end


-- restart follows the changes from now on and drops every L1 copy, when
-- what changed since the cursors is not known (a ring was overrun, or
-- more changed than update() reads): true, or nil and an error. After an
-- error the cursors may stand at "from now on", which would skip the
-- changes made until the next call: that call restarts again, dropping
-- what was filled in between.
local function restart(self)
    local ok, err = reset_cursors(self)
    self.l1.restart = not ok
    flush_l1(self)
    return ok, err
end


-- apply_more is apply_changes past its first call, whose n changes (or
-- lap) it takes first. Loops, which apply_changes keeps out of its own
-- path: a loop that a hot caller runs once each time (one change, the
-- common case) is one that LuaJIT gives up tracing and then blacklists,
-- taking the caller's traces with it.
local function apply_more(self, n, lap)
    for _ = 1, UPDATE_CALLS do
        if not n then
            -- The call may have moved cursors past changes it could not
            -- report: what changed is not known, so no copy stands.
            flush_l1(self)
            return nil, lap
        end
        if lap then
            return restart(self)
        end
        for i = 0, n - 1 do
            forget_keys(self, changes_out[i])
        end
        if n < CHANGES then
            return true
        end
        n, lap = l1_changes(self, CHANGES)
    end
    return restart(self)
end


-- apply_changes drops from L1 the entries of every stripe changed since
-- the cursors, and moves them past the changes (all of L1 after a ring
-- was overrun, a flush, or more changes than UPDATE_CALLS calls read):
-- true, or nil and an error.
local function apply_changes(self)
    if self.l1.restart then
        return restart(self)
    end
    local n, lap = l1_changes(self, CHANGES)
    if n == 1 and not lap then
        forget_keys(self, changes_out[0])
        return true
    elseif n == 0 and not lap then
        return true
    end
    return apply_more(self, n, lap)
end


-- l1_current says whether no change was made in the shard of stripe st
-- since the cursors of the instance's L1: whether an entry of L1 filled
-- under st is current, in "always" mode. st is nil from an LRU that keeps
-- no user flags (nothing of it can be checked); an entry the caller put
-- into lua-resty-lrucache without flags reads as stripe 0, and is served
-- as the caller's own value, as mlcache serves it.
--
-- With the library's ring-head watch (watch_heads), it reads the shard's
-- head itself, with no call: shmlru_l1_current's answer, at the cost of a
-- load (shmlru.h, shmlru_l1_heads). A stripe out of range is never
-- current, as the call answers.
local function l1_current(self, st)
    local cursors = self.cursors
    if st == nil or cursors == nil then
        return false
    end
    local heads = self.heads
    if heads then
        local si = rshift(st, self.shift)
        if si < 0 or si >= self.nshards then
            return false
        end
        local reads = self.reads -- before the load, for LuaJIT (watch_heads)
        reads[0] = reads[0] + 1
        return heads[si][0] == cursors[si]
    end
    return lib.shmlru_l1_current(self.h, cursors, self.nshards, st) == 1
end


-- l1_set keeps v (nil for a cached nil) in L1 for ttl seconds (nil:
-- none), read after stripe st read the count stamp: as itself, with st
-- in the LRU's user flags and key in st's reverse map. In "always" mode,
-- and for a copy of this worker's own write (own: a set, or a load whose
-- callback ran here), the changes made in st's shard since the cursors
-- are applied first: they came before the stamp or between it and now,
-- and once the copy is in L1 the next get or update() would apply them
-- and drop it, the write's own change among them. (mlcache's update() too
-- skips the events of its own worker.) Otherwise "update" leaves them to
-- update(), as it leaves every change. Then the copy is kept only if the
-- stripe still reads the stamp: a change since the stamp may be one the
-- cursors have passed, and no later pass would drop the copy.
local function l1_set(self, key, v, st, stamp, ttl, own)
    if (self.always or own) and not l1_current(self, st) and not apply_changes(self) then
        return
    end
    if lib.shmlru_l1_valid(self.h, st, stamp) ~= 1 then
        return
    end
    if v == nil then
        v = NIL
    end
    local l1 = self.l1
    self.lru:set(key, v, ttl, st)
    local keys_of = l1.keys_of
    local keys = keys_of[st]
    if keys == key then
        return
    elseif keys == nil then
        keys_of[st] = key
    elseif type(keys) == "string" then
        keys_of[st] = { keys, key }
    else
        local n = #keys
        for i = 1, n do
            if keys[i] == key then
                return
            end
        end
        keys[n + 1] = key
    end
    local n = l1.keys_n + 1
    l1.keys_n = n
    if n > 2 * l1.size + 64 then
        prune(self)
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
local function promote(self, opts, key, v, st, c0, fresh, level, own_ttl)
    if v ~= nil then
        local ser = opt(self, opts, "l1_serializer")
        if ser then
            local ok, sv, err = pcall(ser, v)
            if not ok then
                return nil, "l1_serializer threw an error: " .. tostring(sv)
            end
            if err then
                return nil, err
            end
            if sv == nil then
                return nil, "l1_serializer returned a nil value"
            end
            v = sv
        end
    end
    if fresh then
        local ttl
        if own_ttl then
            -- This worker's own write: its TTL from now on L1's clock, as
            -- mlcache counts it (L2's deadline is on the wall clock, which
            -- ngx.now() lags within a request).
            if own_ttl > 0 then
                ttl = own_ttl
            end
        elseif fresh ~= 0 then
            ttl = fresh / 1000 - l1_now() -- on L1's clock: it ends with L2's
        end
        if not ttl or ttl > 0 then
            l1_set(self, key, v, st, c0, ttl, own_ttl ~= nil)
        end
    end
    return v, nil, level
end


-- note_write remembers, for peek, that this instance wrote l2key's entry
-- with this version for ttl seconds at ngx.now(), so that peek counts its
-- seconds left on ngx.now()'s clock as mlcache does (the region keeps only
-- the deadline, on the wall clock).
local function note_write(self, l2key, version, ttl)
    local now = ngx and ngx.now
    if not version or not now then
        return
    end
    local w = self.written
    if not w then
        w = l1lru.new(self.lru_size)
        self.written = w
    end
    w:set(l2key, { now(), ttl, version })
end


-- run_cb runs get's callback for resty.shmlru.load the way mlcache runs
-- it, and notes in ran what it returned: a Lua error carries its
-- traceback; an error value goes on as a string (tostring, so __tostring
-- counts) and its value with it, which get returns alongside; a value of a
-- type no cache can hold is noted for get to raise.
local function run_cb(ran, cb, ...)
    local ok, v, err, ttl = xpcall(cb, traceback, ...)
    if not ok then
        error(v, 0) -- load reports it as "callback threw an error: ..."
    end
    ran.value, ran.ttl = v, ttl
    if err then
        err = tostring(err)
        ran.err = err
        return nil, err
    end
    local t = type(v)
    if v ~= nil and t ~= "string" and t ~= "number" and t ~= "boolean"
            and t ~= "table" then
        ran.bad = t
        return nil, "cannot cache value of type " .. t
    end
    local n = t == "string" and #v
    if t == "table" then
        local text = json.encode(v)
        n = text and #text
    end
    if n and n > ran.max then
        -- Fails the load (its waiters hear why); get keeps it in L1.
        ran.too_large = true
        return nil, "value too large for the region (" .. n .. " bytes)"
    end
    return v, nil, ttl
end


-- l1_only answers a value the callback returned and the region did not
-- keep (too large for it, or no room): kept in this worker's L1 for its
-- ttl, as mlcache keeps a value its lua_shared_dict refused.
local function l1_only(self, opts, key, v, cb_ttl, stripe, c0)
    local ttl = type(cb_ttl) == "number" and cb_ttl or opt(self, opts, "ttl")
    if ttl < 0 then
        return v, nil, 3 -- the callback asked not to cache it
    end
    local ms = ttl_ms(ttl)
    return promote(self, opts, key, v, stripe, c0, ms > 0 and now_ms() + ms or 0, 3)
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
    elseif st == RESURRECTED then
        -- as mlcache: 4 from L2 until resurrect_ttl ends (1 from L1)
        return promote(self, opts, key, v, stripe, c0, fresh, 4)
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
    local ran = { max = self.max_value }
    local val, src, own_ttl
    val, err, src, version, fresh = resolve(shm, l2key, o, st, v, run_cb, ran, cb, ...)
    if ran.bad then
        error("cannot cache value of type " .. ran.bad) -- from here, as mlcache
    elseif ran.too_large and src == "loaded" then
        warn("could not write to the region (", err, "): kept in this worker's L1 only")
        return l1_only(self, opts, key, ran.value, ran.ttl, stripe, c0)
    end
    if err then
        if src == "loaded" and err == ran.err then
            return ran.value, err -- the callback's own value and error
        elseif err == TIMEOUT then
            err = LOCK_TIMEOUT
        end
        return nil, err
    end
    if src == "stale" then
        -- resurrect_ttl's stale value on a wait that timed out
        warn(LOCK_TIMEOUT)
        fresh = nil -- served, not kept in L1: the next get looks again
    elseif src == "resurrected" and (ran.err or ran.too_large) then
        -- this caller's callback failed, and its load resurrected the
        -- value (a waiter, or a loader whose look found the value another
        -- load resurrected, only serves it)
        warn("callback returned an error (", ran.err or "value too large for the region",
             ") but stale value found",
             " in the region will be resurrected for ",
             opt(self, opts, "resurrect_ttl"), "s (resurrect_ttl)")
        note_write(self, l2key, version, opt(self, opts, "resurrect_ttl"))
    elseif src == "loaded" then
        local ttl = ran.ttl
        if type(ttl) ~= "number" then
            ttl = val == nil and opt(self, opts, "neg_ttl") or opt(self, opts, "ttl")
        end
        note_write(self, l2key, version, ttl)
        own_ttl = ttl
    end
    if fresh then
        -- The load wrote the entry after c0 was read: keep it in L1 at the
        -- count after the write if nothing else changed it since.
        c0 = restamp(h, l2key, version, fresh) or c0
    end
    return promote(self, opts, key, val, stripe, c0, fresh, LEVEL[src], own_ttl)
end


-- get returns value, err, hit_level (1: L1, 2: L2, 3: the callback ran,
-- 4: a stale value; nil, nil, -1 on a miss without a callback), as
-- mlcache's get. opts: ttl, neg_ttl, resurrect_ttl, l1_serializer,
-- shm_set_tries (no use), resty_lock_opts, lease, wait_timeout.
-- callback(...) returns value, err, ttl as mlcache's (run_cb).
function _M.get(self, key, opts, cb, ...)
    if type(key) ~= "string" then
        error("key must be a string", 2)
    end
    if cb ~= nil and type(cb) ~= "function" then
        error("callback must be nil or a function", 2)
    end
    if opts ~= nil then
        local e = get_opts_error(opts)
        if e then
            error(e, 2)
        end
    end
    local lru = self.lru
    local v, _, st = lru:get(key)
    if v ~= nil and self.always and not l1_current(self, st) then
        -- its shard changed: the changes first, then L1 again
        if not st or not self.shm or not apply_changes(self) then
            return get_l2l3(self, key, opts, cb, ...)
        end
        v = lru:get(key)
    end
    if v ~= nil then
        -- "update": served until update() drops it
        if v == NIL then
            return nil, nil, 1
        end
        return v, nil, 1
    end
    return get_l2l3(self, key, opts, cb, ...)
end


local function peek_call(buf, size, h, key)
    return lib.shmlru_peek(h, key, #key, buf, size, size_out, meta)
end

-- peek returns the seconds left of key's entry in L2 (0: no expiry;
-- negative for an expired one, with stale), nil, its value, and whether
-- it has expired, without promoting it to L1 or moving it in L2's LRU
-- order, as mlcache's peek; nil if there is none.
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
    local went_stale = meta.stale ~= 0
    if went_stale and not stale then
        return nil
    end
    local expires = tonumber(meta.expires_ms)
    local ttl = 0
    if expires ~= 0 then
        local w = self.written and self.written:get(l2key)
        if w and w[3] == tonumber(meta.version) and w[2] > 0 then
            ttl = w[2] - (ngx.now() - w[1])
        else
            ttl = (expires - now_ms()) / 1000
        end
        if ttl == 0 then
            ttl = 0.001 -- as mlcache: 0 means no expiry
        end
    end
    if meta.type == TYPE_NONE then
        return ttl, nil, nil, went_stale
    end
    local v, err = codec.decode(buf, size_out[0], meta.type, load.user_flags(meta.flags))
    if v == nil then
        return nil, err
    end
    return ttl, nil, v, went_stale
end


-- set stores value (a scalar, a table, or nil: a cached nil for neg_ttl)
-- in L2 and in this worker's L1: true, or nil and an error. Every other
-- worker and process sees it from its next get on (no update() needed).
function _M.set(self, key, opts, value)
    if type(key) ~= "string" then
        error("key must be a string", 2)
    end
    if opts ~= nil then
        local e = get_opts_error(opts)
        if e then
            error(e, 2)
        end
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
    local ttl = value == nil and opt(self, opts, "neg_ttl") or opt(self, opts, "ttl")
    note_write(self, l2key, version, ttl)
    -- The write bumped the stripe after c0: the copy is current at the
    -- count after it if the entry is still this write's.
    c0 = restamp(h, l2key, version, fresh) or c0
    local _, err = promote(self, opts, key, value, stripe, c0, fresh, 0, ttl)
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
    if self.custom_lru and not self.lru.flush_all then
        error("cannot purge when using custom LRU cache with OpenResty < 1.13.6.2", 2)
    end
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
    flush_l1(self)
    return true
end


-- update applies to L1 every change any process made to L2 since the
-- last time they were applied (see the top of this file): the L1 entries
-- of every changed stripe go. With l1_coherence "always", get applies
-- them too, before it serves a copy whose shard changed. true, or nil and
-- an error.
function _M.update(self, timeout)
    if not self.shm then
        return true
    end
    return apply_changes(self)
end


-- new_bulk, get_bulk and each_bulk_res as mlcache's: lookups of 4 slots
-- (key, opts, callback, arg) in bulk, answers of 3 (value, err,
-- hit_level) in res. The lookups L1 or L2 answers are answered first; the
-- others run their callbacks in up to opts.concurrency (3) light threads,
-- this one included, each taking a run of them, as mlcache spreads them.
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

-- bulk_get answers lookup i of bulk in res (with its callback if cb).
local function bulk_get(self, bulk, res, i, cb)
    local b = (i - 1) * 4
    local r = (i - 1) * 3
    local f
    if cb then
        f = bulk[b + 3]
    end
    local ok, v, err, lvl = pcall(self.get, self, bulk[b + 1], bulk[b + 2], f,
                                  bulk[b + 4])
    if not ok then
        v, err, lvl = nil, v, nil
    end
    res[r + 1], res[r + 2], res[r + 3] = v, err, lvl
    return lvl
end

-- bulk_run answers the lookups misses[from..to] with their callbacks.
local function bulk_run(self, bulk, res, misses, from, to)
    for k = from, to do
        bulk_get(self, bulk, res, misses[k], true)
    end
end

local function debug_log(self, ...)
    if self.debug then
        ngx.log(ngx.DEBUG, ...)
    end
end

function _M.get_bulk(self, bulk, opts)
    if type(bulk) ~= "table" then
        error("bulk must be a table", 2)
    end
    if not bulk.n then
        error("bulk must have n field", 2)
    end
    local concurrency = 3
    if opts then
        if type(opts) ~= "table" then
            error("opts must be a table", 2)
        end
        if opts.concurrency then
            concurrency = opts.concurrency
            if type(concurrency) ~= "number" then
                error("opts.concurrency must be a number", 2)
            end
            if concurrency <= 0 then
                error("opts.concurrency must be > 0", 2)
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
        local o = bulk[b + 2]
        local e = o ~= nil and get_opts_error(o)
        if e then
            error("options at index " .. (b + 2) .. " for operation " .. i
                  .. " are invalid: " .. e, 2)
        end
    end
    local res = { n = bulk.n * 3 }
    local misses = {}
    for i = 1, bulk.n do
        if bulk_get(self, bulk, res, i, false) == -1 then
            misses[#misses + 1] = i
        end
    end
    local n = #misses
    if n == 0 then
        return res
    end
    local spawn = ngx and ngx.thread and ngx.thread.spawn
    local n_threads = spawn and math.min(n, concurrency) - 1 or 0
    local size = math.ceil(n / concurrency)
    debug_log(self, "spawning ", n_threads, " threads to run ", n, " callbacks")
    local threads = {}
    local from, rest = 1, n
    for t = 1, n_threads do
        local to
        if rest >= size then
            rest = rest - size
            to = from + size - 1
        else
            rest = 0
            to = from
        end
        debug_log(self, "thread ", t, " running callbacks ", from, " to ", to)
        local th, err = spawn(bulk_run, self, bulk, res, misses, from, to)
        if not th then
            return nil, "could not spawn a thread: " .. tostring(err)
        end
        threads[t] = th
        from = from + size
        if rest == 0 then
            break
        end
    end
    if rest > 0 then
        debug_log(self, "main thread running callbacks ", from, " to ", from + rest - 1)
        bulk_run(self, bulk, res, misses, from, from + rest - 1)
    end
    for t = 1, #threads do
        local ok, err = ngx.thread.wait(threads[t])
        if not ok then
            ngx.log(ngx.ERR, "failed to wait for thread number ", t, ": ", err)
        end
    end
    return res
end

function _M.each_bulk_res(res)
    if type(res) ~= "table" or not res.n then
        error("res must have res.n field; is this a get_bulk() result?", 2)
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
