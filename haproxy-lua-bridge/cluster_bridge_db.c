
/*
 * Copyright (C) ngx_cluster_module authors
 */


/*
 * cluster_database for HAProxy: the bridge joins the nginx load balancers'
 * shared PostgreSQL, with the same statements, observations, history and
 * merge rules (src/cluster_db.c), so that an nginx and a HAProxy in front
 * of one cluster share one truth.  libpq is used blocking, on a thread of
 * the bridge's own and nowhere else: HAProxy's threads only push actions
 * into a queue and read a copy of what the thread last read, under a
 * mutex, never waiting on the database.
 */


#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cluster_bridge.h"
#include "cluster_admin.h"
#include "cluster_db.h"
#include "cluster_version.h"


#define BRIDGE_DB_POLL      1000           /* ms between polls of actions */
#define BRIDGE_DB_SEEN      10000
#define BRIDGE_DB_PRUNE     (600 * 1000)
#define BRIDGE_DB_BACKOFF   30000          /* the longest wait, ms */
#define BRIDGE_DB_WAIT      200            /* the longest sleep, ms */
#define BRIDGE_DB_LIMIT     10000          /* ms a statement may take */
#define BRIDGE_DB_PEERS     1024
#define BRIDGE_DB_LINES     64


typedef struct bridge_db_s {
    char                     conninfo[2048];
    char                     password[1024];
    char                     instance[CLUSTER_DB_NAME];
    char                     host[CLUSTER_DB_NAME];
    char                     schema[CLUSTER_DB_NAME];
    int64_t                  retention;        /* s */
    char                    *sql[CLUSTER_DB_SQL_N];
    int64_t                  every;            /* ms between observations */

    /* the thread's own */
    pthread_t                thread;
    int                      started;
    PGconn                  *conn;
    int64_t                  backoff;
    int                      said_down;
    int64_t                  next_observe;
    int64_t                  next_poll;
    int64_t                  next_seen;
    int64_t                  next_prune;
    int                      poll_now;
    uint32_t                 history_upto[BRIDGE_BACKENDS];
    cluster_db_action_t      sending;

    /* shared with HAProxy's threads, under "mutex" */
    pthread_mutex_t          mutex;
    cluster_db_status_e      status;
    int64_t                  since;
    char                     last_error[160];
    cluster_db_queue_t       queue;
    int64_t                  seq;
    size_t                   npeers;
    cluster_db_peer_t        peers[BRIDGE_DB_PEERS];
    size_t                   nlines;
    int                      line_level[BRIDGE_DB_LINES];
    char                     line[BRIDGE_DB_LINES][256];
} bridge_db_t;


static void *bridge_db_main(void *data);
static int bridge_db_connect(bridge_db_t *db);
static int bridge_db_round(bridge_db_t *db);
static PGresult *bridge_db_exec(bridge_db_t *db, cluster_db_sql_e which,
    const char **values);
static int bridge_db_ok(bridge_db_t *db, PGresult *res, const char *what);
static void bridge_db_fail(bridge_db_t *db, const char *what,
    const char *error);
static void bridge_db_set(bridge_db_t *db, cluster_db_status_e status,
    const char *error);
