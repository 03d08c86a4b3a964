/*
 * ngx_cluster_module: the status document in JSON.
 */

#include <string.h>

#include "cluster_json.h"
#include "cluster_status.h"


static void cluster_status_findings(cluster_buf_t *b, uint32_t findings);
static void cluster_status_settings(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster);
static void cluster_status_node(cluster_buf_t *b,
    const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now);
static const char *cluster_status_web(const cluster_status_node_t *node);


size_t
cluster_status_json(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version)
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
        cluster_json_key(&b, "nodes_in_rotation");
        cluster_buf_uint(&b, in);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "settings");
        cluster_status_settings(&b, c);
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
    cluster_buf_cstr(b, "}");
}


static void
cluster_status_node(cluster_buf_t *b, const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now)
{
    uint32_t               out;
    const char            *web;
    const cluster_node_t  *f;

    f = &node->facts;
    out = node->tracked
          ? f->findings & (cluster->settings.eject | CLUSTER_FINDING_ADMIN)
          : 0;

    cluster_buf_cstr(b, "{");
    cluster_json_key(b, "id");
    cluster_json_string(b, node->id, node->id_len);
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, "name");
    cluster_json_string(b, node->name, node->name_len);
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

    /* the parts below are learnt by active checks and the key check */
    cluster_buf_cstr(b, "},");
    cluster_json_key(b, "service");
    cluster_buf_cstr(b, "{\"status\":\"unknown\",\"detail\":null,"
                        "\"messenger\":\"unknown\"},");
    cluster_json_key(b, "health");
    cluster_buf_cstr(b, "{\"last_check\":null,\"status_code\":null,"
                        "\"database\":null,\"license\":null,"
                        "\"consecutive_failures\":0},");
    cluster_json_key(b, "version");
    cluster_buf_cstr(b, "{\"release\":null,\"display\":null,"
                        "\"in_sync\":null},");
    cluster_json_key(b, "encryption_key");
    cluster_buf_cstr(b, "{\"in_sync\":null,\"evidence\":null}");
    cluster_buf_cstr(b, "}");
}


static const char *
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

    return "ok";
}
