/*
 * ngx_cluster_module: the balancer's question, asked of each node for one
 * try of one request: may it take it?  The balancing method chooses among
 * the nodes the cluster lets through.  The caller asks pass after pass,
 * each wider than the one before, and stops at the first that lets some
 * node through: the cluster's judgement never leaves a request with none
 * while a node not taken out by an operator remains.
 */

#ifndef CLUSTER_PICK_H
#define CLUSTER_PICK_H


#include "cluster_node.h"


typedef enum {
    CLUSTER_PASS_CLASS = 0,        /* as ROTATION, of the session's key
                                      class only */
    CLUSTER_PASS_ROTATION,         /* in rotation, or any in panic */
    CLUSTER_PASS_ANY               /* any not drained or removed */
} cluster_pass_e;


typedef enum {
    CLUSTER_PICK_NO = 0,
    CLUSTER_PICK_YES,
    CLUSTER_PICK_TRIAL,            /* out of rotation, its trial due: yes,
                                      once the caller claimed the trial */
    CLUSTER_PICK_SPARE             /* in slow start and not its turn: yes
                                      only when no other node is */
} cluster_pick_e;


/* what holds for every node of one try */
typedef struct {
    cluster_pass_e               pass;
    unsigned                     panic:1;       /* of the cluster */
    unsigned                     slow_start:1;  /* the method allows it */
    uint8_t                      key_class;     /* of the session; 0 none */
} cluster_try_t;


/*
 * Whether the node may take the try; "dice" is a random number from 0 to
 * 999, for slow start's share.  A node the zone had no room for (NULL) is
 * always let through.
 */
cluster_pick_e cluster_pick(const cluster_node_t *node,
    const cluster_settings_t *s, const cluster_try_t *t, unsigned dice,
    int64_t now);

/*
 * The first pass of a request: CLASS when the session's key class has a
 * node in rotation, else ROTATION.
 */
cluster_pass_e cluster_pick_first(cluster_node_t *const *nodes, size_t n,
    unsigned key_class);

/*
 * Whether the tries may be left to the method untouched: every node in
 * rotation and at its full share, none taken out by an operator.  (The
 * sessions of a key class still have their pass.)  As good as the time
 * it was asked at: the caller asks again at each evaluation.
 */
int cluster_pick_clear(cluster_node_t *const *nodes, size_t n,
    const cluster_settings_t *s, int64_t now);

/* claims the trial of an ejected node for this worker; 1 when it may go */
int cluster_pick_claim_trial(cluster_node_t *node,
    const cluster_settings_t *s, int64_t now);


#endif /* CLUSTER_PICK_H */
