
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"
#include <sodium.h>

#include "cluster_cookie.h"


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
static void ngx_http_cluster_cookie_copy(ngx_http_cluster_peer_data_t *cp,
    ngx_http_cluster_copy_t *c);
static cluster_cookie_rc_e ngx_http_cluster_cookie_open(
    ngx_http_cluster_srv_conf_t *cscf, ngx_str_t *name, ngx_str_t *value,
    time_t *expires);


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
        cscf->sessions = NGX_HTTP_CLUSTER_SESSIONS;
    }

    /* each worker has its own, in its copy of the configuration */
    cscf->copies = ngx_pcalloc(cf->pool, NGX_HTTP_CLUSTER_COPIES
                                         * sizeof(ngx_http_cluster_copy_t));
    if (cscf->copies == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


/*
 * At the choice of a node: the request's auth cookie, its fingerprint,
 * and the key class of the node that set it, for the balancer to keep to.
 */
void
ngx_http_cluster_cookie_peer(ngx_http_request_t *r,
    ngx_http_cluster_peer_data_t *cp)
{
    int64_t                       now;
    ngx_str_t                     pair, value;
    ngx_table_elt_t              *h;
    cluster_session_t            *s;
    cluster_sessions_t           *t;
    ngx_http_cluster_copy_t      *c;
    ngx_http_cluster_srv_conf_t  *cscf;
#if (nginx_version < 1023000)
    ngx_uint_t                    i;
    ngx_table_elt_t             **cookies;
#endif

    cscf = cp->conf;

    if (cscf->cookie_name == NULL) {
        return;
    }

    cp->auth = ngx_pcalloc(r->pool, sizeof(ngx_http_cluster_auth_t));
    if (cp->auth == NULL) {
        /* the key check says nothing of this request; it is served */
        return;
    }

    cp->auth->key_check = NGX_HTTP_CLUSTER_KEY_UNASKED;

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

    cp->auth->cookie_name = pair;
    cp->auth->cookie = value;

    t = cscf->shared->sessions;

    if (t == NULL || value.len < NGX_HTTP_CLUSTER_COOKIE_MIN) {
        return;
    }

    cluster_session_fingerprint(t, (const char *) value.data, value.len,
                                cp->auth->fp);
    cp->auth->fingerprinted = 1;

    now = ngx_http_cluster_now();

    c = (cscf->copies == NULL) ? NULL
        : &cscf->copies[(cp->auth->fp[0] | cp->auth->fp[1] << 8)
                        % NGX_HTTP_CLUSTER_COPIES];

    if (c && c->used && c->generation == *(volatile uint64_t *) &t->generation
        && ngx_memcmp(c->fp, cp->auth->fp, CLUSTER_SESSION_FP) == 0
        && (!c->known || now - c->seen < 1000))
    {
        /* this worker's copy holds: no lock */
        ngx_http_cluster_cookie_copy(cp, c);
        return;
    }

    ngx_shmtx_lock(&cscf->shpool->mutex);

    s = cluster_session_find(t, cp->auth->fp);

    if (s) {
        /* what the answer may add to it, and its verdict, without a lock */
        cp->auth->session = *s;
        cp->auth->known = 1;

        /* a session in use is not displaced by newer ones */
        s->seen = now;

        if (s->minted < CLUSTER_SESSION_NODES) {
            cp->key_class = t->class_of[s->minted];
        }
    }

    if (c) {
        c->generation = t->generation;
        c->seen = now;
        c->session = cp->auth->session;
        c->session.seen = now;          /* as the zone has it now */
        c->key_class = (uint8_t) cp->key_class;
        c->known = cp->auth->known;
        c->used = 1;
        ngx_memcpy(c->fp, cp->auth->fp, CLUSTER_SESSION_FP);
    }

    ngx_shmtx_unlock(&cscf->shpool->mutex);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cluster auth cookie, key class: %ui", cp->key_class);
}


static void
ngx_http_cluster_cookie_copy(ngx_http_cluster_peer_data_t *cp,
    ngx_http_cluster_copy_t *c)
{
    if (c->known) {
        cp->auth->session = c->session;
        cp->auth->known = 1;
        cp->key_class = c->key_class;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cp->request->connection->log, 0,
                   "cluster auth cookie, key class: %ui, a copy",
                   cp->key_class);
}


static ngx_int_t
ngx_http_cluster_header_filter(ngx_http_request_t *r)
{
    u_char                         *p;
    u_char                          fp[NGX_HTTP_CLUSTER_MINTED]
                                      [CLUSTER_SESSION_FP];
    time_t                          expires[NGX_HTTP_CLUSTER_MINTED];
    int64_t                         now;
    uint8_t                         verdict[NGX_HTTP_CLUSTER_MINTED];
    ngx_str_t                       name, value, replay_name,
                                    replay_value;
    ngx_uint_t                      i, n, set, lost, opened, refused,
                                    sign_in, answered, changed;
    ngx_table_elt_t                *h, *location;
    cluster_session_t              *s;
    cluster_sessions_t             *t;
    cluster_cookie_rc_e             rc;
    ngx_http_cluster_walk_t         walk;
    ngx_http_cluster_srv_conf_t    *cscf;
    ngx_http_cluster_peer_data_t   *cp;
    ngx_http_cluster_shm_cookie_t  *ck;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    if (cp == NULL || cp->node == NULL || cp->auth == NULL) {
        return ngx_http_next_header_filter(r);
    }

    cscf = cp->conf;
    t = cscf->shared->sessions;
    ngx_str_null(&replay_name);
    ngx_str_null(&replay_value);
    n = 0;
    set = 0;
    opened = 0;
    refused = 0;
    lost = 0;
    changed = 0;
    location = r->headers_out.location;

    /* the auth cookies the node sets */

    ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));

    while ((h = ngx_http_cluster_header_next(&r->headers_out.headers,
                                             "Set-Cookie", 10, &walk)))
    {
        name = h->value;

        if (ngx_http_cluster_cookie_value(cscf, &name, &value) != NGX_OK) {
            continue;
        }

        if (++set > NGX_HTTP_CLUSTER_MINTED) {
            /* a node sets one or two; past a few, none is opened or kept */
            continue;
        }

        rc = CLUSTER_COOKIE_MALFORMED;
        expires[n] = 0;

        if (cscf->seal_key) {
            rc = ngx_http_cluster_cookie_open(cscf, &name, &value,
                                              &expires[n]);

            if (rc == CLUSTER_COOKIE_OPENED) {
                opened++;

            } else if (rc == CLUSTER_COOKIE_FORGED) {
                refused++;

            } else {
                ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "cluster cookie set is not a v1 cookie");
            }
        }

        /* a session to follow; a short value is a sign-out clearing it */

        if (t && value.len >= NGX_HTTP_CLUSTER_COOKIE_MIN) {

            if (n == 0) {
                /* for "probe=": the session to replay to the others */
                replay_name = name;
                replay_value = value;
            }

            cluster_session_fingerprint(t, (const char *) value.data,
                                        value.len, fp[n]);
            verdict[n] = cscf->seal_key ? (uint8_t) (rc + 1) : 0;
            n++;
        }
    }

    if (location == NULL && cscf->login
        && (r->headers_out.status == NGX_HTTP_MOVED_TEMPORARILY
            || r->headers_out.status == NGX_HTTP_SEE_OTHER
            || r->headers_out.status == NGX_HTTP_TEMPORARY_REDIRECT))
    {
        /* nginx keeps a relative one out of headers_out.location */
        ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));
        location = ngx_http_cluster_header_next(&r->headers_out.headers,
                                                "Location", 8, &walk);
    }

    sign_in = ngx_http_cluster_sign_in(cscf, r->headers_out.status,
                                       location ? &location->value : NULL);

    /* an answer to a session, not a sign-in or a sign-out that sets one */

    answered = set == 0
               && (sign_in || (r->headers_out.status >= NGX_HTTP_OK
                               && r->headers_out.status
                                  < NGX_HTTP_BAD_REQUEST));

    if (sign_in && answered
        && ngx_http_cluster_key_check(r) == NGX_HTTP_CLUSTER_KEY_OK
        && cp->auth->key_expires > ngx_time())
    {
        /* a valid session sent to sign in again; not one that ended */
        lost = 1;
    }

    /* evidence the session's record does not hold yet */

    now = ngx_http_cluster_now();

    answered = answered && cp->auth->known
               && cluster_session_news(&cp->auth->session, cp->node->slot,
                                       sign_in, now, cscf->settings.stale);

    if (!(opened || refused || lost || n || answered)) {
        return ngx_http_next_header_filter(r);
    }

    ngx_shmtx_lock(&cscf->shpool->mutex);

    /* a refused cookie outweighs any that opened */

    if (opened) {
        cluster_node_key_verdict(cp->node, 1, now);
    }

    if (refused) {
        cluster_node_key_verdict(cp->node, 0, now);
    }

    cp->node->lost_sessions += lost;

    for (i = 0; i < n; i++) {
        s = cluster_session_add(t, fp[i], now);
        s->minted = cp->node->slot;
        s->verdict = verdict[i];
        s->expires = expires[i];
    }

    if (n && cscf->probe_uri.len && cscf->shared->cookies
        && cscf->generation == cscf->shared->generation
        && cp->node->slot < CLUSTER_SESSION_NODES
        && replay_name.len + 1 + replay_value.len
           <= NGX_HTTP_CLUSTER_PROBE_COOKIE)
    {
        ck = &cscf->shared->cookies[cp->node->slot];

        ngx_explicit_memzero(ck->pair, ck->len);

        p = ngx_cpymem(ck->pair, replay_name.data, replay_name.len);
        *p++ = '=';
        p = ngx_cpymem(p, replay_value.data, replay_value.len);

        ck->len = (u_short) (p - ck->pair);
        ngx_memcpy(ck->fp, fp[0], CLUSTER_SESSION_FP);
        ck->at = now;
    }

    if (answered) {
        s = cluster_session_find(t, cp->auth->fp);

        if (s) {
            changed = cluster_session_answer(t, s, cp->node->slot, sign_in,
                                             now);
        }
    }

    if (changed && sign_in) {
        /* a refusal may change a verdict now; service waits for the round */
        ngx_http_cluster_evaluate_all(cscf, now, r->connection->log);

    } else if (opened || refused || lost) {
        ngx_http_cluster_evaluate_node(cscf, cp->node, now,
                                       r->connection->log);
    }

    ngx_shmtx_unlock(&cscf->shpool->mutex);

    return ngx_http_next_header_filter(r);
}


