/*
 * The bounded buffer and JSON values.
 */

#include "unit.h"
#include "cluster_buf.h"
#include "cluster_json.h"


/* renders with f into a fresh buffer, NUL-terminated */
#define RENDER(out, stmt)                                                     \
    do {                                                                      \
        cluster_buf_t  b_;                                                    \
        cluster_buf_init(&b_, out, sizeof(out) - 1);                          \
        { cluster_buf_t *b = &b_; stmt; }                                     \
        out[b_.need < sizeof(out) - 1 ? b_.need : sizeof(out) - 1] = '\0';    \
    } while (0)


void
test_buf(void)
{
    char           out[128], small[8];
    cluster_buf_t  b;

    RENDER(out, cluster_buf_uint(b, 0));
    CHECK_STR(out, "0");
    RENDER(out, cluster_buf_uint(b, 18446744073709551615ULL));
    CHECK_STR(out, "18446744073709551615");
    RENDER(out, cluster_buf_int(b, -42));
    CHECK_STR(out, "-42");
    RENDER(out, cluster_buf_int(b, INT64_MIN));
    CHECK_STR(out, "-9223372036854775808");

    RENDER(out, cluster_buf_seconds(b, 1234));
    CHECK_STR(out, "1.234");
    RENDER(out, cluster_buf_seconds(b, 5));
    CHECK_STR(out, "0.005");
    RENDER(out, cluster_buf_seconds(b, 300000));
    CHECK_STR(out, "300.000");
    RENDER(out, cluster_buf_seconds(b, -1500));
    CHECK_STR(out, "-1.500");

    /* expected values from an independent implementation (Python) */
    RENDER(out, cluster_buf_time(b, 0));
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    RENDER(out, cluster_buf_time(b, 951782400000LL));
    CHECK_STR(out, "2000-02-29T00:00:00.000Z");
    RENDER(out, cluster_buf_time(b, 1795606110123LL));
    CHECK_STR(out, "2026-11-25T11:28:30.123Z");
    RENDER(out, cluster_buf_time(b, 4102444799999LL));
    CHECK_STR(out, "2099-12-31T23:59:59.999Z");

    /* what does not fit is counted, never written past the end */
    memset(small, 'x', sizeof(small));
    cluster_buf_init(&b, small, 4);
    cluster_buf_cstr(&b, "abc");
    cluster_buf_cstr(&b, "defgh");
    cluster_buf_cstr(&b, "i");
    CHECK(b.need == 9);
    CHECK(memcmp(small, "abcxxxxx", 8) == 0);
}


void
test_json(void)
{
    char  out[256];

    RENDER(out, cluster_json_string(b, "plain", 5));
    CHECK_STR(out, "\"plain\"");
    RENDER(out, cluster_json_string(b, "a\"b\\c", 5));
    CHECK_STR(out, "\"a\\\"b\\\\c\"");
    RENDER(out, cluster_json_string(b, "l1\nl2\t\r\x01", 8));
    CHECK_STR(out, "\"l1\\nl2\\t\\r\\u0001\"");

    /* markup never survives, so the JSON may sit inside a page */
    RENDER(out, cluster_json_string(b, "<script>&", 9));
    CHECK_STR(out, "\"\\u003cscript\\u003e\\u0026\"");

    /* valid UTF-8 stays, invalid bytes become U+FFFD */
    RENDER(out, cluster_json_string(b, "caf\xc3\xa9", 5));
    CHECK_STR(out, "\"caf\xc3\xa9\"");
    RENDER(out, cluster_json_string(b, "\xe2\x82\xac\xf0\x9f\x98\x80", 7));
    CHECK_STR(out, "\"\xe2\x82\xac\xf0\x9f\x98\x80\"");
    RENDER(out, cluster_json_string(b, "a\xff" "b", 3));
    CHECK_STR(out, "\"a\\ufffdb\"");
    RENDER(out, cluster_json_string(b, "\xc3", 1));
    CHECK_STR(out, "\"\\ufffd\"");
    RENDER(out, cluster_json_string(b, "\xc0\xaf", 2));
    CHECK_STR(out, "\"\\ufffd\\ufffd\"");
    RENDER(out, cluster_json_string(b, "\xed\xa0\x80", 3));
    CHECK_STR(out, "\"\\ufffd\\ufffd\\ufffd\"");
    RENDER(out, cluster_json_string(b, "a\xe2\x80\xa8" "b\xe2\x80\xa9", 8));
    CHECK_STR(out, "\"a\\u2028b\\u2029\"");
    RENDER(out, cluster_json_string(b, "\0x", 2));
    CHECK_STR(out, "\"\\u0000x\"");

    RENDER(out, cluster_json_string_or_null(b, NULL, 0));
    CHECK_STR(out, "null");
    RENDER(out, cluster_json_bool(b, 1); cluster_json_bool(b, 0));
    CHECK_STR(out, "truefalse");
    RENDER(out, cluster_json_time(b, 0));
    CHECK_STR(out, "null");
    RENDER(out, cluster_json_time(b, 1000));
    CHECK_STR(out, "\"1970-01-01T00:00:01.000Z\"");
    RENDER(out, cluster_json_key(b, "k"));
    CHECK_STR(out, "\"k\":");
}
