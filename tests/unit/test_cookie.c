/*
 * The EncryptionKey and the cookie scheme v1, against known-answer vectors
 * made by libsodium.js, independently of this code
 * (tests/vectors/make_cookie_vectors.js).
 */

#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "unit.h"
#include "cluster_cookie.h"


#define VECTORS  "tests/vectors/cookie_vectors.txt"


static int
next_line(FILE *f, char *buf, size_t size)
{
    size_t  n;

    if (fgets(buf, (int) size, f) == NULL) {
        return 0;
    }

    n = strlen(buf);

    if (n && buf[n - 1] == '\n') {
        buf[n - 1] = '\0';
    }

    return 1;
}


static void
test_vectors(void)
{
    int                  count;
    char                 hex[64], name[64], text[256], nonce_hex[64];
    char                 fp[16], cookie[1024], sealed[1024], got_fp[9];
    FILE                *f;
    size_t               n, len;
    uint8_t              raw[CLUSTER_KEY_RAW], key[CLUSTER_KEY_SEAL];
    uint8_t              nonce[CLUSTER_COOKIE_NONCE], out[256];
    uint8_t              other[CLUSTER_KEY_SEAL];
    cluster_cookie_rc_e  rc;

    f = fopen(VECTORS, "r");
    CHECK(f != NULL);

    if (f == NULL) {
        return;
    }

    count = 0;

    while (next_line(f, hex, sizeof(hex)) && next_line(f, name, sizeof(name))
           && next_line(f, text, sizeof(text))
           && next_line(f, nonce_hex, sizeof(nonce_hex))
           && next_line(f, fp, sizeof(fp))
           && next_line(f, cookie, sizeof(cookie)))
    {
        count++;

        CHECK(cluster_key_parse(hex, strlen(hex), raw) == 0);
        cluster_cookie_key(raw, key);
        cluster_key_fingerprint(raw, got_fp);
        CHECK_STR(got_fp, fp);

        CHECK(sodium_hex2bin(nonce, sizeof(nonce), nonce_hex,
                             strlen(nonce_hex), NULL, &n, NULL) == 0);

        /* sealing gives exactly the vector */
        len = cluster_cookie_seal(key, name, strlen(name),
                                  (const uint8_t *) text, strlen(text), nonce,
                                  sealed, sizeof(sealed));
        CHECK(len == strlen(cookie));
        CHECK_STR(sealed, cookie);

        /* opening gives the plaintext back */
        rc = cluster_cookie_open(key, name, strlen(name), cookie,
                                 strlen(cookie), out, sizeof(out), &n);
        CHECK(rc == CLUSTER_COOKIE_OPENED);
        CHECK(n == strlen(text) && memcmp(out, text, n) == 0);

        /* another key, another cookie name: forged */
        memcpy(other, key, sizeof(other));
        other[0] ^= 1;
        CHECK(cluster_cookie_open(other, name, strlen(name), cookie,
                                  strlen(cookie), out, sizeof(out), &n)
              == CLUSTER_COOKIE_FORGED);
        CHECK(cluster_cookie_open(key, "other", 5, cookie, strlen(cookie),
                                  out, sizeof(out), &n)
              == CLUSTER_COOKIE_FORGED);

        /* a changed character in the sealed part */
        cookie[40] = (cookie[40] == 'A') ? 'B' : 'A';
        CHECK(cluster_cookie_open(key, name, strlen(name), cookie,
                                  strlen(cookie), out, sizeof(out), &n)
              != CLUSTER_COOKIE_OPENED);

        /* truncated, to nothing, to less than a tag */
        CHECK(cluster_cookie_open(key, name, strlen(name), cookie, 30, out,
                                  sizeof(out), &n)
              == CLUSTER_COOKIE_MALFORMED);
        CHECK(cluster_cookie_open(key, name, strlen(name), cookie, 0, out,
                                  sizeof(out), &n)
              == CLUSTER_COOKIE_MALFORMED);
    }

    fclose(f);

    CHECK(count == 4);
}


