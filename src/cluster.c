/*
 * ngx_cluster_module: the whole judgement of one cluster.
 */

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "cluster.h"


static void cluster_evaluate_all(cluster_t *c, int64_t now,
    cluster_events_t *ev);
static void cluster_evaluate_node(cluster_t *c, size_t i, int64_t now,
    cluster_events_t *ev);
static void cluster_update_panic(cluster_t *c, int64_t now,
    cluster_events_t *ev);
static void cluster_event(cluster_events_t *ev, cluster_event_e what,
    cluster_log_level_e level, size_t node, const cluster_change_t *change);
static int cluster_open(const cluster_t *c, const char *name, size_t name_len,
    const char *value, size_t value_len, int64_t *expires);
static void cluster_keep_replay(cluster_t *c, unsigned slot,
    const cluster_answer_t *a, int64_t now);
static int cluster_act_do(cluster_t *c, const cluster_act_t *act,
    int64_t at, int64_t now, int here, cluster_events_t *ev);
static cluster_history_t *cluster_history_add(cluster_t *c,
    cluster_history_e kind, size_t node, int64_t now);
static void cluster_history_change(cluster_t *c, size_t i,
    const cluster_change_t *change, int64_t now);


#define cluster_lock(c)    (c)->lock.lock((c)->lock.data)
#define cluster_unlock(c)  (c)->lock.unlock((c)->lock.data)


static inline uint64_t
cluster_load64(const uint64_t *p)
{
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(p, __ATOMIC_RELAXED);
#else
    return *(volatile const uint64_t *) p;
#endif
}


static inline uint32_t
cluster_load32(const uint32_t *p)
{
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(p, __ATOMIC_RELAXED);
#else
    return *(volatile const uint32_t *) p;
#endif
}


static inline int64_t
cluster_load_time(const int64_t *p)
{
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(p, __ATOMIC_RELAXED);
#else
    return *(volatile const int64_t *) p;
#endif
}


static inline void
cluster_count(uint64_t *p)
{
#if defined(__GNUC__) || defined(__clang__)
    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
#else
    (*p)++;
#endif
}


int
cluster_live(const cluster_t *c)
{
    return c->generation == cluster_load64(&c->shared->generation);
}


void
cluster_go_live(cluster_t *c)
{
    cluster_lock(c);

    /* a reload that failed started nobody and changes nothing */
    if (c->generation > c->shared->generation) {
        c->shared->generation = c->generation;
        c->shared->next_evaluation = 0;
    }

    cluster_unlock(c);
}


size_t
cluster_attach(cluster_t *c, const char *key_fingerprint)
{
    size_t           i, unplaced;
    cluster_node_t  *node;

    unplaced = 0;

    cluster_lock(c);

    if (strncmp(c->shared->key_fingerprint, key_fingerprint,
                sizeof(c->shared->key_fingerprint))
        != 0)
    {
        /* another cluster key: the verdicts of the old one say nothing */
        for (i = 0; i < c->n; i++) {
            if (c->nodes[i]) {
                cluster_node_key_forget(c->nodes[i]);
            }
        }

        strncpy(c->shared->key_fingerprint, key_fingerprint,
                sizeof(c->shared->key_fingerprint) - 1);
        c->shared->key_fingerprint[sizeof(c->shared->key_fingerprint) - 1]
            = '\0';
    }

    for (i = 0; i < c->n; i++) {
        node = c->nodes[i];

        if (node == NULL) {
            continue;
        }

        if (c->sessions == NULL) {
            /* no sessions followed now: what they showed goes with them */
            node->key_cross = CLUSTER_KEY_UNKNOWN;
            node->key_class = 0;
            continue;
        }

        if (node->slot != CLUSTER_SLOT_NONE) {
            continue;
        }

        if (c->sessions->nslots < CLUSTER_SESSION_NODES) {
            node->slot = (uint8_t) c->sessions->nslots++;

        } else {
            unplaced++;
        }
    }

    cluster_unlock(c);

    return unplaced;
}


void
cluster_evaluate(cluster_t *c, int64_t now, cluster_events_t *ev)
{
    if (now < cluster_load_time(&c->shared->next_evaluation)
        || !cluster_live(c))
    {
        return;
    }

    cluster_lock(c);

    /* another caller may have been quicker */
    if (now >= c->shared->next_evaluation) {
        cluster_evaluate_all(c, now, ev);
    }

    cluster_unlock(c);
}


/*
 * Under the lock.  Only the live configuration judges: callers of an
 * older one, still finishing their requests after a reload, record facts
 * but never states, which they would judge by old settings.
 */
