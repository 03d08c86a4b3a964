
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


/*
 * The cluster judges, the upstream's balancing method chooses.  "cluster"
 * wraps whatever the upstream has (round robin, least_conn, hash, ip_hash,
 * random, and keepalive around any): they initialise the upstream and
 * each request, then, before each choice of the method, the cluster marks
 * the nodes it does not let through as already tried in round robin's
 * per-request data, which every stock method honours, and takes its marks
 * back after.  It learns which node was chosen from the same data, and
 * each try's outcome in its free.
 */


static ngx_int_t ngx_http_cluster_wrap(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us, ngx_http_cluster_srv_conf_t *cscf);
static ngx_int_t ngx_http_cluster_add_members(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf, ngx_http_upstream_rr_peers_t *peers,
    ngx_uint_t k);
static ngx_int_t ngx_http_cluster_name_members(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf);
#if (NGX_HTTP_CLUSTER_RESOLVE)
static ngx_uint_t ngx_http_cluster_count_resolved(
    ngx_http_upstream_rr_peers_t *peers);
static void ngx_http_cluster_add_resolved(ngx_http_cluster_srv_conf_t *cscf,
    ngx_http_upstream_rr_peers_t *peers, ngx_uint_t k);
#endif
static ngx_int_t ngx_http_cluster_map(ngx_http_cluster_srv_conf_t *cscf,
    ngx_uint_t k, ngx_http_upstream_rr_peers_t *peers, ngx_log_t *log);
static ngx_uint_t ngx_http_cluster_same_peers(
    ngx_http_cluster_peer_data_t *cp, ngx_http_upstream_rr_peers_t *peers);
static ngx_int_t ngx_http_cluster_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_http_upstream_rr_peer_data_t *ngx_http_cluster_find_rrp(
    ngx_http_cluster_peer_data_t *cp, ngx_http_upstream_srv_conf_t *us);
static ngx_http_cluster_peer_data_t *ngx_http_cluster_peer_alloc(
    ngx_http_request_t *r, ngx_http_cluster_srv_conf_t *cscf);
static void ngx_http_cluster_peer_release(void *data);
static void ngx_http_cluster_method_save(ngx_http_cluster_method_t *m,
    ngx_http_upstream_t *u);
static ngx_uint_t ngx_http_cluster_method_same(ngx_http_cluster_method_t *m,
    ngx_http_upstream_t *u);
static ngx_int_t ngx_http_cluster_marks(ngx_http_cluster_peer_data_t *cp);
static ngx_int_t ngx_http_cluster_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_cluster_steer(ngx_http_cluster_peer_data_t *cp,
    int64_t now);
static ngx_uint_t ngx_http_cluster_exclude(ngx_http_cluster_peer_data_t *cp,
    ngx_uint_t k, cluster_try_t *t, int64_t now);
static void ngx_http_cluster_switch(ngx_http_cluster_peer_data_t *cp,
    ngx_uint_t k);
static void ngx_http_cluster_unmark(ngx_http_cluster_peer_data_t *cp);
static void ngx_http_cluster_chosen(ngx_http_cluster_peer_data_t *cp,
    ngx_peer_connection_t *pc);
static void ngx_http_cluster_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static void ngx_http_cluster_notify_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t type);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_cluster_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_cluster_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static ngx_uint_t ngx_http_cluster_failed_status(ngx_http_upstream_t *u,
    ngx_uint_t status);


/* the answers proxy_next_upstream may call failures, by status */
static struct {
    ngx_uint_t  status;
    ngx_uint_t  mask;
} ngx_http_cluster_next_upstream_status[] = {
    { NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_UPSTREAM_FT_HTTP_500 },
    { NGX_HTTP_BAD_GATEWAY, NGX_HTTP_UPSTREAM_FT_HTTP_502 },
    { NGX_HTTP_SERVICE_UNAVAILABLE, NGX_HTTP_UPSTREAM_FT_HTTP_503 },
    { NGX_HTTP_GATEWAY_TIME_OUT, NGX_HTTP_UPSTREAM_FT_HTTP_504 },
    { NGX_HTTP_TOO_MANY_REQUESTS, NGX_HTTP_UPSTREAM_FT_HTTP_429 },
    { 0, 0 }
};


/*
 * Once the upstream module initialised every upstream, by its method and
 * keepalive, whatever their order: the method has made round robin's
 * peers (every stock method does) and set its per-request initialisation.
 * The cluster takes that place, and knows each distinct address as a
 * member.
 */
ngx_int_t
ngx_http_cluster_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_cluster_srv_conf_t  *cscf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, cf->log, 0, "init cluster upstream");

    cscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cluster_module);

    if (us->peer.init == NULL || us->peer.data == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" has \"cluster\" in %s:%ui and a "
                      "balancing method that keeps no round robin peers",
                      &us->host, cscf->file, cscf->line);
        return NGX_ERROR;
    }

    return ngx_http_cluster_wrap(cf, us, cscf);
}


