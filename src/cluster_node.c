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
    { CLUSTER_FINDING_REMOVED, "removed" },
    { CLUSTER_FINDING_UNCHECKED, "unchecked" }
};


static void cluster_node_up_again(cluster_node_t *node);


void
cluster_settings_default(cluster_settings_t *s)
{
    /* Inedo's own defaults: a heartbeat every 30 s, stale after 5 min */
    s->interval = 30 * 1000;
    s->stale = 5 * 60 * 1000;
    s->rise = 2;
    s->fall = 3;
    s->eject = CLUSTER_FINDING_DOWN | CLUSTER_FINDING_KEY_MISMATCH;
    s->slow_start = 0;
    s->timeout = 5 * 1000;
    s->trials = 1;
    s->checks = 0;
    s->mandatory = 0;
}


uint32_t
cluster_settings_out(const cluster_settings_t *s)
{
    uint32_t  out;

    /* an operator's word always; "unchecked" when checks are mandatory */
    out = s->eject | CLUSTER_FINDING_ADMIN;

    if (s->mandatory) {
        out |= CLUSTER_FINDING_UNCHECKED;
    }

    return out;
}


void
cluster_node_init(cluster_node_t *node, int64_t now)
{
    memset(node, 0, sizeof(cluster_node_t));

    node->created = now;
    node->state_since = now;
    node->state = CLUSTER_STATE_CHECKING;
    node->in_rotation = 1;
    node->slot = CLUSTER_SLOT_NONE;
}


void
cluster_node_join(cluster_node_t *node, int64_t now)
{
    node->rotation_since = now;
}


void
cluster_node_adopt(cluster_node_t *node, const cluster_node_t *old)
{
    uint8_t  slot, backup;

    slot = node->slot;
    backup = node->backup;

    *node = *old;

    node->slot = slot;
    node->backup = backup;
    node->key_class = 0;
    node->key_cross = CLUSTER_KEY_UNKNOWN;
    node->check_started = 0;
}


void
cluster_node_key_forget(cluster_node_t *node)
{
    node->key = CLUSTER_KEY_UNKNOWN;
    node->key_since = 0;
    node->key_refusals = 0;
    node->key_by[0] = '\0';
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
        cluster_node_up_again(node);
    }
}


/* a node back from down may have been restarted with another key */
static void
cluster_node_up_again(cluster_node_t *node)
{
    if (node->key == CLUSTER_KEY_MISMATCH) {
        node->key = CLUSTER_KEY_UNKNOWN;
        node->key_refusals = 0;
        node->key_by[0] = '\0';
    }

    node->key_forget = 1;
}


void
cluster_node_key_verdict(cluster_node_t *node, int opened, int64_t now)
{
    /* its own cookies: the verdict is this load balancer's */
    node->key_by[0] = '\0';

    if (opened) {
        node->cookies_opened++;
        node->key_refusals = 0;
        node->key = CLUSTER_KEY_IN_SYNC;
        node->key_since = now;
        return;
    }

    node->cookies_refused++;

    if (node->key_refusals < UINT8_MAX) {
        node->key_refusals++;
    }

    if (node->key_refusals >= 2) {
        node->key = CLUSTER_KEY_MISMATCH;
        node->key_since = now;
    }
}


