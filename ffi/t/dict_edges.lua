-- Where resty.shmlru meets ngx.shared.DICT's edges, in one nginx worker
-- beside real dicts: ffi/dict_test.go asks GET /edges?region=PATH and
-- reads one line per check, "ok NAME ..." or "FAIL NAME: what differed".
--
-- * smallest: the smallest lua_shared_dict that works is 12k (dictmin;
--   lua-nginx-module's directive takes 8k, but nginx cannot set up a dict
--   that small: ffi/dict_test.go); shmlru regions of 8k, 12k and 16k are
--   refused with an error naming the smallest size, which opens and works,
--   and a KiB less is refused naming the same size. The size comes from
--   the error: the rule is lru's, not this file's.
-- * ttl_expired: an entry that has expired but is still stored has a
--   negative ttl in both, the time since its deadline.
-- * too_large: a value larger than either can hold: the dict evicts
--   entries looking for room and says false, "no memory", true; shmlru
--   refuses it before touching anything: false, "value too large", false,
--   every entry still there (ffi/README.md).

local _M = {}

local function pack(...)
    return { n = select("#", ...), ... }
end

local function show(t)
    local out = {}
    for i = 1, t.n do
        local v = t[i]
        out[i] = type(v) == "string" and string.format("%q", v) or tostring(v)
    end
    return "(" .. table.concat(out, ", ") .. ")"
end

local function same(got, want)
    if got.n ~= want.n then
        return false
    end
    for i = 1, got.n do
        if got[i] ~= want[i] then
            return false
        end
    end
    return true
end

local function smallest(out, region)
    local shmlru = require "resty.shmlru"
    local dictmin = ngx.shared.dictmin
    if not dictmin or dictmin:capacity() ~= 12288 or not dictmin:set("k", "v") then
        out[#out + 1] = "FAIL smallest: no working 12k lua_shared_dict dictmin"
        return
    end
    local kib
    for _, size in ipairs({ 8192, 12288, 16384 }) do
        local c, err = shmlru.open(region .. "-small", { size = size })
        local named = err and tonumber(err:match("give at least (%d+)k"))
        if c or not named or not err:find("Size " .. size .. " is too small", 1, true)
            or (kib and named ~= kib)
        then
            out[#out + 1] = "FAIL smallest: " .. size .. " bytes opened, or the"
                .. " error names no size or another: " .. tostring(err)
            return
        end
        kib = named
    end
    local _, err2 = shmlru.open(region .. "-less", { size = (kib - 1) .. "k" })
    if not (err2 and tonumber(err2:match("give at least (%d+)k")) == kib) then
        out[#out + 1] = "FAIL smallest: " .. (kib - 1) .. "k: " .. tostring(err2)
        return
    end
    local c, err = shmlru.open(region .. "-least", { size = kib .. "k" })
    if not c then
        out[#out + 1] = "FAIL smallest: " .. kib .. "k, which the error named: " .. err
        return
    end
    local ok = c:set("k", "v") and c:get("k") == "v" and c:capacity() == kib * 1024
    c:close()
    os.remove(region .. "-least")
    if not ok then
        out[#out + 1] = "FAIL smallest: the " .. kib .. "k cache does not work"
        return
    end
    out[#out + 1] = "ok smallest " .. kib .. "k"
end

local function ttl_expired(out, cache)
    local dict = ngx.shared.dictbig
    for _, d in ipairs({ dict, cache }) do
        d:set("short", "v", 0.001)
    end
    ngx.sleep(0.02)
    ngx.update_time()
    local x, y = pack(dict:ttl("short")), pack(cache:ttl("short"))
    local fine = function(r)
        return r.n == 1 and type(r[1]) == "number" and r[1] < -0.01 and r[1] > -1
    end
    if not (fine(x) and fine(y)) then
        out[#out + 1] = "FAIL ttl_expired: dict " .. show(x) .. ", shmlru " .. show(y)
        return
    end
    out[#out + 1] = "ok ttl_expired " .. show(x) .. " " .. show(y)
end

local function too_large(out, cache)
    local dict = ngx.shared.dictbig
    local info = cache:info()
    for _, d in ipairs({ dict, cache }) do
        d:flush_all()
        d:flush_expired()
        for i = 1, 100 do
            d:set("k" .. i, "v")
        end
    end
    local big = string.rep("x", math.max(2 * dict:capacity(), info.max_value + 1))
    local x, y = pack(dict:set("big", big)), pack(cache:set("big", big))
    local nx, ny = #dict:get_keys(0), #cache:get_keys(0)
    if not (same(x, { n = 3, false, "no memory", true }) and nx < 100
            and same(y, { n = 3, false, "value too large", false }) and ny == 100)
    then
        out[#out + 1] = "FAIL too_large: dict " .. show(x) .. " keeping " .. nx
            .. " of 100 entries, shmlru " .. show(y) .. " keeping " .. ny
        return
    end
    out[#out + 1] = "ok too_large dict kept " .. nx .. " of 100"
end

-- handler serves GET /edges?region=PATH (PATH: where to make the regions
-- of the smallest check).
function _M.handler()
    local cache = package.loaded["shmlru.cache"]
    local out = {}
    smallest(out, ngx.var.arg_region)
    ttl_expired(out, cache)
    too_large(out, cache)
    ngx.say(table.concat(out, "\n"))
end

return _M
