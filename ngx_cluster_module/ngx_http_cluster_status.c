
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


static ngx_int_t ngx_http_cluster_snapshot(ngx_http_request_t *r,
    ngx_http_cluster_srv_conf_t *cscf, cluster_status_cluster_t *c,
    int64_t now);


ngx_int_t
ngx_http_cluster_status_handler(ngx_http_request_t *r)
{
    size_t                          size, need;
    int64_t                         now;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, nodes;
    ngx_chain_t                     out;
    ngx_table_elt_t                *h;
    cluster_status_cluster_t       *clusters;
    ngx_http_cluster_srv_conf_t   **cscfp;
    ngx_http_cluster_main_conf_t   *cmcf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cluster status handler");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cluster_module);

    cscfp = cmcf->clusters.elts;
    nodes = 0;

    clusters = ngx_palloc(r->pool, (cmcf->clusters.nelts + 1)
                                   * sizeof(cluster_status_cluster_t));
    if (clusters == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_http_cluster_now();

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        if (ngx_http_cluster_snapshot(r, cscfp[i], &clusters[i], now)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        nodes += clusters[i].n;
    }

    /* a first guess; the renderer says when it needs more */
    size = 1024 + nodes * 1024;

    for ( ;; ) {
        b = ngx_create_temp_buf(r->pool, size);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        need = cluster_status_json((char *) b->pos, size, clusters,
                                   cmcf->clusters.nelts, now,
                                   CLUSTER_VERSION);
        if (need <= size) {
            break;
        }

        size = need;
    }

    b->last = b->pos + need;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = need;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    /* the status is live: no cache in between may keep it */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* copies a cluster's nodes out of the zone, fresh, under its lock */
static ngx_int_t
ngx_http_cluster_snapshot(ngx_http_request_t *r,
    ngx_http_cluster_srv_conf_t *cscf, cluster_status_cluster_t *c,
    int64_t now)
{
    ngx_uint_t                  i;
    cluster_status_node_t      *sn;
    ngx_http_cluster_member_t  *m;

    sn = ngx_pcalloc(r->pool, (cscf->nmembers + 1)
                              * sizeof(cluster_status_node_t));
    if (sn == NULL) {
        return NGX_ERROR;
    }

    c->name = (const char *) cscf->upstream->host.data;
    c->name_len = cscf->upstream->host.len;
    c->settings = cscf->settings;
    c->messenger_port = cscf->check == 1 ? (unsigned) cscf->messenger : 0;
    c->nodes = sn;
    c->n = cscf->nmembers;

    for (i = 0; i < cscf->nmembers; i++) {
        m = &cscf->members[i];

        sn[i].id = (const char *) m->id->data;
        sn[i].id_len = m->id->len;
        sn[i].name = (const char *) m->name->data;
        sn[i].name_len = m->name->len;
        sn[i].weight = (unsigned) m->weight;
        sn[i].backup = m->backup;
    }

    ngx_shmtx_lock(&cscf->shpool->mutex);

    ngx_http_cluster_evaluate_all(cscf, now, r->connection->log);

    c->panic = (int) cscf->shared->panic;
    ngx_memcpy(c->release, cscf->shared->release, sizeof(c->release));

    for (i = 0; i < cscf->nmembers; i++) {
        if (cscf->nodes[i]) {
            sn[i].facts = *cscf->nodes[i];
            sn[i].tracked = 1;
        }
    }

    ngx_shmtx_unlock(&cscf->shpool->mutex);

    return NGX_OK;
}
