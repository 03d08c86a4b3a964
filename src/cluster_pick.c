/*
 * ngx_cluster_module: the balancer's question; see cluster_pick.h.
 */

#include "cluster_pick.h"


cluster_pick_e
cluster_pick(const cluster_node_t *node, const cluster_settings_t *s,
    const cluster_try_t *t, unsigned dice, int64_t now)
{
    if (node == NULL) {
        return CLUSTER_PICK_YES;
    }

    /* an operator's word holds even in panic */

    if (node->admin != CLUSTER_ADMIN_NONE) {
        return CLUSTER_PICK_NO;
    }

    if (t->pass == CLUSTER_PASS_ANY) {
        return CLUSTER_PICK_YES;
    }

    if (t->pass == CLUSTER_PASS_CLASS && node->key_class != t->key_class) {
        return CLUSTER_PICK_NO;
    }

    if (!node->in_rotation) {

        if (t->panic) {
            return CLUSTER_PICK_YES;
        }

        /* a session keeps to its class; a trial is for any request */

        return (t->pass == CLUSTER_PASS_ROTATION
                && cluster_node_trial_due(node, s, now))
               ? CLUSTER_PICK_TRIAL : CLUSTER_PICK_NO;
    }

    /*
     * A node back in rotation takes a growing share of its turns; when it
     * is the only one left, it takes the turn after all.
     */

    if (t->slow_start && s->slow_start
        && dice >= cluster_node_slow_start_share(node, s, now))
    {
        return CLUSTER_PICK_SPARE;
    }

    return CLUSTER_PICK_YES;
}


cluster_pass_e
cluster_pick_first(cluster_node_t *const *nodes, size_t n, unsigned key_class)
{
    size_t  i;

    if (key_class == 0) {
        return CLUSTER_PASS_ROTATION;
    }

    /*
     * A session goes to a node that can read it, as long as one is in
     * rotation, whatever the verdict on its key.
     */

    for (i = 0; i < n; i++) {
        if (nodes[i] && nodes[i]->key_class == key_class
            && nodes[i]->in_rotation
            && nodes[i]->admin == CLUSTER_ADMIN_NONE)
        {
            return CLUSTER_PASS_CLASS;
        }
    }

    return CLUSTER_PASS_ROTATION;
}


int
cluster_pick_clear(cluster_node_t *const *nodes, size_t n,
    const cluster_settings_t *s, int64_t now)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (nodes[i]
            && (!nodes[i]->in_rotation
                || nodes[i]->admin != CLUSTER_ADMIN_NONE
                || (s->slow_start
                    && cluster_node_slow_start_share(nodes[i], s, now)
                       < 1000)))
        {
            return 0;
        }
    }

    return 1;
}


int
cluster_pick_claim_trial(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now)
{
    /* one worker of all: the first to claim it sends it */

    if (!cluster_node_trial_due(node, s, now)) {
        return 0;
    }

    node->trial_at = now;

    return 1;
}