static void
cluster_evaluate_all(cluster_t *c, int64_t now, cluster_events_t *ev)
{
    size_t            i;
    cluster_change_t  change;

    if (!cluster_live(c)) {
        return;
    }

    c->shared->next_evaluation = now + CLUSTER_EVALUATE_EVERY;

    /* first what the nodes say together, then each node by it */

    cluster_version_sync(c->nodes, c->n, c->shared->release,
                         sizeof(c->shared->release));

    if (c->sessions) {
        cluster_key_classes(c->sessions, c->nodes, c->n, c->settings.stale,
                            now);
    }

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i]
            && cluster_node_evaluate(c->nodes[i], &c->settings, now, &change))
        {
            cluster_event(ev, CLUSTER_EVENT_CHANGE,
                          cluster_change_level(&change), i, &change);
            cluster_history_change(c, i, &change, now);

            /* a state changed: keep it for a restart */
            c->shared->dirty = 1;
        }
    }

    cluster_update_panic(c, now, ev);
}


/* under the lock: one node, after a new fact about it */
static void
cluster_evaluate_node(cluster_t *c, size_t i, int64_t now,
    cluster_events_t *ev)
{
    cluster_change_t  change;

    if (!cluster_live(c)
        || !cluster_node_evaluate(c->nodes[i], &c->settings, now, &change))
    {
        return;
    }

    cluster_event(ev, CLUSTER_EVENT_CHANGE, cluster_change_level(&change), i,
                  &change);
    cluster_history_change(c, i, &change, now);

    c->shared->dirty = 1;

    if (change.old_in_rotation != change.new_in_rotation) {
        cluster_update_panic(c, now, ev);
    }
}


static void
cluster_update_panic(cluster_t *c, int64_t now, cluster_events_t *ev)
{
    size_t              i;
    uint32_t            panic, out;
    cluster_history_t  *h;

    /* the balancer leaves a clear cluster's tries to the method alone */
    c->shared->clear = (uint32_t) cluster_pick_clear(c->nodes, c->n,
                                                     &c->settings, now);

    panic = (uint32_t) cluster_panic(c->nodes, c->n);

    if (panic == c->shared->panic) {
        return;
    }

    c->shared->panic = panic;

    h = cluster_history_add(c, CLUSTER_HISTORY_PANIC, (size_t) -1, now);
    h->from = (uint8_t) !panic;
    h->to = (uint8_t) panic;

    if (!panic) {
        cluster_event(ev, CLUSTER_EVENT_CALM, CLUSTER_LOG_NOTICE, 0, NULL);
        return;
    }

    out = ~CLUSTER_FINDING_UNCHECKED & cluster_settings_out(&c->settings);

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i] && (c->nodes[i]->findings & out)) {
            cluster_event(ev, CLUSTER_EVENT_PANIC, CLUSTER_LOG_ALERT, 0,
                          NULL);
            return;
        }
    }

    /* only "mandatory" checks not yet passed: a start, not a fault */
    cluster_event(ev, CLUSTER_EVENT_WAITING, CLUSTER_LOG_NOTICE, 0, NULL);
}


static void
cluster_event(cluster_events_t *ev, cluster_event_e what,
    cluster_log_level_e level, size_t node, const cluster_change_t *change)
{
    cluster_event_t  *e;

    if (ev == NULL) {
        return;
    }

    /* the last place is kept for what befalls the whole cluster */

    if (ev->n == CLUSTER_EVENTS
        || (ev->n == CLUSTER_EVENTS - 1 && what == CLUSTER_EVENT_CHANGE))
    {
        ev->more++;
        return;
    }

    e = &ev->event[ev->n++];

    e->what = (uint8_t) what;
    e->level = (uint8_t) level;
    e->node = (uint32_t) node;

    if (change) {
        e->change = *change;

    } else {
        memset(&e->change, 0, sizeof(cluster_change_t));
    }
}


void
cluster_try_done(cluster_t *c, size_t i, int ok, unsigned status,
    unsigned response_ms, int64_t now, cluster_events_t *ev)
{
    cluster_node_t  *node;

    node = c->nodes[i];

    if (node == NULL) {
        return;
    }

    if (ok && cluster_node_routine(node, &c->settings)) {
        /*
         * An answer of a node that is up and had no failure changes
         * nothing the lock guards, only the heartbeat and the counts,
         * each a word written alone.
         */
        cluster_node_count_request(node);
        node->last_heartbeat = now;
        node->last_status = status;
        node->last_response_ms = response_ms;
        return;
    }

    cluster_lock(c);

    cluster_node_response(node, &c->settings, ok, status, response_ms, now);
    cluster_evaluate_node(c, i, now, ev);

    cluster_unlock(c);
}


int
cluster_trial_claim(cluster_t *c, size_t i, int64_t now)
{
    int  claimed;

    if (c->nodes[i] == NULL) {
        return 0;
    }

    cluster_lock(c);
    claimed = cluster_pick_claim_trial(c->nodes[i], &c->settings, now);
    cluster_unlock(c);

    return claimed;
}