static void bridge_db_say(bridge_db_t *db, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void bridge_db_report(bridge_db_t *db, bridge_backend_t *b,
    cluster_events_t *ev);
static void bridge_db_actions(bridge_db_t *db, PGresult *res, int poll);
static void bridge_db_apply(bridge_db_t *db, const cluster_db_action_t *a);
static int bridge_db_observe(bridge_db_t *db, int64_t now);
static void bridge_db_peers(bridge_db_t *db, PGresult *res, int64_t now);
static void bridge_db_copy(char *dst, size_t size, const char *src);


/*
 * cluster_database "conninfo" [password_file=] [instance=] [schema=]
 * [retention=], at the top of the bridge's file, as in nginx.conf.
 */
int
bridge_db_directive(bridge_t *br, const cluster_word_t *w, size_t n,
    char *err)
{
    char               path[4096], *text, *msg;
    size_t             i, len;
    int64_t            ms;
    bridge_db_t       *db;
    cluster_word_t     v;
    PQconninfoOption  *opts;

    if (br->db) {
        snprintf(err, CLUSTER_CONF_ERROR, "\"cluster_database\" directive "
                 "is duplicate");
        return -1;
    }

    if (n < 1 || w[0].len == 0 || w[0].len >= sizeof(db->conninfo)) {
        snprintf(err, CLUSTER_CONF_ERROR, "invalid number of arguments in "
                 "\"cluster_database\", expected a connection string first");
        return -1;
    }

    db = calloc(1, sizeof(bridge_db_t));
    if (db == NULL) {
        snprintf(err, CLUSTER_CONF_ERROR, "out of memory");
        return -1;
    }

    bridge_copy(&w[0], db->conninfo, sizeof(db->conninfo));

    /* libpq's words are not shown: they may quote a password */
    msg = NULL;
    opts = PQconninfoParse(db->conninfo, &msg);

    if (opts == NULL) {
        PQfreemem(msg);
        snprintf(err, CLUSTER_CONF_ERROR, "invalid connection string, "
                 "expected libpq's, such as \"host=127.0.0.1 dbname=...\"");
        goto failed;
    }

    PQconninfoFree(opts);

    if (gethostname(db->host, sizeof(db->host) - 1) != 0) {
        db->host[0] = '\0';
    }

    strcpy(db->instance, db->host);
    strcpy(db->schema, "ngx_cluster");
    db->retention = 30 * 86400;

    for (i = 1; i < n; i++) {

        if (w[i].len > 14 && memcmp(w[i].data, "password_file=", 14) == 0) {
            v.data = w[i].data + 14;
            v.len = w[i].len - 14;
            bridge_copy(&v, path, sizeof(path));

            text = malloc(BRIDGE_SECRET_MAX + 1);
            if (text == NULL) {
                snprintf(err, CLUSTER_CONF_ERROR, "out of memory");
                goto failed;
            }

            if (bridge_read_secret(path, "password file", text, &len, err)
                != 0)
            {
                free(text);
                goto failed;
            }

            for (len = 0; text[len] && text[len] != '\n' && text[len] != '\r';
                 len++)
            {
                /* void */
            }

            if (len == 0 || len >= sizeof(db->password)) {
                snprintf(err, CLUSTER_CONF_ERROR, "the password file \"%s\" "
                         "is %s", path, len ? "too long" : "empty");
                sodium_memzero(text, BRIDGE_SECRET_MAX + 1);
                free(text);
                goto failed;
            }

            memcpy(db->password, text, len);
            sodium_memzero(text, BRIDGE_SECRET_MAX + 1);
            free(text);
            continue;
        }

        if (w[i].len > 9 && memcmp(w[i].data, "instance=", 9) == 0) {
            if (w[i].len - 9 >= CLUSTER_DB_NAME) {
                goto invalid;
            }

            v.data = w[i].data + 9;
            v.len = w[i].len - 9;
            bridge_copy(&v, db->instance, sizeof(db->instance));
            continue;
        }

        if (w[i].len > 7 && memcmp(w[i].data, "schema=", 7) == 0) {
            if (!cluster_db_identifier(w[i].data + 7, w[i].len - 7)) {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", "
                         "expected \"schema=\" a name of lower-case letters, "
                         "digits and \"_\", not starting with a digit, at "
                         "most 63 bytes", (int) w[i].len, w[i].data);
                goto failed;
            }

            v.data = w[i].data + 7;
            v.len = w[i].len - 7;
            bridge_copy(&v, db->schema, sizeof(db->schema));
            continue;
        }

        if (w[i].len > 10 && memcmp(w[i].data, "retention=", 10) == 0) {
            if (cluster_conf_seconds(w[i].data + 10, w[i].len - 10, &ms) != 0
                || ms < 3600 * 1000 || ms > 3650LL * 86400 * 1000)
            {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", "
                         "expected \"retention=\" a time of at least 1h and "
                         "at most 3650d", (int) w[i].len, w[i].data);
                goto failed;
            }

            db->retention = ms / 1000;
            continue;
        }

        snprintf(err, CLUSTER_CONF_ERROR, "invalid parameter \"%.*s\", "
                 "expected \"password_file=\", \"instance=\", \"schema=\" or "
                 "\"retention=\"", (int) w[i].len, w[i].data);
        goto failed;
    }

    if (db->instance[0] == '\0') {
        snprintf(err, CLUSTER_CONF_ERROR, "the host name cannot name this "
                 "load balancer: give \"instance=\"");
        goto failed;
    }

    for (i = 0; i < CLUSTER_DB_SQL_N; i++) {
        len = cluster_db_sql((cluster_db_sql_e) i, db->schema, NULL, 0);

        db->sql[i] = malloc(len + 1);
        if (db->sql[i] == NULL) {
            snprintf(err, CLUSTER_CONF_ERROR, "out of memory");
            goto failed;
        }

        (void) cluster_db_sql((cluster_db_sql_e) i, db->schema, db->sql[i],
                              len + 1);
    }

    pthread_mutex_init(&db->mutex, NULL);
    db->status = CLUSTER_DB_CONNECTING;
    db->backoff = 1000;

    br->db = db;

    return 0;

