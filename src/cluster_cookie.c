/*
 * ngx_cluster_module: the EncryptionKey and the cookie scheme v1.
 */

#include <string.h>

#include <sodium.h>

#include "cluster_cookie.h"


#define CLUSTER_COOKIE_VERSION  0x01
#define CLUSTER_COOKIE_HEAD     (1 + CLUSTER_COOKIE_NONCE)

#define CLUSTER_KEY_OPEN        "<EncryptionKey>"
#define CLUSTER_KEY_CLOSE       "</EncryptionKey>"
#define CLUSTER_KEY_HEX         (2 * CLUSTER_KEY_RAW)


static int cluster_key_at(const char *p, const char *end, const char *s,
    size_t n);
static const char *cluster_key_blanks(const char *p, const char *end);
static const char *cluster_key_comment(const char *p, const char *end);
static int cluster_key_hex(unsigned char c);


int
cluster_cookie_pair(const char **p, const char *end, const char **name,
    size_t *name_len, const char **value, size_t *value_len)
{
    const char  *s, *semi, *eq, *n, *v;

    s = *p;

    while (s < end && (*s == ' ' || *s == '\t')) {
        s++;
    }

    semi = memchr(s, ';', (size_t) (end - s));
    if (semi == NULL) {
        semi = end;
    }

    *p = (semi < end) ? semi + 1 : end;

    eq = memchr(s, '=', (size_t) (semi - s));

    if (eq == NULL || eq == s) {
        return 0;
    }

    n = eq;

    while (n > s && (n[-1] == ' ' || n[-1] == '\t')) {
        n--;
    }

    if (n == s) {
        return 0;
    }

    v = eq + 1;

    while (v < semi && (*v == ' ' || *v == '\t')) {
        v++;
    }

    *name = s;
    *name_len = (size_t) (n - s);
    *value = v;

    for (*value_len = (size_t) (semi - v);
         *value_len && (v[*value_len - 1] == ' ' || v[*value_len - 1] == '\t');
         (*value_len)--)
    {
        /* void */
    }

    return 1;
}


size_t
cluster_cookie_literal(const char *re, size_t len, char *out, size_t size)
{
    char         c;
    size_t       n;
    const char  *p, *end;

    p = re;
    end = re + len;

    /* the name must match whole: anchors say nothing more */

    if (p < end && *p == '^') {
        p++;
    }

    if (end - p >= 1 && end[-1] == '$'
        && !(end - p >= 2 && end[-2] == '\\'))
    {
        end--;
    }

    for (n = 0; p < end; p++) {
        c = *p;

        if (c == '\\') {
            /* "\." is a dot; "\d", "\w", "\Q" are classes or more */
            if (++p == end
                || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
                || (*p >= 'A' && *p <= 'Z'))
            {
                return 0;
            }

            c = *p;

        } else if (strchr(".[]()*+?{}|^$", c) != NULL || c == '\0') {
            return 0;
        }

        if (n == size) {
            return 0;
        }

        out[n++] = c;
    }

    return n;
}


int
cluster_cookie_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}


int
cluster_key_parse(const char *text, size_t len, uint8_t raw[CLUSTER_KEY_RAW])
{
    size_t       bin_len;
    const char  *end;

    while (len && (*text == ' ' || *text == '\t' || *text == '\r'
                   || *text == '\n'))
    {
        text++;
        len--;
    }

    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'
                   || text[len - 1] == '\r' || text[len - 1] == '\n'))
    {
        len--;
    }

    if (len != 2 * CLUSTER_KEY_RAW) {
        return -1;
    }

    if (sodium_hex2bin(raw, CLUSTER_KEY_RAW, text, len, NULL, &bin_len, &end)
        != 0
        || bin_len != CLUSTER_KEY_RAW || end != text + len)
    {
        sodium_memzero(raw, CLUSTER_KEY_RAW);
        return -1;
    }

    return 0;
}


/*
 * The element the module's regex found in the text with its comments
 * blanked out, and no other:
 *
 *     <EncryptionKey>\s*([0-9A-Fa-f]{32})\s*</EncryptionKey>
 *
 * so a comment next to the digits counts as a blank, and an element that
 * is not a key is passed over for a later one.  The digits are decoded
 * where they lie: no copy of them is left to wipe.
 */

int
cluster_key_from_config(const char *text, size_t len,
    uint8_t raw[CLUSTER_KEY_RAW])
{
    const char  *p, *q, *end, *digits;

    p = text;
    end = text + len;

    while (p < end) {

        if (cluster_key_at(p, end, "<!--", 4)) {
            p = cluster_key_comment(p + 4, end);
            continue;
        }

        if (!cluster_key_at(p, end, CLUSTER_KEY_OPEN,
                            sizeof(CLUSTER_KEY_OPEN) - 1))
        {
            p++;
            continue;
        }

        digits = cluster_key_blanks(p + sizeof(CLUSTER_KEY_OPEN) - 1, end);

        for (q = digits;
             q < end && q - digits < CLUSTER_KEY_HEX
             && cluster_key_hex((unsigned char) *q);
             q++)
        {
            /* void */
        }

        if (q - digits == CLUSTER_KEY_HEX
            && cluster_key_at(cluster_key_blanks(q, end), end,
                              CLUSTER_KEY_CLOSE,
                              sizeof(CLUSTER_KEY_CLOSE) - 1))
        {
            return cluster_key_parse(digits, CLUSTER_KEY_HEX, raw);
        }

        p++;
    }

    return -1;
}


