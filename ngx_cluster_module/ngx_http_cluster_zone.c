
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"
#include "cluster_change.h"


static ngx_int_t ngx_http_cluster_zone_attach(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t *shpool, ngx_http_cluster_shctx_t *sh,
    ngx_http_cluster_srv_conf_t *cscf, int64_t now);
static ngx_http_cluster_shm_cluster_t *ngx_http_cluster_zone_cluster(
    ngx_slab_pool_t *shpool, ngx_http_cluster_shctx_t *sh, ngx_str_t *name);
static ngx_int_t ngx_http_cluster_zone_sessions(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t *shpool, ngx_http_cluster_srv_conf_t *cscf);
static ngx_int_t ngx_http_cluster_zone_identity(
    ngx_http_cluster_srv_conf_t *cscf, ngx_uint_t i, ngx_str_t *identity,
    ngx_log_t *log);
static ngx_http_cluster_shm_cluster_t *ngx_http_cluster_zone_find_cluster(
    ngx_http_cluster_shctx_t *sh, ngx_str_t *name);
static ngx_http_cluster_shm_node_t *ngx_http_cluster_zone_find_node(
    ngx_http_cluster_shctx_t *sh, ngx_str_t *identity, uint32_t hash);
static cluster_node_t *ngx_http_cluster_zone_node(ngx_slab_pool_t *shpool,
    ngx_http_cluster_shctx_t *sh, ngx_str_t *identity, int64_t now,
    ngx_uint_t *created);
static ngx_slab_pool_t *ngx_http_cluster_zone_old(ngx_shm_zone_t *shm_zone);
static void ngx_http_cluster_zone_adopt(ngx_slab_pool_t *old,
    ngx_http_cluster_srv_conf_t *cscf);
static void ngx_http_cluster_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_cluster_lock(void *data);
static void ngx_http_cluster_unlock(void *data);


ngx_int_t
ngx_http_cluster_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                          len;
    int64_t                         now;
    ngx_uint_t                      i, fresh;
    ngx_slab_pool_t                *shpool, *old;
    ngx_http_cluster_shctx_t       *sh;
    ngx_http_cluster_srv_conf_t   **cscfp;
    ngx_http_cluster_main_conf_t   *cmcf;

    cmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    fresh = (data == NULL && !shm_zone->shm.exists);

    if (!fresh) {
        /* a reload, or a zone that outlives its cycle: adopt its records */
        sh = shpool->data;

    } else {
        sh = ngx_slab_alloc(shpool, sizeof(ngx_http_cluster_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                        ngx_http_cluster_rbtree_insert_value);
        ngx_queue_init(&sh->clusters);

        shpool->data = sh;

        len = sizeof(" in cluster zone \"\"") + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc(shpool, len);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in cluster zone \"%V\"%Z",
                    &shm_zone->shm.name);
    }

    /* the module says itself, once, that the zone is full */
    shpool->log_nomem = 0;

    if (ngx_http_cluster_state_writable(cmcf, shm_zone->shm.log) != NGX_OK) {
        return NGX_ERROR;
    }

    now = ngx_http_cluster_now();

    cscfp = cmcf->clusters.elts;

    for (i = 0; i < cmcf->clusters.nelts; i++) {

        if (cscfp[i]->shm_zone != shm_zone) {
            continue;
        }

        if (ngx_http_cluster_zone_attach(shm_zone, shpool, sh, cscfp[i], now)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!fresh) {
        return NGX_OK;
    }

    old = ngx_http_cluster_zone_old(shm_zone);

    if (old) {
        /* a reload that resized the zone: the old one is still there */
        for (i = 0; i < cmcf->clusters.nelts; i++) {
            if (cscfp[i]->shm_zone == shm_zone && cscfp[i]->shared) {
                ngx_http_cluster_zone_adopt(old, cscfp[i]);
            }
        }

        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "cluster zone \"%V\" resized: its nodes, actions and "
                      "verdicts carried over, its sessions started afresh",
                      &shm_zone->shm.name);

    } else if (cmcf->state_file.len) {
        /* a start, not a reload: what the last run knew */
        ngx_http_cluster_state_load(cmcf, shm_zone, shm_zone->shm.log);
    }

    return NGX_OK;
}