/*
 * The method has made round robin's peers (every stock method does) and
 * set its per-request initialisation: the cluster takes its place and
 * knows each distinct address as a member.
 */
static ngx_int_t
ngx_http_cluster_wrap(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us,
    ngx_http_cluster_srv_conf_t *cscf)
{
    char                         **names, **ids;
    ngx_uint_t                     i, n;
    cluster_settings_t            *s;
    ngx_http_upstream_rr_peers_t  *peers;

    cscf->original_init_peer = us->peer.init;
    us->peer.init = ngx_http_cluster_init_peer;

    peers = us->peer.data;

    /* the settings the directives made, the core's defaults elsewhere */
    s = &cscf->cluster.settings;
    cluster_conf_settings(&cscf->conf, s);

    n = peers->number + (peers->next ? peers->next->number : 0);

#if (NGX_HTTP_CLUSTER_RESOLVE)
    n += ngx_http_cluster_count_resolved(peers)
         + ngx_http_cluster_count_resolved(peers->next);
#endif

    cscf->members = ngx_pcalloc(cf->pool,
                                n * sizeof(ngx_http_cluster_member_t));
    if (cscf->members == NULL) {
        return NGX_ERROR;
    }

    cscf->cluster.nodes = ngx_pcalloc(cf->pool, n * sizeof(cluster_node_t *));
    if (cscf->cluster.nodes == NULL) {
        return NGX_ERROR;
    }

    cscf->nmembers = 0;

    if (ngx_http_cluster_add_members(cf, cscf, peers, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (peers->next
        && ngx_http_cluster_add_members(cf, cscf, peers->next, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_HTTP_CLUSTER_RESOLVE)
    ngx_http_cluster_add_resolved(cscf, peers, 0);
    ngx_http_cluster_add_resolved(cscf, peers->next, 1);

    /* the zone's peers are mapped again by each worker as they change */
    cscf->mapped[0] = NGX_CONF_UNSET_UINT;
    cscf->mapped[1] = NGX_CONF_UNSET_UINT;
#endif

    for (i = 0; cscf->check == 1 && cscf->messenger && i < cscf->nmembers;
         i++)
    {
        if (cscf->members[i].sockaddr
            && cscf->members[i].sockaddr->sa_family == AF_UNIX)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"cluster_check messenger=\" cannot check the "
                          "unix socket server \"%V\" of upstream \"%V\" "
                          "in %s:%ui", cscf->members[i].id, &us->host,
                          cscf->file, cscf->line);
            return NGX_ERROR;
        }
    }

    if (ngx_http_cluster_name_members(cf, cscf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the names as the core's history keeps them, NUL-terminated */

    names = ngx_palloc(cf->pool, 2 * cscf->nmembers * sizeof(char *) + 1);
    if (names == NULL) {
        return NGX_ERROR;
    }

    ids = names + cscf->nmembers;

    for (i = 0; i < cscf->nmembers; i++) {
        names[i] = ngx_pnalloc(cf->pool, cscf->members[i].name->len + 1);
        ids[i] = ngx_pnalloc(cf->pool, cscf->members[i].id->len + 1);

        if (names[i] == NULL || ids[i] == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_cpystrn((u_char *) names[i], cscf->members[i].name->data,
                           cscf->members[i].name->len + 1);
        (void) ngx_cpystrn((u_char *) ids[i], cscf->members[i].id->data,
                           cscf->members[i].id->len + 1);
    }

    cscf->cluster.names = (const char *const *) names;
    cscf->cluster.ids = (const char *const *) ids;

    return NGX_OK;
}


/* "cluster_node_name": by the server line's text or the resolved address */
static ngx_int_t
ngx_http_cluster_name_members(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf)
{
    ngx_str_t                *id, *server;
    ngx_uint_t                i, j, found;
    ngx_http_cluster_name_t  *nm;

    if (cscf->names == NULL) {
        return NGX_OK;
    }

    nm = cscf->names->elts;

    for (j = 0; j < cscf->names->nelts; j++) {
        found = 0;

        for (i = 0; i < cscf->nmembers; i++) {
            id = cscf->members[i].id;
            server = cscf->members[i].host;

            if ((id->len == nm[j].server.len
                 && ngx_strncmp(id->data, nm[j].server.data, id->len) == 0)
                || (server->len == nm[j].server.len
                    && ngx_strncmp(server->data, nm[j].server.data,
                                   server->len) == 0))
            {
                cscf->members[i].name = &nm[j].name;
                found = 1;
            }
        }

        if (!found) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"cluster_node_name\" names \"%V\", which is "
                          "no server of upstream \"%V\", in %s:%ui",
                          &nm[j].server, &cscf->upstream->host, nm[j].file,
                          nm[j].line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Each distinct address is one member, however many "server" lines name
 * it; peer_member maps a peer's index to its member.
 */
static ngx_int_t
ngx_http_cluster_add_members(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf, ngx_http_upstream_rr_peers_t *peers,
    ngx_uint_t k)
{
    ngx_uint_t                    i, j;
    ngx_http_cluster_member_t    *m;
    ngx_http_upstream_rr_peer_t  *peer;

    cscf->peer_member[k] = ngx_palloc(cf->pool,
                                      peers->number * sizeof(ngx_uint_t));
    if (cscf->peer_member[k] == NULL) {
        return NGX_ERROR;
    }

    cscf->peer_node[k] = ngx_pcalloc(cf->pool,
                                     peers->number * sizeof(cluster_node_t *));
    if (cscf->peer_node[k] == NULL) {
        return NGX_ERROR;
    }

    for (peer = peers->peer, i = 0; peer; peer = peer->next, i++) {

        for (j = 0; j < cscf->nmembers; j++) {
            m = &cscf->members[j];

            if (m->id->len == peer->name.len
                && ngx_memcmp(m->id->data, peer->name.data, peer->name.len)
                   == 0)
            {
                break;
            }
        }

        if (j == cscf->nmembers) {
            m = &cscf->members[cscf->nmembers++];

            m->id = &peer->name;
            m->host = peer->server.len ? &peer->server : &peer->name;
            m->name = m->host;
            m->weight = peer->weight;
            m->backup = k;
            m->sockaddr = peer->sockaddr;
            m->socklen = peer->socklen;
        }

        cscf->peer_member[k][i] = j;
    }

    cscf->npeers[k] = i;

    return NGX_OK;
}


#if (NGX_HTTP_CLUSTER_RESOLVE)

static ngx_uint_t
ngx_http_cluster_count_resolved(ngx_http_upstream_rr_peers_t *peers)
{
    ngx_uint_t                    n;
    ngx_http_upstream_rr_peer_t  *peer;

    n = 0;

    for (peer = peers ? peers->resolve : NULL; peer; peer = peer->next) {
        n++;
    }

    return n;
}


/*
 * A "server ... resolve" line is one node, named by the line's name: the
 * addresses its name resolves to come and go (and the targets of its
 * "service="), the node stays, with its facts and an operator's state.
 */
static void
ngx_http_cluster_add_resolved(ngx_http_cluster_srv_conf_t *cscf,
    ngx_http_upstream_rr_peers_t *peers, ngx_uint_t k)
{
    ngx_http_cluster_member_t    *m;
    ngx_http_upstream_rr_peer_t  *peer;

    for (peer = peers ? peers->resolve : NULL; peer; peer = peer->next) {
        m = &cscf->members[cscf->nmembers++];

        m->id = &peer->server;
        m->host = &peer->server;
        m->name = m->id;
        m->weight = peer->weight;
        m->backup = k;
        m->resolved = 1;
        m->resolve = &peer->host->name;
        m->service = &peer->host->service;
    }
}


/* a peer's node: a resolved one by its server's name, another by address */
ngx_uint_t
ngx_http_cluster_member_of(ngx_http_cluster_srv_conf_t *cscf,
    ngx_http_upstream_rr_peer_t *peer)
{
    ngx_str_t                  *id, *service;
    ngx_uint_t                  i;
    ngx_http_cluster_member_t  *m;

    for (i = 0; i < cscf->nmembers; i++) {
        m = &cscf->members[i];

        if (m->resolved != (peer->host != NULL)) {
            continue;
        }

        if (!m->resolved) {
            id = &peer->name;

            if (id->len == m->id->len
                && ngx_memcmp(id->data, m->id->data, id->len) == 0)
            {
                return i;
            }

            continue;
        }

        id = &peer->host->name;
        service = &peer->host->service;

        /* an empty service has no data to compare */
        if (id->len == m->resolve->len
            && ngx_memcmp(id->data, m->resolve->data, id->len) == 0
            && service->len == m->service->len
            && (service->len == 0
                || ngx_memcmp(service->data, m->service->data, service->len)
                   == 0))
        {
            return i;
        }
    }

    return NGX_HTTP_CLUSTER_NO_MEMBER;
}

#endif


/* whether the peers are as they were when the request began; locked */
static ngx_uint_t
ngx_http_cluster_same_peers(ngx_http_cluster_peer_data_t *cp,
    ngx_http_upstream_rr_peers_t *peers)
{
#if (NGX_HTTP_CLUSTER_RESOLVE)
    return peers->config == NULL || *peers->config == cp->peers->config;
#else
    return 1;
#endif
}


/*
 * Which node each peer of a set is, by position: made at configuration;
 * with "resolve", the zone adds and removes peers at run time, and a
 * worker maps the set again, by identity, when the zone's count of changes
 * moved.  The peers are locked.
 */
static ngx_int_t
ngx_http_cluster_map(ngx_http_cluster_srv_conf_t *cscf, ngx_uint_t k,
    ngx_http_upstream_rr_peers_t *peers, ngx_log_t *log)
{
#if (NGX_HTTP_CLUSTER_RESOLVE)
    ngx_uint_t                    i, j, room, *member;
    cluster_node_t              **node;
    ngx_http_upstream_rr_peer_t  *peer;

    if (peers->config == NULL || cscf->mapped[k] == *peers->config) {
        return NGX_OK;
    }

    if (peers->number > cscf->room[k]) {
        room = ngx_max(peers->number, 8) * 2;

        member = ngx_alloc(room * sizeof(ngx_uint_t), log);
        node = ngx_alloc(room * sizeof(cluster_node_t *), log);

        if (member == NULL || node == NULL) {
            ngx_free(member);
            ngx_free(node);
            return NGX_ERROR;
        }

        if (cscf->room[k]) {
            ngx_free(cscf->peer_member[k]);
            ngx_free(cscf->peer_node[k]);
        }

        cscf->peer_member[k] = member;
        cscf->peer_node[k] = node;
        cscf->room[k] = room;
    }

    for (peer = peers->peer, i = 0;
         peer && i < cscf->room[k];
         peer = peer->next, i++)
    {
        j = ngx_http_cluster_member_of(cscf, peer);

        cscf->peer_member[k][i] = j;
        cscf->peer_node[k][i] = (j == NGX_HTTP_CLUSTER_NO_MEMBER)
                                ? NULL : cscf->cluster.nodes[j];
    }

    cscf->mapped[k] = *peers->config;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "cluster peers mapped: %ui, change %ui",
                   i, cscf->mapped[k]);
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t           *u;
    ngx_http_cluster_method_t     *m;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_cluster_peer_data_t  *cp;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "init cluster peer");

    cscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cluster_module);
    u = r->upstream;

    cp = ngx_http_cluster_peer_alloc(r, cscf);
    if (cp == NULL) {
        return NGX_ERROR;
    }

    /* round robin and least_conn take their data where it is put */
    u->peer.data = &cp->rrp;

    if (cscf->original_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    cp->data = u->peer.data;

    /*
     * The method's functions, as the first request of this worker found
     * them: a request whose method set others keeps its own.
     */

    m = &cscf->method;

    if (m->get == NULL) {
        ngx_http_cluster_method_save(m, u);

    } else if (!ngx_http_cluster_method_same(m, u)) {
        m = ngx_palloc(r->pool, sizeof(ngx_http_cluster_method_t));
        if (m == NULL) {
            return NGX_ERROR;
        }

        ngx_http_cluster_method_save(m, u);
    }

    cp->method = m;
    cp->request = r;
    cp->index = NGX_HTTP_CLUSTER_NO_MEMBER;
    cp->state = CLUSTER_STATE_CHECKING;

    /*
     * The round robin data the method chooses by; its choice by weight
     * alone (round robin's and least_conn's, which took the data put for
     * them) is one that slow start can thin out.
     */

    cp->peers = ngx_http_cluster_find_rrp(cp, us);
    cp->slow_start = (cp->peers == &cp->rrp);

    if (cp->peers == NULL && !cscf->unsteered) {
        cscf->unsteered = 1;
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "cluster \"%V\" cannot steer the balancer it wraps: "
                      "its nodes are judged and shown, not taken out of "
                      "rotation", &us->host);
    }

    /* every function of the method's gets the method's data */

    u->peer.data = cp;
    u->peer.get = ngx_http_cluster_get_peer;
    u->peer.free = ngx_http_cluster_free_peer;

    if (u->peer.notify) {
        u->peer.notify = ngx_http_cluster_notify_peer;
    }

#if (NGX_HTTP_SSL)
    if (u->peer.set_session) {
        u->peer.set_session = ngx_http_cluster_set_session;
    }

    if (u->peer.save_session) {
        u->peer.save_session = ngx_http_cluster_save_session;
    }
#endif

    ngx_http_set_ctx(r, cp, ngx_http_cluster_module);

    ngx_http_cluster_cookie_peer(r, cp);

    return NGX_OK;
}


/*
 * Round robin's per-request data, which every stock method keeps first in
 * its own: the method's data itself, or the data inside the layers that
 * wrap the method (inside the cluster), however many and in whatever
 * order: keepalive keeps the data it wraps third in its own, after its
 * configuration and the request's upstream, as every nginx since keepalive
 * came has it; sticky (1.29.6) keeps it first, before the request and its
 * configuration.  Each layer is known by its configuration of this
 * upstream in its own data.  Only data whose peers are this upstream's is
 * taken: NULL when none is.
 */
static ngx_http_upstream_rr_peer_data_t *
ngx_http_cluster_find_rrp(ngx_http_cluster_peer_data_t *cp,
    ngx_http_upstream_srv_conf_t *us)
{
    void                              **words;
    ngx_uint_t                          layers;
    ngx_http_cluster_srv_conf_t        *cscf;
    ngx_http_upstream_rr_peers_t       *peers;
    ngx_http_upstream_rr_peer_data_t   *rrp;

    cscf = cp->conf;
    peers = us->peer.data;
    words = cp->data;

    for (layers = 0; layers < 4 && words; layers++) {

        if ((void *) words == &cp->rrp) {
            /* round robin's or least_conn's, where the cluster put it */
            return &cp->rrp;
        }

        if (cscf->keepalive && words[0] == cscf->keepalive
            && words[1] == cp->request->upstream)
        {
            words = words[2];

        } else if (cscf->sticky && words[2] == cscf->sticky
                   && words[1] == cp->request)
        {
            words = words[0];

        } else {
            break;
        }
    }

    rrp = (ngx_http_upstream_rr_peer_data_t *) words;

    if (rrp && (rrp->peers == peers
                || (peers->next && rrp->peers == peers->next)))
    {
        return rrp;
    }

    return NULL;
}


/*
 * A request's data, with room for its auth cookie's when the cluster
 * checks the key: a spare of this worker's when it has one, given back
 * when the request's pool goes.  From the pool itself it would often take
 * the pool a block more, a malloc() and a free() a request.
 */
static ngx_http_cluster_peer_data_t *
ngx_http_cluster_peer_alloc(ngx_http_request_t *r,
    ngx_http_cluster_srv_conf_t *cscf)
{
    size_t                         size;
    ngx_pool_cleanup_t            *cln;
    ngx_http_cluster_peer_data_t  *cp;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    size = sizeof(ngx_http_cluster_peer_data_t)
           + (cscf->cookie_name ? sizeof(cluster_request_t) : 0);

    cp = cscf->spare;

    if (cp) {
        cscf->spare = cp->data;

    } else {
        cp = ngx_alloc(size, r->connection->log);
        if (cp == NULL) {
            return NULL;
        }
    }

    ngx_memzero(cp, size);

    cp->conf = cscf;

    if (cscf->cookie_name) {
        cp->auth = (cluster_request_t *) (cp + 1);
    }

    cln->handler = ngx_http_cluster_peer_release;
    cln->data = cp;

    return cp;
}


static void
ngx_http_cluster_peer_release(void *data)
{
    ngx_http_cluster_peer_data_t  *cp = data;

    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = cp->conf;

    /* its auth cookie's session stays nowhere */
    if (cp->auth) {
        ngx_explicit_memzero(cp->auth, sizeof(cluster_request_t));
    }

    cp->data = cscf->spare;
    cscf->spare = cp;
}


/* at a worker's exit: its spares go */
void
ngx_http_cluster_peer_spares_free(ngx_http_cluster_srv_conf_t *cscf)
{
    ngx_http_cluster_peer_data_t  *cp;

    while (cscf->spare) {
        cp = cscf->spare;
        cscf->spare = cp->data;
        ngx_free(cp);
    }
}


static void
ngx_http_cluster_method_save(ngx_http_cluster_method_t *m,
    ngx_http_upstream_t *u)
{
    m->get = u->peer.get;
    m->free = u->peer.free;
    m->notify = u->peer.notify;
#if (NGX_HTTP_SSL)
    m->set_session = u->peer.set_session;
    m->save_session = u->peer.save_session;
#endif
}


static ngx_uint_t
ngx_http_cluster_method_same(ngx_http_cluster_method_t *m,
    ngx_http_upstream_t *u)
{
    return m->get == u->peer.get && m->free == u->peer.free
           && m->notify == u->peer.notify
#if (NGX_HTTP_SSL)
           && m->set_session == u->peer.set_session
           && m->save_session == u->peer.save_session
#endif
           ;
}


/*
 * The request's marks, made the first time the cluster steers it, as many
 * words as round robin's own "tried" has: sized, as round robin sized
 * them, by the larger set of the configuration the request began with;
 * NGX_DECLINED once the zone changed the peers since (round robin then
 * answers busy by itself).
 */
static ngx_int_t
ngx_http_cluster_marks(ngx_http_cluster_peer_data_t *cp)
{
    ngx_uint_t                     n, same;
    ngx_http_upstream_rr_peers_t  *primary;

    if (cp->marks) {
        return NGX_OK;
    }

    primary = cp->conf->upstream->peer.data;

    ngx_http_upstream_rr_peers_rlock(primary);

#if (NGX_HTTP_CLUSTER_RESOLVE)
    same = (primary->config == NULL || *primary->config == cp->peers->config);
#else
    same = 1;
#endif

    n = primary->number;

    if (primary->next && primary->next->number > n) {
        n = primary->next->number;
    }

    ngx_http_upstream_rr_peers_unlock(primary);

    if (!same) {
        return NGX_DECLINED;
    }

    n = (n + (8 * sizeof(uintptr_t) - 1)) / (8 * sizeof(uintptr_t));

    cp->marks = ngx_pcalloc(cp->request->pool,
                            offsetof(ngx_http_cluster_marks_t, marked)
                            + 2 * n * sizeof(uintptr_t));
    if (cp->marks == NULL) {
        return NGX_ERROR;
    }

    cp->marks->set = cp->peers->peers;
    cp->marks->words = n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_cluster_peer_data_t  *cp = data;

    int64_t                        now;
    ngx_int_t                      rc;
    ngx_uint_t                     n, steer, tries;
    cluster_events_t               ev;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_upstream_rr_peers_t  *primary;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "get cluster peer, try: %ui", pc->tries);

    cscf = cp->conf;
    now = ngx_http_cluster_now();

    ev.n = 0;
    ev.more = 0;

    cluster_evaluate(&cscf->cluster, now, &ev);
    ngx_http_cluster_report(cscf, &ev, pc->log);

    /* every node in and at its full share: nothing to steer from */
    steer = cp->peers && (!cscf->shared->core.clear || cp->key_class);

    for (n = 0; /* void */ ; n++) {

        cp->node = NULL;
        cp->index = NGX_HTTP_CLUSTER_NO_MEMBER;

        if (steer && ngx_http_cluster_marks(cp) != NGX_OK) {
            /* no memory for the marks, or the peers changed: the method
             * alone, this once */
            steer = 0;
        }

        if (steer) {
            ngx_http_cluster_steer(cp, now);
        }

        rc = cp->method->get(pc, cp->data);

        if (steer) {
            ngx_http_cluster_unmark(cp);
        }

        if (rc != NGX_OK && rc != NGX_DONE) {
            return rc;
        }

        ngx_http_cluster_chosen(cp, pc);

        if (cp->node == NULL || cp->node->admin == CLUSTER_ADMIN_NONE) {
            break;
        }

        /*
         * A node an operator took out never takes a request: round
         * robin's choice among one server ignores the marks, and a worker
         * may have read the cluster as clear just before the action.  The
         * try is given back as if never made, the node stays tried, and
         * the method chooses again, steered.
         */

        tries = pc->tries;
        cp->method->free(pc, cp->data, 0);
        pc->tries = tries;

        if (pc->connection) {
            ngx_close_connection(pc->connection);
            pc->connection = NULL;
        }

        pc->sockaddr = NULL;
        pc->socklen = 0;
        pc->cached = 0;
        pc->name = NULL;
        cp->node = NULL;
        cp->index = NGX_HTTP_CLUSTER_NO_MEMBER;

        steer = (cp->peers != NULL);

        if (n == cscf->nmembers) {
            primary = cscf->upstream->peer.data;
            pc->name = primary->name;
            return NGX_BUSY;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "get cluster peer, node: %V state: %s", pc->name,
                   cp->node ? cluster_state_name((cluster_state_e) cp->state)
                            : "untracked");

    return rc;
}


/*
 * Marks, for the method's next choice, the nodes the cluster does not let
 * through.  The passes widen: the session's key class, the nodes in
 * rotation (all but drained and removed in panic), first of the primary
 * servers then of the backups, then, for this one try, any node not taken
 * out by an operator.  The first pass that leaves the method a node it can
 * use stands.
 */
static void
ngx_http_cluster_steer(ngx_http_cluster_peer_data_t *cp, int64_t now)
{
    ngx_uint_t                     k, backups;
    cluster_try_t                  t;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_upstream_rr_peers_t  *primary;

    cscf = cp->conf;
    primary = cscf->upstream->peer.data;

    k = (cp->peers->peers == primary) ? 0 : 1;

    /*
     * Only round robin and least_conn choose among the backups by the
     * set round robin's data names; the others index their own tables of
     * the primary servers, and are never moved to the backups.
     */
    backups = primary->next != NULL
              && (cscf->upstream->flags & NGX_HTTP_UPSTREAM_BACKUP);

    cluster_try_begin(&cscf->cluster, cp->key_class, cp->slow_start, &t);

    if (t.pass == CLUSTER_PASS_CLASS
        && ngx_http_cluster_exclude(cp, k, &t, now))
    {
        return;
    }

    t.pass = CLUSTER_PASS_ROTATION;

    if (ngx_http_cluster_exclude(cp, k, &t, now)) {
        return;
    }

    if (k == 0 && backups) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, cp->request->connection->log, 0,
                       "get cluster peer, backup servers");

        ngx_http_cluster_switch(cp, 1);
        k = 1;

        if (ngx_http_cluster_exclude(cp, k, &t, now)) {
            return;
        }
    }

    t.pass = CLUSTER_PASS_ANY;

    if (ngx_http_cluster_exclude(cp, k, &t, now)) {
        return;
    }

    if (k == 1) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, cp->request->connection->log, 0,
                       "get cluster peer, back to the primary servers");

        ngx_http_cluster_switch(cp, 0);

        (void) ngx_http_cluster_exclude(cp, 0, &t, now);
    }
}


