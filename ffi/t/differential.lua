-- A differential test of resty.shmlru against ngx.shared.DICT: the same
-- random calls, made in one nginx worker on a lua_shared_dict and on a
-- shmlru cache, must return the same values. ffi/differential_test.go starts
-- nginx with this module on the Lua path and asks
--
--   GET /diff?seed=N&steps=M
--
-- which runs M random steps from seed N on both dicts (emptied first) and
-- answers "ok ..." with counts, or "MISMATCH ..." with the seed, the step,
-- the call, both results and the calls before it. A seed replays exactly
-- (the generator is ours, not math.random).
--
-- Both dicts are big enough that nothing is ever evicted, so every result
-- is determined by the calls. What may still differ, and how each case is
-- handled:
--
-- * Time. nginx caches its clock; shmlru reads the wall clock on each call.
--   Each call first updates nginx's clock (ngx.update_time), and measures
--   how long the pair of calls took, so a ttl() comparison allows exactly
--   the clock readings that could have differed (see ttl_close). TTLs short
--   enough to expire during the run come only in an "episode": one to three
--   calls on distinct keys, then a yield (ngx.sleep) until both clocks are
--   past every deadline, before either dict is asked anything more (see
--   run_episode for why those calls cannot see each other's expiry). Every
--   other TTL is 0, sub-millisecond (no expiry in either), at least 100 s
--   (none expires during a run), or one that raises.
-- * Expired entries not yet removed. ngx.shared.DICT removes them lazily
--   (a few from the LRU tail on each write), shmlru when it needs room, so
--   whether one is still there differs, and get_stale, ttl, expire and
--   flush_expired see the difference. Episodes therefore probe their expired
--   keys first with get_stale (no write has run since they expired, so both
--   dicts still hold them) and then flush_expired on both, so no expired
--   entry survives an episode. ttl is compared on the expired keys too,
--   right after get_stale (both return the negative time left), and expire
--   never: ngx.shared.DICT's revives an expired entry until the lazy
--   removal, where shmlru answers "not found" (ffi/README.md).
-- * flush_all frees shmlru's entries at once; the dict only marks them
--   expired (a difference by design, README.md), so get_stale would still
--   see them. After flush_all the dict's expired entries are flushed too
--   (uncompared), and the two agree again.
-- * get_keys returns keys in an order of each dict's own (shmlru: shard by
--   shard), so the lists are compared as sets; with a max_count below the
--   number of keys each may return other keys, so then the count is compared
--   and each key returned must be one the other dict holds.
-- * Errors raised (not returned) are compared without their "file:line: "
--   prefix (the two modules raise them from different files), and of a
--   "bad argument #N to 'f' (reason)" only the reason is compared: N and f
--   name the dict's C function or FFI call and depend on how it was called.
-- * A self that is not a dict: each run starts with every method called
--   on bad selves (another table, nil, a number, a string) and, for the
--   methods resty.core implements, with a dot (the key taken for self);
--   both must raise the same error, 'bad "zone" argument', naming the same
--   line, the caller's (check_bad_self). Not for the dict's C functions,
--   which count their arguments first: a dot call of lpush, rpush, lpop,
--   rpop or llen, and get_keys and flush_expired at all (ffi/README.md).
-- * Not generated (differences by design, ffi/README.md): values larger than
--   shmlru's limit ("value too large", where the dict says "no memory"),
--   capacity and free_space (sizes of different layouts), a missing
--   argument or an explicit nil max_count for the dict's C functions (they
--   count their arguments and raise; resty.shmlru takes nil as absent), and
--   TTLs beyond shmlru's limit of about 292 years.

local ffi = require "ffi"
local bit = require "bit"

local bxor, lshift, rshift, tobit = bit.bxor, bit.lshift, bit.rshift, bit.tobit
local floor = math.floor
local concat = table.concat
local unpack = unpack
local select = select

local _M = {}


