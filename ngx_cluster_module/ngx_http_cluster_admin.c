
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include "ngx_http_cluster.h"
#include "cluster_admin.h"


/*
 * The admin API: POST <location>/nodes/<node>/<action>.  Who may act is
 * decided here (a token, or a user nginx authenticated, and no cross-site
 * request); what the action does is the core's.
 */


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
static ngx_int_t ngx_http_cluster_admin_values(ngx_http_request_t *r,
    const char *name, size_t len, cluster_admin_value_t *values, size_t *n);


/* a request with more of one header than this is refused */
#define NGX_HTTP_CLUSTER_ADMIN_VALUES  8


/*
 * POST <location>/nodes/<node>/<action>[?cluster=<name>]: drain, remove or
 * restore a node, in every cluster that has it unless one is named.  The
 * node is its address or, when no address matches, its name where only one
 * node of a cluster has it.  Nothing is done unless all of it can be.
 */
ngx_int_t
ngx_http_cluster_admin(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                          who[64];
    int64_t                         now;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_log_t                      *log;
    ngx_str_t                       id, cluster, empty;
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

    rc = cluster_admin_path((const char *) path->data, path->len, &id.len);

    if (rc == CLUSTER_ADMIN_NO_NODE) {
        return ngx_http_cluster_admin_error(r, NGX_HTTP_NOT_FOUND,
                   "expected POST .../nodes/<address or name>/<action>");
    }

    if (rc == CLUSTER_ADMIN_NO_ACTION) {
        return ngx_http_cluster_admin_error(r, NGX_HTTP_NOT_FOUND,
                   "unknown action, expected drain, remove or restore");
    }

    id.data = path->data;
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

        if (cmcf->db) {
            /* for the other load balancers: the latest by time wins */
            ngx_http_cluster_database_push(cmcf->db, &cscf->upstream->host,
                                           cscf->members[j].id, admin,
                                           (const char *) who, now);
        }

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
    size_t                    i, nsite, norigin;
    ngx_str_t                 bearer;
    ngx_sha1_t                sha1;
    ngx_table_elt_t          *h, *host;
    cluster_admin_value_t     site[NGX_HTTP_CLUSTER_ADMIN_VALUES];
    cluster_admin_value_t     origin[NGX_HTTP_CLUSTER_ADMIN_VALUES], hv;

    if (ngx_http_cluster_admin_values(r, "Sec-Fetch-Site", 14, site,
                                      &nsite) != NGX_OK
        || ngx_http_cluster_admin_values(r, "Origin", 6, origin, &norigin)
           != NGX_OK)
    {
        ngx_http_cluster_admin_refused(r, "cross-site request");
        return NGX_HTTP_FORBIDDEN;
    }

    host = r->headers_in.host;

    if (host) {
        hv.data = (const char *) host->value.data;
        hv.len = host->value.len;
    }

    if (cluster_admin_cross_site(site, nsite, origin, norigin,
                                 host ? &hv : NULL))
    {
        ngx_http_cluster_admin_refused(r, "cross-site request");
        return NGX_HTTP_FORBIDDEN;
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


/*
 * The values of one request header, for the core's rule; more of them
 * than a browser sends is NGX_DECLINED.
 */
static ngx_int_t
ngx_http_cluster_admin_values(ngx_http_request_t *r, const char *name,
    size_t len, cluster_admin_value_t *values, size_t *n)
{
    ngx_table_elt_t          *h;
    ngx_http_cluster_walk_t   walk;

    *n = 0;

    ngx_memzero(&walk, sizeof(ngx_http_cluster_walk_t));

    while ((h = ngx_http_cluster_header_next(&r->headers_in.headers, name,
                                             len, &walk)))
    {
        if (*n == NGX_HTTP_CLUSTER_ADMIN_VALUES) {
            return NGX_DECLINED;
        }

        values[*n].data = (const char *) h->value.data;
        values[*n].len = h->value.len;
        (*n)++;
    }

    return NGX_OK;
}