/*
 * One pass over one set of peers: marks those the pass does not let
 * through; 1 when it leaves one the method can use (not tried, not down,
 * not failed by max_fails, not full), 0 with no mark left otherwise.  A
 * node whose trial is due takes the try, once claimed, before any other.
 */
static ngx_uint_t
ngx_http_cluster_exclude(ngx_http_cluster_peer_data_t *cp, ngx_uint_t k,
    cluster_try_t *t, int64_t now)
{
    time_t                             tm;
    unsigned                           dice;
    uintptr_t                          m;
    ngx_uint_t                         i, n, usable, trial, spare;
    cluster_node_t                    *node;
    cluster_pick_e                     pick;
    ngx_http_cluster_srv_conf_t       *cscf;
    ngx_http_upstream_rr_peer_t       *peer;
    ngx_http_upstream_rr_peers_t      *peers;
    ngx_http_upstream_rr_peer_data_t  *rrp;

    rrp = cp->peers;
    peers = rrp->peers;
    cscf = cp->conf;
    tm = ngx_time();

    cp->marks->set = peers;

    usable = 0;
    trial = NGX_CONF_UNSET_UINT;
    spare = NGX_CONF_UNSET_UINT;

    ngx_http_upstream_rr_peers_rlock(peers);

    if (!ngx_http_cluster_same_peers(cp, peers)
        || ngx_http_cluster_map(cscf, k, peers, cp->request->connection->log)
           != NGX_OK)
    {
        /* changed by the zone since the request began: round robin
         * answers busy; or no memory to map them: not steered */
        ngx_http_upstream_rr_peers_unlock(peers);
        return 1;
    }

    for (peer = peers->peer, i = 0;
         peer && i < cp->marks->words * 8 * sizeof(uintptr_t);
         peer = peer->next, i++)
    {
        n = i / (8 * sizeof(uintptr_t));
        m = (uintptr_t) 1 << i % (8 * sizeof(uintptr_t));

        if ((rrp->tried[n] & m)
            || peer->down
            || (peer->max_fails && peer->fails >= peer->max_fails
                && tm - peer->checked <= peer->fail_timeout)
            || (peer->max_conns && peer->conns >= peer->max_conns))
        {
            /* the method passes it over by itself */
            continue;
        }

        node = cscf->peer_node[k][i];

        /* the dice of slow start, only where it is thrown */
        dice = (t->slow_start && cscf->cluster.settings.slow_start)
               ? (unsigned) (ngx_random() % 1000) : 0;

        pick = cluster_pick(node, &cscf->cluster.settings, t, dice, now);

        if (pick == CLUSTER_PICK_TRIAL && trial == NGX_CONF_UNSET_UINT) {
            trial = i;

        } else if (pick == CLUSTER_PICK_SPARE
                   && spare == NGX_CONF_UNSET_UINT)
        {
            spare = i;
        }

        if (pick == CLUSTER_PICK_YES) {
            usable++;
            continue;
        }

        rrp->tried[n] |= m;
        cp->marks->marked[n] |= m;
    }

    ngx_http_upstream_rr_peers_unlock(peers);

    if (trial != NGX_CONF_UNSET_UINT) {
        /* one worker of all claims the trial; the others route as usual */

        node = cscf->peer_node[k][trial];

        if (cluster_trial_claim(&cscf->cluster, cscf->peer_member[k][trial],
                                now))
        {
            ngx_log_error(NGX_LOG_INFO, cp->request->connection->log, 0,
                          "cluster \"%V\" sends a trial request to node "
                          "\"%V\", %s", &cscf->upstream->host,
                          cscf->members[cscf->peer_member[k][trial]].name,
                          cluster_state_name(node->state));

            /* the trial alone is left to the method */
            for (n = 0; n < cp->marks->words; n++) {
                cp->marks->marked[n] |= ~rrp->tried[n];
                rrp->tried[n] = ~(uintptr_t) 0;
            }

            n = trial / (8 * sizeof(uintptr_t));
            m = (uintptr_t) 1 << trial % (8 * sizeof(uintptr_t));

            rrp->tried[n] &= ~m;
            cp->marks->marked[n] &= ~m;

            return 1;
        }
    }

    if (usable == 0 && spare != NGX_CONF_UNSET_UINT) {
        /* a node in slow start takes the turn when it is the only one */
        n = spare / (8 * sizeof(uintptr_t));
        m = (uintptr_t) 1 << spare % (8 * sizeof(uintptr_t));

        rrp->tried[n] &= ~m;
        cp->marks->marked[n] &= ~m;
        usable = 1;
    }

    if (usable == 0) {
        ngx_http_cluster_unmark(cp);
        return 0;
    }

    return 1;
}


