
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


/*
 * Active checks.  Every worker runs a timer, its tick; at each tick it
 * evaluates the cluster and starts the checks that are due.  A check is
 * claimed in the zone before it starts, so each node is checked once per
 * interval by one worker of all, whichever comes first; if that worker
 * dies, the claim lapses and another takes the node on.  A check is an
 * HTTP/1.0 GET of the check's URI on nginx's own event loop, and, with
 * "messenger=", a TCP connect to the service messenger's port.
 */


struct ngx_http_cluster_probe_s {
    ngx_http_cluster_srv_conf_t      *conf;
    ngx_uint_t                        index;      /* of the member */

    ngx_peer_connection_t             pc;
    ngx_event_t                       timeout;
    ngx_msec_t                        started;

    ngx_str_t                         request[2]; /* the URI, /health */
    ngx_sockaddr_t                    address;    /* the node's, as checked */
    socklen_t                         socklen;
    ngx_sockaddr_t                    messenger;  /* and its messenger's */

    /* "cluster_cookie probe=": another node's session, and its request */
    ngx_str_t                         replay;
    u_char                            replay_fp[CLUSTER_SESSION_FP];

    u_char                           *buf;
    size_t                            len;
    size_t                            sent;

    int64_t                           claimed;    /* the claim's time */

    cluster_http_response_t           resp;
    cluster_check_t                   result;
    cluster_health_t                  health;
    char                              reason[72];

    unsigned                          running:1;
    unsigned                          fallback:1; /* asking /health */
    unsigned                          messenger_phase:1;
    unsigned                          replay_phase:1;
};


static ngx_int_t ngx_http_cluster_probe_init(ngx_cycle_t *cycle,
    ngx_http_cluster_srv_conf_t *cscf, ngx_uint_t i);
static void ngx_http_cluster_tick(ngx_event_t *ev);
static void ngx_http_cluster_probe_address(ngx_http_cluster_probe_t *probe,
    struct sockaddr *sockaddr, socklen_t socklen);
#if (NGX_HTTP_CLUSTER_RESOLVE)
static ngx_int_t ngx_http_cluster_resolved_address(
    ngx_http_cluster_probe_t *probe);
#endif
static void ngx_http_cluster_probe_start(ngx_http_cluster_probe_t *probe);
static void ngx_http_cluster_probe_connect(ngx_http_cluster_probe_t *probe,
    struct sockaddr *sockaddr);
static ngx_int_t ngx_http_cluster_probe_connected(ngx_connection_t *c,
    ngx_http_cluster_probe_t *probe);
static void ngx_http_cluster_probe_write(ngx_event_t *wev);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_cluster_probe_ssl(ngx_connection_t *c,
    ngx_http_cluster_probe_t *probe);
static void ngx_http_cluster_probe_handshaked(ngx_connection_t *c);
#endif
static void ngx_http_cluster_probe_read(ngx_event_t *rev);
static void ngx_http_cluster_messenger_write(ngx_event_t *wev);
static void ngx_http_cluster_probe_dummy(ngx_event_t *ev);
static void ngx_http_cluster_probe_timeout(ngx_event_t *ev);
static void ngx_http_cluster_probe_close(ngx_http_cluster_probe_t *probe);
static void ngx_http_cluster_probe_fail(ngx_http_cluster_probe_t *probe,
    const char *reason);
static void ngx_http_cluster_probe_answered(ngx_http_cluster_probe_t *probe);
static void ngx_http_cluster_messenger_done(ngx_http_cluster_probe_t *probe,
    ngx_uint_t reachable);
static void ngx_http_cluster_replay_start(ngx_http_cluster_probe_t *probe);
static ngx_int_t ngx_http_cluster_replay_pick(ngx_http_cluster_probe_t *probe);
static ngx_int_t ngx_http_cluster_replay_judge(
    ngx_http_cluster_probe_t *probe);
static void ngx_http_cluster_replay_done(ngx_http_cluster_probe_t *probe,
    ngx_int_t sign_in);
