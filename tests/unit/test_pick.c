/*
 * The balancer's question: which node may take a try, pass by pass.
 */

#include "unit.h"
#include "cluster_pick.h"


#define T0  1795606110000LL


void
test_pick(void)
{
    cluster_try_t       t;
    cluster_node_t      a, b, *nodes[2];
    cluster_settings_t  s;

    cluster_settings_default(&s);

    cluster_node_init(&a, T0);
    cluster_node_init(&b, T0);
    nodes[0] = &a;
    nodes[1] = &b;

    t.panic = 0;
    t.slow_start = 1;
    t.key_class = 0;
    t.pass = CLUSTER_PASS_ROTATION;

    /* in rotation: yes; a node the zone has no room for: always */
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_YES);
    CHECK(cluster_pick(NULL, &s, &t, 0, T0) == CLUSTER_PICK_YES);

    /* an operator's word holds in every pass, even in panic */
    a.admin = CLUSTER_ADMIN_DRAIN;
    t.panic = 1;
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_NO);
    t.pass = CLUSTER_PASS_ANY;
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_NO);
    a.admin = CLUSTER_ADMIN_REMOVE;
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_NO);
    a.admin = CLUSTER_ADMIN_NONE;

    /* out of rotation: not in rotation's pass, unless in panic or ANY */
    a.in_rotation = 0;
    a.trial_at = T0;
    t.panic = 0;
    t.pass = CLUSTER_PASS_ROTATION;
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_NO);
    t.panic = 1;
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_YES);
    t.panic = 0;
    t.pass = CLUSTER_PASS_ANY;
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_YES);

    /* its trial, one interval after it went out, once claimed */
    t.pass = CLUSTER_PASS_ROTATION;
    CHECK(cluster_pick(&a, &s, &t, 0, T0 + s.interval) == CLUSTER_PICK_TRIAL);
    CHECK(cluster_pick_claim_trial(&a, &s, T0 + s.interval) == 1);
    CHECK(cluster_pick_claim_trial(&a, &s, T0 + s.interval) == 0);
    CHECK(cluster_pick(&a, &s, &t, 0, T0 + s.interval) == CLUSTER_PICK_NO);

    /* no trials with active checks: they judge */
    s.trials = 0;
    CHECK(cluster_pick(&a, &s, &t, 0, T0 + 3 * s.interval)
          == CLUSTER_PICK_NO);
    s.trials = 1;
    a.in_rotation = 1;

    /* the session's key class first, while one of it is in rotation */
    a.key_class = 1;
    b.key_class = 2;
    CHECK(cluster_pick_first(nodes, 2, 0) == CLUSTER_PASS_ROTATION);
    CHECK(cluster_pick_first(nodes, 2, 2) == CLUSTER_PASS_CLASS);
    b.in_rotation = 0;
    CHECK(cluster_pick_first(nodes, 2, 2) == CLUSTER_PASS_ROTATION);
    b.in_rotation = 1;
    b.admin = CLUSTER_ADMIN_DRAIN;
    CHECK(cluster_pick_first(nodes, 2, 2) == CLUSTER_PASS_ROTATION);
    b.admin = CLUSTER_ADMIN_NONE;

    t.pass = CLUSTER_PASS_CLASS;
    t.key_class = 2;
    CHECK(cluster_pick(&a, &s, &t, 0, T0) == CLUSTER_PICK_NO);
    CHECK(cluster_pick(&b, &s, &t, 0, T0) == CLUSTER_PICK_YES);

    /* slow start: a share of its turns, growing; the rest are spares */
    t.pass = CLUSTER_PASS_ROTATION;
    s.slow_start = 30000;
    a.rotation_since = T0;
    CHECK(cluster_pick(&a, &s, &t, 999, T0 + 15000) == CLUSTER_PICK_SPARE);
    CHECK(cluster_pick(&a, &s, &t, 100, T0 + 15000) == CLUSTER_PICK_YES);
    CHECK(cluster_pick(&a, &s, &t, 999, T0 + 30000) == CLUSTER_PICK_YES);

    /* not under a method that does not choose by weight alone */
    t.slow_start = 0;
    CHECK(cluster_pick(&a, &s, &t, 999, T0 + 15000) == CLUSTER_PICK_YES);

    /* clear: nothing to steer from while all are in, at full share */
    CHECK(!cluster_pick_clear(nodes, 2, &s, T0 + 15000));
    CHECK(cluster_pick_clear(nodes, 2, &s, T0 + 30000));
    b.admin = CLUSTER_ADMIN_DRAIN;
    CHECK(!cluster_pick_clear(nodes, 2, &s, T0 + 30000));
    b.admin = CLUSTER_ADMIN_NONE;
    b.in_rotation = 0;
    CHECK(!cluster_pick_clear(nodes, 2, &s, T0 + 30000));
    b.in_rotation = 1;
    nodes[1] = NULL;
    CHECK(cluster_pick_clear(nodes, 2, &s, T0 + 30000));
}
