/*
 * The behavioural key check: the session table and the key classes.
 */

#include <stdlib.h>

#include <sodium.h>

#include "unit.h"
#include "cluster_session.h"


#define T0     1795606110000LL
#define STALE  300000


static const uint8_t  secret[CLUSTER_SESSION_KEY] = {
    '0', '1', '2', '3', '4', '5', '6', '7',
    '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'
};


static cluster_sessions_t *
table(uint32_t n)
{
    cluster_sessions_t  *t;

    t = malloc(cluster_sessions_size(n));
    cluster_sessions_init(t, n, secret);

    return t;
}


/* a session minted by node "minted"; "i" makes it distinct */
static cluster_session_t *
minted(cluster_sessions_t *t, unsigned node, unsigned i, int64_t now)
{
    char                cookie[32];
    uint8_t             fp[CLUSTER_SESSION_FP];
    cluster_session_t  *s;

    snprintf(cookie, sizeof(cookie), "cookie-%u-%u", node, i);
    cluster_session_fingerprint(t, cookie, strlen(cookie), fp);

    s = cluster_session_add(t, fp, now);
    s->minted = (uint8_t) node;

    return s;
}


static void
nodes_init(cluster_node_t *nodes, cluster_node_t **p, unsigned n)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        cluster_node_init(&nodes[i], T0);
        nodes[i].slot = (uint8_t) i;
        p[i] = &nodes[i];
    }
}


static void
test_table(void)
{
    int                  evicted;
    uint8_t              fp[CLUSTER_SESSION_FP], fp2[CLUSTER_SESSION_FP];
    unsigned             i;
    cluster_session_t   *s;
    cluster_sessions_t  *t;

    /* the size is rounded up to whole sets */
    CHECK(cluster_sessions_size(1000) == cluster_sessions_size(1024));
    CHECK(cluster_sessions_size(1025) > cluster_sessions_size(1024));

    t = table(16);
    CHECK(t->nsets == 4);

    /* keyed: the same cookie, another secret, another fingerprint */
    cluster_session_fingerprint(t, "abc", 3, fp);
    t->key[0] ^= 1;
    cluster_session_fingerprint(t, "abc", 3, fp2);
    t->key[0] ^= 1;
    CHECK(memcmp(fp, fp2, CLUSTER_SESSION_FP) != 0);

    CHECK(cluster_session_find(t, fp) == NULL);
    s = cluster_session_add(t, fp, T0);
    CHECK(s != NULL && s->minted == CLUSTER_SLOT_NONE);
    CHECK(cluster_session_find(t, fp) == s);
    CHECK(cluster_session_add(t, fp, T0 + 1) == s && s->seen == T0 + 1);
    CHECK(t->stored == 1);

    /* bounded: a thousand sessions in a table of 16 evict the oldest */
    for (i = 0; i < 1000; i++) {
        minted(t, 0, i, T0 + 10 + i);
    }

    CHECK(t->stored == 1001 && t->evicted == 1001 - 16);
    CHECK(cluster_session_find(t, fp) == NULL);

    /* the newest of each set stays */
    evicted = 0;
    for (i = 990; i < 1000; i++) {
        char  cookie[32];

        snprintf(cookie, sizeof(cookie), "cookie-0-%u", i);
        cluster_session_fingerprint(t, cookie, strlen(cookie), fp);
        evicted += cluster_session_find(t, fp) == NULL;
    }

    CHECK(evicted < 10);

    free(t);
}