static void ngx_http_cluster_probe_record(ngx_http_cluster_probe_t *probe);
#if (NGX_HTTP_SSL)
static void ngx_http_cluster_check_name(ngx_http_cluster_probe_t *probe,
    u_char *name, size_t size);
#endif


ngx_int_t
ngx_http_cluster_check_init_process(ngx_cycle_t *cycle,
    ngx_http_cluster_srv_conf_t *cscf)
{
    ngx_uint_t  i;

    /*
     * The checks' own connection errors are their results, shown in the
     * status; the log gets the state changes, not every refused connect.
     */

    cscf->check_log = ngx_palloc(cycle->pool, sizeof(ngx_log_t));
    if (cscf->check_log == NULL) {
        return NGX_ERROR;
    }

    *cscf->check_log = *cycle->log;
    cscf->check_log->log_level = NGX_LOG_CRIT;
    cscf->check_log->next = NULL;

    if (cscf->cluster.settings.checks) {
        cscf->probes = ngx_pcalloc(cycle->pool, cscf->nmembers
                                           * sizeof(ngx_http_cluster_probe_t));
        if (cscf->probes == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < cscf->nmembers; i++) {
            if (ngx_http_cluster_probe_init(cycle, cscf, i) != NGX_OK) {
                return NGX_ERROR;
            }
        }

    }

    cscf->tick_every = (ngx_msec_t)
                       cluster_check_every(&cscf->cluster.settings);

    cscf->tick.handler = ngx_http_cluster_tick;
    cscf->tick.data = cscf;
    cscf->tick.log = cycle->log;
    cscf->tick.cancelable = 1;

    ngx_add_timer(&cscf->tick, cscf->tick_every);

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_probe_init(ngx_cycle_t *cycle,
    ngx_http_cluster_srv_conf_t *cscf, ngx_uint_t i)
{
    u_char                     *p;
    size_t                      len;
    ngx_str_t                   uri[2], site, *host;
    ngx_uint_t                  k;
    ngx_http_cluster_probe_t   *probe;
    ngx_http_cluster_member_t  *m;

    probe = &cscf->probes[i];
    m = &cscf->members[i];

    probe->conf = cscf;
    probe->index = i;

    /* host=: the site's name, as an IIS binding wants it; else the server's */
    if (cscf->conf.host.len) {
        site.data = (u_char *) cscf->conf.host.data;
        site.len = cscf->conf.host.len;
        host = &site;

    } else {
        host = m->host;
    }

    uri[0] = cscf->check_uri;
    ngx_str_set(&uri[1], CLUSTER_CHECK_FALLBACK);

    for (k = 0; k < 2; k++) {
        len = sizeof("GET  HTTP/1.0" CRLF "Host: " CRLF
                     "User-Agent: nginx-cluster-check/" CLUSTER_VERSION CRLF
                     "Accept: application/json, text/plain" CRLF
                     "Connection: close" CRLF CRLF) - 1
              + uri[k].len + host->len;

        p = ngx_pnalloc(cycle->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        probe->request[k].data = p;
        probe->request[k].len = ngx_sprintf(p, "GET %V HTTP/1.0" CRLF
                                   "Host: %V" CRLF
                                   "User-Agent: nginx-cluster-check/"
                                   CLUSTER_VERSION CRLF
                                   "Accept: application/json, text/plain"
                                   CRLF
                                   "Connection: close" CRLF CRLF,
                                   &uri[k], host)
                                - p;
    }

    if (cscf->probe_uri.len) {
        len = sizeof("GET  HTTP/1.0" CRLF "Host: " CRLF
                     "User-Agent: nginx-cluster-check/" CLUSTER_VERSION CRLF
                     "Cookie: " CRLF "Connection: close" CRLF CRLF) - 1
              + cscf->probe_uri.len + host->len
              + CLUSTER_REPLAY_MAX;

        probe->replay.data = ngx_pnalloc(cycle->pool, len);
        if (probe->replay.data == NULL) {
            return NGX_ERROR;
        }

        probe->replay.len = 0;
    }

    if (m->sockaddr) {
        /* a resolved node's address is looked up at each check */
        ngx_http_cluster_probe_address(probe, m->sockaddr, m->socklen);
    }

    probe->timeout.handler = ngx_http_cluster_probe_timeout;
    probe->timeout.data = probe;
    probe->timeout.log = cscf->check_log;

    return NGX_OK;
}


static void
ngx_http_cluster_tick(ngx_event_t *ev)
{
    ngx_http_cluster_srv_conf_t  *cscf = ev->data;

    int64_t                    now;
    ngx_uint_t                 i;
    cluster_events_t           events;
    ngx_http_cluster_probe_t  *probe;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    now = ngx_http_cluster_now();

    events.n = 0;
    events.more = 0;

    cluster_evaluate(&cscf->cluster, now, &events);
    ngx_http_cluster_report(cscf, &events, ev->log);

    if (cscf->shared->core.dirty && cscf->main->state_file.len
        && ngx_worker == 0 && now >= cscf->main->next_save)
    {
        /*
         * A state changed or an operator acted: keep it for a restart.
         * One writer, the first worker, and once a second at most.
         */
        cscf->main->next_save = now + 1000;
        ngx_http_cluster_state_save(cscf->main, ev->log);
    }

    for (i = 0; cscf->probes && i < cscf->nmembers; i++) {
        probe = &cscf->probes[i];

        if (!probe->running
            && cluster_check_claim(&cscf->cluster, i, now,
                                   (unsigned long) ngx_random(),
                                   &probe->claimed))
        {
            ngx_http_cluster_probe_start(probe);
        }
    }

    ngx_add_timer(ev, cscf->tick_every);
}


static void
ngx_http_cluster_probe_start(ngx_http_cluster_probe_t *probe)
{
    cluster_node_t               *node;
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = probe->conf;

    probe->buf = ngx_alloc(NGX_HTTP_CLUSTER_CHECK_BUFFER, cscf->check_log);
    if (probe->buf == NULL) {
        /* the claim lapses by itself and the next round tries again */
        return;
    }

    node = cscf->cluster.nodes[probe->index];

    /*
     * A node that fell back to /health asks /health/json again now and
     * then: it may have been upgraded to a product that has it.
     */

    probe->running = 1;
    probe->fallback = node->health_fallback && node->checks % 16 != 15;
    probe->messenger_phase = 0;
    probe->replay_phase = 0;
    probe->started = ngx_current_msec;

    ngx_memzero(&probe->result, sizeof(cluster_check_t));
    probe->result.reason = probe->reason;
    probe->reason[0] = '\0';

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "cluster check of %V", cscf->members[probe->index].id);

    /*
     * Not cancelable: a worker that shuts down gracefully waits for its
     * checks under way, which the timeout bounds, and leaves no socket.
     */
    ngx_add_timer(&probe->timeout, cscf->check_timeout);

#if (NGX_HTTP_CLUSTER_RESOLVE)
    if (cscf->members[probe->index].resolved
        && ngx_http_cluster_resolved_address(probe) != NGX_OK)
    {
        probe->socklen = 0;
        ngx_http_cluster_probe_fail(probe, "its name has no address yet");
        return;
    }
#endif

    ngx_http_cluster_probe_connect(probe, &probe->address.sockaddr);
}


/* where the node is checked, and its messenger's port */
static void
ngx_http_cluster_probe_address(ngx_http_cluster_probe_t *probe,
    struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_memcpy(&probe->address, sockaddr, socklen);
    probe->socklen = socklen;

    if (probe->conf->messenger) {
        ngx_memcpy(&probe->messenger, sockaddr, socklen);
        ngx_inet_set_port(&probe->messenger.sockaddr,
                          (in_port_t) probe->conf->messenger);
    }
}


#if (NGX_HTTP_CLUSTER_RESOLVE)

/*
 * A resolved node is checked at the first address its name has now, in
 * the zone's peers, read under their lock
 */
static ngx_int_t
ngx_http_cluster_resolved_address(ngx_http_cluster_probe_t *probe)
{
    ngx_int_t                      rc;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers;

    cscf = probe->conf;
    peers = cscf->upstream->peer.data;

    if (cscf->members[probe->index].backup) {
        peers = peers->next;
    }

    rc = NGX_DECLINED;

    if (peers == NULL) {
        return rc;
    }

    ngx_http_upstream_rr_peers_rlock(peers);

    for (peer = peers->peer; peer; peer = peer->next) {
        if (peer->host
            && peer->socklen <= (socklen_t) sizeof(ngx_sockaddr_t)
            && ngx_http_cluster_member_of(cscf, peer) == probe->index)
        {
            ngx_http_cluster_probe_address(probe, peer->sockaddr,
                                           peer->socklen);
            rc = NGX_OK;
            break;
        }
    }

    ngx_http_upstream_rr_peers_unlock(peers);

    return rc;
}

#endif


static void
ngx_http_cluster_probe_connect(ngx_http_cluster_probe_t *probe,
    struct sockaddr *sockaddr)
{
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_http_cluster_member_t    *m;
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = probe->conf;
    m = &cscf->members[probe->index];

    probe->len = 0;
    probe->sent = 0;

    cluster_http_response_init(&probe->resp);

    ngx_memzero(&probe->pc, sizeof(ngx_peer_connection_t));

    probe->pc.sockaddr = sockaddr;
    probe->pc.socklen = probe->socklen;
    probe->pc.name = m->id;
    probe->pc.get = ngx_event_get_peer;
    probe->pc.log = cscf->check_log;
    probe->pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&probe->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        probe->pc.connection = NULL;

        if (probe->messenger_phase) {
            ngx_http_cluster_messenger_done(probe, 0);

        } else {
            ngx_http_cluster_probe_fail(probe,
                                    "connection refused or unreachable");
        }

        return;
    }

    c = probe->pc.connection;

    c->data = probe;
    c->pool = NULL;

#if (NGX_HTTP_SSL)
    if (cscf->check_ssl && !probe->messenger_phase) {
        /* TLS keeps its state in the connection's pool */
        c->pool = ngx_create_pool(2048, cscf->check_log);
        if (c->pool == NULL) {
            ngx_http_cluster_probe_fail(probe, "out of memory");
            return;
        }
    }
#endif

    if (probe->messenger_phase) {
        c->write->handler = ngx_http_cluster_messenger_write;
        c->read->handler = ngx_http_cluster_probe_dummy;

        if (rc == NGX_OK) {
            ngx_http_cluster_messenger_done(probe, 1);
        }

        return;
    }

    c->write->handler = ngx_http_cluster_probe_write;
    c->read->handler = ngx_http_cluster_probe_read;

    if (rc == NGX_OK) {
        ngx_http_cluster_probe_write(c->write);
    }
}


