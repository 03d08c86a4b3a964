/*
 * ngx_cluster_module: the status document in JSON.
 */

#include <stdio.h>
#include <string.h>

#include "cluster_db.h"
#include "cluster_json.h"
#include "cluster_status.h"


static void cluster_status_findings(cluster_buf_t *b, uint32_t findings);
static void cluster_status_settings(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster);
static void cluster_status_node(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now);
static void cluster_status_key_check(cluster_buf_t *b,
    const cluster_status_cluster_t *c);
static void cluster_status_key_verdict(cluster_buf_t *b, uint8_t key);
static void cluster_status_text(cluster_buf_t *b, const char *s);
static void cluster_status_service(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now);
static void cluster_status_database(cluster_buf_t *b,
    const cluster_db_view_t *db);
static void cluster_status_views(cluster_buf_t *b,
    const cluster_status_node_t *node);
static void cluster_status_events(cluster_buf_t *b,
    const cluster_status_cluster_t *c);
static const char *cluster_status_history_word(uint8_t kind, uint8_t v);
static void cluster_status_instances(cluster_buf_t *b,
    const cluster_status_cluster_t *c);
static void cluster_status_health(cluster_buf_t *b,
    const cluster_status_node_t *node);
static void cluster_status_component(cluster_buf_t *b, uint8_t status);
static void cluster_status_hints_json(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now);


/* "database": the shared database, "off" without one */
static void
cluster_status_database(cluster_buf_t *b, const cluster_db_view_t *db)
{
    const char  *status;

    cluster_json_key(b, "database");
    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "status");

    status = cluster_db_status_name(db ? db->status : CLUSTER_DB_OFF);
    cluster_json_string(b, status, strlen(status));

    if (db == NULL) {
        cluster_buf_cstr(b, "}");
        return;
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "since");
    cluster_json_time(b, db->since);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "instance");
    cluster_json_string(b, db->instance, strlen(db->instance));
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "queued");
    cluster_buf_uint(b, db->queued);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "dropped");
    cluster_buf_uint(b, db->dropped);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "last_error");
    cluster_json_string_or_null(b, db->last_error[0] ? db->last_error : NULL,
                                strlen(db->last_error));
    cluster_buf_cstr(b, "}");
}


size_t
cluster_status_json(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version, const cluster_db_view_t *db)
{
    size_t                           i, j, in;
    cluster_buf_t                    b;
    const cluster_status_cluster_t  *c;

    cluster_buf_init(&b, buf, size);

    cluster_buf_cstr(&b, "{");
    cluster_json_key(&b, "generated_at");
    cluster_json_time(&b, now);
    cluster_buf_cstr(&b, ",");
    cluster_json_key(&b, "version");
    cluster_json_string(&b, version, strlen(version));
    cluster_buf_cstr(&b, ",");
    cluster_status_database(&b, db);
    cluster_buf_cstr(&b, ",");
    cluster_json_key(&b, "clusters");
    cluster_buf_cstr(&b, "[");

    for (i = 0; i < n; i++) {
        c = &clusters[i];

        in = 0;
        for (j = 0; j < c->n; j++) {
            in += cluster_status_node_in_rotation(c, &c->nodes[j]);
        }

        cluster_buf_cstr(&b, i ? ",{" : "{");
        cluster_json_key(&b, "name");
        cluster_json_string(&b, c->name, c->name_len);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "panic");
        cluster_json_bool(&b, c->panic);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "release");
        cluster_json_string_or_null(&b, c->release[0] ? c->release : NULL,
                                    strlen(c->release));
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "key_fingerprint");
        cluster_json_string_or_null(&b, c->key_fingerprint,
                                    c->key_fingerprint
                                    ? strlen(c->key_fingerprint) : 0);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "key_check");
        cluster_status_key_check(&b, c);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "nodes_in_rotation");
        cluster_buf_uint(&b, in);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "settings");
        cluster_status_settings(&b, c);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "last_actions");
        cluster_buf_cstr(&b, "[");

        for (j = 0; j < c->nactions; j++) {
            cluster_buf_cstr(&b, j ? ",{" : "{");
            cluster_json_key(&b, "at");
            cluster_json_time(&b, c->actions[j].at);
            cluster_buf_cstr(&b, ",");
            cluster_json_key(&b, "action");
            cluster_buf_cstr(&b, "\"");
            cluster_buf_cstr(&b, cluster_action_name(c->actions[j].admin));
            cluster_buf_cstr(&b, "\",");
            cluster_json_key(&b, "node");
            cluster_json_string(&b, c->actions[j].node,
                                strlen(c->actions[j].node));
            cluster_buf_cstr(&b, ",");
            cluster_json_key(&b, "by");
            cluster_json_string(&b, c->actions[j].by,
                                strlen(c->actions[j].by));
            cluster_buf_cstr(&b, "}");
        }

        cluster_buf_cstr(&b, "],");
        cluster_status_events(&b, c);
        cluster_buf_cstr(&b, ",");
        cluster_status_instances(&b, c);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "nodes");
        cluster_buf_cstr(&b, "[");

        for (j = 0; j < c->n; j++) {
            if (j) {
                cluster_buf_cstr(&b, ",");
            }

            cluster_status_node(&b, c, &c->nodes[j], now);
        }

        cluster_buf_cstr(&b, "]}");
    }

    cluster_buf_cstr(&b, "]}\n");

    return b.need;
}