/*
 * Whether a node's answer sends the user to sign in: 401, or a redirect
 * whose Location matches "login=".  The one rule of both the passive and
 * the active key check.
 */
ngx_uint_t
ngx_http_cluster_sign_in(ngx_http_cluster_srv_conf_t *cscf, ngx_uint_t status,
    ngx_str_t *location)
{
    if (status == NGX_HTTP_UNAUTHORIZED) {
        return 1;
    }

    return (status == NGX_HTTP_MOVED_TEMPORARILY
            || status == NGX_HTTP_SEE_OTHER
            || status == NGX_HTTP_TEMPORARY_REDIRECT)
           && cscf->login && location
           && ngx_regex_exec(cscf->login, location, NULL, 0) >= 0;
}


/*
 * $cluster_key_check, and the filter's own question: does the request's
 * auth cookie open with the cluster's key?  Asked once a request; the
 * answer is remembered by the cookie's fingerprint, so a session is
 * opened once, not at each request.  Only cookies that open, or that a
 * node set, are remembered: a client cannot fill the table with its own.
 */
ngx_uint_t
ngx_http_cluster_key_check(ngx_http_request_t *r)
{
    int64_t                        now;
    cluster_session_t             *s;
    cluster_sessions_t            *t;
    cluster_cookie_rc_e            rc;
    ngx_http_cluster_srv_conf_t   *cscf;
    ngx_http_cluster_peer_data_t  *cp;

    cp = ngx_http_get_module_ctx(r, ngx_http_cluster_module);

    if (cp == NULL || cp->auth == NULL || cp->conf->seal_key == NULL
        || cp->auth->cookie.data == NULL)
    {
        return NGX_HTTP_CLUSTER_KEY_NONE;
    }

    if (cp->auth->key_check != NGX_HTTP_CLUSTER_KEY_UNASKED) {
        return cp->auth->key_check;
    }

    cscf = cp->conf;
    t = cp->auth->fingerprinted ? cscf->shared->sessions : NULL;

    if (cp->auth->known && cp->auth->session.verdict) {
        /* remembered, as the table had it when the node was chosen */
        rc = (cluster_cookie_rc_e) (cp->auth->session.verdict - 1);
        cp->auth->key_expires = (time_t) cp->auth->session.expires;

    } else {
        rc = ngx_http_cluster_cookie_open(cscf, &cp->auth->cookie_name,
                                          &cp->auth->cookie,
                                          &cp->auth->key_expires);

        if (t && (cp->auth->known || rc == CLUSTER_COOKIE_OPENED)) {
            now = ngx_http_cluster_now();

            ngx_shmtx_lock(&cscf->shpool->mutex);

            s = cluster_session_add(t, cp->auth->fp, now);
            s->verdict = (uint8_t) (rc + 1);
            s->expires = cp->auth->key_expires;

            ngx_shmtx_unlock(&cscf->shpool->mutex);
        }
    }

    if (rc == CLUSTER_COOKIE_FORGED) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "cluster auth cookie does not open with the key");
        (void) ngx_atomic_fetch_add(&cscf->shared->cookies_forged, 1);

    } else if (rc == CLUSTER_COOKIE_MALFORMED) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "cluster auth cookie is not a v1 cookie");
        (void) ngx_atomic_fetch_add(&cscf->shared->cookies_malformed, 1);
    }

    /* a cookie of another format says nothing of the key */

    cp->auth->key_check = (rc == CLUSTER_COOKIE_OPENED)
                          ? NGX_HTTP_CLUSTER_KEY_OK
                          : (rc == CLUSTER_COOKIE_FORGED)
                            ? NGX_HTTP_CLUSTER_KEY_MISMATCH
                            : NGX_HTTP_CLUSTER_KEY_NONE;

    return cp->auth->key_check;
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


static cluster_cookie_rc_e
ngx_http_cluster_cookie_open(ngx_http_cluster_srv_conf_t *cscf,
    ngx_str_t *name, ngx_str_t *value, time_t *expires)
{
    size_t                len;
    uint8_t               text[CLUSTER_COOKIE_MAX];
    cluster_cookie_rc_e   rc;

    rc = cluster_cookie_open(cscf->seal_key, (const char *) name->data,
                             name->len, (const char *) value->data,
                             value->len, text, sizeof(text), &len);

    if (rc == CLUSTER_COOKIE_OPENED && expires) {
        /* the session's end, "exp" of the plaintext; 0 when not said */
        *expires = (time_t) cluster_session_expires(text, len);
    }

    /* the session's contents stay nowhere */
    sodium_memzero(text, sizeof(text));

    return rc;
}