/* whether a non-blocking connect succeeded; says why not in the probe */
static ngx_int_t
ngx_http_cluster_probe_connected(ngx_connection_t *c,
    ngx_http_cluster_probe_t *probe)
{
    int        err;
    u_char    *p, *last;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err == 0) {
        return NGX_OK;
    }

    if (!probe->messenger_phase && !probe->replay_phase) {
        /* the messenger's port has a status of its own, not a reason */
        last = (u_char *) probe->reason + sizeof(probe->reason) - 1;
        p = ngx_cpymem(probe->reason, "connect: ", 9);
        p = ngx_strerror(err, p, last - p);
        *p = '\0';
    }

    return NGX_ERROR;
}


static void
ngx_http_cluster_probe_write(ngx_event_t *wev)
{
    ssize_t                    n;
    ngx_str_t                 *req;
    ngx_connection_t          *c;
    ngx_http_cluster_probe_t  *probe;

    c = wev->data;
    probe = c->data;

    if (probe->sent == 0
        && ngx_http_cluster_probe_connected(c, probe) != NGX_OK)
    {
        ngx_http_cluster_probe_fail(probe, NULL);
        return;
    }

#if (NGX_HTTP_SSL)
    if (probe->conf->check_ssl && c->ssl == NULL) {
        if (ngx_http_cluster_probe_ssl(c, probe) != NGX_OK) {
            ngx_http_cluster_probe_fail(probe, "TLS failed to start");
        }

        return;
    }
#endif

    req = probe->replay_phase ? &probe->replay
                              : &probe->request[probe->fallback];

    while (probe->sent < req->len) {
        n = c->send(c, req->data + probe->sent, req->len - probe->sent);

        if (n == NGX_ERROR) {
            ngx_http_cluster_probe_fail(probe, "send failed");
            return;
        }

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_cluster_probe_fail(probe, "send failed");
            }

            return;
        }

        probe->sent += n;
    }

    wev->handler = ngx_http_cluster_probe_dummy;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_cluster_probe_fail(probe, "read failed");
        return;
    }

    if (c->read->ready) {
        ngx_http_cluster_probe_read(c->read);
    }
}


