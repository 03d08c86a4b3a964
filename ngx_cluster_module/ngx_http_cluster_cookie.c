
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


/*
 * The cryptographic key check.  Every auth cookie a node sets (its name
 * matches "cluster_cookie name=") is opened with the cluster's key: one
 * that does not open proves the node's key differs.  A request that
 * carried a cookie the cluster's key opens, answered with a sign-in (401,
 * or a redirect to "login="), is a session lost.  Request cookies are only
 * opened when that matters: on such an answer, or for $cluster_key_check.
 */


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_int_t ngx_http_cluster_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_cluster_cookie_value(
    ngx_http_cluster_srv_conf_t *cscf, ngx_str_t *pair, ngx_str_t *value);
static ngx_uint_t ngx_http_cluster_cookie_named(
    ngx_http_cluster_srv_conf_t *cscf, ngx_str_t *name);


ngx_int_t
ngx_http_cluster_cookie_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_cluster_header_filter;

    return NGX_OK;
}


char *
ngx_http_cluster_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    u_char              *p, errstr[NGX_MAX_CONF_ERRSTR];
    ngx_int_t            n;
    ngx_str_t           *value;
    ngx_uint_t           i, j;
    ngx_regex_t        **re;
    ngx_regex_compile_t  rc;

    if (cscf->cookie_name) {
        return "is duplicate";
    }

    if (cluster_cookie_init() != 0) {
        /* the fingerprints of the sessions are libsodium's */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "libsodium failed to start");
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

        /* "name=a name=b": the same parameter twice */
        p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        for (j = 1; p && j < i; j++) {
            if (ngx_strncmp(value[j].data, value[i].data,
                            p + 1 - value[i].data) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        if (ngx_strncmp(value[i].data, "sessions=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n < 16 || n > 1048576) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\", expected "
                                   "\"sessions=\" a number from 16 to "
                                   "1048576", &value[i]);
                return NGX_CONF_ERROR;
            }

            cscf->sessions = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "probe=", 6) == 0) {
            cscf->probe_uri.data = value[i].data + 6;
            cscf->probe_uri.len = value[i].len - 6;
            cscf->probe_file = cf->conf_file->file.name.data;
            cscf->probe_line = cf->conf_file->line;

            if (ngx_http_cluster_uri_valid(&cscf->probe_uri) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\", expected "
                                   "\"probe=\" a path that starts with "
                                   "\"/\", without spaces or controls",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            re = &cscf->cookie_name;
            rc.pattern.data = value[i].data + 5;
            rc.pattern.len = value[i].len - 5;

        } else if (ngx_strncmp(value[i].data, "login=", 6) == 0) {
            re = &cscf->login;
            rc.pattern.data = value[i].data + 6;
            rc.pattern.len = value[i].len - 6;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"name=\", \"login=\", \"sessions=\" or "
                               "\"probe=\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc.pattern.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty regular expression in \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        rc.pool = cf->pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (ngx_regex_compile(&rc) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid regular expression in \"%V\": %V",
                               &value[i], &rc.err);
            return NGX_CONF_ERROR;
        }

        *re = rc.regex;

        if (re == &cscf->cookie_name) {
            /* a name without metacharacters is compared, not matched */
            cscf->cookie_literal.data = ngx_pnalloc(cf->pool,
                                                    rc.pattern.len);
            if (cscf->cookie_literal.data == NULL) {
                return NGX_CONF_ERROR;
            }

            cscf->cookie_literal.len = cluster_cookie_literal(
                                           (const char *) rc.pattern.data,
                                           rc.pattern.len,
                                           (char *) cscf->cookie_literal.data,
                                           rc.pattern.len);

            if (cscf->cookie_literal.len == 0) {
                cscf->name_cache = ngx_pcalloc(cf->pool,
                                       NGX_HTTP_CLUSTER_NAMES
                                       * sizeof(ngx_http_cluster_name_cache_t));
                if (cscf->name_cache == NULL) {
                    return NGX_CONF_ERROR;
                }
            }
        }
    }

    if (cscf->cookie_name == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_cookie\" needs \"name=\", a regular "
                           "expression of the auth cookie's name");
        return NGX_CONF_ERROR;
    }

    if (cscf->sessions == 0) {
        cscf->sessions = CLUSTER_SESSIONS;
    }

    /* each worker has its own, in its copy of the configuration */
    cscf->copies = ngx_pcalloc(cf->pool,
                               CLUSTER_COPIES * sizeof(cluster_copy_t));
    if (cscf->copies == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


/*
 * At the choice of a node: the request's auth cookie, its session, and
 * the key class of the node that set it, for the balancer to keep to.
 */
void
ngx_http_cluster_cookie_peer(ngx_http_request_t *r,
    ngx_http_cluster_peer_data_t *cp)
{
    ngx_str_t                     pair, value;
    ngx_table_elt_t              *h;
    ngx_http_cluster_srv_conf_t  *cscf;
#if (nginx_version < 1023000)
    ngx_uint_t                    i;
    ngx_table_elt_t             **cookies;
#endif

    cscf = cp->conf;

    if (cscf->cookie_name == NULL) {
        return;
    }

    if (cp->auth == NULL) {
        return;
    }

    /* the Cookie headers, as nginx keeps them */

#if (nginx_version >= 1023000)
    for (h = r->headers_in.cookie; h; h = h->next) {
#else
    cookies = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        h = cookies[i];
#endif

        /* "a=1; NAME=VALUE; b=2": each pair in turn */

        pair = h->value;

        while (pair.len) {
            if (ngx_http_cluster_cookie_value(cscf, &pair, &value) == NGX_OK)
            {
                goto found;
            }
        }
    }

    return;

found:

    cp->auth->name = (const char *) pair.data;
    cp->auth->name_len = pair.len;
    cp->auth->value = (const char *) value.data;
    cp->auth->value_len = value.len;

    cluster_request_session(&cscf->cluster, cp->auth, cscf->copies,
                            ngx_http_cluster_now());

    cp->key_class = cp->auth->key_class;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cluster auth cookie, key class: %ui", cp->key_class);
}


/*
 * The node's answer: the auth cookies it sets and whether it sends the
 * user to sign in are read here; what they prove is the core's.
 */
static ngx_int_t
ngx_http_cluster_header_filter(ngx_http_request_t *r)
{
    int                            rc;
    ngx_str_t                      name, value;
    ngx_uint_t                     matched;
    ngx_table_elt_t               *h, *location;
    cluster_events_t               ev;
    cluster_answer_t               a;
    ngx_http_cluster_walk_t        walk;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_cluster_peer_data_t  *cp;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    if (cp == NULL || cp->node == NULL || cp->auth == NULL) {
        return ngx_http_next_header_filter(r);
    }

    cscf = cp->conf;

    cluster_answer_init(&a, (unsigned) r->headers_out.status);

    ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));

    while ((h = ngx_http_cluster_header_next(&r->headers_out.headers,
                                             "Set-Cookie", 10, &walk)))
    {
        name = h->value;

        if (ngx_http_cluster_cookie_value(cscf, &name, &value) != NGX_OK) {
            continue;
        }

        rc = cluster_answer_cookie(&cscf->cluster, &a,
                                   (const char *) name.data, name.len,
                                   (const char *) value.data, value.len);

        if (rc == CLUSTER_COOKIE_MALFORMED) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "cluster cookie set is not a v1 cookie");
        }
    }

    matched = 0;

    if (cscf->login && cluster_redirect(a.status)) {
        location = r->headers_out.location;

        if (location == NULL) {
            /* nginx keeps a relative one out of headers_out.location */
            ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));
            location = ngx_http_cluster_header_next(&r->headers_out.headers,
                                                    "Location", 8, &walk);
        }

        matched = location
                  && ngx_regex_exec(cscf->login, &location->value, NULL, 0)
                     >= 0;
    }

    a.sign_in = cluster_sign_in(a.status, (int) matched);

    ev.n = 0;
    ev.more = 0;

    cluster_answer_done(&cscf->cluster, cp->index, cp->auth, &a,
                        ngx_http_cluster_now(), &ev);

    ngx_http_cluster_report(cscf, &ev, r->connection->log);

    return ngx_http_next_header_filter(r);
}


