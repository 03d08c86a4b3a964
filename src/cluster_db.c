/*
 * ngx_cluster_module: the shared database's schema, statements, queue and
 * merge rules.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_admin.h"
#include "cluster_buf.h"
#include "cluster_db.h"
#include "cluster_json.h"


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
    "CREATE TABLE IF NOT EXISTS @.observations ("
        "instance text NOT NULL, cluster text NOT NULL, node text NOT NULL, "
        "state text NOT NULL, in_rotation boolean NOT NULL, "
        "findings bigint NOT NULL, last_heartbeat bigint NOT NULL, "
        "last_check bigint NOT NULL, release text NOT NULL, "
        "key int NOT NULL, key_since bigint NOT NULL, "
        "key_fingerprint text NOT NULL, key_opened bigint NOT NULL, "
        "key_refused bigint NOT NULL, at bigint NOT NULL, "
        "PRIMARY KEY (instance, cluster, node));"
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
    "WHERE seq > $1::bigint - 64 ORDER BY seq LIMIT 1000",

    /* CLUSTER_DB_SQL_LISTEN */
    "LISTEN @",

    /* CLUSTER_DB_SQL_SEEN */
    "UPDATE @.instances SET last_seen = $2::bigint WHERE name = $1",

    /* CLUSTER_DB_SQL_PRUNE: in small batches, never a long lock */
    "DELETE FROM @.events WHERE id IN "
    "(SELECT id FROM @.events WHERE at < $1::bigint LIMIT 1000)",

    /* CLUSTER_DB_SQL_OBSERVE: one round trip, whatever the nodes */
    "WITH w AS (INSERT INTO @.observations (instance, cluster, node, state, "
        "in_rotation, findings, last_heartbeat, last_check, release, key, "
        "key_since, key_fingerprint, key_opened, key_refused, at) "
        "SELECT $1, o.c, o.n, o.s, o.r, o.f, o.h, o.k, o.v, o.key, o.ks, "
        "o.kf, o.ko, o.kr, $2::bigint FROM json_to_recordset($3::json) AS "
        "o(c text, n text, s text, r boolean, f bigint, h bigint, k bigint, "
        "v text, key int, ks bigint, kf text, ko bigint, kr bigint) "
        "ON CONFLICT (instance, cluster, node) DO UPDATE SET "
        "state = excluded.state, in_rotation = excluded.in_rotation, "
        "findings = excluded.findings, "
        "last_heartbeat = excluded.last_heartbeat, "
        "last_check = excluded.last_check, release = excluded.release, "
        "key = excluded.key, key_since = excluded.key_since, "
        "key_fingerprint = excluded.key_fingerprint, "
        "key_opened = excluded.key_opened, "
        "key_refused = excluded.key_refused, at = excluded.at), "
    "s AS (UPDATE @.instances SET last_seen = $2::bigint WHERE name = $1), "
    "e AS (INSERT INTO @.events (at, instance, cluster, node, kind, "
        "from_state, to_state, reasons) "
        "SELECT o.at, $1, o.c, o.n, o.k, o.f, o.t, o.r "
        "FROM json_to_recordset($4::json) AS "
        "o(at bigint, c text, n text, k text, f text, t text, r text)) "
    "SELECT o.instance, i.host, i.last_seen, o.cluster, o.node, o.state, "
        "o.in_rotation, o.findings, o.key, o.key_since, o.key_fingerprint, "
        "o.at, o.release FROM @.observations o "
        "JOIN @.instances i ON i.name = o.instance "
        "WHERE o.instance <> $1 ORDER BY o.instance, o.cluster, o.node "
        "LIMIT 1024"
};


static void cluster_db_append(char *buf, size_t size, size_t *n,
    const char *s);


