/*
 * ngx_cluster_module: node facts, findings, state and rotation.
 */

#include <string.h>

#include "cluster_node.h"


static const char  *cluster_state_names[] = {
    "up", "checking", "stale", "down", "drained", "removed"
};


static const struct {
    uint32_t     bit;
    const char  *name;
} cluster_findings[] = {
    { CLUSTER_FINDING_STALE, "stale" },
    { CLUSTER_FINDING_DOWN, "down" },
    { CLUSTER_FINDING_KEY_MISMATCH, "key_mismatch" },
    { CLUSTER_FINDING_VERSION_SKEW, "version_skew" },
    { CLUSTER_FINDING_SERVICE_DOWN, "service_down" },
    { CLUSTER_FINDING_DRAINED, "drained" },
    { CLUSTER_FINDING_REMOVED, "removed" }
};


void
cluster_settings_default(cluster_settings_t *s)
{
    /* Inedo's own defaults: a heartbeat every 30 s, stale after 5 min */
    s->interval = 30 * 1000;
    s->stale = 5 * 60 * 1000;
    s->rise = 2;
    s->fall = 3;
    s->eject = CLUSTER_FINDING_DOWN | CLUSTER_FINDING_KEY_MISMATCH;
    s->trials = 1;
}


void
cluster_node_init(cluster_node_t *node, int64_t now)
{
    memset(node, 0, sizeof(cluster_node_t));

    node->created = now;
    node->state_since = now;
    node->state = CLUSTER_STATE_CHECKING;
    node->in_rotation = 1;
}


void
cluster_node_success(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now)
{
    node->last_heartbeat = now;
    node->consecutive_failures = 0;

    if (node->consecutive_successes < UINT32_MAX) {
        node->consecutive_successes++;
    }

    if (node->down && node->consecutive_successes >= s->rise) {
        node->down = 0;
    }
}


void
cluster_node_failure(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now)
{
    node->last_failure = now;
    node->consecutive_successes = 0;

    if (node->consecutive_failures < UINT32_MAX) {
        node->consecutive_failures++;
    }

    if (!node->down && node->consecutive_failures >= s->fall) {
        node->down = 1;
    }
}


void
cluster_node_response(cluster_node_t *node, const cluster_settings_t *s,
    int ok, unsigned status, unsigned response_ms, int64_t now)
{
    node->requests++;
    node->last_status = status;
    node->last_response_ms = response_ms;

    if (ok) {
        cluster_node_success(node, s, now);

    } else {
        node->failures++;
        cluster_node_failure(node, s, now);
    }
}


int64_t
cluster_node_heartbeat_age(const cluster_node_t *node, int64_t now)
{
    int64_t  since;

    /* a node never heard from ages from the moment it was configured */
    since = node->last_heartbeat ? node->last_heartbeat : node->created;

    return now > since ? now - since : 0;
}


uint32_t
cluster_node_findings(const cluster_node_t *node, const cluster_settings_t *s,
    int64_t now)
{
    uint32_t  findings;

    findings = 0;

    if (node->admin == CLUSTER_ADMIN_REMOVE) {
        findings |= CLUSTER_FINDING_REMOVED;

    } else if (node->admin == CLUSTER_ADMIN_DRAIN) {
        findings |= CLUSTER_FINDING_DRAINED;
    }

    if (node->down) {
        findings |= CLUSTER_FINDING_DOWN;
    }

    /*
     * A backup server gets requests only when the primaries fail, so from
     * passive heartbeats alone its silence says nothing.
     */

    if (cluster_node_heartbeat_age(node, now) > s->stale
        && !(node->backup && s->trials))
    {
        findings |= CLUSTER_FINDING_STALE;
    }

    return findings;
}


cluster_state_e
cluster_node_state(const cluster_node_t *node, uint32_t findings)
{
    if (findings & CLUSTER_FINDING_REMOVED) {
        return CLUSTER_STATE_REMOVED;
    }

    if (findings & CLUSTER_FINDING_DRAINED) {
        return CLUSTER_STATE_DRAINED;
    }

    if (findings & CLUSTER_FINDING_DOWN) {
        return CLUSTER_STATE_DOWN;
    }

    if (findings & CLUSTER_FINDING_STALE) {
        return CLUSTER_STATE_STALE;
    }

    if (node->last_heartbeat == 0) {
        return CLUSTER_STATE_CHECKING;
    }

    return CLUSTER_STATE_UP;
}


int
cluster_node_evaluate(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now, cluster_change_t *change)
{
    uint32_t         findings;
    unsigned         in_rotation;
    cluster_state_e  state;

    findings = cluster_node_findings(node, s, now);
    state = cluster_node_state(node, findings);
    in_rotation = (findings & (s->eject | CLUSTER_FINDING_ADMIN)) == 0;

    node->findings = findings;

    if (state == node->state && in_rotation == node->in_rotation) {
        return 0;
    }

    change->old_state = (cluster_state_e) node->state;
    change->new_state = state;
    change->old_in_rotation = node->in_rotation;
    change->new_in_rotation = in_rotation;
    change->findings = findings;

    if (state != node->state) {
        node->state = (uint8_t) state;
        node->state_since = now;
    }

    if (node->in_rotation && !in_rotation) {
        /* the first trial comes one interval after the node went out */
        node->trial_at = now;
    }

    node->in_rotation = (uint8_t) in_rotation;

    return 1;
}


int
cluster_node_trial_due(const cluster_node_t *node,
    const cluster_settings_t *s, int64_t now)
{
    if (!s->trials || node->in_rotation || node->admin != CLUSTER_ADMIN_NONE) {
        return 0;
    }

    /* a trial can only clear what an answer clears */
    if (node->findings & s->eject & ~CLUSTER_FINDING_TRIABLE) {
        return 0;
    }

    /* a clock that went back must not hold trials off until it catches up */
    return now < node->trial_at || now - node->trial_at >= s->interval;
}


int
cluster_panic(cluster_node_t *const *nodes, size_t n)
{
    size_t  i, eligible;

    eligible = 0;

    for (i = 0; i < n; i++) {

        if (nodes[i] == NULL || nodes[i]->in_rotation) {
            /* a node the zone had no room for is always in rotation */
            return 0;
        }

        if (nodes[i]->admin == CLUSTER_ADMIN_NONE) {
            eligible++;
        }
    }

    return eligible > 0;
}


const char *
cluster_state_name(cluster_state_e state)
{
    if ((size_t) state < sizeof(cluster_state_names) / sizeof(char *)) {
        return cluster_state_names[state];
    }

    return "unknown";
}


const char *
cluster_finding_name(uint32_t finding)
{
    size_t  i;

    for (i = 0; i < sizeof(cluster_findings) / sizeof(cluster_findings[0]);
         i++)
    {
        if (cluster_findings[i].bit == finding) {
            return cluster_findings[i].name;
        }
    }

    return NULL;
}


uint32_t
cluster_finding_parse(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < sizeof(cluster_findings) / sizeof(cluster_findings[0]);
         i++)
    {
        if (strlen(cluster_findings[i].name) == len
            && memcmp(cluster_findings[i].name, name, len) == 0)
        {
            return cluster_findings[i].bit;
        }
    }

    return 0;
}
