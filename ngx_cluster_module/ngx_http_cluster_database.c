
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libpq-fe.h>

#include "ngx_http_cluster.h"
#include "cluster_admin.h"


/*
 * cluster_database: several load balancers share their operators' actions
 * through PostgreSQL.  One worker of an nginx holds the connection, claimed
 * in a shared zone and taken over by another within two seconds if it
 * dies.  libpq is driven without ever blocking: the connection is started
 * with PQconnectStartParams() and polled on nginx's events, statements are
 * sent with PQsendQuery*() and their results read as they come, one at a
 * time, each with a time limit.  What the statements say is the core's
 * (cluster_db.c); this file moves bytes between libpq and nginx.
 */


#define NGX_HTTP_CLUSTER_DB_TICK      250       /* ms */
#define NGX_HTTP_CLUSTER_DB_TAKEOVER  2000      /* ms without its owner */
#define NGX_HTTP_CLUSTER_DB_LIMIT     10000     /* ms a connect or a
                                                   statement may take */
#define NGX_HTTP_CLUSTER_DB_POLL      1000      /* ms between polls */
#define NGX_HTTP_CLUSTER_DB_SEEN      10000
#define NGX_HTTP_CLUSTER_DB_PRUNE     (600 * 1000)
#define NGX_HTTP_CLUSTER_DB_BACKOFF   30000     /* the longest wait */
#define NGX_HTTP_CLUSTER_DB_ZONE      (512 * 1024)
#define NGX_HTTP_CLUSTER_DB_PEERS     1024      /* other instances' views
                                                   of nodes kept */


typedef enum {
    NGX_HTTP_CLUSTER_DB_DOWN = 0,                /* none; retry_at */
    NGX_HTTP_CLUSTER_DB_CONNECTING,
    NGX_HTTP_CLUSTER_DB_READY,                   /* nothing in flight */
    NGX_HTTP_CLUSTER_DB_BUSY                     /* "query" in flight */
} ngx_http_cluster_db_state_e;


/* the zone every worker of this nginx shares for the database */
typedef struct {
    ngx_pid_t                         owner;      /* holds the connection */
    int64_t                           owner_seen;
    uint32_t                          status;     /* cluster_db_status_e */
    int64_t                           since;
    char                              last_error[160];
    int64_t                           seq;        /* the last action seen */
    cluster_db_queue_t                queue;      /* actions to write */
    int64_t                           peers_at;   /* when last read */
    ngx_uint_t                        npeers;
    cluster_db_peer_t                 peers[NGX_HTTP_CLUSTER_DB_PEERS];
} ngx_http_cluster_db_shm_t;


struct ngx_http_cluster_db_s {
    /* the configuration */
    ngx_str_t                         conninfo;   /* never shown */
    ngx_str_t                         password;   /* never shown; "" */
    ngx_str_t                         instance;   /* NUL-terminated */
    ngx_str_t                         host;       /* NUL-terminated */
    ngx_str_t                         schema;
    ngx_msec_t                        retention;
    char                             *sql[CLUSTER_DB_SQL_N];
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_cluster_main_conf_t     *cmcf;

    /* the zone, once made */
    ngx_slab_pool_t                  *shpool;
    ngx_http_cluster_db_shm_t        *sh;

    /* this worker's */
    ngx_event_t                       tick;
    ngx_log_t                        *log;
    PGconn                           *conn;
    ngx_connection_t                 *c;
    ngx_http_cluster_db_state_e       state;
    cluster_db_sql_e                  query;      /* in flight */
    int64_t                           deadline;   /* of what is under way */
    int64_t                           retry_at;
    ngx_msec_t                        backoff;
    int64_t                           next_poll;
    int64_t                           next_observe;
    ngx_msec_t                        observe_every;
    int64_t                           next_seen;
    int64_t                           next_prune;
    int64_t                           started;
    cluster_db_action_t               sending;
    uint32_t                         *history_upto; /* per cluster: what
                                                     the statement in
                                                     flight writes */
    unsigned                          owner:1;
    unsigned                          schema_ok:1;
    unsigned                          registered:1;
    unsigned                          listening:1;
    unsigned                          poll_now:1;
    unsigned                          said_down:1;
};


static ngx_int_t ngx_http_cluster_db_conninfo(ngx_conf_t *cf,
    ngx_http_cluster_db_t *db);
static ngx_int_t ngx_http_cluster_db_cstr(ngx_pool_t *pool, ngx_str_t *s);
static ngx_int_t ngx_http_cluster_db_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_cluster_db_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_cluster_db_claim(ngx_http_cluster_db_t *db,
    int64_t now);
static void ngx_http_cluster_db_connect(ngx_http_cluster_db_t *db,
    int64_t now);
static void ngx_http_cluster_db_connecting(ngx_http_cluster_db_t *db);
static ngx_int_t ngx_http_cluster_db_watch(ngx_http_cluster_db_t *db,
    ngx_uint_t write);
static void ngx_http_cluster_db_unwatch(ngx_http_cluster_db_t *db);
static void ngx_http_cluster_db_event(ngx_event_t *ev);
static void ngx_http_cluster_db_next(ngx_http_cluster_db_t *db, int64_t now);
static void ngx_http_cluster_db_send(ngx_http_cluster_db_t *db,
    cluster_db_sql_e which, int n, const char **values);
static void ngx_http_cluster_db_flush(ngx_http_cluster_db_t *db);
static void ngx_http_cluster_db_read(ngx_http_cluster_db_t *db);
static ngx_int_t ngx_http_cluster_db_result(ngx_http_cluster_db_t *db,
    PGresult *res);
static void ngx_http_cluster_db_pop(ngx_http_cluster_db_t *db);
static void ngx_http_cluster_db_actions(ngx_http_cluster_db_t *db,
    PGresult *res, ngx_uint_t poll);
static void ngx_http_cluster_db_apply(ngx_http_cluster_db_t *db,
    cluster_db_action_t *a);
static ngx_int_t ngx_http_cluster_db_observe(ngx_http_cluster_db_t *db,
    int64_t now);
static void ngx_http_cluster_db_written(ngx_http_cluster_db_t *db);
static void ngx_http_cluster_db_peers(ngx_http_cluster_db_t *db,
    PGresult *res);