static void
ngx_http_cluster_probe_read(ngx_event_t *rev)
{
    ssize_t                       n;
    ngx_int_t                     sign_in;
    ngx_uint_t                    eof;
    ngx_connection_t             *c;
    cluster_http_rc_e             rc;
    cluster_check_rc_e            judged;
    cluster_http_response_t      *resp;
    ngx_http_cluster_probe_t     *probe;
    ngx_http_cluster_srv_conf_t  *cscf;

    c = rev->data;
    probe = c->data;
    cscf = probe->conf;

    if (probe->sent == 0
        && ngx_http_cluster_probe_connected(c, probe) != NGX_OK)
    {
        /* a refused connect shows first as an error to read */
        ngx_http_cluster_probe_fail(probe, NULL);
        return;
    }

    for ( ;; ) {

        if (probe->len == NGX_HTTP_CLUSTER_CHECK_BUFFER) {
            ngx_http_cluster_probe_fail(probe, probe->resp.header_len
                                               ? "answer over 64 KiB"
                                               : "response header too large");
            return;
        }

        n = c->recv(c, probe->buf + probe->len,
                    NGX_HTTP_CLUSTER_CHECK_BUFFER - probe->len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_cluster_probe_fail(probe, "read failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_cluster_probe_fail(probe, "connection reset");
            return;
        }

        eof = (n == 0);

        if (n > 0) {
            probe->len += n;
        }

        resp = &probe->resp;

        rc = cluster_http_response_parse((char *) probe->buf, probe->len,
                                         eof, resp);

        if (probe->replay_phase
            && (resp->header_len || rc == CLUSTER_HTTP_ERROR))
        {
            /* the status and the Location say it all; no body needed */
            sign_in = resp->header_len ? ngx_http_cluster_replay_judge(probe)
                                       : -1;
            ngx_http_cluster_replay_done(probe, sign_in);
            return;
        }

        if (resp->content_length > NGX_HTTP_CLUSTER_CHECK_BODY) {
            ngx_http_cluster_probe_fail(probe, "answer over 64 KiB");
            return;
        }

        if (rc == CLUSTER_HTTP_AGAIN) {

            if (eof) {
                /* the reader says so itself; this only makes it certain */
                ngx_http_cluster_probe_fail(probe, "incomplete answer");
                return;
            }

            continue;
        }

        if (rc == CLUSTER_HTTP_ERROR) {
            ngx_http_cluster_probe_fail(probe, resp->error);
            return;
        }

        if (resp->body_len > NGX_HTTP_CLUSTER_CHECK_BODY) {
            ngx_http_cluster_probe_fail(probe, "answer over 64 KiB");
            return;
        }

        judged = cluster_check_judge(&cscf->expect, resp, &probe->health,
                                     probe->reason, sizeof(probe->reason),
                                     &probe->result);

        if (judged == CLUSTER_CHECK_FALL_BACK && !probe->fallback) {
            /* an older product: ask its /health, now and from now on */
            ngx_http_cluster_probe_close(probe);
            probe->fallback = 1;
            ngx_http_cluster_probe_connect(probe,
                                         &probe->address.sockaddr);
            return;
        }

        if (judged == CLUSTER_CHECK_FALL_BACK) {
            probe->result.ok = 0;
            ngx_cpystrn((u_char *) probe->reason, (u_char *) "status 404",
                        sizeof(probe->reason));
        }

        ngx_http_cluster_probe_answered(probe);
        return;
    }
}


static void
ngx_http_cluster_messenger_write(ngx_event_t *wev)
{
    ngx_connection_t          *c;
    ngx_http_cluster_probe_t  *probe;

    c = wev->data;
    probe = c->data;

    ngx_http_cluster_messenger_done(probe,
                         ngx_http_cluster_probe_connected(c, probe) == NGX_OK);
}


static void
ngx_http_cluster_probe_dummy(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0, "cluster check dummy");
}


