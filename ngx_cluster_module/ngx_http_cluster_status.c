
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include "ngx_http_cluster.h"


static cluster_format_e ngx_http_cluster_format(ngx_http_request_t *r);
static ngx_int_t ngx_http_cluster_snapshot(ngx_http_request_t *r,
    ngx_http_cluster_srv_conf_t *cscf, cluster_status_cluster_t *c,
    int64_t now);
static char *ngx_http_cluster_read_token(ngx_conf_t *cf, ngx_str_t *name,
    u_char *digest);


ngx_int_t
ngx_http_cluster_status_handler(ngx_http_request_t *r)
{
    char                            db_error[160];
    size_t                          size, need, base;
    int64_t                         now;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_str_t                       path;
    ngx_uint_t                      i, nodes;
    cluster_db_view_t               db;
    cluster_page_conf_t             page;
    ngx_http_core_loc_conf_t       *hlcf;
    cluster_status_cluster_t       *clusters;
    cluster_format_e                format;
    ngx_http_cluster_srv_conf_t   **cscfp;
    ngx_http_cluster_loc_conf_t    *clcf;
    ngx_http_cluster_main_conf_t   *cmcf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cluster status handler");

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* <location>/nodes/<id>/<action>: an operator's action */

    base = hlcf->name.len;

    if (base && hlcf->name.data[base - 1] == '/') {
        base--;
    }

    if (r->uri.len > base + 7
        && ngx_strncmp(r->uri.data + base, "/nodes/", 7) == 0)
    {
        path.data = r->uri.data + base + 7;
        path.len = r->uri.len - base - 7;

        return ngx_http_cluster_admin(r, &path);
    }

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

    if (cmcf->db) {
        ngx_http_cluster_database_view(cmcf->db, &db, db_error,
                                       sizeof(db_error));

        if (ngx_http_cluster_database_views(cmcf->db, r->pool, clusters,
                                            cmcf->clusters.nelts, now)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    format = ngx_http_cluster_format(r);

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_cluster_module);
    page.refresh = (unsigned) (clcf->refresh / 1000);
    page.admin = clcf->admin;
    page.base = (const char *) hlcf->name.data;
    page.base_len = base;
    page.db = cmcf->db ? &db : NULL;

    /* a first guess; the renderer says when it needs more */
    size = 4096 + nodes * 2048;

    for ( ;; ) {
        b = ngx_create_temp_buf(r->pool, size);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        switch (format) {

        case CLUSTER_FORMAT_HTML:
            need = cluster_page_html((char *) b->pos, size, clusters,
                                     cmcf->clusters.nelts, now,
                                     CLUSTER_VERSION, &page);
            break;

        case CLUSTER_FORMAT_PROMETHEUS:
            need = cluster_page_prometheus((char *) b->pos, size, clusters,
                                           cmcf->clusters.nelts, now,
                                           CLUSTER_VERSION,
                                           cmcf->db ? &db : NULL);
            break;

        default: /* CLUSTER_FORMAT_JSON */
            need = cluster_status_json((char *) b->pos, size, clusters,
                                       cmcf->clusters.nelts, now,
                                       CLUSTER_VERSION,
                                       cmcf->db ? &db : NULL);
        }

        if (need <= size) {
            break;
        }

        size = need;
    }

    b->last = b->pos + need;

    /*
     * The status is live: no cache in between may keep it; its format
     * follows Accept when the query does not say; and the page's buttons
     * act, so no other site may frame it.
     */

    if (ngx_http_cluster_add_header(r, "Cache-Control", "no-store") != NGX_OK
        || ngx_http_cluster_add_header(r, "Vary", "Accept") != NGX_OK
        || ngx_http_cluster_add_header(r, "Content-Security-Policy",
                                       "frame-ancestors 'none'") != NGX_OK
        || ngx_http_cluster_add_header(r, "X-Frame-Options", "DENY")
           != NGX_OK
        || ngx_http_cluster_add_header(r, "X-Content-Type-Options", "nosniff")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (format) {

    case CLUSTER_FORMAT_HTML:
        return ngx_http_cluster_send(r, NGX_HTTP_OK,
                                     "text/html; charset=utf-8", b);

    case CLUSTER_FORMAT_PROMETHEUS:
        return ngx_http_cluster_send(r, NGX_HTTP_OK,
                                 "text/plain; version=0.0.4; charset=utf-8", b);

    default: /* CLUSTER_FORMAT_JSON */
        return ngx_http_cluster_send(r, NGX_HTTP_OK, "application/json", b);
    }
}


/* the query's format= and the Accept headers, for the core's rule */
static cluster_format_e
ngx_http_cluster_format(ngx_http_request_t *r)
{
    size_t                    n, len[8];
    ngx_str_t                 value;
    ngx_int_t                 has;
    const char               *accept[8];
    ngx_table_elt_t          *h;
    ngx_http_cluster_walk_t   walk;

    has = (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK);

    /* the Accept headers, whether nginx was built to keep them or not */

    n = 0;
    ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));

    while (n < 8
           && (h = ngx_http_cluster_header_next(&r->headers_in.headers,
                                                "Accept", 6, &walk)))
    {
        accept[n] = (const char *) h->value.data;
        len[n++] = h->value.len;
    }

    return cluster_page_format(has ? (const char *) value.data : NULL,
                               has ? value.len : 0, accept, len, n);
}


