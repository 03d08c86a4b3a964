
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"
#include "cluster_change.h"
#include "cluster_pick.h"


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
static void ngx_http_cluster_log_change(ngx_http_cluster_srv_conf_t *cscf,
    ngx_http_cluster_member_t *member, cluster_change_t *change,
    ngx_log_t *log);
static void ngx_http_cluster_update_panic(ngx_http_cluster_srv_conf_t *cscf,
    ngx_log_t *log);


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
        ngx_memcpy(cscf->shared->actions, c->actions, sizeof(c->actions));
        cscf->shared->nactions = c->nactions;
        cscf->shared->cookies_forged = c->cookies_forged;
        cscf->shared->cookies_malformed = c->cookies_malformed;
        same_key = (ngx_strcmp(c->key_fingerprint,
                               cscf->shared->key_fingerprint) == 0);
    }

    ngx_shmtx_unlock(&old->mutex);

    if (c == NULL) {
        /* a cluster new with this reload: its nodes are all new */
        return;
    }

    for (i = 0; i < cscf->nmembers; i++) {
        node = cscf->nodes[i];

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
    ngx_str_t                      identity, *host;
    ngx_uint_t                     i, k, n, untracked, created;
    ngx_http_upstream_rr_peers_t  *peers;

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
        cscf->generation = cscf->shared->generation + 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (cscf->shared == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "cluster zone \"%V\" is too small for upstream \"%V\"",
                      &shm_zone->shm.name, host);
        return NGX_ERROR;
    }

    untracked = 0;

    for (i = 0; i < cscf->nmembers; i++) {

        if (ngx_http_cluster_zone_identity(cscf, i, &identity,
                                           shm_zone->shm.log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_shmtx_lock(&shpool->mutex);

        cscf->nodes[i] = ngx_http_cluster_zone_node(shpool, sh, &identity, now,
                                                    &created);

        if (cscf->nodes[i]) {
            cscf->nodes[i]->backup = cscf->members[i].backup;

            if (created && cscf->generation > 1) {
                /* added by a reload, to a cluster that runs */
                cluster_node_join(cscf->nodes[i], now);
            }
        }

        ngx_shmtx_unlock(&shpool->mutex);

        ngx_free(identity.data);

        if (cscf->nodes[i] == NULL) {
            untracked++;
        }
    }

    ngx_shmtx_lock(&shpool->mutex);

    if (ngx_strcmp(cscf->shared->key_fingerprint,
                   ngx_http_cluster_key_used(cscf))
        != 0)
    {
        /* another cluster_key: the verdicts of the old one say nothing */
        for (i = 0; i < cscf->nmembers; i++) {
            if (cscf->nodes[i]) {
                cluster_node_key_forget(cscf->nodes[i]);
            }
        }

        ngx_cpystrn((u_char *) cscf->shared->key_fingerprint,
                    (u_char *) ngx_http_cluster_key_used(cscf),
                    sizeof(cscf->shared->key_fingerprint));
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (cscf->probe_uri.len == 0 && cscf->shared->cookies) {
        /* "probe=" gone: the sessions kept for it go too */
        ngx_shmtx_lock(&shpool->mutex);
        ngx_explicit_memzero(cscf->shared->cookies,
                             CLUSTER_SESSION_NODES
                             * sizeof(ngx_http_cluster_shm_cookie_t));
        ngx_shmtx_unlock(&shpool->mutex);
    }

    if (cscf->sessions) {
        if (ngx_http_cluster_zone_sessions(shm_zone, shpool, cscf) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        /* no "cluster_cookie" now: what the check found goes with it */
        ngx_shmtx_lock(&shpool->mutex);

        for (i = 0; i < cscf->nmembers; i++) {
            if (cscf->nodes[i]) {
                cscf->nodes[i]->key_cross = CLUSTER_KEY_UNKNOWN;
                cscf->nodes[i]->key_class = 0;
            }
        }

        ngx_shmtx_unlock(&shpool->mutex);
    }

    if (untracked) {
        ngx_log_error(NGX_LOG_ALERT, shm_zone->shm.log, 0,
                      "cluster zone \"%V\" is full: %ui of %ui nodes of "
                      "upstream \"%V\" are not tracked and are balanced by "
                      "plain round robin; make the zone larger",
                      &shm_zone->shm.name, untracked, cscf->nmembers, host);
    }

    peers = cscf->upstream->peer.data;

    for (k = 0; k < 2 && peers; k++, peers = peers->next) {
        for (n = 0; n < peers->number; n++) {
            cscf->peer_node[k][n] = cscf->nodes[cscf->peer_member[k][n]];
        }
    }

    return NGX_OK;
}


/*
 * The behavioural key check's session table, made once for a cluster, and
 * a place in it for each node that has none yet.
 */
static ngx_int_t
ngx_http_cluster_zone_sessions(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t *shpool, ngx_http_cluster_srv_conf_t *cscf)
{
    size_t               size;
    ngx_uint_t           i, unplaced;
    cluster_node_t      *node;
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

    if (cscf->probe_uri.len && cscf->shared->cookies == NULL) {
        size = CLUSTER_SESSION_NODES * sizeof(ngx_http_cluster_shm_cookie_t);

        cscf->shared->cookies = ngx_slab_calloc(shpool, size);

        if (cscf->shared->cookies == NULL) {
            ngx_log_error(NGX_LOG_ALERT, shm_zone->shm.log, 0,
                          "cluster zone \"%V\" has no room for the "
                          "active key check of upstream \"%V\" (%uz "
                          "bytes); make the zone larger",
                          &shm_zone->shm.name, &cscf->upstream->host, size);
        }
    }

    unplaced = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < cscf->nmembers; i++) {
        node = cscf->nodes[i];

        if (node == NULL || node->slot != CLUSTER_SLOT_NONE) {
            continue;
        }

        if (t->nslots < CLUSTER_SESSION_NODES) {
            node->slot = (uint8_t) t->nslots++;

        } else {
            unplaced++;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (unplaced) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                      "the key check between nodes covers %d nodes of "
                      "upstream \"%V\"; %ui are left out of it",
                      CLUSTER_SESSION_NODES, &cscf->upstream->host, unplaced);
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

    c->panic = 0;
    c->clear = 0;
    c->generation = 0;
    c->release[0] = '\0';
    c->nactions = 0;
    c->dirty = 0;
    c->next_evaluation = 0;
    c->sessions = NULL;
    c->cookies_forged = 0;
    c->cookies_malformed = 0;
    c->cookies = NULL;
    c->key_fingerprint[0] = '\0';
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


/*
 * Evaluates every node of the cluster when it is due; the caller does not
 * hold the zone's lock.
 */
void
ngx_http_cluster_evaluate(ngx_http_cluster_srv_conf_t *cscf, int64_t now,
    ngx_log_t *log)
{
    if (now < cscf->shared->next_evaluation
        || cscf->generation != cscf->shared->generation)
    {
        return;
    }

    ngx_shmtx_lock(&cscf->shpool->mutex);

    if (now < cscf->shared->next_evaluation) {
        /* another worker was quicker */
        ngx_shmtx_unlock(&cscf->shpool->mutex);
        return;
    }

    ngx_http_cluster_evaluate_all(cscf, now, log);

    ngx_shmtx_unlock(&cscf->shpool->mutex);
}


/*
 * The caller holds the zone's lock.  Only the live configuration judges:
 * workers of an older one, still finishing their requests after a reload,
 * record facts but never states, which they would judge by old settings.
 */
void
ngx_http_cluster_evaluate_all(ngx_http_cluster_srv_conf_t *cscf, int64_t now,
    ngx_log_t *log)
{
    ngx_uint_t         i;
    cluster_node_t    *node;
    cluster_change_t   change;

    if (cscf->generation != cscf->shared->generation) {
        return;
    }

    cscf->shared->next_evaluation = now + NGX_HTTP_CLUSTER_EVALUATE_EVERY;

    cluster_version_sync(cscf->nodes, cscf->nmembers, cscf->shared->release,
                         sizeof(cscf->shared->release));

    if (cscf->sessions && cscf->shared->sessions) {
        cluster_key_classes(cscf->shared->sessions, cscf->nodes,
                            cscf->nmembers, cscf->settings.stale, now);
    }

    for (i = 0; i < cscf->nmembers; i++) {
        node = cscf->nodes[i];

        if (node && cluster_node_evaluate(node, &cscf->settings, now, &change))
        {
            ngx_http_cluster_log_change(cscf, &cscf->members[i], &change, log);
        }
    }

    ngx_http_cluster_update_panic(cscf, log);
}


/*
 * Evaluates one node after a new fact about it; the caller holds the
 * zone's lock.
 */
void
ngx_http_cluster_evaluate_node(ngx_http_cluster_srv_conf_t *cscf,
    cluster_node_t *node, int64_t now, ngx_log_t *log)
{
    ngx_uint_t        i;
    cluster_change_t  change;

    if (cscf->generation != cscf->shared->generation
        || !cluster_node_evaluate(node, &cscf->settings, now, &change))
    {
        return;
    }

    for (i = 0; i < cscf->nmembers; i++) {
        if (cscf->nodes[i] == node) {
            ngx_http_cluster_log_change(cscf, &cscf->members[i], &change,
                                        log);
            break;
        }
    }

    if (change.old_in_rotation != change.new_in_rotation) {
        ngx_http_cluster_update_panic(cscf, log);
    }
}


static void
ngx_http_cluster_log_change(ngx_http_cluster_srv_conf_t *cscf,
    ngx_http_cluster_member_t *member, cluster_change_t *change,
    ngx_log_t *log)
{
    u_char      text[256];
    size_t      len;
    ngx_str_t   empty;
    ngx_uint_t  same, level;

    ngx_str_null(&empty);

    /* a node named by its address is not named twice */
    same = !ngx_http_cluster_member_named(member);

    len = cluster_change_text(change, (char *) text, sizeof(text));
    level = (cluster_change_level(change) == CLUSTER_LOG_WARN)
            ? NGX_LOG_WARN : NGX_LOG_NOTICE;

    cscf->shared->dirty = 1;

    ngx_log_error(level, log, 0,
                  "cluster \"%V\" node \"%V\"%s%V%s %*s",
                  &cscf->upstream->host, member->name,
                  same ? "" : " (", same ? &empty : member->id,
                  same ? "" : ")", len, text);
}


/* the caller holds the zone's lock */
static void
ngx_http_cluster_update_panic(ngx_http_cluster_srv_conf_t *cscf,
    ngx_log_t *log)
{
    ngx_uint_t       i, panic;
    cluster_node_t  *node;

    /* the balancer leaves a clear cluster's tries to the method alone */
    cscf->shared->clear = cluster_pick_clear(cscf->nodes, cscf->nmembers,
                                             &cscf->settings,
                                             ngx_http_cluster_now());

    panic = cluster_panic(cscf->nodes, cscf->nmembers);

    if (panic == cscf->shared->panic) {
        return;
    }

    cscf->shared->panic = panic;

    if (panic) {
        for (i = 0; i < cscf->nmembers; i++) {
            node = cscf->nodes[i];

            if (node && (node->findings & ~CLUSTER_FINDING_UNCHECKED
                         & cluster_settings_out(&cscf->settings)))
            {
                break;
            }
        }

        if (i == cscf->nmembers) {
            /* only "mandatory" checks not yet passed: a start, not a fault */
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "cluster \"%V\" waits for its first checks, "
                          "routing to every node meanwhile",
                          &cscf->upstream->host);
            return;
        }

        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "cluster \"%V\" is in panic: no node is in rotation, "
                      "routing to every node not removed or drained",
                      &cscf->upstream->host);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "cluster \"%V\" left panic: a node is back in rotation",
                      &cscf->upstream->host);
    }
}


/*
 * A worker of a new configuration makes it the live one; a reload that
 * failed started no worker and changed nothing.
 */
void
ngx_http_cluster_zone_go_live(ngx_http_cluster_srv_conf_t *cscf)
{
    ngx_shmtx_lock(&cscf->shpool->mutex);

    if (cscf->generation > cscf->shared->generation) {
        cscf->shared->generation = cscf->generation;
        cscf->shared->next_evaluation = 0;
    }

    ngx_shmtx_unlock(&cscf->shpool->mutex);
}
