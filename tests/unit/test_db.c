/*
 * The shared database's core: names, statements, the queue while it is
 * away, and the merge of an action another load balancer took.
 */

#include "unit.h"
#include "cluster_db.h"


#define T0  1795606110000LL


static void
test_db_lock(void *data)
{
    (*(int *) data)++;
}


static void
test_db_unlock(void *data)
{
    (void) data;
}


static void
test_db_peers(cluster_t *c, cluster_node_t *node)
{
    char                       buf[2048];
    size_t                     n;
    cluster_events_t           ev;
    cluster_db_peer_t          p;
    cluster_db_observation_t   o;

    const char  *row[CLUSTER_DB_PEER_COLUMNS] = {
        "lb1", "lb1.example", "1795606110500", "proget", "10.0.0.13:8624",
        "up", "t", "4", "2", "1795606110400", "0badf00d", "1795606110500",
        "2025.3"
    };

    /* this one's observations: one JSON array for one statement */
    cluster_node_init(node, T0);
    node->state = CLUSTER_STATE_DOWN;
    node->findings = CLUSTER_FINDING_DOWN;
    strcpy(node->health.release, "2025.3");

    o.cluster = "pro\"get";
    o.cluster_len = 7;
    o.node = "10.0.0.13:8624";
    o.node_len = 14;
    o.facts = node;
    o.key_fingerprint = "0badf00d";

    n = cluster_db_observations(buf, sizeof(buf), &o, 1);
    CHECK(n < sizeof(buf));
    buf[n] = '\0';
    CHECK(strncmp(buf, "[{\"c\":\"pro\\\"get\",\"n\":\"10.0.0.13:8624\","
                       "\"s\":\"down\",\"r\":true,\"f\":2,", 62) == 0);
    CHECK(strstr(buf, "\"v\":\"2025.3\",\"key\":0,") != NULL);
    CHECK(strstr(buf, "\"kf\":\"0badf00d\"") != NULL);
    CHECK(cluster_db_observations(buf, 0, &o, 0) == 2);

    /* another one's, read back: every value in its range */
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 1);
    CHECK_STR(p.instance, "lb1");
    CHECK(p.state == CLUSTER_STATE_UP && p.in_rotation == 1);
    CHECK(p.key == CLUSTER_KEY_MISMATCH && p.findings == 4);
    CHECK(p.key_since == T0 + 400 && p.at == T0 + 500);
    CHECK_STR(p.release, "2025.3");

    /* a clock ahead of this one is taken as now */
    CHECK(cluster_db_peer_parse(&p, row, T0) == 1);
    CHECK(p.key_since == T0 && p.at == T0);

    row[5] = "sideways";
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 0);
    row[5] = "up";
    row[8] = "3";
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 0);
    row[8] = "-1";
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 0);
    row[8] = "2";
    row[7] = "99999999999999999999";
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 0);
    row[7] = "4";
    row[10] = "a fingerprint far too long";
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 0);
    row[10] = "0badf00d";
    row[1] = NULL;
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 0);
    row[1] = "lb1.example";
    CHECK(cluster_db_peer_parse(&p, row, T0 + 1000) == 1);

    /* lb1 proved a mismatch: ejected here too, lb1 named */
    cluster_node_init(node, T0);
    memset(&ev, 0, sizeof(ev));
    CHECK(cluster_db_share_key(c, 0, &p, "0badf00d", T0 + 1000, &ev) == 1);
    CHECK(node->key == CLUSTER_KEY_MISMATCH);
    CHECK_STR(node->key_by, "lb1");
    CHECK(node->findings & CLUSTER_FINDING_KEY_MISMATCH);
    CHECK(!node->in_rotation);

    /* the same again, or an older one: nothing */
    CHECK(cluster_db_share_key(c, 0, &p, "0badf00d", T0 + 1100, &ev) == 0);

    /* a verdict under another key says nothing here */
    cluster_node_init(node, T0);
    CHECK(cluster_db_share_key(c, 0, &p, "12345678", T0 + 1000, &ev) == 0);
    CHECK(cluster_db_share_key(c, 0, &p, "", T0 + 1000, &ev) == 0);
    CHECK(node->key == CLUSTER_KEY_UNKNOWN);

    /* this one's own later verdict wins; its own cookies clear the name */
    CHECK(cluster_db_share_key(c, 0, &p, "0badf00d", T0 + 1000, &ev) == 1);
    cluster_node_key_verdict(node, 1, T0 + 2000);
    CHECK(node->key == CLUSTER_KEY_IN_SYNC && node->key_by[0] == '\0');
    CHECK(cluster_db_share_key(c, 0, &p, "0badf00d", T0 + 2100, &ev) == 0);

    /* a service down another one's checks found, for one without checks */
    cluster_node_init(node, T0);
    node->last_heartbeat = T0;
    CHECK(cluster_facts_adopt(c, 0, CLUSTER_FINDING_SERVICE_DOWN, "2025.3",
                              T0 + 100, T0 + 200, &ev) == 1);
    CHECK(node->findings & CLUSTER_FINDING_SERVICE_DOWN);
    CHECK_STR(node->health.release, "2025.3");
    CHECK_STR(c->shared->release, "2025.3");

    /* and never written again as its own: no echo between two of them */
    o.facts = node;
    n = cluster_db_observations(buf, sizeof(buf), &o, 1);
    buf[n] = '\0';
    CHECK(strstr(buf, "\"f\":0,") != NULL);
    CHECK(strstr(buf, "\"v\":\"\",") != NULL);

    /* it lapses three intervals after the last report */
    memset(&ev, 0, sizeof(ev));
    cluster_evaluate(c, T0 + 100 + 3 * c->settings.interval + 1, &ev);
    CHECK(!(node->findings & CLUSTER_FINDING_SERVICE_DOWN));

    /* with checks of its own, its checks judge */
    c->settings.checks = 1;
    CHECK(cluster_facts_adopt(c, 0, CLUSTER_FINDING_SERVICE_DOWN, "9",
                              T0 + 500, T0 + 600, &ev) == 0);
    c->settings.checks = 0;
}