static void
ngx_http_cluster_probe_timeout(ngx_event_t *ev)
{
    ngx_http_cluster_probe_t  *probe = ev->data;

    if (probe->messenger_phase) {
        ngx_http_cluster_messenger_done(probe, 0);
        return;
    }

    if (probe->replay_phase) {
        ngx_http_cluster_replay_done(probe, -1);
        return;
    }

    ngx_http_cluster_probe_fail(probe, "timed out");
}


static void
ngx_http_cluster_probe_close(ngx_http_cluster_probe_t *probe)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    c = probe->pc.connection;

    if (c == NULL) {
        return;
    }

    pool = c->pool;

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        /* a check says no goodbye: the connection just goes */
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }
#endif

    ngx_close_connection(c);
    probe->pc.connection = NULL;

    if (pool) {
        ngx_destroy_pool(pool);
    }
}


#if (NGX_HTTP_SSL)

/* the handshake of a check over TLS, with the name the node is checked by */
static ngx_int_t
ngx_http_cluster_probe_ssl(ngx_connection_t *c,
    ngx_http_cluster_probe_t *probe)
{
    u_char                       name[256];
    ngx_int_t                     rc;
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = probe->conf;

    if (ngx_ssl_create_connection(cscf->check_ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* SNI: ssl_name=, else host=, else the server line's name, no port */
    ngx_http_cluster_check_name(probe, name, sizeof(name));

    if (name[0] && ngx_inet_addr(name, ngx_strlen(name)) == INADDR_NONE) {
        if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) name) == 0)
        {
            return NGX_ERROR;
        }
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_cluster_probe_handshaked;
        return NGX_OK;
    }

    ngx_http_cluster_probe_handshaked(c);

    return NGX_OK;
}


