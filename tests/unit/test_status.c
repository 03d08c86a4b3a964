/*
 * The status document.
 */

#include <stdlib.h>

#include "unit.h"
#include "cluster_db.h"
#include "cluster_status.h"


#define T0  1795606110000LL


static void
make_cluster(cluster_status_cluster_t *c, cluster_status_node_t *nodes)
{
    memset(c, 0, sizeof(*c));
    memset(nodes, 0, 2 * sizeof(cluster_status_node_t));

    c->name = "proget";
    c->name_len = 6;
    cluster_settings_default(&c->settings);
    c->nodes = nodes;
    c->n = 2;

    nodes[0].id = "10.0.0.11:8624";
    nodes[0].id_len = 14;
    nodes[0].name = "web1";
    nodes[0].name_len = 4;
    nodes[0].weight = 1;
    nodes[0].tracked = 1;
    cluster_node_init(&nodes[0].facts, T0);
    cluster_node_response(&nodes[0].facts, &c->settings, 1, 200, 7,
                          T0 + 1000);

    nodes[1].id = "10.0.0.12:8624";
    nodes[1].id_len = 14;
    nodes[1].name = "web<2>";
    nodes[1].name_len = 6;
    nodes[1].weight = 3;
    nodes[1].backup = 1;
    nodes[1].tracked = 1;
    cluster_node_init(&nodes[1].facts, T0);
}