/* the rows of actions, the copies of texts, the status's views */
static void
test_db_rows(void)
{
    char                        text[8];
    int64_t                     seq;
    cluster_db_peer_t           peers[3];
    cluster_db_action_t         a;
    cluster_status_node_t       nodes[2];
    cluster_status_view_t       views[3];
    cluster_status_cluster_t    c;
    cluster_status_instance_t   in[4];

    const char *good[7] = { "proget", "10.0.0.1:80", "drain",
                            "token from 10.0.0.9", "1764590000000", "lb2",
                            "42" };
    const char *odd[7] = { "proget", "10.0.0.1:80", "reboot", "x",
                           "1764590000000", "lb2", "43" };
    const char *bad[7] = { "proget", "10.0.0.1:80", "drain", "x", "-5",
                           "lb2", "x" };

    CHECK(cluster_db_action_row(good, &a, &seq) == 1);
    CHECK(seq == 42 && a.seq == 42 && a.admin == CLUSTER_ADMIN_DRAIN);
    CHECK(a.at == 1764590000000LL);
    CHECK_STR(a.node, "10.0.0.1:80");
    CHECK_STR(a.instance, "lb2");

    /* passed over, but its place in the sequence counts */
    CHECK(cluster_db_action_row(odd, &a, &seq) == 0 && seq == 43);
    CHECK(cluster_db_action_row(bad, &a, &seq) == 0 && seq == -1);

    cluster_db_copy(text, sizeof(text), "a\tb\nc");
    CHECK_STR(text, "a b");
    cluster_db_copy(text, sizeof(text), "abcde\xc3\xa9z");
    CHECK_STR(text, "abcde");            /* not half of the "é" */
    cluster_db_copy(text, sizeof(text), NULL);
    CHECK_STR(text, "");

    memset(peers, 0, sizeof(peers));
    strcpy(peers[0].instance, "lb2");
    strcpy(peers[0].cluster, "proget");
    strcpy(peers[0].node, "10.0.0.1:80");
    peers[0].last_seen = 1000;
    peers[0].state = CLUSTER_STATE_DOWN;
    peers[1] = peers[0];
    strcpy(peers[1].node, "10.0.0.2:80");
    peers[1].state = CLUSTER_STATE_UP;
    peers[2] = peers[0];
    strcpy(peers[2].cluster, "other");

    memset(&c, 0, sizeof(c));
    memset(nodes, 0, sizeof(nodes));
    c.name = "proget";
    c.name_len = 6;
    c.nodes = nodes;
    c.n = 2;
    nodes[0].id = "10.0.0.1:80";
    nodes[0].id_len = 11;
    nodes[1].id = "10.0.0.2:80";
    nodes[1].id_len = 11;

    cluster_db_views(&c, peers, 3, "lb1", "host1", 1000, 2000, in, views);

    CHECK(c.ninstances == 2 && in[0].self && !in[1].self);
    CHECK_STR(in[1].instance, "lb2");
    CHECK(in[1].alive);
    CHECK(nodes[0].nviews == 1 && nodes[0].views[0].state == CLUSTER_STATE_DOWN);
    CHECK(nodes[1].nviews == 1 && nodes[1].views[0].state == CLUSTER_STATE_UP);

    cluster_db_views(&c, peers, 3, "lb1", "host1", 1000, 100000, in, views);
    CHECK(!in[1].alive);                 /* not seen for three rounds */
}


