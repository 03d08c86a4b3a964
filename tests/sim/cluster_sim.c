/*
 * cluster-sim: plays one Inedo web node (ProGet, BuildMaster) for the tests,
 * the demo and the benchmarks.
 *
 *   cluster-sim --name web1 --port 8624 [--listen 127.0.0.1]
 *               [--version 23.0.27] [--health json2025|text2026|buildmaster]
 *               [--service ok|error] [--messenger PORT]
 *               [--key HEX | --key-file FILE] [--cookie NAME]
 *   cluster-sim --help
 *
 * Every option takes its value as "--port 8624" or "--port=8624"; a wrong
 * command line (an unknown option, one without its value, a port out of
 * 1..65535) exits 2, so that a test finds out at once.
 *
 * It answers /health (and /health/json) as the product does, any other path
 * with a small page, and keeps connections alive.  While it runs, its
 * behaviour is changed through /_sim/control?KEY=VALUE&..., which is never
 * itself affected:
 *
 *   status=N     answer content and health with status N (0: normal)
 *   hang=1       read requests, never answer
 *   close=1      close the connection as soon as a request is read
 *   delay=N      answer after N milliseconds
 *   version=X    the release number reported by /health
 *   service=ok|error
 *   messenger=0|1  close or open the service messenger's port
 *   exp=N        the "exp" of the cookies /log-in sets, digits as given
 *                (however absurd); reset: an hour from now
 *   answer=MODE  how /health answers: normal, big (an 80 KiB body), huge
 *                (a length of 1 MiB, then nothing), drip
 *                (a byte every 100 ms), garbage (not HTTP), invalid (bad
 *                JSON), redirect (302 to /log-in), reset (close unanswered),
 *                hang (never answer), script (markup in the version)
 *   reset=1      back to normal
 *
 * With --key (an EncryptionKey, 32 hex digits), it plays a node with its
 * own key: /log-in mints the auth cookie (--cookie, ".ProGetAuth") sealed
 * with the scheme v1 and that key, and any other page answers 302 to
 * /log-in unless the request's cookie opens with it: what users see when a
 * node's key differs.
 *
 * /_sim/stats answers the counts of requests served, as JSON.  With
 * --messenger, it also accepts (and closes) connections on that port, as
 * the product's service messenger would.
 *
 * One thread, epoll, non-blocking sockets: hundreds of concurrent
 * connections cost nothing, so it is never the bottleneck of a test.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cluster_cookie.h"


#define SIM_MAX_CONNS   4096
#define SIM_IN_SIZE     16384
#define SIM_OUT_SIZE    (96 * 1024)


typedef enum {
    SIM_HEALTH_JSON2025 = 0,
    SIM_HEALTH_TEXT2026,
    SIM_HEALTH_BUILDMASTER
} sim_health_e;


typedef struct {
    int           fd;
    int           closing;        /* close once the output is written */
    int           hanging;
    int           drip;           /* write a byte per "due" */
    int64_t       due;            /* a delayed answer goes out then; 0 */
    size_t        in_len;
    size_t        out_len;
    size_t        out_sent;
    char          in[SIM_IN_SIZE];
    char          out[SIM_OUT_SIZE];
} sim_conn_t;


typedef struct {
    const char   *name;
    const char   *listen;
    int           port;
    char          version[64];
    sim_health_e  health;
    int           service_ok;

    int           status;
    int           hang;
    int           close;
    int           delay;
    char          answer[64];
    char          exp[64];      /* the "exp" of the cookies it sets, as
                                   given; "": an hour from now */
    int           messenger_port;
    int           messenger_fd;   /* -1: closed */

    uint64_t      requests;
    uint64_t      health_requests;
    uint64_t      content_requests;
    uint64_t      messenger_connections;
    char          health_host[128];   /* the Host of the last /health */

    int           keyed;
    const char   *cookie;
    uint8_t       key[CLUSTER_KEY_SEAL];
    uint64_t      logins;
    uint64_t      login_redirects;
} sim_t;


static sim_t          sim;
static sim_conn_t    *conns[SIM_MAX_CONNS];
static volatile int   sim_quit;


static int64_t
sim_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
sim_on_signal(int signo)
{
    (void) signo;
    sim_quit = 1;
}


static void
sim_close(int ep, sim_conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c);
}


