/*
 * ngx_cluster_module: the behavioural key check, for nodes whose cookie
 * format is not known.
 *
 * The table remembers, for each auth cookie a node set, a keyed
 * fingerprint of it (never the cookie), the node that set it, and which
 * nodes later served the session or sent it to sign in.  From those, pairs
 * of nodes are counted as agreeing or disagreeing on the key, one session
 * at a time, and the nodes grouped into key classes.
 *
 * The table is a set-associative cache: a fingerprint's set is given by
 * its own bits, so an entry only ever displaces the oldest of its own few
 * ways, and as fingerprints are keyed with a secret of the zone, nobody
 * outside can aim at a set.  Plain old data, for shared memory.
 */

#ifndef CLUSTER_SESSION_H
#define CLUSTER_SESSION_H


#include <stddef.h>
#include <stdint.h>

#include "cluster_node.h"


#define CLUSTER_SESSION_NODES   32    /* nodes a cluster's check covers */
#define CLUSTER_SESSION_WAYS    4
#define CLUSTER_SESSION_FP      16    /* SipHash-128 */
#define CLUSTER_SESSION_KEY     16

/*
 * Sessions of one node refused by another before the two are said to hold
 * different keys: one or two may be sessions that ended (expired, signed
 * out) and reached the other node first.
 */
#define CLUSTER_SESSION_ENOUGH  3


typedef struct {
    uint8_t     fp[CLUSTER_SESSION_FP];
    int64_t     seen;           /* ms, last use; 0: an empty way */
    int64_t     expires;        /* s, a v1 cookie's "exp"; 0: unknown;
                                   never past CLUSTER_TIME_MAX */
    uint32_t    served;         /* nodes (a bit per slot) that served it */
    uint32_t    refused;        /* nodes that sent it to sign in */
    uint32_t    replayed;       /* nodes it was replayed to (probe=) */
    uint8_t     minted;         /* slot of the node that set it */
    uint8_t     verdict;        /* 0: not opened; 1 + cluster_cookie_rc_e */
    uint8_t     ended;          /* its own node sent it to sign in */
} cluster_session_t;


typedef struct {
    uint32_t           nsets;          /* a power of two */
    uint32_t           nslots;         /* slots given to nodes so far */
    uint64_t           stored;         /* sessions ever stored */
    uint64_t           evicted;        /* of which displaced while live */
    uint64_t           generation;     /* moves with every change of what
                                          a request reads: a session's
                                          record, a node's key class; a
                                          copy is good while it holds */
    uint8_t            key[CLUSTER_SESSION_KEY]; /* of the fingerprints */
    uint8_t            class_of[CLUSTER_SESSION_NODES]; /* by slot */
    /* sessions set by one node [minted] and answered by another */
    uint16_t           served[CLUSTER_SESSION_NODES][CLUSTER_SESSION_NODES];
    uint16_t           refused[CLUSTER_SESSION_NODES][CLUSTER_SESSION_NODES];
    int64_t            last_refusal[CLUSTER_SESSION_NODES]; /* by slot */
    cluster_session_t  session[1];     /* nsets * CLUSTER_SESSION_WAYS */
} cluster_sessions_t;


/*
 * The "exp" of a v1 cookie's plaintext (JSON), in seconds since the epoch,
 * no later than CLUSTER_TIME_MAX; 0 when it says none.
 */
int64_t cluster_session_expires(const uint8_t *text, size_t len);

/* the bytes of a table for about n sessions (n is rounded up) */
size_t cluster_sessions_size(uint32_t n);

/*
 * An empty table; key is the fingerprints' secret, NULL for a random one
 * (libsodium must have started).
 */
void cluster_sessions_init(cluster_sessions_t *t, uint32_t n,
    const uint8_t key[CLUSTER_SESSION_KEY]);

/* SipHash-128 of a cookie's value, keyed with the table's secret */
void cluster_session_fingerprint(const cluster_sessions_t *t,
    const char *value, size_t len, uint8_t fp[CLUSTER_SESSION_FP]);

cluster_session_t *cluster_session_find(cluster_sessions_t *t,
    const uint8_t fp[CLUSTER_SESSION_FP]);

/* finds the session, or takes the oldest way of its set for it */
cluster_session_t *cluster_session_add(cluster_sessions_t *t,
    const uint8_t fp[CLUSTER_SESSION_FP], int64_t now);

/*
 * The node in "slot" answered a request that carried the session: served
 * it (sign_in 0) or sent it to sign in (1).  Each node counts once per
 * session, a refusal outweighing service; a session its own node refuses
 * has ended, and what other nodes said of it is taken back.  Returns 1
 * when the counts changed.
 */
int cluster_session_answer(cluster_sessions_t *t, cluster_session_t *s,
    unsigned slot, int sign_in, int64_t now);

/*
 * Whether an answer is evidence that the session's record lacks: not for
 * a v1 session past its "exp", nor a sign-in for a session unused for
 * longer than "stale" ms (it may have expired); cluster_session_answer()
 * would change nothing otherwise.
 */
int cluster_session_news(const cluster_session_t *s, unsigned slot,
    int sign_in, int64_t now, int64_t stale);

/*
 * Whether the session may be replayed to the node in "slot" by the active
 * check: it has not answered it, nor been sent it before; marks it sent.
 */
int cluster_session_replay(cluster_session_t *s, unsigned slot, int64_t now,
    int64_t stale);

/* forgets what was seen of a node: it was restarted, or it lapsed */
void cluster_sessions_forget(cluster_sessions_t *t, unsigned slot);

/*
 * Groups the nodes into key classes from the sessions, and sets each
 * node's key_class, key_cross and session counts.  The reference class
 * is the one holding a node whose cookies open with the cluster's key;
 * without one, the largest if no other is as large.  Nodes that refused
 * sessions of the reference class are key_mismatch.  The refusals of a
 * node lapse "stale" ms after its last one; a node back from down
 * ("key_forget") starts again.
 */
void cluster_key_classes(cluster_sessions_t *t, cluster_node_t *const *nodes,
    size_t n, int64_t stale, int64_t now);


#endif /* CLUSTER_SESSION_H */
