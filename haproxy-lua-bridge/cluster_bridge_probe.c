
/*
 * Copyright (C) ngx_cluster_module authors
 */


/*
 * A node's port, tried by a non-blocking connect of the bridge's own: is
 * it refused, or does it take connections?  The checks ask it first, and
 * the messenger check is this alone.
 *
 * Why not HAProxy's socket (core.tcp) for it: since HAProxy 2.9 the Lua
 * sockets' internal proxy is set up with the connection retries of a
 * proxy of the configuration (3: "init_new_proxy" presets them before the
 * proxy is marked internal), and each refused try waits min(1 s, the
 * socket's timeout) before the next.  A stopped node's check then takes
 * 3 s, or its whole timeout, where HAProxy 2.6 said "refused" at once: a
 * stopped node was found down two to three times later.
 *
 * Nothing here blocks: connect() returns at once, and the caller asks for
 * the outcome with poll() and no wait, between its own core.msleep()s.
 */


#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <lua.h>
#include <lauxlib.h>

#include "cluster_bridge.h"


#define BRIDGE_PROBE  "cluster_bridge.probe"


typedef struct {
    int                     fd;
} bridge_probe_t;


static const char *
bridge_probe_error(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return "connection refused";
    case ETIMEDOUT:
        return "timed out";
    case ENETUNREACH:
    case EHOSTUNREACH:
        return "unreachable";
    default:
        return "connection reset";
    }
}


static void
bridge_probe_close(bridge_probe_t *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}


/*
 * probe(host, port): a connect begun; the probe, or nil and why it failed
 * at once; nil and nil when the host is not an address (a name: the
 * caller goes on without a probe)
 */
int
bridge_probe(lua_State *L)
{
    int                      fd, rc;
    socklen_t                len;
    const char              *host;
    lua_Integer              port;
    bridge_probe_t          *p;
    struct sockaddr_in       sin;
    struct sockaddr_in6      sin6;
    struct sockaddr         *sa;

    host = luaL_checkstring(L, 1);
    port = luaL_checkinteger(L, 2);
    luaL_argcheck(L, port > 0 && port < 65536, 2, "a port");

    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));

    if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t) port);
        sa = (struct sockaddr *) &sin;
        len = sizeof(sin);

    } else if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t) port);
        sa = (struct sockaddr *) &sin6;
        len = sizeof(sin6);

    } else {
        lua_pushnil(L);
        lua_pushnil(L);
        return 2;
    }

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushstring(L, "no socket");
        return 2;
    }

    rc = connect(fd, sa, len);

    if (rc != 0 && errno != EINPROGRESS) {
        rc = errno;
        close(fd);
        lua_pushnil(L);
        lua_pushstring(L, bridge_probe_error(rc));
        return 2;
    }

    p = lua_newuserdata(L, sizeof(bridge_probe_t));
    p->fd = fd;
    luaL_setmetatable(L, BRIDGE_PROBE);

    return 1;
}


/*
 * probe:state(): "pending", "connected", or why it failed; the socket is
 * closed once the outcome is known (a connected one with nothing sent:
 * the node sees a connection opened and closed)
 */
static int
bridge_probe_state(lua_State *L)
{
    int              err, rc;
    socklen_t        len;
    struct pollfd    pfd;
    bridge_probe_t  *p;

    p = luaL_checkudata(L, 1, BRIDGE_PROBE);

    if (p->fd < 0) {
        lua_pushstring(L, "closed");
        return 1;
    }

    pfd.fd = p->fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;

    rc = poll(&pfd, 1, 0);

    if (rc == 0 || (rc < 0 && errno == EINTR)) {
        lua_pushstring(L, "pending");
        return 1;
    }

    err = 0;
    len = sizeof(err);

    if (rc < 0 || getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }

    bridge_probe_close(p);

    lua_pushstring(L, err == 0 ? "connected" : bridge_probe_error(err));
    return 1;
}


static int
bridge_probe_gc(lua_State *L)
{
    bridge_probe_close(luaL_checkudata(L, 1, BRIDGE_PROBE));
    return 0;
}


static const luaL_Reg  bridge_probe_methods[] = {
    { "state", bridge_probe_state },
    { "close", bridge_probe_gc },
    { NULL, NULL }
};


void
bridge_probe_register(lua_State *L)
{
    if (luaL_newmetatable(L, BRIDGE_PROBE)) {
        luaL_newlib(L, bridge_probe_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, bridge_probe_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}