static const int  cluster_db_sql_nparams[CLUSTER_DB_SQL_N] = {
    0, 4, 6, 1, 0, 2, 1, 4
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


size_t
cluster_db_observations(char *buf, size_t size,
    const cluster_db_observation_t *o, size_t n)
{
    size_t                 i;
    const char            *state, *s;
    cluster_buf_t          b;
    const cluster_node_t  *f;

    cluster_buf_init(&b, buf, size);

    cluster_buf_cstr(&b, "[");

    for (i = 0; i < n; i++) {
        f = o[i].facts;
        state = cluster_state_name((cluster_state_e) f->state);

        cluster_buf_cstr(&b, i ? ",{" : "{");
        cluster_json_key(&b, "c");
        cluster_json_string(&b, o[i].cluster, o[i].cluster_len);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "n");
        cluster_json_string(&b, o[i].node, o[i].node_len);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "s");
        cluster_json_string(&b, state, strlen(state));
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "r");
        cluster_json_bool(&b, f->in_rotation);
        cluster_buf_cstr(&b, ",");
        /* what it found itself, not what it took from another: no echo */
        cluster_json_key(&b, "f");
        cluster_buf_uint(&b, f->service_errors
                             ? f->findings
                             : f->findings & ~CLUSTER_FINDING_SERVICE_DOWN);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "h");
        cluster_buf_int(&b, f->last_heartbeat);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "k");
        cluster_buf_int(&b, f->last_check);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "v");
        s = f->release_shared ? "" : f->health.release;
        cluster_json_string(&b, s, strlen(s));
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "key");
        cluster_buf_uint(&b, f->key);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "ks");
        cluster_buf_int(&b, f->key_since);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "kf");
        cluster_json_string(&b, o[i].key_fingerprint,
                            strlen(o[i].key_fingerprint));
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "ko");
        cluster_buf_uint(&b, f->cookies_opened);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "kr");
        cluster_buf_uint(&b, f->cookies_refused);
        cluster_buf_cstr(&b, "}");
    }

    cluster_buf_cstr(&b, "]");

    return b.need;
}


/* a column's integer, in 0 .. max; -1 when it is not one */
static int
cluster_db_int(const char *s, int64_t max, int64_t *v)
{
    int64_t  n;

    if (s == NULL || *s == '\0') {
        return -1;
    }

    for (n = 0; *s; s++) {
        if (*s < '0' || *s > '9' || n > max / 10
            || n * 10 > max - (*s - '0'))
        {
            return -1;
        }

        n = n * 10 + (*s - '0');
    }

    *v = n;

    return 0;
}


int
cluster_db_peer_parse(cluster_db_peer_t *p,
    const char *const col[CLUSTER_DB_PEER_COLUMNS], int64_t now)
{
    int      i;
    int64_t  v, findings, key;

    memset(p, 0, sizeof(cluster_db_peer_t));

    for (i = 0; i < CLUSTER_DB_PEER_COLUMNS; i++) {
        if (col[i] == NULL) {
            return 0;
        }
    }

    if (strlen(col[0]) >= sizeof(p->instance)
        || strlen(col[3]) >= sizeof(p->cluster)
        || strlen(col[4]) >= sizeof(p->node)
        || strlen(col[10]) >= sizeof(p->key_fingerprint)
        || strlen(col[12]) >= sizeof(p->release)
        || cluster_db_int(col[2], CLUSTER_TIME_MAX, &p->last_seen)
        || cluster_db_int(col[7], UINT32_MAX, &findings)
        || cluster_db_int(col[8], CLUSTER_KEY_MISMATCH, &key)
        || cluster_db_int(col[9], CLUSTER_TIME_MAX, &p->key_since)
        || cluster_db_int(col[11], CLUSTER_TIME_MAX, &p->at))
    {
        return 0;
    }

    for (v = 0; v <= CLUSTER_STATE_REMOVED; v++) {
        if (strcmp(col[5], cluster_state_name((cluster_state_e) v)) == 0) {
            break;
        }
    }

    if (v > CLUSTER_STATE_REMOVED) {
        return 0;
    }

    strcpy(p->instance, col[0]);
    snprintf(p->host, sizeof(p->host), "%s", col[1]);
    strcpy(p->cluster, col[3]);
    strcpy(p->node, col[4]);
    strcpy(p->key_fingerprint, col[10]);
    strcpy(p->release, col[12]);

    p->state = (uint8_t) v;
    p->in_rotation = (col[6][0] == 't');
    p->findings = (uint32_t) findings;
    p->key = (uint8_t) key;

    /* a clock ahead of this one's is not believed past now */
    p->last_seen = p->last_seen > now ? now : p->last_seen;
    p->key_since = p->key_since > now ? now : p->key_since;
    p->at = p->at > now ? now : p->at;

    return 1;
}