-- The random generator: xorshift32, so a seed replays the same calls in any
-- LuaJIT whatever math.random does.
local function new_rng(seed)
    local s = tobit(seed * 2654435761 % 4294967296)
    if s == 0 then
        s = 1
    end
    local r = {}
    -- int returns an integer in [1, n].
    function r.int(n)
        s = bxor(s, lshift(s, 13))
        s = bxor(s, rshift(s, 17))
        s = bxor(s, lshift(s, 5))
        return s % n + 1
    end
    -- pick returns a random element of list (which may hold nils: list.n).
    function r.pick(list)
        return list[r.int(list.n or #list)]
    end
    -- chance is true with probability p/100.
    function r.chance(p)
        return r.int(100) <= p
    end
    return r
end


local function pack(...)
    return { n = select("#", ...), ... }
end


local function escape(c)
    return string.format("\\%d", c:byte())
end

-- show renders a value for a report: strings quoted, with their control
-- bytes, quotes and bytes above 127 as Lua's decimal escapes, and
-- abbreviated when long.
local function show(v)
    if type(v) == "string" then
        local s = v
        if #s > 40 then
            s = s:sub(1, 24)
        end
        s = '"' .. s:gsub('[%c"\\\128-\255]', escape) .. '"'
        if #v > 40 then
            return s .. "..(" .. #v .. " bytes)"
        end
        return s
    elseif type(v) == "number" then
        if v ~= v then
            return "0/0"
        elseif v == 0 and 1 / v < 0 then
            return "-0"
        end
        return string.format("%.17g", v)
    elseif type(v) == "table" and v.keys_of then
        return "{" .. #v.keys_of .. " keys}"
    end
    return tostring(v)
end

local function show_list(t, from)
    local out = {}
    for i = from or 1, t.n do
        out[#out + 1] = show(t[i])
    end
    return concat(out, ", ")
end


-- The argument pools. A list that holds nils has its length in n.

local TABLE_KEY = {}
local KEYS = { "a", "b", "c", "d", "e", "f", 7, "7", 3.5 }
-- keys that list calls and incr prefer, so that lists grow and counters
-- count; the other calls reach them now and then (gen_key)
local LIST_KEYS = { "l1", "l2" }
local NUMBER_KEYS = { "n1", "n2" }
local TYPED_KEYS = { "l1", "l2", "n1", "n2" }
local ODD_KEYS = { n = 8, nil, "", true, TABLE_KEY, string.rep("L", 300),
                   string.rep("M", 65535), string.rep("T", 65536), 12 }

local NUMBERS = { 0, -0.0, 1, -1, 42, 2 ^ 31, 2 ^ 32, 2 ^ 53, -2 ^ 53, 2 ^ 63,
                  1e308, -1e308, 1e-300, 0.5, -3.25, math.huge, -math.huge,
                  0 / 0, 123456789.123 }
local STRING_LENGTHS = { 0, 0, 1, 1, 2, 7, 8, 8, 9, 31, 100, 1000, 4095, 4096,
                         4097, 9000, 30000 }
-- list items are shorter, so that no list nears shmlru's value limit
local ITEM_LENGTHS = { 0, 1, 2, 7, 8, 9, 31, 100, 1000, 4097 }
local BAD_VALUES = { {}, print, ffi.new("int", 1) }
local FLAGS = { n = 17, nil, nil, nil, nil, 0, 1, 7, 255, 0x7fffffff,
                0x80000000, 0xffffffff, -1, 1.5, 2 ^ 32 + 3, false, true,
                "3" }
-- TTLs that never expire during a run (see the top of the file); 0.0005 s is
-- 0 ms in both (no expiry); -1 and a string raise in both.
local EXPTIMES = { n = 13, nil, nil, nil, 0, 0, 100, 3600.5, 100.0005, 1e6, 1e9,
                   0.0005, -1, "100" }
-- No negative one: shmlru's expire raises for it, as set does, where the
-- dict's makes the entry permanent (a difference by design, ffi/README.md).
local EXPIRE_TIMES = { n = 8, nil, 0, 100, 3600.5, 1e9, 0.0005, "100",
                       100.0005 }
local SHORT_TTLS = { 0.001, 0.0015, 0.002, 0.002, 0.0005 }
local SHORT_MAX_MS = 2
local INCR_DELTAS = { 1, 1, -1, 2.5, 0, -0.0, 1e308, math.huge, 0 / 0, "2",
                      "0x10", "x", {}, false }
local INCR_INITS = { n = 12, nil, nil, nil, nil, false, 0, 10, -1.5, "5", "x",
                     true, 0 / 0 }
local INIT_TTLS = { n = 9, nil, nil, nil, 0, 100, 0.0005, "100", -1, "x" }
local COUNTS = { 0, 1, 2, 5, 1024, -1 }


local function gen_string(rng, lengths)
    local n = rng.pick(lengths or STRING_LENGTHS)
    local chunk = {}
    for i = 1, math.min(n, 16) do
        chunk[i] = string.char(rng.pick({ 0, 10, 65, 97, 122, 200, 255, 48 + i }))
    end
    chunk = concat(chunk)
    if n <= 16 then
        return chunk
    end
    return string.rep(chunk, math.ceil(n / 16)):sub(1, n)
end

local function gen_number(rng)
    local k = rng.int(4)
    if k == 1 then
        return rng.int(2001) - 1001
    elseif k == 2 then
        return (rng.int(2000001) - 1000001) / 1024
    end
    return rng.pick(NUMBERS)
end

-- gen_value returns a value for a store: any type, a few rejected.
local function gen_value(rng)
    local k = rng.int(100)
    if k <= 45 then
        return gen_string(rng)
    elseif k <= 75 then
        return gen_number(rng)
    elseif k <= 87 then
        return rng.chance(50)
    elseif k <= 95 then
        return nil
    end
    return rng.pick(BAD_VALUES)
end

-- gen_item returns a value for a list push: strings and numbers, a few
-- rejected.
local function gen_item(rng)
    local k = rng.int(100)
    if k <= 50 then
        return gen_string(rng, ITEM_LENGTHS)
    elseif k <= 85 then
        return gen_number(rng)
    end
    return rng.pick({ n = 4, nil, true, {}, false })
end

local function gen_key(rng)
    local k = rng.int(100)
    if k <= 86 then
        return rng.pick(KEYS)
    elseif k <= 94 then
        return rng.pick(TYPED_KEYS)
    end
    return rng.pick(ODD_KEYS)
end


-- A call is { m = method, a = packed arguments }.
local function call(m, ...)
    return { m = m, a = pack(...) }
end

local STORES = { "set", "safe_set", "add", "safe_add", "replace" }

-- The random step kinds and their weights. "episode" is a group of calls
-- with short TTLs followed by a yield (run_episode).
local KINDS = {
    { "get", 10 }, { "get_stale", 5 }, { "set", 10 }, { "safe_set", 4 },
    { "add", 5 }, { "safe_add", 3 }, { "replace", 5 }, { "delete", 4 },
    { "incr", 9 }, { "lpush", 5 }, { "rpush", 5 }, { "lpop", 4 },
    { "rpop", 4 }, { "llen", 3 }, { "ttl", 6 }, { "expire", 4 },
    { "flush_expired", 2 }, { "get_keys", 2 }, { "flush_all", 0.3 },
    { "episode", 2 },
}
local KIND_TOTAL = 0
for _, k in ipairs(KINDS) do
    KIND_TOTAL = KIND_TOTAL + k[2]
end

local function pick_kind(rng)
    local x = (rng.int(100000) - 1) / 100000 * KIND_TOTAL
    for _, k in ipairs(KINDS) do
        x = x - k[2]
        if x < 0 then
            return k[1]
        end
    end
    return KINDS[1][1]
end

-- gen_call returns a random call of kind m on key (nil: a random key).
local function gen_call(rng, m, key)
    if key == nil then
        if (m == "lpush" or m == "rpush" or m == "lpop" or m == "rpop"
            or m == "llen") and rng.chance(65)
        then
            key = rng.pick(LIST_KEYS)
        elseif m == "incr" and rng.chance(50) then
            key = rng.pick(NUMBER_KEYS)
        else
            key = gen_key(rng)
        end
    end
    if m == "get" or m == "get_stale" or m == "delete" or m == "lpop"
        or m == "rpop" or m == "llen" or m == "ttl"
    then
        return call(m, key)
    elseif m == "set" or m == "safe_set" or m == "add" or m == "safe_add"
        or m == "replace"
    then
        local n = rng.int(4)
        if n == 1 then
            return call(m, key, gen_value(rng))
        elseif n == 2 then
            return call(m, key, gen_value(rng), rng.pick(EXPTIMES))
        end
        return call(m, key, gen_value(rng), rng.pick(EXPTIMES), rng.pick(FLAGS))
    elseif m == "incr" then
        local n = rng.int(4)
        if n == 1 then
            return call(m, key, rng.pick(INCR_DELTAS))
        elseif n == 2 then
            return call(m, key, rng.pick(INCR_DELTAS), rng.pick(INCR_INITS))
        end
        return call(m, key, rng.pick(INCR_DELTAS), rng.pick(INCR_INITS),
                    rng.pick(INIT_TTLS))
    elseif m == "lpush" or m == "rpush" then
        return call(m, key, gen_item(rng))
    elseif m == "expire" then
        return call(m, key, rng.pick(EXPIRE_TIMES))
    elseif m == "flush_expired" or m == "get_keys" then
        if rng.chance(40) then
            return call(m)
        end
        return call(m, rng.pick(COUNTS))
    elseif m == "flush_all" then
        return call(m)
    end
    error("no generator for " .. m)
end

-- gen_short_call returns a call that gives key a short TTL (an episode's).
-- Only the first call of an episode may be safe_set or safe_add: they look
-- for expired entries to remove in shmlru, and by the wall clock an earlier
-- call's TTL may have passed already.
local function gen_short_call(rng, key, first)
    local ttl = rng.pick(SHORT_TTLS)
    local k = rng.int(8)
    if not first and (STORES[k] == "safe_set" or STORES[k] == "safe_add") then
        k = 1
    end
    if k <= 5 then
        return call(STORES[k], key, gen_value(rng), ttl, rng.pick(FLAGS))
    elseif k == 6 then
        return call("incr", key, rng.pick(INCR_DELTAS), rng.pick({ 0, 5, 1.5 }), ttl)
    end
    return call("expire", key, ttl)
end


-- Comparison.

local function same_value(a, b)
    if type(a) ~= type(b) then
        return false
    end
    if type(a) == "number" then
        if a ~= a then
            return b ~= b
        end
        if a == 0 and b == 0 then
            return 1 / a == 1 / b
        end
    end
    return a == b
end

-- error_reason strips what may legitimately differ in a raised error: the
-- "file:line: " of the raising module, and in luaL_argerror's "bad argument
-- #N to 'f' (reason)", N and f (they depend on the call's syntax).
local function error_reason(e)
    e = tostring(e):gsub("^.-:%d+: ", "", 1)
    return e:match("^bad argument #%d+ to '[^']*' %((.*)%)$") or e
end

-- same_results compares two pcall results (r[1] is pcall's status).
local function same_results(x, y)
    if x[1] ~= y[1] then
        return false
    end
    if not x[1] then
        return error_reason(x[2]) == error_reason(y[2])
    end
    if x.n ~= y.n then
        return false
    end
    for i = 2, x.n do
        if not same_value(x[i], y[i]) then
            return false
        end
    end
    return true
end

local function to_ms(secs)
    return floor(secs * 1000 + 0.5)
end


-- The run of one seed.

local Run = {}
Run.__index = Run

local function new_run(ngx_dict, cache, seed)
    return setmetatable({
        dict = ngx_dict, cache = cache, seed = seed, rng = new_rng(seed),
        step = 0, calls = 0, trace = {}, by_method = {},
        -- ms that a key's deadline may differ between the two (see ttl_close)
        skew = {},
        stale_hits = 0, episodes = 0, bad_self = 0, expired_ttls = 0,
        errors = {}, -- error (returned or raised) -> times, for ?verbose=1
    }, Run)
end

-- now_ms updates nginx's cached clock and returns it in ms.
local function now_ms()
    ngx.update_time()
    return to_ms(ngx.now())
end

local function key_id(k)
    return tostring(k)
end

-- exec makes call c on both sides and returns both results and the ms the
-- pair took by nginx's clock (0 when both ran within one millisecond).
-- Unless same_clock is set, it first updates nginx's clock.
function Run:exec(c, same_clock)
    local t0 = same_clock and to_ms(ngx.now()) or now_ms()
    local x = pack(pcall(self.dict[c.m], self.dict, unpack(c.a, 1, c.a.n)))
    local y = pack(pcall(self.cache[c.m], self.cache, unpack(c.a, 1, c.a.n)))
    local width = now_ms() - t0
    self.calls = self.calls + 1
    local bm = self.by_method[c.m] or { calls = 0, values = 0, errors = 0 }
    self.by_method[c.m] = bm
    bm.calls = bm.calls + 1
    if x[1] and x[2] then
        bm.values = bm.values + 1
    elseif not x[1] or type(x[3]) == "string" then
        bm.errors = bm.errors + 1
        local e = c.m .. ": " .. (x[1] and tostring(x[3])
                                  or "raised " .. error_reason(x[2]))
        self.errors[e] = (self.errors[e] or 0) + 1
    end
    local tr = self.trace
    tr[#tr + 1] = c.m .. "(" .. show_list(c.a) .. ") -> "
        .. (x[1] and show_list(x, 2) or "raised " .. tostring(x[2]))
    if #tr > 30 then
        table.remove(tr, 1)
    end
    return x, y, width
end

function Run:fail(c, x, y, why)
    local lines = {
        string.format("MISMATCH seed=%d step=%d%s", self.seed, self.step,
                      why and (" (" .. why .. ")") or ""),
        "call: " .. c.m .. "(" .. show_list(c.a) .. ")",
        "ngx.shared.DICT: " .. (x[1] and "returned (" .. show_list(x, 2) .. ")"
                                or "raised " .. tostring(x[2])),
        "resty.shmlru:    " .. (y[1] and "returned (" .. show_list(y, 2) .. ")"
                                or "raised " .. tostring(y[2])),
        "the calls up to it (ngx.shared.DICT's results):",
    }
    for _, l in ipairs(self.trace) do
        lines[#lines + 1] = "  " .. l
    end
    error({ report = concat(lines, "\n") })
end

-- ttl_close compares ttl results. A deadline is the clock at the write plus
-- the TTL, and the clock at a ttl() call is subtracted; each side read its
-- own clock (nginx's, updated just before the pair of calls, and the wall
-- clock in shmlru, a moment later), so shmlru's answer may exceed the dict's
-- by the ms its write's pair took (skew) and fall short by the ms this
-- pair took (width). Anything else is a real difference.
function Run:ttl_close(c, x, y, width)
    -- The dict's C function returns the ms left, and -5 ms is its
    -- NGX_DECLINED, which resty.core reads as "not found": an entry that
    -- expired 5 ms before the dict's clock (ffi/README.md).
    if x[1] and y[1] and x[2] == nil and x[3] == "not found"
        and type(y[2]) == "number" and y[2] < 0
    then
        local d = to_ms(y[2]) + 5
        return d >= -width and d <= (self.skew[key_id(c.a[1])] or 0)
    end
    if not (x[1] and y[1] and x.n == 2 and y.n == 2
            and type(x[2]) == "number" and type(y[2]) == "number")
    then
        return same_results(x, y)
    end
    if x[2] == 0 or y[2] == 0 then
        return x[2] == y[2]
    end
    local d = to_ms(y[2]) - to_ms(x[2])
    return d >= -width and d <= (self.skew[key_id(c.a[1])] or 0)
end

-- keys_close compares get_keys results as sets (see the top of the file).
function Run:keys_close(c, x, y)
    if not (x[1] and y[1]) or x.n ~= 2 or y.n ~= 2
        or type(x[2]) ~= "table" or type(y[2]) ~= "table"
    then
        return same_results(x, y)
    end
    local kx, ky = x[2], y[2]
    if #kx ~= #ky then
        return false
    end
    local all_x, all_y = {}, {}
    for _, k in ipairs(self.dict:get_keys(0)) do
        all_x[k] = true
    end
    for _, k in ipairs(self.cache:get_keys(0)) do
        all_y[k] = true
    end
    local seen = {}
    for _, k in ipairs(kx) do
        if not all_y[k] or seen[k] then
            return false
        end
        seen[k] = true
    end
    seen = {}
    for _, k in ipairs(ky) do
        if not all_x[k] or seen[k] then
            return false
        end
        seen[k] = true
    end
    return true
end

-- check makes call c on both sides and fails the run on a difference.
function Run:check(c, same_clock)
    local x, y, width = self:exec(c, same_clock)
    local ok
    if c.m == "ttl" then
        ok = self:ttl_close(c, x, y, width)
    elseif c.m == "get_keys" then
        ok = self:keys_close(c, x, y)
        -- show sizes, not every key
        if x[1] and type(x[2]) == "table" then
            x[2] = { keys_of = x[2] }
        end
        if y[1] and type(y[2]) == "table" then
            y[2] = { keys_of = y[2] }
        end
    else
        ok = same_results(x, y)
    end
    if not ok then
        self:fail(c, x, y)
    end
    -- A write with a TTL sets a deadline from each side's clock reading.
    local m = c.m
    if m == "expire" or (m == "incr" and c.a.n >= 4) or (c.a.n >= 3 and (
        m == "set" or m == "safe_set" or m == "add" or m == "safe_add"
        or m == "replace"))
    then
        local id = key_id(c.a[1])
        if width > (self.skew[id] or 0) then
            self.skew[id] = width
        end
    end
    return x, y
end

-- both runs f on each dict, uncompared (to bring them to the same state).
function Run:both(f)
    f(self.dict)
    f(self.cache)
end

local function flush_expired(d)
    d:flush_expired()
end

-- run_episode gives 1 to 3 keys short TTLs, yields until both clocks are
-- past every deadline, probes the keys with get_stale, then either compares
-- flush_expired or makes one more call on an expired key, and leaves no
-- expired entry behind (see the top of the file). Within the episode no
-- call's answer may depend on whether another's TTL has passed yet: the
-- calls after the first keep nginx's clock where the first left it, so none
-- of the entries has expired for the dict, and they are on other keys and
-- never safe_set or safe_add, the only writes in which shmlru looks for
-- expired entries (to remove them) when the cache has room.
function Run:run_episode()
    local rng = self.rng
    self.episodes = self.episodes + 1
    local keys, chosen = {}, {}
    for _ = 1, rng.int(3) do
        local k = rng.pick(KEYS)
        if not chosen[key_id(k)] then
            chosen[key_id(k)] = true
            keys[#keys + 1] = k
        end
    end
    for i, k in ipairs(keys) do
        self:check(gen_short_call(rng, k, i == 1), i > 1)
    end
    local done_ms = now_ms()
    -- shmlru's deadline is at most its clock at the write (<= done_ms)
    -- plus the TTL; the dict's is its cached clock then (<= done_ms) plus
    -- the TTL and it expires strictly after; 2 ms more is margin.
    repeat
        ngx.sleep(0.003)
    until now_ms() >= done_ms + SHORT_MAX_MS + 2
    for i = #keys, 2, -1 do
        local j = rng.int(i)
        keys[i], keys[j] = keys[j], keys[i]
    end
    for _, k in ipairs(keys) do
        local x = self:check(call("get_stale", k))
        if x[1] and x[4] == true then
            self.stale_hits = self.stale_hits + 1
            -- expired, still in both: the negative time left
            x = self:check(call("ttl", k))
            if x[1] and type(x[2]) == "number" and x[2] < 0 then
                self.expired_ttls = self.expired_ttls + 1
            end
        end
    end
    if rng.chance(50) then
        local c = gen_call(rng, "flush_expired")
        local x = self:check(c)
        if c.a.n > 0 and c.a[1] > 0 and x[2] == c.a[1] then
            self:check(call("flush_expired"))
        end
        return
    end
    local kinds = { "get", "set", "safe_set", "add", "safe_add", "replace",
                    "delete", "incr", "lpush", "rpush", "lpop", "rpop",
                    "llen", "get_keys" }
    self:check(gen_call(rng, rng.pick(kinds), rng.pick(keys)))
    -- The dict may have removed some expired entries in that call.
    self:both(flush_expired)
end

-- BAD_SELF_ARGS are the arguments (after self) of the calls on bad selves:
-- each method that takes a key is given "bs", which holds a value in both
-- dicts, so that a call that went through would change or find it. The
-- dict's C functions (list methods) are called with as many arguments as
-- they count. expire's -1 would raise on its own in shmlru, after the self
-- check. get_keys and flush_expired are left out (see the top of the file).
local BAD_SELF_ARGS = {
    get = { "bs" }, get_stale = { "bs" }, set = { "bs", "v" },
    safe_set = { "bs", "v" }, add = { "bs", "v" }, safe_add = { "bs", "v" },
    replace = { "bs", "v" }, delete = { "bs" }, incr = { "bs", 1, 0 },
    ttl = { "bs" }, expire = { "bs", -1 }, flush_all = {}, capacity = {},
    free_space = {}, lpush = { "bs", "v" }, rpush = { "bs", "v" },
    lpop = { "bs" }, rpop = { "bs" }, llen = { "bs" },
}
local C_FUNCTIONS = { lpush = true, rpush = true, lpop = true, rpop = true,
                      llen = true }

-- call_as calls f with the arguments in a: the one line that the errors
-- both dicts raise must name.
local function call_as(f, a)
    local r = pack(f(unpack(a, 1, a.n)))
    return r
end

-- check_bad_self calls each method of both dicts on bad selves and with a
-- dot, and compares the raised errors whole (message and position); then
-- that nothing was written, deleted or flushed.
function Run:check_bad_self()
    self:both(function(d) d:set("bs", "kept", 0, 5) end)
    local selves = { n = 5, {}, { 1 }, nil, 7, "bs" }
    for m, args in pairs(BAD_SELF_ARGS) do
        local calls = {}
        for i = 1, selves.n do
            calls[#calls + 1] = pack(selves[i], unpack(args))
        end
        if not C_FUNCTIONS[m] then
            calls[#calls + 1] = pack(unpack(args)) -- dict.m(args)
        end
        for _, a in ipairs(calls) do
            local x = pack(pcall(call_as, self.dict[m], a))
            local y = pack(pcall(call_as, self.cache[m], a))
            self.bad_self = self.bad_self + 1
            if x[1] or y[1] or x[2] ~= y[2]
                or not tostring(x[2]):find('differential.lua:%d+: bad "zone" argument$')
            then
                self:fail({ m = m .. " on a bad self", a = a }, x, y)
            end
        end
    end
    for _, c in ipairs({ call("get", "bs"), call("ttl", "bs") }) do
        self:check(c)
    end
end

function Run:run(steps)
    self:both(function(d) d:flush_all() d:flush_expired() end)
    self:check_bad_self()
    local rng = self.rng
    for i = 1, steps do
        self.step = i
        local kind = pick_kind(rng)
        if kind == "episode" then
            self:run_episode()
        else
            self:check(gen_call(rng, kind))
            if kind == "flush_all" then
                -- The dict only marked its entries expired.
                self.dict:flush_expired()
            end
        end
    end
end


-- handler serves GET /diff?seed=N&steps=M.
function _M.handler()
    local seed = tonumber(ngx.var.arg_seed)
    local steps = tonumber(ngx.var.arg_steps) or 1000
    local dict = ngx.shared[ngx.var.arg_dict or "diffdict"]
    local cache = package.loaded["shmlru.cache"]
    if not seed or not dict or not cache then
        ngx.status = 500
        ngx.say("need ?seed=, a lua_shared_dict diffdict and the shmlru",
                " cache (dict: ", tostring(dict), ", cache: ",
                tostring(cache), ")")
        return
    end
    if not package.loaded["resty.core.shdict"] then
        ngx.status = 500
        ngx.say("resty.core.shdict is not loaded: ngx.shared.DICT lacks",
                " ttl and expire")
        return
    end
    local r = new_run(dict, cache, seed)
    local ok, err = pcall(r.run, r, steps)
    if not ok then
        if type(err) == "table" and err.report then
            ngx.say(err.report)
            return
        end
        ngx.say(string.format("ERROR seed=%d step=%d: %s", seed, r.step,
                              tostring(err)))
        return
    end
    local methods = {}
    for m, bm in pairs(r.by_method) do
        methods[#methods + 1] = string.format("%s=%d/%d/%d", m, bm.calls,
                                              bm.values, bm.errors)
    end
    table.sort(methods)
    ngx.say(string.format("ok seed=%d steps=%d calls=%d episodes=%d stale=%d"
                          .. " expired_ttls=%d bad_self=%d %s",
                          seed, steps, r.calls, r.episodes, r.stale_hits,
                          r.expired_ttls, r.bad_self, concat(methods, " ")))
    if ngx.var.arg_verbose then
        local errs = {}
        for e, n in pairs(r.errors) do
            errs[#errs + 1] = string.format("%5d %s", n, e)
        end
        table.sort(errs)
        ngx.say(concat(errs, "\n"))
    end
end

return _M
