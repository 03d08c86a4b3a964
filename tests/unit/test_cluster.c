/*
 * The core cluster object: one cluster's judgement driven with no load
 * balancer, its lock counted, its events read as a caller logs them.
 */

#include <stdlib.h>

#include "unit.h"
#include "cluster.h"
#include "cluster_db.h"


#define T0     1795606110000LL
#define NODES  3


typedef struct {
    int  held;
    int  taken;           /* times locked */
    int  nested;          /* locked while held: a bug */
} test_lock_t;


typedef struct {
    cluster_t            c;
    cluster_shared_t     shared;
    cluster_node_t       node[NODES];
    cluster_node_t      *nodes[NODES];
    cluster_sessions_t  *sessions;
    cluster_replay_t     replays[CLUSTER_SESSION_NODES];
    test_lock_t          lock;
    uint8_t              seal[CLUSTER_KEY_SEAL];
} test_cluster_t;


static void
test_lock(void *data)
{
    test_lock_t  *l = data;

    l->nested += l->held;
    l->held = 1;
    l->taken++;
}


static void
test_unlock(void *data)
{
    test_lock_t  *l = data;

    l->held = 0;
}


static void
test_cluster_make(test_cluster_t *tc, int sessions, int key)
{
    int      i;
    uint8_t  raw[CLUSTER_KEY_RAW];

    memset(tc, 0, sizeof(test_cluster_t));

    cluster_settings_default(&tc->c.settings);

    for (i = 0; i < NODES; i++) {
        cluster_node_init(&tc->node[i], T0);
        tc->nodes[i] = &tc->node[i];
    }

    tc->c.nodes = tc->nodes;
    tc->c.n = NODES;
    tc->c.generation = 1;
    tc->c.shared = &tc->shared;
    tc->c.lock.lock = test_lock;
    tc->c.lock.unlock = test_unlock;
    tc->c.lock.data = &tc->lock;

    if (sessions) {
        tc->sessions = calloc(1, cluster_sessions_size(64));
        cluster_sessions_init(tc->sessions, 64, NULL);
        tc->c.sessions = tc->sessions;
        tc->c.replays = tc->replays;
    }

    if (key) {
        memset(raw, 0x42, sizeof(raw));
        cluster_cookie_key(raw, tc->seal);
        tc->c.seal_key = tc->seal;
    }

    cluster_go_live(&tc->c);
    (void) cluster_attach(&tc->c, key ? "42424242" : "");
}


static void
test_cluster_free(test_cluster_t *tc)
{
    free(tc->sessions);
}


/* a v1 cookie of the test's key, or of another */
static size_t
test_seal(const test_cluster_t *tc, int other, const char *text,
    unsigned n, char *out, size_t size)
{
    uint8_t  raw[CLUSTER_KEY_RAW], key[CLUSTER_KEY_SEAL];
    uint8_t  nonce[CLUSTER_COOKIE_NONCE];

    if (other) {
        memset(raw, 0x17, sizeof(raw));
        cluster_cookie_key(raw, key);

    } else {
        memcpy(key, tc->seal, sizeof(key));
    }

    memset(nonce, (int) n, sizeof(nonce));

    return cluster_cookie_seal(key, "auth", 4, (const uint8_t *) text,
                               strlen(text), nonce, out, size);
}


static size_t
test_events(const cluster_events_t *ev, cluster_event_e what)
{
    size_t  i, n;

    for (i = 0, n = 0; i < ev->n; i++) {
        n += (ev->event[i].what == what);
    }

    return n;
}