/*
 * On a reload that changed its size, the zone of the same name in the
 * cycle that runs now: nginx made a new zone and keeps the old one until
 * the new cycle is ready.
 */
static ngx_slab_pool_t *
ngx_http_cluster_zone_old(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t        i;
    ngx_shm_zone_t   *zone;
    ngx_list_part_t  *part;

    if (ngx_cycle == NULL) {
        return NULL;
    }

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == shm_zone->tag
            && zone[i].shm.addr != shm_zone->shm.addr
            && zone[i].shm.name.len == shm_zone->shm.name.len
            && ngx_strncmp(zone[i].shm.name.data, shm_zone->shm.name.data,
                           shm_zone->shm.name.len) == 0)
        {
            return (ngx_slab_pool_t *) zone[i].shm.addr;
        }
    }
}


/*
 * A cluster's records from the old zone into the new, under the old
 * zone's lock (its workers still run): each node's facts, by identity, and
 * the last actions.  The session table is not carried over, so the slots
 * in it and the verdicts drawn from it start afresh.
 */
static void
ngx_http_cluster_zone_adopt(ngx_slab_pool_t *old,
    ngx_http_cluster_srv_conf_t *cscf)
{
    ngx_str_t                        identity;
    ngx_uint_t                       i, same_key;
    cluster_node_t                  *node;
    ngx_http_cluster_shctx_t        *sh;
    ngx_http_cluster_shm_node_t     *sn;
    ngx_http_cluster_shm_cluster_t  *c;

    sh = old->data;
    same_key = 0;

    ngx_shmtx_lock(&old->mutex);

    c = ngx_http_cluster_zone_find_cluster(sh, &cscf->upstream->host);

    if (c) {
        ngx_memcpy(cscf->shared->core.actions, c->core.actions,
                   sizeof(c->core.actions));
        cscf->shared->core.nactions = c->core.nactions;
        ngx_memcpy(cscf->shared->core.history, c->core.history,
                   sizeof(c->core.history));
        cscf->shared->core.nhistory = c->core.nhistory;
        cscf->shared->core.history_shared = c->core.history_shared;
        cscf->shared->core.cookies_forged = c->core.cookies_forged;
        cscf->shared->core.cookies_malformed = c->core.cookies_malformed;
        same_key = (ngx_strcmp(c->core.key_fingerprint,
                               cscf->shared->core.key_fingerprint) == 0);
    }

    ngx_shmtx_unlock(&old->mutex);

    if (c == NULL) {
        /* a cluster new with this reload: its nodes are all new */
        return;
    }

    for (i = 0; i < cscf->nmembers; i++) {
        node = cscf->cluster.nodes[i];

        if (node == NULL
            || ngx_http_cluster_zone_identity(cscf, i, &identity,
                                              ngx_cycle->log)
               != NGX_OK)
        {
            continue;
        }

        ngx_shmtx_lock(&old->mutex);

        sn = ngx_http_cluster_zone_find_node(sh, &identity,
                                             ngx_crc32_short(identity.data,
                                                             identity.len));
        if (sn) {
            cluster_node_adopt(node, &sn->facts);

            if (!same_key) {
                cluster_node_key_forget(node);
            }

        } else {
            /* added by this reload, to a cluster that runs */
            cluster_node_join(node, ngx_http_cluster_now());
        }

        ngx_shmtx_unlock(&old->mutex);

        ngx_free(identity.data);
    }
}


