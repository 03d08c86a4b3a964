/*
 * Active checks: the HTTP reader, the health JSON reader, the judgement of
 * an answer, and what a check does to a node.
 */

#include "unit.h"
#include "cluster_check.h"
#include "cluster_health.h"
#include "cluster_http.h"
#include "cluster_node.h"


#define T0  1795606110000LL


/* the bodies Inedo's products answer, as documented */
#define PROGET_2025_OK                                                        \
    "{\"applicationName\":\"ProGet\",\"databaseStatus\":\"OK\","              \
    "\"databaseStatusDetail\":null,\"versionNumber\":\"2023.27 (Build 5)\","  \
    "\"releaseNumber\":\"23.0.27\",\"licenseStatus\":\"OK\","                 \
    "\"licenseStatusDetail\":null,\"serviceStatus\":\"OK\","                  \
    "\"serviceStatusDetail\":null,\"replicationStatus\":"                     \
    "{\"serverStatus\":null,\"clientStatus\":null}}"

#define PROGET_2025_SERVICE_DOWN                                              \
    "{\"applicationName\":\"ProGet\",\"databaseStatus\":\"OK\","              \
    "\"versionNumber\":\"2023.27 (Build 5)\",\"releaseNumber\":\"23.0.27\","  \
    "\"licenseStatus\":\"OK\",\"serviceStatus\":\"Error\","                   \
    "\"serviceStatusDetail\":\"The service is not running.\"}"

#define BUILDMASTER_OK                                                        \
    "{\"applicationName\":\"BuildMaster\",\"instanceName\":\"bm-web2\","      \
    "\"databaseStatus\":\"OK\",\"databaseStatusDetail\":null,"                \
    "\"versionNumber\":\"2024.3 (Build 2)\",\"releaseNumber\":\"24.0.3\","    \
    "\"licenseStatus\":\"OK\",\"licenseStatusDetail\":null,"                  \
    "\"serviceStatus\":\"OK\",\"serviceStatusDetail\":null}"


static cluster_http_rc_e
parse(const char *text, int eof, cluster_http_response_t *r, char *buf,
    size_t size)
{
    size_t  n;

    n = strlen(text);

    if (n > size) {
        n = size;
    }

    memcpy(buf, text, n);

    cluster_http_response_init(r);

    return cluster_http_response_parse(buf, n, eof, r);
}


/* the same answer arriving a byte at a time: the same outcome */
static cluster_http_rc_e
parse_bytewise(const char *text, cluster_http_response_t *r, char *buf)
{
    size_t             i, n;
    cluster_http_rc_e  rc;

    n = strlen(text);
    memcpy(buf, text, n);

    cluster_http_response_init(r);

    rc = CLUSTER_HTTP_AGAIN;

    for (i = 1; i <= n && rc == CLUSTER_HTTP_AGAIN; i++) {
        rc = cluster_http_response_parse(buf, i, 0, r);
    }

    if (rc == CLUSTER_HTTP_AGAIN) {
        rc = cluster_http_response_parse(buf, n, 1, r);
    }

    return rc;
}


