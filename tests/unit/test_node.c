/*
 * The node state machine, each transition driven with explicit times.
 */

#include "unit.h"
#include "cluster_node.h"


#define T0  1795606110000LL


static cluster_settings_t
settings(uint32_t eject)
{
    cluster_settings_t  s;

    cluster_settings_default(&s);

    s.interval = 1000;
    s.stale = 10000;
    s.rise = 2;
    s.fall = 3;
    s.eject = eject;

    return s;
}


static void
test_defaults(void)
{
    cluster_settings_t  s;

    cluster_settings_default(&s);

    CHECK(s.interval == 30000);
    CHECK(s.stale == 300000);
    CHECK(s.rise == 2 && s.fall == 3);
    CHECK(s.eject == (CLUSTER_FINDING_DOWN | CLUSTER_FINDING_KEY_MISMATCH));
    CHECK(s.trials == 1);
}


static void
test_new_node(void)
{
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(CLUSTER_FINDING_DOWN);

    cluster_node_init(&n, T0);

    CHECK(n.state == CLUSTER_STATE_CHECKING);
    CHECK(n.in_rotation == 1);
    CHECK(n.created == T0);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 10, &ch) == 0);

    /* the first answer makes it up, once */
    cluster_node_response(&n, &s, 1, 200, 5, T0 + 100);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 100, &ch) == 1);
    CHECK(ch.old_state == CLUSTER_STATE_CHECKING);
    CHECK(ch.new_state == CLUSTER_STATE_UP);
    CHECK(ch.old_in_rotation == 1 && ch.new_in_rotation == 1);
    CHECK(n.state_since == T0 + 100);
    CHECK(n.last_heartbeat == T0 + 100);
    CHECK(n.requests == 1 && n.failures == 0);
    CHECK(n.last_status == 200 && n.last_response_ms == 5);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 200, &ch) == 0);
}


static void
test_fall_and_rise(void)
{
    int                 i;
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(CLUSTER_FINDING_DOWN);

    cluster_node_init(&n, T0);
    cluster_node_response(&n, &s, 1, 200, 1, T0);
    cluster_node_evaluate(&n, &s, T0, &ch);

    /* fewer failures than "fall" leave it up */
    for (i = 0; i < 2; i++) {
        cluster_node_response(&n, &s, 0, 0, 1, T0 + 1 + i);
        CHECK(cluster_node_evaluate(&n, &s, T0 + 1 + i, &ch) == 0);
    }

    CHECK(n.state == CLUSTER_STATE_UP);
    CHECK(n.consecutive_failures == 2);

    /* a success in between starts the count again */
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 5);
    CHECK(n.consecutive_failures == 0);

    for (i = 0; i < 2; i++) {
        cluster_node_response(&n, &s, 0, 502, 1, T0 + 10 + i);
    }

    CHECK(cluster_node_evaluate(&n, &s, T0 + 11, &ch) == 0);

    /* the third failure in a row: down and out */
    cluster_node_response(&n, &s, 0, 0, 1, T0 + 12);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 12, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_DOWN);
    CHECK(ch.old_in_rotation == 1 && ch.new_in_rotation == 0);
    CHECK(ch.findings == CLUSTER_FINDING_DOWN);
    CHECK(n.failures == 5 && n.requests == 7);
    CHECK(n.last_failure == T0 + 12);
    CHECK(n.trial_at == T0 + 12);

    /* more failures change nothing more */
    cluster_node_response(&n, &s, 0, 0, 1, T0 + 13);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 13, &ch) == 0);

    /* one success is not enough to come back ... */
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 20);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 20, &ch) == 0);
    CHECK(n.state == CLUSTER_STATE_DOWN && n.in_rotation == 0);

    /* ... and a failure after it starts the rise again */
    cluster_node_response(&n, &s, 0, 0, 1, T0 + 21);
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 22);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 22, &ch) == 0);

    /* "rise" successes in a row bring it back */
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 23);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 23, &ch) == 1);
    CHECK(ch.old_state == CLUSTER_STATE_DOWN);
    CHECK(ch.new_state == CLUSTER_STATE_UP);
    CHECK(ch.new_in_rotation == 1);
}


