
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


static void *ngx_http_cluster_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_cluster_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_cluster_create_srv_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_cluster_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_cluster_init_process(ngx_cycle_t *cycle);

static char *ngx_http_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_cluster_heartbeat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cluster_eject(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_cluster_mark(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf);

static ngx_int_t ngx_http_cluster_node_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_cluster_node_state_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_command_t  ngx_http_cluster_commands[] = {

    { ngx_string("cluster"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_cluster,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_heartbeat"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE12,
      ngx_http_cluster_heartbeat,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_eject"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_cluster_eject,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_cluster_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_cluster_module_ctx = {
    ngx_http_cluster_add_variables,        /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_cluster_create_main_conf,     /* create main configuration */
    ngx_http_cluster_init_main_conf,       /* init main configuration */

    ngx_http_cluster_create_srv_conf,      /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_cluster_module = {
    NGX_MODULE_V1,
    &ngx_http_cluster_module_ctx,          /* module context */
    ngx_http_cluster_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_cluster_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_cluster_vars[] = {

    { ngx_string("cluster_node"), NULL,
      ngx_http_cluster_node_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("cluster_node_state"), NULL,
      ngx_http_cluster_node_state_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static void *
ngx_http_cluster_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_cluster_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_cluster_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&cmcf->clusters, cf->pool, 4,
                       sizeof(ngx_http_cluster_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return cmcf;
}


static char *
ngx_http_cluster_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_uint_t                      i;
    ngx_http_cluster_srv_conf_t    *cscf;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->srv_conf == NULL) {
            /* an implicit upstream of proxy_pass with an address */
            continue;
        }

        cscf = ngx_http_conf_upstream_srv_conf(uscfp[i],
                                               ngx_http_cluster_module);

        if (cscf->shm_zone
            && uscfp[i]->peer.init_upstream != ngx_http_cluster_init_upstream)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "upstream \"%V\" has \"cluster\" and another load "
                          "balancing method after it in %s:%ui; a cluster "
                          "balances by itself",
                          &uscfp[i]->host, cscf->file, cscf->line);
            return NGX_CONF_ERROR;
        }

        if (cscf->file && cscf->shm_zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"cluster_*\" directives in upstream \"%V\" need "
                          "\"cluster zone=NAME:SIZE\" in the same upstream "
                          "in %s:%ui",
                          &uscfp[i]->host, cscf->file, cscf->line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_cluster_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_cluster_srv_conf_t));
    if (cscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cscf->shm_zone = NULL;
     *     cscf->members = NULL;
     *     cscf->file = NULL;
     */

    cscf->interval = NGX_CONF_UNSET_MSEC;
    cscf->stale = NGX_CONF_UNSET_MSEC;
    cscf->eject = NGX_CONF_UNSET_UINT;

    return cscf;
}


static ngx_int_t
ngx_http_cluster_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_http_cluster_srv_conf_t   **cscfp;
    ngx_http_cluster_main_conf_t   *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_cluster_module);

    if (cmcf == NULL) {
        return NGX_OK;
    }

    cscfp = cmcf->clusters.elts;

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        if (cscfp[i]->shared) {
            ngx_http_cluster_zone_go_live(cscfp[i]);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_cluster_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void
ngx_http_cluster_mark(ngx_conf_t *cf, ngx_http_cluster_srv_conf_t *cscf)
{
    /* remember where the cluster was first configured, for later errors */
    if (cscf->file == NULL) {
        cscf->file = cf->conf_file->file.name.data;
        cscf->line = cf->conf_file->line;
    }
}


static char *
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

    ngx_http_cluster_mark(cf, cscf);

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "load balancing method redefined");
    }

    cscf->upstream = uscf;

    uscf->peer.init_upstream = ngx_http_cluster_init_upstream;

    uscf->flags = NGX_HTTP_UPSTREAM_CREATE
                  |NGX_HTTP_UPSTREAM_WEIGHT
                  |NGX_HTTP_UPSTREAM_MAX_CONNS
                  |NGX_HTTP_UPSTREAM_MAX_FAILS
                  |NGX_HTTP_UPSTREAM_FAIL_TIMEOUT
                  |NGX_HTTP_UPSTREAM_DOWN
                  |NGX_HTTP_UPSTREAM_BACKUP;

    return NGX_CONF_OK;
}


static char *
ngx_http_cluster_heartbeat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    ngx_str_t           *value, s;
    ngx_msec_t          *field, t, interval, stale;
    ngx_uint_t           i;
    cluster_settings_t   defaults;

    if (cscf->interval != NGX_CONF_UNSET_MSEC
        || cscf->stale != NGX_CONF_UNSET_MSEC)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            field = &cscf->interval;
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

        } else if (ngx_strncmp(value[i].data, "stale=", 6) == 0) {
            field = &cscf->stale;
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"interval=TIME\" or \"stale=TIME\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (*field != NGX_CONF_UNSET_MSEC) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        t = ngx_parse_time(&s, 0);

        if (t == (ngx_msec_t) NGX_ERROR || t < 100) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\", expected a time "
                               "of at least 100ms such as 30s or 5m",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        *field = t;
    }

    cluster_settings_default(&defaults);

    interval = (cscf->interval != NGX_CONF_UNSET_MSEC)
               ? cscf->interval : (ngx_msec_t) defaults.interval;
    stale = (cscf->stale != NGX_CONF_UNSET_MSEC)
            ? cscf->stale : (ngx_msec_t) defaults.stale;

    if (stale <= interval) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"stale\" (%M) must be longer than \"interval\" "
                           "(%M)", stale, interval);
        return NGX_CONF_ERROR;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


static char *
ngx_http_cluster_eject(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    uint32_t     finding;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (cscf->eject != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cscf->eject = 0;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        ngx_http_cluster_mark(cf, cscf);
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        finding = cluster_finding_parse((const char *) value[i].data,
                                        value[i].len);

        if ((finding & CLUSTER_FINDING_EJECTABLE) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", expected \"stale\", "
                               "\"down\", \"key_mismatch\", \"version_skew\", "
                               "\"service_down\" or a single \"off\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        cscf->eject |= finding;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


static char *
ngx_http_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *hlcf;

    hlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (hlcf->handler == ngx_http_cluster_status_handler) {
        return "is duplicate";
    }

    hlcf->handler = ngx_http_cluster_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_cluster_node_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_cluster_peer_data_t  *cp;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    if (cp == NULL || cp->name == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = cp->name->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = cp->name->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_node_state_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                    *state;
    ngx_http_cluster_peer_data_t  *cp;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    if (cp == NULL || cp->name == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    state = cp->node ? cluster_state_name(cp->state) : "untracked";

    v->len = ngx_strlen(state);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) state;

    return NGX_OK;
}
