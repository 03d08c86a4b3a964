
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


/*
 * The directives of an upstream's cluster (cluster_key, cluster_cookie and
 * cluster_state_file have files of their own): each parses its arguments
 * into the upstream's configuration, bounds every number, and says file,
 * line and what was expected when it cannot.
 */


typedef int (*ngx_http_cluster_parse_pt)(cluster_conf_t *cc,
    const cluster_word_t *w, size_t n, char *err);


static char *ngx_http_cluster_conf_parse(ngx_conf_t *cf, cluster_conf_t *cc,
    ngx_http_cluster_parse_pt parse);
static char *ngx_http_cluster_check_ssl(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf);


void
ngx_http_cluster_mark(ngx_conf_t *cf, ngx_http_cluster_srv_conf_t *cscf)
{
    /* remember where the cluster was first configured, for later errors */
    if (cscf->file == NULL) {
        cscf->file = cf->conf_file->file.name.data;
        cscf->line = cf->conf_file->line;
    }
}


char *
ngx_http_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    u_char                         *p;
    ssize_t                         size;
    ngx_str_t                      *value, name, s;
    ngx_http_cluster_srv_conf_t   **cscfp;
    ngx_http_cluster_main_conf_t   *cmcf;
    ngx_http_upstream_srv_conf_t   *uscf;

    if (cscf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"zone=NAME:SIZE\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;

    p = (u_char *) ngx_strchr(name.data, ':');

    if (p == NULL || p == name.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected \"zone=NAME:SIZE\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.len = p - name.data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\", expected a size "
                           "such as 1m", &s);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small, the minimum is %uzk",
                           &name, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    cscf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_cluster_module);
    if (cscf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_cluster_module);

    /* a zone may hold several clusters; each finds its part by name */
    cscf->shm_zone->init = ngx_http_cluster_init_zone;
    cscf->shm_zone->data = cmcf;

    cscfp = ngx_array_push(&cmcf->clusters);
    if (cscfp == NULL) {
        return NGX_CONF_ERROR;
    }

    *cscfp = cscf;
    cscf->main = cmcf;

    ngx_http_cluster_mark(cf, cscf);

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    cscf->upstream = uscf;

    /*
     * The cluster is no balancing method: it leaves the upstream's
     * initialisation and the server parameters to the method, written
     * before or after it, and wraps what the method made once it ran.
     */

    return NGX_CONF_OK;
}


char *
ngx_http_cluster_heartbeat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    cluster_conf_t  *cc = &cscf->conf;

    if (cscf->interval != NGX_CONF_UNSET_MSEC
        || cscf->stale != NGX_CONF_UNSET_MSEC)
    {
        return "is duplicate";
    }

    if (ngx_http_cluster_conf_parse(cf, cc, cluster_conf_heartbeat)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (cc->interval != CLUSTER_CONF_UNSET) {
        cscf->interval = (ngx_msec_t) cc->interval;
    }

    if (cc->stale != CLUSTER_CONF_UNSET) {
        cscf->stale = (ngx_msec_t) cc->stale;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


char *
ngx_http_cluster_eject(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    cluster_conf_t  *cc = &cscf->conf;

    if (cscf->eject != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (ngx_http_cluster_conf_parse(cf, cc, cluster_conf_eject)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    cscf->eject = (ngx_uint_t) cc->eject;

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


char *
ngx_http_cluster_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    cluster_conf_t  *cc = &cscf->conf;

    if (cscf->check != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (ngx_http_cluster_conf_parse(cf, cc, cluster_conf_check)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    cscf->check = 1;
    cscf->check_uri.data = (u_char *) cc->uri.data;
    cscf->check_uri.len = cc->uri.len;
    cscf->check_timeout = (ngx_msec_t) cc->timeout;
    cscf->rise = (cc->rise != CLUSTER_CONF_UNSET) ? (ngx_uint_t) cc->rise
                                                 : NGX_CONF_UNSET_UINT;
    cscf->fall = (cc->fall != CLUSTER_CONF_UNSET) ? (ngx_uint_t) cc->fall
                                                 : NGX_CONF_UNSET_UINT;
    cscf->messenger = cc->messenger;
    cscf->mandatory = cc->mandatory;
    cscf->expect = cc->expect;

    if (cc->ssl && ngx_http_cluster_check_ssl(cf, cscf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


/*
 * The TLS of the checks, nginx's own: a client context of TLS 1.2 and 1.3,
 * and with ssl_verify=on the certificates it trusts; the verdict on the
 * node's certificate is read after each handshake, to say why a check
 * failed.
 */
static char *
ngx_http_cluster_check_ssl(ngx_conf_t *cf, ngx_http_cluster_srv_conf_t *cscf)
{
#if (NGX_HTTP_SSL)
    ngx_str_t            file;
    ngx_pool_cleanup_t  *cln;

    cscf->check_ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (cscf->check_ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    cscf->check_ssl->log = cf->log;

    if (ngx_ssl_create(cscf->check_ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3,
                       NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(cscf->check_ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = cscf->check_ssl;

    if (cscf->conf.ssl_verify) {
        file.data = (u_char *) cscf->conf.ssl_trusted.data;
        file.len = cscf->conf.ssl_trusted.len;

        if (ngx_ssl_trusted_certificate(cf, cscf->check_ssl, &file, 4)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"ssl\" needs nginx built with "
                       "--with-http_ssl_module");
    return NGX_CONF_ERROR;

#endif
}


/*
 * The directive's parameters, parsed by the core's parser, which bounds
 * every number and says what was expected; nginx adds the file and line.
 */
static char *
ngx_http_cluster_conf_parse(ngx_conf_t *cf, cluster_conf_t *cc,
    ngx_http_cluster_parse_pt parse)
{
    char             err[CLUSTER_CONF_ERROR];
    ngx_str_t       *value;
    ngx_uint_t       i, n;
    cluster_word_t  *w;

    value = cf->args->elts;
    n = cf->args->nelts - 1;

    w = ngx_palloc(cf->temp_pool, (n + 1) * sizeof(cluster_word_t));
    if (w == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        w[i].data = (const char *) value[i + 1].data;
        w[i].len = value[i + 1].len;
    }

    if (parse(cc, w, n, err) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_cluster_slow_start(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    cluster_conf_t  *cc = &cscf->conf;

    if (cscf->slow_start != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    if (ngx_http_cluster_conf_parse(cf, cc, cluster_conf_slow_start)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    cscf->slow_start = (ngx_msec_t) cc->slow_start;

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


char *
ngx_http_cluster_node_name(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    char                      err[CLUSTER_CONF_ERROR];
    ngx_str_t                *value;
    ngx_uint_t                i;
    cluster_word_t            w[2];
    ngx_http_cluster_name_t  *nm;

    value = cf->args->elts;

    w[0].data = (const char *) value[1].data;
    w[0].len = value[1].len;
    w[1].data = (const char *) value[2].data;
    w[1].len = value[2].len;

    if (cluster_conf_node_name(&w[0], &w[1], err) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    if (cscf->names == NULL) {
        cscf->names = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_cluster_name_t));
        if (cscf->names == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    nm = cscf->names->elts;

    for (i = 0; i < cscf->names->nelts; i++) {
        if (nm[i].server.len == value[1].len
            && ngx_strncmp(nm[i].server.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"cluster_node_name\" for the "
                               "server \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    nm = ngx_array_push(cscf->names);
    if (nm == NULL) {
        return NGX_CONF_ERROR;
    }

    nm->server = value[1];
    nm->name = value[2];
    nm->file = cf->conf_file->file.name.data;
    nm->line = cf->conf_file->line;

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}