/* the request moves to the other set of peers, with none of them tried */
static void
ngx_http_cluster_switch(ngx_http_cluster_peer_data_t *cp, ngx_uint_t k)
{
    ngx_uint_t                     i, words;
    uintptr_t                     *marked, *saved;
    ngx_http_upstream_rr_peers_t  *primary;

    primary = cp->conf->upstream->peer.data;
    words = cp->marks->words;
    marked = cp->marks->marked;
    saved = marked + words;

    cp->peers->peers = k ? primary->next : primary;
    cp->marks->set = cp->peers->peers;

    /* the primaries' tries are kept for a way back, the backups' start */

    for (i = 0; i < words; i++) {
        if (k) {
            saved[i] = cp->peers->tried[i];
            cp->peers->tried[i] = 0;

        } else {
            cp->peers->tried[i] = saved[i];
        }

        marked[i] = 0;
    }
}


/*
 * The cluster's marks go, the method's own tries stay; when the method
 * moved to the backups meanwhile, it cleared them itself.
 */
static void
ngx_http_cluster_unmark(ngx_http_cluster_peer_data_t *cp)
{
    ngx_uint_t  i, same;

    same = (cp->peers->peers == cp->marks->set);

    for (i = 0; i < cp->marks->words; i++) {
        if (same) {
            cp->peers->tried[i] &= ~cp->marks->marked[i];
        }

        cp->marks->marked[i] = 0;
    }

    cp->marks->set = cp->peers->peers;
}


