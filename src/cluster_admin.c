/*
 * ngx_cluster_module: what an operator's action names; see
 * cluster_admin.h.
 */

#include <string.h>
#include <strings.h>

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


int
cluster_admin_path(const char *path, size_t len, size_t *id_len)
{
    int     action;
    size_t  i;

    for (i = len; i > 0; i--) {
        if (path[i - 1] == '/') {
            break;
        }
    }

    if (i <= 1) {
        return CLUSTER_ADMIN_NO_NODE;
    }

    action = cluster_action_parse(path + i, len - i);

    if (action < 0) {
        return CLUSTER_ADMIN_NO_ACTION;
    }

    *id_len = i - 1;

    return action;
}


int
cluster_admin_cross_site(const cluster_admin_value_t *fetch_site,
    size_t nfetch, const cluster_admin_value_t *origin, size_t norigin,
    const cluster_admin_value_t *host)
{
    size_t       i, k, rest;
    const char  *p;

    for (i = 0; i < nfetch; i++) {
        if (!(fetch_site[i].len == 11
              && strncasecmp(fetch_site[i].data, "same-origin", 11) == 0)
            && !(fetch_site[i].len == 4
                 && strncasecmp(fetch_site[i].data, "none", 4) == 0))
        {
            return 1;
        }
    }

    for (i = 0; i < norigin; i++) {
        /* the Origin's host must be the request's own */
        p = NULL;

        for (k = 0; k + 3 <= origin[i].len; k++) {
            if (memcmp(origin[i].data + k, "://", 3) == 0) {
                p = origin[i].data + k + 3;
                break;
            }
        }

        if (p == NULL || host == NULL) {
            return 1;
        }

        rest = origin[i].data + origin[i].len - p;

        if (rest != host->len || strncasecmp(p, host->data, rest) != 0) {
            return 1;
        }
    }

    return 0;
}
