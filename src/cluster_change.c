/*
 * ngx_cluster_module: the log of a node's change; see cluster_change.h.
 */

#include "cluster_buf.h"
#include "cluster_change.h"


static void cluster_change_findings(cluster_buf_t *b, const char *label,
    uint32_t findings);


cluster_log_level_e
cluster_change_level(const cluster_change_t *change)
{
    cluster_log_level_e  level;

    level = (change->new_state == CLUSTER_STATE_UP
             || change->new_state == CLUSTER_STATE_CHECKING)
            ? CLUSTER_LOG_NOTICE : CLUSTER_LOG_WARN;

    if (change->findings & ~change->old_findings
        & ~CLUSTER_FINDING_UNCHECKED)
    {
        /* a new finding, such as a version out of sync */
        level = CLUSTER_LOG_WARN;
    }

    if (change->old_in_rotation && !change->new_in_rotation) {
        level = CLUSTER_LOG_WARN;

    } else if (!change->old_in_rotation && change->new_in_rotation) {
        level = CLUSTER_LOG_NOTICE;
    }

    return level;
}


size_t
cluster_change_text(const cluster_change_t *change, char *buf, size_t size)
{
    uint32_t       found, cleared;
    cluster_buf_t  b;

    cluster_buf_init(&b, buf, size);

    /* "checking" is a state of its own, not news as a finding */
    found = change->findings & ~change->old_findings
            & ~CLUSTER_FINDING_UNCHECKED;
    cleared = change->old_findings & ~change->findings
              & ~CLUSTER_FINDING_UNCHECKED;

    cluster_buf_cstr(&b, change->new_state == change->old_state
                         ? "is still " : "is ");
    cluster_buf_cstr(&b, cluster_state_name(change->new_state));

    cluster_buf_cstr(&b, change->new_in_rotation ? ", in rotation"
                                                 : ", out of rotation");

    if (change->new_state != change->old_state) {
        cluster_buf_cstr(&b, ", was ");
        cluster_buf_cstr(&b, cluster_state_name(change->old_state));

    } else {
        /* the state says nothing new: the findings do */
        if (found) {
            cluster_change_findings(&b, ", found: ", found);
        }

        if (cleared) {
            cluster_change_findings(&b, ", cleared: ", cleared);
        }
    }

    cluster_change_findings(&b, "; findings: ", change->findings);

    return (size_t) (b.pos - buf);
}


static void
cluster_change_findings(cluster_buf_t *b, const char *label,
    uint32_t findings)
{
    uint32_t     bit;
    unsigned     n;
    const char  *name;

    cluster_buf_cstr(b, label);

    n = 0;

    for (bit = 1; bit != 0 && bit <= findings; bit <<= 1) {
        name = cluster_finding_name(findings & bit);

        if (name) {
            cluster_buf_cstr(b, n++ ? " " : "");
            cluster_buf_cstr(b, name);
        }
    }

    if (n == 0) {
        cluster_buf_cstr(b, "none");
    }
}
