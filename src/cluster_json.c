/*
 * ngx_cluster_module: JSON values.
 */

#include <string.h>

#include "cluster_json.h"


size_t
cluster_utf8_length(const unsigned char *p, size_t left)
{
    size_t    n, i;
    uint32_t  c;

    if (p[0] < 0x80) {
        return 1;
    }

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        c = p[0] & 0x1f;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        c = p[0] & 0x0f;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        c = p[0] & 0x07;

    } else {
        return 0;
    }

    if (n > left) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    /* overlong forms, surrogates and code points past U+10FFFF */
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000)
        || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
    {
        return 0;
    }

    return n;
}


void
cluster_json_string(cluster_buf_t *b, const char *s, size_t len)
{
    char                  esc[6];
    size_t                n;
    const unsigned char  *p, *end, *run;

    static const char     hex[] = "0123456789abcdef";

    cluster_buf_add(b, "\"", 1);

    p = (const unsigned char *) s;
    end = p + len;
    run = p;

    while (p < end) {

        if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\'
            && *p != '<' && *p != '>' && *p != '&')
        {
            p++;
            continue;
        }

        if (*p >= 0x80) {
            n = cluster_utf8_length(p, (size_t) (end - p));

            /*
             * U+2028 and U+2029 are valid JSON but end a line in older
             * JavaScript: escaped, so the document can sit in a script
             */

            if (n == 3 && p[0] == 0xe2 && p[1] == 0x80
                && (p[2] == 0xa8 || p[2] == 0xa9))
            {
                cluster_buf_add(b, (const char *) run, (size_t) (p - run));
                cluster_buf_add(b, p[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                p += 3;
                run = p;
                continue;
            }

            if (n) {
                p += n;
                continue;
            }
        }

        cluster_buf_add(b, (const char *) run, (size_t) (p - run));

        switch (*p) {
        case '"':
            cluster_buf_add(b, "\\\"", 2);
            break;
        case '\\':
            cluster_buf_add(b, "\\\\", 2);
            break;
        case '\n':
            cluster_buf_add(b, "\\n", 2);
            break;
        case '\r':
            cluster_buf_add(b, "\\r", 2);
            break;
        case '\t':
            cluster_buf_add(b, "\\t", 2);
            break;
        default:
            if (*p >= 0x80) {
                cluster_buf_add(b, "\\ufffd", 6);
                break;
            }

            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 0xf];
            cluster_buf_add(b, esc, sizeof(esc));
        }

        p++;
        run = p;
    }

    cluster_buf_add(b, (const char *) run, (size_t) (p - run));
    cluster_buf_add(b, "\"", 1);
}


void
cluster_json_string_or_null(cluster_buf_t *b, const char *s, size_t len)
{
    if (s == NULL) {
        cluster_buf_add(b, "null", 4);
        return;
    }

    cluster_json_string(b, s, len);
}


void
cluster_json_bool(cluster_buf_t *b, int v)
{
    if (v) {
        cluster_buf_add(b, "true", 4);

    } else {
        cluster_buf_add(b, "false", 5);
    }
}


void
cluster_json_time(cluster_buf_t *b, int64_t ms)
{
    if (ms == 0) {
        cluster_buf_add(b, "null", 4);
        return;
    }

    cluster_buf_add(b, "\"", 1);
    cluster_buf_time(b, ms);
    cluster_buf_add(b, "\"", 1);
}


void
cluster_json_key(cluster_buf_t *b, const char *name)
{
    cluster_json_string(b, name, strlen(name));
    cluster_buf_add(b, ":", 1);
}