const char *
cluster_action_name(uint8_t admin)
{
    switch (admin) {
    case CLUSTER_ADMIN_DRAIN:
        return "drain";
    case CLUSTER_ADMIN_REMOVE:
        return "remove";
    default:
        return "restore";
    }
}


int
cluster_status_node_in_rotation(const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node)
{
    if (!node->tracked || node->facts.in_rotation) {
        return 1;
    }

    return cluster->panic && node->facts.admin == CLUSTER_ADMIN_NONE;
}


static void
cluster_status_findings(cluster_buf_t *b, uint32_t findings)
{
    uint32_t     bit;
    const char  *name, *sep;

    sep = "";

    cluster_buf_cstr(b, "[");

    for (bit = 1; bit != 0 && bit <= findings; bit <<= 1) {

        if (!(findings & bit)) {
            continue;
        }

        name = cluster_finding_name(bit);

        if (name == NULL) {
            continue;
        }

        cluster_buf_cstr(b, sep);
        cluster_json_string(b, name, strlen(name));
        sep = ",";
    }

    cluster_buf_cstr(b, "]");
}


static void
cluster_status_settings(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster)
{
    const cluster_settings_t  *s;

    s = &cluster->settings;

    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "servers");
    cluster_buf_uint(b, cluster->n);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "load_balancing");
    cluster_json_bool(b, 1);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "automatic_failover");
    cluster_json_bool(b, s->eject != 0);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "heartbeat_interval_s");
    cluster_buf_seconds(b, s->interval);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "stale_timeout_s");
    cluster_buf_seconds(b, s->stale);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "rise");
    cluster_buf_uint(b, s->rise);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "fall");
    cluster_buf_uint(b, s->fall);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "eject");
    cluster_status_findings(b, s->eject);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "passive_trials");
    cluster_json_bool(b, s->trials);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "active_checks");
    cluster_json_bool(b, s->checks);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "mandatory");
    cluster_json_bool(b, s->mandatory);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "messenger_port");

    if (cluster->messenger_port) {
        cluster_buf_uint(b, cluster->messenger_port);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "slow_start_s");
    cluster_buf_seconds(b, s->slow_start);
    cluster_buf_cstr(b, "}");
}


