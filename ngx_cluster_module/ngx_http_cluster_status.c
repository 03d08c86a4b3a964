
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include "ngx_http_cluster.h"
#include "cluster_admin.h"


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
static ngx_int_t ngx_http_cluster_admin(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_cluster_admin_query(ngx_http_request_t *r,
    ngx_str_t *cluster);
static ngx_int_t ngx_http_cluster_admin_nodes(ngx_http_request_t *r,
    ngx_http_cluster_srv_conf_t *cscf, cluster_admin_node_t **nodes);
static ngx_int_t ngx_http_cluster_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
static ngx_log_t *ngx_http_cluster_admin_log(ngx_http_request_t *r);
static void ngx_http_cluster_admin_refused(ngx_http_request_t *r,
    const char *why);
static ngx_int_t ngx_http_cluster_admin_allowed(ngx_http_request_t *r,
    ngx_http_cluster_loc_conf_t *clcf, u_char *who, size_t size);
static ngx_int_t ngx_http_cluster_add_header(ngx_http_request_t *r,
    const char *key, const char *value);
static ngx_int_t ngx_http_cluster_send(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, ngx_buf_t *b);


ngx_int_t
ngx_http_cluster_status_handler(ngx_http_request_t *r)
{
    size_t                          size, need, base;
    int64_t                         now;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_str_t                       path;
    ngx_uint_t                      i, nodes;
    cluster_page_conf_t             page;
    ngx_http_core_loc_conf_t       *hlcf;
    cluster_status_cluster_t       *clusters;
    ngx_http_cluster_format_e       format;
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

    format = ngx_http_cluster_format(r);

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_cluster_module);
    page.refresh = (unsigned) (clcf->refresh / 1000);
    page.admin = clcf->admin;
    page.base = (const char *) hlcf->name.data;
    page.base_len = base;

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

    case NGX_HTTP_CLUSTER_HTML:
        return ngx_http_cluster_send(r, NGX_HTTP_OK,
                                     "text/html; charset=utf-8", b);

    case NGX_HTTP_CLUSTER_PROMETHEUS:
        return ngx_http_cluster_send(r, NGX_HTTP_OK,
                                 "text/plain; version=0.0.4; charset=utf-8", b);

    default: /* NGX_HTTP_CLUSTER_JSON */
        return ngx_http_cluster_send(r, NGX_HTTP_OK, "application/json", b);
    }
}


/*
 * "?format=json|html|prometheus" decides; without it, a client that asks
 * for text/html (a browser) gets the page, any other the JSON.
 */