cluster_key_e
cluster_node_key(const cluster_node_t *node, const char **evidence)
{
    if (node->findings & CLUSTER_FINDING_KEY_MISMATCH) {
        *evidence = (node->key == CLUSTER_KEY_MISMATCH) ? "crypto"
                                                        : "cross_node";
        return CLUSTER_KEY_MISMATCH;
    }

    if (node->key == CLUSTER_KEY_IN_SYNC) {
        *evidence = "crypto";
        return CLUSTER_KEY_IN_SYNC;
    }

    if (node->key_cross == CLUSTER_KEY_IN_SYNC) {
        *evidence = "cross_node";
        return CLUSTER_KEY_IN_SYNC;
    }

    *evidence = NULL;

    return CLUSTER_KEY_UNKNOWN;
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


int
cluster_node_routine(const cluster_node_t *node, const cluster_settings_t *s)
{
    /*
     * Without checks, successes in a row count towards "rise" only while
     * down; a node up with no failure gains nothing from one more.
     */
    return node->state == CLUSTER_STATE_UP && node->in_rotation
           && node->findings == 0 && node->consecutive_failures == 0
           && !node->down && (s->checks || node->consecutive_successes > 0);
}


void
cluster_node_response(cluster_node_t *node, const cluster_settings_t *s,
    int ok, unsigned status, unsigned response_ms, int64_t now)
{
    /* workers count a routine success without the lock: every count is
       atomic, so none is lost */
    cluster_node_count_request(node);
    node->last_status = status;
    node->last_response_ms = response_ms;

    if (!ok) {
        node->failures++;
    }

    if (s->checks) {
        /*
         * With active checks, "down" is theirs to judge; requests still
         * prove the node answers, and nginx's max_fails still acts on
         * their failures.
         */

        if (ok) {
            node->last_heartbeat = now;
            node->consecutive_failures = 0;

        } else {
            node->last_failure = now;

            if (node->consecutive_failures < UINT32_MAX) {
                node->consecutive_failures++;
            }
        }

        return;
    }

    if (ok) {
        cluster_node_success(node, s, now);

    } else {
        cluster_node_failure(node, s, now);
    }
}


int
cluster_node_check(cluster_node_t *node, const cluster_settings_t *s,
    const cluster_check_t *check, int64_t now)
{
    int          resync;
    char         release[sizeof(node->health.release)];
    size_t       n;
    const char  *reason;

    resync = (node->last_check == 0);
    memcpy(release, node->health.release, sizeof(release));

    node->checks++;
    node->last_check = now;
    node->check_status = (uint16_t) check->status;
    node->check_ms = (uint16_t) (check->duration_ms < UINT16_MAX
                                 ? check->duration_ms : UINT16_MAX);
    node->messenger = check->messenger;

    reason = check->reason ? check->reason : "";
    n = strlen(reason);

    if (n >= sizeof(node->check_reason)) {
        n = sizeof(node->check_reason) - 1;
    }

    memcpy(node->check_reason, reason, n);
    node->check_reason[n] = '\0';

    if (check->health_read) {
        node->health = *check->health;
        node->release_shared = 0;

    } else if (check->ok) {
        /* an answer that is not Inedo's health JSON: facts unknown */
        memset(&node->health, 0, sizeof(cluster_health_t));
    }

    if (check->ok) {
        node->last_check_ok = now;
        node->last_heartbeat = now;
        node->check_failures = 0;

        if (node->check_successes < UINT32_MAX) {
            node->check_successes++;
        }

        if (node->check_down && node->check_successes >= s->rise) {
            node->check_down = 0;
            cluster_node_up_again(node);
        }

    } else {
        node->checks_failed++;
        node->last_failure = now;
        node->check_successes = 0;

        if (node->check_failures < UINT32_MAX) {
            node->check_failures++;
        }

        if (!node->check_down && node->check_failures >= s->fall) {
            node->check_down = 1;
        }
    }

    /* a stopped service, like a dead web node, takes "fall" checks to see */

    if ((check->health_read && check->health->service == CLUSTER_HEALTH_ERROR)
        || check->messenger == CLUSTER_MESSENGER_UNREACHABLE)
    {
        if (node->service_errors < UINT32_MAX) {
            node->service_errors++;
        }

    } else if (check->ok || check->health_read) {
        node->service_errors = 0;

        if (check->health_read
            && check->health->service == CLUSTER_HEALTH_OK)
        {
            node->service_heartbeat = now;
        }
    }

    return resync || strcmp(release, node->health.release) != 0;
}


uint32_t
cluster_node_failing(const cluster_node_t *node)
{
    return node->consecutive_failures > node->check_failures
           ? node->consecutive_failures : node->check_failures;
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

    if (s->checks ? node->check_down : node->down) {
        findings |= CLUSTER_FINDING_DOWN;
    }

    if (s->checks && node->last_check_ok == 0) {
        /* "checking" until it passes a check, or "fall" fail */
        findings |= CLUSTER_FINDING_UNCHECKED;
    }

    if (node->service_errors >= s->fall) {
        findings |= CLUSTER_FINDING_SERVICE_DOWN;
    }

    /* without checks of its own: another load balancer's, while it says so */
    if (!s->checks && node->shared_at && now >= node->shared_at
        && now - node->shared_at <= 3 * s->interval)
    {
        findings |= node->shared_findings & CLUSTER_FINDING_SERVICE_DOWN;
    }

    if (node->version_skew) {
        findings |= CLUSTER_FINDING_VERSION_SKEW;
    }

    if (node->key == CLUSTER_KEY_MISMATCH && now - node->key_since <= s->stale
        && now >= node->key_since)
    {
        findings |= CLUSTER_FINDING_KEY_MISMATCH;
    }

    /* other nodes' sessions it cannot read, unless its cookies open */

    if (node->key_cross == CLUSTER_KEY_MISMATCH
        && node->key != CLUSTER_KEY_IN_SYNC)
    {
        findings |= CLUSTER_FINDING_KEY_MISMATCH;
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

    if (node->last_heartbeat == 0 || (findings & CLUSTER_FINDING_UNCHECKED)) {
        return CLUSTER_STATE_CHECKING;
    }

    return CLUSTER_STATE_UP;
}


int
cluster_node_evaluate(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now, cluster_change_t *change)
{
    uint32_t         findings, out;
    unsigned         in_rotation;
    cluster_state_e  state;

    findings = cluster_node_findings(node, s, now);
    state = cluster_node_state(node, findings);

    out = cluster_settings_out(s);
    in_rotation = (findings & out) == 0;

    /* "unchecked" is the state "checking", not news of its own */

    if (state == node->state && in_rotation == node->in_rotation
        && ((findings ^ node->findings) & ~CLUSTER_FINDING_UNCHECKED) == 0)
    {
        node->findings = findings;
        return 0;
    }

    change->old_state = (cluster_state_e) node->state;
    change->new_state = state;
    change->old_in_rotation = node->in_rotation;
    change->new_in_rotation = in_rotation;
    change->old_findings = node->findings;
    change->findings = findings;

    node->findings = findings;

    if (state != node->state) {
        node->state = (uint8_t) state;
        node->state_since = now;
    }

    if (node->in_rotation && !in_rotation) {
        /* the first trial comes one interval after the node went out */
        node->trial_at = now;

    } else if (!node->in_rotation && in_rotation) {
        node->rotation_since = now;
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


#define CLUSTER_RELEASES_MAX  16


void
cluster_version_sync(cluster_node_t *const *nodes, size_t n, char *release,
    size_t size)
{
    size_t       i, j, k, top, len, votes[CLUSTER_RELEASES_MAX];
    const char  *best, *r, *seen[CLUSTER_RELEASES_MAX];

    best = NULL;
    k = 0;

    for (i = 0; i < n; i++) {
        if (nodes[i] && nodes[i]->last_check == 0
            && !nodes[i]->release_shared)
        {
            /* no verdict until every node had its say, or flaps follow */
            goto done;
        }
    }

    /*
     * A cluster runs one release, two while it is upgraded: count the
     * votes of each of the few distinct ones.  Past the 16th distinct
     * release, the others are out of sync whatever they are.
     */

    for (i = 0; i < n; i++) {
        if (nodes[i] == NULL || nodes[i]->health.release[0] == '\0') {
            continue;
        }

        r = nodes[i]->health.release;

        for (j = 0; j < k; j++) {
            if (strcmp(seen[j], r) == 0) {
                votes[j]++;
                break;
            }
        }

        if (j == k && k < CLUSTER_RELEASES_MAX) {
            seen[k] = r;
            votes[k++] = 1;
        }
    }

    for (j = 0, top = 0; j < k; j++) {
        if (best == NULL || votes[j] > votes[top]
            || (votes[j] == votes[top]
                && cluster_release_compare(seen[j], best) > 0))
        {
            best = seen[j];
            top = j;
        }
    }

done:

    for (i = 0; i < n; i++) {
        if (nodes[i]) {
            nodes[i]->version_skew = best
                && nodes[i]->health.release[0] != '\0'
                && strcmp(nodes[i]->health.release, best) != 0;
        }
    }

    if (size == 0) {
        return;
    }

    len = best ? strlen(best) : 0;

    if (len >= size) {
        len = size - 1;
    }

    if (len) {
        memcpy(release, best, len);
    }

    release[len] = '\0';
}


unsigned
cluster_node_slow_start_share(const cluster_node_t *node,
    const cluster_settings_t *s, int64_t now)
{
    int64_t  elapsed;

    if (s->slow_start <= 0 || node->rotation_since == 0) {
        return 1000;
    }

    elapsed = now - node->rotation_since;

    if (elapsed < 0 || elapsed >= s->slow_start) {
        return 1000;
    }

    /* at least a little, so that a returning node is never starved */
    return (unsigned) (10 + elapsed * 990 / s->slow_start);
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