static void
cluster_status_node(cluster_buf_t *b, const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now)
{
    uint32_t               out;
    const char            *web, *evidence;
    cluster_key_e          key;
    const cluster_node_t  *f;

    f = &node->facts;
    out = node->tracked ? f->findings & cluster_settings_out(&cluster->settings)
                        : 0;

    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "id");
    cluster_json_string(b, node->id, node->id_len);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "name");

    if (f->health.instance[0]) {
        cluster_json_string(b, f->health.instance, strlen(f->health.instance));

    } else {
        cluster_json_string(b, node->name, node->name_len);
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "address");
    cluster_json_string(b, node->id, node->id_len);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "backup");
    cluster_json_bool(b, node->backup);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "weight");
    cluster_buf_uint(b, node->weight);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "tracked");
    cluster_json_bool(b, node->tracked);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "state");
    cluster_json_string_or_null(b,
                   node->tracked ? cluster_state_name(f->state) : NULL,
                   node->tracked ? strlen(cluster_state_name(f->state)) : 0);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "state_since");
    cluster_json_time(b, node->tracked ? f->state_since : 0);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "in_rotation");
    cluster_json_bool(b, cluster_status_node_in_rotation(cluster, node));
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "reasons");
    cluster_status_findings(b, out);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "findings");
    cluster_status_findings(b, node->tracked ? f->findings : 0);

    web = cluster_status_web(node);

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "web");
    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "status");
    cluster_json_string(b, web, strlen(web));
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "last_heartbeat");
    cluster_json_time(b, f->last_heartbeat);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "heartbeat_age_s");

    if (node->tracked && f->last_heartbeat) {
        cluster_buf_seconds(b, cluster_node_heartbeat_age(f, now));

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "requests");
    cluster_buf_uint(b, f->requests);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "failures");
    cluster_buf_uint(b, f->failures);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "consecutive_failures");
    cluster_buf_uint(b, f->consecutive_failures);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "failures_in_a_row");
    cluster_buf_uint(b, node->tracked ? cluster_node_failing(f) : 0);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "fall");
    cluster_buf_uint(b, cluster->settings.fall);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "last_failure");
    cluster_json_time(b, f->last_failure);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "last_status");

    if (f->last_status) {
        cluster_buf_uint(b, f->last_status);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "response_time_ms");

    if (f->requests) {
        cluster_buf_uint(b, f->last_response_ms);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, "},");
    cluster_json_key(b, "service");
    cluster_status_service(b, cluster, node, now);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "health");
    cluster_status_health(b, node);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "version");
    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "release");
    cluster_status_text(b, f->health.release);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "display");
    cluster_status_text(b, f->health.version);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "in_sync");

    if (f->health.release[0] && cluster->release[0]) {
        cluster_json_bool(b, !f->version_skew);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, "},");
    cluster_json_key(b, "encryption_key");
    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "in_sync");

    key = cluster_node_key(f, &evidence);
    cluster_status_key_verdict(b, key);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "evidence");
    cluster_json_string_or_null(b, evidence, evidence ? strlen(evidence) : 0);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "proved_by");
    cluster_json_string_or_null(b, f->key_by[0] ? f->key_by : NULL,
                                strlen(f->key_by));
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "checks");
    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "crypto");
    cluster_status_key_verdict(b, f->key);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "cross_node");
    cluster_status_key_verdict(b, f->key_cross);
    cluster_buf_cstr(b, "},");
    cluster_json_key(b, "key_class");

    if (f->key_class) {
        cluster_buf_uint(b, f->key_class);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "cookies_opened");
    cluster_buf_uint(b, f->cookies_opened);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "cookies_refused");
    cluster_buf_uint(b, f->cookies_refused);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "sessions_served");
    cluster_buf_uint(b, f->sessions_served);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "sessions_refused");
    cluster_buf_uint(b, f->sessions_refused);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "lost_sessions");
    cluster_buf_uint(b, f->lost_sessions);
    cluster_buf_cstr(b, "},");
    cluster_json_key(b, "hints");
    cluster_status_hints_json(b, cluster, node, now);
    cluster_buf_cstr(b, ",");
    cluster_status_views(b, node);
    cluster_buf_cstr(b, "}");
}