/* the node the method chose, from round robin's data or by its address */
static void
ngx_http_cluster_chosen(ngx_http_cluster_peer_data_t *cp,
    ngx_peer_connection_t *pc)
{
    ngx_uint_t                     i, j, k;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *primary;

    cscf = cp->conf;
    primary = cscf->upstream->peer.data;

    if (cp->peers) {
        peers = cp->peers->peers;
        k = (peers == primary) ? 0 : 1;
        j = NGX_HTTP_CLUSTER_NO_MEMBER;

        ngx_http_upstream_rr_peers_rlock(peers);

        if (ngx_http_cluster_same_peers(cp, peers)
            && ngx_http_cluster_map(cscf, k, peers, pc->log) == NGX_OK)
        {
            for (peer = peers->peer, i = 0; peer; peer = peer->next, i++) {
                if (peer == cp->peers->current) {
                    j = cscf->peer_member[k][i];
                    break;
                }
            }
        }
#if (NGX_HTTP_CLUSTER_RESOLVE)
        else if (cp->peers->current) {
            /* the zone changed the peers since: the one chosen stays */
            j = ngx_http_cluster_member_of(cscf, cp->peers->current);
        }
#endif

        ngx_http_upstream_rr_peers_unlock(peers);

        if (j != NGX_HTTP_CLUSTER_NO_MEMBER) {
            cp->index = (uint32_t) j;
            cp->node = cscf->cluster.nodes[j];
            goto found;
        }

        /* not of the set the data names: known by its address below */
    }

    for (i = 0; i < cscf->nmembers; i++) {
        if (pc->name && pc->name->len == cscf->members[i].id->len
            && ngx_strncmp(pc->name->data, cscf->members[i].id->data,
                           pc->name->len) == 0)
        {
            cp->index = (uint32_t) i;
            cp->node = cscf->cluster.nodes[i];
            goto found;
        }
    }

    return;

found:

    cp->state = cp->node ? cp->node->state : CLUSTER_STATE_UP;
}