static void
test_keys(void)
{
    char     fp[9];
    uint8_t  raw[CLUSTER_KEY_RAW], raw2[CLUSTER_KEY_RAW];

    CHECK(cluster_key_parse("00112233445566778899aabbccddeeff", 32, raw) == 0);
    CHECK(raw[0] == 0x00 && raw[15] == 0xff);
    CHECK(cluster_key_parse(" 00112233445566778899AABBCCDDEEFF\r\n", 35, raw2)
          == 0);
    CHECK(memcmp(raw, raw2, sizeof(raw)) == 0);

    CHECK(cluster_key_parse("00112233445566778899aabbccddee", 30, raw) != 0);
    CHECK(cluster_key_parse("00112233445566778899aabbccddeeff00", 34, raw)
          != 0);
    CHECK(cluster_key_parse("0011223344556677889xaabbccddeeff", 32, raw) != 0);
    CHECK(cluster_key_parse("00112233 445566778899aabbccddeef", 32, raw) != 0);
    CHECK(cluster_key_parse("", 0, raw) != 0);

    /* the fingerprint shows nothing of the key but 32 bits of a hash */
    cluster_key_parse("00112233445566778899aabbccddeeff", 32, raw);
    cluster_key_fingerprint(raw, fp);
    CHECK(strlen(fp) == 8);
    CHECK(strstr("00112233445566778899aabbccddeeff", fp) == NULL);
}


/* the reader over a copy of exactly len bytes, so ASan sees any overread */
static int
from_config(const char *text, size_t len, uint8_t raw[CLUSTER_KEY_RAW])
{
    int    rc;
    char  *copy;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return -2;
    }

    memcpy(copy, text, len);
    rc = cluster_key_from_config(copy, len, raw);

    /* the text is read, never written */
    if (memcmp(copy, text, len) != 0) {
        rc = -3;
    }

    free(copy);

    return rc;
}


#define FROM_CONFIG(text, raw)  from_config(text, sizeof(text) - 1, raw)

#define KEY       "00112233445566778899aabbccddeeff"
#define OLD_KEY   "ffeeddccbbaa99887766554433221100"


