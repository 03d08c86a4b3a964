/*
 * The state file: what is written is what is read back, and a broken file
 * is refused whole.
 */

#include <stdlib.h>

#include "unit.h"
#include "cluster_state.h"


#define T0  1795606110000LL


typedef struct {
    int               seen;
    cluster_node_t    node;
    size_t            nactions;
    cluster_action_t  actions[4];
} state_ctx_t;


static int
apply(void *data, const char *cluster, const char *id,
    const char *fingerprint, const cluster_node_t *saved)
{
    state_ctx_t  *ctx = data;

    if (strcmp(cluster, "proget") != 0 || strcmp(id, "10.0.0.11:8624") != 0) {
        return 0;
    }

    ctx->seen++;
    /* the test's cluster key is "0123abcd" */
    cluster_state_restore(&ctx->node, saved,
                          strcmp(fingerprint, "0123abcd") == 0);

    return 1;
}


static void
action(void *data, const char *cluster, const cluster_action_t *a)
{
    state_ctx_t  *ctx = data;

    if (strcmp(cluster, "proget") == 0 && ctx->nactions < 4) {
        ctx->actions[ctx->nactions++] = *a;
    }
}


static long
read_text(const char *text, state_ctx_t *ctx, long *refused)
{
    char                    error[64];
    cluster_state_reader_t  reader;

    reader.node = apply;
    reader.action = action;
    reader.ctx = ctx;

    return cluster_state_read(text, strlen(text), T0 + 100000, &reader,
                              refused, error, sizeof(error));
}