void
cluster_try_begin(const cluster_t *c, unsigned key_class, int slow_start,
    cluster_try_t *t)
{
    t->panic = cluster_load32(&c->shared->panic) != 0;
    t->slow_start = slow_start ? 1 : 0;
    t->key_class = (uint8_t) key_class;
    t->pass = cluster_pick_first(c->nodes, c->n, key_class);
}


int64_t
cluster_check_every(const cluster_settings_t *s)
{
    int64_t  every;

    if (!s->checks) {
        return CLUSTER_EVALUATE_EVERY;
    }

    /* often enough that a check is late by a tenth of an interval */
    every = s->interval / 10;

    return every < 50 ? 50 : (every > 250 ? 250 : every);
}


int
cluster_check_claim(cluster_t *c, size_t i, int64_t now,
    unsigned long chance, int64_t *claimed)
{
    int              rc;
    int64_t          interval, jitter, lapse, spread;
    cluster_node_t  *node;

    node = c->nodes[i];
    interval = c->settings.interval;

    if (node == NULL || !cluster_live(c)) {
        return 0;
    }

    spread = cluster_load_time(&node->next_check);

    if (now < spread && spread <= now + 2 * interval) {
        /* not due, and no clock that went back: no lock */
        return 0;
    }

    /* a claim whose caller died lapses, and another takes the node on */
    lapse = 2 * c->settings.timeout + 1000;

    rc = 0;

    cluster_lock(c);

    /*
     * The times are the wall clock's, shared by every caller; a clock that
     * went back must not hold the checks off until it catches up.
     */

    if (node->next_check > now + 2 * interval) {
        node->next_check = now;
    }

    if (node->check_started > now) {
        node->check_started = 0;
    }

    if (node->next_check == 0) {
        /* the first checks spread over a second, not all at once */
        spread = interval < 1000 ? interval : 1000;
        node->next_check = now + (int64_t) (chance % (unsigned long) spread);

    } else if (now >= node->next_check
               && (node->check_started == 0
                   || now - node->check_started > lapse))
    {
        /* a tenth of jitter either way, so nodes drift out of lockstep */
        jitter = (interval / 5)
                 ? (int64_t) (chance % (unsigned long) (interval / 5))
                   - interval / 10
                 : 0;

        node->next_check = now + interval + jitter;
        node->check_started = now;
        *claimed = now;
        rc = 1;
    }

    cluster_unlock(c);

    return rc;
}


void
cluster_check_done(cluster_t *c, size_t i, const cluster_check_t *check,
    int fell_back, int64_t claimed, int64_t now, cluster_events_t *ev)
{
    int              resync;
    cluster_node_t  *node;

    node = c->nodes[i];

    if (node == NULL) {
        return;
    }

    cluster_lock(c);

    resync = cluster_node_check(node, &c->settings, check, now);

    if (node->check_started == claimed) {
        /* a check that outlived its claim leaves the new claim alone */
        node->check_started = 0;
    }

    if (fell_back && check->ok) {
        node->health_fallback = 1;
    }

    if (resync) {
        /* a release changed: the whole cluster's sync may have */
        cluster_evaluate_all(c, now, ev);

    } else {
        cluster_evaluate_node(c, i, now, ev);
    }

    cluster_unlock(c);
}


size_t
cluster_replay_pick(cluster_t *c, size_t i, int64_t now,
    char pair[CLUSTER_REPLAY_MAX], uint8_t fp[CLUSTER_SESSION_FP])
{
    size_t              len;
    unsigned            k, slot;
    cluster_node_t     *node;
    cluster_replay_t   *rp;
    cluster_session_t  *s;

    node = c->nodes[i];

    if (c->sessions == NULL || c->replays == NULL || node == NULL
        || node->slot >= CLUSTER_SESSION_NODES || node->check_down)
    {
        /* a node still down would forget what it said once it is up */
        return 0;
    }

    len = 0;

    cluster_lock(c);

    /* each node's last session in turn, starting elsewhere each time */

    for (k = 0; k < CLUSTER_SESSION_NODES; k++) {
        slot = (unsigned) ((node->checks + k) % CLUSTER_SESSION_NODES);
        rp = &c->replays[slot];

        if (slot == node->slot || rp->at == 0 || now < rp->at
            || now - rp->at > c->settings.stale
            || rp->len > CLUSTER_REPLAY_MAX)
        {
            continue;
        }

        s = cluster_session_find(c->sessions, rp->fp);

        if (s == NULL || s->minted != slot
            || !cluster_session_replay(s, node->slot, now,
                                       c->settings.stale))
        {
            /* answered, or sent once already: a session goes once a node */
            continue;
        }

        memcpy(pair, rp->pair, rp->len);
        memcpy(fp, rp->fp, CLUSTER_SESSION_FP);
        len = rp->len;
        break;
    }

    cluster_unlock(c);

    return len;
}


