/*
 * The directives' parsers both load balancers use (cluster_conf.c), the
 * bridge's file reader, and the admin API's rules (cluster_admin.c).
 */

#include "unit.h"

#include "cluster.h"
#include "cluster_admin.h"
#include "cluster_conf.h"
#include "cluster_page.h"


static int
parse(int (*fn)(cluster_conf_t *, const cluster_word_t *, size_t, char *),
    cluster_conf_t *cf, const char *line, char *err)
{
    size_t               n;
    cluster_word_t       w[CLUSTER_CONF_WORDS];
    cluster_conf_file_t  f;

    cluster_conf_file_init(&f, line, strlen(line));

    if (cluster_conf_next(&f, w, &n, err) != CLUSTER_CONF_DIRECTIVE) {
        return -2;
    }

    return fn(cf, w, n, err);
}


static void
test_time(void)
{
    int64_t  ms;
    char     text[32];

    CHECK(cluster_conf_time("30s", 3, &ms) == 0 && ms == 30000);
    CHECK(cluster_conf_time("500ms", 5, &ms) == 0 && ms == 500);
    CHECK(cluster_conf_time("1h30m", 5, &ms) == 0 && ms == 5400000);
    CHECK(cluster_conf_time("1h 30m", 6, &ms) == 0 && ms == 5400000);
    CHECK(cluster_conf_time("5", 1, &ms) == 0 && ms == 5000);
    CHECK(cluster_conf_time("1d", 2, &ms) == 0 && ms == 86400000);
    CHECK(cluster_conf_time("2w", 2, &ms) == 0 && ms == 14LL * 86400000);
    CHECK(cluster_conf_time("1s5", 3, &ms) == 0 && ms == 6000);
    CHECK(cluster_conf_time("1 2", 3, &ms) == 0 && ms == 3000);

    /* years and months only where seconds are meant, as nginx has it */
    CHECK(cluster_conf_time("1y", 2, &ms) == -1);
    CHECK(cluster_conf_time("2M", 2, &ms) == -1);
    CHECK(cluster_conf_seconds("1y", 2, &ms) == 0 && ms == 365LL * 86400000);
    CHECK(cluster_conf_seconds("30d", 3, &ms) == 0 && ms == 30LL * 86400000);
    CHECK(cluster_conf_seconds("5ms", 3, &ms) == -1);

    /* as nginx refuses them */
    CHECK(cluster_conf_time("", 0, &ms) == -1);
    CHECK(cluster_conf_time("s", 1, &ms) == -1);
    CHECK(cluster_conf_time("30m1h", 5, &ms) == -1);    /* units rise */
    CHECK(cluster_conf_time(" 30s", 4, &ms) == -1);
    CHECK(cluster_conf_time("1 s", 3, &ms) == -1);
    CHECK(cluster_conf_time("5x", 2, &ms) == -1);
    CHECK(cluster_conf_time("-5s", 3, &ms) == -1);
    CHECK(cluster_conf_time("99999999999999999999y", 21, &ms) == -1);

    cluster_conf_time_text(text, sizeof(text), 300000);
    CHECK_STR(text, "5m");
    cluster_conf_time_text(text, sizeof(text), 1500);
    CHECK_STR(text, "1500ms");
    cluster_conf_time_text(text, sizeof(text), 0);
    CHECK_STR(text, "0");
}