void
test_state(void)
{
    char                    *buf, error[64];
    long                     refused;
    size_t                   need;
    state_ctx_t              ctx;
    cluster_node_t           a, b;
    cluster_action_t         act[2];
    cluster_state_entry_t    e[2];
    cluster_state_action_t   ea[2];
    cluster_state_reader_t   reader;

    cluster_node_init(&a, T0);
    a.admin = CLUSTER_ADMIN_DRAIN;
    a.requests = 1234567890123ULL;
    a.failures = 7;
    a.last_heartbeat = T0 + 5;
    a.checks = 42;
    a.key = CLUSTER_KEY_MISMATCH;
    a.key_since = T0 + 3;
    a.key_refusals = 2;
    a.cookies_refused = 2;
    a.lost_sessions = 9;
    strcpy(a.health.release, "23.0.27");
    strcpy(a.health.version, "2023.27 (Build 5)");
    strcpy(a.health.instance, "web \"one\"");

    cluster_node_init(&b, T0);

    e[0].cluster = "proget";
    e[0].cluster_len = 6;
    e[0].id = "10.0.0.11:8624";
    e[0].id_len = 14;
    e[0].key_fingerprint = "0123abcd";
    e[0].facts = &a;
    e[1].cluster = "other";
    e[1].cluster_len = 5;
    e[1].id = "10.0.0.12:8624";
    e[1].id_len = 14;
    e[1].key_fingerprint = "";
    e[1].facts = &b;

    memset(act, 0, sizeof(act));
    act[0].at = T0 + 1;
    act[0].admin = CLUSTER_ADMIN_REMOVE;
    strcpy(act[0].node, "web1");
    strcpy(act[0].by, "token from 127.0.0.1");
    act[1].at = T0 + 2;
    act[1].admin = CLUSTER_ADMIN_DRAIN;
    strcpy(act[1].node, "web1");

    ea[0].cluster = "proget";
    ea[0].cluster_len = 6;
    ea[0].action = &act[0];
    ea[1].cluster = "proget";
    ea[1].cluster_len = 6;
    ea[1].action = &act[1];

    need = cluster_state_write(NULL, 0, e, 2, ea, 2, T0);
    buf = malloc(need);
    CHECK(cluster_state_write(buf, need, e, 2, ea, 2, T0) == need);

    memset(&ctx, 0, sizeof(ctx));
    cluster_node_init(&ctx.node, T0 + 100000);

    reader.node = apply;
    reader.action = action;
    reader.ctx = &ctx;

    CHECK(cluster_state_read(buf, need, T0 + 100000, &reader, &refused,
                             error, sizeof(error)) == 1);
    CHECK(refused == 0);
    CHECK(ctx.seen == 1);
    CHECK(ctx.node.admin == CLUSTER_ADMIN_DRAIN);
    CHECK(ctx.node.requests == 1234567890123ULL);
    CHECK(ctx.node.failures == 7 && ctx.node.checks == 42);
    CHECK(ctx.node.last_heartbeat == T0 + 5);
    CHECK(ctx.node.key == CLUSTER_KEY_MISMATCH && ctx.node.key_since == T0 + 3);
    CHECK(ctx.node.key_refusals == 2 && ctx.node.cookies_refused == 2);
    CHECK(ctx.node.lost_sessions == 9);
    CHECK_STR(ctx.node.health.release, "23.0.27");
    CHECK_STR(ctx.node.health.instance, "web \"one\"");
    CHECK(ctx.node.created == T0 + 100000);   /* not from the file */
    CHECK(ctx.node.state == CLUSTER_STATE_CHECKING);

    /* the last actions, oldest first, as they were */
    CHECK(ctx.nactions == 2);
    CHECK(ctx.actions[0].at == T0 + 1);
    CHECK(ctx.actions[0].admin == CLUSTER_ADMIN_REMOVE);
    CHECK_STR(ctx.actions[0].node, "web1");
    CHECK_STR(ctx.actions[0].by, "token from 127.0.0.1");
    CHECK(ctx.actions[1].admin == CLUSTER_ADMIN_DRAIN);
    free(buf);

    /* a verdict reached with another key is not restored; the rest is */
    memset(&ctx, 0, sizeof(ctx));
    CHECK(read_text("{\"ngx_cluster_state\":1,\"nodes\":["
                    "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                    "\"admin\":1,\"key\":2,\"key_since\":5,"
                    "\"key_fingerprint\":\"ffff0000\"}]}", &ctx, &refused)
          == 1);
    CHECK(ctx.node.admin == CLUSTER_ADMIN_DRAIN);
    CHECK(ctx.node.key == CLUSTER_KEY_UNKNOWN && ctx.node.key_since == 0);

    /* broken files are refused, with a reason */
    CHECK(cluster_state_read("{ not json", 10, T0, &reader, &refused, error,
                             sizeof(error)) == -1);
    CHECK(strncmp(error, "invalid JSON", 12) == 0);
    CHECK(cluster_state_read("{\"nodes\":[]}", 12, T0, &reader, &refused,
                             error, sizeof(error)) == -1);
    CHECK_STR(error, "not a state file of this module");

    /* a value out of its range refuses its entry, not the others */
    memset(&ctx, 0, sizeof(ctx));
    CHECK(read_text("{\"ngx_cluster_state\":1,\"nodes\":[1,"
                    "{\"cluster\":\"proget\"},"
                    "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                    "\"admin\":257},"
                    "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                    "\"admin\":3},"
                    "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                    "\"admin\":1,\"requests\":-5},"
                    "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                    "\"admin\":\"1\"},"
                    "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                    "\"key\":7}]}", &ctx, &refused) == 0);
    CHECK(refused == 7 && ctx.seen == 0);
    CHECK(ctx.node.admin == CLUSTER_ADMIN_NONE);

    /* times: none later than the reading, whatever the file says */
    memset(&ctx, 0, sizeof(ctx));
    CHECK(read_text("{\"ngx_cluster_state\":1,\"nodes\":["
                    "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                    "\"admin\":1,\"last_heartbeat\":9223372036854775807,"
                    "\"key_since\":99999999999999999,"
                    "\"key_fingerprint\":\"0123abcd\"}],"
                    "\"actions\":[{\"cluster\":\"proget\",\"at\":-1,"
                    "\"admin\":1,\"node\":\"web1\"},"
                    "{\"cluster\":\"proget\",\"at\":1,\"admin\":9,"
                    "\"node\":\"web1\"},"
                    "{\"cluster\":\"proget\",\"at\":99999999999999999,"
                    "\"admin\":2,\"node\":\"web1\",\"by\":\"x\"}]}",
                    &ctx, &refused) == 1);
    CHECK(refused == 2);
    CHECK(ctx.node.admin == CLUSTER_ADMIN_DRAIN);
    CHECK(ctx.node.last_heartbeat == T0 + 100000);
    CHECK(ctx.node.key_since == T0 + 100000);
    CHECK(ctx.nactions == 1 && ctx.actions[0].at == T0 + 100000);
    CHECK(ctx.actions[0].admin == CLUSTER_ADMIN_REMOVE);
}