static void
test_down_not_ejected(void)
{
    int                 i;
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(0);

    cluster_node_init(&n, T0);

    for (i = 0; i < 3; i++) {
        cluster_node_response(&n, &s, 0, 0, 1, T0 + i);
    }

    /* shown as down, but the operator did not ask to eject it */
    CHECK(cluster_node_evaluate(&n, &s, T0 + 3, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_DOWN);
    CHECK(ch.new_in_rotation == 1);
    CHECK(n.findings == CLUSTER_FINDING_DOWN);
}


static void
test_stale(void)
{
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(CLUSTER_FINDING_STALE);

    cluster_node_init(&n, T0);
    cluster_node_response(&n, &s, 1, 200, 1, T0);
    cluster_node_evaluate(&n, &s, T0, &ch);

    /* exactly "stale" old is not yet stale */
    CHECK(cluster_node_evaluate(&n, &s, T0 + 10000, &ch) == 0);
    CHECK(cluster_node_heartbeat_age(&n, T0 + 10000) == 10000);

    CHECK(cluster_node_evaluate(&n, &s, T0 + 10001, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_STALE);
    CHECK(ch.new_in_rotation == 0);

    /* a heartbeat ends it */
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 20000);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 20000, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_UP);
    CHECK(ch.new_in_rotation == 1);

    /* a clock that went back gives age 0, not a negative one */
    CHECK(cluster_node_heartbeat_age(&n, T0) == 0);
}


static void
test_never_heard(void)
{
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(0);

    /* a node never heard from ages from its creation */
    cluster_node_init(&n, T0);

    CHECK(cluster_node_evaluate(&n, &s, T0 + 10001, &ch) == 1);
    CHECK(ch.old_state == CLUSTER_STATE_CHECKING);
    CHECK(ch.new_state == CLUSTER_STATE_STALE);
    CHECK(ch.new_in_rotation == 1);
}


static void
test_backup_not_stale(void)
{
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(CLUSTER_FINDING_STALE);

    /* a backup that no request needs is not stale by passive judgement */
    cluster_node_init(&n, T0);
    n.backup = 1;

    CHECK(cluster_node_evaluate(&n, &s, T0 + 60000, &ch) == 0);
    CHECK(n.state == CLUSTER_STATE_CHECKING && n.in_rotation == 1);

    /* with active checks it is probed like any node, and can be */
    s.trials = 0;
    CHECK(cluster_node_evaluate(&n, &s, T0 + 60000, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_STALE);
}


static void
test_key_verdicts(void)
{
    int                 i;
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(CLUSTER_FINDING_DOWN
                                     | CLUSTER_FINDING_KEY_MISMATCH);

    cluster_node_init(&n, T0);
    cluster_node_response(&n, &s, 1, 200, 1, T0);
    cluster_node_evaluate(&n, &s, T0, &ch);
    CHECK(n.key == CLUSTER_KEY_UNKNOWN);

    /* one refused cookie may be chance; two in a row prove it: out */
    cluster_node_key_verdict(&n, 0, T0 + 9);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 9, &ch) == 0);
    CHECK(n.key == CLUSTER_KEY_UNKNOWN);
    cluster_node_key_verdict(&n, 0, T0 + 10);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 10, &ch) == 1);
    CHECK(ch.findings == CLUSTER_FINDING_KEY_MISMATCH);
    CHECK(ch.new_in_rotation == 0);
    CHECK(n.cookies_refused == 2);

    /* a trial is no cure for it */
    CHECK(cluster_node_trial_due(&n, &s, T0 + 100000) == 0);

    /* the verdict lapses after "stale": the node is tried again */
    n.last_heartbeat = T0 + s.stale;
    CHECK(cluster_node_evaluate(&n, &s, T0 + 10 + s.stale, &ch) == 0);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 11 + s.stale, &ch) == 1);
    CHECK(ch.new_in_rotation == 1);

    /* a cookie that opens: in sync */
    cluster_node_key_verdict(&n, 1, T0 + 20000);
    CHECK(n.key == CLUSTER_KEY_IN_SYNC && n.cookies_opened == 1);

    /* a node back from down may have a new key: the verdict goes */
    cluster_node_key_verdict(&n, 0, T0 + 29999);
    cluster_node_key_verdict(&n, 0, T0 + 30000);
    for (i = 0; i < 3; i++) {
        cluster_node_response(&n, &s, 0, 0, 1, T0 + 30001 + i);
    }
    CHECK(n.down == 1 && n.key == CLUSTER_KEY_MISMATCH);
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 30010);
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 30011);
    CHECK(n.down == 0 && n.key == CLUSTER_KEY_UNKNOWN);
    cluster_node_evaluate(&n, &s, T0 + 30011, &ch);
    CHECK(n.in_rotation == 1);
}


