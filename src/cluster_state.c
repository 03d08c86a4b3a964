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
static int cluster_state_get(json_t *o, const char *key, int64_t max,
    int64_t *v);
static int cluster_state_time(json_t *o, const char *key, int64_t now,
    int64_t *t);
static int cluster_state_node(json_t *o, int64_t now, cluster_node_t *saved);
static int cluster_state_action(json_t *o, int64_t now, cluster_action_t *a);


size_t
cluster_state_write(char *buf, size_t size,
    const cluster_state_entry_t *entries, size_t n,
    const cluster_state_action_t *actions, size_t nactions, int64_t now)
{
    size_t                   i;
    cluster_buf_t            b;
    const cluster_node_t    *f;
    const cluster_action_t  *a;

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
        cluster_state_int(&b, "admin_at", f->admin_at);
        cluster_state_int(&b, "last_heartbeat", f->last_heartbeat);
        cluster_state_int(&b, "last_failure", f->last_failure);
        cluster_state_int(&b, "last_check", f->last_check);
        cluster_state_int(&b, "last_check_ok", f->last_check_ok);
        cluster_state_int(&b, "requests", (int64_t) f->requests);
        cluster_state_int(&b, "failures", (int64_t) f->failures);
        cluster_state_int(&b, "checks", (int64_t) f->checks);
        cluster_state_int(&b, "checks_failed", (int64_t) f->checks_failed);
        cluster_state_text(&b, "key_fingerprint",
                           entries[i].key_fingerprint, 1);
        cluster_state_int(&b, "key", f->key);
        cluster_state_int(&b, "key_since", f->key_since);
        cluster_state_int(&b, "key_refusals", f->key_refusals);
        cluster_state_int(&b, "cookies_opened", (int64_t) f->cookies_opened);
        cluster_state_int(&b, "cookies_refused",
                          (int64_t) f->cookies_refused);
        cluster_state_int(&b, "lost_sessions", (int64_t) f->lost_sessions);
        cluster_state_text(&b, "application", f->health.application, 1);
        cluster_state_text(&b, "instance", f->health.instance, 1);
        cluster_state_text(&b, "version", f->health.version, 1);
        cluster_state_text(&b, "release", f->health.release, 1);
        cluster_buf_cstr(&b, "}");
    }

    cluster_buf_cstr(&b, "\n],\"actions\":[\n");

    for (i = 0; i < nactions; i++) {
        a = actions[i].action;

        cluster_buf_cstr(&b, i ? ",\n{" : "{");
        cluster_json_key(&b, "cluster");
        cluster_json_string(&b, actions[i].cluster, actions[i].cluster_len);
        cluster_state_int(&b, "at", a->at);
        cluster_state_int(&b, "admin", a->admin);
        cluster_state_text(&b, "node", a->node, 1);
        cluster_state_text(&b, "by", a->by, 1);
        cluster_buf_cstr(&b, "}");
    }

    cluster_buf_cstr(&b, "\n]}\n");

    return b.need;
}


long
cluster_state_read(const char *text, size_t len, int64_t now,
    const cluster_state_reader_t *reader, long *refused, char *error,
    size_t size)
{
    long              applied;
    size_t            i;
    char              fingerprint[16];
    json_t           *root, *nodes, *actions, *o, *cluster, *id;
    json_error_t      err;
    cluster_node_t    saved;
    cluster_action_t  a;

    *refused = 0;

    root = json_loadb(text, len, 0, &err);

    if (root == NULL) {
        snprintf(error, size, "invalid JSON at line %d", err.line);
        return -1;
    }

    nodes = json_object_get(root, "nodes");
    actions = json_object_get(root, "actions");

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
            || !json_is_string(id) || cluster_state_node(o, now, &saved) != 0)
        {
            (*refused)++;
            continue;
        }

        cluster_health_copy(fingerprint, sizeof(fingerprint),
                            json_object_get(o, "key_fingerprint"));

        applied += reader->node(reader->ctx, json_string_value(cluster),
                                json_string_value(id), fingerprint, &saved);
    }

    /* a file of an older version has none */

    for (i = 0; i < json_array_size(actions); i++) {
        o = json_array_get(actions, i);
        cluster = json_object_get(o, "cluster");

        if (!json_is_object(o) || !json_is_string(cluster)
            || cluster_state_action(o, now, &a) != 0)
        {
            (*refused)++;
            continue;
        }

        reader->action(reader->ctx, json_string_value(cluster), &a);
    }

    json_decref(root);

    return applied;
}


