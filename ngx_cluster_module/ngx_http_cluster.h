
/*
 * Copyright (C) ngx_cluster_module authors
 */


#ifndef _NGX_HTTP_CLUSTER_H_INCLUDED_
#define _NGX_HTTP_CLUSTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "cluster.h"
#include "cluster_db.h"
#include "cluster_check.h"
#include "cluster_conf.h"
#include "cluster_node.h"
#include "cluster_page.h"
#include "cluster_session.h"
#include "cluster_status.h"
#include "cluster_version.h"


/* the longest file of a secret (a key, a password) that is read */
#define NGX_HTTP_CLUSTER_SECRET_MAX  (64 * 1024)

/* the most of a check's answer that is read: the body and its header */
#define NGX_HTTP_CLUSTER_CHECK_BODY      65536
#define NGX_HTTP_CLUSTER_CHECK_BUFFER    (NGX_HTTP_CLUSTER_CHECK_BODY + 8192)


/*
 * "server ... resolve" (nginx 1.27.3): the upstream's zone adds and removes
 * peers at run time, counting each change in *peers->config
 */
#if (NGX_HTTP_UPSTREAM_ZONE && nginx_version >= 1027003)
#define NGX_HTTP_CLUSTER_RESOLVE  1
#else
#define NGX_HTTP_CLUSTER_RESOLVE  0
#endif


/* a node record in the shared zone, found by its identity */
typedef struct {
    ngx_rbtree_node_t                 rbnode;     /* key: crc32 of identity */
    cluster_node_t                    facts;
    u_short                           len;
    u_char                            identity[1]; /* "upstream address" */
} ngx_http_cluster_shm_node_t;


/* one cluster's own shared state */
typedef struct {
    ngx_queue_t                       queue;
    cluster_shared_t                  core;
    cluster_sessions_t               *sessions;   /* the behavioural key
                                                     check's; NULL: none */
    cluster_replay_t                 *replays;    /* for "probe=", by slot */
    u_short                           len;
    u_char                            name[1];
} ngx_http_cluster_shm_cluster_t;


typedef struct {
    ngx_rbtree_t                      rbtree;
    ngx_rbtree_node_t                 sentinel;
    ngx_queue_t                       clusters;
} ngx_http_cluster_shctx_t;


/*
 * A node of the upstream, as configured: one distinct address of its
 * "server" lines, or one "server ... resolve" line, whose peers the zone
 * adds and removes as its name resolves (every address of the name, or
 * every target of its "service=")
 */
typedef struct {
    ngx_str_t                        *id;         /* the peer's address; the
                                                     resolved server's name */
    ngx_str_t                        *name;       /* as the status says */
    ngx_str_t                        *host;       /* the "server" line */
    ngx_uint_t                        weight;
    unsigned                          backup:1;
    unsigned                          resolved:1; /* "resolve" */
    struct sockaddr                  *sockaddr;   /* NULL when resolved */
    socklen_t                         socklen;
    ngx_str_t                        *resolve;    /* the name resolved, and */
    ngx_str_t                        *service;    /* its service, if any */
} ngx_http_cluster_member_t;


/* a "cluster_node_name", and where it was written, for later errors */
typedef struct {
    ngx_str_t                         server;     /* address or server */
    ngx_str_t                         name;
    u_char                           *file;
    ngx_uint_t                        line;
} ngx_http_cluster_name_t;


/* the method's own peer functions, the same for every request, as a rule */
typedef struct {
    ngx_event_get_peer_pt             get;
    ngx_event_free_peer_pt            free;
    ngx_event_notify_peer_pt          notify;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt     set_session;
    ngx_event_save_peer_session_pt    save_session;
#endif
} ngx_http_cluster_method_t;


typedef struct ngx_http_cluster_probe_s  ngx_http_cluster_probe_t;
typedef struct ngx_http_cluster_db_s  ngx_http_cluster_db_t;
typedef struct ngx_http_cluster_peer_data_s  ngx_http_cluster_peer_data_t;