/* copies a cluster's nodes out of the zone, fresh, under its lock */
static ngx_int_t
ngx_http_cluster_snapshot(ngx_http_request_t *r,
    ngx_http_cluster_srv_conf_t *cscf, cluster_status_cluster_t *c,
    int64_t now)
{
    ngx_uint_t                  i;
    cluster_events_t            ev;
    cluster_status_node_t      *sn;
    ngx_http_cluster_member_t  *m;

    sn = ngx_pcalloc(r->pool, (cscf->nmembers + 1)
                              * sizeof(cluster_status_node_t));
    if (sn == NULL) {
        return NGX_ERROR;
    }

    c->name = (const char *) cscf->upstream->host.data;
    c->name_len = cscf->upstream->host.len;
    c->settings = cscf->cluster.settings;
    c->messenger_port = cscf->check == 1 ? (unsigned) cscf->messenger : 0;
    c->key_fingerprint = cscf->key ? cscf->key_fingerprint : NULL;
    c->nodes = sn;
    c->n = cscf->nmembers;
    c->instances = NULL;            /* the database's, if any, later */
    c->ninstances = 0;
    c->instance = NULL;

    for (i = 0; i < cscf->nmembers; i++) {
        m = &cscf->members[i];

        sn[i].id = (const char *) m->id->data;
        sn[i].id_len = m->id->len;
        sn[i].name = (const char *) m->name->data;
        sn[i].name_len = m->name->len;
        sn[i].weight = (unsigned) m->weight;
        sn[i].backup = m->backup;
    }

    c->crypto_check = (cscf->key && cscf->cookie_name);

    ev.n = 0;
    ev.more = 0;

    cluster_snapshot(&cscf->cluster, now, c, &ev);

    ngx_http_cluster_report(cscf, &ev, r->connection->log);

    /* the table is followed only with "cluster_cookie" */
    c->cross_check = c->cross_check && cscf->cookie_name;

    return NGX_OK;
}


char *
ngx_http_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_loc_conf_t  *clcf = conf;

    ngx_str_t                 *value, s;
    ngx_int_t                  t;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *hlcf;

    hlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (hlcf->handler == ngx_http_cluster_status_handler) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            t = ngx_parse_time(&s, 1);

            if (t == NGX_ERROR || t > 86400) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid time in \"%V\", expected "
                                   "seconds such as 10s, at most a day, or "
                                   "0 for none",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            clcf->refresh = (ngx_msec_t) t * 1000;
            continue;
        }

        if (ngx_strcmp(value[i].data, "admin=on") == 0) {
            clcf->admin = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "admin=off") == 0) {
            clcf->admin = 0;
            continue;
        }

        if (ngx_strncmp(value[i].data, "token_file=", 11) == 0) {
            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            if (ngx_http_cluster_read_token(cf, &s, clcf->token_digest)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            clcf->token = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"refresh=\", \"admin=on\", \"admin=off\" or "
                           "\"token_file=\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (clcf->token == 1 && clcf->admin != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"token_file=\" goes with \"admin=on\"");
        return NGX_CONF_ERROR;
    }

    if (clcf->admin == 1
        && (hlcf->named || hlcf->noname || hlcf->exact_match
#if (NGX_PCRE)
            || hlcf->regex
#endif
           ))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"admin=on\" needs a prefix location, such as "
                           "\"location /cluster\", for the actions' paths "
                           "under it");
        return NGX_CONF_ERROR;
    }

    clcf->status = 1;

    hlcf->handler = ngx_http_cluster_status_handler;

    return NGX_CONF_OK;
}


/*
 * The admin token: the file's first line, kept from every log and message;
 * a file that others may read is refused, as a key would be.
 */
static char *
ngx_http_cluster_read_token(ngx_conf_t *cf, ngx_str_t *name, u_char *digest)
{
    u_char           *p, *last, text[1024];
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_sha1_t        sha1;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open the token file \"%V\"", name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot stat the token file \"%V\"", name);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    if (ngx_file_access(&fi) & 0006) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the token file \"%V\" is readable or writable "
                           "by others, expected a mode such as 0600 or 0640",
                           name);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    p = text;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    n = ngx_read_file(&file, p, sizeof(text), 0);

    (void) ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    last = p;

    while (last < p + n && *last != CR && *last != LF) {
        last++;
    }

    if (last == p + sizeof(text)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the token in \"%V\" is too long, expected a "
                           "first line of less than 1024 characters", name);
        ngx_explicit_memzero(text, sizeof(text));
        return NGX_CONF_ERROR;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (last - p < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the token in \"%V\" is too short, expected at "
                           "least 16 characters on its first line", name);
        ngx_explicit_memzero(text, sizeof(text));
        return NGX_CONF_ERROR;
    }

    /* only its digest is kept; the token itself is wiped */

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, p, last - p);
    ngx_sha1_final(digest, &sha1);

    ngx_explicit_memzero(text, sizeof(text));

    return NGX_CONF_OK;
}
