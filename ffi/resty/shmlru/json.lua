-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.json: the JSON text resty.shmlru.mlcache stores Lua tables
-- as, so that a Go process reads them with encoding/json. No lua-cjson
-- needed (Debian's nginx Lua module comes without it).
--
--   local s, err = json.encode({ name = "Ada", langs = { "en", "fr" } })
--   local t, err = json.decode(s)
--
-- What round-trips (JSON's rules, narrower than the string.buffer encoding
-- lua-resty-mlcache uses since 2.6.0, or lua-cjson before it): strings,
-- finite numbers (written with 17 significant digits, so exactly), booleans
-- and tables whose keys are all strings or are 1..n (an array). Number
-- keys of other tables become strings; an empty table is an object ({});
-- null decodes to nil. Strings are copied byte for byte (JSON wants UTF-8;
-- a Go reader replaces invalid bytes with U+FFFD).

local type = type
local pairs = pairs
local tostring = tostring
local tonumber = tonumber
local error = error
local pcall = pcall
local str_byte = string.byte
local str_char = string.char
local str_find = string.find
local str_format = string.format
local str_gsub = string.gsub
local str_sub = string.sub
local tbl_concat = table.concat
local math_huge = math.huge
local math_floor = math.floor


local _M = {}

local MAX_DEPTH = 1000

local ESCAPES = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for i = 0, 31 do
    local c = str_char(i)
    if not ESCAPES[c] then
        ESCAPES[c] = str_format("\\u%04x", i)
    end
end


local function encode_string(s)
    return '"' .. str_gsub(s, '[%z\1-\31"\\]', ESCAPES) .. '"'
end


local encode_value

local function encode_table(t, out, depth)
    if depth > MAX_DEPTH then
        error("nesting deeper than " .. MAX_DEPTH .. " (a cycle?)", 0)
    end
    local n, max = 0, 0
    local array = true
    for k in pairs(t) do
        n = n + 1
        if array then
            if type(k) == "number" and k > 0 and k == math_floor(k) then
                if k > max then
                    max = k
                end
            else
                array = false
            end
        end
    end
    if n == 0 then
        out[#out + 1] = "{}"
        return
    end
    if array and max == n then
        out[#out + 1] = "["
        for i = 1, n do
            if i > 1 then
                out[#out + 1] = ","
            end
            encode_value(t[i], out, depth + 1)
        end
        out[#out + 1] = "]"
        return
    end
    out[#out + 1] = "{"
    local first = true
    for k, v in pairs(t) do
        local kt = type(k)
        if kt == "number" then
            if k ~= k or k == math_huge or k == -math_huge then
                error("cannot serialize a table key " .. tostring(k), 0)
            end
            k = k == math_floor(k) and k < 2 ^ 53 and k > -2 ^ 53
                and str_format("%d", k) or str_format("%.17g", k)
        elseif kt ~= "string" then
            error("cannot serialize a table key of type " .. kt, 0)
        end
        if not first then
            out[#out + 1] = ","
        end
        first = false
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode_value(v, out, depth + 1)
    end
    out[#out + 1] = "}"
end

encode_value = function(v, out, depth)
    local vt = type(v)
    if vt == "string" then
        out[#out + 1] = encode_string(v)
    elseif vt == "number" then
        if v ~= v or v == math_huge or v == -math_huge then
            error("cannot serialize the number " .. tostring(v), 0)
        end
        if v == math_floor(v) and v < 2 ^ 53 and v > -2 ^ 53 then
            out[#out + 1] = str_format("%d", v)
        else
            out[#out + 1] = str_format("%.17g", v)
        end
    elseif vt == "boolean" then
        out[#out + 1] = v and "true" or "false"
    elseif vt == "nil" then
        out[#out + 1] = "null"
    elseif vt == "table" then
        encode_table(v, out, depth)
    else
        error("cannot serialize a " .. vt, 0)
    end
end


-- encode returns the JSON text of v, or nil and an error.
function _M.encode(v)
    local out = {}
    local ok, err = pcall(encode_value, v, out, 0)
    if not ok then
        return nil, err
    end
    return tbl_concat(out)
end


-- The decoder: recursive descent over the string s; each function takes
-- the position of the value's first byte and returns the value and the
-- position after it. Errors are raised as "at byte N: ..." and caught by
-- decode.

local function fail(pos, what)
    error("bad JSON at byte " .. pos .. ": " .. what, 0)
end

local function skip(s, pos)
    return (str_find(s, "[^ \t\r\n]", pos)) or #s + 1
end

local function utf8(cp)
    if cp < 0x80 then
        return str_char(cp)
    elseif cp < 0x800 then
        return str_char(0xC0 + math_floor(cp / 0x40), 0x80 + cp % 0x40)
    elseif cp < 0x10000 then
        return str_char(0xE0 + math_floor(cp / 0x1000),
                        0x80 + math_floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
    end
    return str_char(0xF0 + math_floor(cp / 0x40000),
                    0x80 + math_floor(cp / 0x1000) % 0x40,
                    0x80 + math_floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local UNESCAPES = {
    [str_byte('"')] = '"', [str_byte("\\")] = "\\", [str_byte("/")] = "/",
    [str_byte("b")] = "\b", [str_byte("f")] = "\f", [str_byte("n")] = "\n",
    [str_byte("r")] = "\r", [str_byte("t")] = "\t",
}

local function decode_string(s, pos)
    -- s[pos] is the opening quote
    local parts, np = nil, 0
    local i = pos + 1
    while true do
        local j = str_find(s, '["\\%z\1-\31]', i) -- JSON forbids raw bytes < 0x20
        if not j then
            fail(pos, "unterminated string")
        end
        local c = str_byte(s, j)
        if c == 34 then -- "
            local tail = str_sub(s, i, j - 1)
            if not parts then
                return tail, j + 1
            end
            np = np + 1
            parts[np] = tail
            return tbl_concat(parts, "", 1, np), j + 1
        end
        if c ~= 92 then
            fail(j, "control character in a string")
        end
        parts = parts or {}
        np = np + 1
        parts[np] = str_sub(s, i, j - 1)
        local e = str_byte(s, j + 1)
        if e == 117 then -- \uXXXX
            local hex = str_sub(s, j + 2, j + 5)
            local cp = #hex == 4 and not str_find(hex, "[^%x]") and tonumber(hex, 16)
            if not cp then
                fail(j, "bad \\u escape")
            end
            i = j + 6
            if cp >= 0xD800 and cp <= 0xDBFF and str_sub(s, i, i + 1) == "\\u" then
                local lo = tonumber(str_sub(s, i + 2, i + 5), 16)
                if lo and lo >= 0xDC00 and lo <= 0xDFFF then
                    cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
                    i = i + 6
                end
            end
            np = np + 1
            parts[np] = utf8(cp)
        else
            local u = e and UNESCAPES[e]
            if not u then
                fail(j, "bad escape")
            end
            np = np + 1
            parts[np] = u
            i = j + 2
        end
    end
end

local decode_value

local function decode_array(s, pos, depth)
    local t, n = {}, 0
    pos = skip(s, pos + 1)
    if str_byte(s, pos) == 93 then -- ]
        return t, pos + 1
    end
    while true do
        local v
        v, pos = decode_value(s, pos, depth + 1)
        n = n + 1
        t[n] = v
        pos = skip(s, pos)
        local c = str_byte(s, pos)
        if c == 93 then
            return t, pos + 1
        elseif c ~= 44 then -- ,
            fail(pos, "',' or ']' expected")
        end
        pos = skip(s, pos + 1)
    end
end

local function decode_object(s, pos, depth)
    local t = {}
    pos = skip(s, pos + 1)
    if str_byte(s, pos) == 125 then -- }
        return t, pos + 1
    end
    while true do
        if str_byte(s, pos) ~= 34 then
            fail(pos, "a string key expected")
        end
        local k, v
        k, pos = decode_string(s, pos)
        pos = skip(s, pos)
        if str_byte(s, pos) ~= 58 then -- :
            fail(pos, "':' expected")
        end
        v, pos = decode_value(s, skip(s, pos + 1), depth + 1)
        t[k] = v
        pos = skip(s, pos)
        local c = str_byte(s, pos)
        if c == 125 then
            return t, pos + 1
        elseif c ~= 44 then
            fail(pos, "',' or '}' expected")
        end
        pos = skip(s, pos + 1)
    end
end

decode_value = function(s, pos, depth)
    if depth > MAX_DEPTH then
        fail(pos, "nesting deeper than " .. MAX_DEPTH)
    end
    local c = str_byte(s, pos)
    if c == 34 then
        return decode_string(s, pos)
    elseif c == 123 then
        return decode_object(s, pos, depth)
    elseif c == 91 then
        return decode_array(s, pos, depth)
    elseif c == 116 and str_sub(s, pos, pos + 3) == "true" then
        return true, pos + 4
    elseif c == 102 and str_sub(s, pos, pos + 4) == "false" then
        return false, pos + 5
    elseif c == 110 and str_sub(s, pos, pos + 3) == "null" then
        return nil, pos + 4
    end
    local _, e = str_find(s, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    local n = e and tonumber(str_sub(s, pos, e))
    if not n then
        fail(pos, "a value expected")
    end
    return n, e + 1
end


-- decode returns the Lua value of the JSON text s, or nil and an error.
function _M.decode(s)
    local ok, v, pos = pcall(decode_value, s, skip(s, 1), 0)
    if not ok then
        return nil, v
    end
    pos = skip(s, pos)
    if pos <= #s then
        return nil, "bad JSON at byte " .. pos .. ": trailing characters"
    end
    return v
end


return _M