static void
ngx_http_cluster_probe_handshaked(ngx_connection_t *c)
{
    long                          rc;
    u_char                        name[256];
    ngx_str_t                     host;
    ngx_http_cluster_probe_t     *probe;

    probe = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_cluster_probe_fail(probe, "TLS handshake failed");
        return;
    }

    if (probe->conf->conf.ssl_verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            (void) ngx_snprintf((u_char *) probe->reason,
                                sizeof(probe->reason) - 1,
                                "certificate: %s%Z",
                                X509_verify_cert_error_string(rc));
            ngx_http_cluster_probe_fail(probe, NULL);
            return;
        }

        ngx_http_cluster_check_name(probe, name, sizeof(name));

        host.data = name;
        host.len = ngx_strlen(name);

        if (ngx_ssl_check_host(c, &host) != NGX_OK) {
            (void) ngx_snprintf((u_char *) probe->reason,
                                sizeof(probe->reason) - 1,
                                "certificate is not for \"%V\"%Z", &host);
            ngx_http_cluster_probe_fail(probe, NULL);
            return;
        }
    }

    c->write->handler = ngx_http_cluster_probe_write;
    c->read->handler = ngx_http_cluster_probe_read;

    ngx_http_cluster_probe_write(c->write);
}


/*
 * The name a node is checked by over TLS, NUL-terminated: ssl_name=, else
 * host=, else the server line's, without its port.
 */