/* a node's entry, every value in its range; -1 when one is not */
static int
cluster_state_node(json_t *o, int64_t now, cluster_node_t *saved)
{
    int64_t  admin, key, refusals, requests, failures, checks, failed,
             opened, forged, lost;

    memset(saved, 0, sizeof(cluster_node_t));

    if (cluster_state_get(o, "admin", CLUSTER_ADMIN_REMOVE, &admin)
        || cluster_state_time(o, "admin_at", now, &saved->admin_at)
        || cluster_state_time(o, "last_heartbeat", now,
                              &saved->last_heartbeat)
        || cluster_state_time(o, "last_failure", now, &saved->last_failure)
        || cluster_state_time(o, "last_check", now, &saved->last_check)
        || cluster_state_time(o, "last_check_ok", now,
                              &saved->last_check_ok)
        || cluster_state_get(o, "requests", INT64_MAX, &requests)
        || cluster_state_get(o, "failures", INT64_MAX, &failures)
        || cluster_state_get(o, "checks", INT64_MAX, &checks)
        || cluster_state_get(o, "checks_failed", INT64_MAX, &failed)
        || cluster_state_get(o, "key", CLUSTER_KEY_MISMATCH, &key)
        || cluster_state_time(o, "key_since", now, &saved->key_since)
        || cluster_state_get(o, "key_refusals", UINT8_MAX, &refusals)
        || cluster_state_get(o, "cookies_opened", INT64_MAX, &opened)
        || cluster_state_get(o, "cookies_refused", INT64_MAX, &forged)
        || cluster_state_get(o, "lost_sessions", INT64_MAX, &lost))
    {
        return -1;
    }

    saved->admin = (uint8_t) admin;
    saved->requests = (uint64_t) requests;
    saved->failures = (uint64_t) failures;
    saved->checks = (uint64_t) checks;
    saved->checks_failed = (uint64_t) failed;
    saved->key = (uint8_t) key;
    saved->key_refusals = (uint8_t) refusals;
    saved->cookies_opened = (uint64_t) opened;
    saved->cookies_refused = (uint64_t) forged;
    saved->lost_sessions = (uint64_t) lost;

    cluster_health_copy(saved->health.application,
                        sizeof(saved->health.application),
                        json_object_get(o, "application"));
    cluster_health_copy(saved->health.instance,
                        sizeof(saved->health.instance),
                        json_object_get(o, "instance"));
    cluster_health_copy(saved->health.version,
                        sizeof(saved->health.version),
                        json_object_get(o, "version"));
    cluster_health_copy(saved->health.release,
                        sizeof(saved->health.release),
                        json_object_get(o, "release"));

    return 0;
}


static int
cluster_state_action(json_t *o, int64_t now, cluster_action_t *a)
{
    int64_t  admin;

    memset(a, 0, sizeof(cluster_action_t));

    if (cluster_state_time(o, "at", now, &a->at)
        || cluster_state_get(o, "admin", CLUSTER_ADMIN_REMOVE, &admin)
        || !json_is_string(json_object_get(o, "node")))
    {
        return -1;
    }

    a->admin = (uint8_t) admin;

    cluster_health_copy(a->node, sizeof(a->node), json_object_get(o, "node"));
    cluster_health_copy(a->by, sizeof(a->by), json_object_get(o, "by"));

    return 0;
}


void
cluster_state_restore(cluster_node_t *node, const cluster_node_t *saved,
    int same_key)
{
    node->admin = saved->admin;
    node->admin_at = saved->admin_at;
    node->last_heartbeat = saved->last_heartbeat;
    node->last_failure = saved->last_failure;
    node->last_check = saved->last_check;
    node->last_check_ok = saved->last_check_ok;
    node->requests = saved->requests;
    node->failures = saved->failures;
    node->checks = saved->checks;
    node->checks_failed = saved->checks_failed;
    if (same_key) {
        node->key = saved->key;
        node->key_since = saved->key_since;
        node->key_refusals = saved->key_refusals;
    }
    node->cookies_opened = saved->cookies_opened;
    node->cookies_refused = saved->cookies_refused;
    node->lost_sessions = saved->lost_sessions;

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


/* an integer of 0 .. max, 0 when missing; -1 for another value */
static int
cluster_state_get(json_t *o, const char *key, int64_t max, int64_t *v)
{
    json_t      *j;
    json_int_t   n;

    j = json_object_get(o, key);

    if (j == NULL) {
        *v = 0;
        return 0;
    }

    if (!json_is_integer(j)) {
        return -1;
    }

    n = json_integer_value(j);

    if (n < 0 || n > max) {
        return -1;
    }

    *v = (int64_t) n;

    return 0;
}


/*
 * A time, in ms, no later than the time of reading: a clock that went back
 * since the file was written loses nothing, and a heartbeat from the
 * future would keep a node fresh.
 */
static int
cluster_state_time(json_t *o, const char *key, int64_t now, int64_t *t)
{
    if (cluster_state_get(o, key, INT64_MAX, t) != 0) {
        return -1;
    }

    if (*t > now) {
        *t = now;
    }

    return 0;
}