invalid:

    snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", expected "
             "\"instance=\" a name of 1 to %d bytes", (int) w[i].len,
             w[i].data, CLUSTER_DB_NAME - 1);

failed:

    for (i = 0; i < CLUSTER_DB_SQL_N; i++) {
        free(db->sql[i]);
    }

    sodium_memzero(db->password, sizeof(db->password));
    free(db);

    return -1;
}


/*
 * The thread, started by the first tick of a worker (HAProxy may fork
 * after its start, and a thread does not cross a fork); once per process.
 */
void
bridge_db_start(bridge_t *br)
{
    size_t        i;
    bridge_db_t  *db;

    db = br->db;

    if (db == NULL || db->started) {
        return;
    }

    db->started = 1;

    /* as often as the shortest heartbeat interval, once a second at most */
    db->every = 30000;

    for (i = 0; i < br->nbackends; i++) {
        if (br->backends[i]->attached
            && br->backends[i]->cluster.settings.interval < db->every)
        {
            db->every = br->backends[i]->cluster.settings.interval;
        }
    }

    if (db->every < 1000) {
        db->every = 1000;
    }

    if (pthread_create(&db->thread, NULL, bridge_db_main, db) != 0) {
        bridge_db_say(db, 3, "cluster database: cannot start its thread");
        return;
    }

    (void) pthread_detach(db->thread);
}


/* an operator's action, for the others: the latest by time wins */
void
bridge_db_push(bridge_t *br, const bridge_backend_t *b, size_t node,
    uint8_t admin, const char *by, int64_t now)
{
    bridge_db_t          *db;
    cluster_db_action_t   a;

    db = br->db;

    if (db == NULL) {
        return;
    }

    memset(&a, 0, sizeof(cluster_db_action_t));
    a.at = now;
    a.admin = admin;
    bridge_db_copy(a.cluster, sizeof(a.cluster), b->name);
    bridge_db_copy(a.node, sizeof(a.node), b->bnodes[node].id);
    bridge_db_copy(a.by, sizeof(a.by), by);
    bridge_db_copy(a.instance, sizeof(a.instance), db->instance);

    pthread_mutex_lock(&db->mutex);

    if (cluster_db_queue_push(&db->queue, &a) == 0) {
        /* the oldest was dropped: said in the status as "dropped" */
    }

    pthread_mutex_unlock(&db->mutex);
}


size_t
bridge_db_lines(bridge_t *br, int *level, char text[][256], size_t max)
{
    size_t        i, n;
    bridge_db_t  *db;

    db = br->db;

    if (db == NULL) {
        return 0;
    }

    pthread_mutex_lock(&db->mutex);

    n = db->nlines < max ? db->nlines : max;

    for (i = 0; i < n; i++) {
        level[i] = db->line_level[i];
        memcpy(text[i], db->line[i], 256);
    }

    /* those that did not fit wait for the next tick */
    for (i = n; i < db->nlines; i++) {
        db->line_level[i - n] = db->line_level[i];
        memcpy(db->line[i - n], db->line[i], 256);
    }

    db->nlines -= n;

    pthread_mutex_unlock(&db->mutex);

    return n;
}


/*
 * For the status: the database's view, and each cluster's load balancers
 * and its nodes' views by the others.  Returns what the caller frees once
 * it rendered (the copies the views point into), or NULL.
 */