/*
 * "views": how the other load balancers see the node, and "disagree":
 * whether one of them routes to it otherwise than this one
 */
static void
cluster_status_views(cluster_buf_t *b, const cluster_status_node_t *node)
{
    size_t                        i, disagree;
    const char                   *state;
    const cluster_status_view_t  *v;

    cluster_json_key(b, "views");
    cluster_buf_cstr(b, "[");

    disagree = 0;

    for (i = 0; i < node->nviews; i++) {
        v = &node->views[i];
        state = cluster_state_name((cluster_state_e) v->state);

        disagree += (node->tracked
                     && v->in_rotation != node->facts.in_rotation);

        cluster_buf_cstr(b, i ? ",{" : "{");
        cluster_json_key(b, "instance");
        cluster_json_string(b, v->instance, strlen(v->instance));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "state");
        cluster_json_string(b, state, strlen(state));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "in_rotation");
        cluster_json_bool(b, v->in_rotation);
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "findings");
        cluster_status_findings(b, v->findings);
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "at");
        cluster_json_time(b, v->at);
        cluster_buf_cstr(b, "}");
    }

    cluster_buf_cstr(b, "],");
    cluster_json_key(b, "disagree");
    cluster_json_bool(b, disagree != 0);
}


/* "events": the cluster's history, newest first */
static void
cluster_status_events(cluster_buf_t *b, const cluster_status_cluster_t *c)
{
    size_t                    i;
    uint32_t                  bit;
    const char               *s, *sep;
    const cluster_history_t  *h;

    static const char  *kinds[] = { "state", "admin", "panic" };

    cluster_json_key(b, "events");
    cluster_buf_cstr(b, "[");

    for (i = 0; i < c->nhistory; i++) {
        h = &c->history[i];

        cluster_buf_cstr(b, i ? ",{" : "{");
        cluster_json_key(b, "at");
        cluster_json_time(b, h->at);
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "instance");
        cluster_json_string_or_null(b, c->instance,
                                    c->instance ? strlen(c->instance) : 0);
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "node");
        cluster_json_string_or_null(b, h->node[0] ? h->node : NULL,
                                    strlen(h->node));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "id");
        cluster_json_string_or_null(b, h->id[0] ? h->id : NULL,
                                    strlen(h->id));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "kind");
        s = h->kind <= CLUSTER_HISTORY_PANIC ? kinds[h->kind] : "state";
        cluster_json_string(b, s, strlen(s));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "from");
        s = cluster_status_history_word(h->kind, h->from);
        cluster_json_string(b, s, strlen(s));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "to");
        s = cluster_status_history_word(h->kind, h->to);
        cluster_json_string(b, s, strlen(s));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "in_rotation");
        cluster_json_bool(b, h->in_rotation);
        cluster_buf_cstr(b, ",");

        /* the findings after it, and what the check said of a node down */
        cluster_json_key(b, "reasons");
        cluster_buf_cstr(b, "[");
        sep = "";

        for (bit = 1; bit != 0 && bit <= h->findings; bit <<= 1) {
            s = cluster_finding_name(h->findings & bit);

            if (s && (h->findings & bit) != CLUSTER_FINDING_UNCHECKED) {
                cluster_buf_cstr(b, sep);
                cluster_json_string(b, s, strlen(s));
                sep = ",";
            }
        }

        if (h->reason[0]) {
            cluster_buf_cstr(b, sep);
            cluster_json_string(b, h->reason, strlen(h->reason));
        }

        cluster_buf_cstr(b, "],");
        cluster_json_key(b, "by");
        cluster_json_string_or_null(b, h->by[0] ? h->by : NULL,
                                    strlen(h->by));
        cluster_buf_cstr(b, "}");
    }

    cluster_buf_cstr(b, "]");
}