static void sim_respond_with(sim_conn_t *c, int status, const char *type,
    const char *headers, const char *body, int keepalive);


static void
sim_respond(sim_conn_t *c, int status, const char *type, const char *body,
    int keepalive)
{
    sim_respond_with(c, status, type, "", body, keepalive);
}


static void
sim_respond_with(sim_conn_t *c, int status, const char *type,
    const char *headers, const char *body, int keepalive)
{
    int          n;
    size_t       len;
    const char  *reason;

    switch (status) {
    case 200: reason = "OK"; break;
    case 302: reason = "Found"; break;
    case 400: reason = "Bad Request"; break;
    case 404: reason = "Not Found"; break;
    case 500: reason = "Internal Server Error"; break;
    case 502: reason = "Bad Gateway"; break;
    case 503: reason = "Service Unavailable"; break;
    default: reason = "Status"; break;
    }

    len = strlen(body);

    n = snprintf(c->out + c->out_len, SIM_OUT_SIZE - c->out_len,
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "X-Node: %s\r\n"
                 "%s"
                 "Connection: %s\r\n"
                 "\r\n%s",
                 status, reason, type, len, sim.name, headers,
                 keepalive ? "keep-alive" : "close", body);

    if (n < 0 || (size_t) n >= SIM_OUT_SIZE - c->out_len) {
        c->closing = 1;
        return;
    }

    c->out_len += (size_t) n;

    if (!keepalive) {
        c->closing = 1;
    }
}


/* the value of KEY in a query string, copied into val; 0 when absent */
static int
sim_query(const char *query, const char *key, char *val, size_t size)
{
    size_t       klen, vlen;
    const char  *p, *end;

    klen = strlen(key);

    for (p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {

        if (strncmp(p, key, klen) != 0 || p[klen] != '=') {
            continue;
        }

        p += klen + 1;
        end = strchr(p, '&');
        vlen = end ? (size_t) (end - p) : strlen(p);

        if (vlen >= size) {
            vlen = size - 1;
        }

        memcpy(val, p, vlen);
        val[vlen] = '\0';

        return 1;
    }

    return 0;
}


/* Inedo's display version from a release number: 23.0.27 is 2023.27 */
static void
sim_display_version(char *buf, size_t size)
{
    unsigned  major, minor, patch;

    if (strcmp(sim.answer, "script") == 0) {
        snprintf(buf, size, "<script>alert(1)</script>");
        return;
    }

    if (sscanf(sim.version, "%u.%u.%u", &major, &minor, &patch) == 3) {
        snprintf(buf, size, "20%02u.%u (Build 1)", major % 100, patch);
        return;
    }

    snprintf(buf, size, "%s", sim.version);
}


static void
sim_health_json(char *buf, size_t size)
{
    char         display[64];
    const char  *svc;

    svc = sim.service_ok ? "OK" : "Error";
    sim_display_version(display, sizeof(display));

    if (sim.health == SIM_HEALTH_BUILDMASTER) {
        snprintf(buf, size,
                 "{\"applicationName\":\"BuildMaster\","
                 "\"instanceName\":\"%s\","
                 "\"databaseStatus\":\"OK\",\"databaseStatusDetail\":null,"
                 "\"versionNumber\":\"%s\",\"releaseNumber\":\"%s\","
                 "\"licenseStatus\":\"OK\",\"licenseStatusDetail\":null,"
                 "\"serviceStatus\":\"%s\",\"serviceStatusDetail\":%s}",
                 sim.name, display, sim.version, svc,
                 sim.service_ok ? "null" : "\"The service is not running.\"");
        return;
    }

    snprintf(buf, size,
             "{\"applicationName\":\"ProGet\","
             "\"databaseStatus\":\"OK\",\"databaseStatusDetail\":null,"
             "\"versionNumber\":\"%s\",\"releaseNumber\":\"%s\","
             "\"licenseStatus\":\"OK\",\"licenseStatusDetail\":null,"
             "\"serviceStatus\":\"%s\",\"serviceStatusDetail\":%s,"
             "\"replicationStatus\":{\"serverStatus\":null,"
             "\"clientStatus\":null}}",
             display, sim.version, svc,
             sim.service_ok ? "null" : "\"The service is not running.\"");
}


static void
sim_messenger(int ep, int open)
{
    int                 fd, one;
    struct epoll_event  ev;
    struct sockaddr_in  sin;

    if (!open) {
        if (sim.messenger_fd >= 0) {
            epoll_ctl(ep, EPOLL_CTL_DEL, sim.messenger_fd, NULL);
            close(sim.messenger_fd);
            sim.messenger_fd = -1;
        }

        return;
    }

    if (sim.messenger_fd >= 0 || sim.messenger_port == 0) {
        return;
    }

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) sim.messenger_port);
    inet_pton(AF_INET, sim.listen, &sin.sin_addr);

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0
        || listen(fd, 128) < 0)
    {
        fprintf(stderr, "cluster-sim: cannot listen on messenger port %d: "
                "%s\n", sim.messenger_port, strerror(errno));
        close(fd);
        return;
    }

    sim.messenger_fd = fd;

    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}


