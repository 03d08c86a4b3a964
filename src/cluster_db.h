/*
 * ngx_cluster_module: the shared database of several load balancers.
 *
 * What any load balancer needs to share its truth through PostgreSQL:
 * the schema and the statements (SQL text, parameters in $n), the queue
 * of what waits to be written while the database is away, and the rules
 * by which what another load balancer wrote merges into this one's
 * cluster.  The caller speaks to the database (libpq, without blocking)
 * and holds the locks; this file does no I/O.
 */

#ifndef CLUSTER_DB_H
#define CLUSTER_DB_H


#include <stddef.h>
#include <stdint.h>

#include "cluster.h"


/* the version of the schema this module writes */
#define CLUSTER_DB_SCHEMA_VERSION  1

/* the longest name of a schema, an instance, a cluster or a node kept */
#define CLUSTER_DB_NAME            64

/* the actions that wait for the database while it is away */
#define CLUSTER_DB_QUEUE           64


typedef enum {
    CLUSTER_DB_OFF = 0,
    CLUSTER_DB_CONNECTING,
    CLUSTER_DB_CONNECTED,
    CLUSTER_DB_UNREACHABLE
} cluster_db_status_e;


typedef enum {
    CLUSTER_DB_SQL_SCHEMA = 0,    /* makes the schema; then its version */
    CLUSTER_DB_SQL_REGISTER,      /* $1 instance, $2 host, $3 version,
                                     $4 now (ms) */
    CLUSTER_DB_SQL_ACTION,        /* $1 cluster, $2 node, $3 action, $4 by,
                                     $5 at (ms), $6 instance: the row as
                                     it stands after, a later one kept */
    CLUSTER_DB_SQL_ACTIONS,       /* $1 the last seq seen: the actions
                                     written since, oldest first, and the
                                     64 before it again (a sequence's
                                     numbers may commit out of order; the
                                     merge takes a row twice as once) */
    CLUSTER_DB_SQL_LISTEN,        /* the channel of the schema's actions */
    CLUSTER_DB_SQL_SEEN,          /* $1 instance, $2 now (ms) */
    CLUSTER_DB_SQL_PRUNE,         /* $1 the oldest time kept (ms) */
    CLUSTER_DB_SQL_OBSERVE,       /* $1 instance, $2 now (ms), $3 this one's
                                     observations (cluster_db_observations),
                                     $4 its new history (..._db_history):
                                     the others' observations, with their
                                     instance's host and last_seen */
    CLUSTER_DB_SQL_N
} cluster_db_sql_e;


/* an operator's action, as it waits for the database or came from it */
typedef struct {
    int64_t                  at;              /* ms */
    int64_t                  seq;             /* the database's; 0 */
    uint8_t                  admin;           /* cluster_admin_e */
    char                     cluster[CLUSTER_DB_NAME];
    char                     node[CLUSTER_DB_NAME];   /* its address */
    char                     by[48];
    char                     instance[CLUSTER_DB_NAME];
} cluster_db_action_t;


/* the actions to write, oldest first, in shared memory: plain old data */
typedef struct {
    uint32_t                 head;            /* the oldest */
    uint32_t                 n;
    uint64_t                 dropped;         /* the oldest, when full */
    cluster_db_action_t      action[CLUSTER_DB_QUEUE];
} cluster_db_queue_t;


/* a node as this load balancer sees it, for CLUSTER_DB_SQL_OBSERVE */
typedef struct {
    const char              *cluster;
    size_t                   cluster_len;
    const char              *node;            /* its address */
    size_t                   node_len;
    const cluster_node_t    *facts;
    const char              *key_fingerprint; /* of the cluster's key; "" */
} cluster_db_observation_t;


/* a node as another load balancer sees it, a row of the database's */
typedef struct {
    char                     instance[CLUSTER_DB_NAME];
    char                     host[CLUSTER_DB_NAME];
    int64_t                  last_seen;       /* ms, the instance's */
    char                     cluster[CLUSTER_DB_NAME];
    char                     node[CLUSTER_DB_NAME];
    uint8_t                  state;           /* cluster_state_e */
    uint8_t                  in_rotation;
    uint8_t                  key;             /* cluster_key_e, crypto */
    uint32_t                 findings;
    int64_t                  key_since;
    char                     key_fingerprint[9];
    int64_t                  at;              /* ms, of the observation */
    char                     release[24];     /* the node's, as it saw */
} cluster_db_peer_t;

#define CLUSTER_DB_PEER_COLUMNS  13


/* the database as the status shows it */
struct cluster_db_view_s {
    cluster_db_status_e      status;
    int64_t                  since;           /* ms; the status's */
    const char              *instance;
    uint64_t                 queued;
    uint64_t                 dropped;
    const char              *last_error;      /* "" none; never a secret */
};


