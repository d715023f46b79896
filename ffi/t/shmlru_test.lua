-- Tests of resty.shmlru under plain LuaJIT, against the built libshmlru.so.
--
--   SHMLRU_LIB=build/libshmlru.so luajit ffi/t/shmlru_test.lua [region]
--
-- Run by `make test-lua`. The expected results are written by hand: for the
-- ngx.shared.DICT methods, what the dict returns for the same call (as
-- lua-resty-core's shdict.lua and lua-nginx-module define it); the rest
-- (open, cas, stats, info, close, "value too large", fork) are shmlru's own.
-- This file does not run the dict: ffi/differential_test.go compares the two
-- in nginx, call by call.
--
-- What it covers, section by section: open and its errors (a bad path,
-- size or mode; a mode that lets the group read without writing; a
-- symbolic link at the path, never followed; a directory; no_create; a
-- shard count that is no power of two; block_size, gone since layout 3);
-- get and set of each value type with flags (the dict's C int, read back
-- signed), bad keys and values, and a value larger than the module's
-- buffer, which grows it; every method called with a dot or on a self
-- that is not a cache ('bad "zone" argument' at the caller); add, replace
-- and the safe_ variants; cas; incr; ttl (negative for an expired entry
-- still stored), expire, get_stale and flush_expired, with TTLs in whole
-- milliseconds; lists; get_keys, flush_all, capacity, free_space and
-- stats; a full cache (safe_set says "no memory", set reports forcible); a
-- second handle on the region and closed handles; and a child forked after
-- the library was loaded, refused with a clear error while the parent goes
-- on.

package.path = "ffi/?.lua;ffi/t/?.lua;" .. package.path

local shmlru = require "resty.shmlru"
local ffi = require "ffi"
local T = require "check"
local expect, truthy, raises = T.expect, T.truthy, T.raises

local path = arg[1] or ("/dev/shm/shmlru-luatest-" .. tostring(ffi.C and os.time()))
os.remove(path)

-- open and its errors
do
    expect({ nil, "bad path: a non-empty string expected" }, shmlru.open(nil))
    expect({ nil, "bad path: a non-empty string expected" }, shmlru.open(""))
    local c, err = shmlru.open(path, { size = "12x" })
    truthy(c == nil and err:find("bad size", 1, true), err)
    c, err = shmlru.open(path, { mode = "rw" })
    truthy(c == nil and err:find("bad mode", 1, true), err)
    -- a group that could read without writing could stall every process
    c, err = shmlru.open(path, { size = "4m", mode = "0640" })
    truthy(c == nil and err:find("invalid options", 1, true)
        and err:find("read-only", 1, true), err)
    -- a symbolic link at the path is never followed
    local link = path .. "-link"
    os.remove(link)
    os.execute("ln -s '" .. path .. "-target' '" .. link .. "'")
    c, err = shmlru.open(link, { size = "4m" })
    truthy(c == nil and err:find("not trusted", 1, true)
        and err:find("symbolic link", 1, true), err)
    truthy(io.open(path .. "-target") == nil)
    os.remove(link)
    c, err = shmlru.open("/tmp", { size = "4m" })
    truthy(c == nil and err:find("not a shmlru region", 1, true), err)
    c, err = shmlru.open(path .. "-missing", { no_create = true })
    truthy(c == nil and err:find("no such file", 1, true), err)
    c, err = shmlru.open(path, { size = "4m", shards = 3 })
    truthy(c == nil and err:find("Shards", 1, true), err)
    -- block_size is gone since layout 3: giving it is an error, not a
    -- setting silently ignored
    c, err = shmlru.open(path, { size = "4m", block_size = 128 })
    truthy(c == nil and err:find("bad block_size", 1, true)
        and err:find("layout 3", 1, true), err)
    expect({ 4096 }, shmlru.parse_size("4k"))
    expect({ 64 * 1024 * 1024 }, shmlru.parse_size("64M"))
    expect({ 1024 ^ 3 }, shmlru.parse_size("1g"))
    expect({ 1000 }, shmlru.parse_size(1000))
    expect({ nil }, shmlru.parse_size("1.5m"))
    expect({ nil }, shmlru.parse_size(-1))
    truthy(shmlru._VERSION)
end

local c, err = shmlru.open(path, { size = "4m", mode = "0600" })
assert(c, err)
truthy(shmlru.lib_path() ~= nil)

-- get/set of each value type, flags
do
    expect({ true, nil, false }, c:set("s", "hello"))
    expect({ "hello" }, c:get("s"))
    expect({ true, nil, false }, c:set("n", 3.5, 0, 7))
    expect({ 3.5, 7 }, c:get("n"))
    expect({ true, nil, false }, c:set("t", true))
    expect({ true }, c:get("t"))
    expect({ true, nil, false }, c:set("f", false))
    expect({ false }, c:get("f"))
    expect({ true, nil, false }, c:set("empty", ""))
    expect({ "" }, c:get("empty"))
    expect({ true, nil, false }, c:set("bin", "a\0b"))
    expect({ "a\0b" }, c:get("bin"))
    expect({ nil }, c:get("absent"))
    expect({ true, nil, false }, c:set(12, "num key"))
    expect({ "num key" }, c:get("12"))
    expect({ "num key" }, c:get(12))
    expect({ nil, "bad value type" }, c:set("k", {}))
    expect({ nil, "bad value type" }, c:set("k", print))
    -- nil deletes
    expect({ true, nil, false }, c:set("s", nil))
    expect({ nil }, c:get("s"))
    -- bad keys
    expect({ nil, "nil key" }, c:get(nil))
    expect({ nil, "empty key" }, c:get(""))
    expect({ nil, "key too long" }, c:get(string.rep("k", 65536)))
    expect({ nil, "nil key" }, c:set(nil, "v"))
    expect({ nil, "empty key" }, c:set("", "v"))
    local info = c:info()
    -- the layout: 16-byte units, the shards' heaps inside the region
    truthy(info.unit_size == 16, "unit_size " .. tostring(info.unit_size))
    truthy(info.heap_bytes_per_shard > 0 and info.heap_bytes_per_shard % 16 == 0
        and info.shards * info.heap_bytes_per_shard < info.size
        and info.max_value < info.heap_bytes_per_shard,
        "heap_bytes_per_shard " .. tostring(info.heap_bytes_per_shard))
    truthy(info.block_size == nil and info.blocks_per_shard == nil, "no block fields")
    expect({ nil, "key too long" }, c:set(string.rep("k", info.max_key + 1), "v"))
    expect({ false, "value too large", false }, c:set("big", string.rep("v", info.max_value + 1)))
    raises('bad "exptime" argument', c.set, c, "k", "v", -1)
    -- a value larger than the module's buffer grows it
    local big = string.rep("0123456789", math.floor(info.max_value / 10))
    expect({ true, nil, false }, c:set("big", big))
    expect({ big }, c:get("big"))
    expect({ true, nil, false }, c:delete("big"))
end

-- flags are the dict's C int: a number converts as LuaJIT converts it to
-- an int (truncating; out of range is INT_MIN), and reads back signed
do
    for _, f in ipairs({ { -1, -1 }, { 0x7fffffff, 0x7fffffff },
                         { 0x80000000, -0x80000000 }, { 0xffffffff, -0x80000000 },
                         { 1.9, 1 }, { true, 1 } }) do
        expect({ true, nil, false }, c:set("fl", "v", 0, f[1]))
        expect({ "v", f[2] }, c:get("fl"))
        expect({ "v", f[2], false }, c:get_stale("fl"))
    end
    expect({ true, nil, false }, c:set("fl", "v", 0, false))
    expect({ "v" }, c:get("fl"))
    raises("cannot convert 'string' to 'int'", c.set, c, "fl", "v", 0, "3")
    -- even when the value deletes, as the dict converts its arguments first
    raises("cannot convert 'string' to 'int'", c.set, c, "fl", nil, 0, "3")
end

-- a self that is not a cache (a method called with a dot, or on another
-- value) raises the dict's 'bad "zone" argument' at the caller, in every
-- method, before it looks at any other argument; nothing is written or
-- deleted
do
    c:set("dot", "kept")
    local methods = {
        get = { "dot" }, get_stale = { "dot" }, set = { "dot", "v" },
        safe_set = { "dot", "v" }, add = { "dot", "v" },
        safe_add = { "dot", "v" }, replace = { "dot", "v" },
        cas = { "dot", "kept", "v" }, delete = { "dot" },
        incr = { "dot", 1 }, lpush = { "dot", "v" }, rpush = { "dot", "v" },
        lpop = { "dot" }, rpop = { "dot" }, llen = { "dot" }, ttl = { "dot" },
        expire = { "dot", -1 }, flush_all = {}, flush_expired = {},
        get_keys = {}, capacity = {}, free_space = {}, stats = {}, info = {},
        close = {},
    }
    local n = 0
    for m, args in pairs(methods) do
        n = n + 1
        truthy(type(c[m]) == "function", m)
        local function call(self_)
            local r = T.pack(c[m](self_, unpack(args)))  -- the line raised at
            return r
        end
        local line = debug.getinfo(call, "S").linedefined + 1
        local at = "shmlru_test.lua:" .. line .. ': bad "zone" argument'
        -- cache.m(args...): the first argument is taken for self
        local ok, e = pcall(function() return c[m](unpack(args)) end)
        truthy(not ok and tostring(e):find('bad "zone" argument', 1, true),
               m .. " called with a dot: " .. tostring(e))
        for _, bad in ipairs({ "dot", 7, true, { 1 }, {}, { h = c.h } }) do
            ok, e = pcall(call, bad)
            truthy(not ok and tostring(e):sub(-#at) == at,
                   m .. " on " .. tostring(bad) .. ": " .. tostring(e))
        end
        ok, e = pcall(call, nil)
        truthy(not ok and tostring(e):sub(-#at) == at, m .. " on nil: " .. tostring(e))
    end
    truthy(n == 25, "methods checked: " .. n)
    expect({ "kept" }, c:get("dot"))
    expect({ 0 }, c:ttl("dot"))
    c:delete("dot")
end

-- add, replace, safe_*
do
    expect({ true, nil, false }, c:add("a", 1))
    expect({ false, "exists", false }, c:add("a", 2))
    expect({ false, "exists", false }, c:safe_add("a", 2))
    expect({ false, "not found", false }, c:replace("nope", 2))
    expect({ true, nil, false }, c:replace("a", "two"))
    expect({ "two" }, c:get("a"))
    expect({ true, nil, false }, c:safe_set("a", "three"))
    -- add, safe_add and replace refuse nil before looking at the key,
    -- whether there is an entry or not, and leave it as it was.
    local nil_err = { false, "attempt to add or replace nil values", false }
    expect(nil_err, c:add("a2", nil))
    expect(nil_err, c:safe_add("a2", nil))
    expect(nil_err, c:replace("a2", nil))
    expect({ nil }, c:get("a2"))
    expect(nil_err, c:add("a", nil))
    expect(nil_err, c:safe_add("a", nil))
    expect(nil_err, c:replace("a", nil))
    expect({ "three" }, c:get("a"))
    -- key errors come first, as in the dict
    expect({ nil, "empty key" }, c:add("", nil))
    -- set and safe_set with nil delete
    expect({ true, nil, false }, c:safe_set("a", nil))
    expect({ nil }, c:get("a"))
    -- delete is set(key, nil): true, nil, false, whether or not there was
    -- an entry
    c:set("a", "four")
    expect({ true, nil, false }, c:delete("a"))
    expect({ nil }, c:get("a"))
    expect({ true, nil, false }, c:delete("never"))
    expect({ nil, "empty key" }, c:delete(""))
    expect({ nil, "nil key" }, c:delete(nil))
end

-- cas
do
    c:set("c", "v1")
    expect({ true, nil, false }, c:cas("c", "v1", "v2"))
    expect({ "v2" }, c:get("c"))
    expect({ false, "version mismatch" }, c:cas("c", "v1", "v3"))
    expect({ false, "not found" }, c:cas("nope", "v1", "v3"))
    c:set("cn", 5)
    expect({ true, nil, false }, c:cas("cn", 5, 6))
    expect({ 6 }, c:get("cn"))
end

-- incr
do
    expect({ nil, "not found" }, c:incr("cnt", 1))
    expect({ 11, nil, false }, c:incr("cnt", 1, 10))
    expect({ 13 }, c:incr("cnt", 2))
    expect({ 12.5 }, c:incr("cnt", -0.5))
    expect({ 13.5, nil, false }, c:incr("cnt", 1, 0))
    c:set("str", "x")
    expect({ nil, "not a number" }, c:incr("str", 1))
    expect({ 15.5 }, c:incr("cnt", "2"))
    raises("cannot convert 'nil' to 'double'", c.incr, c, "cnt", "x")
    raises("cannot convert 'nil' to 'double'", c.incr, c, "cnt", {})
    raises("bad init arg", c.incr, c, "cnt", 1, "x")
    raises('must provide "init"', c.incr, c, "cnt", 1, nil, 10)
    raises('bad "init_ttl" argument', c.incr, c, "cnt", 1, 0, -1)
    expect({ 1, nil, false }, c:incr("cnt2", 1, 0, 100))
    local ttl = c:ttl("cnt2")
    truthy(ttl > 99 and ttl <= 100, "init_ttl applied: " .. tostring(ttl))
    expect({ nil, "nil key" }, c:incr(nil, 1))
end

-- ttl, expire, get_stale, flush_expired
do
    c:set("forever", "v")
    expect({ 0 }, c:ttl("forever"))
    expect({ nil, "not found" }, c:ttl("nope"))
    expect({ true }, c:expire("forever", 60))
    local t = c:ttl("forever")
    truthy(t > 59 and t <= 60, "ttl after expire: " .. tostring(t))
    expect({ true }, c:expire("forever", 0))
    expect({ 0 }, c:ttl("forever"))
    expect({ nil, "not found" }, c:expire("nope", 1))
    raises('bad "exptime" argument', c.expire, c, "forever")

    expect({ true, nil, false }, c:set("short", "gone", 0.001, 3))
    local spins = 0
    while c:get("short") ~= nil and spins < 100000 do
        spins = spins + 1
    end
    expect({ nil }, c:get("short"))
    expect({ "gone", 3, true }, c:get_stale("short"))
    c:set("fresh", "here")
    expect({ "here", nil, false }, c:get_stale("fresh"))
    expect({ nil }, c:get_stale("nope"))
    -- expired but still stored: the (negative) time left, as the dict's
    -- ttl; once removed, not found
    local left = c:ttl("short")
    truthy(type(left) == "number" and left < 0, "ttl of an expired entry: " .. tostring(left))
    truthy(c:flush_expired() >= 1)
    expect({ nil }, c:get_stale("short"))
    expect({ nil, "not found" }, c:ttl("short"))
    expect({ 0 }, c:flush_expired(5))
end

-- TTLs are whole milliseconds: exptime * 1000 truncated, as the dict's C
-- long; less than 1 ms is 0, no expiry
do
    expect({ true, nil, false }, c:set("ms", "v", 0.0005))
    expect({ 0 }, c:ttl("ms"))
    expect({ 1, nil, false }, c:incr("ms2", 1, 0, 0.0009))
    expect({ 0 }, c:ttl("ms2"))
    expect({ true, nil, false }, c:set("ms", "v", 100.0009))
    local t = c:ttl("ms")
    truthy(t <= 100 and t > 99.9, "100.0009 s is 100000 ms: " .. tostring(t))
    -- a negative exptime raises in expire as in set (the dict's expire
    -- would make the entry permanent: a difference by design); a numeric
    -- string is a number
    raises('bad "exptime" argument', c.expire, c, "ms", -1)
    raises('bad "exptime" argument', c.expire, c, "ms", "-1")
    local before = c:ttl("ms")
    truthy(before > 99, "a refused expire changed the TTL: " .. tostring(before))
    expect({ true }, c:expire("ms", "50"))
    t = c:ttl("ms")
    truthy(t > 49 and t <= 50, "expire with \"50\": " .. tostring(t))
    expect({ true }, c:expire("ms", 0.0005))
    expect({ 0 }, c:ttl("ms"))
    -- the store methods raise on a negative or non-number exptime
    raises('bad "exptime" argument', c.add, c, "ms", "v", -0.5)
    raises("attempt to compare string with number", c.set, c, "ms", "v", "10")
    -- beyond the library's limit (a Go time.Duration, about 292 years) the
    -- limit; the dict would take it
    expect({ true, nil, false }, c:set("far", "v", 1e10))
    t = c:ttl("far")
    truthy(t > 9.2e9 and t <= 9223372036.854, "TTL cut to 292 years: " .. tostring(t))
    expect({ true }, c:expire("far", 1e12))
    t = c:ttl("far")
    truthy(t > 9.2e9 and t <= 9223372036.854, "expire cut to 292 years: " .. tostring(t))
    -- NaN and out-of-range values are a negative C long: no expiry
    expect({ true, nil, false }, c:set("far", "v", 0 / 0))
    expect({ 0 }, c:ttl("far"))
    expect({ true, nil, false }, c:set("far", "v", 1e300))
    expect({ 0 }, c:ttl("far"))
end

-- lists
do
    expect({ 0 }, c:llen("list"))
    expect({ 1 }, c:rpush("list", "b"))
    expect({ 2 }, c:lpush("list", "a"))
    expect({ 3 }, c:rpush("list", 3))
    expect({ nil, "bad value type" }, c:rpush("list", true))
    expect({ nil, "bad value type" }, c:lpush("list", nil))
    expect({ 3 }, c:llen("list"))
    expect({ nil, "value is a list" }, c:get("list"))
    expect({ 3 }, c:rpop("list"))
    expect({ "a" }, c:lpop("list"))
    expect({ "b" }, c:lpop("list"))
    expect({ nil }, c:lpop("list"))
    expect({ 0 }, c:llen("list"))
    c:set("notlist", "x")
    expect({ nil, "value not a list" }, c:lpush("notlist", "x"))
    expect({ nil, "value not a list" }, c:lpop("notlist"))
    expect({ nil, "value not a list" }, c:llen("notlist"))
    -- an item larger than the buffer
    local big = string.rep("L", 9000)
    c:rpush("biglist", big)
    expect({ big }, c:rpop("biglist"))
    -- The list methods take their key as the dict's C functions do: a
    -- number becomes a string, any other non-string raises.
    expect({ 1 }, c:rpush(42, "x"))
    expect({ 1 }, c:llen("42"))
    expect({ "x" }, c:lpop(42))
    expect({ nil, "nil key" }, c:lpush(nil, "x"))
    raises("bad argument #1 to 'lpush' (string expected, got boolean)", c.lpush, c, true, "x")
    raises("bad argument #1 to 'rpush' (string expected, got table)", c.rpush, c, {}, "x")
    raises("bad argument #1 to 'lpop' (string expected, got boolean)", c.lpop, c, false)
    raises("bad argument #1 to 'rpop' (string expected, got table)", c.rpop, c, {})
    raises("bad argument #1 to 'llen' (string expected, got boolean)", c.llen, c, true)
    -- the other methods pass such a key through tostring, as resty.core
    expect({ true, nil, false }, c:set(true, "t"))
    expect({ "t" }, c:get("true"))
end

-- get_keys, flush_all, capacity, free_space, stats
do
    c:flush_all()
    expect({ 0 }, #c:get_keys())
    for i = 1, 1500 do
        c:set("key" .. i, i)
    end
    expect({ 1024 }, #c:get_keys())
    expect({ 1500 }, #c:get_keys(0))
    expect({ 10 }, #c:get_keys(10))
    local seen = {}
    for _, k in ipairs(c:get_keys(0)) do
        seen[k] = true
    end
    truthy(seen["key1"] and seen["key1500"], "get_keys returns the keys")
    expect({ 4 * 1024 * 1024 }, c:capacity())
    local free = c:free_space()
    truthy(free > 0 and free < 4 * 1024 * 1024, "free_space " .. tostring(free))
    local st = c:stats()
    truthy(st.entries == 1500 and st.sets > 0 and st.hits > 0 and st.capacity == 4 * 1024 * 1024,
        "stats")
    c:flush_all()
    expect({ nil }, c:get("key1"))
    truthy(c:free_space() > free)
end

-- safe_set with a full cache
do
    local info = c:info()
    local v = string.rep("x", math.floor(info.max_value / 2))
    local ok, e, forcible
    local i = 0
    repeat
        i = i + 1
        ok, e, forcible = c:safe_set("fill" .. i, v)
    until not ok or i > 10000
    expect({ false, "no memory", false }, ok, e, forcible)
    local forced = false
    for j = 1, 100 do
        local _, _, f = c:set("evict" .. j, v)
        if f then
            forced = true
            break
        end
    end
    truthy(forced, "set reports forcible when it evicts")
end

-- a second handle on the same region sees the same entries
do
    local c2 = assert(shmlru.open(path))
    c:set("shared", "yes")
    expect({ "yes" }, c2:get("shared"))
    expect({ true }, c2:close())
    expect({ nil, "closed" }, c2:close())
    expect({ nil, "closed" }, c2:get("shared"))
    expect({ false, "closed", false }, c2:set("shared", "no"))
    expect({ nil, "closed" }, c2:incr("shared", 1))
    expect({ "yes" }, c:get("shared"))
end

-- the error table and the status codes agree
do
    expect({ "not found" }, shmlru.errors[ffi.C.SHMLRU_NOT_FOUND])
end

-- a forked child is refused with a clear error, and the parent goes on
do
    ffi.cdef[[
    int fork(void);
    void _exit(int status);
    int waitpid(int pid, int *status, int options);
    ]]
    c:set("before-fork", "v")
    local pid = ffi.C.fork()
    if pid == 0 then
        local v, e = c:get("before-fork")
        local c3, e3 = shmlru.open(path)
        local good = v == nil and e:find("forked", 1, true)
            and c3 == nil and e3:find("forked", 1, true)
        ffi.C._exit(good and 0 or 1)
    end
    local status = ffi.new("int[1]")
    truthy(ffi.C.waitpid(pid, status, 0) == pid, "waitpid")
    expect({ 0 }, status[0])
    expect({ "v" }, c:get("before-fork"))
end

expect({ true }, c:close())
os.remove(path)

T.done("shmlru_test.lua")