void *
bridge_db_status(bridge_t *br, cluster_status_cluster_t *clusters, size_t n,
    cluster_db_view_t *view, char *error, size_t size, int64_t now)
{
    char                       *mem;
    size_t                      i, npeers;
    bridge_db_t                *db;
    cluster_db_peer_t          *peers;
    cluster_status_view_t      *v;
    cluster_status_instance_t  *in;

    db = br->db;

    if (db == NULL) {
        return NULL;
    }

    pthread_mutex_lock(&db->mutex);

    npeers = db->npeers;

    mem = malloc(npeers * sizeof(cluster_db_peer_t)
                 + (n + 1) * (npeers + 1) * (sizeof(cluster_status_instance_t)
                                             + sizeof(cluster_status_view_t)));

    if (mem) {
        memcpy(mem, db->peers, npeers * sizeof(cluster_db_peer_t));
    }

    view->status = db->status;
    view->since = db->since;
    view->queued = db->queue.n;
    view->dropped = db->queue.dropped;
    bridge_db_copy(error, size, db->last_error);

    pthread_mutex_unlock(&db->mutex);

    view->instance = db->instance;
    view->last_error = error;

    if (mem == NULL) {
        return NULL;
    }

    peers = (cluster_db_peer_t *) mem;
    in = (cluster_status_instance_t *) (peers + npeers);
    v = (cluster_status_view_t *) (in + (n + 1) * (npeers + 1));

    for (i = 0; i < n; i++) {
        cluster_db_views(&clusters[i], peers, npeers, db->instance, db->host,
                         db->every, now, &in[i * (npeers + 1)],
                         &v[i * (npeers + 1)]);
    }

    return mem;
}


static void *
bridge_db_main(void *data)
{
    bridge_db_t  *db = data;

    struct timespec  ts;

    for ( ;; ) {
        if (bridge_db_connect(db) == 0) {
            while (bridge_db_round(db) == 0) {
                /* void */
            }
        }

        if (db->conn) {
            PQfinish(db->conn);
            db->conn = NULL;
        }

        ts.tv_sec = db->backoff / 1000;
        ts.tv_nsec = (db->backoff % 1000) * 1000000;
        nanosleep(&ts, NULL);

        db->backoff = db->backoff * 2 > BRIDGE_DB_BACKOFF
                      ? BRIDGE_DB_BACKOFF : db->backoff * 2;
    }

    return NULL;
}


/* a connection, the schema, this load balancer's row, and LISTEN */
static int
bridge_db_connect(bridge_db_t *db)
{
    int          k;
    char         name[CLUSTER_DB_NAME + 16], started[24];
    long         version;
    PGresult    *res;
    const char  *keywords[6], *values[6];

    k = 0;
    keywords[k] = "dbname";
    values[k++] = db->conninfo;

    if (db->password[0]) {
        keywords[k] = "password";
        values[k++] = db->password;
    }

    snprintf(name, sizeof(name), "haproxy-cluster %s", db->instance);
    keywords[k] = "fallback_application_name";
    values[k++] = name;
    keywords[k] = "connect_timeout";
    values[k++] = "10";
    keywords[k] = "tcp_user_timeout";
    values[k++] = "10000";
    keywords[k] = NULL;
    values[k] = NULL;

    db->conn = PQconnectdbParams(keywords, values, 1);

    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        bridge_db_fail(db, "cannot connect",
                       db->conn ? PQerrorMessage(db->conn) : "out of memory");
        return -1;
    }

    /* sending too waits with the statements' deadline, not in send() */
    if (PQsetnonblocking(db->conn, 1) != 0) {
        bridge_db_fail(db, "cannot connect", PQerrorMessage(db->conn));
        return -1;
    }

    res = bridge_db_exec(db, CLUSTER_DB_SQL_SCHEMA, NULL);

    if (!bridge_db_ok(db, res, "the schema")) {
        return -1;
    }

    version = -1;

    if (PQntuples(res) == 1 && PQnfields(res) == 1) {
        version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    }

    PQclear(res);

    if (version < 1 || version > CLUSTER_DB_SCHEMA_VERSION) {
        bridge_db_fail(db, "the schema is newer than this bridge knows",
                       NULL);
        return -1;
    }

    snprintf(started, sizeof(started), "%lld", (long long) bridge_now());
    values[0] = db->instance;
    values[1] = db->host;
    values[2] = CLUSTER_VERSION;
    values[3] = started;

    res = bridge_db_exec(db, CLUSTER_DB_SQL_REGISTER, values);

    if (!bridge_db_ok(db, res, "the registration")) {
        return -1;
    }

    PQclear(res);

    res = bridge_db_exec(db, CLUSTER_DB_SQL_LISTEN, NULL);

    if (!bridge_db_ok(db, res, "LISTEN")) {
        return -1;
    }

    PQclear(res);

    pthread_mutex_lock(&db->mutex);
    db->seq = 0;          /* read again, with the window behind it */
    pthread_mutex_unlock(&db->mutex);

    db->backoff = 1000;
    db->next_observe = 0;
    db->poll_now = 1;

    bridge_db_set(db, CLUSTER_DB_CONNECTED, "");

    if (db->said_down) {
        db->said_down = 0;
        bridge_db_say(db, 5, "cluster database reachable again");
    }

    return 0;
}


