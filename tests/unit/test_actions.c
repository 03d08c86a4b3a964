/*
 * What an operator's action names: the action, the node by address or by
 * a name only it has.
 */

#include "unit.h"
#include "cluster_admin.h"
#include "cluster_node.h"


void
test_actions(void)
{
    cluster_admin_node_t  nodes[3] = {
        { "10.0.0.11:8624", 14, "web1", 4, 1 },
        { "10.0.0.12:8624", 14, "twin", 4, 1 },
        { "10.0.0.13:8624", 14, "twin", 4, 1 },
    };

    CHECK(cluster_action_parse("drain", 5) == CLUSTER_ADMIN_DRAIN);
    CHECK(cluster_action_parse("remove", 6) == CLUSTER_ADMIN_REMOVE);
    CHECK(cluster_action_parse("restore", 7) == CLUSTER_ADMIN_NONE);
    CHECK(cluster_action_parse("reboot", 6) == -1);
    CHECK(cluster_action_parse("drai", 4) == -1);
    CHECK(cluster_action_parse("", 0) == -1);

    /* by address, whatever the names */
    CHECK(cluster_admin_find(nodes, 3, "10.0.0.12:8624", 14, 0) == 1);
    CHECK(cluster_admin_find(nodes, 3, "web1", 4, 0)
          == CLUSTER_ADMIN_NOT_FOUND);

    /* by a name one node has; one two share is no answer */
    CHECK(cluster_admin_find(nodes, 3, "web1", 4, 1) == 0);
    CHECK(cluster_admin_find(nodes, 3, "twin", 4, 1)
          == CLUSTER_ADMIN_AMBIGUOUS);
    CHECK(cluster_admin_find(nodes, 3, "web", 3, 1)
          == CLUSTER_ADMIN_NOT_FOUND);

    /* a node the zone had no room for is not acted on */
    nodes[2].tracked = 0;
    CHECK(cluster_admin_find(nodes, 3, "twin", 4, 1) == 1);
    CHECK(cluster_admin_find(nodes, 3, "10.0.0.13:8624", 14, 0)
          == CLUSTER_ADMIN_NOT_FOUND);
}
