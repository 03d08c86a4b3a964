/*
 * ngx_cluster_module: the whole judgement of one cluster, for any load
 * balancer.
 *
 * The caller keeps the records where all its processes or threads see
 * them (nginx: a shared zone; HAProxy: process memory) and hands the core
 * a lock over them (the zone's mutex; a pthread mutex).  Each call here
 * takes that lock at most as often as its comment says, and gives it back
 * before it returns: a caller never holds it, so it cannot forget it.
 * What a call changed comes back as events, with the level each is
 * logged at, for the caller to log once the lock is given back.  Time,
 * and chance, come in as arguments.
 *
 * Nodes are named by their index in the cluster, as the caller configured
 * them; a NULL record is a node the caller had no room for, always let
 * through and never judged.
 */

#ifndef CLUSTER_H
#define CLUSTER_H


#include <stddef.h>
#include <stdint.h>

#include "cluster_change.h"
#include "cluster_cookie.h"
#include "cluster_node.h"
#include "cluster_pick.h"
#include "cluster_session.h"
#include "cluster_status.h"


/* how often, at most, the cluster is evaluated for changes by time alone */
#define CLUSTER_EVALUATE_EVERY   1000

/* the sessions the behavioural key check remembers, by default */
#define CLUSTER_SESSIONS         1024

/* the auth cookies of one answer that are opened and followed */
#define CLUSTER_MINTED           4

/* shorter auth cookie values are sign-outs or placeholders, no sessions */
#define CLUSTER_COOKIE_MIN       16

/* the longest "name=value" of an auth cookie the active check replays */
#define CLUSTER_REPLAY_MAX       1024

/* a balancer's copies of the sessions its requests carried */
#define CLUSTER_COPIES           256

/* the longest cookie value a copy keeps, so as not to fingerprint it again */
#define CLUSTER_COPY_VALUE       512

/*
 * The events one call reports; more changes of nodes are counted, not
 * told, but one of the whole cluster (panic) always is
 */
#define CLUSTER_EVENTS           32


typedef struct {
    void                   (*lock)(void *data);
    void                   (*unlock)(void *data);
    void                    *data;
} cluster_lock_t;


/* the cluster-wide facts, beside the node records: plain old data */
typedef struct {
    uint64_t                 generation;      /* of the live configuration */
    int64_t                  next_evaluation;
    uint32_t                 panic;
    uint32_t                 clear;           /* cluster_pick_clear() */
    uint32_t                 dirty;           /* the state file lags */
    uint32_t                 nactions;        /* ever; a ring of them */
    cluster_action_t         actions[CLUSTER_ACTIONS_MAX];
    uint64_t                 cookies_forged;  /* request cookies, counted */
    uint64_t                 cookies_malformed; /* without the lock */
    char                     release[24];     /* the cluster's */
    char                     key_fingerprint[9]; /* the verdicts' key */
    uint32_t                 nhistory;        /* ever; a ring of them */
    uint32_t                 history_shared;  /* of them, written to the
                                                 shared database */
    cluster_history_t        history[CLUSTER_HISTORY_MAX];
} cluster_shared_t;


/*
 * The last auth cookie a node set, kept for the active key check to replay
 * to the others: a secret, never logged, wiped when replaced.
 */
typedef struct {
    int64_t                  at;              /* ms; 0: none */
    uint8_t                  fp[CLUSTER_SESSION_FP];
    uint16_t                 len;
    char                     pair[CLUSTER_REPLAY_MAX];
} cluster_replay_t;


typedef struct {
    /* the caller's configuration, the same in every process */
    cluster_settings_t       settings;
    cluster_node_t         **nodes;
    size_t                   n;
    uint64_t                 generation;      /* this configuration's */
    const uint8_t           *seal_key;        /* the cookies'; NULL: none */
    const char *const       *names;           /* of the nodes, as shown;
                                                 NULL: none */
    const char *const       *ids;             /* their addresses; NULL */

    /* the shared records: the lock guards them */
    cluster_shared_t        *shared;
    cluster_sessions_t      *sessions;        /* NULL: not followed */
    cluster_replay_t        *replays;         /* by slot; NULL: no replay */
    cluster_lock_t           lock;
} cluster_t;