void
test_db(void)
{
    int                  locks;
    char                 buf[4096], small[16];

    size_t               n, i;
    cluster_t            c;
    cluster_node_t       node, *nodes[1];
    cluster_events_t     ev;
    cluster_shared_t     shared;
    cluster_act_t        act;
    cluster_db_queue_t   q;
    cluster_db_action_t  a;

    /* the schema's name stands unquoted in SQL: a strict identifier */
    CHECK(cluster_db_identifier("ngx_cluster", 11));
    CHECK(cluster_db_identifier("_lb2", 4));
    CHECK(!cluster_db_identifier("", 0));
    CHECK(!cluster_db_identifier("2lb", 3));
    CHECK(!cluster_db_identifier("Lb", 2));
    CHECK(!cluster_db_identifier("lb;drop", 7));
    CHECK(!cluster_db_identifier("lb\"x", 4));
    memset(buf, 'a', 64);
    CHECK(cluster_db_identifier(buf, 63));
    CHECK(!cluster_db_identifier(buf, 64));

    /* every statement names the schema; none is left with the stand-in */
    for (i = 0; i < CLUSTER_DB_SQL_N; i++) {
        n = cluster_db_sql((cluster_db_sql_e) i, "lbs", buf, sizeof(buf));
        CHECK(n > 0 && n < sizeof(buf));
        CHECK(strchr(buf, '@') == NULL);
        CHECK(strstr(buf, "lbs") != NULL);
    }

    n = cluster_db_sql(CLUSTER_DB_SQL_LISTEN, "lbs", buf, sizeof(buf));
    CHECK_STR(buf, "LISTEN lbs");
    CHECK(n == 10);

    /* too small: cut, terminated, the length it needs told */
    n = cluster_db_sql(CLUSTER_DB_SQL_SEEN, "lbs", small, sizeof(small));
    CHECK(n > sizeof(small) && strlen(small) == sizeof(small) - 1);

    CHECK(cluster_db_sql_params(CLUSTER_DB_SQL_ACTION) == 6);
    CHECK(cluster_db_sql_params(CLUSTER_DB_SQL_SCHEMA) == 0);
    CHECK_STR(cluster_db_status_name(CLUSTER_DB_UNREACHABLE), "unreachable");

    /* alive: seen within three rounds, and a second */
    CHECK(cluster_db_alive(T0, 1000, T0 + 4000));
    CHECK(!cluster_db_alive(T0, 1000, T0 + 4001));
    CHECK_STR(cluster_db_status_name((cluster_db_status_e) 9), "unknown");

    /* the queue: oldest first; full, the oldest goes and is counted */
    memset(&q, 0, sizeof(q));
    memset(&a, 0, sizeof(a));
    CHECK(cluster_db_queue_peek(&q) == NULL);

    for (i = 0; i < CLUSTER_DB_QUEUE + 3; i++) {
        a.at = T0 + (int64_t) i;
        CHECK(cluster_db_queue_push(&q, &a) == (i < CLUSTER_DB_QUEUE));
    }

    CHECK(q.n == CLUSTER_DB_QUEUE && q.dropped == 3);
    CHECK(cluster_db_queue_peek(&q)->at == T0 + 3);
    cluster_db_queue_pop(&q);
    CHECK(cluster_db_queue_peek(&q)->at == T0 + 4);

    for (i = 0; i < CLUSTER_DB_QUEUE; i++) {
        cluster_db_queue_pop(&q);
    }

    CHECK(q.n == 0 && cluster_db_queue_peek(&q) == NULL);

    /* an action from elsewhere: the latest by time wins */
    memset(&c, 0, sizeof(c));
    memset(&shared, 0, sizeof(shared));
    cluster_settings_default(&c.settings);
    cluster_node_init(&node, T0);
    nodes[0] = &node;
    c.nodes = nodes;
    c.n = 1;
    c.generation = 1;
    shared.generation = 1;
    c.shared = &shared;
    locks = 0;
    c.lock.lock = test_db_lock;
    c.lock.unlock = test_db_unlock;
    c.lock.data = &locks;

    memset(&a, 0, sizeof(a));
    a.at = T0 + 100;
    a.admin = CLUSTER_ADMIN_DRAIN;
    strcpy(a.node, "10.0.0.13:8624");
    strcpy(a.by, "alice from 10.0.0.1");
    strcpy(a.instance, "lb1");

    memset(&ev, 0, sizeof(ev));
    CHECK(cluster_db_apply(&c, 0, &a, "web3", 4, T0 + 200, &ev) == 1);
    CHECK(node.admin == CLUSTER_ADMIN_DRAIN && node.admin_at == T0 + 100);
    CHECK(node.state == CLUSTER_STATE_DRAINED);
    CHECK(locks == 1);
    CHECK_STR(shared.actions[0].by, "alice from 10.0.0.1 on lb1");
    CHECK_STR(shared.actions[0].node, "web3");
    CHECK(shared.actions[0].at == T0 + 100);

    /* the same again (this one's own, come back): nothing */
    CHECK(cluster_db_apply(&c, 0, &a, "web3", 4, T0 + 300, &ev) == 0);
    CHECK(shared.nactions == 1);

    /* an older one: nothing */
    a.at = T0 + 50;
    a.admin = CLUSTER_ADMIN_NONE;
    CHECK(cluster_db_apply(&c, 0, &a, "web3", 4, T0 + 300, &ev) == 0);
    CHECK(node.admin == CLUSTER_ADMIN_DRAIN);

    /* an operator here acts at once, whatever came from elsewhere */
    act.node = 0;
    act.admin = CLUSTER_ADMIN_NONE;
    act.name = "web3";
    act.name_len = 4;
    act.by = "bob from 10.0.0.2";
    cluster_act(&c, &act, T0 + 60, &ev);
    CHECK(node.admin == CLUSTER_ADMIN_NONE && node.admin_at == T0 + 60);

    /* a later one from elsewhere wins again */
    a.at = T0 + 400;
    a.admin = CLUSTER_ADMIN_REMOVE;
    CHECK(cluster_db_apply(&c, 0, &a, "web3", 4, T0 + 500, &ev) == 1);
    CHECK(node.admin == CLUSTER_ADMIN_REMOVE);

    /* nonsense from the database is refused */
    a.at = T0 + 900;
    a.admin = 7;
    CHECK(cluster_db_apply(&c, 0, &a, "web3", 4, T0 + 900, &ev) == 0);
    nodes[0] = NULL;
    a.admin = CLUSTER_ADMIN_NONE;
    CHECK(cluster_db_apply(&c, 0, &a, "web3", 4, T0 + 900, &ev) == 0);
    nodes[0] = &node;

    test_db_peers(&c, &node);

    test_db_rows();
}