static void
test_cluster_tries(void)
{
    int               i;
    test_cluster_t    tc;
    cluster_events_t  ev;

    test_cluster_make(&tc, 0, 0);

    /* the first answer makes the node up: a change, under the lock */
    tc.lock.taken = 0;
    memset(&ev, 0, sizeof(ev));
    cluster_try_done(&tc.c, 0, 1, 200, 5, T0 + 5, &ev);
    CHECK(tc.lock.taken == 1);
    CHECK(tc.node[0].state == CLUSTER_STATE_UP);
    CHECK(test_events(&ev, CLUSTER_EVENT_CHANGE) == 1);
    CHECK(ev.event[0].level == CLUSTER_LOG_NOTICE);

    /* a routine answer: counted, no lock */
    tc.lock.taken = 0;
    memset(&ev, 0, sizeof(ev));
    cluster_try_done(&tc.c, 0, 1, 200, 5, T0 + 10, &ev);
    CHECK(tc.lock.taken == 0);
    CHECK(tc.node[0].requests == 2);
    CHECK(tc.node[0].last_heartbeat == T0 + 10);
    CHECK(ev.n == 0);

    /* failures: one lock each; "fall" of them take the node out, logged */
    for (i = 0; i < 3; i++) {
        cluster_try_done(&tc.c, 0, 0, 502, 5, T0 + 20 + i, &ev);
    }

    CHECK(tc.lock.taken == 3);
    CHECK(tc.lock.nested == 0 && tc.lock.held == 0);
    CHECK(tc.node[0].state == CLUSTER_STATE_DOWN);
    CHECK(!tc.node[0].in_rotation);
    CHECK(test_events(&ev, CLUSTER_EVENT_CHANGE) >= 1);
    CHECK(ev.event[ev.n - 1].node == 0);
    CHECK(ev.event[ev.n - 1].level == CLUSTER_LOG_WARN);
    CHECK(tc.shared.dirty == 1);
    CHECK(tc.shared.panic == 0);

    /* every node down: panic, an alert; one back: calm */
    memset(&ev, 0, sizeof(ev));

    for (i = 0; i < 3; i++) {
        cluster_try_done(&tc.c, 1, 0, 0, 5, T0 + 30 + i, &ev);
        cluster_try_done(&tc.c, 2, 0, 0, 5, T0 + 30 + i, &ev);
    }

    CHECK(tc.shared.panic == 1);
    CHECK(test_events(&ev, CLUSTER_EVENT_PANIC) == 1);
    CHECK(ev.event[ev.n - 1].level == CLUSTER_LOG_ALERT);

    memset(&ev, 0, sizeof(ev));
    cluster_try_done(&tc.c, 2, 1, 200, 5, T0 + 40, &ev);
    cluster_try_done(&tc.c, 2, 1, 200, 5, T0 + 41, &ev);
    CHECK(tc.node[2].in_rotation);
    CHECK(tc.shared.panic == 0);
    CHECK(test_events(&ev, CLUSTER_EVENT_CALM) == 1);

    /* an older configuration records facts, never states */
    tc.c.generation = 0;
    memset(&ev, 0, sizeof(ev));

    for (i = 0; i < 3; i++) {
        cluster_try_done(&tc.c, 2, 0, 0, 5, T0 + 50 + i, &ev);
    }

    CHECK(tc.node[2].consecutive_failures == 3);
    CHECK(tc.node[2].in_rotation);
    CHECK(ev.n == 0);
    CHECK(!cluster_live(&tc.c));

    /* nor does it evaluate the cluster by time */
    tc.shared.next_evaluation = 0;
    tc.lock.taken = 0;
    cluster_evaluate(&tc.c, T0 + 60, &ev);
    CHECK(tc.lock.taken == 0);

    /* the live one evaluates once a second, not more */
    tc.c.generation = 1;
    cluster_evaluate(&tc.c, T0 + 60, &ev);
    CHECK(tc.lock.taken == 1);
    CHECK(tc.node[2].state == CLUSTER_STATE_DOWN);
    cluster_evaluate(&tc.c, T0 + 60 + CLUSTER_EVALUATE_EVERY - 1, &ev);
    CHECK(tc.lock.taken == 1);
    cluster_evaluate(&tc.c, T0 + 60 + CLUSTER_EVALUATE_EVERY, &ev);
    CHECK(tc.lock.taken == 2);

    /* a node the caller had no room for is never judged */
    tc.nodes[1] = NULL;
    cluster_try_done(&tc.c, 1, 0, 0, 5, T0 + 70, &ev);
    CHECK(cluster_trial_claim(&tc.c, 1, T0 + 70) == 0);

    test_cluster_free(&tc);
}


static void
test_cluster_events(void)
{
    size_t            i;
    test_cluster_t    tc;
    cluster_events_t  ev;
    cluster_node_t   *many[CLUSTER_EVENTS + 8], rec[CLUSTER_EVENTS + 8];

    test_cluster_make(&tc, 0, 0);

    /* more changes than room: the rest are counted */
    for (i = 0; i < CLUSTER_EVENTS + 8; i++) {
        cluster_node_init(&rec[i], T0);
        rec[i].last_heartbeat = T0;
        many[i] = &rec[i];
    }

    tc.c.nodes = many;
    tc.c.n = CLUSTER_EVENTS + 8;
    tc.c.settings.eject |= CLUSTER_FINDING_STALE;

    memset(&ev, 0, sizeof(ev));
    cluster_evaluate(&tc.c, T0 + tc.c.settings.stale + 1, &ev);
    CHECK(ev.n == CLUSTER_EVENTS);
    CHECK(ev.more == 8 + 1);
    CHECK(tc.shared.panic == 1);

    /* the panic is told, whatever the number of changes */
    CHECK(ev.event[CLUSTER_EVENTS - 1].what == CLUSTER_EVENT_PANIC);
    CHECK(test_events(&ev, CLUSTER_EVENT_CHANGE) == CLUSTER_EVENTS - 1);

    test_cluster_free(&tc);
}


