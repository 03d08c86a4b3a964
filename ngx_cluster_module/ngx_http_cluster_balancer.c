
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


/* which nodes a selection pass may choose */
typedef enum {
    NGX_HTTP_CLUSTER_PICK_CLASS = 0,      /* as ROTATION, of the key class
                                             of the session's node */
    NGX_HTTP_CLUSTER_PICK_ROTATION,       /* in rotation, or any in panic */
    NGX_HTTP_CLUSTER_PICK_ANY             /* any not drained or removed */
} ngx_http_cluster_pick_e;


static ngx_int_t ngx_http_cluster_add_members(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf, ngx_http_upstream_rr_peers_t *peers,
    ngx_uint_t k);
static ngx_int_t ngx_http_cluster_name_members(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf);
static ngx_int_t ngx_http_cluster_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_cluster_get_peer(ngx_peer_connection_t *pc,
    void *data);
static ngx_http_upstream_rr_peers_t *ngx_http_cluster_switch(
    ngx_http_cluster_peer_data_t *cp, ngx_http_upstream_rr_peers_t *from,
    ngx_http_upstream_rr_peers_t *to);
static ngx_http_upstream_rr_peer_t *ngx_http_cluster_select(
    ngx_http_cluster_peer_data_t *cp, ngx_uint_t k,
    ngx_http_cluster_pick_e pick, int64_t now);
static void ngx_http_cluster_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
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


ngx_int_t
ngx_http_cluster_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                     i, n;
    cluster_settings_t            *s;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_upstream_rr_peers_t  *peers;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, cf->log, 0, "init cluster upstream");

    if (ngx_http_upstream_init_round_robin(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    us->peer.init = ngx_http_cluster_init_peer;

    cscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cluster_module);
    peers = us->peer.data;

    s = &cscf->settings;
    cluster_settings_default(s);

    if (cscf->interval != NGX_CONF_UNSET_MSEC) {
        s->interval = cscf->interval;
    }

    if (cscf->stale != NGX_CONF_UNSET_MSEC) {
        s->stale = cscf->stale;
    }

    if (cscf->eject != NGX_CONF_UNSET_UINT) {
        s->eject = (uint32_t) cscf->eject;
    }

    if (cscf->slow_start != NGX_CONF_UNSET_MSEC) {
        s->slow_start = cscf->slow_start;
    }

    if (cscf->check == 1) {
        s->checks = 1;
        s->trials = 0;
        s->mandatory = cscf->mandatory;

        if (cscf->rise != NGX_CONF_UNSET_UINT) {
            s->rise = (uint32_t) cscf->rise;
        }

        if (cscf->fall != NGX_CONF_UNSET_UINT) {
            s->fall = (uint32_t) cscf->fall;
        }
    }

    n = peers->number + (peers->next ? peers->next->number : 0);

    cscf->members = ngx_palloc(cf->pool, n * sizeof(ngx_http_cluster_member_t));
    if (cscf->members == NULL) {
        return NGX_ERROR;
    }

    cscf->nodes = ngx_pcalloc(cf->pool, n * sizeof(cluster_node_t *));
    if (cscf->nodes == NULL) {
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

    for (i = 0; cscf->check == 1 && cscf->messenger && i < cscf->nmembers;
         i++)
    {
        if (cscf->members[i].sockaddr->sa_family == AF_UNIX) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"cluster_check messenger=\" cannot check the "
                          "unix socket server \"%V\" of upstream \"%V\" "
                          "in %s:%ui", cscf->members[i].id, &us->host,
                          cscf->file, cscf->line);
            return NGX_ERROR;
        }
    }

    return ngx_http_cluster_name_members(cf, cscf);
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

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_cluster_peer_data_t  *cp;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "init cluster peer");

    cp = ngx_palloc(r->pool, sizeof(ngx_http_cluster_peer_data_t));
    if (cp == NULL) {
        return NGX_ERROR;
    }

    r->upstream->peer.data = &cp->rrp;

    if (ngx_http_upstream_init_round_robin_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    r->upstream->peer.get = ngx_http_cluster_get_peer;
    r->upstream->peer.free = ngx_http_cluster_free_peer;

    cp->conf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cluster_module);
    cp->request = r;
    cp->node = NULL;
    cp->name = NULL;
    cp->state = CLUSTER_STATE_CHECKING;
    cp->key_check = NGX_HTTP_CLUSTER_KEY_UNASKED;
    cp->key_expires = 0;
    ngx_str_null(&cp->cookie_name);
    ngx_str_null(&cp->cookie);
    cp->key_class = 0;
    cp->fingerprinted = 0;
    cp->known = 0;

    ngx_http_set_ctx(r, cp, ngx_http_cluster_module);

    ngx_http_cluster_cookie_peer(r, cp);

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_cluster_peer_data_t  *cp = data;

    int64_t                            now;
    ngx_uint_t                         k;
    ngx_http_cluster_srv_conf_t       *cscf;
    ngx_http_upstream_rr_peer_t       *peer;
    ngx_http_upstream_rr_peers_t      *peers;
    ngx_http_upstream_rr_peer_data_t  *rrp;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "get cluster peer, try: %ui", pc->tries);

    rrp = &cp->rrp;
    cscf = cp->conf;

    now = ngx_http_cluster_now();

    ngx_http_cluster_evaluate(cscf, now, pc->log);

    pc->cached = 0;
    pc->connection = NULL;

    peers = rrp->peers;
    k = (peers == cscf->upstream->peer.data) ? 0 : 1;

    ngx_http_upstream_rr_peers_wlock(peers);

    /*
     * The order: primaries in rotation, backups in rotation, then, as the
     * panic guard for one request when none of those is usable now, any
     * backup and any primary not taken out by an operator.
     */

    peer = NULL;

    if (cp->key_class) {
        /*
         * A session goes to a node that can read it, as long as one is in
         * rotation, whatever the verdict on its key.
         */
        peer = ngx_http_cluster_select(cp, k, NGX_HTTP_CLUSTER_PICK_CLASS,
                                       now);
    }

    if (peer == NULL) {
        peer = ngx_http_cluster_select(cp, k, NGX_HTTP_CLUSTER_PICK_ROTATION,
                                       now);
    }

    if (peer == NULL && k == 0 && peers->next) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "get cluster peer, backup servers");

        peers = ngx_http_cluster_switch(cp, peers, peers->next);
        k = 1;

        peer = ngx_http_cluster_select(cp, k, NGX_HTTP_CLUSTER_PICK_ROTATION,
                                       now);
    }

    if (peer == NULL) {
        peer = ngx_http_cluster_select(cp, k, NGX_HTTP_CLUSTER_PICK_ANY, now);
    }

    if (peer == NULL && k == 1) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "get cluster peer, back to the primary servers");

        peers = ngx_http_cluster_switch(cp, peers, cscf->upstream->peer.data);
        k = 0;

        peer = ngx_http_cluster_select(cp, k, NGX_HTTP_CLUSTER_PICK_ANY, now);
    }

    if (peer == NULL) {
        ngx_http_upstream_rr_peers_unlock(peers);

        pc->name = peers->name;

        return NGX_BUSY;
    }

    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;

    peer->conns++;

    ngx_http_upstream_rr_peers_unlock(peers);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "get cluster peer, node: %V state: %s", &peer->name,
                   cp->node ? cluster_state_name(cp->state) : "untracked");

    return NGX_OK;
}


