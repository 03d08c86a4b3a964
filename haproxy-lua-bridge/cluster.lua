-- ngx_cluster_module's HAProxy bridge: the same cluster, judged by the same
-- core, for HAProxy 2.6 to 3.4 (Lua 5.3 or 5.4).  Loaded with "lua-load";
-- the C module cluster_bridge.so (the project's core) sits beside this
-- file.  All the judgement is the core's; this file only moves what
-- HAProxy sees into it and what it decides back into HAProxy's own server
-- states.
--
--   global
--       setenv CLUSTER_CONF /etc/haproxy/cluster.conf
--       lua-load /usr/lib/haproxy-cluster/cluster.lua (make install-bridge: PREFIX/lib/...)
--   backend proget                       # with cluster_cookie only:
--       http-request set-var(txn.cluster_cookie) req.fhdr(cookie)
--       http-response lua.cluster_response
--   frontend ...
--       http-request use-service lua.cluster_status if { path_beg /cluster }

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.cpath = here .. "?.so;" .. package.cpath

-- An HAProxy too old, or a C module built for another Lua, is refused in
-- one line that says what to do.  The module's own check (in require)
-- would only say "version mismatch", and HAProxy would go on to say that
-- each of the bridge's names is unknown: they are registered, empty, first.
local function refuse(why)
    core.register_service("cluster_status", "http", function() end)
    core.register_action("cluster_response", { "http-res" }, function() end)
    error("cluster: " .. why, 0)
end

local haproxy = core.get_info().Version or "?"
local major, minor = haproxy:match("^(%d+)%.(%d+)")
major, minor = tonumber(major) or 0, tonumber(minor) or 0
if major < 2 or (major == 2 and minor < 6) then
    refuse("HAProxy " .. haproxy .. " is older than 2.6, the oldest the "
           .. "bridge runs in: upgrade HAProxy")
end

local so = package.searchpath("cluster_bridge", package.cpath)
if not so then
    refuse("no cluster_bridge.so beside " .. here .. "cluster.lua: build "
           .. "it with \"make bridge\"")
end

-- the Lua the module was built for, as its bytes say (it may not even
-- load in another)
local lua = _VERSION:match("%d+%.%d+")
local f = io.open(so, "rb")
local built_for = f and f:read("a"):match("\ncluster_bridge%.so built for "
                                         .. "(Lua %d+%.%d+)\n")
                  or "an unknown Lua"
if f then
    f:close()
end
if built_for ~= _VERSION then
    refuse(so .. " was built for " .. built_for .. ", and HAProxy "
           .. haproxy .. " runs " .. _VERSION .. ": rebuild it with \"make "
           .. "bridge LUA=" .. lua .. "\" (liblua" .. lua .. "-dev)")
end

local bridge = require("cluster_bridge")

local conf = os.getenv("CLUSTER_CONF") or "/etc/haproxy/cluster.conf"

-- a bad file stops HAProxy's start, or its reload, with file and line
local ok, err = bridge.load(conf)
if not ok then
    error("cluster: " .. err, 0)
end

-- backend name -> { servers = { [i] = { name, addr, rid, srv, weight,
-- take, gone } }, count = the highest i, applied = {..}, seen = {..} }: a
-- node's index is its record's in the C module, which servers added at
-- run time share with every Lua state
local clusters = {}

local function log(lines)
    if lines then
        for _, l in ipairs(lines) do
            core.log(l[1], l[2])
        end
    end
end

local function now_ms()
    local t = core.now()
    return t.sec * 1000 + t.usec // 1000
end

-- each backend's servers in HAProxy's order (their ids), as the nodes
core.register_init(function()
    for _, name in ipairs(bridge.backends()) do
        local be = core.backends[name]
        if not be then
            error("cluster: the file " .. conf .. " names the backend \""
                  .. name .. "\", which haproxy.cfg does not have", 0)
        end

        local list = {}
        for sname, srv in pairs(be.servers) do
            local st = srv:get_stats()
            list[#list + 1] = { name = sname, addr = srv:get_addr(),
                                sid = tonumber(st.sid) or 0, srv = srv,
                                rid = srv.get_rid and srv:get_rid() or 0,
                                weight = tonumber(st.weight) or 1,
                                take = 1 }
        end
        table.sort(list, function(a, b) return a.sid < b.sid end)

        local n, cookies = bridge.attach(name, list)
        if not n then
            error("cluster: " .. cookies, 0)
        end

        clusters[name] = { servers = list, count = #list, applied = {},
                           seen = {}, cookies = cookies }
    end

    log(bridge.restore())
end)


-- HAProxy's state of each server: the operator's MAINT or DRAIN, and what
-- its counters say of the traffic since the last look (the answers are the
-- server's heartbeats: no request pays for them)
local classes = { "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx",
                  "hrsp_5xx" }

local function haproxy_state(c, i, s)
    -- a server deleted at run time has no stats: the operator's
    -- removal (HAProxy 2.6, which tells the Lua of no deletion)
    local got, st = pcall(s.srv.get_stats, s.srv)
    if not got or type(st) ~= "table" then
        st = { status = "MAINT (deleted)" }
    end
    local status = st.status or ""
    local eresp = tonumber(st.eresp) or 0
    local answers = tonumber(st.hrsp_other) or 0
    local seen = c.seen[i] or {}
    local most, class = -1, 0

    for k, name in ipairs(classes) do
        local v = tonumber(st[name]) or 0
        answers = answers + v
        if v - (seen[k] or 0) > most then
            most, class = v - (seen[k] or 0), k
        end
        seen[k] = v
    end
    c.seen[i] = seen

    -- the operator's drain by HAProxy's own flag: the status text says
    -- DOWN, not DRAIN, once the bridge forced the server down
    local draining = got and s.srv:is_draining()
    draining = draining == true
               or (type(draining) == "number" and draining ~= 0)

    return {
        admin = status:match("^MAINT") and "MAINT"
                or draining and "DRAIN" or "",
        answers = math.max(0, answers - eresp),
        status = class * 100,
        rtime = tonumber(st.rtime) or 0,
        failures = (tonumber(st.econ) or 0) + eresp
    }
end

-- a server this Lua state was not told of yet (another state's event, in
-- lua-load-per-thread), or one deleted, is left out and alone
local function ours(c, i)
    local s = c.servers[i]
    return s and not s.gone and s
end

local function haproxy_states(c)
    local states = {}
    for i = 1, c.count do
        local s = ours(c, i)
        if s then
            states[i] = haproxy_state(c, i, s)
        end
    end
    return states
end

-- the core's verdicts into HAProxy's operational states: a node out of
-- rotation is forced down, one back forced up (those first, so that the
-- backend is never left without a server between the two), and slow
-- start's share is its weight; an operator's MAINT or DRAIN (an admin
-- state) is never touched
local function apply(c, verdicts)
    for pass = 1, 2 do
        for i, v in ipairs(verdicts) do
            local a = c.applied[i]
            if ours(c, i) and (a == nil or a.rotation ~= v.rotation)
               and v.rotation == (pass == 1)
            then
                -- pcall: a server deleted at run time refuses them
                local srv = c.servers[i].srv
                pcall(v.rotation and srv.check_force_up
                      or srv.check_force_down, srv)
            end
        end
    end

    for i, v in ipairs(verdicts) do
        local s = ours(c, i)
        local a = c.applied[i]

        if s then
            local w = s.weight
            if v.share < 1000 and s.weight > 0 then
                -- never 0: HAProxy shows a weight of 0 as DRAIN
                w = math.max(1, (s.weight * v.share) // 1000)
            end

            -- a server of weight 0 is the operator's: never set
            if s.weight > 0
               and ((a == nil and w ~= s.weight)
                    or (a ~= nil and a.weight ~= w))
            then
                pcall(s.srv.set_weight, s.srv, tostring(w))
            end

            c.applied[i] = { rotation = v.rotation, weight = w }
        end
    end
end

local said_at = 0

-- one pass over a cluster: HAProxy's states into the core, its verdicts
-- back into HAProxy
local function pass(name, c)
    local ok, why = pcall(function()
        local verdicts, lines = bridge.tick(name, haproxy_states(c))
        log(lines)
        apply(c, verdicts)
    end)
    if not ok then
        core.Warning("cluster \"" .. name .. "\": " .. tostring(why))
    end
end

-- HAProxy 2.8 and later tell a server's admin or state change as it
-- happens: an operator's MAINT or DRAIN is the node's at once, not at the
-- next pass (the passes, five a second, read the counters: all there is
-- on 2.6).  The bridge's own verdicts come back as changes too, and their
-- pass finds nothing more to do.
if core.event_sub then
    core.event_sub({ "SERVER_ADMIN", "SERVER_STATE" }, function(_, data)
        local name = data and data.proxy_name
        local c = name and clusters[name]
        if c then
            pass(name, c)
        end
    end)
end

-- Servers added or deleted at run time ("add server", "del server" on the
-- CLI), told by HAProxy 2.8 and later: a server added takes a spare
-- record of the C module (cluster_spare_nodes), and is a node like the
-- others from its first pass: checked, its heartbeats from its counters,
-- shown, forced down and up; none left, it is said once and HAProxy routes
-- it unjudged.  A server deleted is removed and its record hidden, for
-- the next one added.  With lua-load-per-thread each Lua state is told,
-- and all find the same record: a server is its name and HAProxy's
-- revision of it (rid).  HAProxy 2.6's Lua is told of neither: a node
-- whose server is deleted is an operator's removal (haproxy_state).
local start_checks

local function server_added(name, c, data)
    local be = core.backends[name]
    local srv = data.reference or (be and be.servers[data.name])
    if not srv then
        return
    end

    local st = srv:get_stats()
    local s = { name = data.name, addr = srv:get_addr(), srv = srv,
                rid = tonumber(data.rid) or 0,
                weight = tonumber(st.weight) or 1 }

    local i, take = bridge.add(name, s)
    if not i then
        if take then
            core.Warning(take)
        end
        return
    end

    s.take = take
    c.servers[i] = s
    c.seen[i] = nil
    c.applied[i] = nil
    c.count = math.max(c.count, i)

    core.log(5, "cluster \"" .. name .. "\": server \"" .. s.name
                .. "\" added at run time: a node of the cluster, "
                .. s.addr)
    start_checks(name, i, take)
end

local function server_deleted(name, c, data)
    local rid = tonumber(data.rid) or 0
    local i, lines = bridge.remove(name, data.name, rid)

    for k = 1, c.count do
        local s = c.servers[k]
        if s and s.name == data.name and (s.rid or 0) == rid then
            s.gone = true
        end
    end

    if i then
        log(lines)
        core.log(5, "cluster \"" .. name .. "\": server \""
                    .. tostring(data.name) .. "\" deleted at run time: "
                    .. "its node is removed")
    end
end

if core.event_sub then
    core.event_sub({ "SERVER_ADD", "SERVER_DEL" }, function(event, data)
        local name = data and data.proxy_name
        local c = name and clusters[name]
        if not c then
            return
        end

        local ok, why = pcall(event == "SERVER_ADD" and server_added
                              or server_deleted, name, c, data)
        if not ok then
            core.Warning("cluster \"" .. name .. "\": " .. tostring(why))
        end
    end)
end

core.register_task(function()
    while true do
        for name, c in pairs(clusters) do
            pass(name, c)
        end

        -- a state file that cannot be written is said once a minute
        local werr = bridge.save()
        if werr and now_ms() - said_at > 60000 then
            said_at = now_ms()
            core.Warning(werr)
        end

        core.msleep(200)
    end
end)


-- A node's port tried by the bridge's own non-blocking connect, by the
-- deadline: "connected", or why not; nil for a host that is not an
-- address.  HAProxy's sockets take 3 s to say "refused" since 2.9 (they
-- retry, waiting a second each time: cluster_bridge_probe.c), so a check
-- asks this first, and the messenger check is this alone.
local function probe(host, port, deadline)
    local p, why = bridge.probe(host, port)
    if not p then
        return why
    end

    local wait = 1
    while true do
        local state = p:state()
        if state ~= "pending" then
            return state
        end
        if now_ms() >= deadline then
            p:close()
            return "timed out"
        end
        core.msleep(wait)
        wait = math.min(wait * 2, 50)
    end
end

-- one check: the answer's bytes on HAProxy's own socket, bounded in size
-- and in time (a socket's timeout restarts with each byte a node drips: a
-- task of its own closes it at the deadline)
local function fetch(host, port, request, timeout, ssl)
    local deadline = now_ms() + timeout

    local reached = probe(host, port, deadline)
    if reached and reached ~= "connected" then
        return nil, reached
    end

    local sock = core.tcp()
    sock:settimeout(math.max(1, deadline - now_ms()) / 1000)

    local done = false
    core.register_task(function()
        core.msleep(math.max(1, deadline - now_ms()))
        if not done then
            sock:close()
        end
    end)

    local function finish(answer, failure)
        done = true
        sock:close()
        return answer, failure
    end

    local okc, cerr
    if ssl then
        okc, cerr = sock:connect_ssl(host, port)
    else
        okc, cerr = sock:connect(host, port)
    end
    if not okc then
        return finish(nil, tostring(cerr):find("timeout", 1, true)
                           and "timed out"
                           or ssl and "connection refused, or TLS failed"
                           or "connection refused")
    end

    if not sock:send(request) then
        return finish(nil, "connection reset")
    end

    local parts, total = {}, 0
    while true do
        local data, rerr, partial = sock:receive(16384)
        data = data or partial
        if data and #data > 0 then
            parts[#parts + 1] = data
            total = total + #data
        end
        if now_ms() >= deadline then
            return finish(nil, "timed out")
        end
        if rerr and tostring(rerr):find("closed", 1, true) then
            break
        end
        if rerr then
            return finish(nil, tostring(rerr):find("timeout", 1, true)
                               and "timed out" or "connection reset")
        end
        if total > 81920 then
            return finish(nil, "answer over 64 KiB")
        end
    end

    return finish(table.concat(parts))
end

local function messenger(host, port, timeout)
    local reached = probe(host, port, now_ms() + timeout)
    if reached then
        return reached == "connected"
    end

    local sock = core.tcp()
    sock:settimeout(timeout / 1000)
    local okc = sock:connect(host, port)
    sock:close()
    return okc and true or false
end

local function check(name, i, c)
    local t0 = now_ms()
    local answer, failure = fetch(c.host, c.port, c.request, c.timeout,
                                  c.ssl)
    local m = nil

    if c.messenger and not failure then
        m = messenger(c.host, c.messenger, c.timeout)
    end

    local what, more = bridge.check_done(name, i, c.claimed, answer, failure,
                                         m, now_ms() - t0, c.take)
    if what == "again" then
        answer, failure = fetch(c.host, c.port, more, c.timeout, c.ssl)
        what, more = bridge.check_done(name, i, c.claimed, answer, failure,
                                       m, now_ms() - t0, c.take)
    end

    log(more)
end

-- a task per node of a checked backend: it looks for its check each
-- check_every ms, and only one caller of all claims it; it ends when the
-- node's server is deleted (its record's take is another, or none)
start_checks = function(name, i, take)
    local every = bridge.check_every(name)
    if every <= 0 then
        return
    end

    core.register_task(function()
        while true do
            local claim = bridge.check_claim(name, i, take)
            if claim == false then
                return
            end
            if claim then
                -- an error is one check's, never the node's last: the
                -- task goes on
                local ok, why = pcall(check, name, i, claim)
                if not ok then
                    core.Warning("cluster \"" .. name .. "\": a check "
                                 .. "failed: " .. tostring(why))
                end
            end
            core.msleep(every)
        end
    end)
end

core.register_task(function()
    for name, c in pairs(clusters) do
        for i = 1, c.count do
            local s = c.servers[i]
            if s then
                start_checks(name, i, s.take)
            end
        end
    end
end)


-- the key check, in one action per request at its response: the auth
-- cookie the request carried (kept in txn.cluster_cookie by HAProxy's own
-- set-var), the cookies the answer sets and whether it sends the user to
-- sign in; only for the backends with cluster_cookie

local function all_values(h)
    local out = {}
    if h then
        for k = 0, #h do
            out[#out + 1] = h[k]
        end
    end
    return out
end

core.register_action("cluster_response", { "http-res" }, function(txn)
    local be = txn.f:be_name()
    local c = clusters[be]
    if not (c and c.cookies) then
        return
    end

    local srv = txn.sf:srv_name()
    if not srv then
        return
    end

    local status = tonumber(txn.sf:status()) or 0
    local cookies, location = nil, nil

    if (tonumber(txn.f:res_fhdr_cnt("set-cookie")) or 0) > 0 then
        cookies = all_values(txn.http:res_get_headers()["set-cookie"])
    end

    if status >= 300 and status < 400 then
        location = txn.f:res_fhdr("location")
    end

    local kc, lines = bridge.answer(be, txn:get_var("txn.cluster_cookie"),
                                    srv, status, cookies, location)
    txn:set_var("txn.cluster_key_check", kc or "none")
    log(lines)
end)


-- the status location: the page, the JSON document, the Prometheus text,
-- and the admin actions under <location>/nodes/<node>/<action>

local function header_list(headers, name)
    return all_values(headers[name])
end

local function respond(applet, status, body, ctype, extra)
    applet:set_status(status)
    applet:add_header("content-type", ctype)
    applet:add_header("content-length", tostring(#body))
    applet:add_header("cache-control", "no-store")
    applet:add_header("vary", "Accept")
    applet:add_header("content-security-policy", "frame-ancestors 'none'")
    applet:add_header("x-frame-options", "DENY")
    applet:add_header("x-content-type-options", "nosniff")
    if extra then
        applet:add_header(extra[1], extra[2])
    end
    applet:start_response()
    if applet.method ~= "HEAD" then
        applet:send(body)
    end
end

core.register_service("cluster_status", "http", function(applet)
    local path = applet.path or "/"
    local base, rest = path:match("^(.-)/nodes/(.+)$")

    if rest then
        local status, body, hname, hvalue, lines = bridge.admin(
            rest, applet.method, applet.qs or "", {
                sec_fetch_site = header_list(applet.headers,
                                             "sec-fetch-site"),
                origin = header_list(applet.headers, "origin"),
                host = header_list(applet.headers, "host"),
                authorization = header_list(applet.headers, "authorization")
            }, applet.sf:src(), path)
        log(lines)
        respond(applet, status, body, "application/json",
                hname and { hname, hvalue })
        return
    end

    if applet.method ~= "GET" and applet.method ~= "HEAD" then
        respond(applet, 405, "{\"error\":\"expected GET\"}\n",
                "application/json", { "allow", "GET, HEAD" })
        return
    end

    -- the format is the core's to decide, by format= or Accept
    local format = (applet.qs or ""):match("format=([^&]*)")

    local body, ctype, lines = bridge.status(format,
        header_list(applet.headers, "accept"), (path:gsub("/+$", "")))
    log(lines)
    respond(applet, 200, body, ctype)
end)