int
cluster_replay_verdict(unsigned status, int sign_in)
{
    if (sign_in) {
        return 1;
    }

    /* another redirect may be a sign-in of another form: it says nothing */
    return (status >= 200 && status < 300) ? 0 : -1;
}


void
cluster_replay_done(cluster_t *c, size_t i,
    const uint8_t fp[CLUSTER_SESSION_FP], int sign_in, int64_t now,
    cluster_events_t *ev)
{
    int                 changed;
    cluster_node_t     *node;
    cluster_session_t  *s;

    node = c->nodes[i];

    if (node == NULL || c->sessions == NULL) {
        return;
    }

    cluster_lock(c);

    s = cluster_session_find(c->sessions, fp);

    /* still evidence: it may have expired meanwhile */

    changed = s
              && cluster_session_news(s, node->slot, sign_in, now,
                                      c->settings.stale)
              && cluster_session_answer(c->sessions, s, node->slot, sign_in,
                                        now);

    if (changed && sign_in) {
        cluster_evaluate_all(c, now, ev);
    }

    cluster_unlock(c);
}


int
cluster_redirect(unsigned status)
{
    return status == 302 || status == 303 || status == 307;
}


int
cluster_sign_in(unsigned status, int location_matched)
{
    return status == 401 || (cluster_redirect(status) && location_matched);
}


/*
 * A copy's place, by a cookie value's length and its ends: the copy holds
 * the value, so a value that lands on another's place only displaces it.
 */
static size_t
cluster_copy_slot(const char *value, size_t len)
{
    uint64_t  head, tail, h;

    memcpy(&head, value, sizeof(head));
    memcpy(&tail, value + len - sizeof(tail), sizeof(tail));

    h = (head ^ (tail * 0x9e3779b97f4a7c15ULL) ^ len) * 0xff51afd7ed558ccdULL;

    return (size_t) (h >> 32) % CLUSTER_COPIES;
}


void
cluster_request_session(cluster_t *c, cluster_request_t *r,
    cluster_copy_t *copies, int64_t now)
{
    int                  same;
    cluster_copy_t      *cp;
    cluster_session_t   *s;
    cluster_sessions_t  *t;

    t = c->sessions;

    if (t == NULL || r->value == NULL || r->value_len < CLUSTER_COOKIE_MIN) {
        return;
    }

    cp = copies ? &copies[cluster_copy_slot(r->value, r->value_len)] : NULL;

    same = cp && cp->used && cp->value_len == r->value_len
           && memcmp(cp->value, r->value, r->value_len) == 0;

    if (same) {
        memcpy(r->fp, cp->fp, CLUSTER_SESSION_FP);

    } else {
        cluster_session_fingerprint(t, r->value, r->value_len, r->fp);
    }

    r->fingerprinted = 1;

    if (cp && cp->used && cp->generation == cluster_load64(&t->generation)
        && (same || memcmp(cp->fp, r->fp, CLUSTER_SESSION_FP) == 0)
        && (!cp->known || now - cp->seen < 1000))
    {
        /* the copy holds: no lock */
        if (cp->known) {
            r->session = cp->session;
            r->known = 1;
            r->key_class = cp->key_class;
        }

        return;
    }

    cluster_lock(c);

    s = cluster_session_find(t, r->fp);

    if (s) {
        r->session = *s;
        r->known = 1;

        /* a session in use is not displaced by newer ones */
        s->seen = now;

        if (s->minted < CLUSTER_SESSION_NODES) {
            r->key_class = t->class_of[s->minted];
        }
    }

    if (cp) {
        cp->generation = t->generation;
    }

    cluster_unlock(c);

    if (cp == NULL) {
        return;
    }

    cp->seen = now;
    cp->session = r->session;
    cp->session.seen = now;
    cp->key_class = r->key_class;
    cp->known = r->known;
    cp->used = 1;
    memcpy(cp->fp, r->fp, CLUSTER_SESSION_FP);

    if (!same) {
        /* the value kept, or none: a copy never holds another's value */
        cp->value_len = (r->value_len <= CLUSTER_COPY_VALUE)
                        ? (uint16_t) r->value_len : 0;
        memcpy(cp->value, r->value, cp->value_len);
    }
}