static void
test_config_keys(void)
{
    size_t   n, len;
    uint8_t  want[CLUSTER_KEY_RAW], old[CLUSTER_KEY_RAW];
    uint8_t  raw[CLUSTER_KEY_RAW], untouched[CLUSTER_KEY_RAW];

    static const char  proget[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<InedoAppConfig>\n"
        "  <ConnectionString>Data Source=db</ConnectionString>\n"
        "  <!-- the old one: <EncryptionKey>" OLD_KEY "</EncryptionKey> -->\n"
        "  <EncryptionKey>" KEY "</EncryptionKey>\n"
        "  <WebServer Enabled=\"true\" Urls=\"http://*:8624/\"/>\n"
        "</InedoAppConfig>\n";

    CHECK(cluster_key_parse(KEY, 32, want) == 0);
    CHECK(cluster_key_parse(OLD_KEY, 32, old) == 0);

    /* the element found, the one in a comment before it ignored */
    memset(raw, 0, sizeof(raw));
    CHECK(FROM_CONFIG(proget, raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);

    CHECK(FROM_CONFIG("<EncryptionKey>" KEY "</EncryptionKey>", raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);

    /* blanks around the digits: PCRE's \s, all six of them */
    CHECK(FROM_CONFIG("<EncryptionKey>\n\t  " KEY " \r\n</EncryptionKey>",
                      raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);
    CHECK(FROM_CONFIG("<EncryptionKey>\v\f" KEY "\f\v</EncryptionKey>", raw)
          == 0);

    /* upper, lower and mixed case */
    CHECK(FROM_CONFIG("<EncryptionKey>00112233445566778899AABBCCDDEEFF"
                      "</EncryptionKey>", raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);
    CHECK(FROM_CONFIG("<EncryptionKey>00112233445566778899aAbBcCdDeEfF"
                      "</EncryptionKey>", raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);

    /* only in a comment: none; a later real one: that one */
    CHECK(FROM_CONFIG("<!-- <EncryptionKey>" KEY "</EncryptionKey> -->", raw)
          != 0);
    CHECK(FROM_CONFIG("<!--<EncryptionKey>" OLD_KEY "</EncryptionKey>-->"
                      "<!-- another -->"
                      "<EncryptionKey>" KEY "</EncryptionKey>", raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);

    /* an unclosed comment runs to the end */
    CHECK(FROM_CONFIG("<!-- <EncryptionKey>" KEY "</EncryptionKey>", raw)
          != 0);
    CHECK(FROM_CONFIG("<EncryptionKey>" KEY "</EncryptionKey><!-- ", raw)
          == 0);
    CHECK(FROM_CONFIG("<!-- -- > --!> <EncryptionKey>" KEY "</EncryptionKey>",
                      raw) != 0);

    /* "<!-->" opens a comment and does not close it */
    CHECK(FROM_CONFIG("<!--><EncryptionKey>" KEY "</EncryptionKey>-->", raw)
          != 0);
    CHECK(FROM_CONFIG("<!---><EncryptionKey>" KEY "</EncryptionKey>", raw)
          != 0);
    CHECK(FROM_CONFIG("<!---->" "<EncryptionKey>" KEY "</EncryptionKey>", raw)
          == 0);

    /* a comment next to the digits is a blank, as the regex saw it */
    CHECK(FROM_CONFIG("<EncryptionKey><!-- " OLD_KEY " -->" KEY
                      "<!-- -->\n</EncryptionKey>", raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);
    CHECK(FROM_CONFIG("<EncryptionKey>0011223344556677<!-- -->"
                      "8899aabbccddeeff</EncryptionKey>", raw) != 0);

    /* wrong length, not hex, blanks inside: no key */
    memset(untouched, 0xa5, sizeof(untouched));
    memcpy(raw, untouched, sizeof(raw));
    CHECK(FROM_CONFIG("<EncryptionKey>00112233445566778899aabbccddeef"
                      "</EncryptionKey>", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey>" KEY "0</EncryptionKey>", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey>0011223344556677889xaabbccddeeff"
                      "</EncryptionKey>", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey>0011223344556677 8899aabbccddeeff"
                      "</EncryptionKey>", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey></EncryptionKey>", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey>xyz</EncryptionKey>", raw) != 0);
    CHECK(memcmp(raw, untouched, sizeof(raw)) == 0);

    /* the element's name as written, nothing in its tags */
    CHECK(FROM_CONFIG("<encryptionkey>" KEY "</encryptionkey>", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey >" KEY "</EncryptionKey>", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey>" KEY "</EncryptionKey >", raw) != 0);
    CHECK(FROM_CONFIG("<EncryptionKey>" KEY, raw) != 0);

    /* the first element that is a key, past those that are not */
    CHECK(FROM_CONFIG("<EncryptionKey>xyz</EncryptionKey>"
                      "<EncryptionKey><EncryptionKey>" KEY "</EncryptionKey>"
                      "<EncryptionKey>" OLD_KEY "</EncryptionKey>", raw) == 0);
    CHECK(memcmp(raw, want, sizeof(raw)) == 0);

    /* cut anywhere before the closing tag's end: no key; after it: the key */
    len = strstr(proget, KEY "</EncryptionKey>") - proget + 32 + 16;

    for (n = 0; n < sizeof(proget); n++) {
        memcpy(raw, untouched, sizeof(raw));

        if (n < len) {
            CHECK(from_config(proget, n, raw) == -1);
            CHECK(memcmp(raw, untouched, sizeof(raw)) == 0);

        } else {
            CHECK(from_config(proget, n, raw) == 0);
            CHECK(memcmp(raw, want, sizeof(raw)) == 0);
        }
    }

    /* empty, and a NUL before the element does not end the text */
    CHECK(from_config("", 0, raw) == -1);
    CHECK(FROM_CONFIG("\0<EncryptionKey>" KEY "</EncryptionKey>", raw) == 0);
}


static void
test_hostile(void)
{
    char                 big[CLUSTER_COOKIE_MAX + 2];
    size_t               n;
    uint8_t              key[CLUSTER_KEY_SEAL], out[64];
    cluster_cookie_rc_e  rc;

    memset(key, 7, sizeof(key));

    CHECK(cluster_cookie_open(key, "a", 1, "not base64!", 11, out,
                              sizeof(out), &n) == CLUSTER_COOKIE_MALFORMED);
    CHECK(cluster_cookie_open(key, "a", 1, "AQ==", 4, out, sizeof(out), &n)
          == CLUSTER_COOKIE_MALFORMED);

    /* version 2 is not v1 */
    CHECK(cluster_cookie_open(key, "a", 1,
                              "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                              "AAAAAAAAAAAAAAAAAA", 66, out, sizeof(out), &n)
          == CLUSTER_COOKIE_MALFORMED);

    /* a well-formed v1 of zeros: forged */
    rc = cluster_cookie_open(key, "a", 1,
                             "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                             "AAAAAAAAAAAAAAAAA", 66, out, sizeof(out), &n);
    CHECK(rc == CLUSTER_COOKIE_FORGED);

    /* over-long */
    memset(big, 'A', sizeof(big));
    CHECK(cluster_cookie_open(key, "a", 1, big, sizeof(big), out, sizeof(out),
                              &n) == CLUSTER_COOKIE_MALFORMED);

    /* a plaintext bigger than the caller's room is refused, not copied */
    {
        char     sealed[512];
        uint8_t  nonce[CLUSTER_COOKIE_NONCE], text[100];
        size_t   len;

        memset(nonce, 1, sizeof(nonce));
        memset(text, 'x', sizeof(text));
        len = cluster_cookie_seal(key, "a", 1, text, sizeof(text), nonce,
                                  sealed, sizeof(sealed));
        CHECK(len > 0);
        CHECK(cluster_cookie_open(key, "a", 1, sealed, len, out, sizeof(out),
                                  &n) == CLUSTER_COOKIE_MALFORMED);
        CHECK(cluster_cookie_seal(key, "a", 1, text, sizeof(text), nonce,
                                  sealed, 10) == 0);
    }
}


/* the pairs of a header, as "name|value" joined by spaces */
static void
pairs(const char *header, char *out, size_t size)
{
    size_t       nl, vl, len;
    const char  *p, *end, *n, *v;

    p = header;
    end = header + strlen(header);
    len = 0;
    out[0] = '\0';

    while (p < end) {
        if (cluster_cookie_pair(&p, end, &n, &nl, &v, &vl)) {
            len += snprintf(out + len, size - len, "%s%.*s|%.*s",
                            len ? " " : "", (int) nl, n, (int) vl, v);
        }
    }
}


static void
test_pairs(void)
{
    char  out[256];

    pairs("a=1; .ProGetAuth=AQxy; b=2", out, sizeof(out));
    CHECK_STR(out, "a|1 .ProGetAuth|AQxy b|2");

    /* blanks trimmed, empty values kept, nameless pairs skipped */
    pairs("  x = y ;z=;=w; novalue ;;q=a=b", out, sizeof(out));
    CHECK_STR(out, "x|y z| q|a=b");

    /* a Set-Cookie: the cookie, then attributes */
    pairs("s=abc; Path=/; HttpOnly", out, sizeof(out));
    CHECK_STR(out, "s|abc Path|/");

    pairs("", out, sizeof(out));
    CHECK_STR(out, "");
    pairs(";;;", out, sizeof(out));
    CHECK_STR(out, "");
    pairs(" \t=", out, sizeof(out));
    CHECK_STR(out, "");
}


/* the one name an expression matches, or none */
static void
test_literal(void)
{
    char         out[32];
    size_t       i, n;
    const char  *real[] = { "ProGet.*", "a|b", "(x)", "[Aa]uth", "a+", "\\d",
                            "\\w+", "x?", "a{2}", "^a^b", "\\", "\\Qx\\E",
                            "a$b", "" };

    n = cluster_cookie_literal("^\\.ProGetAuth$", 14, out, sizeof(out));
    CHECK(n == 11 && memcmp(out, ".ProGetAuth", 11) == 0);

    n = cluster_cookie_literal("BuildMasterAuth", 15, out, sizeof(out));
    CHECK(n == 15 && memcmp(out, "BuildMasterAuth", 15) == 0);

    n = cluster_cookie_literal("^auth_token\\$$", 14, out, sizeof(out));
    CHECK(n == 11 && memcmp(out, "auth_token$", 11) == 0);

    n = cluster_cookie_literal("a\\-b", 4, out, sizeof(out));
    CHECK(n == 3 && memcmp(out, "a-b", 3) == 0);

    for (i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
        CHECK(cluster_cookie_literal(real[i], strlen(real[i]), out,
                                     sizeof(out)) == 0);
    }

    /* longer than the room: none */
    CHECK(cluster_cookie_literal("abcdefgh", 8, out, 4) == 0);
}


void
test_cookie(void)
{
    CHECK(cluster_cookie_init() == 0);

    test_pairs();
    test_keys();
    test_config_keys();
    test_vectors();
    test_hostile();
    test_literal();
}