static void
ngx_http_cluster_check_name(ngx_http_cluster_probe_t *probe, u_char *name,
    size_t size)
{
    u_char                       *colon;
    ngx_str_t                     s;
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = probe->conf;

    if (cscf->conf.ssl_name.len) {
        s.data = (u_char *) cscf->conf.ssl_name.data;
        s.len = cscf->conf.ssl_name.len;

    } else if (cscf->conf.host.len) {
        s.data = (u_char *) cscf->conf.host.data;
        s.len = cscf->conf.host.len;

    } else {
        s = *cscf->members[probe->index].host;
    }

    /* a port is no part of a name; an IPv6 address keeps its colons */
    if (s.len && s.data[0] != '[') {
        colon = ngx_strlchr(s.data, s.data + s.len, ':');

        if (colon) {
            s.len = colon - s.data;
        }
    }

    s.len = ngx_min(s.len, size - 1);
    ngx_memcpy(name, s.data, s.len);
    name[s.len] = '\0';
}

#endif


/* the web component gave no usable answer; reason NULL: already said */
static void
ngx_http_cluster_probe_fail(ngx_http_cluster_probe_t *probe,
    const char *reason)
{
    if (probe->replay_phase) {
        /* the replay says nothing; the check's own answer stands */
        ngx_http_cluster_replay_done(probe, -1);
        return;
    }

    probe->result.ok = 0;
    probe->result.health_read = 0;
    probe->result.status = 0;

    if (reason) {
        ngx_cpystrn((u_char *) probe->reason, (u_char *) reason,
                    sizeof(probe->reason));
    }

    ngx_http_cluster_probe_answered(probe);
}


/* the web part is judged; the messenger's port comes next, if asked for */
static void
ngx_http_cluster_probe_answered(ngx_http_cluster_probe_t *probe)
{
    ngx_http_cluster_probe_close(probe);

    probe->result.duration_ms = ngx_current_msec - probe->started;

    if (probe->conf->messenger == 0 || probe->socklen == 0 || ngx_exiting) {
        /* none asked for, or a resolved node without an address */
        probe->result.messenger = CLUSTER_MESSENGER_UNKNOWN;
        ngx_http_cluster_replay_start(probe);
        return;
    }

    probe->messenger_phase = 1;

    if (!probe->timeout.timer_set) {
        /* the web part used all the time: the messenger's gets its own */
        ngx_add_timer(&probe->timeout, probe->conf->check_timeout);
    }

    ngx_http_cluster_probe_connect(probe, &probe->messenger.sockaddr);
}


static void
ngx_http_cluster_messenger_done(ngx_http_cluster_probe_t *probe,
    ngx_uint_t reachable)
{
    ngx_http_cluster_probe_close(probe);

    probe->result.messenger = reachable ? CLUSTER_MESSENGER_OK
                                        : CLUSTER_MESSENGER_UNREACHABLE;

    ngx_http_cluster_replay_start(probe);
}


/*
 * "cluster_cookie probe=": a node that answered its check is sent the
 * last session another node set, which it has not answered yet, on a
 * harmless GET; its answer is evidence of the key check between nodes,
 * as a user's request would be.
 */
static void
ngx_http_cluster_replay_start(ngx_http_cluster_probe_t *probe)
{
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = probe->conf;

    if (cscf->probe_uri.len == 0 || !probe->result.ok || ngx_exiting
        || ngx_http_cluster_replay_pick(probe) != NGX_OK)
    {
        ngx_http_cluster_probe_record(probe);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "cluster check of %V replays a session",
                   cscf->members[probe->index].id);

    probe->messenger_phase = 0;
    probe->replay_phase = 1;

    /* a time of its own, as the messenger's port has */
    ngx_add_timer(&probe->timeout, cscf->check_timeout);

    ngx_http_cluster_probe_connect(probe, &probe->address.sockaddr);
}