static void
test_cluster_waiting(void)
{
    test_cluster_t    tc;
    cluster_events_t  ev;

    /* mandatory checks not yet passed: waiting, not panic */
    test_cluster_make(&tc, 0, 0);
    tc.c.settings.checks = 1;
    tc.c.settings.trials = 0;
    tc.c.settings.mandatory = 1;

    memset(&ev, 0, sizeof(ev));
    cluster_evaluate(&tc.c, T0 + 1, &ev);
    CHECK(tc.shared.panic == 1);
    CHECK(test_events(&ev, CLUSTER_EVENT_WAITING) == 1);
    CHECK(test_events(&ev, CLUSTER_EVENT_PANIC) == 0);

    test_cluster_free(&tc);
}


static void
test_cluster_checks(void)
{
    int64_t           claimed, t;
    test_cluster_t    tc;
    cluster_check_t   check;
    cluster_events_t  ev;

    test_cluster_make(&tc, 0, 0);
    tc.c.settings.checks = 1;
    tc.c.settings.trials = 0;
    tc.c.settings.interval = 10000;

    CHECK(cluster_check_every(&tc.c.settings) == 250);
    tc.c.settings.interval = 1000;
    CHECK(cluster_check_every(&tc.c.settings) == 100);
    tc.c.settings.interval = 100;
    CHECK(cluster_check_every(&tc.c.settings) == 50);
    tc.c.settings.checks = 0;
    CHECK(cluster_check_every(&tc.c.settings) == CLUSTER_EVALUATE_EVERY);
    tc.c.settings.checks = 1;
    tc.c.settings.interval = 10000;

    /* the first check is spread over a second, not claimed at once */
    claimed = 0;
    CHECK(cluster_check_claim(&tc.c, 0, T0, 700, &claimed) == 0);
    CHECK(tc.node[0].next_check == T0 + 700);
    CHECK(cluster_check_claim(&tc.c, 0, T0 + 699, 0, &claimed) == 0);

    /* due: one caller claims it, with a tenth of jitter either way */
    CHECK(cluster_check_claim(&tc.c, 0, T0 + 700, 0, &claimed) == 1);
    CHECK(claimed == T0 + 700);
    CHECK(tc.node[0].next_check == T0 + 700 + 10000 - 1000);
    t = tc.node[0].next_check;

    /* nobody else while it runs, until the claim lapses */
    CHECK(cluster_check_claim(&tc.c, 0, t, 0, &claimed) == 0);
    CHECK(cluster_check_claim(&tc.c, 0, T0 + 700 + 2 * 5000 + 1001, 1999,
                              &claimed) == 1);

    /* a clock that went back does not hold the checks off */
    tc.node[1].next_check = T0 + 2 * 10000;
    CHECK(cluster_check_claim(&tc.c, 1, T0, 0, &claimed) == 0);
    tc.node[1].next_check = T0 + 100 * 10000;
    CHECK(cluster_check_claim(&tc.c, 1, T0, 0, &claimed) == 1);

    /* its outcome: recorded, the claim ended, the fallback kept */
    memset(&check, 0, sizeof(check));
    check.ok = 1;
    check.status = 200;
    check.reason = "";

    tc.node[2].check_started = T0;
    memset(&ev, 0, sizeof(ev));
    cluster_check_done(&tc.c, 2, &check, 1, T0, T0 + 5, &ev);
    CHECK(tc.node[2].check_started == 0);
    CHECK(tc.node[2].health_fallback == 1);
    CHECK(tc.node[2].checks == 1);
    CHECK(tc.lock.held == 0 && tc.lock.nested == 0);

    /* an outcome of an older claim leaves a newer one alone */
    tc.node[2].check_started = T0 + 20000;
    cluster_check_done(&tc.c, 2, &check, 0, T0, T0 + 20001, &ev);
    CHECK(tc.node[2].check_started == T0 + 20000);

    /* failed checks take it down: "fall" of them */
    check.ok = 0;
    check.status = 0;
    check.reason = "connection refused";
    cluster_check_done(&tc.c, 1, &check, 0, 0, T0 + 30, &ev);
    cluster_check_done(&tc.c, 1, &check, 0, 0, T0 + 31, &ev);
    cluster_check_done(&tc.c, 1, &check, 0, 0, T0 + 32, &ev);
    CHECK(tc.node[1].state == CLUSTER_STATE_DOWN);
    CHECK(test_events(&ev, CLUSTER_EVENT_CHANGE) >= 1);

    test_cluster_free(&tc);
}