/* moves the request to another set of peers, with none of them tried */
static ngx_http_upstream_rr_peers_t *
ngx_http_cluster_switch(ngx_http_cluster_peer_data_t *cp,
    ngx_http_upstream_rr_peers_t *from, ngx_http_upstream_rr_peers_t *to)
{
    ngx_uint_t  i, n;

    ngx_http_upstream_rr_peers_unlock(from);

    cp->rrp.peers = to;

    n = (to->number + (8 * sizeof(uintptr_t) - 1)) / (8 * sizeof(uintptr_t));

    for (i = 0; i < n; i++) {
        cp->rrp.tried[i] = 0;
    }

    ngx_http_upstream_rr_peers_wlock(to);

    return to;
}


/*
 * Round robin's smooth weighted choice, over the nodes that "pick" allows;
 * an ejected node whose trial is due is chosen before any other.
 */
static ngx_http_upstream_rr_peer_t *
ngx_http_cluster_select(ngx_http_cluster_peer_data_t *cp, ngx_uint_t k,
    ngx_http_cluster_pick_e pick, int64_t now)
{
    time_t                             t;
    uintptr_t                          m;
    ngx_int_t                          total;
    ngx_uint_t                         i, n, p, panic, trial_i, spare_i;
    cluster_node_t                    *node, *trial;
    ngx_http_cluster_srv_conf_t       *cscf;
    ngx_http_upstream_rr_peer_t       *peer, *best, *trial_peer, *spare;
    ngx_http_upstream_rr_peer_data_t  *rrp;

    rrp = &cp->rrp;
    cscf = cp->conf;

    t = ngx_time();

    panic = cscf->shared->panic;

    best = NULL;
    trial = NULL;
    trial_peer = NULL;
    spare = NULL;
    total = 0;
    p = 0;
    trial_i = 0;
    spare_i = 0;

#if (NGX_SUPPRESS_WARN)
    n = 0;
    m = 0;
#endif

    for (peer = rrp->peers->peer, i = 0; peer; peer = peer->next, i++) {

        n = i / (8 * sizeof(uintptr_t));
        m = (uintptr_t) 1 << i % (8 * sizeof(uintptr_t));

        if (rrp->tried[n] & m) {
            continue;
        }

        if (peer->down) {
            continue;
        }

        if (peer->max_fails
            && peer->fails >= peer->max_fails
            && t - peer->checked <= peer->fail_timeout)
        {
            continue;
        }

        if (peer->max_conns && peer->conns >= peer->max_conns) {
            continue;
        }

        node = cscf->peer_node[k][i];

        if (pick == NGX_HTTP_CLUSTER_PICK_CLASS
            && (node == NULL || node->key_class != cp->key_class
                || !(node->in_rotation || panic)))
        {
            continue;
        }

        if (node && !node->in_rotation) {

            if (node->admin != CLUSTER_ADMIN_NONE) {
                continue;
            }

            if (pick == NGX_HTTP_CLUSTER_PICK_ROTATION && !panic) {

                if (trial == NULL
                    && cluster_node_trial_due(node, &cscf->settings, now))
                {
                    trial = node;
                    trial_peer = peer;
                    trial_i = i;
                }

                continue;
            }
        }

        if (node && node->in_rotation && pick != NGX_HTTP_CLUSTER_PICK_ANY
            && cscf->settings.slow_start
            && (unsigned long) ngx_random() % 1000
               >= cluster_node_slow_start_share(node, &cscf->settings, now))
        {
            /*
             * A node back in rotation takes a growing share of its turns;
             * when it is the only one left, it takes the turn after all.
             */
            if (spare == NULL) {
                spare = peer;
                spare_i = i;
            }

            continue;
        }

        peer->current_weight += peer->effective_weight;
        total += peer->effective_weight;

        if (peer->effective_weight < peer->weight) {
            peer->effective_weight++;
        }

        if (best == NULL || peer->current_weight > best->current_weight) {
            best = peer;
            p = i;
        }
    }

    if (trial) {
        /* one worker of all claims the trial; the others route as usual */
        ngx_shmtx_lock(&cscf->shpool->mutex);

        if (cluster_node_trial_due(trial, &cscf->settings, now)) {
            trial->trial_at = now;

        } else {
            trial = NULL;
        }

        ngx_shmtx_unlock(&cscf->shpool->mutex);

        if (trial) {
            ngx_log_error(NGX_LOG_INFO, cp->request->connection->log, 0,
                          "cluster \"%V\" sends a trial request to node "
                          "\"%V\", %s",
                          &cscf->upstream->host, &trial_peer->name,
                          cluster_state_name(trial->state));
            /* weighed as if it had taken part, so the others stay fair */
            best = trial_peer;
            p = trial_i;
            best->current_weight += best->effective_weight;
            total += best->effective_weight;
        }
    }

    if (best == NULL && spare) {
        best = spare;
        p = spare_i;
        best->current_weight += best->effective_weight;
        total += best->effective_weight;
    }

    if (best == NULL) {
        return NULL;
    }

    rrp->current = best;

    n = p / (8 * sizeof(uintptr_t));
    m = (uintptr_t) 1 << p % (8 * sizeof(uintptr_t));

    rrp->tried[n] |= m;

    best->current_weight -= total;

    if (t - best->checked > best->fail_timeout) {
        best->checked = t;
    }

    cp->node = cscf->peer_node[k][p];
    cp->name = cscf->members[cscf->peer_member[k][p]].name;
    cp->state = cp->node ? (cluster_state_e) cp->node->state
                         : CLUSTER_STATE_UP;

    return best;
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

            ngx_shmtx_lock(&cscf->shpool->mutex);

            cluster_node_response(node, &cscf->settings, ok, status, elapsed,
                                  now);
            ngx_http_cluster_evaluate_node(cscf, node, now, pc->log);

            ngx_shmtx_unlock(&cscf->shpool->mutex);
        }
    }

    ngx_http_upstream_free_round_robin_peer(pc, &cp->rrp, state);
}


static ngx_uint_t
ngx_http_cluster_failed_status(ngx_http_upstream_t *u, ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_cluster_next_upstream_status[i].status; i++) {
        if (ngx_http_cluster_next_upstream_status[i].status == status) {
            return u->conf->next_upstream
                   & ngx_http_cluster_next_upstream_status[i].mask;
        }
    }

    return 0;
}