static void
test_http(void)
{
    char                     buf[1024];
    cluster_http_response_t  r;

    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", 0, &r,
                buf, sizeof(buf)) == CLUSTER_HTTP_DONE);
    CHECK(r.status == 200 && r.body_len == 2 && memcmp(r.body, "OK", 2) == 0);

    /* incomplete: header, then body */
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Len", 0, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_AGAIN);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nOK", 0, &r,
                buf, sizeof(buf)) == CLUSTER_HTTP_AGAIN);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nOK", 1, &r,
                buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK_STR(r.error, "body shorter than Content-Length");

    /* extra bytes past the length are not the body */
    CHECK(parse("HTTP/1.0 500 X\r\ncontent-length: 1\r\n\r\nABC", 0, &r,
                buf, sizeof(buf)) == CLUSTER_HTTP_DONE);
    CHECK(r.status == 500 && r.body_len == 1);

    /* no length: the body runs to the close */
    CHECK(parse("HTTP/1.0 200 OK\r\n\r\nhello", 0, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_AGAIN);
    CHECK(parse("HTTP/1.0 200 OK\r\n\r\nhello", 1, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_DONE);
    CHECK(r.body_len == 5);

    /* chunked, joined in place */
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\n{\"a\r\n4;ext=1\r\n\":1}\r\n0\r\n\r\n", 0, &r,
                buf, sizeof(buf)) == CLUSTER_HTTP_DONE);
    CHECK(r.body_len == 7 && memcmp(r.body, "{\"a\":1}", 7) == 0);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n", 0, &r, buf, sizeof(buf)) == CLUSTER_HTTP_AGAIN);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n", 1, &r, buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "zz\r\n", 0, &r, buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "fffffffff\r\n", 0, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "fffff\r\nab", 0, &r, buf, sizeof(buf)) == CLUSTER_HTTP_AGAIN);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "2\r\nabc\r\n", 0, &r, buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, &r,
                buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);

    /* a byte at a time, resumed where each call stopped */
    CHECK(parse_bytewise("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                         &r, buf) == CLUSTER_HTTP_DONE);
    CHECK(r.status == 200 && r.body_len == 5
          && memcmp(r.body, "hello", 5) == 0);
    CHECK(parse_bytewise("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         "\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n", &r, buf)
          == CLUSTER_HTTP_DONE);
    CHECK(r.body_len == 7 && memcmp(r.body, "{\"a\":1}", 7) == 0);
    CHECK(parse_bytewise("HTTP/1.0 200 OK\r\n\r\nto the end", &r, buf)
          == CLUSTER_HTTP_DONE);
    CHECK(r.body_len == 10);
    CHECK(parse_bytewise("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         "\r\n100000\r\n", &r, buf) == CLUSTER_HTTP_ERROR);
    CHECK_STR(r.error, "invalid chunk size");

    /* a status of four digits is no status */
    CHECK(parse("HTTP/1.1 2000 OK\r\n\r\n", 0, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, &r, buf,
                sizeof(buf)) == CLUSTER_HTTP_DONE);

    /* the headers a check needs */
    CHECK(parse("HTTP/1.1 302 Found\r\nLocation:  /log-in?x=1 \r\n"
                "Content-Type: text/html\r\nContent-Length: 0\r\n\r\n", 0,
                &r, buf, sizeof(buf)) == CLUSTER_HTTP_DONE);
    CHECK(r.status == 302 && r.location_len == 11
          && memcmp(r.location, "/log-in?x=1", 11) == 0);
    CHECK(r.content_type_len == 9);

    /* broken answers */
    CHECK(parse("SSH-2.0-OpenSSH\r\n\r\n", 0, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_ERROR);
    CHECK_STR(r.error, "invalid status line");
    CHECK(parse("HTTP/1.1 99 X\r\n\r\n", 0, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 0, &r, buf,
                sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", 0, &r, buf,
                sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n"
                "\r\n", 0, &r, buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2"
                "\r\n\r\nab", 0, &r, buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK(parse("", 1, &r, buf, sizeof(buf)) == CLUSTER_HTTP_ERROR);
    CHECK_STR(r.error, "empty response");
    CHECK(parse("HTTP/1.1 204 No Content\r\n\r\n", 0, &r, buf, sizeof(buf))
          == CLUSTER_HTTP_DONE);
}


static void
test_health(void)
{
    cluster_health_t  h;

    CHECK(cluster_health_parse(PROGET_2025_OK, strlen(PROGET_2025_OK), &h)
          == CLUSTER_HEALTH_PARSED);
    CHECK(h.inedo == 1);
    CHECK_STR(h.application, "ProGet");
    CHECK_STR(h.version, "2023.27 (Build 5)");
    CHECK_STR(h.release, "23.0.27");
    CHECK(h.database == CLUSTER_HEALTH_OK);
    CHECK(h.license == CLUSTER_HEALTH_OK);
    CHECK(h.service == CLUSTER_HEALTH_OK);
    CHECK_STR(h.instance, "");
    CHECK_STR(h.service_detail, "");

    CHECK(cluster_health_parse(PROGET_2025_SERVICE_DOWN,
                               strlen(PROGET_2025_SERVICE_DOWN), &h)
          == CLUSTER_HEALTH_PARSED);
    CHECK(h.service == CLUSTER_HEALTH_ERROR);
    CHECK_STR(h.service_detail, "The service is not running.");

    CHECK(cluster_health_parse(BUILDMASTER_OK, strlen(BUILDMASTER_OK), &h)
          == CLUSTER_HEALTH_PARSED);
    CHECK_STR(h.application, "BuildMaster");
    CHECK_STR(h.instance, "bm-web2");
    CHECK_STR(h.release, "24.0.3");

    /* ProGet 2026's /health, Otter's pages: not JSON, facts unknown */
    CHECK(cluster_health_parse("OK", 2, &h) == CLUSTER_HEALTH_NOT_JSON);
    CHECK(h.inedo == 0);
    CHECK(cluster_health_parse("", 0, &h) == CLUSTER_HEALTH_NOT_JSON);
    CHECK(cluster_health_parse("<html>", 6, &h) == CLUSTER_HEALTH_NOT_JSON);
    CHECK(cluster_health_parse("{\"status\":\"up\"}", 15, &h)
          == CLUSTER_HEALTH_FOREIGN);
    CHECK(cluster_health_parse("[1,2]", 5, &h) == CLUSTER_HEALTH_FOREIGN);

    /* broken JSON */
    CHECK(cluster_health_parse("{\"databaseStatus\":", 18, &h)
          == CLUSTER_HEALTH_INVALID);
    CHECK(cluster_health_parse("  {x}", 5, &h) == CLUSTER_HEALTH_INVALID);
    CHECK(cluster_health_parse("{\"serviceStatus\":\"OK\","
                               "\"serviceStatus\":\"Error\"}", 45, &h)
          == CLUSTER_HEALTH_INVALID);

    /* wrong types and odd values are unknown, not errors */
    CHECK(cluster_health_parse("{\"databaseStatus\":1,\"releaseNumber\":[],"
                               "\"serviceStatus\":\"Warning\"}", 65, &h)
          == CLUSTER_HEALTH_PARSED);
    CHECK(h.database == CLUSTER_HEALTH_UNKNOWN);
    CHECK(h.service == CLUSTER_HEALTH_UNKNOWN);
    CHECK_STR(h.release, "");

    /* long strings are cut, at a character boundary */
    CHECK(cluster_health_parse("{\"releaseNumber\":\"123456789012345678901"
                               "\xc3\xa9\xc3\xa9\"}", 45, &h)
          == CLUSTER_HEALTH_PARSED);
    CHECK_STR(h.release, "123456789012345678901\xc3\xa9");
    /* a NUL inside a string is refused, as jansson does by default */
    CHECK(cluster_health_parse("{\"releaseNumber\":\"1\\u0000<b>\"}", 30, &h)
          == CLUSTER_HEALTH_INVALID);

    CHECK(cluster_release_compare("23.0.27", "23.0.27") == 0);
    CHECK(cluster_release_compare("23.0.27", "23.0.9") > 0);
    CHECK(cluster_release_compare("9.0.1", "23.0.0") < 0);
    CHECK(cluster_release_compare("23.0", "23.0.1") < 0);
    CHECK(cluster_release_compare("", "1") < 0);
    CHECK(cluster_release_compare("2024.1", "2024.1-rc") < 0);
}


static void
test_judge(void)
{
    char                     buf[1024], reason[72];
    cluster_check_t          c;
    cluster_health_t         h;
    cluster_check_conf_t     conf;
    cluster_http_response_t  r;

    conf.expect_min = 200;
    conf.expect_max = 299;
    conf.fallback = 1;

    parse("HTTP/1.1 200 OK\r\n\r\n" PROGET_2025_OK, 1, &r, buf, sizeof(buf));
    CHECK(cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c)
          == CLUSTER_CHECK_JUDGED);
    CHECK(c.ok && c.health_read && c.status == 200);
    CHECK_STR(c.reason, "");
    CHECK_STR(c.health->release, "23.0.27");

    /* /health/json of an older product: ask /health */
    parse("HTTP/1.1 404 Not Found\r\n\r\n", 1, &r, buf, sizeof(buf));
    CHECK(cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c)
          == CLUSTER_CHECK_FALL_BACK);

    conf.fallback = 0;
    CHECK(cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c)
          == CLUSTER_CHECK_JUDGED);
    CHECK(!c.ok);
    CHECK_STR(c.reason, "status 404");

    /* ProGet 2026's plain text */
    parse("HTTP/1.1 200 OK\r\n\r\nOK", 1, &r, buf, sizeof(buf));
    cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c);
    CHECK(c.ok && !c.health_read);

    /* the documented health problem: 500 with the JSON, web answers */
    parse("HTTP/1.1 500 Error\r\n\r\n" PROGET_2025_SERVICE_DOWN, 1, &r, buf,
          sizeof(buf));
    cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c);
    CHECK(c.ok && c.health_read && c.status == 500);
    CHECK_STR(c.reason, "degraded: service error: The service is not running.");

    /* a database error is the web node's own failure */
    parse("HTTP/1.1 500 Error\r\n\r\n{\"databaseStatus\":\"Error\","
          "\"databaseStatusDetail\":\"timeout\"}", 1, &r, buf, sizeof(buf));
    cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c);
    CHECK(!c.ok && c.health_read);
    CHECK_STR(c.reason, "status 500, database error: timeout");

    /* a plain 500, a redirect, invalid JSON */
    parse("HTTP/1.1 503 X\r\n\r\nbusy", 1, &r, buf, sizeof(buf));
    cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c);
    CHECK(!c.ok);
    CHECK_STR(c.reason, "status 503");

    parse("HTTP/1.1 302 Found\r\nLocation: /log-in\r\n\r\n", 1, &r, buf,
          sizeof(buf));
    cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c);
    CHECK(!c.ok);
    CHECK_STR(c.reason, "status 302, redirect to /log-in");

    conf.expect_max = 399;
    cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c);
    CHECK(c.ok);
    conf.expect_max = 299;

    parse("HTTP/1.1 200 OK\r\n\r\n{\"releaseNumber\":", 1, &r, buf,
          sizeof(buf));
    cluster_check_judge(&conf, &r, &h, reason, sizeof(reason), &c);
    CHECK(!c.ok);
    CHECK_STR(c.reason, "status 200 with invalid JSON");
}