int
cluster_db_share_key(cluster_t *c, size_t i, const cluster_db_peer_t *p,
    const char *key_fingerprint, int64_t now, cluster_events_t *ev)
{
    int              changed;
    cluster_node_t  *node;

    node = c->nodes[i];

    if (node == NULL || p->key == CLUSTER_KEY_UNKNOWN
        || key_fingerprint[0] == '\0'
        || strcmp(p->key_fingerprint, key_fingerprint) != 0)
    {
        /* no verdict, or one of another key: it says nothing here */
        return 0;
    }

    changed = cluster_key_adopt(c, i, p->key, p->key_since, p->instance,
                                now, ev);

    return changed;
}


size_t
cluster_db_history(char *buf, size_t size, const cluster_db_history_t *h,
    size_t n)
{
    char                      words[256];
    size_t                    i, j, k, len;
    uint32_t                  bit;
    const char               *s, *sep;
    cluster_buf_t             b;
    const cluster_history_t  *e;

    cluster_buf_init(&b, buf, size);

    cluster_buf_cstr(&b, "[");
    k = 0;
    words[0] = '\0';

    for (i = 0; i < n; i++) {
        for (j = 0; j < h[i].n; j++) {
            e = &h[i].history[j];

            if (e->kind == CLUSTER_HISTORY_ADMIN) {
                continue;
            }

            cluster_buf_cstr(&b, k++ ? ",{" : "{");
            cluster_json_key(&b, "at");
            cluster_buf_int(&b, e->at);
            cluster_buf_cstr(&b, ",");
            cluster_json_key(&b, "c");
            cluster_json_string(&b, h[i].cluster, h[i].cluster_len);
            cluster_buf_cstr(&b, ",");
            /* a node by its address, as the other tables have it */
            cluster_json_key(&b, "n");
            cluster_json_string(&b, e->id[0] ? e->id : e->node,
                                strlen(e->id[0] ? e->id : e->node));
            cluster_buf_cstr(&b, ",");
            cluster_json_key(&b, "k");
            cluster_buf_cstr(&b, e->kind == CLUSTER_HISTORY_PANIC
                                 ? "\"panic\"," : "\"state\",");
            cluster_json_key(&b, "f");
            s = (e->kind == CLUSTER_HISTORY_PANIC)
                ? (e->from ? "panic" : "calm")
                : cluster_state_name((cluster_state_e) e->from);
            cluster_json_string(&b, s, strlen(s));
            cluster_buf_cstr(&b, ",");
            cluster_json_key(&b, "t");
            s = (e->kind == CLUSTER_HISTORY_PANIC)
                ? (e->to ? "panic" : "calm")
                : cluster_state_name((cluster_state_e) e->to);
            cluster_json_string(&b, s, strlen(s));
            cluster_buf_cstr(&b, ",");

            /* the reasons as words: "down, connection refused" */
            cluster_json_key(&b, "r");
            len = 0;
            sep = "";

            for (bit = 1; bit != 0 && bit <= e->findings; bit <<= 1) {
                s = cluster_finding_name(e->findings & bit);

                if (s && (e->findings & bit) != CLUSTER_FINDING_UNCHECKED) {
                    cluster_db_append(words, sizeof(words), &len, sep);
                    cluster_db_append(words, sizeof(words), &len, s);
                    sep = ", ";
                }
            }

            if (e->reason[0]) {
                cluster_db_append(words, sizeof(words), &len, sep);
                cluster_db_append(words, sizeof(words), &len, e->reason);
            }

            words[len < sizeof(words) ? len : sizeof(words) - 1] = '\0';
            cluster_json_string(&b, words, strlen(words));

            cluster_buf_cstr(&b, "}");
        }
    }

    cluster_buf_cstr(&b, "]");

    return b.need;
}


int
cluster_db_alive(int64_t last_seen, int64_t every, int64_t now)
{
    return now - last_seen <= 3 * every + 1000;
}


