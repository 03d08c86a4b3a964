/*
 * ngx_cluster_module: what the load balancer knows of one node, and the
 * pure rules that turn those facts into a state and a rotation verdict.
 *
 * A node record is plain old data with no pointers, so that it can live in
 * shared memory and be copied out for rendering.  Every function takes the
 * time as an argument (milliseconds since the epoch), which lets the unit
 * tests drive each transition without a clock.
 */

#ifndef CLUSTER_NODE_H
#define CLUSTER_NODE_H


#include <stddef.h>
#include <stdint.h>

#include "cluster_health.h"


typedef enum {
    CLUSTER_STATE_UP = 0,
    CLUSTER_STATE_CHECKING,
    CLUSTER_STATE_STALE,
    CLUSTER_STATE_DOWN,
    CLUSTER_STATE_DRAINED,
    CLUSTER_STATE_REMOVED
} cluster_state_e;


/* findings: what is wrong with a node; a bit each */
#define CLUSTER_FINDING_STALE          0x0001
#define CLUSTER_FINDING_DOWN           0x0002
#define CLUSTER_FINDING_KEY_MISMATCH   0x0004
#define CLUSTER_FINDING_VERSION_SKEW   0x0008
#define CLUSTER_FINDING_SERVICE_DOWN   0x0010
#define CLUSTER_FINDING_DRAINED        0x0020
#define CLUSTER_FINDING_REMOVED        0x0040
#define CLUSTER_FINDING_UNCHECKED      0x0080  /* no check yet: "checking" */

/* the findings an operator may name in "cluster_eject" */
#define CLUSTER_FINDING_EJECTABLE                                             \
    (CLUSTER_FINDING_STALE | CLUSTER_FINDING_DOWN                             \
     | CLUSTER_FINDING_KEY_MISMATCH | CLUSTER_FINDING_VERSION_SKEW            \
     | CLUSTER_FINDING_SERVICE_DOWN)

/* administrative states always take a node out, whatever "cluster_eject" */
#define CLUSTER_FINDING_ADMIN                                                 \
    (CLUSTER_FINDING_DRAINED | CLUSTER_FINDING_REMOVED)

/* findings a passive trial request can clear */
#define CLUSTER_FINDING_TRIABLE                                               \
    (CLUSTER_FINDING_STALE | CLUSTER_FINDING_DOWN)


typedef enum {
    CLUSTER_ADMIN_NONE = 0,
    CLUSTER_ADMIN_DRAIN,
    CLUSTER_ADMIN_REMOVE
} cluster_admin_e;


/*
 * The bounds of the settings, in ms where a time: every time a directive
 * takes is checked against them, so that no sum of times can overflow.
 */
#define CLUSTER_TIME_MIN               100
#define CLUSTER_INTERVAL_MAX           (86400LL * 1000)       /* a day */
#define CLUSTER_TIMEOUT_MAX            (86400LL * 1000)       /* a day */
#define CLUSTER_STALE_MAX              (366LL * 86400 * 1000) /* a year */
#define CLUSTER_SLOW_START_MAX         (86400LL * 1000)       /* a day */
#define CLUSTER_RISE_MAX               1000

/*
 * The latest time that is believed from outside (a cookie's "exp", the
 * state file): the end of the year 9999, in ms.  Times past it are taken
 * as it, before any arithmetic.
 */
#define CLUSTER_TIME_MAX               253402300799999LL


/* a time from outside, in ms, into 0 .. CLUSTER_TIME_MAX */
static inline int64_t
cluster_time_clamp(int64_t t)
{
    return t < 0 ? 0 : (t > CLUSTER_TIME_MAX ? CLUSTER_TIME_MAX : t);
}


typedef struct {
    int64_t      interval;        /* ms between heartbeats expected */
    int64_t      stale;           /* ms without a heartbeat: stale */
    int64_t      slow_start;      /* ms over which a returning node ramps */
    int64_t      timeout;         /* ms an active check may take */
    uint32_t     rise;            /* successes in a row that end "down" */
    uint32_t     fall;            /* failures in a row that make "down" */
    uint32_t     eject;           /* findings that take a node out */
    unsigned     trials:1;        /* let one request per interval try an
                                     ejected node (no active checks) */
    unsigned     checks:1;        /* active checks judge "down" */
    unsigned     mandatory:1;     /* no traffic before the first check */
} cluster_settings_t;


/* a node not (yet) given a place in the cluster's session table */
#define CLUSTER_SLOT_NONE              0xff


/* whether the node seals its auth cookies with the cluster's key */
typedef enum {
    CLUSTER_KEY_UNKNOWN = 0,
    CLUSTER_KEY_IN_SYNC,
    CLUSTER_KEY_MISMATCH
} cluster_key_e;


