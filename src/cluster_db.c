/*
 * ngx_cluster_module: the shared database's schema, statements, queue and
 * merge rules.
 */

#include <stdio.h>
#include <string.h>

#include "cluster_db.h"


/*
 * The statements, "@" standing for the schema.  Times are milliseconds
 * since the epoch, as everywhere in the core.  The schema is made in one
 * transaction under an advisory lock, so that load balancers starting
 * together do not race each other's CREATE.
 */
static const char  *cluster_db_sql_text[CLUSTER_DB_SQL_N] = {

    /* CLUSTER_DB_SQL_SCHEMA */
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(hashtext('@'));"
    "CREATE SCHEMA IF NOT EXISTS @;"
    "CREATE TABLE IF NOT EXISTS @.meta ("
        "key text PRIMARY KEY, value text NOT NULL);"
    "INSERT INTO @.meta VALUES ('schema_version', '1') "
        "ON CONFLICT (key) DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS @.instances ("
        "name text PRIMARY KEY, host text NOT NULL, "
        "version text NOT NULL, started bigint NOT NULL, "
        "last_seen bigint NOT NULL);"
    "CREATE SEQUENCE IF NOT EXISTS @.action_seq;"
    "CREATE TABLE IF NOT EXISTS @.node_admin ("
        "cluster text NOT NULL, node text NOT NULL, "
        "admin text NOT NULL, by text NOT NULL, at bigint NOT NULL, "
        "instance text NOT NULL, seq bigint NOT NULL, "
        "PRIMARY KEY (cluster, node));"
    "CREATE INDEX IF NOT EXISTS node_admin_seq ON @.node_admin (seq);"
    "CREATE TABLE IF NOT EXISTS @.events ("
        "id bigserial PRIMARY KEY, at bigint NOT NULL, "
        "instance text NOT NULL, cluster text NOT NULL, "
        "node text NOT NULL, kind text NOT NULL, "
        "from_state text NOT NULL DEFAULT '', "
        "to_state text NOT NULL DEFAULT '', "
        "reasons text NOT NULL DEFAULT '', by text NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS events_at ON @.events (at);"
    "COMMIT;"
    "SELECT value FROM @.meta WHERE key = 'schema_version'",

    /* CLUSTER_DB_SQL_REGISTER */
    "INSERT INTO @.instances (name, host, version, started, last_seen) "
    "VALUES ($1, $2, $3, $4::bigint, $4::bigint) "
    "ON CONFLICT (name) DO UPDATE SET host = excluded.host, "
    "version = excluded.version, started = excluded.started, "
    "last_seen = excluded.last_seen",

    /* CLUSTER_DB_SQL_ACTION: the latest by time wins, in the table too */
    "WITH up AS (INSERT INTO @.node_admin "
        "(cluster, node, admin, by, at, instance, seq) "
        "VALUES ($1, $2, $3, $4, $5::bigint, $6, nextval('@.action_seq')) "
        "ON CONFLICT (cluster, node) DO UPDATE SET admin = excluded.admin, "
        "by = excluded.by, at = excluded.at, instance = excluded.instance, "
        "seq = excluded.seq WHERE @.node_admin.at < excluded.at "
        "RETURNING cluster, node, admin, by, at, instance, seq), "
    "ev AS (INSERT INTO @.events (at, instance, cluster, node, kind, "
        "to_state, by) VALUES ($5::bigint, $6, $1, $2, 'admin', $3, $4)), "
    "n AS (SELECT pg_notify('@', '') AS x) "
    "SELECT cluster, node, admin, by, at, instance, seq FROM up, n "
    "UNION ALL "
    "SELECT cluster, node, admin, by, at, instance, seq FROM @.node_admin "
    "WHERE cluster = $1 AND node = $2 AND NOT EXISTS (SELECT 1 FROM up)",

    /* CLUSTER_DB_SQL_ACTIONS */
    "SELECT cluster, node, admin, by, at, instance, seq FROM @.node_admin "
    "WHERE seq > $1::bigint ORDER BY seq LIMIT 1000",

    /* CLUSTER_DB_SQL_LISTEN */
    "LISTEN @",

    /* CLUSTER_DB_SQL_SEEN */
    "UPDATE @.instances SET last_seen = $2::bigint WHERE name = $1",

    /* CLUSTER_DB_SQL_PRUNE: in small batches, never a long lock */
    "DELETE FROM @.events WHERE id IN "
    "(SELECT id FROM @.events WHERE at < $1::bigint LIMIT 1000)"
};