static int  sim_ep;


static void
sim_control(sim_conn_t *c, const char *query, int keepalive)
{
    char  val[64], body[512];

    if (sim_query(query, "reset", val, sizeof(val))) {
        sim.status = 0;
        sim.hang = 0;
        sim.close = 0;
        sim.delay = 0;
        sim.service_ok = 1;
        sim.exp[0] = '\0';
        snprintf(sim.answer, sizeof(sim.answer), "normal");
        sim_messenger(sim_ep, 1);
    }

    if (sim_query(query, "answer", val, sizeof(val))) {
        snprintf(sim.answer, sizeof(sim.answer), "%s", val);
    }

    if (sim_query(query, "messenger", val, sizeof(val))) {
        sim_messenger(sim_ep, atoi(val));
    }

    if (sim_query(query, "status", val, sizeof(val))) {
        sim.status = atoi(val);
    }

    if (sim_query(query, "hang", val, sizeof(val))) {
        sim.hang = atoi(val);
    }

    if (sim_query(query, "close", val, sizeof(val))) {
        sim.close = atoi(val);
    }

    if (sim_query(query, "delay", val, sizeof(val))) {
        sim.delay = atoi(val);
    }

    if (sim_query(query, "version", val, sizeof(val))) {
        snprintf(sim.version, sizeof(sim.version), "%s", val);
    }

    if (sim_query(query, "service", val, sizeof(val))) {
        sim.service_ok = strcmp(val, "ok") == 0;
    }

    if (sim_query(query, "exp", val, sizeof(val))) {
        /* digits only, however many: a node may set any */
        if (strspn(val, "0123456789") == strlen(val)) {
            memcpy(sim.exp, val, sizeof(sim.exp));
        }
    }

    snprintf(body, sizeof(body),
             "{\"name\":\"%s\",\"status\":%d,\"hang\":%d,\"close\":%d,"
             "\"delay\":%d,\"version\":\"%s\",\"service\":\"%s\","
             "\"answer\":\"%s\",\"messenger\":%d}\n",
             sim.name, sim.status, sim.hang, sim.close, sim.delay,
             sim.version, sim.service_ok ? "ok" : "error", sim.answer,
             sim.messenger_fd >= 0);

    sim_respond(c, 200, "application/json", body, keepalive);
}


/* the broken answers of "answer=MODE"; 0 when /health answers normally */
static int
sim_hostile(sim_conn_t *c, int keepalive)
{
    size_t  n;

    if (strcmp(sim.answer, "big") == 0) {
        /* no length: only the reader's own limit stops it */
        n = (size_t) snprintf(c->out, SIM_OUT_SIZE,
                              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                              "Connection: close\r\n\r\n");
        memset(c->out + n, 'x', 80 * 1024);
        c->out_len = n + 80 * 1024;
        c->closing = 1;
        return 1;
    }

    if (strcmp(sim.answer, "huge") == 0) {
        /* a length no check should wait for */
        n = (size_t) snprintf(c->out, SIM_OUT_SIZE,
                              "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n"
                              "\r\n{");
        c->out_len = n;
        return 1;
    }

    if (strcmp(sim.answer, "drip") == 0) {
        sim_respond(c, 200, "application/json", "{\"releaseNumber\":\"1.0\"}",
                    0);
        c->drip = 1;
        return 1;
    }

    if (strcmp(sim.answer, "garbage") == 0) {
        n = (size_t) snprintf(c->out, SIM_OUT_SIZE,
                              "SSH-2.0-OpenSSH_9.2\r\n\x01\x02\xff\r\n\r\n");
        c->out_len = n;
        c->closing = 1;
        return 1;
    }

    if (strcmp(sim.answer, "invalid") == 0) {
        sim_respond(c, 200, "application/json", "{\"releaseNumber\":", 0);
        return 1;
    }

    if (strcmp(sim.answer, "redirect") == 0) {
        n = (size_t) snprintf(c->out, SIM_OUT_SIZE,
                              "HTTP/1.1 302 Found\r\nLocation: /log-in\r\n"
                              "Content-Length: 0\r\nConnection: close\r\n\r\n");
        c->out_len = n;
        c->closing = 1;
        return 1;
    }

    if (strcmp(sim.answer, "reset") == 0) {
        struct linger  l = { 1, 0 };

        /* a reset, not a polite close */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        c->closing = 1;
        c->out_len = 0;
        return 1;
    }

    if (strcmp(sim.answer, "hang") == 0) {
        c->hanging = 1;
        return 1;
    }

    (void) keepalive;

    return 0;
}