static void ngx_http_cluster_db_share(ngx_http_cluster_db_t *db,
    cluster_db_peer_t *p, int64_t now);
static void ngx_http_cluster_db_fail(ngx_http_cluster_db_t *db,
    const char *what, const char *error);
static void ngx_http_cluster_db_close(ngx_http_cluster_db_t *db);
static void ngx_http_cluster_db_status(ngx_http_cluster_db_t *db,
    cluster_db_status_e status, const char *error);
static void ngx_http_cluster_db_copy(char *to, size_t size, const char *from);
static void ngx_http_cluster_db_utf8(char *to, size_t size, u_char *from,
    size_t len);


char *
ngx_http_cluster_database(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_main_conf_t  *cmcf = conf;

    u_char                 *p;
    size_t                  len;
    ngx_str_t              *value, name, text;
    ngx_int_t               t;
    ngx_uint_t              i, j;
    ngx_http_cluster_db_t  *db;

    if (cmcf->db) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cluster_database\" needs a connection string "
                           "or URI, as libpq takes it");
        return NGX_CONF_ERROR;
    }

    db = ngx_pcalloc(cf->pool, sizeof(ngx_http_cluster_db_t));
    if (db == NULL) {
        return NGX_CONF_ERROR;
    }

    db->cmcf = cmcf;
    db->conninfo = value[1];
    db->instance = cf->cycle->hostname;
    db->host = cf->cycle->hostname;
    ngx_str_set(&db->schema, "ngx_cluster");
    db->retention = 30 * 86400;

    for (i = 2; i < cf->args->nelts; i++) {

        /* each parameter at most once */
        p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        for (j = 2; p && j < i; j++) {
            if (ngx_strncmp(value[j].data, value[i].data,
                            p + 1 - value[i].data) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            name.data = value[i].data + 14;
            name.len = value[i].len - 14;

            if (name.len == 0
                || ngx_http_cluster_read_secret(cf, &name, "password file",
                                                &text)
                   != NGX_OK)
            {
                if (name.len == 0) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"password_file=\" needs a file");
                }

                return NGX_CONF_ERROR;
            }

            /* the first line, without its end */
            for (len = 0; len < text.len && text.data[len] != '\n'
                          && text.data[len] != '\r'; len++)
            { /* void */ }

            if (len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the password file \"%V\" is empty",
                                   &name);
                return NGX_CONF_ERROR;
            }

            db->password.data = ngx_pnalloc(cf->pool, len + 1);
            if (db->password.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(db->password.data, text.data, len);
            db->password.data[len] = '\0';
            db->password.len = len;

            ngx_explicit_memzero(text.data, text.len);
            continue;
        }

        if (ngx_strncmp(value[i].data, "instance=", 9) == 0) {
            db->instance.data = value[i].data + 9;
            db->instance.len = value[i].len - 9;

            if (db->instance.len == 0
                || db->instance.len >= CLUSTER_DB_NAME)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\", expected "
                                   "\"instance=\" a name of 1 to %d bytes",
                                   &value[i], CLUSTER_DB_NAME - 1);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "schema=", 7) == 0) {
            db->schema.data = value[i].data + 7;
            db->schema.len = value[i].len - 7;

            if (!cluster_db_identifier((const char *) db->schema.data,
                                       db->schema.len))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\", expected "
                                   "\"schema=\" a name of lower-case "
                                   "letters, digits and \"_\", not "
                                   "starting with a digit, at most 63 "
                                   "bytes", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "retention=", 10) == 0) {
            name.data = value[i].data + 10;
            name.len = value[i].len - 10;

            t = ngx_parse_time(&name, 1);

            if (t == NGX_ERROR || t < 3600 || t > 3650 * 86400) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\", expected "
                                   "\"retention=\" a time of at least 1h "
                                   "and at most 3650d", &value[i]);
                return NGX_CONF_ERROR;
            }

            db->retention = (ngx_msec_t) t;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"password_file=\", \"instance=\", \"schema=\" "
                           "or \"retention=\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_cluster_db_conninfo(cf, db) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (db->instance.len == 0 || db->instance.len >= CLUSTER_DB_NAME) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the host name cannot name this load balancer: "
                           "give \"instance=\"");
        return NGX_CONF_ERROR;
    }

    /* libpq and the status take C strings */

    if (ngx_http_cluster_db_cstr(cf->pool, &db->instance) != NGX_OK
        || ngx_http_cluster_db_cstr(cf->pool, &db->host) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the statements, for the schema, once */

    p = ngx_pnalloc(cf->pool, db->schema.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(p, db->schema.data, db->schema.len + 1);

    for (i = 0; i < CLUSTER_DB_SQL_N; i++) {
        len = cluster_db_sql((cluster_db_sql_e) i, (const char *) p, NULL, 0);

        db->sql[i] = ngx_pnalloc(cf->pool, len + 1);
        if (db->sql[i] == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) cluster_db_sql((cluster_db_sql_e) i, (const char *) p,
                              db->sql[i], len + 1);
    }

    ngx_str_set(&name, "cluster_database");

    db->shm_zone = ngx_shared_memory_add(cf, &name,
                                         NGX_HTTP_CLUSTER_DB_ZONE,
                                         &ngx_http_cluster_module);
    if (db->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    db->shm_zone->init = ngx_http_cluster_db_init_zone;
    db->shm_zone->data = db;

    cmcf->db = db;

    return NGX_CONF_OK;
}


/*
 * The connection string, read by libpq as a worker will: it must parse,
 * and every host must be an address or a socket's folder.  libpq resolves
 * a host name with a blocking lookup, which would stall the worker that
 * holds the connection: a name goes in host= beside its hostaddr=.
 */
static ngx_int_t
ngx_http_cluster_db_conninfo(ngx_conf_t *cf, ngx_http_cluster_db_t *db)
{
    u_char            *p, *last, *comma, addr[16];
    char              *err;
    ngx_str_t          host;
    ngx_uint_t         hostaddr;
    PQconninfoOption  *opts, *o;

    err = NULL;

    opts = PQconninfoParse((const char *) db->conninfo.data, &err);

    if (opts == NULL) {
        /* libpq's message may quote the string, and so a password in it */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid connection string of \"cluster_database\""
                           ": libpq cannot parse it (its reason is not "
                           "shown, as it may quote a secret)");
        if (err) {
            PQfreemem(err);
        }

        return NGX_ERROR;
    }

    hostaddr = 0;
    ngx_str_null(&host);

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "service") == 0) {
            /* a service file names hosts libpq reads only as it connects */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cluster_database\" cannot take "
                               "\"service=\": give host= (an address) and "
                               "port= instead");
            PQconninfoFree(opts);
            return NGX_ERROR;
        }

        if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = 1;

            /* every host then needs its address: none may be empty */
            if (ngx_strstr(o->val, ",,") || o->val[0] == ','
                || o->val[ngx_strlen(o->val) - 1] == ',')
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_database\" has an empty "
                                   "entry in hostaddr=, which libpq would "
                                   "look up in DNS, blocking a worker");
                PQconninfoFree(opts);
                return NGX_ERROR;
            }

        } else if (ngx_strcmp(o->keyword, "host") == 0) {
            host.data = (u_char *) o->val;
            host.len = ngx_strlen(o->val);
        }
    }

    p = host.data;
    last = host.data + host.len;

    while (!hostaddr && p && p < last) {
        comma = ngx_strlchr(p, last, ',');

        if (comma == NULL) {
            comma = last;
        }

        if (p < comma && p[0] != '/' && p[0] != '@') {
            ngx_memzero(addr, sizeof(addr));

            if (ngx_inet_addr(p, comma - p) == INADDR_NONE
#if (NGX_HAVE_INET6)
                && ngx_inet6_addr(p, comma - p, addr) != NGX_OK
#endif
               )
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"cluster_database\" names the host "
                                   "\"%*s\", which libpq would look up "
                                   "in DNS, blocking a worker: give its "
                                   "address, or add hostaddr=", comma - p,
                                   p);
                PQconninfoFree(opts);
                return NGX_ERROR;
            }
        }

        p = comma + 1;
    }

    PQconninfoFree(opts);

    return NGX_OK;
}