void
cluster_db_views(cluster_status_cluster_t *c, const cluster_db_peer_t *peers,
    size_t npeers, const char *instance, const char *host, int64_t every,
    int64_t now, cluster_status_instance_t *in, cluster_status_view_t *views)
{
    size_t                    j, k, m, nv;
    const cluster_db_peer_t  *p;
    cluster_status_node_t    *node;

    in[0].instance = instance;
    in[0].host = host;
    in[0].last_seen = now;
    in[0].alive = 1;
    in[0].self = 1;
    m = 1;

    for (k = 0; k < npeers; k++) {
        p = &peers[k];

        if (strlen(p->cluster) != c->name_len
            || strncmp(p->cluster, c->name, c->name_len) != 0)
        {
            continue;
        }

        for (j = 0; j < m; j++) {
            if (strcmp(in[j].instance, p->instance) == 0) {
                break;
            }
        }

        if (j == m) {
            in[m].instance = p->instance;
            in[m].host = p->host;
            in[m].last_seen = p->last_seen;
            in[m].alive = cluster_db_alive(p->last_seen, every, now);
            in[m].self = 0;
            m++;
        }
    }

    c->instances = in;
    c->ninstances = m;
    c->instance = instance;

    nv = 0;

    for (j = 0; j < c->n; j++) {
        node = &c->nodes[j];
        node->views = &views[nv];
        node->nviews = 0;

        for (k = 0; k < npeers && nv < npeers; k++) {
            p = &peers[k];

            if (strlen(p->node) != node->id_len
                || strncmp(p->node, node->id, node->id_len) != 0
                || strlen(p->cluster) != c->name_len
                || strncmp(p->cluster, c->name, c->name_len) != 0)
            {
                continue;
            }

            views[nv].instance = p->instance;
            views[nv].state = p->state;
            views[nv].in_rotation = p->in_rotation;
            views[nv].findings = p->findings;
            views[nv].at = p->at;
            nv++;
            node->nviews++;
        }
    }
}


void
cluster_db_copy(char *to, size_t size, const char *from)
{
    size_t  i;

    for (i = 0; from && from[i] && from[i] != '\n' && i + 1 < size; i++) {
        to[i] = ((unsigned char) from[i] < ' ' || from[i] == 0x7f)
                ? ' ' : from[i];
    }

    /* a character cut in two is left out whole */
    if (from && from[i] && from[i] != '\n') {
        while (i > 0 && ((unsigned char) to[i - 1] & 0xc0) == 0x80) {
            i--;
        }

        if (i > 0 && ((unsigned char) to[i - 1] & 0xc0) == 0xc0) {
            i--;
        }
    }

    to[i] = '\0';
}


/* a decimal number of a row, or -1 */
static int64_t
cluster_db_number(const char *v)
{
    int64_t  n;

    if (v == NULL || *v == '\0') {
        return -1;
    }

    for (n = 0; *v; v++) {
        if (*v < '0' || *v > '9' || n > (INT64_MAX - 9) / 10) {
            return -1;
        }

        n = n * 10 + (*v - '0');
    }

    return n;
}


int
cluster_db_action_row(const char *const col[CLUSTER_DB_ACTION_COLUMNS],
    cluster_db_action_t *a, int64_t *seq)
{
    int      admin;
    int64_t  at;

    *seq = cluster_db_number(col[6]);

    memset(a, 0, sizeof(cluster_db_action_t));

    cluster_db_copy(a->cluster, sizeof(a->cluster), col[0]);
    cluster_db_copy(a->node, sizeof(a->node), col[1]);
    cluster_db_copy(a->by, sizeof(a->by), col[3]);
    cluster_db_copy(a->instance, sizeof(a->instance), col[5]);

    admin = col[2] ? cluster_action_parse(col[2], strlen(col[2])) : -1;
    at = cluster_db_number(col[4]);

    if (admin < 0 || at <= 0 || *seq < 0) {
        /* not an action this project wrote */
        return 0;
    }

    a->admin = (uint8_t) admin;
    a->at = cluster_time_clamp(at);
    a->seq = *seq;

    return 1;
}