/* one round: actions to send, observations, a poll, the rest; 0 or -1 */
static int
bridge_db_round(bridge_db_t *db)
{
    int                         fd, wait, rc;
    char                        at[24], seq[24];
    int64_t                     now, due;
    PGnotify                   *nf;
    PGresult                   *res;
    const char                 *values[6], *state;
    struct pollfd               pfd;
    const cluster_db_action_t  *a;

    /* an operator's action first, then what others did */

    pthread_mutex_lock(&db->mutex);

    a = cluster_db_queue_peek(&db->queue);

    if (a) {
        db->sending = *a;
    }

    pthread_mutex_unlock(&db->mutex);

    if (a) {
        snprintf(at, sizeof(at), "%lld", (long long) db->sending.at);

        values[0] = db->sending.cluster;
        values[1] = db->sending.node;
        values[2] = cluster_action_name(db->sending.admin);
        values[3] = db->sending.by;
        values[4] = at;
        values[5] = db->sending.instance;

        res = bridge_db_exec(db, CLUSTER_DB_SQL_ACTION, values);
        state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

        if (res && PQresultStatus(res) == PGRES_FATAL_ERROR && state
            && state[0] == '2' && state[1] == '2')
        {
            /* an action PostgreSQL cannot take (a data exception) */
            bridge_db_say(db, 4, "cluster database refused the %s of \"%s\":"
                          " %s; it stays on this load balancer only",
                          cluster_action_name(db->sending.admin),
                          db->sending.node, state);
            PQclear(res);
            res = NULL;

        } else if (!bridge_db_ok(db, res, "an action")) {
            return -1;
        }

        pthread_mutex_lock(&db->mutex);

        a = cluster_db_queue_peek(&db->queue);

        if (a && memcmp(a, &db->sending, sizeof(cluster_db_action_t)) == 0) {
            cluster_db_queue_pop(&db->queue);
        }

        pthread_mutex_unlock(&db->mutex);

        if (res) {
            bridge_db_actions(db, res, 0);
            PQclear(res);
        }

        return 0;
    }

    now = bridge_now();

    if (now >= db->next_observe) {
        db->next_observe = now + db->every;

        if (bridge_db_observe(db, now) != 0) {
            return -1;
        }
    }

    if (db->poll_now || now >= db->next_poll) {
        db->poll_now = 0;
        db->next_poll = now + BRIDGE_DB_POLL;

        pthread_mutex_lock(&db->mutex);
        snprintf(seq, sizeof(seq), "%lld", (long long) db->seq);
        pthread_mutex_unlock(&db->mutex);

        values[0] = seq;

        res = bridge_db_exec(db, CLUSTER_DB_SQL_ACTIONS, values);

        if (!bridge_db_ok(db, res, "the actions' poll")) {
            return -1;
        }

        bridge_db_actions(db, res, 1);
        PQclear(res);
    }

    if (now >= db->next_seen) {
        db->next_seen = now + BRIDGE_DB_SEEN;
        snprintf(at, sizeof(at), "%lld", (long long) now);

        values[0] = db->instance;
        values[1] = at;

        res = bridge_db_exec(db, CLUSTER_DB_SQL_SEEN, values);

        if (!bridge_db_ok(db, res, "the last seen")) {
            return -1;
        }

        PQclear(res);
    }

    if (now >= db->next_prune) {
        db->next_prune = now + BRIDGE_DB_PRUNE;
        snprintf(at, sizeof(at), "%lld",
                 (long long) (now - db->retention * 1000));

        values[0] = at;

        res = bridge_db_exec(db, CLUSTER_DB_SQL_PRUNE, values);

        if (!bridge_db_ok(db, res, "the pruning")) {
            return -1;
        }

        PQclear(res);
    }

    /* a NOTIFY of another's action, or the next thing due */

    due = db->next_observe < db->next_poll ? db->next_observe
                                           : db->next_poll;
    wait = (int) (due - bridge_now());
    wait = wait < 0 ? 0 : (wait > BRIDGE_DB_WAIT ? BRIDGE_DB_WAIT : wait);

    fd = PQsocket(db->conn);

    if (fd < 0) {
        bridge_db_fail(db, "the connection closed", NULL);
        return -1;
    }

    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    rc = poll(&pfd, 1, wait);

    if (rc > 0) {
        if (!PQconsumeInput(db->conn)) {
            bridge_db_fail(db, "the connection failed",
                           PQerrorMessage(db->conn));
            return -1;
        }

        while ((nf = PQnotifies(db->conn)) != NULL) {
            db->poll_now = 1;
            PQfreemem(nf);
        }
    }

    return 0;
}


