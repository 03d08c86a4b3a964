
/*
 * Copyright (C) ngx_cluster_module authors
 */


/*
 * The HAProxy bridge's C half, shared by its files: cluster_bridge.c (the
 * Lua module) and cluster_bridge_db.c (cluster_database, on a thread of
 * its own).
 */


#ifndef CLUSTER_BRIDGE_H
#define CLUSTER_BRIDGE_H


#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sodium.h>

#include "cluster.h"
#include "cluster_conf.h"


#define BRIDGE_BACKENDS     64
#define BRIDGE_NAMES        256      /* cluster_node_name lines */
#define BRIDGE_FILE_MAX     (1024 * 1024)
#define BRIDGE_SECRET_MAX   65536
#define BRIDGE_CHECK_BODY   65536
#define BRIDGE_ADMIN_VALUES 8        /* of one header, at most */
#define BRIDGE_SPARE_NODES  8        /* cluster_spare_nodes, by default */
#define BRIDGE_SPARE_MAX    1024

/* HAProxy's log levels, as core.log() takes them */
#define BRIDGE_LOG_ALERT    1
#define BRIDGE_LOG_ERR      3
#define BRIDGE_LOG_WARNING  4
#define BRIDGE_LOG_NOTICE   5


typedef struct {
    cluster_word_t          server;      /* address or HAProxy's name */
    cluster_word_t          name;
    cluster_word_t          backend;
} bridge_name_t;


typedef struct {
    char                    name[128];   /* HAProxy's server name */
    char                    id[64];      /* its address, "ip:port" */
    char                    shown[128];  /* cluster_node_name, or name */
    char                    host[64];    /* for the checks */
    unsigned                port;
    char                    request[2][512];  /* the check's, and /health */
    uint8_t                 haproxy_admin;    /* as last seen: operator's */
    uint64_t                failures;         /* HAProxy's econ + eresp */
    uint64_t                answers;          /* its hrsp_*, less eresp */
    uint8_t                 fallback;         /* the older /health */
    uint8_t                 vacant;           /* its server deleted */
    uint64_t                rid;              /* HAProxy's revision of it */
    uint32_t                take;             /* the record's use, from 1 */
} bridge_node_t;


typedef struct {
    char                    name[128];
    unsigned                line;
    cluster_conf_t          conf;
    unsigned                heartbeat_set:1;
    unsigned                eject_set:1;
    unsigned                slow_start_set:1;
    unsigned                has_key:1;
    unsigned                attached:1;
    unsigned                spare_set:1;
    unsigned                said_full:1;

    uint8_t                 seal_key[CLUSTER_KEY_SEAL];
    char                    fingerprint[9];
    pcre2_code             *cookie_name;
    pcre2_code             *login;
    char                    literal[128];     /* the one name it matches */
    size_t                  literal_len;      /* 0: a true expression */
    uint32_t                sessions;

    /* the cluster, once attached */
    cluster_t               cluster;
    cluster_shared_t        shared;
    cluster_node_t         *facts;
    cluster_node_t        **nodes;
    const char            **names;
    const char            **ids;
    bridge_node_t          *bnodes;
    /*
     * The records: the servers of haproxy.cfg, then "spare" of them for
     * servers added at run time.  Every array is sized "cap" at the start
     * and never moves; "n", the records in use, only grows, each record
     * filled before n counts it (bridge_count() reads it).  A record
     * whose server was deleted is vacant: hidden, removed, and taken
     * again by the next server added.
     */
    size_t                  n;
    size_t                  cap;
    unsigned                spare;
    pthread_mutex_t         mutex;
} bridge_backend_t;


typedef struct {
    int                     loaded;
    char                    path[4096];
    char                   *text;        /* the file, which words point in */
    size_t                  len;
    bridge_backend_t       *backends[BRIDGE_BACKENDS];
    size_t                  nbackends;
    bridge_name_t           names[BRIDGE_NAMES];
    size_t                  nnames;

    /* cluster_status */
    unsigned                refresh;     /* s */
    unsigned                admin:1;
    unsigned                token:1;
    uint8_t                 token_digest[crypto_generichash_BYTES];

    char                    state_file[4096];
    int                     state_loaded;

    struct bridge_db_s     *db;          /* cluster_database; NULL */
} bridge_t;



extern bridge_t         bridge;
extern pthread_mutex_t  bridge_mutex;


int64_t bridge_now(void);

/* the records in use, and whether record i's server was deleted */
size_t bridge_count(const bridge_backend_t *b);
int bridge_vacant(const bridge_backend_t *b, size_t i);
int bridge_read_secret(const char *path, const char *what, char *text,
    size_t *len, char *err);
char *bridge_copy(const cluster_word_t *w, char *buf, size_t size);

/* an event in words, with HAProxy's level for it; returns the level */
int bridge_event_text(const bridge_backend_t *b, const cluster_event_t *e,
    char *text, size_t size);

/* probe(host, port) and its metatable: a node's port tried by connect() */
struct lua_State;
int bridge_probe(struct lua_State *L);
void bridge_probe_register(struct lua_State *L);

/* cluster_database: its directive, its thread, its queue, its view */
int bridge_db_directive(bridge_t *br, const cluster_word_t *w, size_t n,
    char *err);
void bridge_db_start(bridge_t *br);
void bridge_db_forget(bridge_t *br);
void bridge_db_push(bridge_t *br, const bridge_backend_t *b, size_t node,
    uint8_t admin, const char *by, int64_t now);
/* the log lines of the thread, for HAProxy's log: (level, text) each */
size_t bridge_db_lines(bridge_t *br, int *level, char text[][256],
    size_t max);
/* the status's: the view, and each cluster's instances and nodes' views */
void *bridge_db_status(bridge_t *br, cluster_status_cluster_t *clusters,
    size_t n, cluster_db_view_t *view, char *error, size_t size,
    int64_t now);


#endif /* CLUSTER_BRIDGE_H */
