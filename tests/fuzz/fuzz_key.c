/*
 * libFuzzer target: the readers of the EncryptionKey, over any text.
 * cluster_key_parse (file=, env=) is held to its contract, checked here by
 * hand; cluster_key_from_config (inedo_config=) to the regex it replaced,
 * run by PCRE2, as nginx ran it, over a copy of the text with its comments
 * blanked as the module used to blank them.  Any difference aborts.
 */

#define PCRE2_CODE_UNIT_WIDTH  8

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "cluster_cookie.h"


#define FUZZ_KEY_HEX        (2 * CLUSTER_KEY_RAW)
#define FUZZ_KEY_UNTOUCHED  0xa5


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_key_parse(const uint8_t *data, size_t size);
static void fuzz_key_config(const uint8_t *data, size_t size);
static int fuzz_key_decode(const uint8_t *hex, uint8_t raw[CLUSTER_KEY_RAW]);
static int fuzz_key_nibble(uint8_t c);
static int fuzz_key_blank(uint8_t c);
static const uint8_t *fuzz_key_find(const uint8_t *p, const uint8_t *end,
    const char *s, size_t n);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_key_parse(data, size);
    fuzz_key_config(data, size);

    return 0;
}


/* exactly 32 hex digits once spaces, tabs, CRs and LFs are trimmed */
static void
fuzz_key_parse(const uint8_t *data, size_t size)
{
    int             rc, want;
    size_t          len;
    uint8_t         raw[CLUSTER_KEY_RAW], expect[CLUSTER_KEY_RAW];
    const uint8_t  *p;

    p = data;
    len = size;

    while (len && fuzz_key_blank(*p)) {
        p++;
        len--;
    }

    while (len && fuzz_key_blank(p[len - 1])) {
        len--;
    }

    want = (len == FUZZ_KEY_HEX) ? fuzz_key_decode(p, expect) : -1;

    memset(raw, FUZZ_KEY_UNTOUCHED, sizeof(raw));

    rc = cluster_key_parse((const char *) data, size, raw);

    if ((rc == 0) != (want == 0)) {
        abort();
    }

    if (rc == 0 && memcmp(raw, expect, sizeof(raw)) != 0) {
        abort();
    }
}


/*
 * The regex the module ran with nginx's PCRE2 options (none), over the
 * text with every "<!--" up to the next "-->" after it, or to the end,
 * blanked with spaces: whether a key is found, and which, must agree.
 */
static void
fuzz_key_config(const uint8_t *data, size_t size)
{
    int                       rc, erc;
    size_t                    i;
    uint8_t                   raw[CLUSTER_KEY_RAW], expect[CLUSTER_KEY_RAW];
    uint8_t                  *copy;
    PCRE2_SIZE                eoff, *ov;
    const uint8_t            *p, *close, *end;

    static pcre2_code        *re;
    static pcre2_match_data  *md;

    if (re == NULL) {
        re = pcre2_compile((PCRE2_SPTR)
                 "<EncryptionKey>\\s*([0-9A-Fa-f]{32})\\s*</EncryptionKey>",
                 PCRE2_ZERO_TERMINATED, 0, &erc, &eoff, NULL);
        if (re == NULL) {
            abort();
        }

        md = pcre2_match_data_create_from_pattern(re, NULL);
        if (md == NULL) {
            abort();
        }
    }

    copy = malloc(size + 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    p = copy;
    end = copy + size;

    while ((p = fuzz_key_find(p, end, "<!--", 4)) != NULL) {
        close = fuzz_key_find(p + 4, end, "-->", 3);
        close = close ? close + 3 : end;

        memset(copy + (p - copy), ' ', (size_t) (close - p));
        p = close;
    }

    erc = pcre2_match(re, copy, size, 0, 0, md, NULL);

    if (erc < 0 && erc != PCRE2_ERROR_NOMATCH) {
        abort();
    }

    memset(raw, FUZZ_KEY_UNTOUCHED, sizeof(raw));

    rc = cluster_key_from_config((const char *) data, size, raw);

    if ((rc == 0) != (erc > 0)) {
        abort();
    }

    if (rc != 0) {
        /* no key: raw untouched */
        for (i = 0; i < sizeof(raw); i++) {
            if (raw[i] != FUZZ_KEY_UNTOUCHED) {
                abort();
            }
        }

        free(copy);
        return;
    }

    /* the first element that matches: its digits, in the text as it is */
    ov = pcre2_get_ovector_pointer(md);

    if (ov[3] - ov[2] != FUZZ_KEY_HEX
        || memcmp(copy + ov[2], data + ov[2], FUZZ_KEY_HEX) != 0
        || fuzz_key_decode(data + ov[2], expect) != 0
        || memcmp(raw, expect, sizeof(raw)) != 0)
    {
        abort();
    }

    free(copy);
}


static int
fuzz_key_decode(const uint8_t *hex, uint8_t raw[CLUSTER_KEY_RAW])
{
    int     hi, lo;
    size_t  i;

    for (i = 0; i < CLUSTER_KEY_RAW; i++) {
        hi = fuzz_key_nibble(hex[2 * i]);
        lo = fuzz_key_nibble(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        raw[i] = (uint8_t) (hi << 4 | lo);
    }

    return 0;
}


static int
fuzz_key_nibble(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
fuzz_key_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


static const uint8_t *
fuzz_key_find(const uint8_t *p, const uint8_t *end, const char *s, size_t n)
{
    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        if (memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}
