/*
 * ngx_cluster_module: the status document, rendered from a snapshot of the
 * clusters that the caller took (under its lock) and owns.
 */

#ifndef CLUSTER_STATUS_H
#define CLUSTER_STATUS_H


#include "cluster_node.h"


/* how another load balancer sees a node (cluster_database) */
typedef struct {
    const char          *instance;
    uint8_t              state;       /* cluster_state_e */
    uint8_t              in_rotation;
    uint32_t             findings;
    int64_t              at;          /* of the observation */
} cluster_status_view_t;


/* a load balancer of the cluster, as the database knows it */
typedef struct {
    const char          *instance;
    const char          *host;
    int64_t              last_seen;
    unsigned             alive:1;
    unsigned             self:1;      /* this one */
} cluster_status_instance_t;


typedef struct {
    const char          *id;          /* the node's address: "10.0.0.11:8624" */
    size_t               id_len;
    const char          *name;        /* the "server" line's name */
    size_t               name_len;
    unsigned             weight;
    unsigned             backup:1;
    unsigned             tracked:1;   /* 0: the zone had no room for it */
    cluster_node_t       facts;       /* a copy; zeroed when not tracked */
    const cluster_status_view_t  *views;   /* the other load balancers' */
    size_t               nviews;
} cluster_status_node_t;


/* an operator's action on a node, as the status lists the last ones */
typedef struct {
    int64_t                 at;
    uint8_t                 admin;    /* cluster_admin_e it set */
    char                    node[64];
    char                    by[48];   /* the user, or "token", and address */
} cluster_action_t;

#define CLUSTER_ACTIONS_MAX  8


/* what happened to a node or the cluster, for its history */
typedef enum {
    CLUSTER_HISTORY_STATE = 0,    /* a state or rotation changed */
    CLUSTER_HISTORY_ADMIN,        /* an operator acted */
    CLUSTER_HISTORY_PANIC         /* the cluster went into panic, or out */
} cluster_history_e;

typedef struct {
    int64_t                 at;
    uint8_t                 kind;     /* cluster_history_e */
    uint8_t                 from;     /* a state, an admin state, panic */
    uint8_t                 to;
    uint8_t                 in_rotation;
    uint32_t                findings; /* the reasons, after */
    char                    node[64]; /* its name; "" for the cluster */
    char                    id[64];   /* its address; "" for the cluster */
    char                    reason[72]; /* what its check said, if down */
    char                    by[48];   /* who acted */
} cluster_history_t;

#define CLUSTER_HISTORY_MAX  32


typedef struct {
    const char             *name;     /* the upstream's name */
    size_t                  name_len;
    cluster_settings_t      settings;
    unsigned                messenger_port;  /* 0: not checked */
    const char             *key_fingerprint; /* of cluster_key; NULL */
    unsigned                crypto_check:1;  /* cluster_key, cluster_cookie */
    unsigned                cross_check:1;   /* the sessions are followed */
    uint64_t                sessions;        /* the table's size */
    uint64_t                sessions_stored; /* ever */
    uint64_t                sessions_evicted;
    uint64_t                cookies_forged;  /* request cookies: not this */
    uint64_t                cookies_malformed; /* key's; not v1 at all */
    char                    release[24];     /* the cluster's; "" unknown */
    int                     panic;
    cluster_status_node_t  *nodes;
    size_t                  n;
    cluster_action_t        actions[CLUSTER_ACTIONS_MAX]; /* newest first */
    size_t                  nactions;
    const cluster_status_instance_t  *instances; /* with a database */
    size_t                  ninstances;
    cluster_history_t       history[CLUSTER_HISTORY_MAX]; /* newest first */
    size_t                  nhistory;
    const char             *instance;  /* this load balancer's; NULL */
} cluster_status_cluster_t;


/* the name of the action that sets an admin state: drain, remove, restore */
const char *cluster_action_name(uint8_t admin);


/* the shared database as the status shows it (cluster_db.h) */
typedef struct cluster_db_view_s  cluster_db_view_t;


/*
 * Writes the JSON document into buf, with the database "db" (NULL: none);
 * returns the number of bytes the whole
 * document takes, which is more than size when it did not fit.
 */
size_t cluster_status_json(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version, const cluster_db_view_t *db);

#define CLUSTER_HINT_SIZE  320
#define CLUSTER_HINTS_MAX  8


/* the troubleshooting hints for a node, as sentences; returns how many */
size_t cluster_status_hints(const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node, int64_t now,
    char hints[][CLUSTER_HINT_SIZE], size_t max);

/*
 * The Web component's status: "ok", "warning" (its last tries failed, not
 * yet "fall" of them), "stale", "failing" (down), "unknown"
 */
const char *cluster_status_web(const cluster_status_node_t *node);

/* the Service component's: "ok", "warning", "error", "unknown" */
const char *cluster_status_service_name(const cluster_status_node_t *node);

/* whether a node takes traffic, the panic guard included */
int cluster_status_node_in_rotation(const cluster_status_cluster_t *cluster,
    const cluster_status_node_t *node);


#endif /* CLUSTER_STATUS_H */