/*
 * A statement, and its last result: sent and waited for with a deadline,
 * so that a database that stops answering (a frozen server keeps its
 * connection open) fails the connection instead of holding the thread.
 */
static PGresult *
bridge_db_exec(bridge_db_t *db, cluster_db_sql_e which, const char **values)
{
    int             n, rc, left;
    int64_t         deadline;
    PGresult       *res, *last;
    struct pollfd   pfd;

    n = cluster_db_sql_params(which);

    rc = (n == 0) ? PQsendQuery(db->conn, db->sql[which])
                  : PQsendQueryParams(db->conn, db->sql[which], n, NULL,
                                      values, NULL, NULL, 0);
    if (!rc) {
        return NULL;
    }

    deadline = bridge_now() + BRIDGE_DB_LIMIT;
    last = NULL;

    for ( ;; ) {
        rc = PQflush(db->conn);

        if (rc < 0) {
            break;
        }

        if (rc == 0 && !PQisBusy(db->conn)) {
            res = PQgetResult(db->conn);

            if (res == NULL) {
                return last;
            }

            if (last) {
                PQclear(last);
            }

            last = res;
            continue;
        }

        left = (int) (deadline - bridge_now());

        if (left <= 0) {
            break;
        }

        pfd.fd = PQsocket(db->conn);
        pfd.events = POLLIN | (rc == 1 ? POLLOUT : 0);
        pfd.revents = 0;

        if (pfd.fd < 0 || poll(&pfd, 1, left) < 0) {
            break;
        }

        if ((pfd.revents & (POLLIN | POLLERR | POLLHUP))
            && !PQconsumeInput(db->conn))
        {
            break;
        }
    }

    if (last) {
        PQclear(last);
    }

    return NULL;
}


/* whether a statement went through; the connection is failed if not */
static int
bridge_db_ok(bridge_db_t *db, PGresult *res, const char *what)
{
    ExecStatusType  rc;

    rc = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (rc == PGRES_COMMAND_OK || rc == PGRES_TUPLES_OK) {
        return 1;
    }

    bridge_db_fail(db, what, res ? PQresultErrorMessage(res)
                                 : PQerrorMessage(db->conn)[0]
                                   ? PQerrorMessage(db->conn)
                                   : "no answer within 10 s");

    if (res) {
        PQclear(res);
    }

    return 0;
}


static void
bridge_db_fail(bridge_db_t *db, const char *what, const char *error)
{
    char  text[160];

    if (error && error[0] == '\0') {
        error = NULL;
    }

    snprintf(text, sizeof(text), "%s%s%s", what, error ? ": " : "",
             error ? error : "");

    /* libpq ends its messages with a line end */
    text[strcspn(text, "\r\n")] = '\0';

    if (!db->said_down) {
        db->said_down = 1;
        bridge_db_say(db, 3, "cluster database unreachable: %s; traffic goes "
                      "on, actions wait for it", text);
    }

    bridge_db_set(db, CLUSTER_DB_UNREACHABLE, text);
}


static void
bridge_db_set(bridge_db_t *db, cluster_db_status_e status, const char *error)
{
    pthread_mutex_lock(&db->mutex);

    if (db->status != status) {
        db->status = status;
        db->since = bridge_now();
    }

    bridge_db_copy(db->last_error, sizeof(db->last_error), error);

    pthread_mutex_unlock(&db->mutex);
}


/* a line for HAProxy's log, which a tick hands to core.log() */
static void
bridge_db_say(bridge_db_t *db, int level, const char *fmt, ...)
{
    va_list  args;

    pthread_mutex_lock(&db->mutex);

    if (db->nlines < BRIDGE_DB_LINES) {
        va_start(args, fmt);
        vsnprintf(db->line[db->nlines], sizeof(db->line[0]), fmt, args);
        va_end(args);
        db->line_level[db->nlines++] = level;
    }

    pthread_mutex_unlock(&db->mutex);
}