static void
test_directives(void)
{
    char                err[CLUSTER_CONF_ERROR];
    cluster_conf_t      cf;
    cluster_settings_t  s;

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_heartbeat, &cf, "interval=1s stale=1m;", err)
          == 0);
    CHECK(cf.interval == 1000 && cf.stale == 60000);

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_heartbeat, &cf, "interval=10m stale=5m;", err)
          == -1);
    CHECK_STR(err, "\"stale\" (5m) must be longer than \"interval\" (10m)");

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_heartbeat, &cf, "interval=50ms;", err) == -1);
    CHECK_STR(err, "invalid time in \"interval=50ms\", expected a time of at "
                   "least 100ms and at most 1d");

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_heartbeat, &cf, "interval=1s interval=2s;", err)
          == -1);
    CHECK_STR(err, "duplicate parameter \"interval=2s\"");

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_check, &cf, "uri=/health rise=3 fall=4 "
                "timeout=2s messenger=33237 expect=200-399 mandatory;", err)
          == 0);
    CHECK(cf.check && cf.rise == 3 && cf.fall == 4 && cf.timeout == 2000);
    CHECK(cf.messenger == 33237 && cf.mandatory);
    CHECK(cf.expect.expect_min == 200 && cf.expect.expect_max == 399);
    CHECK(!cf.expect.fallback);     /* only the default URI falls back */

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_check, &cf, "host=proget.example.com:8624;", err)
          == 0);
    CHECK(cf.host.len == 23);
    CHECK(parse(cluster_conf_check, &cf, "host=a/b;", err) == -1);
    CHECK(parse(cluster_conf_check, &cf, "host=;", err) == -1);
    CHECK(parse(cluster_conf_check, &cf, "host=\"a b\";", err) == -1);

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_check, &cf, "rise=1001;", err) == -1);
    CHECK_STR(err, "invalid value in \"rise=1001\", expected a number from 1 "
                   "to 1000");

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_check, &cf, "messenger=99999999999;", err) == -1);

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_check, &cf, "rise=0000000003;", err) == 0);
    CHECK(cf.rise == 3);

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_check, &cf, "expect=300-200;", err) == -1);

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_check, &cf, "uri=/a\001b;", err) == -2);

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_eject, &cf, "down key_mismatch;", err) == 0);
    CHECK(cf.eject == (CLUSTER_FINDING_DOWN | CLUSTER_FINDING_KEY_MISMATCH));
    CHECK(parse(cluster_conf_eject, &cf, "off;", err) == 0 && cf.eject == 0);
    CHECK(parse(cluster_conf_eject, &cf, "down off;", err) == -1);

    cluster_conf_init(&cf);
    CHECK(parse(cluster_conf_slow_start, &cf, "30s;", err) == 0);
    CHECK(cf.slow_start == 30000);
    CHECK(parse(cluster_conf_slow_start, &cf, "2d;", err) == -1);

    /* the settings: defaults where the directives are silent */
    cluster_conf_init(&cf);
    cluster_conf_settings(&cf, &s);
    CHECK(s.interval == 30000 && s.stale == 300000 && !s.checks && s.trials);

    CHECK(parse(cluster_conf_check, &cf, "fall=5;", err) == 0);
    cluster_conf_settings(&cf, &s);
    CHECK(s.checks && !s.trials && s.fall == 5 && s.rise == 2);
}


static void
test_file(void)
{
    char                  err[CLUSTER_CONF_ERROR];
    size_t                n;
    const char           *text;
    cluster_word_t        w[CLUSTER_CONF_WORDS];
    cluster_conf_file_t   f;

    text = "# a comment\n"
           "cluster_status admin=on;\n"
           "backend proget {\n"
           "    cluster_node_name 10.0.0.1:80 \"web one\"; # named\n"
           "}\n";

    cluster_conf_file_init(&f, text, strlen(text));

    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_DIRECTIVE);
    CHECK(n == 2 && f.line == 2 && cluster_word_is(&w[1], "admin=on"));

    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_BLOCK);
    CHECK(n == 2 && f.line == 3 && cluster_word_is(&w[1], "proget"));

    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_DIRECTIVE);
    CHECK(n == 3 && f.line == 4 && cluster_word_is(&w[2], "web one"));

    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_BLOCK_END);
    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_END);

    text = "cluster_check rise=2";
    cluster_conf_file_init(&f, text, strlen(text));
    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_BAD);

    text = "a \"unterminated;\n";
    cluster_conf_file_init(&f, text, strlen(text));
    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_BAD);

    text = "a b c d e f g h i j k l m n o p q;";
    cluster_conf_file_init(&f, text, strlen(text));
    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_BAD);

    text = ";";
    cluster_conf_file_init(&f, text, strlen(text));
    CHECK(cluster_conf_next(&f, w, &n, err) == CLUSTER_CONF_BAD);
}