/*
 * A worker's memory of which cookie names a regex of "cluster_cookie
 * name=" matched: a name is matched once, not at every request
 */
#define NGX_HTTP_CLUSTER_NAMES      64
#define NGX_HTTP_CLUSTER_NAME_LEN   48

typedef struct {
    u_char                            len;        /* 0: empty */
    u_char                            match;
    u_char                            name[NGX_HTTP_CLUSTER_NAME_LEN];
} ngx_http_cluster_name_cache_t;


typedef struct {
    ngx_array_t                       clusters;   /* of srv conf pointers */
    ngx_cycle_t                      *cycle;      /* of this configuration */
    ngx_str_t                         state_file;
    u_char                           *state_conf; /* where it was set */
    ngx_uint_t                        state_line;
    ngx_uint_t                        state_checked; /* its folder, once */
    int64_t                           next_save;  /* this worker's */
    ngx_http_cluster_db_t            *db;         /* cluster_database; NULL */
} ngx_http_cluster_main_conf_t;


typedef struct {
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_upstream_srv_conf_t     *upstream;
    cluster_t                         cluster;    /* the judgement: its
                                                     settings, nodes, and
                                                     shared records */

    /* the per-request initialisation of the balancing method wrapped */
    ngx_http_upstream_init_peer_pt    original_init_peer;
    ngx_http_cluster_method_t         method;     /* as its first request
                                                     in this worker set it */
    ngx_http_cluster_peer_data_t     *spare;      /* this worker's request
                                                     data to reuse; a list
                                                     by their "data" */
    void                             *keepalive;  /* its configuration of
                                                     this upstream */
    void                             *sticky;     /* sticky's, the same */
    ngx_uint_t                        unsteered;  /* said so, once */

    cluster_conf_t                    conf;       /* what the directives
                                                     said, the core's way */
    ngx_msec_t                        interval;
    ngx_msec_t                        stale;
    ngx_uint_t                        eject;      /* NGX_CONF_UNSET_UINT */
    ngx_msec_t                        slow_start;
    ngx_array_t                      *names;      /* of ..._name_t */

    /* cluster_key: the raw key, in libsodium's guarded memory */
    uint8_t                          *key;
    uint8_t                          *seal_key;   /* the cookies' key */
    char                              key_fingerprint[9];

    /* cluster_cookie */
    ngx_regex_t                      *cookie_name;
    ngx_str_t                         cookie_literal; /* the one name it
                                                     matches; "": a regex */
    ngx_http_cluster_name_cache_t    *name_cache; /* this worker's answers
                                                     of the regex */
    cluster_copy_t                   *copies;     /* this worker's */
    ngx_regex_t                      *login;
    ngx_uint_t                        sessions;   /* the table's size */
    ngx_str_t                         probe_uri;  /* probe=: the active
                                                     key check; "": off */
    u_char                           *probe_file; /* where it was set */
    ngx_uint_t                        probe_line;

    /* cluster_check */
    ngx_flag_t                        check;
    ngx_str_t                         check_uri;
    ngx_msec_t                        check_timeout;
#if (NGX_HTTP_SSL)
    ngx_ssl_t                        *check_ssl;  /* cluster_check ssl */
#endif
    ngx_uint_t                        rise;
    ngx_uint_t                        fall;
    ngx_uint_t                        messenger;  /* port; 0: none */
    ngx_flag_t                        mandatory;
    cluster_check_conf_t              expect;

    /* each worker's own: the timer of its rounds and its checks */
    ngx_event_t                       tick;
    ngx_msec_t                        tick_every;
    ngx_http_cluster_probe_t         *probes;     /* one per member */
    ngx_log_t                        *check_log;

    /* filled at configuration, nodes pointed to when the zone is ready */
    ngx_http_cluster_member_t        *members;
    ngx_uint_t                        nmembers;
    ngx_uint_t                       *peer_member[2]; /* primary, backup */
    cluster_node_t                  **peer_node[2];
    ngx_uint_t                        npeers[2];  /* they map, as configured */
#if (NGX_HTTP_CLUSTER_RESOLVE)
    ngx_uint_t                        mapped[2];  /* the zone's count of
                                                     changes they map */
    ngx_uint_t                        room[2];    /* a worker's own arrays;
                                                     0: the configuration's */
#endif

    ngx_http_cluster_main_conf_t     *main;
    ngx_slab_pool_t                  *shpool;
    ngx_http_cluster_shm_cluster_t   *shared;

    u_char                           *file;       /* of the first cluster_* */
    ngx_uint_t                        line;
} ngx_http_cluster_srv_conf_t;


