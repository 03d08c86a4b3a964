/*
 * ngx_cluster_module: the cluster's directives, their parameters, bounds
 * and defaults, for every load balancer: nginx's handlers and the HAProxy
 * bridge's file reader hand the words of a directive here and get the
 * settings back, or what was expected.
 *
 * The words are the caller's (nginx's configuration, the bridge's file)
 * and are pointed at, not copied: they must outlive the configuration.
 */

#ifndef CLUSTER_CONF_H
#define CLUSTER_CONF_H


#include <stddef.h>
#include <stdint.h>

#include "cluster_check.h"
#include "cluster_node.h"


/* the longest message a directive's error takes */
#define CLUSTER_CONF_ERROR     256

/* a parameter or setting not given */
#define CLUSTER_CONF_UNSET     (-1)


typedef struct {
    const char          *data;
    size_t               len;
} cluster_word_t;


/* what an upstream's (a backend's) cluster_* directives said */
typedef struct {
    int64_t              interval;        /* ms; CLUSTER_CONF_UNSET */
    int64_t              stale;
    int64_t              slow_start;
    int64_t              eject;           /* findings; CLUSTER_CONF_UNSET */

    /* cluster_check */
    unsigned             check:1;
    unsigned             mandatory:1;
    cluster_word_t       uri;
    int64_t              timeout;         /* ms */
    int64_t              rise;            /* CLUSTER_CONF_UNSET */
    int64_t              fall;
    unsigned             messenger;       /* port; 0: not checked */
    cluster_word_t       host;            /* the checks' Host; len 0: the
                                             server's own */
    unsigned             ssl:1;           /* checks over TLS */
    unsigned             ssl_verify:1;    /* the node's certificate too */
    cluster_word_t       ssl_name;        /* SNI and the name verified;
                                             len 0: host=, or the server's */
    cluster_word_t       ssl_trusted;     /* the CA file to verify with */
    cluster_check_conf_t expect;
} cluster_conf_t;


void cluster_conf_init(cluster_conf_t *cf);

/*
 * The directives, by their parameters (the directive's name not among
 * them): 0, or -1 with what was expected in "err" (CLUSTER_CONF_ERROR
 * bytes, NUL-terminated), and nothing of "cf" changed but what parsed
 * before.  A directive given twice is the caller's to refuse.
 */
int cluster_conf_heartbeat(cluster_conf_t *cf, const cluster_word_t *w,
    size_t n, char *err);
int cluster_conf_check(cluster_conf_t *cf, const cluster_word_t *w,
    size_t n, char *err);
int cluster_conf_eject(cluster_conf_t *cf, const cluster_word_t *w,
    size_t n, char *err);
int cluster_conf_slow_start(cluster_conf_t *cf, const cluster_word_t *w,
    size_t n, char *err);

/* whether a cluster_node_name's name is printable text: 0, or -1 */
int cluster_conf_node_name(const cluster_word_t *address,
    const cluster_word_t *name, char *err);

/* the settings the directives make, the defaults where they are silent */
void cluster_conf_settings(const cluster_conf_t *cf, cluster_settings_t *s);

/*
 * A time as nginx writes one ("30s", "1h30m", "500ms", a bare number of
 * seconds), in ms: 0, or -1 when it is none or past CLUSTER_TIME_MAX.
 * cluster_conf_seconds() reads one as nginx reads times in seconds: "y"
 * and "M" too, "ms" not.
 */
int cluster_conf_time(const char *s, size_t len, int64_t *ms);
int cluster_conf_seconds(const char *s, size_t len, int64_t *ms);

/* a time as nginx writes it ("1d", "5m", "100ms"); returns its length */
size_t cluster_conf_time_text(char *buf, size_t size, int64_t ms);

/* a host name, an address or either with a port, for a Host header: 1 */
int cluster_conf_host_valid(const char *host, size_t len);

/* a path that starts with "/" and has no spaces or controls: 1 */
int cluster_conf_uri_valid(const char *uri, size_t len);


/*
 * The bridge's file, read directive by directive: words, ";" ends a
 * directive, "{" opens a block and "}" closes it, "#" starts a comment;
 * a word may be quoted with ' or " (no escapes).
 */
typedef enum {
    CLUSTER_CONF_END = 0,
    CLUSTER_CONF_DIRECTIVE,           /* words ended with ";" */
    CLUSTER_CONF_BLOCK,               /* words ended with "{" */
    CLUSTER_CONF_BLOCK_END,           /* "}" */
    CLUSTER_CONF_BAD                  /* "err" says why */
} cluster_conf_token_e;

#define CLUSTER_CONF_WORDS     16

typedef struct {
    const char          *text;
    size_t               len;
    size_t               pos;
    unsigned             line;            /* of the last directive read */
    unsigned             at;              /* where reading is */
} cluster_conf_file_t;

void cluster_conf_file_init(cluster_conf_file_t *f, const char *text,
    size_t len);

/* the next directive's words, at most CLUSTER_CONF_WORDS, into "w" */
cluster_conf_token_e cluster_conf_next(cluster_conf_file_t *f,
    cluster_word_t *w, size_t *n, char *err);

/* whether a word is "s" */
int cluster_word_is(const cluster_word_t *w, const char *s);


#endif /* CLUSTER_CONF_H */
