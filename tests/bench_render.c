/*
 * make bench, part one: how long the status takes to render in each
 * format for 1, 64 and 1,000 nodes, and how big it is, and what opening
 * one auth cookie costs.  Each figure is the median of many runs into a
 * buffer of the right size, as the module renders after its first guess.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_cookie.h"
#include "cluster_page.h"
#include "cluster_session.h"
#include "cluster_status.h"


#define T0       1795606110000LL
#define REPEAT   201


typedef size_t (*render_pt)(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version);


static cluster_page_conf_t  page_conf = { 10, 1, "/cluster", 8, NULL };


static size_t
render_html(char *buf, size_t size, const cluster_status_cluster_t *clusters,
    size_t n, int64_t now, const char *version)
{
    return cluster_page_html(buf, size, clusters, n, now, version,
                             &page_conf);
}


static size_t
render_prometheus(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version)
{
    return cluster_page_prometheus(buf, size, clusters, n, now, version,
                                   NULL);
}


static size_t
render_json(char *buf, size_t size, const cluster_status_cluster_t *clusters,
    size_t n, int64_t now, const char *version)
{
    return cluster_status_json(buf, size, clusters, n, now, version, NULL);
}


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


int
main(void)
{
    char                      *buf, (*ids)[32];
    double                     t[REPEAT], t0;
    size_t                     i, k, f, size, sizes[] = { 1, 64, 1000 };
    cluster_status_node_t     *nodes;
    cluster_status_cluster_t   c;

    static const struct {
        const char  *name;
        render_pt    render;
    } formats[] = {
        { "json", render_json },
        { "html", render_html },
        { "prometheus", render_prometheus }
    };

    printf("%-12s %6s %12s %12s\n", "format", "nodes", "median us",
           "bytes");

    for (k = 0; k < 3; k++) {
        nodes = calloc(sizes[k], sizeof(cluster_status_node_t));
        ids = calloc(sizes[k], sizeof(*ids));

        memset(&c, 0, sizeof(c));
        c.name = "proget";
        c.name_len = 6;
        cluster_settings_default(&c.settings);
        c.settings.checks = 1;
        c.messenger_port = 33237;
        strcpy(c.release, "23.0.27");
        c.nodes = nodes;
        c.n = sizes[k];

        for (i = 0; i < sizes[k]; i++) {
            snprintf(ids[i], sizeof(ids[i]), "10.0.%zu.%zu:8624",
                     i / 250, i % 250 + 1);
            nodes[i].id = ids[i];
            nodes[i].id_len = strlen(ids[i]);
            nodes[i].name = ids[i];
            nodes[i].name_len = nodes[i].id_len;
            nodes[i].weight = 1;
            nodes[i].tracked = 1;

            cluster_node_init(&nodes[i].facts, T0);
            nodes[i].facts.requests = 123456;
            nodes[i].facts.last_heartbeat = T0 + 1000;
            nodes[i].facts.last_check = T0 + 1000;
            nodes[i].facts.last_check_ok = T0 + 1000;
            nodes[i].facts.checks = 4000;
            nodes[i].facts.state = CLUSTER_STATE_UP;
            nodes[i].facts.messenger = CLUSTER_MESSENGER_OK;
            strcpy(nodes[i].facts.health.application, "ProGet");
            strcpy(nodes[i].facts.health.release,
                   i % 10 ? "23.0.27" : "23.0.30");
            strcpy(nodes[i].facts.health.version, "2023.27 (Build 5)");
            nodes[i].facts.health.database = CLUSTER_HEALTH_OK;
            nodes[i].facts.health.license = CLUSTER_HEALTH_OK;
            nodes[i].facts.health.service = CLUSTER_HEALTH_OK;
            nodes[i].facts.version_skew = (i % 10 == 0);
        }

        for (f = 0; f < 3; f++) {
            size = formats[f].render(NULL, 0, &c, 1, T0 + 2000, "0.1.0");
            buf = malloc(size);

            for (i = 0; i < REPEAT; i++) {
                t0 = now_us();
                formats[f].render(buf, size, &c, 1, T0 + 2000, "0.1.0");
                t[i] = now_us() - t0;
            }

            qsort(t, REPEAT, sizeof(double), cmp);

            printf("%-12s %6zu %12.1f %12zu\n", formats[f].name, sizes[k],
                   t[REPEAT / 2], size);

            free(buf);
        }

        free(nodes);
        free(ids);
    }

    /* one auth cookie of about 140 bytes, opened as the key check does */
    {
        char     cookie[512];
        size_t   len, n;
        uint8_t  raw[CLUSTER_KEY_RAW], key[CLUSTER_KEY_SEAL], out[256];
        uint8_t  nonce[CLUSTER_COOKIE_NONCE];

        static const char  text[] =
            "{\"sub\":\"admin\",\"iat\":1795600000,\"exp\":1795686400,"
            "\"node\":\"web1\"}";

        cluster_cookie_init();
        cluster_key_parse("00112233445566778899aabbccddeeff", 32, raw);
        cluster_cookie_key(raw, key);
        memset(nonce, 7, sizeof(nonce));

        len = cluster_cookie_seal(key, ".ProGetAuth", 11,
                                  (const uint8_t *) text, sizeof(text) - 1,
                                  nonce, cookie, sizeof(cookie));

        for (i = 0; i < REPEAT; i++) {
            t0 = now_us();

            for (k = 0; k < 1000; k++) {
                cluster_cookie_open(key, ".ProGetAuth", 11, cookie, len, out,
                                    sizeof(out), &n);
            }

            t[i] = (now_us() - t0) / 1000;
        }

        qsort(t, REPEAT, sizeof(double), cmp);

        printf("\nopening one auth cookie of %zu bytes: %.2f us (median)\n",
               len, t[REPEAT / 2]);

        /*
         * what the request path pays instead: the cookie's fingerprint and
         * its lookup in a full table of 1024 sessions
         */
        {
            uint8_t              fp[CLUSTER_SESSION_FP];
            uint8_t              secret[CLUSTER_SESSION_KEY];
            unsigned             hits;
            cluster_sessions_t  *st;

            memset(secret, 3, sizeof(secret));
            st = malloc(cluster_sessions_size(1024));
            cluster_sessions_init(st, 1024, secret);

            for (k = 0; k < 1024; k++) {
                cookie[0] = (char) ('A' + k % 26);
                cookie[1] = (char) ('A' + k / 26 % 26);
                cookie[2] = (char) ('A' + k / 676);
                cluster_session_fingerprint(st, cookie, len, fp);
                cluster_session_add(st, fp, T0 + k)->minted = 0;
            }

            hits = 0;

            for (i = 0; i < REPEAT; i++) {
                t0 = now_us();

                for (k = 0; k < 1000; k++) {
                    cookie[0] = (char) ('A' + k % 26);
                    cluster_session_fingerprint(st, cookie, len, fp);
                    hits += cluster_session_find(st, fp) != NULL;
                }

                t[i] = (now_us() - t0) / 1000;
            }

            qsort(t, REPEAT, sizeof(double), cmp);

            printf("its fingerprint and lookup in 1024 sessions: %.3f us "
                   "(median; %u found)\n", t[REPEAT / 2], hits);

            free(st);
        }
    }

    return 0;
}
