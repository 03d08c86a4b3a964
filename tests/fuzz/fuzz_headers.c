/*
 * libFuzzer target: a Cookie header as a client may send it, or a
 * Set-Cookie as a node may, scanned pair by pair as the key check does;
 * each pair's value is followed in a small session table, answered by
 * nodes the input picks, and the key classes drawn from it all.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_cookie.h"
#include "cluster_session.h"


#define NODES  5


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               nl, vl, i;
    int64_t              now;
    uint8_t              fp[CLUSTER_SESSION_FP], k;
    const char          *p, *end, *n, *v;
    cluster_node_t       nodes[NODES], *np[NODES];
    cluster_session_t   *s;

    static cluster_sessions_t  *t;

    if (t == NULL) {
        static const uint8_t  key[CLUSTER_SESSION_KEY] = {
            'f', 'u', 'z', 'z', ' ', 'f', 'i', 'n',
            'g', 'e', 'r', 'p', 'r', 'i', 'n', 't'
        };

        if (cluster_cookie_init() != 0) {
            return 0;
        }

        t = malloc(cluster_sessions_size(64));
        if (t == NULL) {
            return 0;
        }

        cluster_sessions_init(t, 64, key);
    }

    if (size == 0) {
        return 0;
    }

    for (i = 0; i < NODES; i++) {
        cluster_node_init(&nodes[i], 1000);
        nodes[i].slot = (uint8_t) (i == NODES - 1 ? CLUSTER_SLOT_NONE : i);
        np[i] = &nodes[i];
    }

    /* the first byte: which node answers, and whether with a sign-in */
    k = data[0];
    p = (const char *) data + 1;
    end = (const char *) data + size;
    now = 1000;

    while (p < end) {
        const char  *before = p;

        if (cluster_cookie_pair(&p, end, &n, &nl, &v, &vl)) {
            if (n < before || n + nl > end || v < n + nl || v + vl > end) {
                abort();
            }

            cluster_session_fingerprint(t, v, vl, fp);

            if (k & 0x80) {
                /* a Set-Cookie: the node minted it */
                s = cluster_session_add(t, fp, now);
                s->minted = (uint8_t) (k % NODES);

            } else {
                s = cluster_session_find(t, fp);

                if (s && cluster_session_news(s, (k >> 1) % 40, k & 1, now,
                                              300000)
                    && !cluster_session_answer(t, s, (k >> 1) % 40, k & 1,
                                               now)
                    && !s->ended)
                {
                    /* news, then an answer that changed nothing */
                    abort();
                }
            }

        }

        if (p <= before) {
            /* the scanner must always move on */
            abort();
        }

        now += 7;
    }

    cluster_key_classes(t, np, NODES, 300000, now);

    for (i = 0; i < NODES; i++) {
        if (nodes[i].key_class > CLUSTER_SESSION_NODES + 1) {
            abort();
        }
    }

    return 0;
}