typedef struct {
    ngx_msec_t                        refresh;    /* of the HTML page */
    ngx_flag_t                        admin;
    ngx_flag_t                        status;     /* cluster_status here */
    ngx_flag_t                        token;      /* token_file= given */
    u_char                            token_digest[20]; /* SHA-1 of it */
} ngx_http_cluster_loc_conf_t;


/* a walk over a list of headers, for ngx_http_cluster_header_next() */
typedef struct {
    ngx_list_part_t                  *part;
    ngx_uint_t                        i;
} ngx_http_cluster_walk_t;


/* the cluster's marks in a request's tries, made when it first steers */
typedef struct {
    ngx_http_upstream_rr_peers_t     *set;        /* the set marked */
    ngx_uint_t                        words;      /* of a set's "tried" */
    uintptr_t                         marked[1];  /* the cluster's marks,
                                                     then the primaries'
                                                     tries while on the
                                                     backups: "words" each */
} ngx_http_cluster_marks_t;


#define NGX_HTTP_CLUSTER_NO_MEMBER  0xffffffff

/*
 * The balancer's per-request data, kept small: a request pays for every
 * byte of it when it crosses a block of the request's pool.  Round robin's
 * comes first: round robin and least_conn take it where the cluster put
 * it for them.
 */
struct ngx_http_cluster_peer_data_s {
    ngx_http_upstream_rr_peer_data_t  rrp;
    ngx_http_cluster_srv_conf_t      *conf;
    ngx_http_request_t               *request;

    void                             *data;       /* the method's */
    ngx_http_cluster_method_t        *method;

    /* the round robin data it chooses by; NULL: not found, not steered */
    ngx_http_upstream_rr_peer_data_t *peers;
    ngx_http_cluster_marks_t         *marks;      /* NULL: none yet */

    cluster_node_t                   *node;       /* of the current try */
    cluster_request_t                *auth;       /* with cluster_cookie */
    uint32_t                          index;      /* the try's member, or
                                                     ..._NO_MEMBER */
    uint8_t                           state;      /* when it was chosen */
    uint8_t                           key_class;  /* of the session's node */
    unsigned                          slow_start:1; /* a choice by weight */
};