cluster_key_check_e
cluster_request_key(cluster_t *c, cluster_request_t *r, int64_t now)
{
    int                 rc;
    int64_t             expires;
    cluster_session_t  *s;

    if (c->seal_key == NULL || r == NULL || r->value == NULL) {
        return CLUSTER_KEY_CHECK_NONE;
    }

    if (r->key_check != CLUSTER_KEY_CHECK_UNASKED) {
        return (cluster_key_check_e) r->key_check;
    }

    if (r->known && r->session.verdict) {
        /* remembered, as the table had it when the node was chosen */
        rc = r->session.verdict - 1;
        r->key_expires = r->session.expires;

    } else {
        expires = 0;
        rc = cluster_open(c, r->name, r->name_len, r->value, r->value_len,
                          &expires);
        r->key_expires = expires;

        if (c->sessions && r->fingerprinted
            && (r->known || rc == CLUSTER_COOKIE_OPENED))
        {
            cluster_lock(c);

            s = cluster_session_add(c->sessions, r->fp, now);
            s->verdict = (uint8_t) (rc + 1);
            s->expires = expires;

            cluster_unlock(c);
        }
    }

    if (rc == CLUSTER_COOKIE_FORGED) {
        cluster_count(&c->shared->cookies_forged);

    } else if (rc == CLUSTER_COOKIE_MALFORMED) {
        cluster_count(&c->shared->cookies_malformed);
    }

    r->opened = (uint8_t) rc;

    /* a cookie of another format says nothing of the key */

    r->key_check = (rc == CLUSTER_COOKIE_OPENED) ? CLUSTER_KEY_CHECK_OK
                   : (rc == CLUSTER_COOKIE_FORGED) ? CLUSTER_KEY_CHECK_MISMATCH
                   : CLUSTER_KEY_CHECK_NONE;

    return (cluster_key_check_e) r->key_check;
}


/* a cookie opened with the cluster's key, its contents kept nowhere */
static int
cluster_open(const cluster_t *c, const char *name, size_t name_len,
    const char *value, size_t value_len, int64_t *expires)
{
    size_t               len;
    uint8_t              text[CLUSTER_COOKIE_MAX];
    cluster_cookie_rc_e  rc;

    rc = cluster_cookie_open(c->seal_key, name, name_len, value, value_len,
                             text, sizeof(text), &len);

    if (rc == CLUSTER_COOKIE_OPENED) {
        /* the session's end, "exp" of the plaintext; 0 when not said */
        *expires = cluster_session_expires(text, len);
    }

    sodium_memzero(text, sizeof(text));

    return (int) rc;
}


void
cluster_answer_init(cluster_answer_t *a, unsigned status)
{
    memset(a, 0, sizeof(cluster_answer_t));
    a->status = status;
}


int
cluster_answer_cookie(const cluster_t *c, cluster_answer_t *a,
    const char *name, size_t name_len, const char *value, size_t value_len)
{
    int      rc;
    int64_t  expires;

    if (++a->set > CLUSTER_MINTED) {
        /* a node sets one or two; past a few, none is opened or kept */
        return -1;
    }

    rc = -1;
    expires = 0;

    if (c->seal_key) {
        rc = cluster_open(c, name, name_len, value, value_len, &expires);

        if (rc == CLUSTER_COOKIE_OPENED) {
            a->opened++;

        } else if (rc == CLUSTER_COOKIE_FORGED) {
            a->refused++;
        }
    }

    /* a session to follow; a short value is a sign-out clearing it */

    if (c->sessions && value_len >= CLUSTER_COOKIE_MIN) {

        if (a->n == 0) {
            /* the one the active check may replay to the others */
            a->replay_name = name;
            a->replay_name_len = name_len;
            a->replay_value = value;
            a->replay_value_len = value_len;
        }

        cluster_session_fingerprint(c->sessions, value, value_len,
                                    a->fp[a->n]);
        a->verdict[a->n] = (rc >= 0) ? (uint8_t) (rc + 1) : 0;
        a->expires[a->n] = expires;
        a->n++;
    }

    return rc;
}


void
cluster_answer_done(cluster_t *c, size_t i, cluster_request_t *r,
    const cluster_answer_t *a, int64_t now, cluster_events_t *ev)
{
    int                 answered, lost, changed;
    unsigned            k;
    cluster_node_t     *node;
    cluster_session_t  *s;

    node = c->nodes[i];

    if (node == NULL) {
        return;
    }

    /* an answer to a session, not a sign-in or a sign-out that sets one */

    answered = a->set == 0
               && (a->sign_in || (a->status >= 200 && a->status < 400));

    /* a valid session sent to sign in again; not one that ended */

    lost = a->sign_in && answered
           && cluster_request_key(c, r, now) == CLUSTER_KEY_CHECK_OK
           && r->key_expires > now / 1000;

    /* evidence the session's record does not hold yet */

    answered = answered && r && r->known && c->sessions
               && cluster_session_news(&r->session, node->slot, a->sign_in,
                                       now, c->settings.stale);

    if (!(a->opened || a->refused || lost || a->n || answered)) {
        return;
    }

    changed = 0;

    cluster_lock(c);

    /* a refused cookie outweighs any that opened: it comes last */

    if (a->opened) {
        cluster_node_key_verdict(node, 1, now);
    }

    if (a->refused) {
        cluster_node_key_verdict(node, 0, now);
    }

    node->lost_sessions += (uint64_t) lost;

    for (k = 0; k < a->n && c->sessions; k++) {
        s = cluster_session_add(c->sessions, a->fp[k], now);
        s->minted = node->slot;
        s->verdict = a->verdict[k];
        s->expires = a->expires[k];
    }

    if (a->n && c->replays && cluster_live(c)
        && node->slot < CLUSTER_SESSION_NODES)
    {
        cluster_keep_replay(c, node->slot, a, now);
    }

    if (answered) {
        s = cluster_session_find(c->sessions, r->fp);

        if (s) {
            changed = cluster_session_answer(c->sessions, s, node->slot,
                                             a->sign_in, now);
        }
    }

    if (changed && a->sign_in) {
        /* a refusal may change a verdict now; service waits for the round */
        cluster_evaluate_all(c, now, ev);

    } else if (a->opened || a->refused || lost) {
        cluster_evaluate_node(c, i, now, ev);
    }

    cluster_unlock(c);
}