/* whether the Cookie header holds an auth cookie that opens with our key */
static int
sim_signed_in(const char *cookies)
{
    size_t                n, len;
    uint8_t               text[1024];
    const char           *p, *end;
    cluster_cookie_rc_e   rc;

    n = strlen(sim.cookie);

    for (p = cookies; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL)
    {
        p += strspn(p, " ");

        if (strncmp(p, sim.cookie, n) != 0 || p[n] != '=') {
            continue;
        }

        p += n + 1;
        end = strchr(p, ';');
        len = end ? (size_t) (end - p) : strlen(p);

        rc = cluster_cookie_open(sim.key, sim.cookie, n, p, len, text,
                                 sizeof(text), &len);

        return rc == CLUSTER_COOKIE_OPENED;
    }

    return 0;
}


static void
sim_log_in(sim_conn_t *c, int keepalive)
{
    char     text[256], value[1024], headers[1200];
    time_t   now;
    size_t   len;
    uint8_t  nonce[CLUSTER_COOKIE_NONCE];

    now = time(NULL);

    if (sim.exp[0]) {
        len = (size_t) snprintf(text, sizeof(text),
                                "{\"sub\":\"user\",\"iat\":%lld,\"exp\":%s,"
                                "\"node\":\"%s\"}",
                                (long long) now, sim.exp, sim.name);

    } else {
        len = (size_t) snprintf(text, sizeof(text),
                                "{\"sub\":\"user\",\"iat\":%lld,"
                                "\"exp\":%lld,\"node\":\"%s\"}",
                                (long long) now, (long long) now + 3600,
                                sim.name);
    }

    randombytes_buf(nonce, sizeof(nonce));

    if (cluster_cookie_seal(sim.key, sim.cookie, strlen(sim.cookie),
                            (const uint8_t *) text, len, nonce, value,
                            sizeof(value)) == 0)
    {
        sim_respond(c, 500, "text/plain", "cannot seal\n", keepalive);
        return;
    }

    sim.logins++;

    snprintf(headers, sizeof(headers),
             "Set-Cookie: %s=%s; Path=/; HttpOnly\r\n", sim.cookie, value);
    sim_respond_with(c, 200, "text/plain", headers, "signed in\n", keepalive);
}


static void
sim_answer(sim_conn_t *c, const char *path, const char *query,
    const char *host, const char *cookies, int keepalive)
{
    int   healthy, status;
    char  body[1024];

    if (strcmp(path, "/health") == 0 || strcmp(path, "/health/json") == 0) {
        sim.health_requests++;
        snprintf(sim.health_host, sizeof(sim.health_host), "%s", host);

        if (sim_hostile(c, keepalive)) {
            return;
        }

        healthy = sim.service_ok && sim.status == 0;
        status = sim.status ? sim.status : (healthy ? 200 : 500);

        if (sim.health == SIM_HEALTH_TEXT2026
            && strcmp(path, "/health") == 0
            && strstr(query, "format=json") == NULL)
        {
            sim_respond(c, status, "text/plain",
                        healthy ? "OK" : "The service is not running.",
                        keepalive);
            return;
        }

        if (sim.health != SIM_HEALTH_TEXT2026
            && strcmp(path, "/health/json") == 0)
        {
            /* ProGet up to 2025 and BuildMaster have no /health/json */
            sim_respond(c, 404, "text/plain", "Not Found\n", keepalive);
            return;
        }

        sim_health_json(body, sizeof(body));
        sim_respond(c, status, "application/json", body, keepalive);
        return;
    }

    sim.content_requests++;

    if (sim.keyed && strcmp(path, "/log-in") == 0) {
        sim_log_in(c, keepalive);
        return;
    }

    if (sim.keyed && !sim_signed_in(cookies)) {
        /* what users see when the node that minted it had another key */
        sim.login_redirects++;
        sim_respond_with(c, 302, "text/plain", "Location: /log-in\r\n",
                         "sign in\n", keepalive);
        return;
    }

    if (sim.status) {
        snprintf(body, sizeof(body), "error %d from node %s\n", sim.status,
                 sim.name);
        sim_respond(c, sim.status, "text/plain", body, keepalive);
        return;
    }

    snprintf(body, sizeof(body), "node %s\n", sim.name);
    sim_respond(c, 200, "text/plain", body, keepalive);
}


