-- Invalidation stripes for the plain-LuaJIT tests of resty.shmlru.mlcache's
-- L1 (ffi/t/mlcache_*_test.lua): a key's stripe in a region, and keys that
-- share one.

local base = require "resty.shmlru.base"
local ffi = require "ffi"

local stripe_out, stamp_out = ffi.new("uint32_t[1]"), ffi.new("uint64_t[1]")

local _M = {}

-- of returns key's stripe in region (a resty.shmlru cache).
function _M.of(region, key)
    assert(base.lib().shmlru_l1_stamp(region.h, key, #key, stripe_out, stamp_out) == 0)
    return stripe_out[0]
end

-- sharing returns up to n keys prefix-0, prefix-i, ... that share
-- prefix-0's stripe in region (fewer only if a million tries find none
-- more; the caller checks how many it got).
function _M.sharing(region, prefix, n)
    local keys, st = { prefix .. "-0" }, _M.of(region, prefix .. "-0")
    for i = 1, 1e6 do
        local k = prefix .. "-" .. i
        if _M.of(region, k) == st then
            keys[#keys + 1] = k
            if #keys == n then break end
        end
    end
    return keys
end

return _M
