-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.l1: an exact LRU cache for one process (an nginx worker's
-- L1), with lua-resty-lrucache's API and behaviour:
--
--   local l1 = require "resty.shmlru.l1"
--   local c, err = l1.new(1000)          -- or l1.new(1000, clock)
--   c:set("k", v, ttl, flags)            -- ttl in seconds, nil: no expiry
--   local v, stale, flags = c:get("k")
--
-- new(size [, now]), get, set, delete, flush_all, count, capacity and
-- get_keys answer as lrucache's do, expired entries included: get answers
-- nil, the stale value and its flags for one, and an expired entry stays
-- until it is evicted, deleted or set again. now is the clock of expiries,
-- in seconds (base.l1_now unless given: ngx.now in nginx). One difference:
-- a key false is evicted as any other, where lrucache's eviction leaves it
-- readable.
--
-- Why its own layout: a hit in lrucache looks its key up twice (the
-- value, then the node), the node's entry being a boxed pointer that the
-- set allocated wherever the fill's garbage left room, then loads the
-- node and its list neighbours: with many keys each is a cache miss, and
-- how far apart they lie depends on how the cache was filled. Here a hit
-- looks its key up once and touches few other places, small ones, all
-- allocated by new:
--
--   map    key -> slot number: a number sits in the hash node itself, so
--          the lookup ends there.
--   vals   slot -> value, keys slot -> key: Lua arrays.
--   links  one C array of a struct per slot: expiry, the LRU list's
--          links as slot numbers, user flags. One load reads all a hit
--          needs of its slot; the list's neighbours are elements of the
--          same array, packed densely, so more of them stay cached.
--
-- Slot 0 is the list's head: links[0].next is the most recently used
-- slot, links[0].prev the least. Slots never used are handed out in
-- order (up to self.used); deleted ones go to a free list through their
-- next link (self.free, 0 for none). An expiry of -1 means none.
--
-- Each instance keeps its state in its own table and finds its methods
-- through a metatable, so a method can be replaced on one instance.

local ffi = require "ffi"
local base = require "resty.shmlru.base"

local ffi_new = ffi.new
local type = type
local error = error
local setmetatable = setmetatable
local math_floor = math.floor

local new_tab, tb_clear = base.new_tab, base.clear_tab

-- A slot: its expiry (-1 for none), its LRU neighbours and its user
-- flags. Unnamed, so that loading the module again declares nothing twice.
local slots_t = ffi.typeof([[
struct {
    double   expire;
    int32_t  prev;
    int32_t  next;
    uint32_t user_flags;
}[?]
]])

-- The most slots an instance holds: slot numbers are int32.
local MAX_SIZE = 2 ^ 31 - 2

-- The most entries new sizes map, vals and keys for. Past it they grow
-- as the cache fills, so that a large cache (or one that never fills)
-- takes no more memory at new than lrucache's of the same size: its links
-- are all new allocates for each slot.
local PRESIZE = 4096

local _M = {}
local mt = { __index = _M }

-- new returns a cache of size entries (at least 1), or nil and an error;
-- now, if given, is its clock in seconds.
function _M.new(size, now)
    if size < 1 then
        return nil, "size too small"
    end
    if not (size <= MAX_SIZE) then
        return nil, "size too large"
    end
    local n = math_floor(size)
    local links = ffi_new(slots_t, n + 1)
    links[0].prev, links[0].next = 0, 0
    local pre = n < PRESIZE and n or PRESIZE
    return setmetatable({
        map = new_tab(0, pre),
        vals = new_tab(pre, 0),
        keys = new_tab(pre, 0),
        links = links,
        now = now or base.l1_now,
        size = size,
        slots = n,
        num = 0,
        used = 0,
        free = 0,
    }, mt)
end

-- count returns the number of entries, expired ones included.
function _M.count(self)
    return self.num
end

-- capacity returns the size given to new.
function _M.capacity(self)
    return self.size
end