static void
test_answers(void)
{
    const char          *json;
    cluster_session_t   *s;
    cluster_sessions_t  *t;

    t = table(64);

    /* node 1 serves a session of node 0 twice: counted once */
    s = minted(t, 0, 1, T0);
    CHECK(cluster_session_news(s, 1, 0, T0, STALE) && cluster_session_news(s, 1, 1, T0, STALE));
    CHECK(!cluster_session_news(s, 0, 0, T0, STALE) && cluster_session_news(s, 0, 1, T0, STALE));
    cluster_session_answer(t, s, 1, 0, T0);
    CHECK(!cluster_session_news(s, 1, 0, T0, STALE) && cluster_session_news(s, 1, 1, T0, STALE));
    cluster_session_answer(t, s, 1, 0, T0);
    CHECK(t->served[0][1] == 1 && t->refused[0][1] == 0);

    /* then refuses it: a refusal outweighs service */
    cluster_session_answer(t, s, 1, 1, T0);
    CHECK(t->served[0][1] == 0 && t->refused[0][1] == 1);
    CHECK(!cluster_session_news(s, 1, 0, T0, STALE) && !cluster_session_news(s, 1, 1, T0, STALE));
    cluster_session_answer(t, s, 1, 0, T0);
    cluster_session_answer(t, s, 1, 1, T0);
    CHECK(t->served[0][1] == 0 && t->refused[0][1] == 1);

    /* node 2 refuses it too; then node 0, its own, does: it had ended */
    cluster_session_answer(t, s, 2, 1, T0);
    CHECK(t->refused[0][2] == 1);
    cluster_session_answer(t, s, 0, 1, T0);
    CHECK(s->ended == 1);
    CHECK(!cluster_session_news(s, 3, 1, T0, STALE));
    CHECK(t->refused[0][1] == 0 && t->refused[0][2] == 0);
    cluster_session_answer(t, s, 3, 1, T0);
    CHECK(t->refused[0][3] == 0);

    /* a sign-in for a session idle past "stale" may be its expiry */
    s = minted(t, 0, 4, T0);
    CHECK(cluster_session_news(s, 2, 1, T0 + STALE, STALE));
    CHECK(!cluster_session_news(s, 2, 1, T0 + STALE + 1, STALE));
    CHECK(cluster_session_news(s, 2, 0, T0 + STALE + 1, STALE));

    /* a v1 session past its "exp" says nothing */
    s->expires = T0 / 1000 + 60;
    CHECK(cluster_session_news(s, 2, 0, T0 + 59000, STALE));
    CHECK(!cluster_session_news(s, 2, 0, T0 + 60000, STALE));

    /* an "exp" past any sane time is the bound, never an overflow */
    json = "{\"exp\":99999999999999999999999,\"sub\":\"u\"}";
    s->expires = cluster_session_expires((const uint8_t *) json,
                                         strlen(json));
    CHECK(s->expires == CLUSTER_TIME_MAX / 1000);
    CHECK(cluster_session_news(s, 2, 0, T0, STALE));
    s->expires = INT64_MAX;
    CHECK(cluster_session_news(s, 2, 0, T0, STALE));

    /* the active check sends a session once to each node, if news */
    s = minted(t, 0, 5, T0);
    CHECK(cluster_session_replay(s, 2, T0, STALE));
    CHECK(!cluster_session_replay(s, 2, T0, STALE));
    CHECK(cluster_session_replay(s, 3, T0, STALE));
    CHECK(!cluster_session_replay(s, 0, T0, STALE));
    cluster_session_answer(t, s, 4, 0, T0);
    CHECK(!cluster_session_replay(s, 4, T0, STALE));

    /* a session of no known node, or a node beyond the table */
    s = minted(t, CLUSTER_SLOT_NONE, 2, T0);
    cluster_session_answer(t, s, 1, 1, T0);
    s = minted(t, 0, 3, T0);
    cluster_session_answer(t, s, 40, 1, T0);
    CHECK(t->refused[0][1] == 0);

    free(t);
}


/* "n" sessions minted by "from", each answered by "by" */
static void
sessions(cluster_sessions_t *t, unsigned from, unsigned by, unsigned n,
    int sign_in, int64_t now)
{
    static unsigned     serial;
    cluster_session_t  *s;

    while (n--) {
        s = minted(t, from, serial++, now);
        cluster_session_answer(t, s, by, sign_in, now);
    }
}


static void
test_classes(void)
{
    cluster_node_t       nodes[4], *p[4];
    cluster_sessions_t  *t;

    /* three nodes, node 2 with another key */
    t = table(1024);
    nodes_init(nodes, p, 3);

    sessions(t, 0, 1, 4, 0, T0);
    sessions(t, 1, 0, 4, 0, T0);
    sessions(t, 0, 2, 3, 1, T0);
    sessions(t, 1, 2, 3, 1, T0);

    cluster_key_classes(t, p, 3, STALE, T0);
    CHECK(nodes[0].key_class == 1 && nodes[1].key_class == 1);
    CHECK(nodes[2].key_class == 2);
    CHECK(nodes[0].key_cross == CLUSTER_KEY_IN_SYNC);
    CHECK(nodes[2].key_cross == CLUSTER_KEY_MISMATCH);
    CHECK(nodes[2].sessions_refused == 6 && nodes[0].sessions_served == 4);

    /* the finding, unless its own cookies are proved in sync */
    CHECK(cluster_node_findings(&nodes[2], &(cluster_settings_t) {
        .stale = STALE, .interval = 1000 }, T0)
          & CLUSTER_FINDING_KEY_MISMATCH);

    /* the refusals lapse "stale" after the last one; service stays */
    cluster_key_classes(t, p, 3, STALE, T0 + STALE + 1);
    CHECK(nodes[2].key_cross == CLUSTER_KEY_UNKNOWN);
    CHECK(nodes[2].key_class == 0 && nodes[2].sessions_refused == 0);
    CHECK(nodes[0].key_class == 1 && nodes[0].sessions_served == 4);
    free(t);

    /* two refusals may be sessions that ended: not enough */
    t = table(1024);
    nodes_init(nodes, p, 3);
    sessions(t, 0, 1, 4, 0, T0);
    sessions(t, 0, 2, 2, 1, T0);
    cluster_key_classes(t, p, 3, STALE, T0);
    CHECK(nodes[2].key_cross == CLUSTER_KEY_UNKNOWN);

    /* nor more refusals than sessions served */
    sessions(t, 0, 2, 2, 1, T0);
    sessions(t, 0, 2, 5, 0, T0);
    cluster_key_classes(t, p, 3, STALE, T0);
    CHECK(nodes[2].key_cross != CLUSTER_KEY_MISMATCH);
    free(t);

    /* two and two, with no key to tell: no verdict */
    t = table(1024);
    nodes_init(nodes, p, 4);
    sessions(t, 0, 1, 3, 0, T0);
    sessions(t, 2, 3, 3, 0, T0);
    sessions(t, 0, 2, 3, 1, T0);
    sessions(t, 1, 3, 3, 1, T0);
    cluster_key_classes(t, p, 4, STALE, T0);
    CHECK(nodes[0].key_class != 0 && nodes[2].key_class != 0);
    CHECK(nodes[0].key_class != nodes[2].key_class);
    CHECK(nodes[0].key_cross == CLUSTER_KEY_UNKNOWN);
    CHECK(nodes[2].key_cross == CLUSTER_KEY_UNKNOWN);

    /* a node whose cookies open with the cluster's key tells */
    nodes[3].key = CLUSTER_KEY_IN_SYNC;
    cluster_key_classes(t, p, 4, STALE, T0);
    CHECK(nodes[2].key_class == 1 && nodes[3].key_class == 1);
    CHECK(nodes[0].key_cross == CLUSTER_KEY_MISMATCH);
    CHECK(nodes[1].key_cross == CLUSTER_KEY_MISMATCH);
    CHECK(nodes[2].key_cross == CLUSTER_KEY_IN_SYNC);

    /* a node back from down starts again */
    nodes[0].key_forget = 1;
    cluster_key_classes(t, p, 4, STALE, T0);
    CHECK(nodes[0].key_forget == 0);
    CHECK(t->refused[0][2] == 0 && t->served[0][1] == 0);
    CHECK(nodes[0].key_cross == CLUSTER_KEY_UNKNOWN);
    free(t);

    /* no evidence at all: nothing said */
    t = table(64);
    nodes_init(nodes, p, 3);
    cluster_key_classes(t, p, 3, STALE, T0);
    CHECK(nodes[0].key_class == 0 && nodes[0].key_cross == 0);
    free(t);
}


