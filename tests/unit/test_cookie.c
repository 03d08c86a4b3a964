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
                             "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                             "AAAAAAAAAAAAAAAA", 66, out, sizeof(out), &n);
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


void
test_cookie(void)
{
    CHECK(cluster_cookie_init() == 0);

    test_pairs();
    test_keys();
    test_vectors();
    test_hostile();
}
