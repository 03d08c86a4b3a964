
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


typedef enum {
    NGX_HTTP_CLUSTER_JSON = 0,
    NGX_HTTP_CLUSTER_HTML,
    NGX_HTTP_CLUSTER_PROMETHEUS
} ngx_http_cluster_format_e;


static ngx_http_cluster_format_e ngx_http_cluster_format(
    ngx_http_request_t *r);
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
    cluster_page_conf_t             page;
    cluster_status_cluster_t       *clusters;
    ngx_http_cluster_format_e       format;
    ngx_http_cluster_srv_conf_t   **cscfp;
    ngx_http_cluster_loc_conf_t    *clcf;
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

    format = ngx_http_cluster_format(r);

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_cluster_module);
    page.refresh = (unsigned) (clcf->refresh / 1000);

    /* a first guess; the renderer says when it needs more */
    size = 4096 + nodes * 2048;

    for ( ;; ) {
        b = ngx_create_temp_buf(r->pool, size);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        switch (format) {

        case NGX_HTTP_CLUSTER_HTML:
            need = cluster_page_html((char *) b->pos, size, clusters,
                                     cmcf->clusters.nelts, now,
                                     CLUSTER_VERSION, &page);
            break;

        case NGX_HTTP_CLUSTER_PROMETHEUS:
            need = cluster_page_prometheus((char *) b->pos, size, clusters,
                                           cmcf->clusters.nelts, now,
                                           CLUSTER_VERSION);
            break;

        default: /* NGX_HTTP_CLUSTER_JSON */
            need = cluster_status_json((char *) b->pos, size, clusters,
                                       cmcf->clusters.nelts, now,
                                       CLUSTER_VERSION);
        }

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

    switch (format) {

    case NGX_HTTP_CLUSTER_HTML:
        ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
        break;

    case NGX_HTTP_CLUSTER_PROMETHEUS:
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
        break;

    default: /* NGX_HTTP_CLUSTER_JSON */
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

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

    /* the format follows Accept when the query does not say */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Vary");
    ngx_str_set(&h->value, "Accept");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * "?format=json|html|prometheus" decides; without it, a client that asks
 * for text/html (a browser) gets the page, any other the JSON.
 */
static ngx_http_cluster_format_e
ngx_http_cluster_format(ngx_http_request_t *r)
{
    ngx_str_t         value;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK) {

        if (value.len == 4 && ngx_strncmp(value.data, "html", 4) == 0) {
            return NGX_HTTP_CLUSTER_HTML;
        }

        if (value.len == 10
            && ngx_strncmp(value.data, "prometheus", 10) == 0)
        {
            return NGX_HTTP_CLUSTER_PROMETHEUS;
        }

        return NGX_HTTP_CLUSTER_JSON;
    }

    /* the Accept header, whether nginx was built to keep it or not */

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 6
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept", 6) == 0
            && ngx_strlcasestrn(h[i].value.data,
                                h[i].value.data + h[i].value.len,
                                (u_char *) "text/html", 9 - 1)
               != NULL)
        {
            return NGX_HTTP_CLUSTER_HTML;
        }
    }

    return NGX_HTTP_CLUSTER_JSON;
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
