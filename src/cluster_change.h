/*
 * ngx_cluster_module: how a change of a node is told, once, in the log:
 * its level and its words, the same for every load balancer.
 */

#ifndef CLUSTER_CHANGE_H
#define CLUSTER_CHANGE_H


#include "cluster_node.h"


typedef enum {
    CLUSTER_LOG_NOTICE = 0,       /* back, or news that is no fault */
    CLUSTER_LOG_WARN,             /* out of rotation, or a new finding */
    CLUSTER_LOG_ALERT             /* the cluster in panic */
} cluster_log_level_e;


cluster_log_level_e cluster_change_level(const cluster_change_t *change);

/*
 * What changed, in words: "is down, out of rotation, was up; findings:
 * down" when the state changed, "is still down, out of rotation, cleared:
 * version_skew; findings: down" when only findings did.  Returns the bytes
 * written, at most "size": a text that does not fit is cut short (at a
 * whole part of it); it is not NUL-terminated.
 */
size_t cluster_change_text(const cluster_change_t *change, char *buf,
    size_t size);


#endif /* CLUSTER_CHANGE_H */
