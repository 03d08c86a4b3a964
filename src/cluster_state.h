/*
 * ngx_cluster_module: the state file, which keeps what an operator set and
 * the last known facts of each node across a restart.
 *
 * Written as JSON by cluster_state_write() into the caller's buffer, read
 * with jansson by cluster_state_read(), which hands each node it finds to
 * the caller.  Only what a restart should not forget is kept: the admin
 * state, the counters, the last heartbeat and check, and what the node's
 * /health said; states and rotation are judged anew.
 */

#ifndef CLUSTER_STATE_H
#define CLUSTER_STATE_H


#include "cluster_node.h"


typedef struct {
    const char            *cluster;
    size_t                 cluster_len;
    const char            *id;
    size_t                 id_len;
    const cluster_node_t  *facts;
} cluster_state_entry_t;


/* called for each node read; returns 1 when it knew the node */
typedef int (*cluster_state_apply_pt)(void *ctx, const char *cluster,
    const char *id, const cluster_node_t *saved);


size_t cluster_state_write(char *buf, size_t size,
    const cluster_state_entry_t *entries, size_t n, int64_t now);

/*
 * Reads a state file's text; returns the number of nodes applied, or -1
 * when the text is not a state file (the reason in "error").
 */
long cluster_state_read(const char *text, size_t len,
    cluster_state_apply_pt apply, void *ctx, char *error, size_t size);

/* copies the kept fields of "saved" into a live node */
void cluster_state_restore(cluster_node_t *node, const cluster_node_t *saved);


#endif /* CLUSTER_STATE_H */