static cluster_settings_t
check_settings(void)
{
    cluster_settings_t  s;

    cluster_settings_default(&s);

    s.interval = 1000;
    s.stale = 10000;
    s.checks = 1;
    s.trials = 0;

    return s;
}


static void
check_once(cluster_node_t *n, const cluster_settings_t *s, int ok,
    const cluster_health_t *h, uint8_t messenger, int64_t now)
{
    cluster_check_t  c;

    memset(&c, 0, sizeof(c));
    c.ok = ok;
    c.status = ok ? 200 : 0;
    c.health_read = h != NULL;
    c.health = h;
    c.messenger = messenger;
    c.reason = ok ? "" : "timed out";

    cluster_node_check(n, s, &c, now);
}


static void
test_node_checks(void)
{
    int                 i;
    cluster_node_t      n;
    cluster_health_t    h;
    cluster_change_t    ch;
    cluster_settings_t  s = check_settings();

    cluster_health_parse(PROGET_2025_OK, strlen(PROGET_2025_OK), &h);

    /* with checks, a node is "checking" until its first check */
    cluster_node_init(&n, T0);
    cluster_node_response(&n, &s, 1, 200, 1, T0 + 1);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 1, &ch) == 0);
    CHECK(n.state == CLUSTER_STATE_CHECKING && n.in_rotation);
    CHECK(n.findings == CLUSTER_FINDING_UNCHECKED);

    /* ... and takes no traffic before it, when checks are mandatory */
    s.mandatory = 1;
    CHECK(cluster_node_evaluate(&n, &s, T0 + 2, &ch) == 1);
    CHECK(ch.new_in_rotation == 0);

    check_once(&n, &s, 1, &h, CLUSTER_MESSENGER_OK, T0 + 100);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 100, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_UP && ch.new_in_rotation == 1);
    CHECK(n.checks == 1 && n.last_check_ok == T0 + 100);
    CHECK(n.last_heartbeat == T0 + 100);
    CHECK_STR(n.health.release, "23.0.27");
    s.mandatory = 0;

    /* passive failures do not judge "down" when checks do */
    for (i = 0; i < 5; i++) {
        cluster_node_response(&n, &s, 0, 0, 1, T0 + 200 + i);
    }

    CHECK(cluster_node_evaluate(&n, &s, T0 + 300, &ch) == 0);
    CHECK(n.failures == 5 && n.down == 0);

    /* one failed check never takes a node out; "fall" of them do */
    check_once(&n, &s, 0, NULL, CLUSTER_MESSENGER_OK, T0 + 1000);
    check_once(&n, &s, 0, NULL, CLUSTER_MESSENGER_OK, T0 + 2000);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 2000, &ch) == 0);
    check_once(&n, &s, 0, NULL, CLUSTER_MESSENGER_OK, T0 + 3000);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 3000, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_DOWN && ch.new_in_rotation == 0);
    CHECK(n.checks_failed == 3);
    CHECK_STR(n.check_reason, "timed out");
    CHECK_STR(n.health.release, "23.0.27");   /* kept from before */

    /* "rise" good checks bring it back, and slow start begins */
    check_once(&n, &s, 1, &h, CLUSTER_MESSENGER_OK, T0 + 4000);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 4000, &ch) == 0);
    check_once(&n, &s, 1, &h, CLUSTER_MESSENGER_OK, T0 + 5000);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 5000, &ch) == 1);
    CHECK(ch.new_state == CLUSTER_STATE_UP && ch.new_in_rotation == 1);
    CHECK(n.rotation_since == T0 + 5000);

    s.slow_start = 10000;
    CHECK(cluster_node_slow_start_share(&n, &s, T0 + 5000) == 10);
    CHECK(cluster_node_slow_start_share(&n, &s, T0 + 10000) == 505);
    CHECK(cluster_node_slow_start_share(&n, &s, T0 + 15000) == 1000);
    CHECK(cluster_node_slow_start_share(&n, &s, T0) == 1000);
    s.slow_start = 0;
    CHECK(cluster_node_slow_start_share(&n, &s, T0 + 5000) == 1000);

    /* a stopped service or a closed messenger port: service_down after fall */
    cluster_health_parse(PROGET_2025_SERVICE_DOWN,
                         strlen(PROGET_2025_SERVICE_DOWN), &h);

    for (i = 0; i < 2; i++) {
        check_once(&n, &s, 1, &h, CLUSTER_MESSENGER_OK, T0 + 6000 + i);
    }

    CHECK(cluster_node_evaluate(&n, &s, T0 + 6100, &ch) == 0);
    check_once(&n, &s, 1, &h, CLUSTER_MESSENGER_OK, T0 + 6200);
    cluster_node_evaluate(&n, &s, T0 + 6200, &ch);
    CHECK(n.findings == CLUSTER_FINDING_SERVICE_DOWN);
    CHECK(n.in_rotation == 1);   /* not ejected by default */
    CHECK(n.state == CLUSTER_STATE_UP);

    s.eject |= CLUSTER_FINDING_SERVICE_DOWN;
    CHECK(cluster_node_evaluate(&n, &s, T0 + 6300, &ch) == 1);
    CHECK(ch.new_in_rotation == 0);

    cluster_health_parse(PROGET_2025_OK, strlen(PROGET_2025_OK), &h);

    for (i = 0; i < 3; i++) {
        check_once(&n, &s, 1, &h, CLUSTER_MESSENGER_UNREACHABLE,
                   T0 + 7000 + i);
    }

    CHECK(cluster_node_evaluate(&n, &s, T0 + 7100, &ch) == 0);
    CHECK(n.messenger == CLUSTER_MESSENGER_UNREACHABLE);
    CHECK(n.findings == CLUSTER_FINDING_SERVICE_DOWN);

    check_once(&n, &s, 1, &h, CLUSTER_MESSENGER_OK, T0 + 8000);
    CHECK(cluster_node_evaluate(&n, &s, T0 + 8000, &ch) == 1);
    CHECK(ch.new_in_rotation == 1 && n.findings == 0);

    /* a good answer that is not Inedo's JSON clears what was known */
    check_once(&n, &s, 1, NULL, CLUSTER_MESSENGER_UNKNOWN, T0 + 9000);
    CHECK_STR(n.health.release, "");
}