static ngx_http_cluster_format_e
ngx_http_cluster_format(ngx_http_request_t *r)
{
    ngx_str_t                 value;
    ngx_table_elt_t          *h;
    ngx_http_cluster_walk_t   walk;

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

    ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));

    while ((h = ngx_http_cluster_header_next(&r->headers_in.headers,
                                             "Accept", 6, &walk)))
    {
        if (ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
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


/*
 * POST <location>/nodes/<node>/<action>[?cluster=<name>]: drain, remove or
 * restore a node, in every cluster that has it unless one is named.  The
 * node is its address or, when no address matches, its name where only one
 * node of a cluster has it.  Nothing is done unless all of it can be.
 */
static ngx_int_t
ngx_http_cluster_admin(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                         *slash, who[64], *p;
    int64_t                         now;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_log_t                      *log;
    ngx_str_t                       id, action, cluster, empty;
    ngx_uint_t                      i, j, found, by_name, same, *member;
    cluster_act_t                   act;
    cluster_admin_e                 admin;
    cluster_events_t                ev;
    cluster_admin_node_t           *nodes;
    ngx_http_cluster_member_t      *m;
    ngx_http_cluster_srv_conf_t   **cscfp, *cscf;
    ngx_http_cluster_loc_conf_t    *clcf;
    ngx_http_cluster_main_conf_t   *cmcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_cluster_module);

    if (!clcf->admin) {
        return NGX_HTTP_FORBIDDEN;
    }

    ngx_str_null(&empty);

    slash = NULL;

    for (p = path->data + path->len; p > path->data; p--) {
        if (p[-1] == '/') {
            slash = p - 1;
            break;
        }
    }

    if (slash == NULL || slash == path->data) {
        return ngx_http_cluster_admin_error(r, NGX_HTTP_NOT_FOUND,
                   "expected POST .../nodes/<address or name>/<action>");
    }

    id.data = path->data;
    id.len = slash - path->data;
    action.data = slash + 1;
    action.len = path->data + path->len - action.data;

    rc = cluster_action_parse((const char *) action.data, action.len);

    if (rc < 0) {
        return ngx_http_cluster_admin_error(r, NGX_HTTP_NOT_FOUND,
                   "unknown action, expected drain, remove or restore");
    }

    admin = (cluster_admin_e) rc;

    /* GET never changes anything */

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_cluster_admin_allowed(r, clcf, who, sizeof(who));

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * The query names one cluster, or is not there: "?cluster" or
     * "?cluster=" must not mean every cluster, nor anything else be
     * silently passed over.
     */

    if (ngx_http_cluster_admin_query(r, &cluster) != NGX_OK) {
        return ngx_http_cluster_admin_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid query, expected none or cluster=NAME, NAME "
                   "the upstream's");
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_cluster_module);
    cscfp = cmcf->clusters.elts;

    /* the member acted on in each cluster, found before anything is done */

    member = ngx_palloc(r->pool, (cmcf->clusters.nelts + 1)
                                 * sizeof(ngx_uint_t));
    if (member == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; cluster.data && i < cmcf->clusters.nelts; i++) {
        if (cluster.len == cscfp[i]->upstream->host.len
            && ngx_strncmp(cluster.data, cscfp[i]->upstream->host.data,
                           cluster.len) == 0)
        {
            break;
        }
    }

    if (cluster.data && i == cmcf->clusters.nelts) {
        return ngx_http_cluster_admin_error(r, NGX_HTTP_NOT_FOUND,
                   "no such cluster, expected the name of an upstream "
                   "with a cluster");
    }

    found = 0;

    for (by_name = 0; by_name < 2 && found == 0; by_name++) {

        for (i = 0; i < cmcf->clusters.nelts; i++) {
            cscf = cscfp[i];
            member[i] = NGX_CONF_UNSET_UINT;

            if (cluster.data
                && (cluster.len != cscf->upstream->host.len
                    || ngx_strncmp(cluster.data, cscf->upstream->host.data,
                                   cluster.len) != 0))
            {
                continue;
            }

            if (ngx_http_cluster_admin_nodes(r, cscf, &nodes) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            rc = cluster_admin_find(nodes, cscf->nmembers,
                                    (const char *) id.data, id.len,
                                    (int) by_name);

            if (rc == CLUSTER_ADMIN_AMBIGUOUS) {
                return ngx_http_cluster_admin_error(r, NGX_HTTP_CONFLICT,
                           "the name is not unique in its cluster, "
                           "expected the node's address");
            }

            if (rc >= 0) {
                member[i] = (ngx_uint_t) rc;
                found++;
            }
        }
    }

    if (found == 0) {
        return ngx_http_cluster_admin_error(r, NGX_HTTP_NOT_FOUND,
                   "no such node, expected an address such as "
                   "10.0.0.11:8624, or a name");
    }

    now = ngx_http_cluster_now();

    /* the changes an action makes are logged without the query too */
    log = ngx_http_cluster_admin_log(r);

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];
        j = member[i];

        if (j == NGX_CONF_UNSET_UINT) {
            continue;
        }

        act.node = j;
        act.admin = admin;
        act.name = (const char *) cscf->members[j].name->data;
        act.name_len = cscf->members[j].name->len;
        act.by = (const char *) who;

        ev.n = 0;
        ev.more = 0;

        cluster_act(&cscf->cluster, &act, now, &ev);

        ngx_http_cluster_report(cscf, &ev, log);

        /* named as its changes are: by its name, with its address after */
        m = &cscf->members[j];
        same = !ngx_http_cluster_member_named(m);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "cluster \"%V\" node \"%V\"%s%V%s: %s by %s",
                      &cscf->upstream->host, m->name, same ? "" : " (",
                      same ? &empty : m->id, same ? "" : ")",
                      cluster_action_name(admin), who);
    }

    b = ngx_create_temp_buf(r->pool, 64);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_snprintf(b->pos, 64, "{\"action\":\"%s\",\"nodes\":%ui}\n",
                           cluster_action_name(admin), found);

    return ngx_http_cluster_send(r, NGX_HTTP_OK, "application/json", b);
}