static void
bridge_db_report(bridge_db_t *db, bridge_backend_t *b, cluster_events_t *ev)
{
    int     level;
    char    text[256];
    size_t  i;

    for (i = 0; i < ev->n; i++) {
        level = bridge_event_text(b, &ev->event[i], text, sizeof(text));
        bridge_db_say(db, level, "%s", text);
    }

    ev->n = 0;
    ev->more = 0;
}


/* rows of node_admin: cluster, node, admin, by, at, instance, seq */
static void
bridge_db_actions(bridge_db_t *db, PGresult *res, int poll)
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

        /* only a poll moves on the sequence, by every row it read */
        if (poll && seq > 0) {
            pthread_mutex_lock(&db->mutex);

            if (seq > db->seq) {
                db->seq = seq;
            }

            pthread_mutex_unlock(&db->mutex);
        }

        if (k) {
            bridge_db_apply(db, &a);
        }
    }
}


static void
bridge_db_apply(bridge_db_t *db, const cluster_db_action_t *a)
{
    size_t             i, j;
    int64_t            now;
    bridge_backend_t  *b;
    cluster_events_t   ev;
    bridge_node_t     *bn;

    now = bridge_now();

    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        if (!b->attached || strcmp(b->name, a->cluster) != 0) {
            continue;
        }

        for (j = 0; j < bridge_count(b); j++) {
            bn = &b->bnodes[j];

            if (bridge_vacant(b, j) || strcmp(bn->id, a->node) != 0) {
                continue;
            }

            ev.n = 0;
            ev.more = 0;

            if (cluster_db_apply(&b->cluster, j, a, bn->shown,
                                 strlen(bn->shown), now, &ev))
            {
                bridge_db_report(db, b, &ev);
                bridge_db_say(db, 5, "cluster \"%s\" node \"%s\": %s by %s on "
                              "%s, from the database", b->name, bn->shown,
                              cluster_action_name(a->admin), a->by,
                              a->instance);
            }

            break;
        }
    }
}


/*
 * What this load balancer sees of every node, and its new history, in
 * one statement that reads back what the others see.
 */
static int
bridge_db_observe(bridge_db_t *db, int64_t now)
{
    char                       at[24], *json;
    size_t                     i, j, k, n, base, size, hsize, len, lost;
    size_t                     count;
    PGresult                  *res;
    const char                *values[4];
    bridge_backend_t          *b;
    cluster_node_t            *facts;
    cluster_history_t         *entries;
    cluster_db_history_t      *hist;
    cluster_db_observation_t  *obs;

    n = 0;

    for (i = 0; i < bridge.nbackends; i++) {
        /* by the records' room: more may be in use when they are copied */
        n += bridge.backends[i]->attached ? bridge.backends[i]->cap : 0;
    }

    obs = calloc(n + 1, sizeof(cluster_db_observation_t));
    facts = calloc(n + 1, sizeof(cluster_node_t));
    hist = calloc(bridge.nbackends + 1, sizeof(cluster_db_history_t));
    entries = calloc((bridge.nbackends + 1) * CLUSTER_HISTORY_MAX,
                     sizeof(cluster_history_t));

    if (!obs || !facts || !hist || !entries) {
        free(obs);
        free(facts);
        free(hist);
        free(entries);
        return 0;
    }

    k = 0;
    base = 0;

    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        hist[i].cluster = b->name;
        hist[i].cluster_len = strlen(b->name);
        hist[i].history = &entries[i * CLUSTER_HISTORY_MAX];
        hist[i].n = 0;

        if (!b->attached) {
            continue;
        }

        count = bridge_count(b);
        cluster_copy(&b->cluster, &facts[base]);

        for (j = 0; j < count; j++) {
            if (bridge_vacant(b, j)) {
                continue;
            }

            obs[k].cluster = b->name;
            obs[k].cluster_len = strlen(b->name);
            obs[k].node = b->bnodes[j].id;
            obs[k].node_len = strlen(b->bnodes[j].id);
            obs[k].facts = &facts[base + j];
            obs[k].key_fingerprint = b->has_key ? b->fingerprint : "";
            k++;
        }

        base += b->cap;

        hist[i].n = cluster_history_take(&b->cluster,
                                         &entries[i * CLUSTER_HISTORY_MAX],
                                         &lost, &db->history_upto[i]);
        if (lost) {
            bridge_db_say(db, 4, "cluster \"%s\": %zu events happened faster "
                          "than the database took them, and are not in it",
                          b->name, lost);
        }
    }

    size = cluster_db_observations(NULL, 0, obs, k) + 1;
    hsize = cluster_db_history(NULL, 0, hist, bridge.nbackends) + 1;

    json = malloc(size + hsize);

    if (json) {
        len = cluster_db_observations(json, size, obs, k);
        json[len] = '\0';
        len = cluster_db_history(json + size, hsize, hist, bridge.nbackends);
        json[size + len] = '\0';
    }

    free(obs);
    free(facts);
    free(hist);
    free(entries);

    if (json == NULL) {
        return 0;
    }

    snprintf(at, sizeof(at), "%lld", (long long) now);

    values[0] = db->instance;
    values[1] = at;
    values[2] = json;
    values[3] = json + size;

    res = bridge_db_exec(db, CLUSTER_DB_SQL_OBSERVE, values);

    free(json);

    if (!bridge_db_ok(db, res, "the observations")) {
        return -1;
    }

    for (i = 0; i < bridge.nbackends; i++) {
        if (bridge.backends[i]->attached) {
            cluster_history_written(&bridge.backends[i]->cluster,
                                    db->history_upto[i]);
        }
    }

    bridge_db_peers(db, res, now);
    PQclear(res);

    return 0;
}