typedef enum {
    CLUSTER_EVENT_CHANGE = 0,     /* a node's state, rotation or findings */
    CLUSTER_EVENT_PANIC,          /* no node in rotation: all routed */
    CLUSTER_EVENT_WAITING,        /* the same at a start: no check yet */
    CLUSTER_EVENT_CALM            /* a node back in rotation: panic ends */
} cluster_event_e;


typedef struct {
    uint8_t                  what;            /* cluster_event_e */
    uint8_t                  level;           /* cluster_log_level_e */
    uint32_t                 node;            /* CHANGE: its index */
    cluster_change_t         change;
} cluster_event_t;


typedef struct {
    size_t                   n;
    size_t                   more;            /* not told: no room */
    cluster_event_t          event[CLUSTER_EVENTS];
} cluster_events_t;


/* what a request's auth cookie says of the key: $cluster_key_check */
typedef enum {
    CLUSTER_KEY_CHECK_UNASKED = 0,
    CLUSTER_KEY_CHECK_NONE,       /* no cookie, no key, not a v1 cookie */
    CLUSTER_KEY_CHECK_OK,
    CLUSTER_KEY_CHECK_MISMATCH
} cluster_key_check_e;


/* a request's auth cookie, the first of its name, and its session */
typedef struct {
    const char              *name;            /* NULL: the request has none */
    size_t                   name_len;
    const char              *value;
    size_t                   value_len;
    uint8_t                  fp[CLUSTER_SESSION_FP];
    cluster_session_t        session;         /* as the table had it */
    int64_t                  key_expires;     /* s, its "exp"; 0 unknown */
    uint8_t                  key_check;       /* cluster_key_check_e */
    uint8_t                  opened;          /* cluster_cookie_rc_e */
    uint8_t                  key_class;       /* of the node that set it */
    unsigned                 fingerprinted:1;
    unsigned                 known:1;         /* "session" holds */
} cluster_request_t;


/*
 * A balancer's copy of a session, good while the table's generation holds,
 * with the cookie's value it was fingerprinted from: the same value again
 * (a keep-alive connection sends it with every request) is compared, not
 * hashed.  A secret, like the request it came with; never logged.
 */
typedef struct {
    uint64_t                 generation;
    int64_t                  seen;            /* written in the table */
    cluster_session_t        session;
    uint8_t                  fp[CLUSTER_SESSION_FP];
    uint16_t                 value_len;       /* 0: not kept, too long */
    uint8_t                  key_class;
    unsigned                 used:1;
    unsigned                 known:1;
    char                     value[CLUSTER_COPY_VALUE];
} cluster_copy_t;


/* what a node's answer says of the key, gathered header by header */
typedef struct {
    unsigned                 status;
    unsigned                 set;             /* auth cookies it sets */
    unsigned                 opened;          /* of them, by the key */
    unsigned                 refused;
    unsigned                 n;               /* sessions to follow */
    unsigned                 sign_in:1;
    uint8_t                  fp[CLUSTER_MINTED][CLUSTER_SESSION_FP];
    uint8_t                  verdict[CLUSTER_MINTED];
    int64_t                  expires[CLUSTER_MINTED];
    const char              *replay_name;     /* the first session's */
    size_t                   replay_name_len;
    const char              *replay_value;
    size_t                   replay_value_len;
} cluster_answer_t;


/* the node of an action, and who asked, for the ring of last actions */
typedef struct {
    size_t                   node;
    cluster_admin_e          admin;
    const char              *name;            /* the node's, as shown */
    size_t                   name_len;
    const char              *by;
} cluster_act_t;


/* whether this configuration is the live one, which alone judges */
int cluster_live(const cluster_t *c);

/*
 * An event in words, as every load balancer logs it: a node's change
 * ('cluster "proget" node "web2" (10.0.0.12:8624) is down, ...', its
 * address only when its name is not it; "name" and "id" are the node's)
 * or the cluster's own (panic and its end).  NUL-terminated, cut short to
 * fit; returns the level it is logged at.
 */
