/*
 * ngx_cluster_module: what an operator's action names; see
 * cluster_admin.h.
 */

#include <string.h>

#include "cluster_admin.h"
#include "cluster_node.h"


int
cluster_action_parse(const char *name, size_t len)
{
    if (len == 5 && memcmp(name, "drain", 5) == 0) {
        return CLUSTER_ADMIN_DRAIN;
    }

    if (len == 6 && memcmp(name, "remove", 6) == 0) {
        return CLUSTER_ADMIN_REMOVE;
    }

    if (len == 7 && memcmp(name, "restore", 7) == 0) {
        return CLUSTER_ADMIN_NONE;
    }

    return -1;
}


long
cluster_admin_find(const cluster_admin_node_t *nodes, size_t n,
    const char *id, size_t len, int by_name)
{
    long         found;
    size_t       i, l;
    const char  *s;

    found = CLUSTER_ADMIN_NOT_FOUND;

    for (i = 0; i < n; i++) {

        if (!nodes[i].tracked) {
            /* nothing of it is kept: nothing to act on */
            continue;
        }

        s = by_name ? nodes[i].name : nodes[i].id;
        l = by_name ? nodes[i].name_len : nodes[i].id_len;

        if (l != len || memcmp(s, id, len) != 0) {
            continue;
        }

        if (found != CLUSTER_ADMIN_NOT_FOUND) {
            return CLUSTER_ADMIN_AMBIGUOUS;
        }

        found = (long) i;
    }

    return found;
}