static const char *
cluster_status_history_word(uint8_t kind, uint8_t v)
{
    static const char  *admin[] = { "none", "drained", "removed" };

    switch (kind) {

    case CLUSTER_HISTORY_ADMIN:
        return v <= CLUSTER_ADMIN_REMOVE ? admin[v] : "none";

    case CLUSTER_HISTORY_PANIC:
        return v ? "panic" : "calm";

    default:
        return cluster_state_name((cluster_state_e) v);
    }
}


/* "instances": the load balancers the database knows of this cluster */
static void
cluster_status_instances(cluster_buf_t *b, const cluster_status_cluster_t *c)
{
    size_t                            i;
    const cluster_status_instance_t  *in;

    cluster_json_key(b, "instances");
    cluster_buf_cstr(b, "[");

    for (i = 0; i < c->ninstances; i++) {
        in = &c->instances[i];

        cluster_buf_cstr(b, i ? ",{" : "{");
        cluster_json_key(b, "instance");
        cluster_json_string(b, in->instance, strlen(in->instance));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "host");
        cluster_json_string(b, in->host, strlen(in->host));
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "last_seen");
        cluster_json_time(b, in->last_seen);
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "alive");
        cluster_json_bool(b, in->alive);
        cluster_buf_cstr(b, ",");
        cluster_json_key(b, "self");
        cluster_json_bool(b, in->self);
        cluster_buf_cstr(b, "}");
    }

    cluster_buf_cstr(b, "]");
}


/* the key checks of a cluster, and what they saw of cookies */
static void
cluster_status_key_check(cluster_buf_t *b, const cluster_status_cluster_t *c)
{
    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "crypto");
    cluster_json_bool(b, c->crypto_check);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "cross_node");
    cluster_json_bool(b, c->cross_check);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "sessions");
    cluster_buf_uint(b, c->sessions);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "sessions_stored");
    cluster_buf_uint(b, c->sessions_stored);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "sessions_evicted");
    cluster_buf_uint(b, c->sessions_evicted);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "cookies_forged");
    cluster_buf_uint(b, c->cookies_forged);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "cookies_malformed");
    cluster_buf_uint(b, c->cookies_malformed);
    cluster_buf_cstr(b, "}");
}


/* one check's verdict on a node's key */
static void
cluster_status_key_verdict(cluster_buf_t *b, uint8_t key)
{
    cluster_buf_cstr(b, key == CLUSTER_KEY_IN_SYNC ? "true"
                        : key == CLUSTER_KEY_MISMATCH ? "false" : "null");
}


const char *
cluster_status_service_name(const cluster_status_node_t *node)
{
    const cluster_node_t  *f;

    f = &node->facts;

    if (f->findings & CLUSTER_FINDING_SERVICE_DOWN) {
        return "error";
    }

    if (f->health.service == CLUSTER_HEALTH_ERROR
        || f->messenger == CLUSTER_MESSENGER_UNREACHABLE)
    {
        return "warning";
    }

    if (f->health.service == CLUSTER_HEALTH_OK) {
        return "ok";
    }

    return "unknown";
}


/* a fixed field of the record: a string, or null when empty */
static void
cluster_status_text(cluster_buf_t *b, const char *s)
{
    cluster_json_string_or_null(b, s[0] ? s : NULL, strlen(s));
}


static void
cluster_status_service(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now)
{
    const char            *status, *messenger;
    const cluster_node_t  *f;

    f = &node->facts;

    status = cluster_status_service_name(node);

    switch (f->messenger) {
    case CLUSTER_MESSENGER_OK:
        messenger = "ok";
        break;
    case CLUSTER_MESSENGER_UNREACHABLE:
        messenger = "unreachable";
        break;
    default:
        messenger = cluster->messenger_port ? "unknown" : "not_checked";
    }

    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "status");
    cluster_json_string(b, status, strlen(status));
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "detail");
    cluster_status_text(b, f->health.service_detail);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "messenger");
    cluster_json_string(b, messenger, strlen(messenger));
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "last_heartbeat");
    cluster_json_time(b, f->service_heartbeat);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "heartbeat_age_s");

    if (f->service_heartbeat) {
        cluster_buf_seconds(b, now > f->service_heartbeat
                               ? now - f->service_heartbeat : 0);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, "}");
}