/* handles one complete request at the head of the input; 0: incomplete */
static int
sim_request(sim_conn_t *c)
{
    int           keepalive, http10;
    char         *end, *line_end, *sp1, *sp2, *q, *h, *hv;
    char          path[1024], query[1024], host[128], cookies[4096];
    size_t        hlen, blen, plen;
    const char   *cl;

    end = memmem(c->in, c->in_len, "\r\n\r\n", 4);

    if (end == NULL) {
        if (c->in_len == SIM_IN_SIZE) {
            sim_respond(c, 400, "text/plain", "header too large\n", 0);
            c->in_len = 0;
        }

        return 0;
    }

    hlen = (size_t) (end - c->in) + 4;
    *end = '\0';

    blen = 0;
    cl = strcasestr(c->in, "\r\ncontent-length:");

    if (cl) {
        blen = (size_t) strtoul(cl + 17, NULL, 10);
    }

    if (hlen + blen > c->in_len) {
        *end = '\r';

        if (hlen + blen > SIM_IN_SIZE) {
            sim_respond(c, 400, "text/plain", "body too large\n", 0);
            c->in_len = 0;
        }

        return 0;
    }

    sim.requests++;

    line_end = strstr(c->in, "\r\n");
    if (line_end) {
        *line_end = '\0';
    }

    sp1 = strchr(c->in, ' ');
    sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

    if (sp1 == NULL || sp2 == NULL) {
        sim_respond(c, 400, "text/plain", "bad request\n", 0);
        c->in_len = 0;
        return 0;
    }

    *sp2 = '\0';
    http10 = strncmp(sp2 + 1, "HTTP/1.0", 8) == 0;

    h = line_end ? line_end + 2 : end;

    if (http10) {
        keepalive = strcasestr(h, "connection: keep-alive") != NULL;

    } else {
        keepalive = strcasestr(h, "connection: close") == NULL;
    }

    /* the Host header, up to its line's end, for /_sim/stats */
    host[0] = '\0';
    hv = strncasecmp(h, "host:", 5) == 0 ? h - 2 : strcasestr(h, "\r\nhost:");

    if (hv) {
        hv += 7;
        hv += strspn(hv, " \t");
        snprintf(host, sizeof(host), "%.*s", (int) strcspn(hv, "\r"), hv);
    }

    /* the Cookie header, for a keyed node */
    cookies[0] = '\0';
    hv = strncasecmp(h, "cookie:", 7) == 0 ? h - 2
                                           : strcasestr(h, "\r\ncookie:");

    if (hv) {
        hv += 9;
        hv += strspn(hv, " \t");
        snprintf(cookies, sizeof(cookies), "%.*s", (int) strcspn(hv, "\r"),
                 hv);
    }

    q = strchr(sp1 + 1, '?');
    plen = q ? (size_t) (q - (sp1 + 1)) : strlen(sp1 + 1);

    if (plen >= sizeof(path)) {
        plen = sizeof(path) - 1;
    }

    memcpy(path, sp1 + 1, plen);
    path[plen] = '\0';
    snprintf(query, sizeof(query), "%s", q ? q + 1 : "");

    memmove(c->in, c->in + hlen + blen, c->in_len - hlen - blen);
    c->in_len -= hlen + blen;

    if (strcmp(path, "/_sim/control") == 0) {
        sim_control(c, query, keepalive);
        return 1;
    }

    if (strcmp(path, "/_sim/stats") == 0) {
        char  body[512];

        snprintf(body, sizeof(body),
                 "{\"name\":\"%s\",\"requests\":%llu,\"health\":%llu,"
                 "\"content\":%llu,\"messenger\":%llu,"
                 "\"logins\":%llu,\"login_redirects\":%llu,"
                 "\"health_host\":\"%s\"}\n",
                 sim.name, (unsigned long long) sim.requests,
                 (unsigned long long) sim.health_requests,
                 (unsigned long long) sim.content_requests,
                 (unsigned long long) sim.messenger_connections,
                 (unsigned long long) sim.logins,
                 (unsigned long long) sim.login_redirects,
                 sim.health_host);
        sim_respond(c, 200, "application/json", body, keepalive);
        return 1;
    }

    if (sim.close) {
        c->closing = 1;
        c->out_len = 0;
        return 1;
    }

    if (sim.hang) {
        c->hanging = 1;
        return 1;
    }

    sim_answer(c, path, query, host, cookies, keepalive);

    if (sim.delay > 0) {
        c->due = sim_now() + sim.delay;
    }

    return 1;
}


