/*
 * ngx_cluster_module: the HTTP answer to a check.
 */

#include <string.h>

#include "cluster_http.h"


static cluster_http_rc_e cluster_http_header(char *buf,
    const char *head_end, cluster_http_response_t *r);
static cluster_http_rc_e cluster_http_dechunk(char *buf, size_t len, int eof,
    cluster_http_response_t *r);
static const char *cluster_http_find(const char *p, const char *end,
    const char *s, size_t n);
static int cluster_http_header_is(const char *name, size_t len,
    const char *want);


void
cluster_http_response_init(cluster_http_response_t *r)
{
    memset(r, 0, sizeof(cluster_http_response_t));
    r->content_length = -1;
}


cluster_http_rc_e
cluster_http_response_parse(char *buf, size_t len, int eof,
    cluster_http_response_t *r)
{
    size_t             n, from;
    cluster_http_rc_e  rc;
    const char        *head_end;

    if (r->error) {
        return CLUSTER_HTTP_ERROR;
    }

    if (r->header_len == 0) {
        /* the header's end may straddle the last read: look 3 bytes back */
        from = r->scanned > 3 ? r->scanned - 3 : 0;
        head_end = cluster_http_find(buf + from, buf + len, "\r\n\r\n", 4);
        r->scanned = len;

        if (head_end == NULL) {
            if (eof) {
                r->error = len ? "incomplete response header"
                               : "empty response";
                return CLUSTER_HTTP_ERROR;
            }

            return CLUSTER_HTTP_AGAIN;
        }

        rc = cluster_http_header(buf, head_end, r);

        if (rc != CLUSTER_HTTP_DONE) {
            return rc;
        }

        r->header_len = (size_t) (head_end - buf) + 4;
        r->chunk = r->header_len;
    }

    r->body = buf + r->header_len;
    n = len - r->header_len;

    if (r->chunked) {
        return cluster_http_dechunk(buf, len, eof, r);
    }

    if (r->content_length >= 0) {
        if ((uint64_t) n < (uint64_t) r->content_length) {
            if (eof) {
                r->error = "body shorter than Content-Length";
                return CLUSTER_HTTP_ERROR;
            }

            return CLUSTER_HTTP_AGAIN;
        }

        r->body_len = (size_t) r->content_length;
        return CLUSTER_HTTP_DONE;
    }

    if (r->status == 204 || r->status == 304 || r->status < 200) {
        r->body_len = 0;
        return CLUSTER_HTTP_DONE;
    }

    /* no length: the body ends when the connection does */

    if (!eof) {
        return CLUSTER_HTTP_AGAIN;
    }

    r->body_len = n;

    return CLUSTER_HTTP_DONE;
}


/* the status line and the headers, from buf to head_end; parsed once */
static cluster_http_rc_e
cluster_http_header(char *buf, const char *head_end,
    cluster_http_response_t *r)
{
    size_t       n, vlen;
    int64_t      cl;
    const char  *p, *line_end, *colon, *v;

    /* HTTP/1.x NNN, then a space or the line's end */

    if (head_end - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0
        || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' '
        || buf[9] < '1' || buf[9] > '5'
        || buf[10] < '0' || buf[10] > '9'
        || buf[11] < '0' || buf[11] > '9'
        || (buf[12] != ' ' && buf[12] != '\r'))
    {
        r->error = "invalid status line";
        return CLUSTER_HTTP_ERROR;
    }

    r->status = (unsigned) ((buf[9] - '0') * 100 + (buf[10] - '0') * 10
                            + (buf[11] - '0'));

    p = cluster_http_find(buf, head_end + 2, "\r\n", 2) + 2;

    while (p < head_end + 2) {
        line_end = cluster_http_find(p, head_end + 2, "\r\n", 2);
        colon = memchr(p, ':', (size_t) (line_end - p));

        if (colon == NULL || colon == p) {
            r->error = "invalid header line";
            return CLUSTER_HTTP_ERROR;
        }

        v = colon + 1;

        while (v < line_end && (*v == ' ' || *v == '\t')) {
            v++;
        }

        vlen = (size_t) (line_end - v);

        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
            vlen--;
        }

        n = (size_t) (colon - p);

        if (cluster_http_header_is(p, n, "content-length")) {
            if (vlen == 0 || vlen > 18) {
                r->error = "invalid Content-Length";
                return CLUSTER_HTTP_ERROR;
            }

            for (cl = 0; vlen; v++, vlen--) {
                if (*v < '0' || *v > '9') {
                    r->error = "invalid Content-Length";
                    return CLUSTER_HTTP_ERROR;
                }

                cl = cl * 10 + (*v - '0');
            }

            if (r->content_length != -1 && r->content_length != cl) {
                r->error = "conflicting Content-Length";
                return CLUSTER_HTTP_ERROR;
            }

            r->content_length = cl;

        } else if (cluster_http_header_is(p, n, "transfer-encoding")) {
            if (vlen == 7 && cluster_http_header_is(v, 7, "chunked")) {
                r->chunked = 1;

            } else {
                r->error = "unsupported Transfer-Encoding";
                return CLUSTER_HTTP_ERROR;
            }

        } else if (cluster_http_header_is(p, n, "location")) {
            r->location = v;
            r->location_len = vlen;

        } else if (cluster_http_header_is(p, n, "content-type")) {
            r->content_type = v;
            r->content_type_len = vlen;
        }

        p = line_end + 2;
    }

    if (r->chunked) {
        /* the length, if also given, is ignored, as RFC 9112 says */
        r->content_length = -1;
    }

    return CLUSTER_HTTP_DONE;
}


