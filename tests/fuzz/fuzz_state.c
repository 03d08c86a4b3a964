/*
 * libFuzzer target: a state file as anyone who can write its folder may
 * leave it.  What the reader hands over is in range, and what is handed
 * over, written again, reads back the same.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_state.h"


#define NOW   1795606110000LL
#define KEPT  16


typedef struct {
    size_t            n;
    char              cluster[KEPT][64];
    char              id[KEPT][64];
    cluster_node_t    node[KEPT];
    size_t            nactions;
    char              acluster[KEPT][64];
    cluster_action_t  action[KEPT];
} fuzz_state_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_copy(char *dst, const char *src)
{
    size_t  len;

    len = strlen(src);

    if (len > 63) {
        /* never half a character: the text written again stays UTF-8 */
        for (len = 63; len && ((unsigned char) src[len] & 0xc0) == 0x80;
             len--)
        {
            /* void */
        }
    }

    memcpy(dst, src, len);
    dst[len] = '\0';
}


static int
fuzz_node(void *data, const char *cluster, const char *id,
    const char *fingerprint, const cluster_node_t *saved)
{
    fuzz_state_t  *st = data;

    if (strlen(fingerprint) > 15
        || saved->admin > CLUSTER_ADMIN_REMOVE
        || saved->key > CLUSTER_KEY_MISMATCH
        || saved->last_heartbeat < 0 || saved->last_heartbeat > NOW
        || saved->last_failure < 0 || saved->last_failure > NOW
        || saved->last_check < 0 || saved->last_check > NOW
        || saved->last_check_ok < 0 || saved->last_check_ok > NOW
        || saved->key_since < 0 || saved->key_since > NOW
        || memchr(saved->health.release, '\0',
                  sizeof(saved->health.release)) == NULL
        || memchr(saved->health.version, '\0',
                  sizeof(saved->health.version)) == NULL)
    {
        abort();
    }

    if (st->n < KEPT) {
        fuzz_copy(st->cluster[st->n], cluster);
        fuzz_copy(st->id[st->n], id);
        st->node[st->n++] = *saved;
    }

    return 1;
}


static void
fuzz_action(void *data, const char *cluster, const cluster_action_t *a)
{
    fuzz_state_t  *st = data;

    if (a->admin > CLUSTER_ADMIN_REMOVE || a->at < 0 || a->at > NOW
        || memchr(a->node, '\0', sizeof(a->node)) == NULL
        || memchr(a->by, '\0', sizeof(a->by)) == NULL)
    {
        abort();
    }

    if (st->nactions < KEPT) {
        fuzz_copy(st->acluster[st->nactions], cluster);
        st->action[st->nactions++] = *a;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                    *buf, error[64];
    long                     applied, refused;
    size_t                   i, need;
    cluster_state_reader_t   reader;
    cluster_state_entry_t    entries[KEPT];
    cluster_state_action_t   actions[KEPT];

    static fuzz_state_t      first, again;

    memset(&first, 0, sizeof(fuzz_state_t));

    reader.node = fuzz_node;
    reader.action = fuzz_action;
    reader.ctx = &first;

    applied = cluster_state_read((const char *) data, size, NOW, &reader,
                                 &refused, error, sizeof(error));

    if (applied < 0) {
        return 0;
    }

    if (applied <= KEPT && (size_t) applied != first.n) {
        abort();
    }

    if (applied > KEPT || first.nactions == KEPT) {
        /* more than was kept: no round trip */
        return 0;
    }

    /* written again, it reads back the same */

    for (i = 0; i < first.n; i++) {
        entries[i].cluster = first.cluster[i];
        entries[i].cluster_len = strlen(first.cluster[i]);
        entries[i].id = first.id[i];
        entries[i].id_len = strlen(first.id[i]);
        entries[i].key_fingerprint = "";
        entries[i].facts = &first.node[i];
    }

    for (i = 0; i < first.nactions; i++) {
        actions[i].cluster = first.acluster[i];
        actions[i].cluster_len = strlen(first.acluster[i]);
        actions[i].action = &first.action[i];
    }

    need = cluster_state_write(NULL, 0, entries, first.n, actions,
                               first.nactions, NOW);
    buf = malloc(need);

    if (buf == NULL
        || cluster_state_write(buf, need, entries, first.n, actions,
                               first.nactions, NOW) != need)
    {
        abort();
    }

    memset(&again, 0, sizeof(fuzz_state_t));
    reader.ctx = &again;

    applied = cluster_state_read(buf, need, NOW, &reader, &refused, error,
                                 sizeof(error));
    free(buf);

    if (applied != (long) first.n || refused != 0
        || again.n != first.n || again.nactions != first.nactions)
    {
        abort();
    }

    for (i = 0; i < first.n; i++) {
        if (strcmp(again.id[i], first.id[i]) != 0
            || again.node[i].admin != first.node[i].admin
            || again.node[i].requests != first.node[i].requests
            || again.node[i].last_heartbeat != first.node[i].last_heartbeat
            || again.node[i].key != first.node[i].key
            || strcmp(again.node[i].health.release,
                      first.node[i].health.release) != 0)
        {
            abort();
        }
    }

    for (i = 0; i < first.nactions; i++) {
        if (again.action[i].at != first.action[i].at
            || again.action[i].admin != first.action[i].admin
            || strcmp(again.action[i].node, first.action[i].node) != 0)
        {
            abort();
        }
    }

    return 0;
}