static int
sim_write(int ep, sim_conn_t *c)
{
    ssize_t             n;
    struct epoll_event  ev;

    while (c->out_sent < c->out_len) {
        n = write(c->fd, c->out + c->out_sent,
                  c->drip ? 1 : c->out_len - c->out_sent);

        if (c->drip && n == 1 && c->out_sent + 1 < c->out_len) {
            /* the next byte in 100 ms */
            c->out_sent++;
            c->due = sim_now() + 100;
            return 0;
        }

        if (n < 0) {
            if (errno == EAGAIN) {
                ev.events = EPOLLIN | EPOLLOUT;
                ev.data.fd = c->fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                return 0;
            }

            sim_close(ep, c);
            return -1;
        }

        c->out_sent += (size_t) n;
    }

    c->out_len = 0;
    c->out_sent = 0;

    if (c->closing) {
        sim_close(ep, c);
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.fd = c->fd;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);

    return 0;
}


static void
sim_readable(int ep, sim_conn_t *c)
{
    ssize_t  n;

    for ( ;; ) {
        if (c->in_len == SIM_IN_SIZE) {
            if (c->hanging) {
                c->in_len = 0;   /* a hanging node swallows what it gets */
                continue;
            }
            break;
        }

        n = read(c->fd, c->in + c->in_len, SIM_IN_SIZE - c->in_len);

        if (n == 0) {
            sim_close(ep, c);
            return;
        }

        if (n < 0) {
            if (errno == EAGAIN) {
                break;
            }

            sim_close(ep, c);
            return;
        }

        c->in_len += (size_t) n;
    }

    if (c->hanging) {
        c->in_len = 0;
        return;
    }

    /* answer every complete request, unless one must wait */
    while (c->due == 0 && !c->closing && !c->hanging && sim_request(c)) {
        /* void */
    }

    if (c->closing && c->out_len == 0) {
        sim_close(ep, c);
        return;
    }

    if (c->due == 0 && c->out_len) {
        sim_write(ep, c);
    }
}


static void
sim_accept(int ep, int ls)
{
    int                 fd, one;
    sim_conn_t         *c;
    struct epoll_event  ev;

    for ( ;; ) {
        fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }

        if (fd >= SIM_MAX_CONNS) {
            close(fd);
            continue;
        }

        c = calloc(1, sizeof(sim_conn_t));
        if (c == NULL) {
            close(fd);
            continue;
        }

        one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        c->fd = fd;
        conns[fd] = c;

        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}


/* options without a short form: values above any character's */
enum {
    SIM_OPT_NAME = 256,
    SIM_OPT_PORT,
    SIM_OPT_LISTEN,
    SIM_OPT_VERSION,
    SIM_OPT_HEALTH,
    SIM_OPT_SERVICE,
    SIM_OPT_MESSENGER,
    SIM_OPT_KEY,
    SIM_OPT_KEY_FILE,
    SIM_OPT_COOKIE
};