static void cluster_db_append(char *buf, size_t size, size_t *n,
    const char *s);


static const int  cluster_db_sql_nparams[CLUSTER_DB_SQL_N] = {
    0, 4, 6, 1, 0, 2, 1
};


static const char  *cluster_db_status_names[] = {
    "off", "connecting", "connected", "unreachable"
};


int
cluster_db_identifier(const char *name, size_t len)
{
    size_t  i;

    if (len == 0 || len > 63 || (name[0] >= '0' && name[0] <= '9')) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z')
              || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


size_t
cluster_db_sql(cluster_db_sql_e which, const char *schema, char *buf,
    size_t size)
{
    size_t       n, slen;
    const char  *p;

    slen = strlen(schema);
    n = 0;

    for (p = cluster_db_sql_text[which]; *p; p++) {

        if (*p == '@') {
            if (n + slen < size) {
                memcpy(buf + n, schema, slen);
            }

            n += slen;
            continue;
        }

        if (n + 1 < size) {
            buf[n] = *p;
        }

        n++;
    }

    if (size) {
        buf[n < size ? n : size - 1] = '\0';
    }

    return n;
}


int
cluster_db_sql_params(cluster_db_sql_e which)
{
    return cluster_db_sql_nparams[which];
}


const char *
cluster_db_status_name(cluster_db_status_e status)
{
    return (status <= CLUSTER_DB_UNREACHABLE)
           ? cluster_db_status_names[status] : "unknown";
}


int
cluster_db_queue_push(cluster_db_queue_t *q, const cluster_db_action_t *a)
{
    int  kept;

    kept = 1;

    if (q->n == CLUSTER_DB_QUEUE) {
        /* the oldest goes: an operator's latest word matters most */
        q->head = (q->head + 1) % CLUSTER_DB_QUEUE;
        q->n--;
        q->dropped++;
        kept = 0;
    }

    q->action[(q->head + q->n) % CLUSTER_DB_QUEUE] = *a;
    q->n++;

    return kept;
}


const cluster_db_action_t *
cluster_db_queue_peek(const cluster_db_queue_t *q)
{
    return q->n ? &q->action[q->head % CLUSTER_DB_QUEUE] : NULL;
}


void
cluster_db_queue_pop(cluster_db_queue_t *q)
{
    if (q->n) {
        q->head = (q->head + 1) % CLUSTER_DB_QUEUE;
        q->n--;
    }
}


size_t
cluster_db_by(const cluster_db_action_t *a, char *buf, size_t size)
{
    size_t  n;

    n = 0;
    cluster_db_append(buf, size, &n, a->by);
    cluster_db_append(buf, size, &n, " on ");
    cluster_db_append(buf, size, &n, a->instance);

    return n;
}


/* appends what fits, NUL-terminated; "n" counts what would */
static void
cluster_db_append(char *buf, size_t size, size_t *n, const char *s)
{
    size_t  len;

    len = strlen(s);

    if (*n + 1 < size) {
        memcpy(buf + *n, s, (*n + len < size - 1) ? len : size - 1 - *n);
    }

    *n += len;

    if (size) {
        buf[*n < size ? *n : size - 1] = '\0';
    }
}


int
cluster_db_apply(cluster_t *c, size_t i, const cluster_db_action_t *a,
    const char *name, size_t name_len, int64_t now, cluster_events_t *ev)
{
    int              applied;
    char             by[sizeof(((cluster_action_t *) 0)->by)];
    cluster_act_t    act;
    cluster_node_t  *node;

    node = c->nodes[i];

    if (node == NULL || a->admin > CLUSTER_ADMIN_REMOVE) {
        return 0;
    }

    (void) cluster_db_by(a, by, sizeof(by));

    act.node = i;
    act.admin = (cluster_admin_e) a->admin;
    act.name = name;
    act.name_len = name_len;
    act.by = by;

    applied = cluster_act_at(c, &act, a->at, now, ev);

    return applied;
}