/*
 * The query of an action: none, or "cluster=NAME" alone with NAME not
 * empty once unescaped (the page sends it escaped, as a query's values
 * are); NGX_DECLINED for anything else.
 */
static ngx_int_t
ngx_http_cluster_admin_query(ngx_http_request_t *r, ngx_str_t *cluster)
{
    u_char  *p, *src;

    ngx_str_null(cluster);

    if (r->args.len == 0) {
        return NGX_OK;
    }

    if (r->args.len <= 8 || ngx_strncmp(r->args.data, "cluster=", 8) != 0
        || ngx_strlchr(r->args.data, r->args.data + r->args.len, '&')
        || ngx_strlchr(r->args.data, r->args.data + r->args.len, ';'))
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, r->args.len - 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    src = r->args.data + 8;
    cluster->data = p;
    ngx_unescape_uri(&p, &src, r->args.len - 8, NGX_UNESCAPE_URI);
    cluster->len = p - cluster->data;

    return cluster->len ? NGX_OK : NGX_DECLINED;
}


/* a cluster's nodes as an action may name them */
static ngx_int_t
ngx_http_cluster_admin_nodes(ngx_http_request_t *r,
    ngx_http_cluster_srv_conf_t *cscf, cluster_admin_node_t **nodes)
{
    ngx_uint_t             j;
    cluster_admin_node_t  *n;

    n = ngx_palloc(r->pool, (cscf->nmembers + 1)
                            * sizeof(cluster_admin_node_t));
    if (n == NULL) {
        return NGX_ERROR;
    }

    for (j = 0; j < cscf->nmembers; j++) {
        n[j].id = (const char *) cscf->members[j].id->data;
        n[j].id_len = cscf->members[j].id->len;
        n[j].name = (const char *) cscf->members[j].name->data;
        n[j].name_len = cscf->members[j].name->len;
        n[j].tracked = (cscf->cluster.nodes[j] != NULL);
    }

    *nodes = n;

    return NGX_OK;
}


/* an action not taken, and why, as JSON */
static ngx_int_t
ngx_http_cluster_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    size_t      len;
    ngx_int_t   rc;
    ngx_buf_t  *b;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    len = sizeof("{\"error\":\"\"}\n") - 1 + ngx_strlen(error);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the texts are the module's own: no quote, no backslash */
    b->last = ngx_sprintf(b->pos, "{\"error\":\"%s\"}\n", error);

    return ngx_http_cluster_send(r, status, "application/json", b);
}


/*
 * The log of an action's lines: the request's, without nginx's context,
 * which quotes the request line with its query, where a careless client
 * may have put a token.  The lines name the client themselves.
 */
static ngx_log_t *
ngx_http_cluster_admin_log(ngx_http_request_t *r)
{
    ngx_log_t  *log;

    log = ngx_palloc(r->pool, sizeof(ngx_log_t));
    if (log == NULL) {
        return r->connection->log;
    }

    *log = *r->connection->log;
    log->handler = NULL;
    log->data = NULL;

    return log;
}


/*
 * A refusal, logged with the client and the path as the client sent it
 * (nginx refuses controls there), never the query.
 */