static void
test_admin_rules(void)
{
    size_t                 id;
    cluster_admin_value_t  same = { "same-origin", 11 };
    cluster_admin_value_t  none = { "None", 4 };
    cluster_admin_value_t  cross = { "cross-site", 10 };
    cluster_admin_value_t  host = { "lb.example:8080", 15 };
    cluster_admin_value_t  mine = { "http://LB.example:8080", 22 };
    cluster_admin_value_t  other = { "http://evil.example", 19 };
    cluster_admin_value_t  opaque = { "null", 4 };
    cluster_admin_value_t  two[2];

    CHECK(cluster_admin_path("10.0.0.1:80/drain", 17, &id)
          == CLUSTER_ADMIN_DRAIN && id == 11);
    CHECK(cluster_admin_path("a/b/restore", 11, &id) == CLUSTER_ADMIN_NONE
          && id == 3);
    CHECK(cluster_admin_path("web1/reboot", 11, &id)
          == CLUSTER_ADMIN_NO_ACTION);
    CHECK(cluster_admin_path("/drain", 6, &id) == CLUSTER_ADMIN_NO_NODE);
    CHECK(cluster_admin_path("drain", 5, &id) == CLUSTER_ADMIN_NO_NODE);

    CHECK(cluster_admin_cross_site(NULL, 0, NULL, 0, NULL) == 0);
    CHECK(cluster_admin_cross_site(&same, 1, NULL, 0, NULL) == 0);
    CHECK(cluster_admin_cross_site(&none, 1, NULL, 0, NULL) == 0);
    CHECK(cluster_admin_cross_site(&cross, 1, NULL, 0, &host) == 1);

    two[0] = same;
    two[1] = cross;
    CHECK(cluster_admin_cross_site(two, 2, NULL, 0, &host) == 1);

    CHECK(cluster_admin_cross_site(NULL, 0, &mine, 1, &host) == 0);
    CHECK(cluster_admin_cross_site(NULL, 0, &other, 1, &host) == 1);
    CHECK(cluster_admin_cross_site(NULL, 0, &opaque, 1, &host) == 1);
    CHECK(cluster_admin_cross_site(NULL, 0, &mine, 1, NULL) == 1);
}


static void
test_event_text(void)
{
    char             text[256];
    cluster_event_t  e;

    memset(&e, 0, sizeof(cluster_event_t));
    e.what = CLUSTER_EVENT_CHANGE;
    e.change.old_state = CLUSTER_STATE_UP;
    e.change.new_state = CLUSTER_STATE_DOWN;
    e.change.old_in_rotation = 1;
    e.change.findings = CLUSTER_FINDING_DOWN;

    CHECK(cluster_event_text("proget", 6, "web2", 4, "10.0.0.2:80", 11, &e,
                             text, sizeof(text)) == CLUSTER_LOG_WARN);
    CHECK(strncmp(text, "cluster \"proget\" node \"web2\" (10.0.0.2:80) is "
                  "down", 48) == 0);

    CHECK(cluster_event_text("proget", 6, "10.0.0.2:80", 11, "10.0.0.2:80",
                             11, &e, text, sizeof(text)) == CLUSTER_LOG_WARN);
    CHECK(strncmp(text, "cluster \"proget\" node \"10.0.0.2:80\" is down",
                  43) == 0);

    e.what = CLUSTER_EVENT_PANIC;
    CHECK(cluster_event_text("proget", 6, NULL, 0, NULL, 0, &e, text,
                             sizeof(text)) == CLUSTER_LOG_ALERT);
    CHECK(strstr(text, "is in panic") != NULL);

    /* cut short, and still a string */
    CHECK(cluster_event_text("proget", 6, NULL, 0, NULL, 0, &e, text, 10)
          == CLUSTER_LOG_ALERT);
    CHECK(strlen(text) == 9);
}


static void
test_format(void)
{
    const char  *browser[2] = { "image/webp", "Text/HTML,application/xml" };
    const char  *curl[1] = { "*/*" };
    size_t       blen[2] = { 10, 25 }, clen[1] = { 3 };

    CHECK(cluster_page_format(NULL, 0, NULL, NULL, 0) == CLUSTER_FORMAT_JSON);
    CHECK(cluster_page_format(NULL, 0, browser, blen, 2)
          == CLUSTER_FORMAT_HTML);
    CHECK(cluster_page_format(NULL, 0, curl, clen, 1) == CLUSTER_FORMAT_JSON);
    CHECK(cluster_page_format("prometheus", 10, browser, blen, 2)
          == CLUSTER_FORMAT_PROMETHEUS);
    CHECK(cluster_page_format("html", 4, NULL, NULL, 0)
          == CLUSTER_FORMAT_HTML);
    CHECK(cluster_page_format("xml", 3, browser, blen, 2)
          == CLUSTER_FORMAT_JSON);
    CHECK(cluster_page_format("", 0, browser, blen, 2) == CLUSTER_FORMAT_JSON);
}


void
test_conf(void)
{
    test_format();
    test_time();
    test_directives();
    test_file();
    test_admin_rules();
    test_event_text();
}