/* under the lock: the node's newest session, for the active key check */
static void
cluster_keep_replay(cluster_t *c, unsigned slot, const cluster_answer_t *a,
    int64_t now)
{
    cluster_replay_t  *rp;

    if (a->replay_name_len + 1 + a->replay_value_len > CLUSTER_REPLAY_MAX) {
        return;
    }

    rp = &c->replays[slot];

    sodium_memzero(rp->pair, sizeof(rp->pair));

    memcpy(rp->pair, a->replay_name, a->replay_name_len);
    rp->pair[a->replay_name_len] = '=';
    memcpy(rp->pair + a->replay_name_len + 1, a->replay_value,
           a->replay_value_len);

    rp->len = (uint16_t) (a->replay_name_len + 1 + a->replay_value_len);
    memcpy(rp->fp, a->fp[0], CLUSTER_SESSION_FP);
    rp->at = now;
}


void
cluster_act(cluster_t *c, const cluster_act_t *act, int64_t now,
    cluster_events_t *ev)
{
    /* an operator's word here holds at once, whatever came before */
    (void) cluster_act_do(c, act, now, now, 1, ev);
}


int
cluster_act_at(cluster_t *c, const cluster_act_t *act, int64_t at,
    int64_t now, cluster_events_t *ev)
{
    return cluster_act_do(c, act, at, now, 0, ev);
}


static int
cluster_act_do(cluster_t *c, const cluster_act_t *act, int64_t at,
    int64_t now, int here, cluster_events_t *ev)
{
    size_t              len;
    cluster_node_t     *node;
    cluster_action_t   *a;
    cluster_history_t  *h;

    node = c->nodes[act->node];

    if (node == NULL) {
        return 0;
    }

    cluster_lock(c);

    if (!here && at <= node->admin_at) {
        /* overtaken by a later word, or this one come back */
        cluster_unlock(c);
        return 0;
    }

    h = cluster_history_add(c, CLUSTER_HISTORY_ADMIN, act->node, now);
    h->at = at;
    h->from = node->admin;
    h->to = (uint8_t) act->admin;
    h->in_rotation = node->in_rotation;
    h->findings = node->findings;

    len = strlen(act->by);
    len = len < sizeof(h->by) - 1 ? len : sizeof(h->by) - 1;
    memcpy(h->by, act->by, len);
    h->by[len] = '\0';

    node->admin = (uint8_t) act->admin;
    node->admin_at = at;
    c->shared->dirty = 1;

    a = &c->shared->actions[c->shared->nactions++ % CLUSTER_ACTIONS_MAX];

    a->at = at;
    a->admin = (uint8_t) act->admin;

    len = act->name_len < sizeof(a->node) - 1 ? act->name_len
                                               : sizeof(a->node) - 1;
    memcpy(a->node, act->name, len);
    a->node[len] = '\0';

    strncpy(a->by, act->by, sizeof(a->by) - 1);
    a->by[sizeof(a->by) - 1] = '\0';

    cluster_evaluate_node(c, act->node, now, ev);

    cluster_unlock(c);

    return 1;
}


int
cluster_facts_adopt(cluster_t *c, size_t i, uint32_t findings,
    const char *release, int64_t at, int64_t now, cluster_events_t *ev)
{
    int              changed;
    size_t           len;
    cluster_node_t  *node;

    node = c->nodes[i];

    if (node == NULL || c->settings.checks || at > now) {
        /* its own checks judge it */
        return 0;
    }

    changed = 0;

    cluster_lock(c);

    if ((findings & CLUSTER_FINDING_SERVICE_DOWN) && at > node->shared_at) {
        node->shared_findings = CLUSTER_FINDING_SERVICE_DOWN;
        node->shared_at = at;
        changed = 1;
    }

    len = strlen(release);

    if ((node->last_check == 0 || node->release_shared)
        && len && len < sizeof(node->health.release)
        && strcmp(release, node->health.release) != 0)
    {
        memcpy(node->health.release, release, len + 1);
        node->release_shared = 1;
        changed = 1;
    }

    if (changed) {
        /* a release may change the cluster's: all of it again */
        cluster_evaluate_all(c, now, ev);
    }

    cluster_unlock(c);

    return changed;
}