static int
cluster_key_at(const char *p, const char *end, const char *s, size_t n)
{
    return (size_t) (end - p) >= n && memcmp(p, s, n) == 0;
}


/* PCRE's \s, and comments, which the regex saw blanked out */
static const char *
cluster_key_blanks(const char *p, const char *end)
{
    while (p < end) {

        if (*p == ' ' || (*p >= '\t' && *p <= '\r')) {
            p++;
            continue;
        }

        if (cluster_key_at(p, end, "<!--", 4)) {
            p = cluster_key_comment(p + 4, end);
            continue;
        }

        break;
    }

    return p;
}


/* past the "-->" that closes a comment, p being past its "<!--"; or end */
static const char *
cluster_key_comment(const char *p, const char *end)
{
    for ( /* void */ ; end - p >= 3; p++) {
        if (p[0] == '-' && p[1] == '-' && p[2] == '>') {
            return p + 3;
        }
    }

    return end;
}


static int
cluster_key_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


void
cluster_cookie_key(const uint8_t raw[CLUSTER_KEY_RAW],
    uint8_t key[CLUSTER_KEY_SEAL])
{
    static const char  label[] = "ngx_cluster cookie v1";

    crypto_generichash(key, CLUSTER_KEY_SEAL, (const uint8_t *) label,
                       sizeof(label) - 1, raw, CLUSTER_KEY_RAW);
}


void
cluster_key_fingerprint(const uint8_t raw[CLUSTER_KEY_RAW], char out[9])
{
    uint8_t            fp[16];

    static const char  label[] = "ngx_cluster fingerprint v1";

    crypto_generichash(fp, sizeof(fp), (const uint8_t *) label,
                       sizeof(label) - 1, raw, CLUSTER_KEY_RAW);

    sodium_bin2hex(out, 9, fp, 4);
}


size_t
cluster_cookie_seal(const uint8_t key[CLUSTER_KEY_SEAL], const char *name,
    size_t name_len, const uint8_t *text, size_t text_len,
    const uint8_t nonce[CLUSTER_COOKIE_NONCE], char *out, size_t size)
{
    size_t              blob_len;
    uint8_t             blob[CLUSTER_COOKIE_MAX];
    unsigned long long  ct_len;

    /* what is sealed must open: its encoding within CLUSTER_COOKIE_MAX */

    if (text_len > CLUSTER_COOKIE_MAX / 4 * 3 - CLUSTER_COOKIE_HEAD
                   - crypto_aead_xchacha20poly1305_ietf_ABYTES)
    {
        return 0;
    }

    blob_len = CLUSTER_COOKIE_HEAD + text_len
               + crypto_aead_xchacha20poly1305_ietf_ABYTES;

    if (blob_len > sizeof(blob)
        || size < sodium_base64_ENCODED_LEN(blob_len,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING))
    {
        return 0;
    }

    blob[0] = CLUSTER_COOKIE_VERSION;
    memcpy(blob + 1, nonce, CLUSTER_COOKIE_NONCE);

    crypto_aead_xchacha20poly1305_ietf_encrypt(blob + CLUSTER_COOKIE_HEAD,
                                               &ct_len, text, text_len,
                                               (const uint8_t *) name,
                                               name_len, NULL, nonce, key);

    sodium_bin2base64(out, size, blob, CLUSTER_COOKIE_HEAD + ct_len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);

    return strlen(out);
}


cluster_cookie_rc_e
cluster_cookie_open(const uint8_t key[CLUSTER_KEY_SEAL], const char *name,
    size_t name_len, const char *value, size_t len, uint8_t *text,
    size_t size, size_t *text_len)
{
    size_t              blob_len;
    uint8_t             blob[CLUSTER_COOKIE_MAX];
    const char         *end;
    unsigned long long  pt_len;

    if (len == 0 || len > CLUSTER_COOKIE_MAX) {
        return CLUSTER_COOKIE_MALFORMED;
    }

    if (sodium_base642bin(blob, sizeof(blob), value, len, NULL, &blob_len,
                          &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING)
        != 0
        || end != value + len)
    {
        return CLUSTER_COOKIE_MALFORMED;
    }

    if (blob_len < CLUSTER_COOKIE_HEAD
                   + crypto_aead_xchacha20poly1305_ietf_ABYTES
        || blob[0] != CLUSTER_COOKIE_VERSION)
    {
        return CLUSTER_COOKIE_MALFORMED;
    }

    if (blob_len - CLUSTER_COOKIE_HEAD
        - crypto_aead_xchacha20poly1305_ietf_ABYTES > size)
    {
        return CLUSTER_COOKIE_MALFORMED;
    }

    if (crypto_aead_xchacha20poly1305_ietf_decrypt(text, &pt_len, NULL,
                                 blob + CLUSTER_COOKIE_HEAD,
                                 blob_len - CLUSTER_COOKIE_HEAD,
                                 (const uint8_t *) name, name_len,
                                 blob + 1, key)
        != 0)
    {
        return CLUSTER_COOKIE_FORGED;
    }

    *text_len = (size_t) pt_len;

    return CLUSTER_COOKIE_OPENED;
}