-- get returns key's value, nil and its flags; nil, the stale value and
-- its flags if it expired; nil if absent. The entry becomes the most
-- recently used, expired or not.
function _M.get(self, key)
    local slot = self.map[key]
    if slot == nil then
        return nil
    end
    local val = self.vals[slot]
    if val == nil then
        -- set with a nil value: present, but read as absent
        return nil
    end
    -- links[slot] indexed at each use, not held in a local: the
    -- compiled hit is shorter so.
    local links = self.links
    local head = links[0].next
    if head ~= slot then
        local p, n = links[slot].prev, links[slot].next
        links[p].next = n
        links[n].prev = p
        links[slot].prev = 0
        links[slot].next = head
        links[head].prev = slot
        links[0].next = slot
    end
    local exp = links[slot].expire
    if exp >= 0 and exp < self.now() then
        return nil, val, links[slot].user_flags
    end
    return val, nil, links[slot].user_flags
end

-- unlink takes slot out of the LRU list.
local function unlink(links, slot)
    local e = links[slot]
    local p, n = e.prev, e.next
    links[p].next = n
    links[n].prev = p
end

-- insert_head puts slot, out of the list, at its head (most recently
-- used).
local function insert_head(links, slot)
    local head = links[0].next
    local e = links[slot]
    e.prev, e.next = 0, head
    links[head].prev = slot
    links[0].next = slot
end

-- set stores value under key, for ttl seconds (nil: no expiry) with the
-- user flags (0 unless a number >= 0), as the most recently used entry;
-- a new key in a full cache evicts the least recently used.
function _M.set(self, key, value, ttl, flags)
    local map, links = self.map, self.links
    local slot = map[key]
    if slot == nil then
        if key == nil then
            error("table index is nil", 2)
        elseif key ~= key then
            error("table index is NaN", 2)
        end
        if self.free ~= 0 then
            slot = self.free
            self.free = links[slot].next
            self.num = self.num + 1
        elseif self.used < self.slots then
            slot = self.used + 1
            self.used = slot
            self.num = self.num + 1
        else
            slot = links[0].prev
            map[self.keys[slot]] = nil
            unlink(links, slot)
        end
        map[key] = slot
        self.keys[slot] = key
        insert_head(links, slot)
    elseif links[0].next ~= slot then
        unlink(links, slot)
        insert_head(links, slot)
    end
    self.vals[slot] = value
    local e = links[slot]
    if ttl then
        e.expire = self.now() + ttl
    else
        e.expire = -1
    end
    if type(flags) == "number" and flags >= 0 then
        e.user_flags = flags
    else
        e.user_flags = 0
    end
end

-- delete removes key's entry: true if there was one, else false.
function _M.delete(self, key)
    local map = self.map
    local slot = map[key]
    if slot == nil then
        if key == nil or key ~= key then
            map[key] = nil -- lrucache's error for a nil or NaN key
        end
        return false
    end
    map[key] = nil
    self.keys[slot] = nil
    self.vals[slot] = nil
    local links = self.links
    unlink(links, slot)
    links[slot].next = self.free
    self.free = slot
    self.num = self.num - 1
    return true
end

-- get_keys returns the keys from the most to the least recently used,
-- at most max_count of them (all for nil or 0), in res if given, followed
-- by one nil.
function _M.get_keys(self, max_count, res)
    if not max_count or max_count == 0 then
        max_count = self.num
    end
    if not res then
        res = new_tab(max_count + 1, 0)
    end
    local links, keys = self.links, self.keys
    local i = 0
    local slot = links[0].next
    while slot ~= 0 and i < max_count do
        i = i + 1
        res[i] = keys[slot]
        slot = links[slot].next
    end
    res[i + 1] = nil
    return res
end

-- flush_all removes every entry.
function _M.flush_all(self)
    tb_clear(self.map)
    tb_clear(self.vals)
    tb_clear(self.keys)
    local links = self.links
    links[0].prev, links[0].next = 0, 0
    self.num, self.used, self.free = 0, 0, 0
end

return _M
