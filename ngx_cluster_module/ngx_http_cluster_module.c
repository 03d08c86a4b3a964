
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include "ngx_http_cluster.h"


static void *ngx_http_cluster_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_cluster_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_cluster_keepalive_conf(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf);
static void *ngx_http_cluster_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_cluster_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_cluster_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_cluster_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_cluster_init_process(ngx_cycle_t *cycle);
static void ngx_http_cluster_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_cluster_heartbeat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cluster_eject(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cluster_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cluster_check_number(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_uint_t min, ngx_uint_t max, ngx_uint_t *n);
static char *ngx_http_cluster_parse_time(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, int64_t min, int64_t max, ngx_msec_t *t);
static u_char *ngx_http_cluster_time_text(u_char *p, u_char *last,
    int64_t ms);
static char *ngx_http_cluster_slow_start(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cluster_node_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_cluster_read_token(ngx_conf_t *cf, ngx_str_t *name,
    u_char *digest);
static char *ngx_http_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static ngx_int_t ngx_http_cluster_node_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_cluster_node_state_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_cluster_key_check_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_command_t  ngx_http_cluster_commands[] = {

    { ngx_string("cluster"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_cluster,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_heartbeat"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
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

    { ngx_string("cluster_check"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_cluster_check,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_slow_start"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_cluster_slow_start,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_key"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_cluster_key,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_cookie"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_cluster_cookie,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_node_name"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE2,
      ngx_http_cluster_node_name,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_state_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_cluster_state_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cluster_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_cluster_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_cluster_module_ctx = {
    ngx_http_cluster_add_variables,        /* preconfiguration */
    ngx_http_cluster_cookie_init,          /* postconfiguration */

    ngx_http_cluster_create_main_conf,     /* create main configuration */
    ngx_http_cluster_init_main_conf,       /* init main configuration */

    ngx_http_cluster_create_srv_conf,      /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_cluster_create_loc_conf,      /* create location configuration */
    ngx_http_cluster_merge_loc_conf        /* merge location configuration */
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
    ngx_http_cluster_exit_process,         /* exit process */
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

    { ngx_string("cluster_key_check"), NULL,
      ngx_http_cluster_key_check_variable, 0,
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

    cmcf->cycle = cf->cycle;

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

        /*
         * The upstream module initialised every upstream before this, by
         * its method and keepalive: the cluster wraps what they made.
         * keepalive is known by its configuration of the upstream, to
         * find the method's data inside its own.
         */

        if (cscf->shm_zone) {
            cscf->keepalive = ngx_http_cluster_keepalive_conf(cf, uscfp[i]);

            if (ngx_http_cluster_init_upstream(cf, uscfp[i]) != NGX_OK) {
                return NGX_CONF_ERROR;
            }
        }

        if (cscf->probe_uri.len && cscf->check != 1) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"cluster_cookie probe=\" in upstream \"%V\" "
                          "needs \"cluster_check\" in the same upstream "
                          "in %s:%ui",
                          &uscfp[i]->host, cscf->probe_file,
                          cscf->probe_line);
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


/* keepalive's configuration of an upstream; NULL without the module */
static void *
ngx_http_cluster_keepalive_conf(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_uint_t  i;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (cf->cycle->modules[i]->type == NGX_HTTP_MODULE
            && ngx_strcmp(cf->cycle->modules[i]->name,
                          "ngx_http_upstream_keepalive_module") == 0)
        {
            return uscf->srv_conf[cf->cycle->modules[i]->ctx_index];
        }
    }

    return NULL;
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
     *     cscf->cookie_name = NULL;
     *     cscf->sessions = 0;
     *     cscf->file = NULL;
     */

    cscf->interval = NGX_CONF_UNSET_MSEC;
    cscf->stale = NGX_CONF_UNSET_MSEC;
    cscf->eject = NGX_CONF_UNSET_UINT;
    cscf->slow_start = NGX_CONF_UNSET_MSEC;
    cscf->check = NGX_CONF_UNSET;

    return cscf;
}


static void *
ngx_http_cluster_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_cluster_loc_conf_t  *clcf;

    clcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_cluster_loc_conf_t));
    if (clcf == NULL) {
        return NULL;
    }

    clcf->refresh = NGX_CONF_UNSET_MSEC;
    clcf->admin = NGX_CONF_UNSET;
    clcf->status = NGX_CONF_UNSET;
    clcf->token = NGX_CONF_UNSET;

    return clcf;
}


static char *
ngx_http_cluster_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_cluster_loc_conf_t  *prev = parent;
    ngx_http_cluster_loc_conf_t  *conf = child;

    ngx_http_core_loc_conf_t  *hlcf;

    ngx_conf_merge_msec_value(conf->refresh, prev->refresh, 10000);
    ngx_conf_merge_value(conf->admin, prev->admin, 0);
    ngx_conf_merge_value(conf->status, prev->status, 0);

    if (conf->token == NGX_CONF_UNSET) {
        conf->token = (prev->token == NGX_CONF_UNSET) ? 0 : prev->token;
        ngx_memcpy(conf->token_digest, prev->token_digest, 20);
    }

    /*
     * Within "limit_except", the status location's own configuration is
     * the limit's, and has no handler: give it one, as proxy_pass does.
     */

    hlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->status && hlcf->lmt_excpt && hlcf->handler == NULL) {
        hlcf->handler = ngx_http_cluster_status_handler;
    }

    return NGX_CONF_OK;
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
        if (cscfp[i]->shared == NULL) {
            continue;
        }

        cluster_go_live(&cscfp[i]->cluster);

        if (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE)
        {
            /* the cache manager and loader check nothing */
            continue;
        }

        if (ngx_http_cluster_check_init_process(cycle, cscfp[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The state file's writer, the first worker, writes it once more as it
 * exits; not the master, which runs as root.
 */
static void
ngx_http_cluster_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_cluster_main_conf_t  *cmcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_cluster_module);

    if (cmcf && cmcf->state_file.len && cmcf->clusters.nelts
        && ngx_worker == 0)
    {
        ngx_http_cluster_state_save(cmcf, cycle->log);
    }
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


void
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


static char *
ngx_http_cluster_heartbeat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    u_char              *p, *last, text[64];
    size_t               skip;
    int64_t              max;
    ngx_str_t           *value;
    ngx_msec_t          *field, interval, stale;
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
            skip = 9;
            max = CLUSTER_INTERVAL_MAX;

        } else if (ngx_strncmp(value[i].data, "stale=", 6) == 0) {
            field = &cscf->stale;
            skip = 6;
            max = CLUSTER_STALE_MAX;

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

        if (ngx_http_cluster_parse_time(cf, &value[i], skip, CLUSTER_TIME_MIN,
                                        max, field)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    cluster_settings_default(&defaults);

    interval = (cscf->interval != NGX_CONF_UNSET_MSEC)
               ? cscf->interval : (ngx_msec_t) defaults.interval;
    stale = (cscf->stale != NGX_CONF_UNSET_MSEC)
            ? cscf->stale : (ngx_msec_t) defaults.stale;

    if (stale <= interval) {
        p = ngx_http_cluster_time_text(text, text + sizeof(text) / 2,
                                       (int64_t) stale);
        last = ngx_http_cluster_time_text(p, text + sizeof(text),
                                          (int64_t) interval);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"stale\" (%*s) must be longer than "
                           "\"interval\" (%*s)", (size_t) (p - text), text,
                           (size_t) (last - p), p);
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
ngx_http_cluster_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    u_char      *dash;
    ngx_str_t   *value, s;
    ngx_uint_t   i, min, max;

    if (cscf->check != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    cscf->check = 1;

    ngx_str_set(&cscf->check_uri, "/health/json");
    cscf->check_timeout = 5000;
    cscf->rise = NGX_CONF_UNSET_UINT;
    cscf->fall = NGX_CONF_UNSET_UINT;
    cscf->messenger = 0;
    cscf->mandatory = 0;
    cscf->expect.expect_min = 200;
    cscf->expect.expect_max = 299;
    cscf->expect.fallback = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "uri=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (ngx_http_cluster_uri_valid(&s) != NGX_OK) {
                goto invalid_uri;
            }

            cscf->check_uri = s;

            /* only the default URI falls back to the older /health */
            cscf->expect.fallback = (s.len == 12
                                     && ngx_strncmp(s.data, "/health/json",
                                                    12) == 0);
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            if (ngx_http_cluster_parse_time(cf, &value[i], 8,
                                            CLUSTER_TIME_MIN,
                                            CLUSTER_TIMEOUT_MAX,
                                            &cscf->check_timeout)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rise=", 5) == 0) {
            if (ngx_http_cluster_check_number(cf, &value[i], 5, 1,
                                              CLUSTER_RISE_MAX, &cscf->rise)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fall=", 5) == 0) {
            if (ngx_http_cluster_check_number(cf, &value[i], 5, 1,
                                              CLUSTER_RISE_MAX, &cscf->fall)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "messenger=", 10) == 0) {
            if (ngx_http_cluster_check_number(cf, &value[i], 10, 1, 65535,
                                              &cscf->messenger)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "expect=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            dash = ngx_strlchr(s.data, s.data + s.len, '-');

            min = (ngx_uint_t) ngx_atoi(s.data, dash ? (size_t) (dash - s.data)
                                                     : s.len);
            max = dash ? (ngx_uint_t) ngx_atoi(dash + 1,
                                               s.data + s.len - dash - 1)
                       : min;

            if (min < 100 || max > 599 || min > max) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid status range in \"%V\", "
                                   "expected \"expect=200-399\" or a single "
                                   "status, from 100 to 599", &value[i]);
                return NGX_CONF_ERROR;
            }

            cscf->expect.expect_min = (unsigned) min;
            cscf->expect.expect_max = (unsigned) max;
            continue;
        }

        if (ngx_strcmp(value[i].data, "mandatory") == 0) {
            cscf->mandatory = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected \"uri=\", "
                           "\"timeout=\", \"rise=\", \"fall=\", "
                           "\"messenger=\", \"expect=\" or \"mandatory\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;

invalid_uri:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid URI in \"%V\", expected a path that starts "
                       "with \"/\" and has no spaces", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_cluster_check_number(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    ngx_uint_t min, ngx_uint_t max, ngx_uint_t *n)
{
    ngx_int_t  v;

    v = ngx_atoi(value->data + skip, value->len - skip);

    if (v == NGX_ERROR || (ngx_uint_t) v < min || (ngx_uint_t) v > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value in \"%V\", expected a number "
                           "from %ui to %ui", value, min, max);
        return NGX_CONF_ERROR;
    }

    *n = (ngx_uint_t) v;

    return NGX_CONF_OK;
}


/*
 * A time after "skip" bytes of a parameter, in min .. max ms: every time
 * of the settings is bounded here, so that no sum of them overflows.
 */
static char *
ngx_http_cluster_parse_time(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    int64_t min, int64_t max, ngx_msec_t *t)
{
    u_char     *p, text[64];
    ngx_int_t   ms;
    ngx_str_t   s;

    s.data = value->data + skip;
    s.len = value->len - skip;

    ms = ngx_parse_time(&s, 0);

    if (ms != NGX_ERROR && ms >= min && ms <= max) {
        *t = (ngx_msec_t) ms;
        return NGX_CONF_OK;
    }

    p = ngx_cpymem(text, "of at least ", 12);
    p = ngx_http_cluster_time_text(p, text + sizeof(text), min);
    p = ngx_slprintf(p, text + sizeof(text), " and at most ");
    p = ngx_http_cluster_time_text(p, text + sizeof(text), max);

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid time in \"%V\", expected a time %*s%s",
                       value, (size_t) (p - text), text,
                       min ? "" : " (0: none)");

    return NGX_CONF_ERROR;
}


/* a bound as nginx writes times: "1d", "5m", "100ms" */
static u_char *
ngx_http_cluster_time_text(u_char *p, u_char *last, int64_t ms)
{
    ngx_uint_t  i;

    static struct {
        int64_t      ms;
        const char  *unit;
    } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }
    };

    if (ms == 0) {
        return ngx_slprintf(p, last, "0");
    }

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms % units[i].ms == 0) {
            return ngx_slprintf(p, last, "%L%s", ms / units[i].ms,
                                units[i].unit);
        }
    }

    return ngx_slprintf(p, last, "%Lms", ms);
}


static char *
ngx_http_cluster_slow_start(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    ngx_str_t  *value;

    if (cscf->slow_start != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_cluster_parse_time(cf, &value[1], 0, 0,
                                    CLUSTER_SLOW_START_MAX, &cscf->slow_start)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


static char *
ngx_http_cluster_node_name(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    u_char                   *p;
    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_http_cluster_name_t  *nm;

    value = cf->args->elts;

    if (value[1].len == 0 || value[2].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid empty %s, expected \"cluster_node_name "
                           "ADDRESS NAME\"",
                           value[1].len ? "name" : "address");
        return NGX_CONF_ERROR;
    }

    for (p = value[2].data; p < value[2].data + value[2].len; p++) {
        if (*p < ' ' || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid name \"%V\", expected printable "
                               "text", &value[2]);
            return NGX_CONF_ERROR;
        }
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


static char *
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


static ngx_int_t
ngx_http_cluster_key_check_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char  *check;

    switch (ngx_http_cluster_key_check(r)) {
    case CLUSTER_KEY_CHECK_OK:
        check = "ok";
        break;
    case CLUSTER_KEY_CHECK_MISMATCH:
        check = "mismatch";
        break;
    default:
        check = "none";
    }

    v->len = ngx_strlen(check);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) check;

    return NGX_OK;
}


/*
 * The next header named "name" in the list, from where the walk stopped
 * (a walk of zeros starts it); NULL when there is no more.  Deleted
 * headers (hash 0) are passed over.
 */
/* a path to send in a request line: "/...", no blanks or controls */
ngx_int_t
ngx_http_cluster_uri_valid(ngx_str_t *uri)
{
    u_char  *p;

    if (uri->len == 0 || uri->data[0] != '/') {
        return NGX_DECLINED;
    }

    for (p = uri->data; p < uri->data + uri->len; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_cluster_header_next(ngx_list_t *headers, const char *name,
    size_t len, ngx_http_cluster_walk_t *walk)
{
    ngx_table_elt_t  *h;

    if (walk->part == NULL) {
        walk->part = &headers->part;
        walk->i = 0;
    }

    for ( ;; ) {

        if (walk->i >= walk->part->nelts) {
            if (walk->part->next == NULL) {
                return NULL;
            }

            walk->part = walk->part->next;
            walk->i = 0;
            continue;
        }

        h = (ngx_table_elt_t *) walk->part->elts + walk->i++;

        if (h->hash != 0 && h->key.len == len
            && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0)
        {
            return h;
        }
    }
}
