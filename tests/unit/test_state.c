/*
 * The state file: what is written is what is read back, and a broken file
 * is refused whole.
 */

#include <stdlib.h>

#include "unit.h"
#include "cluster_state.h"


#define T0  1795606110000LL


typedef struct {
    int             seen;
    cluster_node_t  node;
} state_ctx_t;


static int
apply(void *data, const char *cluster, const char *id,
    const cluster_node_t *saved)
{
    state_ctx_t  *ctx = data;

    if (strcmp(cluster, "proget") != 0 || strcmp(id, "10.0.0.11:8624") != 0) {
        return 0;
    }

    ctx->seen++;
    cluster_state_restore(&ctx->node, saved);

    return 1;
}


void
test_state(void)
{
    char                   *buf, error[64];
    size_t                  need;
    state_ctx_t             ctx;
    cluster_node_t          a, b;
    cluster_state_entry_t   e[2];

    cluster_node_init(&a, T0);
    a.admin = CLUSTER_ADMIN_DRAIN;
    a.requests = 1234567890123ULL;
    a.failures = 7;
    a.last_heartbeat = T0 + 5;
    a.checks = 42;
    strcpy(a.health.release, "23.0.27");
    strcpy(a.health.version, "2023.27 (Build 5)");
    strcpy(a.health.instance, "web \"one\"");

    cluster_node_init(&b, T0);

    e[0].cluster = "proget";
    e[0].cluster_len = 6;
    e[0].id = "10.0.0.11:8624";
    e[0].id_len = 14;
    e[0].facts = &a;
    e[1].cluster = "other";
    e[1].cluster_len = 5;
    e[1].id = "10.0.0.12:8624";
    e[1].id_len = 14;
    e[1].facts = &b;

    need = cluster_state_write(NULL, 0, e, 2, T0);
    buf = malloc(need);
    CHECK(cluster_state_write(buf, need, e, 2, T0) == need);

    memset(&ctx, 0, sizeof(ctx));
    cluster_node_init(&ctx.node, T0 + 100000);

    CHECK(cluster_state_read(buf, need, apply, &ctx, error, sizeof(error))
          == 1);
    CHECK(ctx.seen == 1);
    CHECK(ctx.node.admin == CLUSTER_ADMIN_DRAIN);
    CHECK(ctx.node.requests == 1234567890123ULL);
    CHECK(ctx.node.failures == 7 && ctx.node.checks == 42);
    CHECK(ctx.node.last_heartbeat == T0 + 5);
    CHECK_STR(ctx.node.health.release, "23.0.27");
    CHECK_STR(ctx.node.health.instance, "web \"one\"");
    CHECK(ctx.node.created == T0 + 100000);   /* not from the file */
    CHECK(ctx.node.state == CLUSTER_STATE_CHECKING);
    free(buf);

    /* broken files are refused, with a reason */
    CHECK(cluster_state_read("{ not json", 10, apply, &ctx, error,
                             sizeof(error)) == -1);
    CHECK(strncmp(error, "invalid JSON", 12) == 0);
    CHECK(cluster_state_read("{\"nodes\":[]}", 12, apply, &ctx, error,
                             sizeof(error)) == -1);
    CHECK_STR(error, "not a state file of this module");

    /* odd values are ignored, not trusted */
    ctx.seen = 0;
    CHECK(cluster_state_read("{\"ngx_cluster_state\":1,\"nodes\":[1,"
                             "{\"cluster\":\"proget\"},"
                             "{\"cluster\":\"proget\",\"id\":\"10.0.0.11:8624\","
                             "\"admin\":9,\"requests\":-5}]}", 123, apply,
                             &ctx, error, sizeof(error)) == 1);
    CHECK(ctx.node.admin == CLUSTER_ADMIN_NONE && ctx.node.requests == 0);
}