/* a string of the configuration, NUL-terminated in the pool */
static ngx_int_t
ngx_http_cluster_db_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    s->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_cluster_db_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_cluster_db_t  *db = shm_zone->data;

    size_t                  len;
    ngx_http_cluster_db_t  *odb = data;

    db->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (odb) {
        /* a reload: the queue and the owner carry on */
        db->sh = odb->sh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        db->sh = db->shpool->data;
        return NGX_OK;
    }

    db->sh = ngx_slab_calloc(db->shpool, sizeof(ngx_http_cluster_db_shm_t));
    if (db->sh == NULL) {
        return NGX_ERROR;
    }

    db->shpool->data = db->sh;

    len = sizeof(" in cluster database zone");

    db->shpool->log_ctx = ngx_slab_alloc(db->shpool, len);
    if (db->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(db->shpool->log_ctx, " in cluster database zone", len);

    db->sh->status = CLUSTER_DB_CONNECTING;
    db->sh->since = ngx_http_cluster_now();

    return NGX_OK;
}


ngx_int_t
ngx_http_cluster_database_init_process(ngx_cycle_t *cycle,
    ngx_http_cluster_db_t *db)
{
    ngx_uint_t                     i;
    ngx_http_cluster_srv_conf_t  **cscfp;

    db->log = cycle->log;
    db->backoff = 1000;

    /* what this one sees, once an interval, and never more than a second */
    db->observe_every = 30000;
    cscfp = db->cmcf->clusters.elts;

    for (i = 0; i < db->cmcf->clusters.nelts; i++) {
        db->observe_every = ngx_min(db->observe_every,
                            (ngx_msec_t) cscfp[i]->cluster.settings.interval);
    }

    db->observe_every = ngx_max(db->observe_every, 1000);

    db->history_upto = ngx_pcalloc(cycle->pool,
                                   (db->cmcf->clusters.nelts + 1)
                                   * sizeof(uint32_t));
    if (db->history_upto == NULL) {
        return NGX_ERROR;
    }

    db->tick.handler = ngx_http_cluster_db_tick;
    db->tick.data = db;
    db->tick.log = cycle->log;
    db->tick.cancelable = 1;

    ngx_add_timer(&db->tick, NGX_HTTP_CLUSTER_DB_TICK);

    return NGX_OK;
}


void
ngx_http_cluster_database_exit_process(ngx_http_cluster_db_t *db)
{
    ngx_http_cluster_db_close(db);

    if (db->owner && db->sh) {
        ngx_shmtx_lock(&db->shpool->mutex);

        if (db->sh->owner == ngx_pid) {
            /* another worker takes it on at once */
            db->sh->owner = 0;
        }

        ngx_shmtx_unlock(&db->shpool->mutex);
    }

    db->owner = 0;
}


/*
 * An operator's action here, queued for the database: the worker that
 * holds the connection writes it within a tick.
 */
void
ngx_http_cluster_database_push(ngx_http_cluster_db_t *db,
    ngx_str_t *cluster, ngx_str_t *node, ngx_uint_t admin, const char *by,
    int64_t at)
{
    cluster_db_action_t  a;

    ngx_memzero(&a, sizeof(cluster_db_action_t));

    a.at = at;
    a.admin = (uint8_t) admin;

    ngx_http_cluster_db_utf8(a.cluster, sizeof(a.cluster), cluster->data,
                             cluster->len);
    ngx_http_cluster_db_utf8(a.node, sizeof(a.node), node->data, node->len);
    ngx_http_cluster_db_utf8(a.by, sizeof(a.by), (u_char *) by,
                             ngx_strlen(by));
    ngx_http_cluster_db_utf8(a.instance, sizeof(a.instance),
                             db->instance.data, db->instance.len);

    ngx_shmtx_lock(&db->shpool->mutex);

    if (!cluster_db_queue_push(&db->sh->queue, &a)) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "cluster database: %d actions wait for it; the "
                      "oldest is dropped", CLUSTER_DB_QUEUE);
    }

    ngx_shmtx_unlock(&db->shpool->mutex);
}


