
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


static char *ngx_http_cluster_check_number(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_uint_t min, ngx_uint_t max, ngx_uint_t *n);
static char *ngx_http_cluster_parse_time(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, int64_t min, int64_t max, ngx_msec_t *t);
static u_char *ngx_http_cluster_time_text(u_char *p, u_char *last,
    int64_t ms);


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


char *
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


char *
ngx_http_cluster_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    u_char              *dash;
    ngx_str_t           *value, s;
    ngx_uint_t           i, min, max;
    cluster_settings_t   defaults;

    if (cscf->check != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    cscf->check = 1;

    cluster_settings_default(&defaults);
    cluster_check_conf_default(&cscf->expect);

    ngx_str_set(&cscf->check_uri, CLUSTER_CHECK_URI);
    cscf->check_timeout = (ngx_msec_t) defaults.timeout;
    cscf->rise = NGX_CONF_UNSET_UINT;
    cscf->fall = NGX_CONF_UNSET_UINT;
    cscf->messenger = 0;
    cscf->mandatory = 0;

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
            cscf->expect.fallback = (s.len == sizeof(CLUSTER_CHECK_URI) - 1
                                     && ngx_strncmp(s.data, CLUSTER_CHECK_URI,
                                                    s.len) == 0);
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


char *
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


char *
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