static void
test_cluster_answers(void)
{
    int                rc;
    char               good[512], bad[512], big[4096];
    size_t             glen, blen;
    unsigned           k;
    test_cluster_t     tc;
    cluster_answer_t   a;
    cluster_events_t   ev;
    cluster_request_t  r;

    test_cluster_make(&tc, 1, 1);

    glen = test_seal(&tc, 0, "{\"sub\":\"a\",\"exp\":9999999999}", 1,
                       good, sizeof(good));
    blen = test_seal(&tc, 1, "{\"sub\":\"b\"}", 2, bad, sizeof(bad));
    CHECK(glen > 0 && blen > 0);

    /* node 0 sets a cookie of the key: in sync; the session followed */
    cluster_answer_init(&a, 200);
    rc = cluster_answer_cookie(&tc.c, &a, "auth", 4, good, glen);
    CHECK(rc == CLUSTER_COOKIE_OPENED);
    CHECK(a.opened == 1 && a.n == 1);

    tc.lock.taken = 0;
    memset(&ev, 0, sizeof(ev));
    cluster_answer_done(&tc.c, 0, NULL, &a, T0 + 1, &ev);
    CHECK(tc.lock.taken == 1);
    CHECK(tc.node[0].key == CLUSTER_KEY_IN_SYNC);
    CHECK(tc.sessions->stored == 1);

    /* kept for the active check, for the other nodes */
    CHECK(tc.replays[tc.node[0].slot].len == 4 + 1 + glen);
    CHECK(memcmp(tc.replays[tc.node[0].slot].pair, "auth=", 5) == 0);

    /* node 1 sets two of another key: a mismatch, out of rotation */
    for (k = 0; k < 2; k++) {
        cluster_answer_init(&a, 200);
        blen = test_seal(&tc, 1, "{\"sub\":\"b\"}", 10 + k, bad,
                           sizeof(bad));
        CHECK(cluster_answer_cookie(&tc.c, &a, "auth", 4, bad, blen)
              == CLUSTER_COOKIE_FORGED);
        cluster_answer_done(&tc.c, 1, NULL, &a, T0 + 2 + k, &ev);
    }

    CHECK(tc.node[1].key == CLUSTER_KEY_MISMATCH);
    CHECK(!tc.node[1].in_rotation);
    CHECK(test_events(&ev, CLUSTER_EVENT_CHANGE) >= 1);

    /* a refused cookie outweighs one that opened in the same answer */
    cluster_answer_init(&a, 200);
    (void) cluster_answer_cookie(&tc.c, &a, "auth", 4, good, glen);
    (void) cluster_answer_cookie(&tc.c, &a, "auth", 4, bad, blen);
    CHECK(a.opened == 1 && a.refused == 1);
    cluster_answer_done(&tc.c, 2, NULL, &a, T0 + 5, &ev);
    CHECK(tc.node[2].cookies_opened == 1 && tc.node[2].cookies_refused == 1);
    CHECK(tc.node[2].key_refusals == 1);

    /* past CLUSTER_MINTED cookies in one answer, none more is opened */
    cluster_answer_init(&a, 200);

    for (k = 0; k < CLUSTER_MINTED; k++) {
        CHECK(cluster_answer_cookie(&tc.c, &a, "auth", 4, good, glen) >= 0);
    }

    CHECK(cluster_answer_cookie(&tc.c, &a, "auth", 4, bad, blen) == -1);
    CHECK(a.refused == 0 && a.n == CLUSTER_MINTED);

    /* a short value is a sign-out: opened, not followed */
    cluster_answer_init(&a, 200);
    (void) cluster_answer_cookie(&tc.c, &a, "auth", 4, "x", 1);
    CHECK(a.n == 0 && a.set == 1);

    /* a replayed pair too long to keep is not kept: the last one stays */
    CHECK(tc.replays[tc.node[2].slot].len == 4 + 1 + glen);
    memset(big, 'A', sizeof(big));
    cluster_answer_init(&a, 200);
    (void) cluster_answer_cookie(&tc.c, &a, "auth", 4, big,
                                 CLUSTER_REPLAY_MAX);
    CHECK(a.n == 1);
    cluster_answer_done(&tc.c, 2, NULL, &a, T0 + 6, &ev);
    CHECK(tc.replays[tc.node[2].slot].len == 4 + 1 + glen);

    /* a request with node 0's session, sent to sign in by node 2: lost */
    memset(&r, 0, sizeof(r));
    r.name = "auth";
    r.name_len = 4;
    r.value = good;
    r.value_len = glen;

    tc.lock.taken = 0;
    cluster_request_session(&tc.c, &r, NULL, T0 + 10);
    CHECK(tc.lock.taken == 1);
    CHECK(r.fingerprinted && r.known);
    CHECK(r.session.minted == tc.node[2].slot);  /* the last to set it */

    cluster_answer_init(&a, 302);
    CHECK(cluster_redirect(302) && cluster_redirect(303)
          && cluster_redirect(307) && !cluster_redirect(301));
    a.sign_in = cluster_sign_in(302, 1);
    CHECK(a.sign_in);
    CHECK(!cluster_sign_in(302, 0) && cluster_sign_in(401, 0)
          && !cluster_sign_in(200, 1));

    cluster_answer_done(&tc.c, 1, &r, &a, T0 + 11, &ev);
    CHECK(tc.node[1].lost_sessions == 1);
    CHECK(r.key_check == CLUSTER_KEY_CHECK_OK);
    CHECK(r.key_expires == 9999999999LL);

    /* a session past its "exp" sent to sign in is no loss */
    test_cluster_free(&tc);
    test_cluster_make(&tc, 1, 1);
    glen = test_seal(&tc, 0, "{\"exp\":1000}", 3, good, sizeof(good));

    memset(&r, 0, sizeof(r));
    r.name = "auth";
    r.name_len = 4;
    r.value = good;
    r.value_len = glen;

    cluster_answer_init(&a, 401);
    a.sign_in = 1;
    cluster_answer_done(&tc.c, 1, &r, &a, T0, &ev);
    CHECK(tc.node[1].lost_sessions == 0);
    CHECK(r.key_check == CLUSTER_KEY_CHECK_OK);

    /* an answer that sets a cookie is a sign-in, not an answer to it */
    cluster_answer_init(&a, 401);
    a.sign_in = 1;
    (void) cluster_answer_cookie(&tc.c, &a, "auth", 4, good, glen);
    r.key_expires = 9999999999LL;
    cluster_answer_done(&tc.c, 1, &r, &a, T0, &ev);
    CHECK(tc.node[1].lost_sessions == 0);

    test_cluster_free(&tc);
}