/* ngx_http_cluster_conf.c: the upstream's directives */
char *ngx_http_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_cluster_heartbeat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_cluster_eject(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_cluster_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_cluster_slow_start(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_cluster_node_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_cluster_mark(ngx_conf_t *cf, ngx_http_cluster_srv_conf_t *cscf);

/* ngx_http_cluster_util.c: helpers every file may call */
ngx_int_t ngx_http_cluster_uri_valid(ngx_str_t *uri);
ngx_table_elt_t *ngx_http_cluster_header_next(ngx_list_t *headers,
    const char *name, size_t len, ngx_http_cluster_walk_t *walk);
ngx_int_t ngx_http_cluster_add_header(ngx_http_request_t *r, const char *key,
    const char *value);
ngx_int_t ngx_http_cluster_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_buf_t *b);
ngx_int_t ngx_http_cluster_read_secret(ngx_conf_t *cf, ngx_str_t *name,
    const char *what, ngx_str_t *text);

/* ngx_http_cluster_status.c and ngx_http_cluster_admin.c */
char *ngx_http_cluster_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_cluster_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_cluster_admin(ngx_http_request_t *r, ngx_str_t *path);

/* ngx_http_cluster_database.c: the shared database */
char *ngx_http_cluster_database(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_cluster_database_init_process(ngx_cycle_t *cycle,
    ngx_http_cluster_db_t *db);
void ngx_http_cluster_database_exit_process(ngx_http_cluster_db_t *db);
void ngx_http_cluster_database_push(ngx_http_cluster_db_t *db,
    ngx_str_t *cluster, ngx_str_t *node, ngx_uint_t admin, const char *by,
    int64_t at);
void ngx_http_cluster_database_view(ngx_http_cluster_db_t *db,
    cluster_db_view_t *v, char *error, size_t size);
ngx_int_t ngx_http_cluster_database_views(ngx_http_cluster_db_t *db,
    ngx_pool_t *pool, cluster_status_cluster_t *clusters, ngx_uint_t n,
    int64_t now);

ngx_int_t ngx_http_cluster_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
void ngx_http_cluster_peer_spares_free(ngx_http_cluster_srv_conf_t *cscf);
#if (NGX_HTTP_CLUSTER_RESOLVE)
ngx_uint_t ngx_http_cluster_member_of(ngx_http_cluster_srv_conf_t *cscf,
    ngx_http_upstream_rr_peer_t *peer);
#endif
char *ngx_http_cluster_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_cluster_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_cluster_cookie_init(ngx_conf_t *cf);
cluster_key_check_e ngx_http_cluster_key_check(ngx_http_request_t *r);
ngx_uint_t ngx_http_cluster_sign_in(ngx_http_cluster_srv_conf_t *cscf,
    ngx_uint_t status, ngx_str_t *location);
void ngx_http_cluster_cookie_peer(ngx_http_request_t *r,
    ngx_http_cluster_peer_data_t *cp);
ngx_int_t ngx_http_cluster_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_http_cluster_check_init_process(ngx_cycle_t *cycle,
    ngx_http_cluster_srv_conf_t *cscf);
char *ngx_http_cluster_state_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_cluster_state_writable(ngx_http_cluster_main_conf_t *cmcf,
    ngx_log_t *log);
void ngx_http_cluster_state_load(ngx_http_cluster_main_conf_t *cmcf,
    ngx_shm_zone_t *shm_zone, ngx_log_t *log);
void ngx_http_cluster_state_save(ngx_http_cluster_main_conf_t *cmcf,
    ngx_log_t *log);
void ngx_http_cluster_report_events(ngx_http_cluster_srv_conf_t *cscf,
    cluster_events_t *ev, ngx_log_t *log);


static ngx_inline int64_t
ngx_http_cluster_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + (int64_t) tp->msec;
}


/* the fingerprint of the key the cluster judges by: "" without one */
static ngx_inline const char *
ngx_http_cluster_key_used(ngx_http_cluster_srv_conf_t *cscf)
{
    return cscf->key ? cscf->key_fingerprint : "";
}


/* what a core call changed, in the log; most calls change nothing */
static ngx_inline void
ngx_http_cluster_report(ngx_http_cluster_srv_conf_t *cscf,
    cluster_events_t *ev, ngx_log_t *log)
{
    if (ev->n || ev->more) {
        ngx_http_cluster_report_events(cscf, ev, log);
    }
}


/* the name of the node of the current try; NULL: none chosen */
static ngx_inline ngx_str_t *
ngx_http_cluster_peer_name(ngx_http_cluster_peer_data_t *cp)
{
    return (cp->index == NGX_HTTP_CLUSTER_NO_MEMBER)
           ? NULL : cp->conf->members[cp->index].name;
}


/* whether a node has a name of its own, said beside its address */
static ngx_inline ngx_uint_t
ngx_http_cluster_member_named(ngx_http_cluster_member_t *m)
{
    return m->name->len != m->id->len
           || ngx_memcmp(m->name->data, m->id->data, m->id->len) != 0;
}


extern ngx_module_t  ngx_http_cluster_module;


#endif /* _NGX_HTTP_CLUSTER_H_INCLUDED_ */