static ngx_int_t
ngx_http_cluster_replay_pick(ngx_http_cluster_probe_t *probe)
{
    u_char                       *p;
    size_t                        len;
    u_char                        pair[CLUSTER_REPLAY_MAX];
    ngx_str_t                     site, *host;
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = probe->conf;

    len = cluster_replay_pick(&cscf->cluster, probe->index,
                              ngx_http_cluster_now(), (char *) pair,
                              probe->replay_fp);
    if (len == 0) {
        return NGX_DECLINED;
    }

    if (cscf->conf.host.len) {
        site.data = (u_char *) cscf->conf.host.data;
        site.len = cscf->conf.host.len;
        host = &site;

    } else {
        host = cscf->members[probe->index].host;
    }

    p = ngx_sprintf(probe->replay.data, "GET %V HTTP/1.0" CRLF
                    "Host: %V" CRLF
                    "User-Agent: nginx-cluster-check/" CLUSTER_VERSION
                    CRLF "Cookie: ",
                    &cscf->probe_uri, host);
    p = ngx_cpymem(p, pair, len);
    p = ngx_cpymem(p, CRLF "Connection: close" CRLF CRLF,
                   sizeof(CRLF "Connection: close" CRLF CRLF) - 1);

    probe->replay.len = p - probe->replay.data;

    /* the session's cookie stays only in the request */
    ngx_explicit_memzero(pair, len);

    return NGX_OK;
}


/* 1: sent to sign in; 0: served; -1: says nothing (an error, a 404) */
static ngx_int_t
ngx_http_cluster_replay_judge(ngx_http_cluster_probe_t *probe)
{
    ngx_str_t                 location, *lp;
    cluster_http_response_t  *resp;

    resp = &probe->resp;

    lp = NULL;

    if (resp->location) {
        location.data = (u_char *) resp->location;
        location.len = resp->location_len;
        lp = &location;
    }

    return cluster_replay_verdict(resp->status,
                                  (int) ngx_http_cluster_sign_in(probe->conf,
                                                                 resp->status,
                                                                 lp));
}


static void
ngx_http_cluster_replay_done(ngx_http_cluster_probe_t *probe,
    ngx_int_t sign_in)
{
    cluster_events_t              ev;
    ngx_http_cluster_srv_conf_t  *cscf;

    ngx_http_cluster_probe_close(probe);

    /* the session's cookie, and what it was answered, stay nowhere */
    ngx_explicit_memzero(probe->replay.data, probe->replay.len);
    ngx_explicit_memzero(probe->buf, probe->len);
    probe->replay.len = 0;
    probe->replay_phase = 0;

    cscf = probe->conf;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "cluster check of %V, the session replayed: %i",
                   cscf->members[probe->index].id, sign_in);

    if (sign_in >= 0) {
        ev.n = 0;
        ev.more = 0;

        cluster_replay_done(&cscf->cluster, probe->index, probe->replay_fp,
                            (int) sign_in, ngx_http_cluster_now(), &ev);

        ngx_http_cluster_report(cscf, &ev, cscf->tick.log);
    }

    ngx_http_cluster_probe_record(probe);
}


static void
ngx_http_cluster_probe_record(ngx_http_cluster_probe_t *probe)
{
    cluster_events_t              ev;
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = probe->conf;

    if (probe->timeout.timer_set) {
        ngx_del_timer(&probe->timeout);
    }

    probe->result.health = &probe->health;
    probe->result.reason = probe->reason;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "cluster check of %V: %s %s",
                   cscf->members[probe->index].id,
                   probe->result.ok ? "ok" : "failed", probe->reason);

    ev.n = 0;
    ev.more = 0;

    cluster_check_done(&cscf->cluster, probe->index, &probe->result,
                       probe->fallback, probe->claimed,
                       ngx_http_cluster_now(), &ev);

    ngx_http_cluster_report(cscf, &ev, cscf->tick.log);

    ngx_free(probe->buf);
    probe->buf = NULL;
    probe->running = 0;
}
