/*
 * libFuzzer target: a node's answer to a check, as bytes off the wire.
 *
 * It goes through the HTTP reader (read by read, as the module calls it),
 * the health JSON reader and the judgement, as the module does; anything
 * that reads out of bounds, leaks or trips a sanitizer is a finding.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_check.h"
#include "cluster_health.h"
#include "cluster_http.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     *buf, reason[72];
    size_t                    cut, step;
    cluster_check_t           check;
    cluster_health_t          health;
    cluster_http_rc_e         rc;
    cluster_check_conf_t      conf;
    cluster_http_response_t   resp;

    /* the body alone, as the JSON reader sees it */
    cluster_health_parse((const char *) data, size, &health);

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    /*
     * The answer as it arrives: in reads of a length the input picks, each
     * call resuming where the last stopped, then the close.
     */

    memcpy(buf, data, size);
    cluster_http_response_init(&resp);

    step = size ? data[0] % 7 + 1 : 1;
    rc = CLUSTER_HTTP_AGAIN;

    for (cut = step; cut < size && rc == CLUSTER_HTTP_AGAIN; cut += step) {
        rc = cluster_http_response_parse(buf, cut, 0, &resp);
    }

    if (rc == CLUSTER_HTTP_AGAIN) {
        rc = cluster_http_response_parse(buf, size, 0, &resp);
    }

    if (rc == CLUSTER_HTTP_AGAIN) {
        rc = cluster_http_response_parse(buf, size, 1, &resp);
    }

    if (rc == CLUSTER_HTTP_DONE) {
        conf.expect_min = 200;
        conf.expect_max = 299;
        conf.fallback = size & 1;

        (void) cluster_check_judge(&conf, &resp, &health, reason,
                                   sizeof(reason), &check);
    }

    free(buf);

    return 0;
}