static ngx_int_t
ngx_http_cluster_zone_attach(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t *shpool, ngx_http_cluster_shctx_t *sh,
    ngx_http_cluster_srv_conf_t *cscf, int64_t now)
{
    size_t                         unplaced;
    ngx_str_t                      identity, *host;
    ngx_uint_t                     i, k, n, untracked, created;
    cluster_node_t                *node;

    host = &cscf->upstream->host;

    if (cscf->members == NULL) {
        /* another balancer took the upstream; the configuration fails */
        return NGX_OK;
    }

    ngx_shmtx_lock(&shpool->mutex);

    cscf->shpool = shpool;
    cscf->shared = ngx_http_cluster_zone_cluster(shpool, sh, host);

    if (cscf->shared) {
        /* it becomes the live one when its first worker starts */
        cscf->cluster.generation = cscf->shared->core.generation + 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (cscf->shared == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "cluster zone \"%V\" is too small for upstream \"%V\"",
                      &shm_zone->shm.name, host);
        return NGX_ERROR;
    }

    cscf->cluster.n = cscf->nmembers;
    cscf->cluster.shared = &cscf->shared->core;
    cscf->cluster.seal_key = cscf->seal_key;
    cscf->cluster.lock.lock = ngx_http_cluster_lock;
    cscf->cluster.lock.unlock = ngx_http_cluster_unlock;
    cscf->cluster.lock.data = shpool;

    untracked = 0;

    for (i = 0; i < cscf->nmembers; i++) {

        if (ngx_http_cluster_zone_identity(cscf, i, &identity,
                                           shm_zone->shm.log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_shmtx_lock(&shpool->mutex);

        node = ngx_http_cluster_zone_node(shpool, sh, &identity, now,
                                          &created);

        if (node) {
            node->backup = cscf->members[i].backup;

            if (created && cscf->cluster.generation > 1) {
                /* added by a reload, to a cluster that runs */
                cluster_node_join(node, now);
            }
        }

        ngx_shmtx_unlock(&shpool->mutex);

        ngx_free(identity.data);

        cscf->cluster.nodes[i] = node;

        if (node == NULL) {
            untracked++;
        }
    }

    if (cscf->probe_uri.len == 0 && cscf->shared->replays) {
        /* "probe=" gone: the sessions kept for it go too */
        ngx_shmtx_lock(&shpool->mutex);
        ngx_explicit_memzero(cscf->shared->replays,
                             CLUSTER_SESSION_NODES
                             * sizeof(cluster_replay_t));
        ngx_shmtx_unlock(&shpool->mutex);
    }

    if (cscf->sessions
        && ngx_http_cluster_zone_sessions(shm_zone, shpool, cscf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    unplaced = cluster_attach(&cscf->cluster,
                              ngx_http_cluster_key_used(cscf));

    if (unplaced) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                      "the key check between nodes covers %d nodes of "
                      "upstream \"%V\"; %uz are left out of it",
                      CLUSTER_SESSION_NODES, host, unplaced);
    }

    if (untracked) {
        ngx_log_error(NGX_LOG_ALERT, shm_zone->shm.log, 0,
                      "cluster zone \"%V\" is full: %ui of %ui nodes of "
                      "upstream \"%V\" are not tracked and are balanced by "
                      "plain round robin; make the zone larger",
                      &shm_zone->shm.name, untracked, cscf->nmembers, host);
    }

    /*
     * The peers as configured; the zone of a reloaded upstream may have
     * more already, resolved by the old one, which the workers map
     */
    for (k = 0; k < 2; k++) {
        for (n = 0; n < cscf->npeers[k]; n++) {
            cscf->peer_node[k][n] =
                cscf->cluster.nodes[cscf->peer_member[k][n]];
        }
    }

    return NGX_OK;
}


/*
 * The behavioural key check's session table, and the sessions kept for
 * "probe=", made once for a cluster.
 */
static ngx_int_t
ngx_http_cluster_zone_sessions(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t *shpool, ngx_http_cluster_srv_conf_t *cscf)
{
    size_t               size;
    cluster_sessions_t  *t;

    t = cscf->shared->sessions;

    if (t == NULL) {
        size = cluster_sessions_size((uint32_t) cscf->sessions);

        t = ngx_slab_alloc(shpool, size);

        if (t == NULL) {
            ngx_log_error(NGX_LOG_ALERT, shm_zone->shm.log, 0,
                          "cluster zone \"%V\" has no room for the %ui "
                          "sessions of upstream \"%V\" (%uz bytes): the "
                          "key check between nodes is off; make the zone "
                          "larger", &shm_zone->shm.name, cscf->sessions,
                          &cscf->upstream->host, size);
            return NGX_OK;
        }

        /* a random secret of the fingerprints: nobody can aim at a set */
        cluster_sessions_init(t, (uint32_t) cscf->sessions, NULL);

        cscf->shared->sessions = t;

    } else if (cluster_sessions_size((uint32_t) cscf->sessions)
               != cluster_sessions_size(t->nsets * CLUSTER_SESSION_WAYS))
    {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "the sessions of upstream \"%V\" keep their size "
                      "until nginx restarts", &cscf->upstream->host);
    }

    cscf->cluster.sessions = t;

    if (cscf->probe_uri.len && cscf->shared->replays == NULL) {
        size = CLUSTER_SESSION_NODES * sizeof(cluster_replay_t);

        cscf->shared->replays = ngx_slab_calloc(shpool, size);

        if (cscf->shared->replays == NULL) {
            ngx_log_error(NGX_LOG_ALERT, shm_zone->shm.log, 0,
                          "cluster zone \"%V\" has no room for the "
                          "active key check of upstream \"%V\" (%uz "
                          "bytes); make the zone larger",
                          &shm_zone->shm.name, &cscf->upstream->host, size);
        }
    }

    if (cscf->probe_uri.len) {
        cscf->cluster.replays = cscf->shared->replays;
    }

    return NGX_OK;
}


/* a node is known by its upstream and address, never by index */
static ngx_int_t
ngx_http_cluster_zone_identity(ngx_http_cluster_srv_conf_t *cscf,
    ngx_uint_t i, ngx_str_t *identity, ngx_log_t *log)
{
    u_char     *p;
    ngx_str_t  *host;

    host = &cscf->upstream->host;

    identity->len = host->len + 1 + cscf->members[i].id->len;
    identity->data = ngx_alloc(identity->len, log);
    if (identity->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(identity->data, host->data, host->len);
    *p++ = ' ';
    ngx_memcpy(p, cscf->members[i].id->data, cscf->members[i].id->len);

    return NGX_OK;
}


static ngx_http_cluster_shm_cluster_t *
ngx_http_cluster_zone_find_cluster(ngx_http_cluster_shctx_t *sh,
    ngx_str_t *name)
{
    ngx_queue_t                     *q;
    ngx_http_cluster_shm_cluster_t  *c;

    for (q = ngx_queue_head(&sh->clusters);
         q != ngx_queue_sentinel(&sh->clusters);
         q = ngx_queue_next(q))
    {
        c = ngx_queue_data(q, ngx_http_cluster_shm_cluster_t, queue);

        if (c->len == name->len
            && ngx_memcmp(c->name, name->data, name->len) == 0)
        {
            return c;
        }
    }

    return NULL;
}


static ngx_http_cluster_shm_cluster_t *
ngx_http_cluster_zone_cluster(ngx_slab_pool_t *shpool,
    ngx_http_cluster_shctx_t *sh, ngx_str_t *name)
{
    ngx_http_cluster_shm_cluster_t  *c;

    c = ngx_http_cluster_zone_find_cluster(sh, name);

    if (c) {
        return c;
    }

    c = ngx_slab_alloc_locked(shpool,
                              offsetof(ngx_http_cluster_shm_cluster_t, name)
                              + name->len);
    if (c == NULL) {
        return NULL;
    }

    ngx_memzero(&c->core, sizeof(cluster_shared_t));
    c->sessions = NULL;
    c->replays = NULL;
    c->len = (u_short) name->len;
    ngx_memcpy(c->name, name->data, name->len);

    ngx_queue_insert_tail(&sh->clusters, &c->queue);

    return c;
}


static ngx_http_cluster_shm_node_t *
ngx_http_cluster_zone_find_node(ngx_http_cluster_shctx_t *sh,
    ngx_str_t *identity, uint32_t hash)
{
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_cluster_shm_node_t  *sn;

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        sn = (ngx_http_cluster_shm_node_t *) node;

        rc = ngx_memn2cmp(identity->data, sn->identity, identity->len,
                          (size_t) sn->len);

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static cluster_node_t *
ngx_http_cluster_zone_node(ngx_slab_pool_t *shpool,
    ngx_http_cluster_shctx_t *sh, ngx_str_t *identity, int64_t now,
    ngx_uint_t *created)
{
    uint32_t                      hash;
    ngx_http_cluster_shm_node_t  *sn;

    hash = ngx_crc32_short(identity->data, identity->len);

    sn = ngx_http_cluster_zone_find_node(sh, identity, hash);

    *created = (sn == NULL);

    if (sn) {
        return &sn->facts;
    }

    sn = ngx_slab_alloc_locked(shpool,
                               offsetof(ngx_http_cluster_shm_node_t, identity)
                               + identity->len);
    if (sn == NULL) {
        return NULL;
    }

    sn->rbnode.key = hash;
    sn->len = (u_short) identity->len;
    ngx_memcpy(sn->identity, identity->data, identity->len);

    cluster_node_init(&sn->facts, now);

    ngx_rbtree_insert(&sh->rbtree, &sn->rbnode);

    return &sn->facts;
}


static void
ngx_http_cluster_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t            **p;
    ngx_http_cluster_shm_node_t   *sn, *snt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            sn = (ngx_http_cluster_shm_node_t *) node;
            snt = (ngx_http_cluster_shm_node_t *) temp;

            p = (ngx_memn2cmp(sn->identity, snt->identity, sn->len, snt->len)
                 < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* what the core's calls changed, in the log once the lock is given back */
void
ngx_http_cluster_report_events(ngx_http_cluster_srv_conf_t *cscf,
    cluster_events_t *ev, ngx_log_t *log)
{
    char                        text[512];
    size_t                      i;
    ngx_uint_t                  level;
    cluster_event_t            *e;
    cluster_log_level_e         lv;
    ngx_http_cluster_member_t  *m;

    for (i = 0; i < ev->n; i++) {
        e = &ev->event[i];
        m = (e->what == CLUSTER_EVENT_CHANGE) ? &cscf->members[e->node]
                                              : NULL;

        lv = cluster_event_text((const char *) cscf->upstream->host.data,
                                cscf->upstream->host.len,
                                m ? (const char *) m->name->data : NULL,
                                m ? m->name->len : 0,
                                m ? (const char *) m->id->data : NULL,
                                m ? m->id->len : 0, e, text, sizeof(text));

        level = (lv == CLUSTER_LOG_ALERT) ? NGX_LOG_ALERT
                : (lv == CLUSTER_LOG_WARN) ? NGX_LOG_WARN : NGX_LOG_NOTICE;

        ngx_log_error(level, log, 0, "%s", text);
    }

    if (ev->more) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cluster \"%V\": %uz changes more, not told; the "
                      "status has them", &cscf->upstream->host, ev->more);
    }

    ev->n = 0;
    ev->more = 0;
}


static void
ngx_http_cluster_lock(void *data)
{
    ngx_slab_pool_t  *shpool = data;

    ngx_shmtx_lock(&shpool->mutex);
}


static void
ngx_http_cluster_unlock(void *data)
{
    ngx_slab_pool_t  *shpool = data;

    ngx_shmtx_unlock(&shpool->mutex);
}
