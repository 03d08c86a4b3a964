/*
 * ngx_cluster_module: JSON values written into a cluster_buf_t.
 *
 * Strings may come from a node (names, versions, details), so every string
 * is escaped for JSON and also made safe to embed in HTML: <, > and & are
 * written as \u escapes, and bytes that are not valid UTF-8 become U+FFFD.
 */

#ifndef CLUSTER_JSON_H
#define CLUSTER_JSON_H


#include "cluster_buf.h"


/* the length of the valid UTF-8 sequence at p, 0 when it is not valid */
size_t cluster_utf8_length(const unsigned char *p, size_t left);

void cluster_json_string(cluster_buf_t *b, const char *s, size_t len);
/* a string, or null when s is NULL */
void cluster_json_string_or_null(cluster_buf_t *b, const char *s, size_t len);
void cluster_json_bool(cluster_buf_t *b, int v);
/* a time as an ISO 8601 string, or null for 0 (never) */
void cluster_json_time(cluster_buf_t *b, int64_t ms);
/* "name": */
void cluster_json_key(cluster_buf_t *b, const char *name);


#endif /* CLUSTER_JSON_H */
