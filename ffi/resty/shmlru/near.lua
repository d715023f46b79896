-- SPDX-License-Identifier: Apache-2.0
-- resty.shmlru.near: Redis GETs for nginx workers through a shmlru region
-- that the host's tracking agent keeps in step with Redis (lru/track.go;
-- the agent is a Go process, module near's). Every nginx worker and Go
-- process on the host reads and fills the same keys.
--
--   local near = require "resty.shmlru.near"
--   local n, err = near.new{ cache = "my-region", host = "127.0.0.1", port = 6379 }
--   local v, err = n:get("user:42")   -- the string; nil if Redis has no value; nil, err
--
-- get reads the region first (one native call, shmlru_get_tracked: no Go,
-- no Redis): an entry filled in the current generation while the cache is
-- in step is the answer, a cached absence answers nil. Otherwise one caller on the whole
-- host (a worker or a Go process: the read-through's load table) GETs the
-- key from Redis and fills it, guarded against a change that Redis
-- announces meanwhile, and the others wait for it; this is get_or_load's
-- opts.tracked (resty/shmlru/load.lua). While the cache is not in step (no
-- agent, or its invalidation stream is late) every get asks Redis itself
-- and nothing is cached.
--
-- The Redis client is a minimal RESP2 one over ngx.socket.tcp: GET, and
-- AUTH and SELECT on a new connection when opts.password or opts.db ask
-- for them; connections go back to the cosocket pool (setkeepalive). It
-- talks to Redis only from phases that allow cosockets (rewrite, access,
-- content, timers...).

local shmlru = require "resty.shmlru"
local load = require "resty.shmlru.load"

local type = type
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local setmetatable = setmetatable
local math_floor = math.floor
local str_byte = string.byte
local str_sub = string.sub


local _M = { _VERSION = shmlru._VERSION } -- one version (version/version.go)
local mt = { __index = _M }

-- The phases whose code may use ngx.socket.tcp (lua-nginx-module's docs).
local CAN_SOCKET = {
    rewrite = true, server_rewrite = true, access = true, content = true,
    timer = true, ssl_cert = true, ssl_session_fetch = true,
    ssl_client_hello = true, preread = true,
}

-- One handle per region path and worker, shared by the instances given
-- that path.
local opened = {}

local DEFAULTS = {
    host = "127.0.0.1", port = 6379, timeout = 1000, ttl = 60, neg_ttl = 60,
    db = 0, lease = 30, wait_timeout = 5,
}


-- number_opt reads opts[name], a number within [min, max] (integer if
-- int), or its default: the value, or nil and what is wrong.
local function number_opt(opts, name, min, max, int, what)
    local v = opts[name]
    if v == nil then
        return DEFAULTS[name]
    end
    if type(v) ~= "number" or v ~= v or v < min or v > max or (int and v ~= math_floor(v)) then
        return nil, "bad opts." .. name .. ": " .. tostring(v) .. "; " .. what
    end
    return v
end


-- new returns a near instance, or nil and an error.
--
-- opts:
--   cache       a region path (a name without a slash is a file under
--               /dev/shm), opened in each worker at its first get (so new
--               may run in init_by_lua), with opts.region_opts as
--               shmlru.open's opts; or a cache resty.shmlru.open returned.
--               Required.
--   host, port  Redis (127.0.0.1, 6379); host "unix:/path" for a socket.
--   timeout     ms for each of connect, send and read (1000).
--   password    AUTH on each new connection (with user, if given: Redis 6
--               ACLs); db: SELECT on each new connection (0: none).
--   pool_size, keepalive_timeout (ms)
--               of the cosocket pool (default: nginx's lua_socket_pool_size
--               and lua_socket_keepalive_timeout).
--   ttl         seconds a filled value is kept at most (60; 0: until the
--               agent invalidates it, or it is evicted). The agent's
--               invalidation is what keeps it right; the TTL bounds the
--               memory it takes and is a backstop.
--   neg_ttl     seconds an absence (Redis has no value) is kept at most
--               (60; 0: absences are not cached).
--   lease, wait_timeout
--               of the read-through (30 and 5 seconds; see get_or_load).
--   prefixes    the key prefixes the agent tracks (a list of strings, as
--               its -prefix flags, or package near's Options.Prefixes):
--               a key under none of them is read from Redis every time
--               and never cached, as nothing would invalidate it. nil or
--               empty: every key (the agent tracks every key).
--
-- The region's keys are the Redis keys themselves, as the agent
-- invalidates them. ttl and neg_ttl are package near's MaxTTL (one minute
-- for both there too).
function _M.new(opts)
    if type(opts) ~= "table" then
        return nil, "bad opts: a table expected, got " .. type(opts)
    end
    local cache = opts.cache
    local ct = type(cache)
    if ct ~= "string" and not (ct == "table" and cache.h) then
        return nil, "bad opts.cache: a region path or a cache that"
            .. " resty.shmlru.open returned expected, got " .. ct
    end
    if ct == "string" and cache == "" then
        return nil, "bad opts.cache: an empty region path"
    end
    local host = opts.host or DEFAULTS.host
    if type(host) ~= "string" or host == "" then
        return nil, "bad opts.host: a host name, an address or \"unix:/path\" expected"
    end
    local err
    local self = { host = host }
    self.port, err = number_opt(opts, "port", 1, 65535, true, "a TCP port expected")
    if not self.port then
        return nil, err
    end
    local t
    t, err = number_opt(opts, "timeout", 1, 2 ^ 31 - 1, false, "milliseconds > 0 expected")
    if not t then
        return nil, err
    end
    self.timeout = t
    self.db, err = number_opt(opts, "db", 0, 2 ^ 31 - 1, true, "a database number >= 0 expected")
    if not self.db then
        return nil, err
    end
    for _, name in ipairs({ "password", "user" }) do
        local v = opts[name]
        if v ~= nil and type(v) ~= "string" then
            return nil, "bad opts." .. name .. ": a string expected, got " .. type(v)
        end
        self[name] = v
    end
    if self.user and not self.password then
        return nil, "bad opts.user: it needs opts.password (AUTH user password)"
    end
    if opts.pool_size ~= nil then
        self.pool_size, err = number_opt(opts, "pool_size", 1, 2 ^ 31 - 1, true,
                                         "a number of connections >= 1 expected")
        if not self.pool_size then
            return nil, err
        end
    end
    if opts.keepalive_timeout ~= nil then
        self.keepalive, err = number_opt(opts, "keepalive_timeout", 0, 2 ^ 31 - 1, false,
                                         "milliseconds >= 0 expected")
        if not self.keepalive then
            return nil, err
        end
    end
    local lopts = { tracked = true }
    for _, name in ipairs({ "ttl", "neg_ttl", "lease", "wait_timeout" }) do
        lopts[name], err = number_opt(opts, name, 0, 2 ^ 53, false, "seconds >= 0 expected")
        if not lopts[name] then
            return nil, err
        end
    end
    self.lopts = lopts
    local pfx = opts.prefixes
    if pfx ~= nil then
        if type(pfx) ~= "table" then
            return nil, "bad opts.prefixes: a list of key prefixes expected, got " .. type(pfx)
        end
        local list = {} -- a copy: the caller's table may change
        for i, p in ipairs(pfx) do
            if type(p) ~= "string" or p == "" then
                return nil, "bad opts.prefixes[" .. i .. "]: a non-empty string expected"
            end
            list[i] = p
        end
        if #list > 0 then
            self.prefixes = list
        end
    end
    local ro = opts.region_opts
    if ro ~= nil and type(ro) ~= "table" then
        return nil, "bad opts.region_opts: a table (shmlru.open's opts) expected"
    end
    if ct == "string" then
        self.region, self.region_opts = cache, ro
    else
        self.shm = cache
    end
    self.unix = str_sub(host, 1, 5) == "unix:"
    self.addr = self.unix and host or (host .. ":" .. self.port)
    return setmetatable(self, mt)
end


-- prepare readies the instance in this worker, at its first get: opens
-- its region if it was given a path, and checks that the library has
-- tracked fills. Returns the cache, or nil and an error.
local function prepare(self)
    local shm = self.shm
    if not shm then
        shm = opened[self.region]
        if not shm then
            local err
            shm, err = shmlru.open(self.region, self.region_opts)
            if not shm then
                return nil, err
            end
            opened[self.region] = shm
        end
    end
    local ok, err = load.check_tracked()
    if not ok then
        return nil, err
    end
    self.shm, self.ready = shm, true
    return shm
end


-- ---- the Redis client (RESP2) ----

-- fail closes sock and returns nil and an error naming the Redis server
-- and what was being done.
local function fail(self, sock, what, err)
    if sock then
        sock:close()
    end
    local hint = ""
    if err == "timeout" then
        hint = " (opts.timeout is " .. self.timeout .. " ms)"
    elseif what == "connect" then
        hint = " (is redis-server running there? check opts.host and opts.port)"
    end
    return nil, "near: Redis " .. self.addr .. " " .. what .. ": " .. tostring(err) .. hint
end


-- read_reply reads one RESP2 reply: a bulk string's bytes (nil for the
-- null bulk string, $-1) or a simple string, then nil, then a Redis
-- error's text; or nil, nil, nil, and a socket or protocol error, after
-- which the connection is unusable.
local function read_reply(sock)
    local line, err = sock:receive("*l") -- without its CRLF
    if not line then
        return nil, nil, nil, err
    end
    local c = str_byte(line, 1)
    if c == 36 then -- '$' bulk string
        local n = tonumber(str_sub(line, 2))
        if not n or n ~= math_floor(n) then
            return nil, nil, nil, "bad reply " .. line
        end
        if n < 0 then
            return nil -- no value
        end
        local data
        data, err = sock:receive(n + 2) -- the bytes as they are, then CRLF
        if not data then
            return nil, nil, nil, err
        end
        if str_sub(data, -2) ~= "\r\n" then
            return nil, nil, nil, "bad reply: a bulk string of " .. n .. " bytes not ended by CRLF"
        end
        return str_sub(data, 1, n)
    elseif c == 43 then -- '+' simple string
        return str_sub(line, 2)
    elseif c == 45 then -- '-' error
        return nil, nil, str_sub(line, 2)
    end
    return nil, nil, nil, "unexpected reply " .. str_sub(line, 1, 40)
end


-- command sends one command (a list of arguments) and reads its reply:
-- value, redis_err, sock_err, as read_reply.
local function command(sock, args)
    local parts = { "*", #args, "\r\n" }
    for i = 1, #args do
        local a = args[i]
        parts[#parts + 1] = "$"
        parts[#parts + 1] = #a
        parts[#parts + 1] = "\r\n"
        parts[#parts + 1] = a
        parts[#parts + 1] = "\r\n"
    end
    local ok, err = sock:send(parts)
    if not ok then
        return nil, nil, err
    end
    local v, _, rerr, serr = read_reply(sock)
    return v, rerr, serr
end


-- connect returns a connection to Redis, from the pool or new (then
-- authenticated and on opts.db), or nil and an error.
local function connect(self)
    local sock = ngx.socket.tcp()
    local t = self.timeout
    sock:settimeouts(t, t, t)
    if not self.pool then
        -- Connections differ by server, database and credentials: one pool
        -- for each, named without the password itself.
        self.pool = "shmlru.near:" .. self.addr .. ":" .. self.db .. ":"
            .. (self.user or "") .. ":" .. (self.password and ngx.md5(self.password) or "")
        self.pool_opts = { pool = self.pool, pool_size = self.pool_size }
    end
    local ok, err
    if self.unix then
        ok, err = sock:connect(self.host, self.pool_opts)
    else
        ok, err = sock:connect(self.host, self.port, self.pool_opts)
    end
    if not ok then
        return fail(self, nil, "connect", err)
    end
    if sock:getreusedtimes() == 0 then
        if self.password then
            local args = self.user and { "AUTH", self.user, self.password } or { "AUTH", self.password }
            local _, rerr, serr = command(sock, args)
            if serr then
                return fail(self, sock, "AUTH", serr)
            elseif rerr then
                return fail(self, sock, "AUTH", rerr .. " (check opts.password and opts.user)")
            end
        end
        if self.db ~= 0 then
            local _, rerr, serr = command(sock, { "SELECT", tostring(self.db) })
            if serr or rerr then
                return fail(self, sock, "SELECT " .. self.db, serr or (rerr .. " (check opts.db)"))
            end
        end
    end
    return sock
end


-- redis_get GETs key from Redis: the value, nil if Redis has none, or nil
-- and an error. It is get_or_load's callback.
local function redis_get(self, key)
    local ngx = ngx
    local phase = ngx and ngx.get_phase()
    if not CAN_SOCKET[phase] then
        return nil, "near: reading Redis needs ngx.socket.tcp, which the "
            .. tostring(phase) .. " phase does not allow; call get in"
            .. " rewrite, access, content or a timer (ngx.timer.at)"
    end
    local sock, err = connect(self)
    if not sock then
        return nil, err
    end
    local v, rerr, serr = command(sock, { "GET", key })
    if serr then
        return fail(self, sock, "GET", serr)
    end
    -- The connection is sound after a reply, an error reply included.
    sock:setkeepalive(self.keepalive, self.pool_size)
    if rerr then
        return nil, "near: Redis " .. self.addr .. " GET: " .. rerr
    end
    return v
end


-- tracked reports whether key is under one of the agent's prefixes.
local function tracked(self, key)
    local pfx = self.prefixes
    if not pfx then
        return true
    end
    for i = 1, #pfx do
        local p = pfx[i]
        if str_sub(key, 1, #p) == p then
            return true
        end
    end
    return false
end


-- get returns the value of key (a string, Redis's bytes as they are), nil
-- if Redis has no value, or nil and an error; then where the answer came
-- from, as get_or_load's source: "hit" (the region, no Redis), "loaded"
-- (this caller asked Redis), "waited" (another caller on the host did).
function _M.get(self, key)
    if type(key) ~= "string" or key == "" then
        return nil, "bad key: a non-empty string expected, got "
            .. (key == "" and "an empty string" or type(key))
    end
    local shm = self.shm
    if not self.ready then
        local err
        shm, err = prepare(self)
        if not shm then
            return nil, err
        end
    end
    if not tracked(self, key) then
        local v, err = redis_get(self, key)
        return v, err, "loaded"
    end
    return shm:get_or_load(key, self.lopts, redis_get, self, key)
end


return _M
