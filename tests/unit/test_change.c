/*
 * A node's change, as the log tells it: the level and the words.
 */

#include "unit.h"
#include "cluster_change.h"


static const char *
text(cluster_state_e from, cluster_state_e to, unsigned was_in,
    unsigned is_in, uint32_t old_findings, uint32_t findings,
    cluster_log_level_e *level)
{
    size_t            n;
    cluster_change_t  c;
    static char       buf[256];

    c.old_state = from;
    c.new_state = to;
    c.old_in_rotation = was_in;
    c.new_in_rotation = is_in;
    c.old_findings = old_findings;
    c.findings = findings;

    n = cluster_change_text(&c, buf, sizeof(buf) - 1);
    buf[n < sizeof(buf) - 1 ? n : sizeof(buf) - 1] = '\0';

    *level = cluster_change_level(&c);

    return buf;
}


void
test_change(void)
{
    char                 small[8];
    cluster_change_t     c;
    cluster_node_t       node;
    cluster_settings_t   s;
    cluster_log_level_e  level;

    CHECK_STR(text(CLUSTER_STATE_UP, CLUSTER_STATE_DOWN, 1, 0, 0,
                   CLUSTER_FINDING_DOWN, &level),
              "is down, out of rotation, was up; findings: down");
    CHECK(level == CLUSTER_LOG_WARN);

    CHECK_STR(text(CLUSTER_STATE_DOWN, CLUSTER_STATE_UP, 0, 1,
                   CLUSTER_FINDING_DOWN, 0, &level),
              "is up, in rotation, was down; findings: none");
    CHECK(level == CLUSTER_LOG_NOTICE);

    /* only a finding cleared: said so, not "was down" of a node still so */
    CHECK_STR(text(CLUSTER_STATE_DOWN, CLUSTER_STATE_DOWN, 0, 0,
                   CLUSTER_FINDING_DOWN | CLUSTER_FINDING_VERSION_SKEW,
                   CLUSTER_FINDING_DOWN, &level),
              "is still down, out of rotation, cleared: version_skew; "
              "findings: down");
    CHECK(level == CLUSTER_LOG_WARN);

    /* a finding that takes an up node out */
    CHECK_STR(text(CLUSTER_STATE_UP, CLUSTER_STATE_UP, 1, 0, 0,
                   CLUSTER_FINDING_KEY_MISMATCH, &level),
              "is still up, out of rotation, found: key_mismatch; "
              "findings: key_mismatch");
    CHECK(level == CLUSTER_LOG_WARN);

    /* a new finding that ejects nothing still warns */
    CHECK_STR(text(CLUSTER_STATE_UP, CLUSTER_STATE_UP, 1, 1, 0,
                   CLUSTER_FINDING_VERSION_SKEW, &level),
              "is still up, in rotation, found: version_skew; "
              "findings: version_skew");
    CHECK(level == CLUSTER_LOG_WARN);

    /* "checking" to up is news, at notice; "unchecked" is no finding news */
    CHECK_STR(text(CLUSTER_STATE_CHECKING, CLUSTER_STATE_UP, 1, 1,
                   CLUSTER_FINDING_UNCHECKED, 0, &level),
              "is up, in rotation, was checking; findings: none");
    CHECK(level == CLUSTER_LOG_NOTICE);

    /* a buffer too small: cut short, nothing past it */
    c.old_state = CLUSTER_STATE_UP;
    c.new_state = CLUSTER_STATE_DOWN;
    c.old_in_rotation = 1;
    c.new_in_rotation = 0;
    c.old_findings = 0;
    c.findings = CLUSTER_FINDING_DOWN;
    memset(small, 'x', sizeof(small));
    CHECK(cluster_change_text(&c, small, 4) <= 4);
    CHECK(small[4] == 'x');

    /* a node added to a running cluster ramps up under slow start */
    cluster_settings_default(&s);
    s.slow_start = 30000;
    cluster_node_init(&node, 1000000);
    CHECK(cluster_node_slow_start_share(&node, &s, 1015000) == 1000);
    cluster_node_join(&node, 1000000);
    CHECK(cluster_node_slow_start_share(&node, &s, 1015000) == 505);
    CHECK(cluster_node_slow_start_share(&node, &s, 1030000) == 1000);

    /* a record carried into a resized zone keeps the new one's place */
    {
        cluster_node_t  old;

        cluster_node_init(&old, 1000);
        old.admin = CLUSTER_ADMIN_DRAIN;
        old.requests = 42;
        old.slot = 3;
        old.backup = 1;
        old.key = CLUSTER_KEY_MISMATCH;
        old.key_since = 2000;
        old.key_class = 2;
        old.key_cross = CLUSTER_KEY_MISMATCH;
        old.check_started = 1500;

        cluster_node_init(&node, 5000);
        node.slot = 0;
        node.backup = 0;

        cluster_node_adopt(&node, &old);
        CHECK(node.admin == CLUSTER_ADMIN_DRAIN && node.requests == 42);
        CHECK(node.slot == 0 && node.backup == 0);
        CHECK(node.key == CLUSTER_KEY_MISMATCH && node.key_since == 2000);
        CHECK(node.key_class == 0 && node.key_cross == CLUSTER_KEY_UNKNOWN);
        CHECK(node.check_started == 0);

        /* a verdict of another key says nothing */
        cluster_node_key_forget(&node);
        CHECK(node.key == CLUSTER_KEY_UNKNOWN && node.key_since == 0);
        CHECK(node.key_refusals == 0 && node.requests == 42);
    }
}