int
cluster_key_adopt(cluster_t *c, size_t i, cluster_key_e key, int64_t since,
    const char *by, int64_t now, cluster_events_t *ev)
{
    int              changed;
    size_t           len;
    cluster_node_t  *node;

    node = c->nodes[i];

    if (node == NULL || key == CLUSTER_KEY_UNKNOWN || since > now) {
        return 0;
    }

    changed = 0;

    cluster_lock(c);

    if (since > node->key_since && key != node->key) {
        node->key = (uint8_t) key;
        node->key_since = since;
        node->key_refusals = (key == CLUSTER_KEY_MISMATCH) ? 2 : 0;

        len = strlen(by);
        len = len < sizeof(node->key_by) - 1 ? len : sizeof(node->key_by) - 1;
        memcpy(node->key_by, by, len);
        node->key_by[len] = '\0';

        cluster_evaluate_node(c, i, now, ev);
        changed = 1;
    }

    cluster_unlock(c);

    return changed;
}


/* under the lock: a new entry of the history, the oldest displaced */
static cluster_history_t *
cluster_history_add(cluster_t *c, cluster_history_e kind, size_t node,
    int64_t now)
{
    size_t              len;
    const char         *name;
    cluster_history_t  *h;

    h = &c->shared->history[c->shared->nhistory++ % CLUSTER_HISTORY_MAX];

    memset(h, 0, sizeof(cluster_history_t));

    h->at = now;
    h->kind = (uint8_t) kind;

    if (node < c->n && c->names && c->names[node]) {
        name = c->names[node];
        len = strlen(name);
        len = len < sizeof(h->node) - 1 ? len : sizeof(h->node) - 1;
        memcpy(h->node, name, len);
        h->node[len] = '\0';
    }

    if (node < c->n && c->ids && c->ids[node]) {
        name = c->ids[node];
        len = strlen(name);
        len = len < sizeof(h->id) - 1 ? len : sizeof(h->id) - 1;
        memcpy(h->id, name, len);
        h->id[len] = '\0';
    }

    return h;
}


/* under the lock: a change of state or rotation, not of findings alone */
static void
cluster_history_change(cluster_t *c, size_t i, const cluster_change_t *change,
    int64_t now)
{
    size_t              len;
    cluster_node_t     *node;
    cluster_history_t  *h;

    if (change->old_state == change->new_state
        && change->old_in_rotation == change->new_in_rotation)
    {
        return;
    }

    node = c->nodes[i];

    h = cluster_history_add(c, CLUSTER_HISTORY_STATE, i, now);
    h->from = (uint8_t) change->old_state;
    h->to = (uint8_t) change->new_state;
    h->in_rotation = change->new_in_rotation;
    h->findings = change->findings;

    if (change->new_state == CLUSTER_STATE_DOWN && node->check_reason[0]) {
        len = strlen(node->check_reason);
        len = len < sizeof(h->reason) - 1 ? len : sizeof(h->reason) - 1;
        memcpy(h->reason, node->check_reason, len);
        h->reason[len] = '\0';
    }
}


size_t
cluster_history_take(cluster_t *c, cluster_history_t *h, size_t *lost,
    uint32_t *upto)
{
    size_t    n, i;
    uint32_t  from, to;

    cluster_lock(c);

    to = c->shared->nhistory;
    from = c->shared->history_shared;

    /* what the ring no longer holds is lost to the database */
    *lost = (to - from > CLUSTER_HISTORY_MAX)
            ? to - from - CLUSTER_HISTORY_MAX : 0;
    from += (uint32_t) *lost;

    n = to - from;

    for (i = 0; i < n; i++) {
        h[i] = c->shared->history[(from + i) % CLUSTER_HISTORY_MAX];
    }

    *upto = to;

    cluster_unlock(c);

    return n;
}


void
cluster_history_written(cluster_t *c, uint32_t upto)
{
    cluster_lock(c);

    /* later than what was written, never back (another worker's write) */
    if ((int32_t) (upto - c->shared->history_shared) > 0) {
        c->shared->history_shared = upto;
    }

    cluster_unlock(c);
}