static void
test_cluster_requests(void)
{
    char               good[512], bad[512], other[512];
    char               big[CLUSTER_COPY_VALUE + 1];
    size_t             glen, blen;
    uint8_t            fp[CLUSTER_SESSION_FP];
    test_cluster_t     tc;
    cluster_copy_t    *copies;
    cluster_answer_t   a;
    cluster_request_t  r, r2;

    test_cluster_make(&tc, 1, 1);
    copies = calloc(CLUSTER_COPIES, sizeof(cluster_copy_t));

    glen = test_seal(&tc, 0, "{\"sub\":\"a\"}", 1, good, sizeof(good));
    blen = test_seal(&tc, 1, "{\"sub\":\"a\"}", 1, bad, sizeof(bad));

    cluster_answer_init(&a, 200);
    (void) cluster_answer_cookie(&tc.c, &a, "auth", 4, good, glen);
    cluster_answer_done(&tc.c, 0, NULL, &a, T0, NULL);

    /* the first request looks in the table; the next, in the copy */
    memset(&r, 0, sizeof(r));
    r.name = "auth";
    r.name_len = 4;
    r.value = good;
    r.value_len = glen;

    tc.lock.taken = 0;
    cluster_request_session(&tc.c, &r, copies, T0 + 1);
    CHECK(tc.lock.taken == 1 && r.known);

    memset(&r.session, 0, sizeof(r.session));
    r.known = 0;
    cluster_request_session(&tc.c, &r, copies, T0 + 2);
    CHECK(tc.lock.taken == 1 && r.known);
    CHECK(r.session.minted == tc.node[0].slot);

    /* its use is written at most once a second */
    cluster_request_session(&tc.c, &r, copies, T0 + 1001);
    CHECK(tc.lock.taken == 2);

    /* a change of the table ends every copy */
    tc.sessions->generation++;
    cluster_request_session(&tc.c, &r, copies, T0 + 1002);
    CHECK(tc.lock.taken == 3);

    /* the value the copy kept is compared, not hashed again */
    memcpy(fp, r.fp, sizeof(fp));
    tc.sessions->key[0] ^= 1;
    memset(r.fp, 0, sizeof(r.fp));
    cluster_request_session(&tc.c, &r, copies, T0 + 1003);
    CHECK(memcmp(r.fp, fp, sizeof(fp)) == 0);
    CHECK(tc.lock.taken == 3);

    /* another value is hashed: with the changed secret, another print */
    r2 = r;
    memcpy(other, good, glen);
    other[glen - 1] ^= 1;
    r2.value = other;
    cluster_request_session(&tc.c, &r2, copies, T0 + 1004);
    CHECK(memcmp(r2.fp, fp, sizeof(fp)) != 0);

    /* a value too long to keep is hashed every time */
    memset(big, 'x', sizeof(big));
    memset(&r2, 0, sizeof(r2));
    r2.name = "auth";
    r2.name_len = 4;
    r2.value = big;
    r2.value_len = sizeof(big);
    cluster_request_session(&tc.c, &r2, copies, T0 + 1005);
    memcpy(fp, r2.fp, sizeof(fp));
    tc.sessions->key[0] ^= 1;
    cluster_request_session(&tc.c, &r2, copies, T0 + 1006);
    CHECK(memcmp(r2.fp, fp, sizeof(fp)) != 0);
    tc.sessions->key[0] ^= 1;

    /* the key check opens a session once, then remembers */
    r.key_check = CLUSTER_KEY_CHECK_UNASKED;
    CHECK(cluster_request_key(&tc.c, &r, T0 + 1003) == CLUSTER_KEY_CHECK_OK);
    CHECK(cluster_request_key(&tc.c, &r, T0 + 1003) == CLUSTER_KEY_CHECK_OK);

    /* a cookie of another key: a mismatch, counted, not remembered */
    memset(&r, 0, sizeof(r));
    r.name = "auth";
    r.name_len = 4;
    r.value = bad;
    r.value_len = blen;
    cluster_request_session(&tc.c, &r, NULL, T0 + 1004);
    CHECK(!r.known);
    tc.lock.taken = 0;
    CHECK(cluster_request_key(&tc.c, &r, T0 + 1005)
          == CLUSTER_KEY_CHECK_MISMATCH);
    CHECK(tc.lock.taken == 0);
    CHECK(tc.shared.cookies_forged == 1);

    /* not a v1 cookie at all: no verdict of the key */
    memset(&r, 0, sizeof(r));
    r.name = "auth";
    r.name_len = 4;
    r.value = "not-a-cookie-of-the-scheme";
    r.value_len = strlen(r.value);
    CHECK(cluster_request_key(&tc.c, &r, T0) == CLUSTER_KEY_CHECK_NONE);
    CHECK(tc.shared.cookies_malformed == 1);

    /* no cookie, no key: none */
    memset(&r, 0, sizeof(r));
    CHECK(cluster_request_key(&tc.c, &r, T0) == CLUSTER_KEY_CHECK_NONE);
    CHECK(cluster_request_key(&tc.c, NULL, T0) == CLUSTER_KEY_CHECK_NONE);

    free(copies);
    test_cluster_free(&tc);
}