/*
 * Whether a node's answer sends the user to sign in: 401, or a redirect
 * whose Location matches "login=".
 */
ngx_uint_t
ngx_http_cluster_sign_in(ngx_http_cluster_srv_conf_t *cscf, ngx_uint_t status,
    ngx_str_t *location)
{
    ngx_uint_t  matched;

    matched = cscf->login && location && cluster_redirect((unsigned) status)
              && ngx_regex_exec(cscf->login, location, NULL, 0) >= 0;

    return cluster_sign_in((unsigned) status, (int) matched);
}


/* $cluster_key_check: does the request's auth cookie open with the key? */
cluster_key_check_e
ngx_http_cluster_key_check(ngx_http_request_t *r)
{
    cluster_key_check_e            rc;
    ngx_http_cluster_peer_data_t  *cp;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    if (cp == NULL || cp->auth == NULL) {
        return CLUSTER_KEY_CHECK_NONE;
    }

    rc = cluster_request_key(&cp->conf->cluster, cp->auth,
                             ngx_http_cluster_now());

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cluster auth cookie, key check: %d", rc);

    return rc;
}


/*
 * Takes the first "name=value" pair off "pair" (up to ';'), leaving the
 * rest there; NGX_OK when its name is the auth cookie's, with "pair" then
 * holding the name and "value" the value.
 */