static void
test_admin(void)
{
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(0);

    cluster_node_init(&n, T0);
    cluster_node_response(&n, &s, 1, 200, 1, T0);
    cluster_node_evaluate(&n, &s, T0, &ch);

    /* whatever "eject" says, an operator's word takes a node out */
    n.admin = CLUSTER_ADMIN_DRAIN;
    CHECK(cluster_node_evaluate(&n, &s, T0 + 1, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_DRAINED);
    CHECK(ch.new_in_rotation == 0);
    CHECK(cluster_node_trial_due(&n, &s, T0 + 100000) == 0);

    n.admin = CLUSTER_ADMIN_REMOVE;
    CHECK(cluster_node_evaluate(&n, &s, T0 + 2, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_REMOVED);

    n.admin = CLUSTER_ADMIN_NONE;
    CHECK(cluster_node_evaluate(&n, &s, T0 + 3, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_UP);
    CHECK(ch.new_in_rotation == 1);
}


static void
test_trials(void)
{
    int                 i;
    cluster_node_t      n;
    cluster_change_t    ch;
    cluster_settings_t  s = settings(CLUSTER_FINDING_DOWN);

    cluster_node_init(&n, T0);

    for (i = 0; i < 3; i++) {
        cluster_node_response(&n, &s, 0, 0, 1, T0);
    }

    cluster_node_evaluate(&n, &s, T0, &ch);

    CHECK(n.in_rotation == 0);
    CHECK(cluster_node_trial_due(&n, &s, T0 + 999) == 0);
    CHECK(cluster_node_trial_due(&n, &s, T0 + 1000) == 1);

    n.trial_at = T0 + 1000;
    CHECK(cluster_node_trial_due(&n, &s, T0 + 1500) == 0);
    CHECK(cluster_node_trial_due(&n, &s, T0 + 2000) == 1);

    /* a clock that went back does not hold trials off */
    n.trial_at = T0 + 100000;
    CHECK(cluster_node_trial_due(&n, &s, T0 + 3000) == 1);

    /* with active checks there are no trial requests */
    s.trials = 0;
    CHECK(cluster_node_trial_due(&n, &s, T0 + 5000) == 0);

    /* a node in rotation needs no trial */
    s.trials = 1;
    cluster_node_init(&n, T0);
    CHECK(cluster_node_trial_due(&n, &s, T0 + 5000) == 0);
}


static void
test_panic(void)
{
    cluster_node_t   a, b, c;
    cluster_node_t  *nodes[3];

    cluster_node_init(&a, T0);
    cluster_node_init(&b, T0);
    cluster_node_init(&c, T0);

    nodes[0] = &a;
    nodes[1] = &b;
    nodes[2] = &c;

    CHECK(cluster_panic(nodes, 3) == 0);

    a.in_rotation = 0;
    b.in_rotation = 0;
    CHECK(cluster_panic(nodes, 3) == 0);

    c.in_rotation = 0;
    CHECK(cluster_panic(nodes, 3) == 1);

    /* nodes an operator took out do not cause a panic */
    a.admin = CLUSTER_ADMIN_REMOVE;
    b.admin = CLUSTER_ADMIN_DRAIN;
    CHECK(cluster_panic(nodes, 3) == 1);
    c.admin = CLUSTER_ADMIN_DRAIN;
    CHECK(cluster_panic(nodes, 3) == 0);

    /* a node the zone had no room for is always in rotation */
    c.admin = CLUSTER_ADMIN_NONE;
    nodes[1] = NULL;
    CHECK(cluster_panic(nodes, 3) == 0);

    CHECK(cluster_panic(nodes, 0) == 0);
}


static void
test_names(void)
{
    CHECK_STR(cluster_state_name(CLUSTER_STATE_UP), "up");
    CHECK_STR(cluster_state_name(CLUSTER_STATE_CHECKING), "checking");
    CHECK_STR(cluster_state_name(CLUSTER_STATE_STALE), "stale");
    CHECK_STR(cluster_state_name(CLUSTER_STATE_DOWN), "down");
    CHECK_STR(cluster_state_name(CLUSTER_STATE_DRAINED), "drained");
    CHECK_STR(cluster_state_name(CLUSTER_STATE_REMOVED), "removed");
    CHECK_STR(cluster_state_name((cluster_state_e) 99), "unknown");

    CHECK(cluster_finding_parse("stale", 5) == CLUSTER_FINDING_STALE);
    CHECK(cluster_finding_parse("key_mismatch", 12)
          == CLUSTER_FINDING_KEY_MISMATCH);
    CHECK(cluster_finding_parse("stal", 4) == 0);
    CHECK(cluster_finding_parse("stalex", 6) == 0);
    CHECK_STR(cluster_finding_name(CLUSTER_FINDING_SERVICE_DOWN),
              "service_down");
    CHECK(cluster_finding_name(0x8000) == NULL);
}


void
test_node(void)
{
    test_defaults();
    test_new_node();
    test_fall_and_rise();
    test_down_not_ejected();
    test_stale();
    test_never_heard();
    test_backup_not_stale();
    test_key_verdicts();
    test_admin();
    test_trials();
    test_panic();
    test_names();
}