size_t
cluster_save_copy(cluster_t *c, cluster_node_t *facts,
    cluster_action_t actions[CLUSTER_ACTIONS_MAX])
{
    size_t    i, n;
    uint32_t  k;

    cluster_lock(c);

    c->shared->dirty = 0;

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i]) {
            facts[i] = *c->nodes[i];
        }
    }

    k = c->shared->nactions;
    n = k < CLUSTER_ACTIONS_MAX ? k : CLUSTER_ACTIONS_MAX;

    for (i = 0; i < n; i++) {
        actions[i] = c->shared->actions[(k - n + i) % CLUSTER_ACTIONS_MAX];
    }

    cluster_unlock(c);

    return n;
}


void
cluster_copy(cluster_t *c, cluster_node_t *facts)
{
    size_t  i;

    cluster_lock(c);

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i]) {
            facts[i] = *c->nodes[i];
        }
    }

    cluster_unlock(c);
}


void
cluster_restore_action(cluster_t *c, const cluster_action_t *action)
{
    cluster_lock(c);

    c->shared->actions[c->shared->nactions++ % CLUSTER_ACTIONS_MAX] = *action;

    cluster_unlock(c);
}


void
cluster_snapshot(cluster_t *c, int64_t now, cluster_status_cluster_t *out,
    cluster_events_t *ev)
{
    size_t  i, n;

    cluster_lock(c);

    cluster_evaluate_all(c, now, ev);

    out->panic = (int) c->shared->panic;
    memcpy(out->release, c->shared->release, sizeof(out->release));

    out->cookies_forged = cluster_load64(&c->shared->cookies_forged);
    out->cookies_malformed = cluster_load64(&c->shared->cookies_malformed);

    out->cross_check = (c->sessions != NULL);
    out->sessions = 0;
    out->sessions_stored = 0;
    out->sessions_evicted = 0;

    if (c->sessions) {
        out->sessions = (uint64_t) c->sessions->nsets * CLUSTER_SESSION_WAYS;
        out->sessions_stored = c->sessions->stored;
        out->sessions_evicted = c->sessions->evicted;
    }

    /* the ring of last actions, newest first */

    n = c->shared->nactions < CLUSTER_ACTIONS_MAX ? c->shared->nactions
                                                  : CLUSTER_ACTIONS_MAX;

    for (i = 0; i < n; i++) {
        out->actions[i] = c->shared->actions[(c->shared->nactions - 1 - i)
                                             % CLUSTER_ACTIONS_MAX];
    }

    out->nactions = n;

    n = c->shared->nhistory < CLUSTER_HISTORY_MAX ? c->shared->nhistory
                                                  : CLUSTER_HISTORY_MAX;

    for (i = 0; i < n; i++) {
        out->history[i] = c->shared->history[(c->shared->nhistory - 1 - i)
                                             % CLUSTER_HISTORY_MAX];
    }

    out->nhistory = n;

    for (i = 0; i < c->n && i < out->n; i++) {
        if (c->nodes[i]) {
            out->nodes[i].facts = *c->nodes[i];
            out->nodes[i].tracked = 1;

        } else {
            memset(&out->nodes[i].facts, 0, sizeof(cluster_node_t));
            out->nodes[i].tracked = 0;
        }
    }

    cluster_unlock(c);
}


cluster_log_level_e
cluster_event_text(const char *cluster, size_t cluster_len, const char *name,
    size_t name_len, const char *id, size_t id_len, const cluster_event_t *e,
    char *buf, size_t size)
{
    char    change[256];
    size_t  len;

    switch (e->what) {

    case CLUSTER_EVENT_CHANGE:
        len = cluster_change_text(&e->change, change, sizeof(change));

        /* a node named by its address is not named twice */
        if (name_len == id_len && memcmp(name, id, id_len) == 0) {
            snprintf(buf, size, "cluster \"%.*s\" node \"%.*s\" %.*s",
                     (int) cluster_len, cluster, (int) name_len, name,
                     (int) len, change);
        } else {
            snprintf(buf, size, "cluster \"%.*s\" node \"%.*s\" (%.*s) "
                     "%.*s", (int) cluster_len, cluster, (int) name_len, name,
                     (int) id_len, id, (int) len, change);
        }

        return cluster_change_level(&e->change);

    case CLUSTER_EVENT_PANIC:
        snprintf(buf, size, "cluster \"%.*s\" is in panic: no node is in "
                 "rotation, routing to every node not removed or drained",
                 (int) cluster_len, cluster);
        return CLUSTER_LOG_ALERT;

    case CLUSTER_EVENT_WAITING:
        snprintf(buf, size, "cluster \"%.*s\" waits for its first checks, "
                 "routing to every node meanwhile", (int) cluster_len,
                 cluster);
        return CLUSTER_LOG_NOTICE;

    default: /* CLUSTER_EVENT_CALM */
        snprintf(buf, size, "cluster \"%.*s\" left panic: a node is back in "
                 "rotation", (int) cluster_len, cluster);
        return CLUSTER_LOG_NOTICE;
    }
}