static void
test_expires(void)
{
    const char  *json;

    json = "{\"sub\":\"u\",\"iat\":1795606110,\"exp\":1795609710}";
    CHECK(cluster_session_expires((const uint8_t *) json, strlen(json))
          == 1795609710);

    json = "{\"sub\":\"u\",\"exp\": 17}";
    CHECK(cluster_session_expires((const uint8_t *) json, strlen(json)) == 17);

    /* no "exp", or one that is not a number, or cut short */
    json = "{\"sub\":\"u\"}";
    CHECK(cluster_session_expires((const uint8_t *) json, strlen(json)) == 0);
    json = "{\"exp\":\"soon\"}";
    CHECK(cluster_session_expires((const uint8_t *) json, strlen(json)) == 0);
    json = "{\"exp\":";
    CHECK(cluster_session_expires((const uint8_t *) json, strlen(json)) == 0);
    CHECK(cluster_session_expires((const uint8_t *) json, 3) == 0);

    /* the year 9999 at most */
    json = "{\"exp\":253402300800}";
    CHECK(cluster_session_expires((const uint8_t *) json, strlen(json))
          == CLUSTER_TIME_MAX / 1000);
    json = "{\"exp\":253402300799}";
    CHECK(cluster_session_expires((const uint8_t *) json, strlen(json))
          == 253402300799);
}


/* a worker's copy of a session holds while the generation does */
static void
test_generation(void)
{
    uint64_t             g;
    unsigned             i;
    cluster_node_t       nodes[3], *p[3];
    cluster_session_t   *s;
    cluster_sessions_t  *t;

    t = table(64);
    nodes_init(nodes, p, 3);

    g = t->generation;
    s = minted(t, 0, 1, T0);
    CHECK(t->generation != g);

    /* news moves it; what changes nothing does not */
    g = t->generation;
    CHECK(cluster_session_answer(t, s, 1, 0, T0) == 1);
    CHECK(t->generation != g);
    g = t->generation;
    CHECK(cluster_session_answer(t, s, 1, 0, T0) == 0);
    CHECK(t->generation == g);

    /* classes: the first that form move it, the same again does not */
    for (i = 0; i < 4; i++) {
        s = minted(t, 0, 100 + i, T0);
        cluster_session_answer(t, s, 1, 0, T0);
    }

    cluster_key_classes(t, p, 3, STALE, T0);
    g = t->generation;
    cluster_key_classes(t, p, 3, STALE, T0);
    CHECK(t->generation == g);
    CHECK(t->class_of[0] != 0 && t->class_of[0] == t->class_of[1]);

    free(t);
}


static void
test_counts(void)
{
    unsigned             i;
    cluster_session_t   *s;
    cluster_sessions_t  *t;

    /* counts halve, both together, before they overflow */
    t = table(64);

    for (i = 0; i < 5000; i++) {
        s = minted(t, 0, 100000 + i, T0);
        cluster_session_answer(t, s, 1, i % 4 == 0, T0);
    }

    CHECK(t->served[0][1] < 1024 && t->refused[0][1] < 1024);
    CHECK(t->served[0][1] > 2 * t->refused[0][1]);

    free(t);
}


void
test_session(void)
{
    test_table();
    test_answers();
    test_classes();
    test_expires();
    test_generation();
    test_counts();
}