/* the others' views, for the status; their facts and key verdicts */
static void
bridge_db_peers(bridge_db_t *db, PGresult *res, int64_t now)
{
    int                 i, k, n;
    size_t              m, x, j;
    const char         *col[CLUSTER_DB_PEER_COLUMNS];
    bridge_backend_t   *b;
    cluster_events_t    ev;
    cluster_db_peer_t  *peers, *p;

    if (PQnfields(res) != CLUSTER_DB_PEER_COLUMNS) {
        return;
    }

    n = PQntuples(res);
    n = n > BRIDGE_DB_PEERS ? BRIDGE_DB_PEERS : n;

    peers = calloc((size_t) n + 1, sizeof(cluster_db_peer_t));
    if (peers == NULL) {
        return;
    }

    m = 0;

    for (i = 0; i < n; i++) {
        for (k = 0; k < CLUSTER_DB_PEER_COLUMNS; k++) {
            col[k] = PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k);
        }

        p = &peers[m];

        if (!cluster_db_peer_parse(p, col, now)) {
            continue;
        }

        m++;

        for (x = 0; x < bridge.nbackends; x++) {
            b = bridge.backends[x];

            if (!b->attached || strcmp(b->name, p->cluster) != 0) {
                continue;
            }

            for (j = 0; j < bridge_count(b); j++) {
                if (bridge_vacant(b, j)
                    || strcmp(b->bnodes[j].id, p->node) != 0)
                {
                    continue;
                }

                ev.n = 0;
                ev.more = 0;

                (void) cluster_facts_adopt(&b->cluster, j, p->findings,
                                           p->release, p->at, now, &ev);

                if (cluster_db_share_key(&b->cluster, j, p,
                                         b->has_key ? b->fingerprint : "",
                                         now, &ev))
                {
                    bridge_db_say(db, 5, "cluster \"%s\" node \"%s\": key %s,"
                                  " proved by %s", b->name,
                                  b->bnodes[j].shown,
                                  p->key == CLUSTER_KEY_MISMATCH
                                  ? "mismatch" : "in sync", p->instance);
                }

                bridge_db_report(db, b, &ev);
                break;
            }
        }
    }

    pthread_mutex_lock(&db->mutex);
    memcpy(db->peers, peers, m * sizeof(cluster_db_peer_t));
    db->npeers = m;
    pthread_mutex_unlock(&db->mutex);

    free(peers);
}


/* a copy that always ends, printable, cut on a character's boundary */
static void
bridge_db_copy(char *dst, size_t size, const char *src)
{
    cluster_db_copy(dst, size, src);
}


/* a file that failed to load: its database's settings, the password wiped */
void
bridge_db_forget(bridge_t *br)
{
    size_t        i;
    bridge_db_t  *db;

    db = br->db;

    if (db == NULL) {
        return;
    }

    for (i = 0; i < CLUSTER_DB_SQL_N; i++) {
        free(db->sql[i]);
    }

    sodium_memzero(db->password, sizeof(db->password));
    sodium_memzero(db->conninfo, sizeof(db->conninfo));
    pthread_mutex_destroy(&db->mutex);
    free(db);

    br->db = NULL;
}