static const struct option  sim_options[] = {
    { "name",      required_argument, NULL, SIM_OPT_NAME },
    { "port",      required_argument, NULL, SIM_OPT_PORT },
    { "listen",    required_argument, NULL, SIM_OPT_LISTEN },
    { "version",   required_argument, NULL, SIM_OPT_VERSION },
    { "health",    required_argument, NULL, SIM_OPT_HEALTH },
    { "service",   required_argument, NULL, SIM_OPT_SERVICE },
    { "messenger", required_argument, NULL, SIM_OPT_MESSENGER },
    { "key",       required_argument, NULL, SIM_OPT_KEY },
    { "key-file",  required_argument, NULL, SIM_OPT_KEY_FILE },
    { "cookie",    required_argument, NULL, SIM_OPT_COOKIE },
    { "help",      no_argument,       NULL, 'h' },
    { NULL,        0,                 NULL, 0 }
};


/* to stdout when asked for with --help, to stderr after a mistake */
static void
sim_usage(FILE *out, int status)
{
    fprintf(out,
            "usage: cluster-sim --name NAME --port PORT [--listen ADDR]\n"
            "                   [--version RELEASE]\n"
            "                   [--health json2025|text2026|buildmaster]\n"
            "                   [--service ok|error] [--messenger PORT]\n"
            "                   [--key HEX | --key-file FILE]"
            " [--cookie NAME]\n"
            "       cluster-sim --help\n"
            "\n"
            "Every option takes its value as \"--port 8624\" or"
            " \"--port=8624\".\n");
    exit(status);
}


/* a number of the command line, from min to max; anything else ends it */
static int
sim_number(const char *option, const char *text, long min, long max)
{
    long   n;
    char  *end;

    errno = 0;
    n = strtol(text, &end, 10);

    /* strtol() would take leading blanks and a sign: a port has neither */
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE
        || n < min || n > max)
    {
        fprintf(stderr, "cluster-sim: --%s takes a number from %ld to %ld,"
                " not \"%s\"\n", option, min, max, text);
        exit(2);
    }

    return (int) n;
}


/* the node's EncryptionKey, from --key or from the file of --key-file */
static void
sim_key(const char *arg, int in_file)
{
    char      text[128];
    size_t    len;
    uint8_t   raw[CLUSTER_KEY_RAW];
    FILE     *f;

    if (in_file) {
        /* a key kept off the command line, where "ps" shows it */
        f = fopen(arg, "r");

        if (f == NULL) {
            fprintf(stderr, "cluster-sim: cannot open --key-file \"%s\": "
                    "%s\n", arg, strerror(errno));
            exit(2);
        }

        len = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);

    } else {
        len = (size_t) snprintf(text, sizeof(text), "%s", arg);
    }

    if (cluster_cookie_init() != 0 || len >= sizeof(text)
        || cluster_key_parse(text, len, raw) != 0)
    {
        sodium_memzero(text, sizeof(text));
        fprintf(stderr, "cluster-sim: --key takes 32 hex digits, "
                        "--key-file a file of them\n");
        exit(2);
    }

    sodium_memzero(text, sizeof(text));

    cluster_cookie_key(raw, sim.key);
    sodium_memzero(raw, sizeof(raw));
    sim.keyed = 1;
}


static void
sim_parse_options(int argc, char **argv)
{
    int  opt;

    for ( ;; ) {
        opt = getopt_long(argc, argv, "h", sim_options, NULL);

        if (opt == -1) {
            break;
        }

        switch (opt) {

        case 'h':
            sim_usage(stdout, 0);
            break;

        case SIM_OPT_NAME:
            sim.name = optarg;
            break;

        case SIM_OPT_PORT:
            sim.port = sim_number("port", optarg, 1, 65535);
            break;

        case SIM_OPT_LISTEN:
            sim.listen = optarg;
            break;

        case SIM_OPT_VERSION:
            if (strlen(optarg) >= sizeof(sim.version)) {
                fprintf(stderr, "cluster-sim: --version takes at most %zu "
                        "characters\n", sizeof(sim.version) - 1);
                exit(2);
            }

            snprintf(sim.version, sizeof(sim.version), "%s", optarg);
            break;

        case SIM_OPT_HEALTH:
            if (strcmp(optarg, "json2025") == 0) {
                sim.health = SIM_HEALTH_JSON2025;

            } else if (strcmp(optarg, "text2026") == 0) {
                sim.health = SIM_HEALTH_TEXT2026;

            } else if (strcmp(optarg, "buildmaster") == 0) {
                sim.health = SIM_HEALTH_BUILDMASTER;

            } else {
                fprintf(stderr, "cluster-sim: --health takes json2025, "
                        "text2026 or buildmaster, not \"%s\"\n", optarg);
                sim_usage(stderr, 2);
            }

            break;

        case SIM_OPT_SERVICE:
            if (strcmp(optarg, "ok") != 0 && strcmp(optarg, "error") != 0) {
                fprintf(stderr, "cluster-sim: --service takes ok or error, "
                        "not \"%s\"\n", optarg);
                sim_usage(stderr, 2);
            }

            sim.service_ok = strcmp(optarg, "ok") == 0;
            break;

        case SIM_OPT_MESSENGER:
            sim.messenger_port = sim_number("messenger", optarg, 1, 65535);
            break;

        case SIM_OPT_KEY:
            sim_key(optarg, 0);
            break;

        case SIM_OPT_KEY_FILE:
            sim_key(optarg, 1);
            break;

        case SIM_OPT_COOKIE:
            sim.cookie = optarg;
            break;

        default:
            /* getopt_long() has said what was wrong: unknown, or no value */
            sim_usage(stderr, 2);
        }
    }

    if (optind < argc) {
        fprintf(stderr, "cluster-sim: unexpected argument \"%s\"\n",
                argv[optind]);
        sim_usage(stderr, 2);
    }

    if (sim.port == 0) {
        fprintf(stderr, "cluster-sim: --port is required\n");
        sim_usage(stderr, 2);
    }
}


