
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


static void *ngx_http_cluster_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_cluster_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_cluster_module_conf(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, char *name);
static void *ngx_http_cluster_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_cluster_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_cluster_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_cluster_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_cluster_init_process(ngx_cycle_t *cycle);
static void ngx_http_cluster_exit_process(ngx_cycle_t *cycle);

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

    { ngx_string("cluster_database"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_cluster_database,
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
         * its method, sticky and keepalive: the cluster wraps what they
         * made.  keepalive and sticky are known by their configurations
         * of the upstream, to find the method's data inside theirs.
         */

        if (cscf->shm_zone) {
            cscf->keepalive = ngx_http_cluster_module_conf(cf, uscfp[i],
                                         "ngx_http_upstream_keepalive_module");
            cscf->sticky = ngx_http_cluster_module_conf(cf, uscfp[i],
                                            "ngx_http_upstream_sticky_module");

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


/*
 * A module's configuration of an upstream, by the module's name; NULL
 * without the module (sticky came in nginx 1.29.6)
 */
static void *
ngx_http_cluster_module_conf(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, char *name)
{
    ngx_uint_t  i;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (cf->cycle->modules[i]->type == NGX_HTTP_MODULE
            && ngx_strcmp(cf->cycle->modules[i]->name, name) == 0)
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

    cluster_conf_init(&cscf->conf);

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

    ngx_conf_merge_msec_value(conf->refresh, prev->refresh,
                              CLUSTER_PAGE_REFRESH);
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

    if (cmcf->db
        && (ngx_process == NGX_PROCESS_WORKER
            || ngx_process == NGX_PROCESS_SINGLE))
    {
        return ngx_http_cluster_database_init_process(cycle, cmcf->db);
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
    ngx_uint_t                      i;
    ngx_http_cluster_srv_conf_t   **cscfp;
    ngx_http_cluster_main_conf_t   *cmcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_cluster_module);

    if (cmcf == NULL) {
        return;
    }

    if (cmcf->state_file.len && cmcf->clusters.nelts && ngx_worker == 0) {
        ngx_http_cluster_state_save(cmcf, cycle->log);
    }

    cscfp = cmcf->clusters.elts;

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        ngx_http_cluster_peer_spares_free(cscfp[i]);
    }

    if (cmcf->db) {
        ngx_http_cluster_database_exit_process(cmcf->db);
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


static ngx_int_t
ngx_http_cluster_node_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                     *name;
    ngx_http_cluster_peer_data_t  *cp;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    name = cp ? ngx_http_cluster_peer_name(cp) : NULL;

    if (name == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = name->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = name->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_node_state_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                    *state;
    ngx_http_cluster_peer_data_t  *cp;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    if (cp == NULL || cp->index == NGX_HTTP_CLUSTER_NO_MEMBER) {
        v->not_found = 1;
        return NGX_OK;
    }

    state = cp->node ? cluster_state_name((cluster_state_e) cp->state)
                     : "untracked";

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