static void
ngx_http_cluster_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_cluster_peer_data_t  *cp = data;

    int64_t                       now;
    ngx_uint_t                    ok, status;
    ngx_msec_t                    elapsed;
    cluster_node_t               *node;
    cluster_events_t              ev;
    ngx_http_upstream_t          *u;
    ngx_http_cluster_srv_conf_t  *cscf;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "free cluster peer %ui %ui", pc->tries, state);

    node = cp->node;
    u = cp->request->upstream;

    if (node && u && u->state) {

        /*
         * A failure is what proxy_next_upstream calls one, on the last
         * try too, where nginx passes the answer on; anything else with a
         * response header is a heartbeat.  A try that ended with no answer
         * and no failure (the client went away) says nothing of the node.
         */

        status = u->state->status;
        ok = !(state & NGX_PEER_FAILED)
             && !ngx_http_cluster_failed_status(u, status);

        if (!ok || status) {
            cscf = cp->conf;
            now = ngx_http_cluster_now();
            elapsed = ngx_current_msec - u->start_time;

            ev.n = 0;
            ev.more = 0;

            cluster_try_done(&cscf->cluster, cp->index, (int) ok,
                             (unsigned) status, (unsigned) elapsed, now, &ev);

            ngx_http_cluster_report(cscf, &ev, pc->log);
        }
    }

    cp->method->free(pc, cp->data, state);
}


/*
 * sticky's learning after the header and least_time's timing (and
 * keepalive forwarding theirs) want to hear of the answer's header, with
 * their own data
 */
static void
ngx_http_cluster_notify_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t type)
{
    ngx_http_cluster_peer_data_t  *cp = data;

    cp->method->notify(pc, cp->data, type);
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_cluster_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_cluster_peer_data_t  *cp = data;

    return cp->method->set_session(pc, cp->data);
}


static void
ngx_http_cluster_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_cluster_peer_data_t  *cp = data;

    cp->method->save_session(pc, cp->data);
}

#endif


static ngx_uint_t
ngx_http_cluster_failed_status(ngx_http_upstream_t *u, ngx_uint_t status)
{
    ngx_uint_t  i;

    if (status < NGX_HTTP_TOO_MANY_REQUESTS) {
        /* the answer of most tries: none of the statuses below */
        return 0;
    }

    for (i = 0; ngx_http_cluster_next_upstream_status[i].status; i++) {
        if (ngx_http_cluster_next_upstream_status[i].status == status) {
            return u->conf->next_upstream
                   & ngx_http_cluster_next_upstream_status[i].mask;
        }
    }

    return 0;
}