static ngx_int_t
ngx_http_cluster_cookie_value(ngx_http_cluster_srv_conf_t *cscf,
    ngx_str_t *pair, ngx_str_t *value)
{
    int          found;
    size_t       name_len, value_len;
    ngx_str_t    name;
    const char  *p, *n, *v;

    p = (const char *) pair->data;

    found = cluster_cookie_pair(&p, (const char *) pair->data + pair->len,
                                &n, &name_len, &v, &value_len);

    /* the rest, for the next call */
    pair->len -= (u_char *) p - pair->data;
    pair->data = (u_char *) p;

    if (!found) {
        return NGX_DECLINED;
    }

    name.data = (u_char *) n;
    name.len = name_len;

    if (!ngx_http_cluster_cookie_named(cscf, &name)) {
        return NGX_DECLINED;
    }

    value->data = (u_char *) v;
    value->len = value_len;

    *pair = name;

    return NGX_OK;
}


/*
 * Whether a cookie's whole name is the auth cookie's: compared with the
 * one name the expression matches, or matched by it once per name this
 * worker saw, the answer kept.
 */
static ngx_uint_t
ngx_http_cluster_cookie_named(ngx_http_cluster_srv_conf_t *cscf,
    ngx_str_t *name)
{
    int                             captures[3];
    ngx_uint_t                      match;
    ngx_http_cluster_name_cache_t  *nc;

    if (cscf->cookie_literal.len) {
        return name->len == cscf->cookie_literal.len
               && ngx_memcmp(name->data, cscf->cookie_literal.data,
                             name->len) == 0;
    }

    nc = NULL;

    if (name->len <= NGX_HTTP_CLUSTER_NAME_LEN) {
        nc = &cscf->name_cache[ngx_hash_key(name->data, name->len)
                               % NGX_HTTP_CLUSTER_NAMES];

        if (nc->len == name->len
            && ngx_memcmp(nc->name, name->data, name->len) == 0)
        {
            return nc->match;
        }
    }

    /* the whole name must match, not a part of it */

    match = ngx_regex_exec(cscf->cookie_name, name, captures, 3) >= 0
            && captures[0] == 0 && (size_t) captures[1] == name->len;

    if (nc) {
        nc->len = (u_char) name->len;
        nc->match = (u_char) match;
        ngx_memcpy(nc->name, name->data, name->len);
    }

    return match;
}