static void
test_version_sync(void)
{
    char             release[24];
    cluster_node_t   a, b, c, d;
    cluster_node_t  *nodes[5];

    cluster_node_init(&a, T0);
    cluster_node_init(&b, T0);
    cluster_node_init(&c, T0);
    cluster_node_init(&d, T0);

    nodes[0] = &a;
    nodes[1] = &b;
    nodes[2] = &c;
    nodes[3] = &d;
    nodes[4] = NULL;

    a.last_check = T0;
    b.last_check = T0;
    c.last_check = T0;

    /* a node not yet checked: no verdict */
    strcpy(a.health.release, "23.0.27");
    strcpy(b.health.release, "23.0.30");
    cluster_version_sync(nodes, 5, release, sizeof(release));
    CHECK_STR(release, "");
    CHECK(!a.version_skew && !b.version_skew);

    d.last_check = T0;
    a.health.release[0] = '\0';
    b.health.release[0] = '\0';

    /* nobody told: nothing out of sync */
    cluster_version_sync(nodes, 5, release, sizeof(release));
    CHECK_STR(release, "");
    CHECK(!a.version_skew && !b.version_skew);

    /* the majority wins */
    strcpy(a.health.release, "23.0.27");
    strcpy(b.health.release, "23.0.27");
    strcpy(c.health.release, "23.0.30");
    cluster_version_sync(nodes, 5, release, sizeof(release));
    CHECK_STR(release, "23.0.27");
    CHECK(!a.version_skew && !b.version_skew && c.version_skew);
    CHECK(!d.version_skew);   /* unknown is not out of sync */

    /* a tie: the newest */
    strcpy(d.health.release, "23.0.30");
    cluster_version_sync(nodes, 5, release, sizeof(release));
    CHECK_STR(release, "23.0.30");
    CHECK(a.version_skew && b.version_skew && !c.version_skew);

    {
        cluster_change_t    ch;
        cluster_settings_t  s = check_settings();

        cluster_node_check(&a, &s, &(cluster_check_t) { .ok = 1 }, T0);
        strcpy(a.health.release, "23.0.27");
        cluster_version_sync(nodes, 5, release, sizeof(release));
        cluster_node_evaluate(&a, &s, T0, &ch);
        CHECK(a.findings == CLUSTER_FINDING_VERSION_SKEW);
        CHECK(a.in_rotation);   /* shown, not ejected by default */
    }
}


void
test_check(void)
{
    test_http();
    test_health();
    test_judge();
    test_node_checks();
    test_version_sync();
}
