/*
 * ngx_cluster_module: judges the answer to an active check.
 *
 * The caller reads a node's answer with cluster_http_response_parse() and
 * hands it here, with the status range it expects; out comes the outcome
 * for cluster_node_check(): whether the web component answered, what the
 * body said of the node, and a short reason fit for the status page.
 */

#ifndef CLUSTER_CHECK_H
#define CLUSTER_CHECK_H


#include "cluster_http.h"
#include "cluster_node.h"


/* what is checked by default: the JSON health of Inedo's products */
#define CLUSTER_CHECK_URI        "/health/json"

/* the older health of earlier releases, asked when the JSON one is 404 */
#define CLUSTER_CHECK_FALLBACK   "/health"


typedef struct {
    unsigned     expect_min;      /* the statuses a healthy node answers */
    unsigned     expect_max;
    unsigned     fallback:1;      /* a 404 asks for the older /health */
} cluster_check_conf_t;


/* the defaults: 200 to 299, with the fallback of CLUSTER_CHECK_URI */
void cluster_check_conf_default(cluster_check_conf_t *conf);


typedef enum {
    CLUSTER_CHECK_JUDGED = 0,
    CLUSTER_CHECK_FALL_BACK       /* ask again at /health */
} cluster_check_rc_e;


/*
 * Fills "check" from a complete answer; "health" and "reason" (of "size"
 * bytes) are the caller's storage that "check" points into.
 */
cluster_check_rc_e cluster_check_judge(const cluster_check_conf_t *conf,
    const cluster_http_response_t *resp, cluster_health_t *health,
    char *reason, size_t size, cluster_check_t *check);


#endif /* CLUSTER_CHECK_H */
