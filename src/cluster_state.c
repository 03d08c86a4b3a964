/*
 * ngx_cluster_module: the state file.
 */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cluster_health.h"
#include "cluster_json.h"
#include "cluster_state.h"


static void cluster_state_text(cluster_buf_t *b, const char *key,
    const char *value, int comma);
static void cluster_state_int(cluster_buf_t *b, const char *key, int64_t v);
static int64_t cluster_state_get_int(json_t *o, const char *key);


size_t
cluster_state_write(char *buf, size_t size,
    const cluster_state_entry_t *entries, size_t n, int64_t now)
{
    size_t                 i;
    cluster_buf_t          b;
    const cluster_node_t  *f;

    cluster_buf_init(&b, buf, size);

    cluster_buf_cstr(&b, "{\"ngx_cluster_state\":1,\"saved_at\":");
    cluster_buf_int(&b, now);
    cluster_buf_cstr(&b, ",\"nodes\":[\n");

    for (i = 0; i < n; i++) {
        f = entries[i].facts;

        cluster_buf_cstr(&b, i ? ",\n{" : "{");
        cluster_json_key(&b, "cluster");
        cluster_json_string(&b, entries[i].cluster, entries[i].cluster_len);
        cluster_buf_cstr(&b, ",");
        cluster_json_key(&b, "id");
        cluster_json_string(&b, entries[i].id, entries[i].id_len);
        cluster_state_int(&b, "admin", f->admin);
        cluster_state_int(&b, "last_heartbeat", f->last_heartbeat);
        cluster_state_int(&b, "last_failure", f->last_failure);
        cluster_state_int(&b, "last_check", f->last_check);
        cluster_state_int(&b, "last_check_ok", f->last_check_ok);
        cluster_state_int(&b, "requests", (int64_t) f->requests);
        cluster_state_int(&b, "failures", (int64_t) f->failures);
        cluster_state_int(&b, "checks", (int64_t) f->checks);
        cluster_state_int(&b, "checks_failed", (int64_t) f->checks_failed);
        cluster_state_text(&b, "application", f->health.application, 1);
        cluster_state_text(&b, "instance", f->health.instance, 1);
        cluster_state_text(&b, "version", f->health.version, 1);
        cluster_state_text(&b, "release", f->health.release, 1);
        cluster_buf_cstr(&b, "}");
    }

    cluster_buf_cstr(&b, "\n]}\n");

    return b.need;
}


long
cluster_state_read(const char *text, size_t len,
    cluster_state_apply_pt apply, void *ctx, char *error, size_t size)
{
    long            applied;
    size_t          i;
    json_t         *root, *nodes, *o, *cluster, *id;
    json_error_t    err;
    cluster_node_t  saved;

    root = json_loadb(text, len, 0, &err);

    if (root == NULL) {
        snprintf(error, size, "invalid JSON at line %d", err.line);
        return -1;
    }

    nodes = json_object_get(root, "nodes");

    if (!json_is_object(root)
        || json_integer_value(json_object_get(root, "ngx_cluster_state")) != 1
        || !json_is_array(nodes))
    {
        snprintf(error, size, "not a state file of this module");
        json_decref(root);
        return -1;
    }

    applied = 0;

    for (i = 0; i < json_array_size(nodes); i++) {
        o = json_array_get(nodes, i);
        cluster = json_object_get(o, "cluster");
        id = json_object_get(o, "id");

        if (!json_is_object(o) || !json_is_string(cluster)
            || !json_is_string(id))
        {
            continue;
        }

        memset(&saved, 0, sizeof(cluster_node_t));

        saved.admin = (uint8_t) cluster_state_get_int(o, "admin");

        if (saved.admin > CLUSTER_ADMIN_REMOVE) {
            saved.admin = CLUSTER_ADMIN_NONE;
        }

        saved.last_heartbeat = cluster_state_get_int(o, "last_heartbeat");
        saved.last_failure = cluster_state_get_int(o, "last_failure");
        saved.last_check = cluster_state_get_int(o, "last_check");
        saved.last_check_ok = cluster_state_get_int(o, "last_check_ok");
        saved.requests = (uint64_t) cluster_state_get_int(o, "requests");
        saved.failures = (uint64_t) cluster_state_get_int(o, "failures");
        saved.checks = (uint64_t) cluster_state_get_int(o, "checks");
        saved.checks_failed = (uint64_t) cluster_state_get_int(o,
                                                              "checks_failed");

        cluster_health_copy(saved.health.application,
                            sizeof(saved.health.application),
                            json_object_get(o, "application"));
        cluster_health_copy(saved.health.instance,
                            sizeof(saved.health.instance),
                            json_object_get(o, "instance"));
        cluster_health_copy(saved.health.version,
                            sizeof(saved.health.version),
                            json_object_get(o, "version"));
        cluster_health_copy(saved.health.release,
                            sizeof(saved.health.release),
                            json_object_get(o, "release"));

        applied += apply(ctx, json_string_value(cluster),
                         json_string_value(id), &saved);
    }

    json_decref(root);

    return applied;
}


void
cluster_state_restore(cluster_node_t *node, const cluster_node_t *saved)
{
    node->admin = saved->admin;
    node->last_heartbeat = saved->last_heartbeat;
    node->last_failure = saved->last_failure;
    node->last_check = saved->last_check;
    node->last_check_ok = saved->last_check_ok;
    node->requests = saved->requests;
    node->failures = saved->failures;
    node->checks = saved->checks;
    node->checks_failed = saved->checks_failed;

    memcpy(node->health.application, saved->health.application,
           sizeof(node->health.application));
    memcpy(node->health.instance, saved->health.instance,
           sizeof(node->health.instance));
    memcpy(node->health.version, saved->health.version,
           sizeof(node->health.version));
    memcpy(node->health.release, saved->health.release,
           sizeof(node->health.release));
}


static void
cluster_state_text(cluster_buf_t *b, const char *key, const char *value,
    int comma)
{
    if (comma) {
        cluster_buf_cstr(b, ",");
    }

    cluster_json_key(b, key);
    cluster_json_string(b, value, strlen(value));
}


static void
cluster_state_int(cluster_buf_t *b, const char *key, int64_t v)
{
    cluster_buf_cstr(b, ",");
    cluster_json_key(b, key);
    cluster_buf_int(b, v);
}


static int64_t
cluster_state_get_int(json_t *o, const char *key)
{
    json_int_t  v;

    v = json_integer_value(json_object_get(o, key));

    return v > 0 ? (int64_t) v : 0;
}
