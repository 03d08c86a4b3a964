/*
 * ngx_cluster_module: a reader of the HTTP answers to active checks.
 *
 * The caller reads the answer into one buffer of its own and calls the
 * parser with all of it after each read; the parser says whether the
 * answer is complete, still coming, or broken, and where its parts are.
 * It never reads past "len" and never allocates; a chunked body is joined
 * in place once complete.  It resumes where the last call stopped, so an
 * answer that arrives a byte at a time costs no more than one that comes
 * whole: the caller clears the response with cluster_http_response_init()
 * before the first call and keeps it between calls.
 */

#ifndef CLUSTER_HTTP_H
#define CLUSTER_HTTP_H


#include <stddef.h>
#include <stdint.h>


typedef enum {
    CLUSTER_HTTP_AGAIN = 0,           /* more is needed */
    CLUSTER_HTTP_DONE,
    CLUSTER_HTTP_ERROR                /* "error" says why */
} cluster_http_rc_e;


typedef struct {
    unsigned      status;
    int64_t       content_length;     /* -1: not given */
    unsigned      chunked:1;

    const char   *location;           /* the Location header, or NULL */
    size_t        location_len;
    const char   *content_type;
    size_t        content_type_len;

    char         *body;               /* complete only with DONE */
    size_t        body_len;

    const char   *error;

    /* where the last call stopped */
    size_t        scanned;            /* searched for the header's end */
    size_t        header_len;         /* 0 until the header is complete */
    size_t        chunk;              /* the next chunk's size line */
} cluster_http_response_t;


void cluster_http_response_init(cluster_http_response_t *r);


/*
 * Parses the answer in buf[0 .. len); "eof" tells that the peer closed the
 * connection, which ends a body with no length.
 */
cluster_http_rc_e cluster_http_response_parse(char *buf, size_t len, int eof,
    cluster_http_response_t *r);


#endif /* CLUSTER_HTTP_H */
