/*
 * ngx_cluster_module: the judgement of one check's answer.
 */

#include <stdio.h>
#include <string.h>

#include "cluster_check.h"


static void cluster_check_problem(const cluster_health_t *h, char *buf,
    size_t size);


void
cluster_check_conf_default(cluster_check_conf_t *conf)
{
    conf->expect_min = 200;
    conf->expect_max = 299;
    conf->fallback = 1;
}


cluster_check_rc_e
cluster_check_judge(const cluster_check_conf_t *conf,
    const cluster_http_response_t *resp, cluster_health_t *health,
    char *reason, size_t size, cluster_check_t *check)
{
    int                  in_range;
    char                 problem[64];
    size_t               n;
    cluster_health_rc_e  rc;

    memset(check, 0, sizeof(cluster_check_t));

    check->status = resp->status;
    check->health = health;
    check->reason = reason;
    reason[0] = '\0';

    if (conf->fallback && resp->status == 404) {
        return CLUSTER_CHECK_FALL_BACK;
    }

    rc = cluster_health_parse(resp->body, resp->body_len, health);

    check->health_read = (rc == CLUSTER_HEALTH_PARSED);

    in_range = resp->status >= conf->expect_min
               && resp->status <= conf->expect_max;

    if (rc == CLUSTER_HEALTH_INVALID) {
        snprintf(reason, size, "status %u with invalid JSON", resp->status);
        return CLUSTER_CHECK_JUDGED;
    }

    if (in_range) {
        check->ok = 1;

        if (check->health_read) {
            cluster_check_problem(health, problem, sizeof(problem));

            if (problem[0]) {
                snprintf(reason, size, "degraded: %s", problem);
            }
        }

        return CLUSTER_CHECK_JUDGED;
    }

    if (check->health_read && resp->status == 500
        && health->database != CLUSTER_HEALTH_ERROR)
    {
        /*
         * Inedo's "health problem": the product answers 500 with its JSON
         * when a component other than the web node is wrong.  The web node
         * answered, so it stays up; the component shows what is wrong.
         */
        check->ok = 1;
        cluster_check_problem(health, problem, sizeof(problem));
        snprintf(reason, size, "degraded: %s",
                 problem[0] ? problem : "status 500");
        return CLUSTER_CHECK_JUDGED;
    }

    if (resp->status >= 300 && resp->status < 400 && resp->location) {
        n = resp->location_len < 48 ? resp->location_len : 48;
        snprintf(reason, size, "status %u, redirect to %.*s", resp->status,
                 (int) n, resp->location);
        return CLUSTER_CHECK_JUDGED;
    }

    if (check->health_read) {
        cluster_check_problem(health, problem, sizeof(problem));

        if (problem[0]) {
            snprintf(reason, size, "status %u, %s", resp->status, problem);
            return CLUSTER_CHECK_JUDGED;
        }
    }

    snprintf(reason, size, "status %u", resp->status);

    return CLUSTER_CHECK_JUDGED;
}


/* the first component in error, with its detail: "service: not running" */
static void
cluster_check_problem(const cluster_health_t *h, char *buf, size_t size)
{
    const char  *what, *detail;

    if (h->database == CLUSTER_HEALTH_ERROR) {
        what = "database";
        detail = h->database_detail;

    } else if (h->service == CLUSTER_HEALTH_ERROR) {
        what = "service";
        detail = h->service_detail;

    } else if (h->license == CLUSTER_HEALTH_ERROR) {
        what = "license";
        detail = h->license_detail;

    } else {
        buf[0] = '\0';
        return;
    }

    /* a reason is a summary: the detail is cut to fit */
    snprintf(buf, size, "%s error%s%.40s", what, detail[0] ? ": " : "",
             detail);
}