static void
test_cluster_replays(void)
{
    char              good[512], pair[CLUSTER_REPLAY_MAX];
    size_t            glen, len;
    uint8_t           fp[CLUSTER_SESSION_FP];
    test_cluster_t    tc;
    cluster_answer_t  a;
    cluster_events_t  ev;

    test_cluster_make(&tc, 1, 1);
    glen = test_seal(&tc, 0, "{\"sub\":\"a\"}", 1, good, sizeof(good));

    /* nothing set yet: nothing to replay */
    CHECK(cluster_replay_pick(&tc.c, 1, T0, pair, fp) == 0);

    cluster_answer_init(&a, 200);
    (void) cluster_answer_cookie(&tc.c, &a, "auth", 4, good, glen);
    cluster_answer_done(&tc.c, 0, NULL, &a, T0, NULL);

    /* node 0's session goes to node 1 once, never back to node 0 */
    len = cluster_replay_pick(&tc.c, 1, T0 + 1, pair, fp);
    CHECK(len == 5 + glen);
    CHECK(memcmp(pair + 5, good, glen) == 0);
    CHECK(cluster_replay_pick(&tc.c, 1, T0 + 2, pair, fp) == 0);
    CHECK(cluster_replay_pick(&tc.c, 0, T0 + 2, pair, fp) == 0);

    /* a node still down is sent none */
    tc.node[2].check_down = 1;
    CHECK(cluster_replay_pick(&tc.c, 2, T0 + 2, pair, fp) == 0);
    tc.node[2].check_down = 0;

    /* nor one older than "stale" */
    CHECK(cluster_replay_pick(&tc.c, 2, T0 + tc.c.settings.stale + 1, pair,
                              fp) == 0);

    /* what the answer says */
    CHECK(cluster_replay_verdict(302, 1) == 1);
    CHECK(cluster_replay_verdict(200, 0) == 0);
    CHECK(cluster_replay_verdict(302, 0) == -1);
    CHECK(cluster_replay_verdict(500, 0) == -1);

    /* node 1 refused it: counted against the pair */
    memset(&ev, 0, sizeof(ev));
    cluster_replay_done(&tc.c, 1, fp, 1, T0 + 3, &ev);
    CHECK(tc.sessions->refused[tc.node[0].slot][tc.node[1].slot] == 1);

    test_cluster_free(&tc);
}