/* the database as the status shows it; error is the caller's copy */
void
ngx_http_cluster_database_view(ngx_http_cluster_db_t *db,
    cluster_db_view_t *v, char *error, size_t size)
{
    ngx_shmtx_lock(&db->shpool->mutex);

    v->status = (cluster_db_status_e) db->sh->status;
    v->since = db->sh->since;
    v->queued = db->sh->queue.n;
    v->dropped = db->sh->queue.dropped;
    ngx_http_cluster_db_copy(error, size, db->sh->last_error);

    ngx_shmtx_unlock(&db->shpool->mutex);

    v->instance = (const char *) db->instance.data;
    v->last_error = error;
}


/*
 * The other load balancers, and how they see each node, beside this one's
 * snapshots for the status: copied out of the zone into the request's
 * pool, under the zone's lock once.
 */
ngx_int_t
ngx_http_cluster_database_views(ngx_http_cluster_db_t *db, ngx_pool_t *pool,
    cluster_status_cluster_t *clusters, ngx_uint_t n, int64_t now)
{
    ngx_uint_t                  i, npeers;
    cluster_db_peer_t          *peers;
    cluster_status_view_t      *v;
    cluster_status_instance_t  *in;

    ngx_shmtx_lock(&db->shpool->mutex);

    npeers = db->sh->npeers;

    peers = ngx_palloc(pool, npeers * sizeof(cluster_db_peer_t) + 1);

    if (peers) {
        ngx_memcpy(peers, db->sh->peers, npeers * sizeof(cluster_db_peer_t));
    }

    ngx_shmtx_unlock(&db->shpool->mutex);

    if (peers == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        in = ngx_palloc(pool, (npeers + 1) * sizeof(cluster_status_instance_t));
        v = ngx_palloc(pool, (npeers + 1) * sizeof(cluster_status_view_t));

        if (in == NULL || v == NULL) {
            return NGX_ERROR;
        }

        cluster_db_views(&clusters[i], peers, npeers,
                         (const char *) db->instance.data,
                         (const char *) db->host.data,
                         (int64_t) db->observe_every, now, in, v);
    }

    return NGX_OK;
}


static void
ngx_http_cluster_db_tick(ngx_event_t *ev)
{
    ngx_http_cluster_db_t  *db = ev->data;

    int64_t  now;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_cluster_database_exit_process(db);
        return;
    }

    now = ngx_http_cluster_now();

    if (ngx_http_cluster_db_claim(db, now)) {

        if (db->deadline && now > db->deadline) {
            ngx_http_cluster_db_fail(db, "no answer in time", NULL);
        }

        if (db->state == NGX_HTTP_CLUSTER_DB_DOWN && now >= db->retry_at) {
            ngx_http_cluster_db_connect(db, now);
        }

        if (db->state == NGX_HTTP_CLUSTER_DB_READY) {
            ngx_http_cluster_db_next(db, now);
        }

    } else if (db->conn) {
        /* another worker holds it now */
        ngx_http_cluster_db_close(db);
    }

    ngx_add_timer(ev, NGX_HTTP_CLUSTER_DB_TICK);
}


/* whether this worker holds the connection: one of all does */
static ngx_uint_t
ngx_http_cluster_db_claim(ngx_http_cluster_db_t *db, int64_t now)
{
    ngx_shmtx_lock(&db->shpool->mutex);

    if (db->sh->owner == ngx_pid) {
        db->sh->owner_seen = now;

    } else if (db->sh->owner == 0
               || now - db->sh->owner_seen > NGX_HTTP_CLUSTER_DB_TAKEOVER
               || now < db->sh->owner_seen)
    {
        db->sh->owner = ngx_pid;
        db->sh->owner_seen = now;
    }

    db->owner = (db->sh->owner == ngx_pid);

    ngx_shmtx_unlock(&db->shpool->mutex);

    return db->owner;
}


static void
ngx_http_cluster_db_connect(ngx_http_cluster_db_t *db, int64_t now)
{
    u_char      name[CLUSTER_DB_NAME + 16];
    ngx_uint_t  n;
    const char *keywords[5], *values[5];

    n = 0;

    /* the string as written: libpq reads it, URI or key=value */
    keywords[n] = "dbname";
    values[n++] = (const char *) db->conninfo.data;

    if (db->password.len) {
        keywords[n] = "password";
        values[n++] = (const char *) db->password.data;
    }

    (void) ngx_snprintf(name, sizeof(name), "nginx-cluster %V%Z",
                        &db->instance);

    keywords[n] = "fallback_application_name";
    values[n++] = (const char *) name;
    keywords[n] = NULL;
    values[n] = NULL;

    db->conn = PQconnectStartParams(keywords, values, 1);

    if (db->conn == NULL) {
        ngx_http_cluster_db_fail(db, "cannot start a connection",
                                 "out of memory");
        return;
    }

    if (PQstatus(db->conn) == CONNECTION_BAD) {
        ngx_http_cluster_db_fail(db, "cannot connect",
                                 PQerrorMessage(db->conn));
        return;
    }

    if (PQsetnonblocking(db->conn, 1) != 0) {
        ngx_http_cluster_db_fail(db, "cannot connect",
                                 PQerrorMessage(db->conn));
        return;
    }

    db->state = NGX_HTTP_CLUSTER_DB_CONNECTING;
    db->deadline = now + NGX_HTTP_CLUSTER_DB_LIMIT;
    db->schema_ok = 0;
    db->registered = 0;
    db->listening = 0;

    /* every action read again: the database may be another one now */
    ngx_shmtx_lock(&db->shpool->mutex);
    db->sh->seq = 0;
    ngx_shmtx_unlock(&db->shpool->mutex);

    /* as libpq wants it: the first poll once the socket is writable */
    if (ngx_http_cluster_db_watch(db, 1) != NGX_OK) {
        ngx_http_cluster_db_fail(db, "cannot watch the connection", NULL);
    }
}


/*
 * One step of the connection, when its socket is ready.  libpq may close
 * its socket in the step and open another, trying another host or another
 * mode, which may well get the same number: nginx forgets the socket
 * before the step, while it is still open, and watches whatever libpq has
 * after it.
 */
