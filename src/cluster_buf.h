/*
 * ngx_cluster_module: an output buffer of the caller's memory that never
 * overflows.  Writes past its end are dropped but counted, so a renderer
 * runs once into a guessed size and, when "need" exceeds it, once more
 * into exactly enough; the core never allocates.
 */

#ifndef CLUSTER_BUF_H
#define CLUSTER_BUF_H


#include <stddef.h>
#include <stdint.h>


typedef struct {
    char        *pos;
    char        *end;
    size_t       need;            /* bytes the whole output takes */
} cluster_buf_t;


void cluster_buf_init(cluster_buf_t *b, char *start, size_t size);
void cluster_buf_add(cluster_buf_t *b, const char *data, size_t len);
void cluster_buf_cstr(cluster_buf_t *b, const char *s);
void cluster_buf_uint(cluster_buf_t *b, uint64_t v);
void cluster_buf_int(cluster_buf_t *b, int64_t v);
/* milliseconds as seconds with three decimals: 1234 -> "1.234" */
void cluster_buf_seconds(cluster_buf_t *b, int64_t ms);
/* milliseconds since the epoch as "2026-11-25T11:48:30.123Z" */
void cluster_buf_time(cluster_buf_t *b, int64_t ms);


#endif /* CLUSTER_BUF_H */
