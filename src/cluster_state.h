/*
 * ngx_cluster_module: the state file, which keeps what an operator set and
 * the last known facts of each node across a restart.
 *
 * Written as JSON by cluster_state_write() into the caller's buffer, read
 * with jansson by cluster_state_read(), which hands each node and each
 * action it finds to the caller.  Only what a restart should not forget is
 * kept: the admin state, the counters, the last heartbeat and check, what
 * the node's /health said, the cryptographic key check's verdict, and the
 * last actions of operators; states and rotation are judged anew, and the
 * sessions of the behavioural key check are not kept.
 *
 * Everything read is checked: a value out of its range refuses its entry,
 * and no time is later than the time of reading.
 */

#ifndef CLUSTER_STATE_H
#define CLUSTER_STATE_H


#include "cluster_node.h"
#include "cluster_status.h"


typedef struct {
    const char              *cluster;
    size_t                   cluster_len;
    const char              *id;
    size_t                   id_len;
    const char              *key_fingerprint; /* the key the verdict was
                                                 reached with; "" none */
    const cluster_node_t    *facts;
} cluster_state_entry_t;


typedef struct {
    const char              *cluster;
    size_t                   cluster_len;
    const cluster_action_t  *action;
} cluster_state_action_t;


/* what a reader hands its caller, entry by entry */
typedef struct {
    /*
     * A node read, and the fingerprint of the key its key verdict was
     * reached with ("" for none); returns 1 when it knew the node.
     */
    int                    (*node)(void *ctx, const char *cluster,
                                   const char *id, const char *fingerprint,
                                   const cluster_node_t *saved);
    /* an operator's action, oldest first */
    void                   (*action)(void *ctx, const char *cluster,
                                     const cluster_action_t *action);
    void                    *ctx;
} cluster_state_reader_t;


/* the actions oldest first; returns the bytes needed, as cluster_buf does */
size_t cluster_state_write(char *buf, size_t size,
    const cluster_state_entry_t *entries, size_t n,
    const cluster_state_action_t *actions, size_t nactions, int64_t now);

/*
 * Reads a state file's text at "now"; returns the number of nodes applied,
 * with the entries refused for a value out of range in "refused", or -1
 * when the text is not a state file (the reason in "error").
 */
long cluster_state_read(const char *text, size_t len, int64_t now,
    const cluster_state_reader_t *reader, long *refused, char *error,
    size_t size);

/*
 * Copies the kept fields of "saved" into a live node; the key verdict only
 * when it was reached with the key the node is judged by now ("same_key").
 */
void cluster_state_restore(cluster_node_t *node, const cluster_node_t *saved,
    int same_key);


#endif /* CLUSTER_STATE_H */