static void
ngx_http_cluster_db_connecting(ngx_http_cluster_db_t *db)
{
    PostgresPollingStatusType  rc;

    ngx_http_cluster_db_unwatch(db);

    rc = PQconnectPoll(db->conn);

    if (rc == PGRES_POLLING_FAILED) {
        ngx_http_cluster_db_fail(db, "cannot connect",
                                 PQerrorMessage(db->conn));
        return;
    }

    if (ngx_http_cluster_db_watch(db, rc == PGRES_POLLING_WRITING)
        != NGX_OK)
    {
        ngx_http_cluster_db_fail(db, "cannot watch the connection", NULL);
        return;
    }

    if (rc != PGRES_POLLING_OK) {
        /* reading: the read event comes */
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                  "cluster database connected, as instance \"%V\"",
                  &db->instance);

    db->state = NGX_HTTP_CLUSTER_DB_READY;
    db->deadline = 0;
    db->backoff = 1000;
    db->said_down = 0;
    db->poll_now = 1;

    ngx_http_cluster_db_status(db, CLUSTER_DB_CONNECTED, "");

    ngx_http_cluster_db_next(db, ngx_http_cluster_now());
}


/* the connection's socket among nginx's events, read always */
static ngx_int_t
ngx_http_cluster_db_watch(ngx_http_cluster_db_t *db, ngx_uint_t write)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(PQsocket(db->conn), db->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = db;
    c->log = db->log;
    c->read->handler = ngx_http_cluster_db_event;
    c->write->handler = ngx_http_cluster_db_event;
    c->read->log = db->log;
    c->write->log = db->log;

    db->c = c;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        return NGX_ERROR;
    }

    if (write
        && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The socket is libpq's: nginx forgets it without closing it (libpq
 * closes it, and the kernel's epoll forgets it then).
 */
static void
ngx_http_cluster_db_unwatch(ngx_http_cluster_db_t *db)
{
    ngx_uint_t         flags;
    ngx_connection_t  *c;

    c = db->c;

    if (c == NULL) {
        return;
    }

    /* still libpq's open socket: taken out of epoll; else closed already */
    flags = (db->conn && PQsocket(db->conn) == c->fd) ? 0 : NGX_CLOSE_EVENT;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);

    db->c = NULL;
}


static void
ngx_http_cluster_db_event(ngx_event_t *ev)
{
    ngx_connection_t       *c = ev->data;
    ngx_http_cluster_db_t  *db = c->data;

    switch (db->state) {

    case NGX_HTTP_CLUSTER_DB_CONNECTING:
        ngx_http_cluster_db_connecting(db);
        return;

    case NGX_HTTP_CLUSTER_DB_BUSY:
    case NGX_HTTP_CLUSTER_DB_READY:
        if (ev->write) {
            ngx_http_cluster_db_flush(db);

        } else {
            ngx_http_cluster_db_read(db);
        }

        return;

    default:
        return;
    }
}


/* what the connection does next, when nothing is in flight */
static void
ngx_http_cluster_db_next(ngx_http_cluster_db_t *db, int64_t now)
{
    u_char                      at[NGX_INT64_LEN + 1], seq[NGX_INT64_LEN + 1],
                                started[NGX_INT64_LEN + 1];
    const char                 *values[6];
    const cluster_db_action_t  *a;

    if (db->state != NGX_HTTP_CLUSTER_DB_READY) {
        return;
    }

    if (!db->schema_ok) {
        ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_SCHEMA, 0, NULL);
        return;
    }

    if (!db->registered) {
        db->started = now;
        (void) ngx_snprintf(started, sizeof(started), "%L%Z", now);

        values[0] = (const char *) db->instance.data;
        values[1] = (const char *) db->host.data;
        values[2] = CLUSTER_VERSION;
        values[3] = (const char *) started;

        ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_REGISTER, 4, values);
        return;
    }

    if (!db->listening) {
        ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_LISTEN, 0, NULL);
        return;
    }

    /* an operator's action first, then what others did */

    ngx_shmtx_lock(&db->shpool->mutex);

    a = cluster_db_queue_peek(&db->sh->queue);

    if (a) {
        db->sending = *a;
    }

    ngx_shmtx_unlock(&db->shpool->mutex);

    if (a) {
        (void) ngx_snprintf(at, sizeof(at), "%L%Z", db->sending.at);

        values[0] = db->sending.cluster;
        values[1] = db->sending.node;
        values[2] = cluster_action_name(db->sending.admin);
        values[3] = db->sending.by;
        values[4] = (const char *) at;
        values[5] = db->sending.instance;

        ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_ACTION, 6, values);
        return;
    }

    if (now >= db->next_observe) {
        db->next_observe = now + (int64_t) db->observe_every;

        if (ngx_http_cluster_db_observe(db, now) == NGX_OK) {
            return;
        }
    }

    if (db->poll_now || now >= db->next_poll) {
        db->poll_now = 0;
        db->next_poll = now + NGX_HTTP_CLUSTER_DB_POLL;

        ngx_shmtx_lock(&db->shpool->mutex);
        (void) ngx_snprintf(seq, sizeof(seq), "%L%Z", db->sh->seq);
        ngx_shmtx_unlock(&db->shpool->mutex);

        values[0] = (const char *) seq;

        ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_ACTIONS, 1, values);
        return;
    }

    if (now >= db->next_seen) {
        db->next_seen = now + NGX_HTTP_CLUSTER_DB_SEEN;
        (void) ngx_snprintf(at, sizeof(at), "%L%Z", now);

        values[0] = (const char *) db->instance.data;
        values[1] = (const char *) at;

        ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_SEEN, 2, values);
        return;
    }

    if (now >= db->next_prune) {
        db->next_prune = now + NGX_HTTP_CLUSTER_DB_PRUNE;
        (void) ngx_snprintf(at, sizeof(at), "%L%Z",
                            now - (int64_t) db->retention * 1000);

        values[0] = (const char *) at;

        ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_PRUNE, 1, values);
        return;
    }
}


static void
ngx_http_cluster_db_send(ngx_http_cluster_db_t *db, cluster_db_sql_e which,
    int n, const char **values)
{
    int  rc;

    if (which == CLUSTER_DB_SQL_SCHEMA || which == CLUSTER_DB_SQL_LISTEN) {
        /* statements without parameters; the schema's are several */
        rc = PQsendQuery(db->conn, db->sql[which]);

    } else {
        rc = PQsendQueryParams(db->conn, db->sql[which], n, NULL, values,
                               NULL, NULL, 0);
    }

    if (rc == 0) {
        ngx_http_cluster_db_fail(db, "cannot send a statement",
                                 PQerrorMessage(db->conn));
        return;
    }

    db->state = NGX_HTTP_CLUSTER_DB_BUSY;
    db->query = which;
    db->deadline = ngx_http_cluster_now() + NGX_HTTP_CLUSTER_DB_LIMIT;

    ngx_http_cluster_db_flush(db);
}