static void
test_cluster_admin(void)
{
    size_t                    i;
    test_cluster_t            tc;
    cluster_act_t             act;
    cluster_events_t          ev;
    cluster_node_t            facts[NODES];
    cluster_action_t          acts[CLUSTER_ACTIONS_MAX];
    cluster_status_node_t     sn[NODES];
    cluster_status_cluster_t  out;

    test_cluster_make(&tc, 0, 0);

    /* each action: the node's admin state, the ring, a change logged */
    for (i = 0; i < CLUSTER_ACTIONS_MAX + 2; i++) {
        act.node = i % NODES;
        act.admin = (i % 2) ? CLUSTER_ADMIN_NONE : CLUSTER_ADMIN_DRAIN;
        act.name = "a node with a name longer than any action's room for it, "
                   "by far";
        act.name_len = strlen(act.name);
        act.by = "token from 127.0.0.1";

        memset(&ev, 0, sizeof(ev));
        cluster_act(&tc.c, &act, T0 + (int64_t) i, &ev);
    }

    CHECK(tc.shared.nactions == CLUSTER_ACTIONS_MAX + 2);
    CHECK(tc.node[0].admin == CLUSTER_ADMIN_NONE);
    CHECK(tc.node[(CLUSTER_ACTIONS_MAX + 1) % NODES].admin
          == CLUSTER_ADMIN_NONE);
    CHECK(tc.node[CLUSTER_ACTIONS_MAX % NODES].admin == CLUSTER_ADMIN_DRAIN);
    CHECK(tc.node[CLUSTER_ACTIONS_MAX % NODES].state
          == CLUSTER_STATE_DRAINED);
    CHECK(tc.shared.dirty == 1);

    /* the snapshot: newest action first, names cut to their room */
    memset(&out, 0, sizeof(out));
    memset(sn, 0, sizeof(sn));
    out.nodes = sn;
    out.n = NODES;
    tc.nodes[1] = NULL;

    tc.lock.taken = 0;
    cluster_snapshot(&tc.c, T0 + 100, &out, &ev);
    CHECK(tc.lock.taken == 1);
    CHECK(out.nactions == CLUSTER_ACTIONS_MAX);
    CHECK(out.actions[0].at == T0 + CLUSTER_ACTIONS_MAX + 1);
    CHECK(out.actions[CLUSTER_ACTIONS_MAX - 1].at == T0 + 2);
    CHECK(strlen(out.actions[0].node) == sizeof(out.actions[0].node) - 1);
    CHECK_STR(out.actions[0].by, "token from 127.0.0.1");
    CHECK(sn[0].tracked && !sn[1].tracked && sn[2].tracked);
    CHECK(sn[CLUSTER_ACTIONS_MAX % NODES].facts.admin == CLUSTER_ADMIN_DRAIN);
    CHECK(!out.cross_check);

    /* what a state file keeps: the nodes tracked, the actions oldest first */
    memset(facts, 0xee, sizeof(facts));
    tc.lock.taken = 0;
    CHECK(cluster_save_copy(&tc.c, facts, acts) == CLUSTER_ACTIONS_MAX);
    CHECK(tc.lock.taken == 1 && tc.shared.dirty == 0);
    CHECK(acts[0].at == T0 + 2);
    CHECK(acts[CLUSTER_ACTIONS_MAX - 1].at == T0 + CLUSTER_ACTIONS_MAX + 1);
    CHECK(facts[0].created == T0 && facts[2].created == T0);
    CHECK(facts[1].created != T0);         /* untracked: left as it was */

    /* and reads back into the ring */
    memset(&tc.shared, 0, sizeof(tc.shared));
    cluster_restore_action(&tc.c, &acts[0]);
    CHECK(tc.shared.nactions == 1 && tc.shared.actions[0].at == T0 + 2);

    test_cluster_free(&tc);
}


static void
test_cluster_attach(void)
{
    size_t          i;
    test_cluster_t  tc;
    cluster_node_t  rec[CLUSTER_SESSION_NODES + 2], *many[CLUSTER_SESSION_NODES
                                                          + 2];

    test_cluster_make(&tc, 1, 1);

    /* each node has its place in the table */
    CHECK(tc.node[0].slot == 0 && tc.node[1].slot == 1
          && tc.node[2].slot == 2);

    /* the verdicts of another key are forgotten */
    tc.node[1].key = CLUSTER_KEY_MISMATCH;
    (void) cluster_attach(&tc.c, "42424242");
    CHECK(tc.node[1].key == CLUSTER_KEY_MISMATCH);
    (void) cluster_attach(&tc.c, "0badf00d");
    CHECK(tc.node[1].key == CLUSTER_KEY_UNKNOWN);
    CHECK_STR(tc.shared.key_fingerprint, "0badf00d");

    /* no table now: what it showed goes */
    tc.node[1].key_cross = CLUSTER_KEY_MISMATCH;
    tc.node[1].key_class = 2;
    tc.c.sessions = NULL;
    (void) cluster_attach(&tc.c, "0badf00d");
    CHECK(tc.node[1].key_cross == CLUSTER_KEY_UNKNOWN);
    CHECK(tc.node[1].key_class == 0);
    tc.c.sessions = tc.sessions;

    /* more nodes than places: the rest are counted */
    for (i = 0; i < CLUSTER_SESSION_NODES + 2; i++) {
        cluster_node_init(&rec[i], T0);
        many[i] = &rec[i];
    }

    tc.c.nodes = many;
    tc.c.n = CLUSTER_SESSION_NODES + 2;
    CHECK(cluster_attach(&tc.c, "0badf00d") == 2 + 3);

    /* the live configuration: a newer one only */
    tc.c.generation = 5;
    cluster_go_live(&tc.c);
    CHECK(tc.shared.generation == 5 && cluster_live(&tc.c));
    tc.c.generation = 4;
    cluster_go_live(&tc.c);
    CHECK(tc.shared.generation == 5 && !cluster_live(&tc.c));

    test_cluster_free(&tc);
}