int
main(int argc, char **argv)
{
    int                  i, ep, ls, one, n, timeout, fd;
    int64_t              now, next;
    sim_conn_t          *c;
    struct sigaction     sa;
    struct epoll_event   ev, events[256];
    struct sockaddr_in   sin;

    sim.name = "node";
    sim.listen = "127.0.0.1";
    sim.service_ok = 1;
    sim.messenger_fd = -1;
    sim.cookie = ".ProGetAuth";
    snprintf(sim.answer, sizeof(sim.answer), "normal");
    snprintf(sim.version, sizeof(sim.version), "23.0.27");

    sim_parse_options(argc, argv);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sim_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls < 0) {
        perror("socket");
        return 1;
    }

    one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) sim.port);

    if (inet_pton(AF_INET, sim.listen, &sin.sin_addr) != 1) {
        fprintf(stderr, "cluster-sim: invalid address \"%s\"\n", sim.listen);
        return 2;
    }

    if (bind(ls, (struct sockaddr *) &sin, sizeof(sin)) < 0
        || listen(ls, 1024) < 0)
    {
        fprintf(stderr, "cluster-sim: cannot listen on %s:%d: %s\n",
                sim.listen, sim.port, strerror(errno));
        return 1;
    }

    ep = epoll_create1(EPOLL_CLOEXEC);

    ev.events = EPOLLIN;
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);

    sim_ep = ep;
    sim_messenger(ep, 1);

    while (!sim_quit) {

        /* the nearest delayed answer decides how long to wait */
        now = sim_now();
        next = 0;

        for (fd = 0; fd < SIM_MAX_CONNS; fd++) {
            c = conns[fd];

            if (c == NULL || c->due == 0) {
                continue;
            }

            if (c->due <= now) {
                c->due = 0;

                if (sim_write(ep, c) == 0) {
                    sim_readable(ep, c);
                }

                continue;
            }

            if (next == 0 || c->due < next) {
                next = c->due;
            }
        }

        timeout = next ? (int) (next - now) : 1000;

        n = epoll_wait(ep, events, 256, timeout);

        for (i = 0; i < n; i++) {
            fd = events[i].data.fd;

            if (fd == ls) {
                sim_accept(ep, ls);
                continue;
            }

            if (fd == sim.messenger_fd) {
                int  m;

                /* the messenger's port only has to take the connection */
                while ((m = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                    sim.messenger_connections++;
                    close(m);
                }

                continue;
            }

            c = conns[fd];
            if (c == NULL) {
                continue;
            }

            if ((events[i].events & EPOLLOUT) && c->due == 0) {
                if (sim_write(ep, c) < 0) {
                    continue;
                }
            }

            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                sim_readable(ep, c);
            }
        }
    }

    for (fd = 0; fd < SIM_MAX_CONNS; fd++) {
        if (conns[fd]) {
            sim_close(ep, conns[fd]);
        }
    }

    close(ep);
    close(ls);

    return 0;
}