/* what libpq has to send, as the socket takes it */
static void
ngx_http_cluster_db_flush(ngx_http_cluster_db_t *db)
{
    int  rc;

    rc = PQflush(db->conn);

    if (rc < 0) {
        ngx_http_cluster_db_fail(db, "cannot send a statement",
                                 PQerrorMessage(db->conn));
        return;
    }

    if (rc == 1) {
        if (!db->c->write->active
            && ngx_add_event(db->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
               != NGX_OK)
        {
            ngx_http_cluster_db_fail(db, "cannot watch the connection",
                                     NULL);
        }

        return;
    }

    if (db->c->write->active) {
        (void) ngx_del_event(db->c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_http_cluster_db_read(ngx_http_cluster_db_t *db)
{
    PGresult  *res;
    PGnotify  *note;

    if (PQconsumeInput(db->conn) == 0) {
        ngx_http_cluster_db_fail(db, "the connection failed",
                                 PQerrorMessage(db->conn));
        return;
    }

    while ((note = PQnotifies(db->conn)) != NULL) {
        /* another load balancer wrote an action: read it at once */
        db->poll_now = 1;
        PQfreemem(note);
    }

    while (db->state == NGX_HTTP_CLUSTER_DB_BUSY && !PQisBusy(db->conn)) {

        res = PQgetResult(db->conn);

        if (res == NULL) {
            /* the statement is done */
            db->state = NGX_HTTP_CLUSTER_DB_READY;
            db->deadline = 0;

            ngx_http_cluster_db_next(db, ngx_http_cluster_now());
            return;
        }

        if (ngx_http_cluster_db_result(db, res) != NGX_OK) {
            PQclear(res);
            return;
        }

        PQclear(res);
    }

    if (db->state == NGX_HTTP_CLUSTER_DB_READY && db->poll_now) {
        ngx_http_cluster_db_next(db, ngx_http_cluster_now());
    }
}


static ngx_int_t
ngx_http_cluster_db_result(ngx_http_cluster_db_t *db, PGresult *res)
{
    char            *state;
    ngx_int_t        version;
    ExecStatusType   rc;

    rc = PQresultStatus(res);

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (rc == PGRES_FATAL_ERROR && db->query == CLUSTER_DB_SQL_ACTION
        && state && state[0] == '2' && state[1] == '2')
    {
        /* an action PostgreSQL cannot take (a data exception): never will */
        ngx_log_error(NGX_LOG_WARN, db->log, 0,
                      "cluster database refused the %s of \"%s\": %s; it "
                      "stays on this load balancer only",
                      cluster_action_name(db->sending.admin),
                      db->sending.node, state);
        ngx_http_cluster_db_pop(db);
        return NGX_OK;
    }

    if (rc != PGRES_COMMAND_OK && rc != PGRES_TUPLES_OK) {
        ngx_http_cluster_db_fail(db, "a statement failed",
                                 PQresultErrorMessage(res));
        return NGX_ERROR;
    }

    switch (db->query) {

    case CLUSTER_DB_SQL_SCHEMA:
        /* the version's row, not the advisory lock's */
        if (rc == PGRES_TUPLES_OK && PQntuples(res) == 1
            && PQnfields(res) == 1 && PQfnumber(res, "value") == 0)
        {
            version = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                               ngx_strlen(PQgetvalue(res, 0, 0)));

            if (version == NGX_ERROR || version > CLUSTER_DB_SCHEMA_VERSION)
            {
                ngx_http_cluster_db_fail(db, "the schema is newer than "
                                         "this module knows", NULL);
                return NGX_ERROR;
            }

            db->schema_ok = 1;
        }

        break;

    case CLUSTER_DB_SQL_REGISTER:
        db->registered = 1;
        break;

    case CLUSTER_DB_SQL_LISTEN:
        db->listening = 1;
        break;

    case CLUSTER_DB_SQL_ACTION:
        /* written: it leaves the queue, and the row as it stands holds */
        ngx_http_cluster_db_pop(db);

        ngx_http_cluster_db_actions(db, res, 0);
        break;

    case CLUSTER_DB_SQL_ACTIONS:
        ngx_http_cluster_db_actions(db, res, 1);
        break;

    case CLUSTER_DB_SQL_OBSERVE:
        ngx_http_cluster_db_written(db);
        ngx_http_cluster_db_peers(db, res);
        break;

    default:
        break;
    }

    return NGX_OK;
}


/* the action sent leaves the queue, if a full queue did not drop it */
static void
ngx_http_cluster_db_pop(ngx_http_cluster_db_t *db)
{
    const cluster_db_action_t  *a;

    ngx_shmtx_lock(&db->shpool->mutex);

    a = cluster_db_queue_peek(&db->sh->queue);

    if (a && ngx_memcmp(a, &db->sending, sizeof(cluster_db_action_t)) == 0) {
        cluster_db_queue_pop(&db->sh->queue);
    }

    ngx_shmtx_unlock(&db->shpool->mutex);
}


/* rows of node_admin: cluster, node, admin, by, at, instance, seq */
static void
ngx_http_cluster_db_actions(ngx_http_cluster_db_t *db, PGresult *res,
    ngx_uint_t poll)
{
    int                  i, k, n;
    int64_t              seq;
    const char          *col[CLUSTER_DB_ACTION_COLUMNS];
    cluster_db_action_t  a;

    if (PQnfields(res) != CLUSTER_DB_ACTION_COLUMNS) {
        return;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {

        for (k = 0; k < CLUSTER_DB_ACTION_COLUMNS; k++) {
            col[k] = PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);
        }

        k = cluster_db_action_row(col, &a, &seq);

        /*
         * Only a poll moves on the sequence, and by every row it read,
         * whatever the row: the row of this one's own write may be ahead
         * of others' not read yet.
         */

        if (poll && seq > 0) {
            ngx_shmtx_lock(&db->shpool->mutex);

            if (seq > db->sh->seq) {
                db->sh->seq = seq;
            }

            ngx_shmtx_unlock(&db->shpool->mutex);
        }

        if (k) {
            ngx_http_cluster_db_apply(db, &a);
        }
    }
}


/* an action from the database, into every cluster of this nginx */
static void
ngx_http_cluster_db_apply(ngx_http_cluster_db_t *db, cluster_db_action_t *a)
{
    size_t                         len;
    int64_t                        now;
    ngx_str_t                      empty, *name;
    ngx_uint_t                     i, j, same;
    cluster_events_t               ev;
    ngx_http_cluster_member_t     *m;
    ngx_http_cluster_srv_conf_t  **cscfp, *cscf;

    now = ngx_http_cluster_now();
    len = ngx_strlen(a->node);
    ngx_str_null(&empty);

    cscfp = db->cmcf->clusters.elts;

    for (i = 0; i < db->cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];

        if (cscf->shared == NULL
            || cscf->upstream->host.len != ngx_strlen(a->cluster)
            || ngx_strncmp(cscf->upstream->host.data, a->cluster,
                           cscf->upstream->host.len) != 0)
        {
            continue;
        }

        for (j = 0; j < cscf->nmembers; j++) {
            m = &cscf->members[j];

            if (m->id->len != len
                || ngx_strncmp(m->id->data, a->node, len) != 0)
            {
                continue;
            }

            ev.n = 0;
            ev.more = 0;

            if (!cluster_db_apply(&cscf->cluster, j, a,
                                  (const char *) m->name->data, m->name->len,
                                  now, &ev))
            {
                break;
            }

            ngx_http_cluster_report(cscf, &ev, db->log);

            name = m->name;
            same = !ngx_http_cluster_member_named(m);

            ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                          "cluster \"%V\" node \"%V\"%s%V%s: %s by %s on "
                          "%s, from the database", &cscf->upstream->host,
                          name, same ? "" : " (", same ? &empty : m->id,
                          same ? "" : ")", cluster_action_name(a->admin),
                          a->by, a->instance);
            break;
        }
    }
}


/*
 * What this load balancer sees of every node, in one statement that reads
 * back what the others see: one round trip an interval, whatever the
 * traffic and the number of nodes.
 */
static ngx_int_t
ngx_http_cluster_db_observe(ngx_http_cluster_db_t *db, int64_t now)
{
    u_char                         *json, at[NGX_INT64_LEN + 1];
    size_t                          size, hsize, len, lost;
    ngx_uint_t                      i, j, n, k, c, base;
    const char                     *values[4];
    cluster_history_t              *entries;
    cluster_db_history_t           *hist;
    cluster_node_t                 *facts;
    cluster_db_observation_t       *obs;
    ngx_http_cluster_srv_conf_t   **cscfp, *cscf;

    cscfp = db->cmcf->clusters.elts;
    n = 0;

    for (i = 0; i < db->cmcf->clusters.nelts; i++) {
        n += cscfp[i]->nmembers;
    }

    obs = ngx_alloc(n * (sizeof(cluster_db_observation_t)
                         + sizeof(cluster_node_t)) + 1, db->log);
    if (obs == NULL) {
        return NGX_ERROR;
    }

    facts = (cluster_node_t *) (obs + n);
    base = 0;
    k = 0;

    for (i = 0; i < db->cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];

        if (cscf->shared == NULL) {
            base += cscf->nmembers;
            continue;
        }

        /* a copy of each cluster, under its lock once */
        cluster_copy(&cscf->cluster, &facts[base]);

        for (j = 0; j < cscf->nmembers; j++) {
            if (cscf->cluster.nodes[j] == NULL) {
                continue;
            }

            obs[k].cluster = (const char *) cscf->upstream->host.data;
            obs[k].cluster_len = cscf->upstream->host.len;
            obs[k].node = (const char *) cscf->members[j].id->data;
            obs[k].node_len = cscf->members[j].id->len;
            obs[k].facts = &facts[base + j];
            obs[k].key_fingerprint = ngx_http_cluster_key_used(cscf);
            k++;
        }

        base += cscf->nmembers;
    }

    /* the history since the last write, each cluster's */

    c = db->cmcf->clusters.nelts;

    hist = ngx_alloc(c * (sizeof(cluster_db_history_t)
                          + CLUSTER_HISTORY_MAX * sizeof(cluster_history_t))
                     + 1, db->log);
    if (hist == NULL) {
        ngx_free(obs);
        return NGX_ERROR;
    }

    entries = (cluster_history_t *) (hist + c);

    for (i = 0; i < c; i++) {
        cscf = cscfp[i];

        hist[i].cluster = (const char *) cscf->upstream->host.data;
        hist[i].cluster_len = cscf->upstream->host.len;
        hist[i].history = &entries[i * CLUSTER_HISTORY_MAX];
        hist[i].n = 0;

        if (cscf->shared == NULL) {
            continue;
        }

        hist[i].n = cluster_history_take(&cscf->cluster,
                                         &entries[i * CLUSTER_HISTORY_MAX],
                                         &lost, &db->history_upto[i]);
        if (lost) {
            ngx_log_error(NGX_LOG_WARN, db->log, 0,
                          "cluster \"%V\": %uz events happened faster than "
                          "the database took them, and are not in it",
                          &cscf->upstream->host, lost);
        }
    }

    size = cluster_db_observations(NULL, 0, obs, k) + 1;
    hsize = cluster_db_history(NULL, 0, hist, c) + 1;

    json = ngx_alloc(size + hsize, db->log);
    if (json == NULL) {
        ngx_free(obs);
        ngx_free(hist);
        return NGX_ERROR;
    }

    len = cluster_db_observations((char *) json, size, obs, k);
    json[len] = '\0';

    len = cluster_db_history((char *) json + size, hsize, hist, c);
    json[size + len] = '\0';

    ngx_free(obs);
    ngx_free(hist);

    (void) ngx_snprintf(at, sizeof(at), "%L%Z", now);

    values[0] = (const char *) db->instance.data;
    values[1] = (const char *) at;
    values[2] = (const char *) json;
    values[3] = (const char *) json + size;

    /* libpq copies the parameters into its own buffer as it sends */
    ngx_http_cluster_db_send(db, CLUSTER_DB_SQL_OBSERVE, 4, values);

    ngx_free(json);

    return NGX_OK;
}