static void
test_cluster_history(void)
{
    int                i;
    char               words[2048];
    size_t             n, lost;
    uint32_t           upto;
    test_cluster_t     tc;
    cluster_act_t      act;
    cluster_history_t  h[CLUSTER_HISTORY_MAX];
    cluster_db_history_t  dh;

    static const char *const  names[NODES] = { "web1", "web2", "web3" };

    test_cluster_make(&tc, 0, 0);
    tc.c.names = names;

    /* a node down: its state change, with what its check said */
    strcpy(tc.node[1].check_reason, "connection refused");

    for (i = 0; i < 3; i++) {
        cluster_try_done(&tc.c, 1, 0, 0, 5, T0 + 10 + i, NULL);
    }

    n = cluster_history_take(&tc.c, h, &lost, &upto);
    CHECK(n >= 1 && lost == 0);
    CHECK(h[n - 1].kind == CLUSTER_HISTORY_STATE);
    CHECK_STR(h[n - 1].node, "web2");
    CHECK(h[n - 1].to == CLUSTER_STATE_DOWN && !h[n - 1].in_rotation);
    CHECK(h[n - 1].findings & CLUSTER_FINDING_DOWN);
    CHECK_STR(h[n - 1].reason, "connection refused");

    /* not written: taken again; written: not again */
    CHECK(cluster_history_take(&tc.c, h, &lost, &upto) == n);
    cluster_history_written(&tc.c, upto);
    CHECK(cluster_history_take(&tc.c, h, &lost, &upto) == 0);

    /* an action, with who took it */
    act.node = 0;
    act.admin = CLUSTER_ADMIN_DRAIN;
    act.name = "web1";
    act.name_len = 4;
    act.by = "alice from 10.0.0.1";
    cluster_act(&tc.c, &act, T0 + 20, NULL);

    n = cluster_history_take(&tc.c, h, &lost, &upto);
    CHECK(n == 1 || n == 2);
    CHECK(h[0].kind == CLUSTER_HISTORY_ADMIN && h[0].to == CLUSTER_ADMIN_DRAIN);
    CHECK_STR(h[0].by, "alice from 10.0.0.1");

    /* for the database: states and panics, not actions, in words */
    dh.cluster = "proget";
    dh.cluster_len = 6;
    dh.history = h;
    dh.n = n;
    n = cluster_db_history(words, sizeof(words), &dh, 1);
    CHECK(n < sizeof(words));
    words[n] = '\0';
    CHECK(strstr(words, "alice") == NULL);

    tc.node[2].check_reason[0] = '\0';
    memset(&h[0], 0, sizeof(h[0]));
    h[0].kind = CLUSTER_HISTORY_STATE;
    h[0].from = CLUSTER_STATE_UP;
    h[0].to = CLUSTER_STATE_DOWN;
    h[0].findings = CLUSTER_FINDING_DOWN | CLUSTER_FINDING_VERSION_SKEW;
    strcpy(h[0].node, "web\"3");
    strcpy(h[0].reason, "timed out");
    dh.n = 1;
    n = cluster_db_history(words, sizeof(words), &dh, 1);
    words[n] = '\0';
    CHECK(strstr(words, "\"n\":\"web\\\"3\",\"k\":\"state\","
                        "\"f\":\"up\",\"t\":\"down\","
                        "\"r\":\"down, version_skew, timed out\"")
          != NULL);

    /* more than the ring holds between two writes: counted as lost */
    for (i = 0; i < CLUSTER_HISTORY_MAX + 5; i++) {
        act.admin = (i % 2) ? CLUSTER_ADMIN_NONE : CLUSTER_ADMIN_DRAIN;
        cluster_act(&tc.c, &act, T0 + 100 + i, NULL);
    }

    n = cluster_history_take(&tc.c, h, &lost, &upto);
    CHECK(n == CLUSTER_HISTORY_MAX && lost >= 5);

    test_cluster_free(&tc);
}


static void
test_cluster_try_begin(void)
{
    test_cluster_t  tc;
    cluster_try_t   t;

    test_cluster_make(&tc, 1, 0);

    tc.node[1].key_class = 2;
    cluster_try_begin(&tc.c, 2, 1, &t);
    CHECK(t.pass == CLUSTER_PASS_CLASS && t.slow_start && !t.panic);

    tc.node[1].in_rotation = 0;
    tc.shared.panic = 1;
    cluster_try_begin(&tc.c, 2, 0, &t);
    CHECK(t.pass == CLUSTER_PASS_ROTATION && !t.slow_start && t.panic);

    test_cluster_free(&tc);
}


void
test_cluster(void)
{
    test_cluster_tries();
    test_cluster_events();
    test_cluster_waiting();
    test_cluster_checks();
    test_cluster_answers();
    test_cluster_requests();
    test_cluster_replays();
    test_cluster_admin();
    test_cluster_attach();
    test_cluster_try_begin();
    test_cluster_history();
}
