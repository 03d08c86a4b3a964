/*
 * ngx_cluster_module: a bounded output buffer.
 */

#include <string.h>

#include "cluster_buf.h"


void
cluster_buf_init(cluster_buf_t *b, char *start, size_t size)
{
    b->pos = start;
    b->end = start + size;
    b->need = 0;
}


void
cluster_buf_add(cluster_buf_t *b, const char *data, size_t len)
{
    size_t  room;

    if (len == 0) {
        /* and so never a copy to the NULL of a pass that only measures */
        return;
    }

    b->need += len;

    room = (size_t) (b->end - b->pos);

    if (len > room) {
        /* nothing more is written once one write did not fit */
        b->pos = b->end;
        return;
    }

    memcpy(b->pos, data, len);
    b->pos += len;
}


void
cluster_buf_cstr(cluster_buf_t *b, const char *s)
{
    cluster_buf_add(b, s, strlen(s));
}


void
cluster_buf_uint(cluster_buf_t *b, uint64_t v)
{
    char   digits[20], *p;

    p = digits + sizeof(digits);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    cluster_buf_add(b, p, (size_t) (digits + sizeof(digits) - p));
}


void
cluster_buf_int(cluster_buf_t *b, int64_t v)
{
    if (v < 0) {
        cluster_buf_add(b, "-", 1);
        cluster_buf_uint(b, (uint64_t) 0 - (uint64_t) v);
        return;
    }

    cluster_buf_uint(b, (uint64_t) v);
}


void
cluster_buf_seconds(cluster_buf_t *b, int64_t ms)
{
    char      frac[4];
    uint64_t  u;

    if (ms < 0) {
        cluster_buf_add(b, "-", 1);
        u = (uint64_t) 0 - (uint64_t) ms;

    } else {
        u = (uint64_t) ms;
    }

    cluster_buf_uint(b, u / 1000);

    frac[0] = '.';
    frac[1] = (char) ('0' + u % 1000 / 100);
    frac[2] = (char) ('0' + u % 100 / 10);
    frac[3] = (char) ('0' + u % 10);

    cluster_buf_add(b, frac, sizeof(frac));
}


static void
cluster_buf_digits(char *p, unsigned v, int n)
{
    while (n--) {
        p[n] = (char) ('0' + v % 10);
        v /= 10;
    }
}


void
cluster_buf_time(cluster_buf_t *b, int64_t ms)
{
    char      s[sizeof("yyyy-mm-ddThh:mm:ss.mmmZ") - 1];
    int64_t   days, secs, era, doe, yoe, doy, mp, y, m, d;

    if (ms < 0) {
        ms = 0;
    }

    days = ms / 86400000;
    secs = ms / 1000 % 86400;

    /* civil date from days since 1970-01-01 (proleptic Gregorian) */
    days += 719468;
    era = days / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = yoe + era * 400 + (m <= 2);

    cluster_buf_digits(s, (unsigned) y, 4);
    s[4] = '-';
    cluster_buf_digits(s + 5, (unsigned) m, 2);
    s[7] = '-';
    cluster_buf_digits(s + 8, (unsigned) d, 2);
    s[10] = 'T';
    cluster_buf_digits(s + 11, (unsigned) (secs / 3600), 2);
    s[13] = ':';
    cluster_buf_digits(s + 14, (unsigned) (secs / 60 % 60), 2);
    s[16] = ':';
    cluster_buf_digits(s + 17, (unsigned) (secs % 60), 2);
    s[19] = '.';
    cluster_buf_digits(s + 20, (unsigned) (ms % 1000), 3);
    s[23] = 'Z';

    cluster_buf_add(b, s, sizeof(s));
}