/* the history the statement carried is in the database */
static void
ngx_http_cluster_db_written(ngx_http_cluster_db_t *db)
{
    ngx_uint_t                     i;
    ngx_http_cluster_srv_conf_t  **cscfp;

    cscfp = db->cmcf->clusters.elts;

    for (i = 0; i < db->cmcf->clusters.nelts; i++) {
        if (cscfp[i]->shared) {
            cluster_history_written(&cscfp[i]->cluster,
                                    db->history_upto[i]);
        }
    }
}


/* the others' views, into the zone for the status; their key verdicts */
static void
ngx_http_cluster_db_peers(ngx_http_cluster_db_t *db, PGresult *res)
{
    int                 i, k, n;
    int64_t             now;
    ngx_uint_t          m;
    const char         *col[CLUSTER_DB_PEER_COLUMNS];
    cluster_db_peer_t  *peers;

    if (PQnfields(res) != CLUSTER_DB_PEER_COLUMNS) {
        return;
    }

    now = ngx_http_cluster_now();
    n = ngx_min(PQntuples(res), NGX_HTTP_CLUSTER_DB_PEERS);

    peers = ngx_alloc(n * sizeof(cluster_db_peer_t) + 1, db->log);
    if (peers == NULL) {
        return;
    }

    m = 0;

    for (i = 0; i < n; i++) {
        for (k = 0; k < CLUSTER_DB_PEER_COLUMNS; k++) {
            col[k] = PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);
        }

        if (cluster_db_peer_parse(&peers[m], col, now)) {
            ngx_http_cluster_db_share(db, &peers[m], now);
            m++;
        }
    }

    ngx_shmtx_lock(&db->shpool->mutex);

    ngx_memcpy(db->sh->peers, peers, m * sizeof(cluster_db_peer_t));
    db->sh->npeers = m;
    db->sh->peers_at = now;

    ngx_shmtx_unlock(&db->shpool->mutex);

    ngx_free(peers);
}