cluster_log_level_e cluster_event_text(const char *cluster,
    size_t cluster_len, const char *name, size_t name_len, const char *id,
    size_t id_len, const cluster_event_t *e, char *buf, size_t size);

/* this configuration becomes the live one, unless a newer one is; lock */
void cluster_go_live(cluster_t *c);

/*
 * At a start or a reload, before traffic: the verdicts of another cluster
 * key are forgotten, those of the session table too when there is none,
 * and each node gets a place in the table.  Returns the nodes left out of
 * the table (it has CLUSTER_SESSION_NODES places).  Lock, once.
 */
size_t cluster_attach(cluster_t *c, const char *key_fingerprint);

/* every node again, when CLUSTER_EVALUATE_EVERY has passed; lock, once */
void cluster_evaluate(cluster_t *c, int64_t now, cluster_events_t *ev);

/*
 * A proxied try's outcome: ok, or a failure as the balancer counts one.
 * An answer that changes nothing but the node's heartbeat and counts
 * takes no lock; anything else, once.
 */
void cluster_try_done(cluster_t *c, size_t i, int ok, unsigned status,
    unsigned response_ms, int64_t now, cluster_events_t *ev);

/* the trial of an ejected node, for this caller; 1: send it.  Lock, once */
int cluster_trial_claim(cluster_t *c, size_t i, int64_t now);

/* how often a caller looks for checks that are due, in ms */
int64_t cluster_check_every(const cluster_settings_t *s);

/*
 * Whether this caller checks node i now, one caller of all: 1 with the
 * claim's time in "claimed".  "chance" is a random number, for the jitter
 * that keeps the nodes' checks out of lockstep.  Lock, once.
 */
int cluster_check_claim(cluster_t *c, size_t i, int64_t now,
    unsigned long chance, int64_t *claimed);

/*
 * A check's outcome; "fell_back": the answer is the older /health's.
 * Lock, once.
 */
void cluster_check_done(cluster_t *c, size_t i, const cluster_check_t *check,
    int fell_back, int64_t claimed, int64_t now, cluster_events_t *ev);

/*
 * The session the active key check replays to node i after its check:
 * another node's last one, which i has not answered and was not sent.
 * Copies its "name=value" into "pair" and its fingerprint into "fp", and
 * returns its length; 0 when there is none.  Lock, once.
 */
size_t cluster_replay_pick(cluster_t *c, size_t i, int64_t now,
    char pair[CLUSTER_REPLAY_MAX], uint8_t fp[CLUSTER_SESSION_FP]);

/*
 * What a replay's answer says: 1 sent to sign in, 0 served, -1 nothing
 * (an error, another redirect, which may be a sign-in of another form).
 */
int cluster_replay_verdict(unsigned status, int sign_in);

/* a replay's verdict (0 or 1) as evidence; lock, once */
void cluster_replay_done(cluster_t *c, size_t i,
    const uint8_t fp[CLUSTER_SESSION_FP], int sign_in, int64_t now,
    cluster_events_t *ev);

/*
 * Whether an answer of this status sends the user to sign in: 401, or a
 * redirect whose Location the caller matched with "login=".  The one rule
 * of the passive and the active key check; cluster_redirect() says when
 * a Location is worth matching.
 */
int cluster_sign_in(unsigned status, int location_matched);
int cluster_redirect(unsigned status);

/*
 * The request's session, once its auth cookie is in "r": fingerprinted,
 * found in the table, its key class given.  A copy in "copies" (the
 * caller's CLUSTER_COPIES, or NULL; a copy is of one process or thread
 * only) answers a known session with no lock while the table has not
 * changed, and a value it kept with no hash; a session's use is written in
 * the table at most once a second.  Otherwise, lock, once.
 */
void cluster_request_session(cluster_t *c, cluster_request_t *r,
    cluster_copy_t *copies, int64_t now);

/*
 * Whether the request's auth cookie opens with the cluster's key; asked
 * once a request, and once a session: the verdict is remembered in the
 * table, for cookies that open or that a node set (a client cannot fill
 * the table with its own).  Lock, at most once.
 */
cluster_key_check_e cluster_request_key(cluster_t *c, cluster_request_t *r,
    int64_t now);

