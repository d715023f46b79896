-- Handlers of the resty.shmlru.near tests in nginx (ffi/near_test.go),
-- driven by the query string: k the key, i the instance.
--
-- Instances: "main" is made in init_by_lua from the region's path (opened
-- in each worker at its first get); the others are made in each worker at
-- first use from near_conf, which init_by_lua sets: "obj" over the
-- worker's open cache (a resty.shmlru object), "auth" with an ACL user and
-- SELECT, "badauth" with a wrong password, "unix" over Redis's unix
-- socket, "pfx" caching only the keys under two prefixes, "slow" with a
-- 100 ms timeout, "down" at a port where nothing listens.
--
-- Every answer is one line of tab-separated fields: the worker's pid, the
-- value's type, the value in base64 (empty for nil), err, source.

local near = require "resty.shmlru.near"

local _M = {}

local instances = {}

local function instance(name)
    if name == "main" then
        return near_main, near_init_err
    end
    local n = instances[name]
    if n then
        return n
    end
    local c = near_conf
    local opts
    if name == "obj" then
        opts = { cache = package.loaded["shmlru.cache"], port = c.port }
    elseif name == "auth" then
        opts = { cache = c.region, port = c.port, user = "near", password = "near-pw", db = 2 }
    elseif name == "badauth" then
        opts = { cache = c.region, port = c.port, user = "near", password = "wrong" }
    elseif name == "unix" then
        opts = { cache = c.region, host = "unix:" .. c.sock }
    elseif name == "pfx" then
        opts = { cache = c.region, port = c.port, prefixes = { "user:", "item:" } }
    elseif name == "slow" then
        opts = { cache = c.region, port = c.port, timeout = 100 }
    elseif name == "down" then
        opts = { cache = c.region, port = c.down, timeout = 500 }
    else
        return nil, "no instance " .. tostring(name)
    end
    local err
    n, err = near.new(opts)
    if not n then
        return nil, err
    end
    instances[name] = n
    return n
end

local function answer(v, err, src)
    return table.concat({ ngx.worker.pid(), type(v), v and ngx.encode_base64(v) or "",
                          tostring(err), tostring(src) }, "\t")
end

local function get(a)
    local n, err = instance(a.i or "main")
    if not n then
        return answer(nil, err)
    end
    return answer(n:get(a.k))
end

-- /near: one get.
function _M.get()
    ngx.say(get(ngx.req.get_uri_args()))
end

-- /near_hf: a get in header_filter, which allows no cosocket.
function _M.get_hf()
    ngx.header["X-Answer"] = ngx.escape_uri(get(ngx.req.get_uri_args()))
end

-- /near_new: near.new's answer to bad options (each a Lua table literal in
-- the query's o).
function _M.new_err()
    local f = assert(loadstring("return " .. ngx.req.get_uri_args().o))
    local n, err = near.new(f())
    ngx.say(n and "ok" or err)
end

return _M
