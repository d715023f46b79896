-- The checks of the plain-LuaJIT tests (ffi/t/*_test.lua): each counts,
-- and a failure prints the line of the check and what differed; done()
-- prints the tally and exits 0 or 1.

local _M = { failures = 0, checks = 0 }

local function show(v)
    if type(v) == "string" then
        return string.format("%q", v)
    end
    return tostring(v)
end
_M.show = show

local function fail(line, msg)
    _M.failures = _M.failures + 1
    io.stderr:write(string.format("%s line %d: %s\n", _M.name or "", line, msg))
end

-- eq compares the list of values a call returned with the list wanted.
local function eq(line, got, want)
    _M.checks = _M.checks + 1
    local n = math.max(got.n or #got, want.n or #want)
    for i = 1, n do
        if got[i] ~= want[i] then
            local g, w = {}, {}
            for j = 1, n do
                g[j], w[j] = show(got[j]), show(want[j])
            end
            fail(line, string.format("got (%s), want (%s)", table.concat(g, ", "),
                 table.concat(w, ", ")))
            return
        end
    end
end

local function pack(...)
    return { n = select("#", ...), ... }
end
_M.pack = pack

-- expect(want, ...) checks that the values after want are want's.
function _M.expect(want, ...)
    eq(debug.getinfo(2, "l").currentline, pack(...), want)
end

-- truthy(cond, what) checks that cond holds.
function _M.truthy(cond, what)
    _M.checks = _M.checks + 1
    if not cond then
        fail(debug.getinfo(2, "l").currentline, what or "expected true")
    end
end

-- raises(pattern, fn, ...) checks that fn(...) raises an error holding
-- pattern (plain text), and returns the error.
function _M.raises(pattern, fn, ...)
    _M.checks = _M.checks + 1
    local ok, err = pcall(fn, ...)
    if ok or not tostring(err):find(pattern, 1, true) then
        fail(debug.getinfo(2, "l").currentline,
             string.format("expected an error with %q, got %s", pattern, tostring(err)))
    end
    return err
end

-- done prints the tally under name and exits.
function _M.done(name)
    print(string.format("%s: %d checks, %d failed", name, _M.checks, _M.failures))
    os.exit(_M.failures == 0 and 0 or 1)
end

return _M