/*
 * Whether a name may stand unquoted in SQL as the schema (and the channel
 * of its notifications): [a-z_][a-z0-9_]*, at most 63 bytes.
 */
int cluster_db_identifier(const char *name, size_t len);

/*
 * A statement's text for a schema (a valid identifier); returns the bytes
 * it takes, its NUL not counted, which is more than size - 1 when it did
 * not fit.
 */
size_t cluster_db_sql(cluster_db_sql_e which, const char *schema, char *buf,
    size_t size);

/* the number of parameters of a statement */
int cluster_db_sql_params(cluster_db_sql_e which);

const char *cluster_db_status_name(cluster_db_status_e status);

/* queued; 0 when the oldest one was dropped for it (and counted) */
int cluster_db_queue_push(cluster_db_queue_t *q,
    const cluster_db_action_t *a);

/* the oldest, or NULL; it stays until popped */
const cluster_db_action_t *cluster_db_queue_peek(const cluster_db_queue_t *q);

void cluster_db_queue_pop(cluster_db_queue_t *q);

/*
 * An action from the database, into node i of the cluster: the latest by
 * time wins, so an older one (this load balancer's own, come back, or one
 * overtaken by a newer local action) changes nothing.  Returns 1 when it
 * was applied.  Lock, once.
 */
int cluster_db_apply(cluster_t *c, size_t i, const cluster_db_action_t *a,
    const char *name, size_t name_len, int64_t now, cluster_events_t *ev);

/*
 * The observations of this load balancer, as the JSON that
 * CLUSTER_DB_SQL_OBSERVE takes in $3; returns the bytes it takes, which is
 * more than size when it did not fit.
 */
size_t cluster_db_observations(char *buf, size_t size,
    const cluster_db_observation_t *o, size_t n);

/* a cluster's history, for CLUSTER_DB_SQL_OBSERVE */
typedef struct {
    const char              *cluster;
    size_t                   cluster_len;
    const cluster_history_t *history;
    size_t                   n;
} cluster_db_history_t;

/*
 * The history of the clusters as the JSON of CLUSTER_DB_SQL_OBSERVE's $4:
 * states and panics (actions are written as they are taken); returns the
 * bytes it takes.
 */
size_t cluster_db_history(char *buf, size_t size,
    const cluster_db_history_t *h, size_t n);

/*
 * A row of CLUSTER_DB_SQL_OBSERVE's answer, its columns as text (NULL for
 * SQL's NULL), into "p"; 0 when a value is out of its range, and then the
 * row is to be passed over.
 */
int cluster_db_peer_parse(cluster_db_peer_t *p,
    const char *const col[CLUSTER_DB_PEER_COLUMNS], int64_t now);

/*
 * The cryptographic key verdict another load balancer reached on node i,
 * with the same cluster key: the latest wins, as between this one's own
 * verdicts, and the node is ejected or taken back by it, the instance
 * named as its evidence.  Returns 1 when it changed the node.  Lock, once.
 */
int cluster_db_share_key(cluster_t *c, size_t i, const cluster_db_peer_t *p,
    const char *key_fingerprint, int64_t now, cluster_events_t *ev);

/*
 * Whether another load balancer is alive: seen within three of its rounds
 * of observations ("every" ms apart), and a second more for the clocks.
 */
int cluster_db_alive(int64_t last_seen, int64_t every, int64_t now);

/*
 * A text of libpq's or of the database's, into "to": its first line, its
 * controls as spaces, cut short on a UTF-8 character's boundary.
 */
void cluster_db_copy(char *to, size_t size, const char *from);

/* the columns of an action's row: cluster, node, action, by, at, instance,
   seq */
#define CLUSTER_DB_ACTION_COLUMNS  7

/*
 * A row of CLUSTER_DB_SQL_ACTION or _ACTIONS into "a": 1 for an action
 * this project wrote, 0 for a row to pass over; "seq" is the row's place
 * in the sequence either way (-1 when it has none).
 */
int cluster_db_action_row(const char *const col[CLUSTER_DB_ACTION_COLUMNS],
    cluster_db_action_t *a, int64_t *seq);

/*
 * The database as the status shows it for one cluster, from the peers
 * the last observation read: this load balancer ("instance" on "host")
 * and the others that observe the cluster into "in" (room for npeers + 1),
 * and each node's views by them into runs of "views" (room for npeers),
 * which the cluster's nodes then point at.  "every": the others' round of
 * observations, in ms, for whether each is alive.
 */
void cluster_db_views(cluster_status_cluster_t *c,
    const cluster_db_peer_t *peers, size_t npeers, const char *instance,
    const char *host, int64_t every, int64_t now,
    cluster_status_instance_t *in, cluster_status_view_t *views);

/* "drain" by "alice from 10.0.0.1" on "lb1": as the ring of actions says */
size_t cluster_db_by(const cluster_db_action_t *a, char *buf, size_t size);


#endif /* CLUSTER_DB_H */
