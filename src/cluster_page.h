/*
 * ngx_cluster_module: the status for people (an HTML page, after Inedo's
 * Cluster Overview) and for Prometheus (its text format), rendered from the
 * same snapshot as the JSON document.
 *
 * The page is one self-contained document: its style and its small script
 * are inline, it loads nothing from elsewhere, and every string that comes
 * from a node is escaped, so a node cannot put markup into the page.
 */

#ifndef CLUSTER_PAGE_H
#define CLUSTER_PAGE_H


#include "cluster_status.h"


/* how often the page reloads itself, by default, in ms */
#define CLUSTER_PAGE_REFRESH  10000


typedef struct {
    unsigned     refresh;         /* seconds between reloads; 0: never */
    unsigned     admin:1;         /* show the admin actions' buttons */
    const char  *base;            /* the status location, for their URLs */
    size_t       base_len;
    const cluster_db_view_t  *db; /* the shared database; NULL: none */
} cluster_page_conf_t;


/* as cluster_status_json(): the bytes needed, written while they fit */
/* which of the status' three renderings a request asks for */
typedef enum {
    CLUSTER_FORMAT_JSON = 0,
    CLUSTER_FORMAT_HTML,
    CLUSTER_FORMAT_PROMETHEUS
} cluster_format_e;

/*
 * "?format=json|html|prometheus" decides ("format", NULL when the query
 * has none; another value is JSON); without it, a client whose Accept
 * values ask for text/html (a browser) gets the page, any other the JSON.
 */
cluster_format_e cluster_page_format(const char *format, size_t format_len,
    const char *const *accept, const size_t *accept_len, size_t naccept);

size_t cluster_page_html(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version, const cluster_page_conf_t *conf);

/* "db": the shared database, NULL without one */
size_t cluster_page_prometheus(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version, const cluster_db_view_t *db);


#endif /* CLUSTER_PAGE_H */