void
test_status(void)
{
    char                      *buf, small[128];
    const char                *head;
    size_t                     need, again;
    cluster_change_t           ch;
    cluster_db_view_t          db;
    cluster_status_node_t      nodes[2];
    cluster_status_cluster_t   c;

    make_cluster(&c, nodes);

    cluster_node_evaluate(&nodes[0].facts, &c.settings, T0 + 2500, &ch);

    /* too small: says how much it needs, writes no further */
    need = cluster_status_json(small, sizeof(small), &c, 1, T0 + 2500,
                               "1.2.3", NULL);
    CHECK(need > sizeof(small));

    buf = malloc(need + 1);
    again = cluster_status_json(buf, need, &c, 1, T0 + 2500, "1.2.3", NULL);
    CHECK(again == need);
    buf[need] = '\0';

    head = "{\"generated_at\":\"2026-11-25T11:28:32.500Z\","
           "\"version\":\"1.2.3\",\"database\":{\"status\":\"off\"},"
           "\"clusters\":[{\"name\":\"proget\",\"panic\":false,";
    CHECK(strncmp(buf, head, strlen(head)) == 0);
    CHECK(strstr(buf, "\"settings\":{\"servers\":2,\"load_balancing\":true,"
                      "\"automatic_failover\":true,"
                      "\"heartbeat_interval_s\":30.000,"
                      "\"stale_timeout_s\":300.000,\"rise\":2,\"fall\":3,"
                      "\"eject\":[\"down\",\"key_mismatch\"]") != NULL);
    CHECK(strstr(buf, "\"id\":\"10.0.0.11:8624\",\"name\":\"web1\","
                      "\"address\":\"10.0.0.11:8624\",\"backup\":false,"
                      "\"weight\":1,\"tracked\":true,\"state\":\"up\"")
          != NULL);
    CHECK(strstr(buf, "\"last_heartbeat\":\"2026-11-25T11:28:31.000Z\","
                      "\"heartbeat_age_s\":1.500,\"requests\":1") != NULL);
    CHECK(strstr(buf, "\"response_time_ms\":7") != NULL);
    CHECK(strstr(buf, "\"key_check\":{\"crypto\":false,\"cross_node\":false,"
                      "\"sessions\":0,") != NULL);
    CHECK(strstr(buf, "\"encryption_key\":{\"in_sync\":null,"
                      "\"evidence\":null,\"proved_by\":null,"
                      "\"checks\":{\"crypto\":null,"
                      "\"cross_node\":null},\"key_class\":null,") != NULL);
    CHECK(strstr(buf, "\"name\":\"web\\u003c2\\u003e\"") != NULL);
    CHECK(strstr(buf, "\"state\":\"checking\"") != NULL);
    CHECK(strstr(buf, "\"nodes_in_rotation\":2") != NULL);
    CHECK(buf[need - 1] == '\n');
    CHECK_STR(cluster_status_web(&nodes[0]), "ok");
    CHECK(strstr(buf, "\"failures_in_a_row\":0,\"fall\":3") != NULL);
    free(buf);

    /* its last try failed: not down yet, but not ok either */
    cluster_node_response(&nodes[0].facts, &c.settings, 0, 502, 3,
                          T0 + 2600);
    CHECK_STR(cluster_status_web(&nodes[0]), "warning");
    need = cluster_status_json(NULL, 0, &c, 1, T0 + 2700, "1.2.3", NULL);
    buf = malloc(need + 1);
    cluster_status_json(buf, need, &c, 1, T0 + 2700, "1.2.3", NULL);
    buf[need] = '\0';
    CHECK(strstr(buf, "\"status\":\"warning\"") != NULL);
    CHECK(strstr(buf, "\"failures_in_a_row\":1,\"fall\":3") != NULL);
    free(buf);

    /* with active checks, a proxied try that failed counts the same */
    c.settings.checks = 1;
    cluster_node_response(&nodes[0].facts, &c.settings, 1, 200, 3,
                          T0 + 2800);
    CHECK_STR(cluster_status_web(&nodes[0]), "ok");
    cluster_node_response(&nodes[0].facts, &c.settings, 0, 0, 3, T0 + 2900);
    CHECK(cluster_node_failing(&nodes[0].facts) == 1);
    CHECK_STR(cluster_status_web(&nodes[0]), "warning");
    c.settings.checks = 0;
    nodes[0].facts.consecutive_failures = 0;

    /* every node out: in panic, those not taken out by hand take traffic */
    nodes[0].facts.in_rotation = 0;
    nodes[0].facts.findings = CLUSTER_FINDING_DOWN;
    nodes[1].facts.in_rotation = 0;
    nodes[1].facts.admin = CLUSTER_ADMIN_DRAIN;
    nodes[1].facts.findings = CLUSTER_FINDING_DRAINED;
    c.panic = 1;

    CHECK(cluster_status_node_in_rotation(&c, &nodes[0]) == 1);
    CHECK(cluster_status_node_in_rotation(&c, &nodes[1]) == 0);

    need = cluster_status_json(small, 0, &c, 1, T0, "1.2.3", NULL);
    buf = malloc(need + 1);
    cluster_status_json(buf, need, &c, 1, T0, "1.2.3", NULL);
    buf[need] = '\0';

    CHECK(strstr(buf, "\"panic\":true") != NULL);
    CHECK(strstr(buf, "\"in_rotation\":true,\"reasons\":[\"down\"]") != NULL);
    CHECK(strstr(buf, "\"in_rotation\":false,\"reasons\":[\"drained\"]")
          != NULL);
    CHECK(strstr(buf, "\"nodes_in_rotation\":1") != NULL);
    free(buf);

    /* a node the zone had no room for */
    nodes[1].tracked = 0;
    memset(&nodes[1].facts, 0, sizeof(cluster_node_t));
    c.panic = 0;

    need = cluster_status_json(small, 0, &c, 1, T0, "1.2.3", NULL);
    buf = malloc(need + 1);
    cluster_status_json(buf, need, &c, 1, T0, "1.2.3", NULL);
    buf[need] = '\0';

    CHECK(strstr(buf, "\"tracked\":false,\"state\":null") != NULL);
    free(buf);

    /* no cluster at all, no database */
    need = cluster_status_json(small, sizeof(small), &c, 0, 0, "1.2.3", NULL);
    CHECK(need < sizeof(small));
    small[need < sizeof(small) ? need : 0] = '\0';
    CHECK_STR(small, "{\"generated_at\":null,\"version\":\"1.2.3\","
                     "\"database\":{\"status\":\"off\"},"
                     "\"clusters\":[]}\n");

    /* a database: its status, never more than its last error's line */
    db.status = CLUSTER_DB_UNREACHABLE;
    db.since = T0;
    db.instance = "lb\"1";
    db.queued = 3;
    db.dropped = 1;
    db.last_error = "connection refused";
    need = cluster_status_json(NULL, 0, &c, 0, T0, "1.2.3", &db);
    buf = malloc(need + 1);
    cluster_status_json(buf, need, &c, 0, T0, "1.2.3", &db);
    buf[need] = '\0';
    CHECK(strstr(buf, "\"database\":{\"status\":\"unreachable\","
                      "\"since\":\"2026-11-25T") != NULL);
    CHECK(strstr(buf, "\"instance\":\"lb\\\"1\",\"queued\":3,"
                      "\"dropped\":1,"
                      "\"last_error\":\"connection refused\"}") != NULL);
    free(buf);
}