static void
cluster_status_health(cluster_buf_t *b, const cluster_status_node_t *node)
{
    const cluster_node_t  *f;

    f = &node->facts;

    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "last_check");
    cluster_json_time(b, f->last_check);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "last_success");
    cluster_json_time(b, f->last_check_ok);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "status_code");

    if (f->check_status) {
        cluster_buf_uint(b, f->check_status);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "duration_ms");

    if (f->last_check) {
        cluster_buf_uint(b, f->check_ms);

    } else {
        cluster_buf_cstr(b, "null");
    }

    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "reason");
    cluster_status_text(b, f->check_reason);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "application");
    cluster_status_text(b, f->health.application);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "database");
    cluster_status_component(b, f->health.database);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "database_detail");
    cluster_status_text(b, f->health.database_detail);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "license");
    cluster_status_component(b, f->health.license);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "license_detail");
    cluster_status_text(b, f->health.license_detail);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "consecutive_failures");
    cluster_buf_uint(b, f->check_failures);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "checks");
    cluster_buf_uint(b, f->checks);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "failed_checks");
    cluster_buf_uint(b, f->checks_failed);
    cluster_buf_cstr(b, "}");
}


/* a component's status as the product says it: "OK", "Error" or null */
static void
cluster_status_component(cluster_buf_t *b, uint8_t status)
{
    switch (status) {
    case CLUSTER_HEALTH_OK:
        cluster_buf_cstr(b, "\"OK\"");
        break;
    case CLUSTER_HEALTH_ERROR:
        cluster_buf_cstr(b, "\"Error\"");
        break;
    default:
        cluster_buf_cstr(b, "null");
    }
}


/*
 * The troubleshooting hints of Inedo's Cluster Overview, for what is wrong
 * with the node now: up to "max" sentences into "hints"; returns how many.
 */