static void
ngx_http_cluster_admin_refused(ngx_http_request_t *r, const char *why)
{
    u_char     *q;
    ngx_str_t   path;

    path = r->unparsed_uri;

    q = ngx_strlchr(path.data, path.data + path.len, '?');

    if (q) {
        path.len = q - path.data;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_http_cluster_admin_log(r), 0,
                  "cluster admin action refused: %s, client: %V, "
                  "request: \"%V %V\"", why, &r->connection->addr_text,
                  &r->method_name, &path);
}


/*
 * Cross-site requests are refused (any Sec-Fetch-Site or Origin that says
 * so, of however many); with a token, the bearer must hold it, compared in
 * constant time.  "who" says who acted, for the log and the page.
 */
static ngx_int_t
ngx_http_cluster_admin_allowed(ngx_http_request_t *r,
    ngx_http_cluster_loc_conf_t *clcf, u_char *who, size_t size)
{
    u_char                   *p, diff, digest[20];
    size_t                    i;
    ngx_str_t                 bearer;
    ngx_sha1_t                sha1;
    ngx_table_elt_t          *h, *host;
    ngx_http_cluster_walk_t   walk;

    ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));

    while ((h = ngx_http_cluster_header_next(&r->headers_in.headers,
                                             "Sec-Fetch-Site", 14, &walk)))
    {
        if (!(h->value.len == 11
              && ngx_strncasecmp(h->value.data, (u_char *) "same-origin", 11)
                 == 0)
            && !(h->value.len == 4
                 && ngx_strncasecmp(h->value.data, (u_char *) "none", 4)
                    == 0))
        {
            ngx_http_cluster_admin_refused(r, "cross-site request");
            return NGX_HTTP_FORBIDDEN;
        }
    }

    host = r->headers_in.host;

    ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));

    while ((h = ngx_http_cluster_header_next(&r->headers_in.headers,
                                             "Origin", 6, &walk)))
    {
        /* the Origin's host must be the request's own */
        p = ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                             (u_char *) "://", 3 - 1);

        if (p == NULL || host == NULL
            || (size_t) (h->value.data + h->value.len - (p + 3))
               != host->value.len
            || ngx_strncasecmp(p + 3, host->value.data, host->value.len) != 0)
        {
            ngx_http_cluster_admin_refused(r, "cross-site request");
            return NGX_HTTP_FORBIDDEN;
        }
    }

    if (clcf->token) {
        h = r->headers_in.authorization;

        if (h == NULL || h->value.len < 7
            || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) != 0)
        {
            goto unauthorized;
        }

        bearer.data = h->value.data + 7;
        bearer.len = h->value.len - 7;

        /*
         * Digests of equal length, compared byte by byte to the end: the
         * time says nothing of the token, not even its length.
         */

        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, bearer.data, bearer.len);
        ngx_sha1_final(digest, &sha1);

        diff = 0;

        for (i = 0; i < 20; i++) {
            diff |= digest[i] ^ clcf->token_digest[i];
        }

        if (diff) {
            goto unauthorized;
        }

        p = ngx_snprintf(who, size - 1, "token from %V",
                         &r->connection->addr_text);
        *p = '\0';

        return NGX_OK;
    }

    if (r->headers_in.user.len == 0) {
        /*
         * With no token, nginx's auth_basic must have let a user in: an
         * address alone proves nothing to a page that rebinds its name.
         */
        ngx_http_cluster_admin_refused(r, "no token_file= and no user "
                                          "authenticated by auth_basic");
        return NGX_HTTP_FORBIDDEN;
    }

    p = ngx_snprintf(who, size - 1, "%V from %V", &r->headers_in.user,
                     &r->connection->addr_text);
    *p = '\0';

    return NGX_OK;

unauthorized:

    ngx_http_cluster_admin_refused(r, "no valid token");

    if (ngx_http_cluster_add_header(r, "WWW-Authenticate",
                                    "Bearer realm=\"cluster\"")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_UNAUTHORIZED;
}


/* one buffer, the whole answer */
static ngx_int_t
ngx_http_cluster_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_buf_t *b)
{
    ngx_int_t     rc;
    ngx_chain_t   out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_cluster_add_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}