/*
 * Walks the chunks from where the last call stopped ("chunk"); once the
 * last one is there, joins them in place, from the body's start.
 */
static cluster_http_rc_e
cluster_http_dechunk(char *buf, size_t len, int eof,
    cluster_http_response_t *r)
{
    char      *p, *end, *out, *line_end;
    size_t     size, digit;
    unsigned   digits;

    p = buf + r->chunk;
    end = buf + len;

    for ( ;; ) {
        line_end = (char *) cluster_http_find(p, end, "\r\n", 2);

        if (line_end == NULL) {
            goto again;
        }

        size = 0;
        digits = 0;

        for ( /* void */ ; p < line_end && *p != ';'; p++) {
            if (*p >= '0' && *p <= '9') {
                digit = (size_t) (*p - '0');

            } else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') {
                digit = (size_t) ((*p | 0x20) - 'a' + 10);

            } else {
                r->error = "invalid chunk size";
                return CLUSTER_HTTP_ERROR;
            }

            /* no chunk of a check's answer comes near a mebibyte */
            if (++digits > 5) {
                r->error = "invalid chunk size";
                return CLUSTER_HTTP_ERROR;
            }

            size = size * 16 + digit;
        }

        if (digits == 0) {
            r->error = "invalid chunk size";
            return CLUSTER_HTTP_ERROR;
        }

        p = line_end + 2;

        if (size == 0) {
            /* the trailer section ends with an empty line */
            if (cluster_http_find(p - 2, end, "\r\n\r\n", 4) == NULL) {
                goto again;
            }

            break;
        }

        if (size > (size_t) (end - p) || (size_t) (end - p) - size < 2) {
            goto again;
        }

        if (p[size] != '\r' || p[size + 1] != '\n') {
            r->error = "invalid chunk";
            return CLUSTER_HTTP_ERROR;
        }

        p += size + 2;

        /* this chunk is whole: the next call starts after it */
        r->chunk = (size_t) (p - buf);
    }

    /* complete: join the chunks in place, once */

    p = buf + r->header_len;
    out = p;

    for ( ;; ) {
        line_end = (char *) cluster_http_find(p, end, "\r\n", 2);

        size = 0;

        for ( /* void */ ; p < line_end && *p != ';'; p++) {
            digit = (*p >= '0' && *p <= '9') ? (size_t) (*p - '0')
                                              : (size_t) ((*p | 0x20) - 'a'
                                                          + 10);
            size = size * 16 + digit;
        }

        p = line_end + 2;

        if (size == 0) {
            break;
        }

        memmove(out, p, size);
        out += size;
        p += size + 2;
    }

    r->body = buf + r->header_len;
    r->body_len = (size_t) (out - r->body);

    return CLUSTER_HTTP_DONE;

again:

    if (eof) {
        r->error = "incomplete chunked body";
        return CLUSTER_HTTP_ERROR;
    }

    return CLUSTER_HTTP_AGAIN;
}


static const char *
cluster_http_find(const char *p, const char *end, const char *s, size_t n)
{
    /* no pointer past the end is ever formed */
    for ( /* void */ ; p < end && (size_t) (end - p) >= n; p++) {
        if (*p == s[0] && memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/* case-insensitive comparison with a lowercase name */
static int
cluster_http_header_is(const char *name, size_t len, const char *want)
{
    size_t  i;

    if (strlen(want) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((name[i] | ((name[i] >= 'A' && name[i] <= 'Z') ? 0x20 : 0))
            != want[i])
        {
            return 0;
        }
    }

    return 1;
}