/* what a node's fact another one proved says here: its key verdict */
static void
ngx_http_cluster_db_share(ngx_http_cluster_db_t *db, cluster_db_peer_t *p,
    int64_t now)
{
    size_t                         len;
    ngx_uint_t                     i, j;
    cluster_events_t               ev;
    ngx_http_cluster_srv_conf_t  **cscfp, *cscf;

    len = ngx_strlen(p->node);
    cscfp = db->cmcf->clusters.elts;

    for (i = 0; i < db->cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];

        if (cscf->shared == NULL
            || cscf->upstream->host.len != ngx_strlen(p->cluster)
            || ngx_strncmp(cscf->upstream->host.data, p->cluster,
                           cscf->upstream->host.len) != 0)
        {
            continue;
        }

        for (j = 0; j < cscf->nmembers; j++) {
            if (cscf->members[j].id->len != len
                || ngx_strncmp(cscf->members[j].id->data, p->node, len) != 0)
            {
                continue;
            }

            ev.n = 0;
            ev.more = 0;

            /* its service and release, for a load balancer without checks */
            (void) cluster_facts_adopt(&cscf->cluster, j, p->findings,
                                       p->release, p->at, now, &ev);

            if (cluster_db_share_key(&cscf->cluster, j, p,
                                     ngx_http_cluster_key_used(cscf), now,
                                     &ev))
            {
                ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                              "cluster \"%V\" node \"%V\": key %s, proved "
                              "by %s", &cscf->upstream->host,
                              cscf->members[j].name,
                              p->key == CLUSTER_KEY_MISMATCH
                              ? "mismatch" : "in sync", p->instance);
            }

            ngx_http_cluster_report(cscf, &ev, db->log);
            break;
        }
    }
}


static void
ngx_http_cluster_db_fail(ngx_http_cluster_db_t *db, const char *what,
    const char *error)
{
    char        text[160];
    ngx_uint_t  said;

    if (error && error[0] == '\0') {
        error = NULL;
    }

    /* libpq's words are copied: they go with the connection */
    ngx_http_cluster_db_copy(text, sizeof(text), error ? error : what);
    said = (error != NULL);
    error = NULL;

    ngx_http_cluster_db_close(db);

    db->retry_at = ngx_http_cluster_now() + (int64_t) db->backoff;
    db->backoff = ngx_min(db->backoff * 2, NGX_HTTP_CLUSTER_DB_BACKOFF);

    if (!db->said_down) {
        /* once an outage; the page has the last error meanwhile */
        db->said_down = 1;
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "cluster database unreachable: %s%s%s; traffic goes "
                      "on, actions wait for it", what, said ? ": " : "",
                      said ? text : "");
    }

    ngx_http_cluster_db_status(db, CLUSTER_DB_UNREACHABLE, text);
}


static void
ngx_http_cluster_db_close(ngx_http_cluster_db_t *db)
{
    ngx_http_cluster_db_unwatch(db);

    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }

    db->state = NGX_HTTP_CLUSTER_DB_DOWN;
    db->deadline = 0;
}


static void
ngx_http_cluster_db_status(ngx_http_cluster_db_t *db,
    cluster_db_status_e status, const char *error)
{
    ngx_shmtx_lock(&db->shpool->mutex);

    if (db->sh->status != (uint32_t) status) {
        db->sh->status = status;
        db->sh->since = ngx_http_cluster_now();
    }

    if (status == CLUSTER_DB_UNREACHABLE) {
        ngx_http_cluster_db_copy(db->sh->last_error,
                                 sizeof(db->sh->last_error), error);
    }

    ngx_shmtx_unlock(&db->shpool->mutex);
}


/*
 * A name into a field of an action: cut, if it must be, before a UTF-8
 * sequence rather than inside one, which PostgreSQL would refuse
 */
static void
ngx_http_cluster_db_utf8(char *to, size_t size, u_char *from, size_t len)
{
    if (len >= size) {
        len = size - 1;

        while (len && (from[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    ngx_memcpy(to, from, len);
    to[len] = '\0';
}


/* a line of libpq's, or the database's: its first line, printable */
static void
ngx_http_cluster_db_copy(char *to, size_t size, const char *from)
{
    cluster_db_copy(to, size, from);
}