void cluster_answer_init(cluster_answer_t *a, unsigned status);

/*
 * An auth cookie the answer sets: opened with the cluster's key and
 * fingerprinted.  Past CLUSTER_MINTED of them, none more is opened or
 * followed (a node sets one or two).  Returns what opening it said, or
 * -1 when it was not opened.
 */
int cluster_answer_cookie(const cluster_t *c, cluster_answer_t *a,
    const char *name, size_t name_len, const char *value, size_t value_len);

/*
 * The answer of node i to request "r" (NULL: it carried no auth cookie),
 * as evidence: the node's key verdict, lost sessions, the sessions it set,
 * the one kept to replay, and what it did with the request's session.
 * Lock, at most twice (once to remember the request's verdict).
 */
void cluster_answer_done(cluster_t *c, size_t i, cluster_request_t *r,
    const cluster_answer_t *a, int64_t now, cluster_events_t *ev);

/*
 * A cryptographic key verdict reached elsewhere (another load balancer,
 * "by"), at "since": it replaces the node's own when it is later, as a
 * verdict of the node's own cookies would.  Returns 1 when it changed the
 * node.  Lock, once.
 */
int cluster_key_adopt(cluster_t *c, size_t i, cluster_key_e key,
    int64_t since, const char *by, int64_t now, cluster_events_t *ev);

/*
 * Facts of a node another load balancer's checks found, at "at", for one
 * without checks of its own: its service down (it holds while reported,
 * and three intervals after), its release when this one never checked it.
 * Returns 1 when it changed the node.  Lock, once.
 */
int cluster_facts_adopt(cluster_t *c, size_t i, uint32_t findings,
    const char *release, int64_t at, int64_t now, cluster_events_t *ev);

/* an operator's action: the node's admin state and the ring; lock, once */
void cluster_act(cluster_t *c, const cluster_act_t *act, int64_t now,
    cluster_events_t *ev);

/*
 * The same, of an action taken at "at" elsewhere (another load balancer):
 * applied only when no later one was, the latest by time winning; 1 when
 * it was.  Lock, once.
 */
int cluster_act_at(cluster_t *c, const cluster_act_t *act, int64_t at,
    int64_t now, cluster_events_t *ev);

/*
 * The cluster as the status shows it, evaluated now: its panic, release,
 * counters, last actions (newest first) and each node's facts, into the
 * caller's "out", whose nodes' names the caller gave.  Lock, once.
 */
void cluster_snapshot(cluster_t *c, int64_t now,
    cluster_status_cluster_t *out, cluster_events_t *ev);

/*
 * What a state file keeps, for the caller to write once the lock is given
 * back: each tracked node's facts into facts[i] (the others are left as
 * they are) and the last actions, oldest first, into "actions".  The
 * records are no longer dirty.  Returns the actions copied.  Lock, once.
 */
size_t cluster_save_copy(cluster_t *c, cluster_node_t *facts,
    cluster_action_t actions[CLUSTER_ACTIONS_MAX]);

/* each tracked node's facts into facts[i], the others left; lock, once */
void cluster_copy(cluster_t *c, cluster_node_t *facts);

/*
 * The history not yet written to a shared database, oldest first, into
 * "h" (CLUSTER_HISTORY_MAX of them): returns how many, in "lost" how many
 * were overwritten before they could be, and in "upto" what to hand to
 * cluster_history_written() once they are.  Lock, once.
 */
size_t cluster_history_take(cluster_t *c, cluster_history_t *h,
    size_t *lost, uint32_t *upto);

/* the history taken is in the database; lock, once */
void cluster_history_written(cluster_t *c, uint32_t upto);

/* an action of a state file, into the ring of the last ones; lock, once */
void cluster_restore_action(cluster_t *c, const cluster_action_t *action);

/*
 * The balancer's question for one try, pass after pass: the first pass
 * (the session's key class when one of its nodes is in rotation) and
 * what holds for every node of the try.  No lock.
 */
void cluster_try_begin(const cluster_t *c, unsigned key_class,
    int slow_start, cluster_try_t *t);


#endif /* CLUSTER_H */