/* the messenger port, as the last check found it */
typedef enum {
    CLUSTER_MESSENGER_UNKNOWN = 0,  /* not checked */
    CLUSTER_MESSENGER_OK,
    CLUSTER_MESSENGER_UNREACHABLE
} cluster_messenger_e;


/* the outcome of one active check, as the caller saw it */
typedef struct {
    unsigned                 ok:1;          /* the web component answered */
    unsigned                 health_read:1; /* "health" holds what it said */
    uint8_t                  messenger;     /* cluster_messenger_e */
    unsigned                 status;        /* HTTP status; 0: none */
    unsigned                 duration_ms;
    const char              *reason;        /* why not ok, or degraded */
    const cluster_health_t  *health;
} cluster_check_t;


typedef struct {
    int64_t      created;         /* when the record was made */
    int64_t      last_heartbeat;  /* last answer from the node; 0: never */
    int64_t      last_failure;    /* 0: never */
    int64_t      state_since;     /* when "state" last changed */
    int64_t      rotation_since;  /* when it last came back into rotation */
    int64_t      trial_at;        /* when the last trial request went */

    /* active checks */
    int64_t      next_check;      /* when the next check is due */
    int64_t      check_started;   /* of the check under way; 0: none */
    int64_t      last_check;      /* 0: never */
    int64_t      last_check_ok;
    int64_t      service_heartbeat; /* last check that found it running */
    uint64_t     checks;
    uint64_t     checks_failed;
    uint32_t     check_failures;  /* in a row */
    uint32_t     check_successes; /* in a row */
    uint32_t     service_errors;  /* checks in a row with the service down */
    uint16_t     check_status;
    uint16_t     check_ms;
    uint8_t      check_down;      /* the rise/fall latch of the checks */
    uint8_t      messenger;       /* cluster_messenger_e */
    uint8_t      version_skew;    /* set by cluster_version_sync() */
    uint8_t      health_fallback; /* /health/json was 404: use /health */
    char         check_reason[72];
    cluster_health_t  health;

    /* the key check */
    int64_t      key_since;       /* when the verdict was reached */
    uint64_t     cookies_opened;  /* its auth cookies the cluster's key opens */
    uint64_t     cookies_refused; /* and those it does not */
    uint64_t     lost_sessions;   /* valid cookies answered with a sign-in */
    uint8_t      key;             /* cluster_key_e */
    uint8_t      key_refusals;    /* refused cookies in a row */
    char         key_by[16];      /* the load balancer that proved it, when
                                     another did (cluster_database); "" */

    /* the behavioural key check (cluster_session.h) */
    uint32_t     sessions_served;  /* other nodes' sessions it served */
    uint32_t     sessions_refused; /* and sent to sign in */
    uint8_t      slot;            /* in the cluster's sessions; or NONE */
    uint8_t      key_class;       /* 0: not known; 1: the cluster's key */
    uint8_t      key_cross;       /* cluster_key_e, from other nodes */
    uint8_t      key_forget;      /* back from down: evidence is old */

    uint64_t     requests;        /* tries sent to the node */
    uint64_t     failures;        /* of which failed */

    uint32_t     consecutive_failures;
    uint32_t     consecutive_successes;
    uint32_t     last_status;     /* HTTP status of the last answer; 0 */
    uint32_t     last_response_ms;

    uint32_t     findings;        /* as last evaluated */
    uint8_t      state;           /* cluster_state_e, as last evaluated */
    uint8_t      in_rotation;     /* as last evaluated, before panic */
    uint8_t      down;            /* the rise/fall latch */
    uint8_t      admin;           /* cluster_admin_e */
    int64_t      admin_at;        /* when an operator set it; 0: never */

    /* what other load balancers' checks found, for one without checks */
    uint32_t     shared_findings; /* service_down */
    int64_t      shared_at;       /* the last report of it */
    uint8_t      release_shared;  /* health.release is another's */
    uint8_t      backup;          /* a backup server: quiet by design */
} cluster_node_t;


/* what changed in one evaluation, for the caller to log */
typedef struct {
    cluster_state_e  old_state;
    cluster_state_e  new_state;
    unsigned         old_in_rotation:1;
    unsigned         new_in_rotation:1;
    uint32_t         old_findings;
    uint32_t         findings;
} cluster_change_t;


void cluster_settings_default(cluster_settings_t *s);
/* the findings that take a node out of rotation under these settings */
uint32_t cluster_settings_out(const cluster_settings_t *s);

void cluster_node_init(cluster_node_t *node, int64_t now);

/*
 * A node added to a cluster that runs: new to rotation, it takes its share
 * slowly under slow start, as a node back in rotation does.
 */