size_t
cluster_status_hints(const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now,
    char hints[][CLUSTER_HINT_SIZE], size_t max)
{
    char                   detail[100];
    size_t                 n, len;
    const cluster_node_t  *f;

    f = &node->facts;
    n = 0;

    if ((f->findings & CLUSTER_FINDING_DOWN) && n < max) {
        if (cluster->settings.checks) {
            snprintf(hints[n++], CLUSTER_HINT_SIZE,
                     "The web server does not answer its health check "
                     "(%s). Make sure the web application is running on "
                     "this node and reachable from the load balancer.",
                     f->check_reason[0] ? f->check_reason : "no answer");

        } else {
            snprintf(hints[n++], CLUSTER_HINT_SIZE,
                     "The web server does not answer requests. Make sure "
                     "the web application is running on this node and "
                     "reachable from the load balancer.");
        }
    }

    if ((f->findings & CLUSTER_FINDING_STALE) && n < max) {
        snprintf(hints[n++], CLUSTER_HINT_SIZE,
                 "No heartbeat for %lld s: neither requests nor checks "
                 "reached this node. A node that gets no traffic (sticky "
                 "sessions, a quiet weekend) looks stale although it is up; "
                 "\"cluster_check\" keeps its heartbeat.",
                 (long long) (cluster_node_heartbeat_age(f, now) / 1000));
    }

    if (f->findings & CLUSTER_FINDING_DOWN) {
        /* what else it said is from before it stopped answering */
        return n;
    }

    if ((f->findings & CLUSTER_FINDING_KEY_MISMATCH) && n < max) {
        snprintf(hints[n++], CLUSTER_HINT_SIZE,
                 "Encryption key not in sync: %s%s%s%s, so users are "
                 "prompted to log in again on the other nodes. Copy the "
                 "shared EncryptionKey to this node and restart it.",
                 (f->key == CLUSTER_KEY_MISMATCH)
                 ? "the auth cookies this node mints do not open with the "
                   "cluster's key"
                 : "this node sends the other nodes' signed-in users to "
                   "log in, and they send its users",
                 cluster->key_fingerprint ? " (fingerprint " : "",
                 cluster->key_fingerprint ? cluster->key_fingerprint : "",
                 cluster->key_fingerprint ? ")" : "");
    }

    if (f->version_skew && cluster->release[0] && n < max) {
        snprintf(hints[n++], CLUSTER_HINT_SIZE,
                 "Software version %s is not in sync with the cluster's "
                 "(%s). Upgrade every node to the same version.",
                 f->health.release, cluster->release);
    }

    if (f->health.service == CLUSTER_HEALTH_ERROR && n < max) {
        /* the product's detail is a sentence: its full stop is ours */
        len = strlen(f->health.service_detail);
        len -= (len && f->health.service_detail[len - 1] == '.');
        snprintf(detail, sizeof(detail), "%.*s", (int) len,
                 f->health.service_detail);

        snprintf(hints[n++], CLUSTER_HINT_SIZE,
                 "The service component is not running%s%s%s. Start the "
                 "%s%sService on this node.",
                 detail[0] ? " (" : "", detail, detail[0] ? ")" : "",
                 f->health.application,
                 f->health.application[0] ? " " : "");
    }

    if (f->messenger == CLUSTER_MESSENGER_UNREACHABLE && n < max) {
        snprintf(hints[n++], CLUSTER_HINT_SIZE,
                 "Cannot connect to service messenger on port %u. Allow "
                 "TCP port %u between the nodes in the firewall, and make "
                 "sure the service is running.",
                 cluster->messenger_port, cluster->messenger_port);
    }

    if (f->health.database == CLUSTER_HEALTH_ERROR && n < max) {
        snprintf(hints[n++], CLUSTER_HINT_SIZE,
                 "The node cannot reach its database%s%s%s. Check the "
                 "connection string and the database server.",
                 f->health.database_detail[0] ? " (" : "",
                 f->health.database_detail,
                 f->health.database_detail[0] ? ")" : "");
    }

    if (f->health.license == CLUSTER_HEALTH_ERROR && n < max) {
        snprintf(hints[n++], CLUSTER_HINT_SIZE,
                 "The license is not valid%s%s%s.",
                 f->health.license_detail[0] ? " (" : "",
                 f->health.license_detail,
                 f->health.license_detail[0] ? ")" : "");
    }

    return n;
}


static void
cluster_status_hints_json(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now)
{
    char    hints[CLUSTER_HINTS_MAX][CLUSTER_HINT_SIZE];
    size_t  i, n;

    n = cluster_status_hints(cluster, node, now, hints, CLUSTER_HINTS_MAX);

    cluster_buf_cstr(b, "[");

    for (i = 0; i < n; i++) {
        cluster_buf_cstr(b, i ? "," : "");
        cluster_json_string(b, hints[i], strlen(hints[i]));
    }

    cluster_buf_cstr(b, "]");
}


const char *
cluster_status_web(const cluster_status_node_t *node)
{
    const cluster_node_t  *f;

    if (!node->tracked) {
        return "unknown";
    }

    f = &node->facts;

    if (f->findings & CLUSTER_FINDING_DOWN) {
        return "failing";
    }

    if (f->findings & CLUSTER_FINDING_STALE) {
        return "stale";
    }

    if (f->last_heartbeat == 0) {
        return "unknown";
    }

    /*
     * Failing, not yet down: nginx's own max_fails may keep requests off
     * it meanwhile, so the count would not grow to "fall" soon; say it
     */
    if (cluster_node_failing(f)) {
        return "warning";
    }

    return "ok";
}
