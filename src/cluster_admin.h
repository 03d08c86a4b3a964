/*
 * ngx_cluster_module: what an operator's action names: the action, and
 * the node of a cluster, by its address or by a name only it has.
 */

#ifndef CLUSTER_ADMIN_H
#define CLUSTER_ADMIN_H


#include <stddef.h>


/* a node as an action may name it */
typedef struct {
    const char  *id;              /* its address: "10.0.0.11:8624" */
    size_t       id_len;
    const char  *name;            /* cluster_node_name, or the address */
    size_t       name_len;
    unsigned     tracked:1;       /* 0: the zone had no room for it */
} cluster_admin_node_t;


#define CLUSTER_ADMIN_NOT_FOUND   (-1)
#define CLUSTER_ADMIN_AMBIGUOUS   (-2)


/* the admin state an action sets (cluster_admin_e); -1: no such action */
int cluster_action_parse(const char *name, size_t len);

/*
 * What follows "<location>/nodes/": "<node>/<action>".  Returns the
 * action (cluster_admin_e), with the node's length in "id_len";
 * CLUSTER_ADMIN_NO_NODE when there is no node, CLUSTER_ADMIN_NO_ACTION
 * for an action unknown.
 */
#define CLUSTER_ADMIN_NO_NODE     (-1)
#define CLUSTER_ADMIN_NO_ACTION   (-2)

int cluster_admin_path(const char *path, size_t len, size_t *id_len);

/* a header's value, as the caller's server keeps it */
typedef struct {
    const char  *data;
    size_t       len;
} cluster_admin_value_t;

/*
 * Whether an admin request is cross-site, and so refused: any of its
 * Sec-Fetch-Site values other than "same-origin" or "none", or any of its
 * Origin values whose host is not the request's Host (NULL: none).
 */
int cluster_admin_cross_site(const cluster_admin_value_t *fetch_site,
    size_t nfetch, const cluster_admin_value_t *origin, size_t norigin,
    const cluster_admin_value_t *host);

/*
 * The node of one cluster an action names: by address, or, when by_name,
 * by a name that only one of its nodes has.  Returns its index, or
 * CLUSTER_ADMIN_NOT_FOUND, or CLUSTER_ADMIN_AMBIGUOUS for a name two
 * share.  A caller asks by address in every cluster first, and by name
 * only when no address matched anywhere.
 */
long cluster_admin_find(const cluster_admin_node_t *nodes, size_t n,
    const char *id, size_t len, int by_name);


#endif /* CLUSTER_ADMIN_H */