void cluster_node_join(cluster_node_t *node, int64_t now);

/*
 * A node's record carried from an old zone into a new one of another size:
 * its facts, but its place in the new zone's session table and its
 * configuration (backup) are the new record's, and what came of the old
 * table's sessions, or of a check under way, is not carried.
 */
void cluster_node_adopt(cluster_node_t *node, const cluster_node_t *old);

/*
 * The cryptographic verdict on a node's key was reached with another
 * cluster key (cluster_key changed): it says nothing of this one.
 */
void cluster_node_key_forget(cluster_node_t *node);

/*
 * The outcome of an active check; returns 1 when the cluster's version
 * sync must be looked at again (the node's release changed, or it was its
 * first check), 0 otherwise.
 */
int cluster_node_check(cluster_node_t *node, const cluster_settings_t *s,
    const cluster_check_t *check, int64_t now);

/*
 * Finds the cluster's release (the most common among the nodes that told
 * theirs; of equals, the newest), marks every node whose release differs,
 * and copies the cluster's release into "release" ("" when no node told).
 */
void cluster_version_sync(cluster_node_t *const *nodes, size_t n,
    char *release, size_t size);

/* the share (0 to 1000) of its traffic a node in slow start may take */
unsigned cluster_node_slow_start_share(const cluster_node_t *node,
    const cluster_settings_t *s, int64_t now);

/*
 * A node's auth cookie, opened (1) or refused (0) by the cluster's key: two
 * refused in a row prove the node's key differs (one might be a token of
 * another format that looks like a cookie of the scheme, one time in 256),
 * one that opens proves it is the cluster's.  The verdict lapses when
 * the node comes back from down (a key is changed by a restart) or after
 * "stale", so a mended node comes back into rotation.
 */
void cluster_node_key_verdict(cluster_node_t *node, int opened, int64_t now);

/*
 * The node's key, by both checks: CLUSTER_KEY_*, and in "evidence" the
 * check that says so ("crypto", "cross_node"), or NULL when unknown.
 */
cluster_key_e cluster_node_key(const cluster_node_t *node,
    const char **evidence);

/* an answer from the node (a proxied response or a successful check) */
void cluster_node_success(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now);
/* no usable answer: connect error, timeout, an error status */
void cluster_node_failure(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now);
/*
 * Whether a successful answer of the node changes nothing but its
 * heartbeat and counts: it is up, in rotation, with no failure in a row
 * and no rise under way, so the caller may record it without the lock.
 */
int cluster_node_routine(const cluster_node_t *node,
    const cluster_settings_t *s);

/* tries counted, with or without the lock: atomically */
static inline void
cluster_node_count_requests(cluster_node_t *node, uint64_t n)
{
#if defined(__GNUC__) || defined(__clang__)
    __atomic_fetch_add(&node->requests, n, __ATOMIC_RELAXED);
#else
    node->requests += n;
#endif
}

static inline void
cluster_node_count_request(cluster_node_t *node)
{
    cluster_node_count_requests(node, 1);
}

/* a proxied try, whatever its outcome: counters and the outcome above */
void cluster_node_response(cluster_node_t *node, const cluster_settings_t *s,
    int ok, unsigned status, unsigned response_ms, int64_t now);

uint32_t cluster_node_findings(const cluster_node_t *node,
    const cluster_settings_t *s, int64_t now);
cluster_state_e cluster_node_state(const cluster_node_t *node,
    uint32_t findings);

/*
 * Recomputes findings, state and rotation; returns 1 and fills "change"
 * when any of them changed, 0 otherwise.
 */
int cluster_node_evaluate(cluster_node_t *node, const cluster_settings_t *s,
    int64_t now, cluster_change_t *change);

/* whether an ejected node is due one trial request now */
int cluster_node_trial_due(const cluster_node_t *node,
    const cluster_settings_t *s, int64_t now);

/*
 * The panic guard: 1 when no node is in rotation although some node is
 * not removed or drained by an operator.
 */
int cluster_panic(cluster_node_t *const *nodes, size_t n);

int64_t cluster_node_heartbeat_age(const cluster_node_t *node, int64_t now);

/*
 * The node's failures in a row, of its proxied tries or of its checks,
 * whichever is more: what leads to "down" after "fall".
 */
uint32_t cluster_node_failing(const cluster_node_t *node);

const char *cluster_state_name(cluster_state_e state);
/* the name of one finding bit, NULL for an unknown bit */
const char *cluster_finding_name(uint32_t finding);
/* the finding bit for a name, 0 when the name is unknown */
uint32_t cluster_finding_parse(const char *name, size_t len);


#endif /* CLUSTER_NODE_H */
