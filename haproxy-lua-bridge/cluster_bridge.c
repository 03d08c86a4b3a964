
/*
 * Copyright (C) ngx_cluster_module authors
 */


/*
 * The HAProxy bridge's C half: a Lua 5.3 module ("cluster_bridge") over
 * the project's core, for cluster.lua.  It reads the bridge's file (the
 * nginx directives, by the core's parsers), keeps each backend's cluster
 * once per process under a mutex (HAProxy's threads, whether the Lua runs
 * in one state or one per thread), and moves bytes between HAProxy's Lua
 * and the core: what a response, a check's answer or an operator's state
 * says goes in; the rotation, the log lines and the status come out.  It
 * opens no socket: HAProxy's own (core.tcp) do the checks.
 */


#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "cluster_bridge.h"
#include "cluster_admin.h"
#include "cluster_check.h"
#include "cluster_cookie.h"
#include "cluster_db.h"
#include "cluster_http.h"
#include "cluster_page.h"
#include "cluster_state.h"
#include "cluster_status.h"
#include "cluster_version.h"


bridge_t         bridge;
pthread_mutex_t  bridge_mutex = PTHREAD_MUTEX_INITIALIZER;


static int bridge_parse(bridge_t *br, char *err, size_t size);
static int bridge_backend_directive(bridge_t *br, bridge_backend_t *b,
    const cluster_word_t *w, size_t n, char *err);
static int bridge_key(bridge_backend_t *b, const cluster_word_t *w,
    char *err);
static int bridge_cookie(bridge_backend_t *b, const cluster_word_t *w,
    size_t n, char *err);
static int bridge_status_directive(bridge_t *br, const cluster_word_t *w,
    size_t n, char *err);
static bridge_backend_t *bridge_backend(lua_State *L, int arg);
static int bridge_node_fill(lua_State *L, bridge_backend_t *b,
    bridge_node_t *bn, char *err, size_t size);
static long bridge_node_index(bridge_backend_t *b, const char *name,
    size_t len);
static void bridge_lock(void *data);
static void bridge_unlock(void *data);
static void bridge_events(lua_State *L, bridge_backend_t *b,
    cluster_events_t *ev, int table);
static void bridge_log(lua_State *L, int table, int level, const char *text);
static int bridge_admin_values(lua_State *L, int table, const char *name,
    cluster_admin_value_t *values, size_t *n);
static void bridge_snapshot(bridge_backend_t *b, size_t n, int64_t now,
    cluster_status_cluster_t *c, cluster_status_node_t *sn,
    cluster_events_t *ev);
static int bridge_state_node(void *ctx, const char *cluster, const char *id,
    const char *fingerprint, const cluster_node_t *saved);
static void bridge_state_action(void *ctx, const char *cluster,
    const cluster_action_t *action);
static int bridge_state_load(char *line, size_t size);


/* ---- the file ---------------------------------------------------------- */


/*
 * load(path): reads the bridge's file once per process; a second call, of
 * another thread's Lua state, finds it read.  Returns true, or nil and
 * "file:line: what was expected".
 */
static int
bridge_load(lua_State *L)
{
    int                fd;
    char               err[CLUSTER_CONF_ERROR + 64];
    ssize_t            r;
    const char        *path;
    struct stat        st;
    bridge_backend_t  *b;

    path = luaL_checkstring(L, 1);

    pthread_mutex_lock(&bridge_mutex);

    if (bridge.loaded) {
        pthread_mutex_unlock(&bridge_mutex);
        lua_pushboolean(L, 1);
        return 1;
    }

    if (strlen(path) >= sizeof(bridge.path)) {
        snprintf(err, sizeof(err), "%s: the path is too long", path);
        goto failed;
    }

    if (sodium_init() < 0 || cluster_cookie_init() != 0) {
        snprintf(err, sizeof(err), "libsodium failed to start");
        goto failed;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        snprintf(err, sizeof(err), "cannot open \"%s\": %s", path,
                 strerror(errno));
        goto failed;
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > BRIDGE_FILE_MAX)
    {
        close(fd);
        snprintf(err, sizeof(err), "\"%s\" is not a file of 1 MiB or less",
                 path);
        goto failed;
    }

    bridge.text = malloc((size_t) st.st_size + 1);
    if (bridge.text == NULL) {
        close(fd);
        snprintf(err, sizeof(err), "out of memory");
        goto failed;
    }

    r = read(fd, bridge.text, (size_t) st.st_size);
    close(fd);

    if (r != st.st_size) {
        snprintf(err, sizeof(err), "cannot read \"%s\"", path);
        goto failed;
    }

    bridge.text[r] = '\0';
    bridge.len = (size_t) r;
    strcpy(bridge.path, path);
    bridge.refresh = CLUSTER_PAGE_REFRESH / 1000;

    if (bridge_parse(&bridge, err, sizeof(err)) != 0) {
        goto failed;
    }

    bridge.loaded = 1;

    pthread_mutex_unlock(&bridge_mutex);

    lua_pushboolean(L, 1);
    return 1;

failed:

    free(bridge.text);
    bridge.text = NULL;

    while (bridge.nbackends) {
        b = bridge.backends[--bridge.nbackends];
        pcre2_code_free(b->cookie_name);
        pcre2_code_free(b->login);
        sodium_memzero(b, sizeof(bridge_backend_t));
        free(b);
    }

    bridge_db_forget(&bridge);
    bridge.nnames = 0;
    bridge.state_file[0] = '\0';
    bridge.admin = 0;
    bridge.token = 0;
    sodium_memzero(bridge.token_digest, sizeof(bridge.token_digest));

    pthread_mutex_unlock(&bridge_mutex);

    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}


static int
bridge_parse(bridge_t *br, char *err, size_t size)
{
    char                   msg[CLUSTER_CONF_ERROR];
    size_t                 n, i;
    cluster_word_t         w[CLUSTER_CONF_WORDS];
    bridge_backend_t      *b;
    cluster_conf_file_t    f;
    cluster_conf_token_e   t;

    cluster_conf_file_init(&f, br->text, br->len);
    b = NULL;
    msg[0] = '\0';

    for ( ;; ) {
        t = cluster_conf_next(&f, w, &n, msg);

        switch (t) {

        case CLUSTER_CONF_END:
            if (b) {
                snprintf(msg, sizeof(msg), "unexpected end of file, "
                         "expected \"}\"");
                goto error;
            }

            return 0;

        case CLUSTER_CONF_BAD:
            goto error;

        case CLUSTER_CONF_BLOCK_END:
            if (b == NULL) {
                snprintf(msg, sizeof(msg), "unexpected \"}\"");
                goto error;
            }

            b = NULL;
            continue;

        case CLUSTER_CONF_BLOCK:
            if (b || !cluster_word_is(&w[0], "backend") || n != 2) {
                snprintf(msg, sizeof(msg), "unexpected \"{\", expected "
                         "\"backend NAME {\" at the top of the file");
                goto error;
            }

            if (w[1].len == 0 || w[1].len >= sizeof(b->name)) {
                snprintf(msg, sizeof(msg), "invalid backend name, expected "
                         "HAProxy's name of a backend");
                goto error;
            }

            for (i = 0; i < br->nbackends; i++) {
                if (strlen(br->backends[i]->name) == w[1].len
                    && memcmp(br->backends[i]->name, w[1].data, w[1].len)
                       == 0)
                {
                    snprintf(msg, sizeof(msg), "duplicate backend \"%.*s\"",
                             (int) w[1].len, w[1].data);
                    goto error;
                }
            }

            if (br->nbackends == BRIDGE_BACKENDS) {
                snprintf(msg, sizeof(msg), "too many backends, at most %d",
                         BRIDGE_BACKENDS);
                goto error;
            }

            b = calloc(1, sizeof(bridge_backend_t));
            if (b == NULL) {
                snprintf(msg, sizeof(msg), "out of memory");
                goto error;
            }

            memcpy(b->name, w[1].data, w[1].len);
            b->line = f.line;
            b->spare = BRIDGE_SPARE_NODES;
            cluster_conf_init(&b->conf);
            br->backends[br->nbackends++] = b;
            continue;

        default: /* CLUSTER_CONF_DIRECTIVE */
            break;
        }

        if (b) {
            if (bridge_backend_directive(br, b, w, n, msg) != 0) {
                goto error;
            }

            continue;
        }

        if (cluster_word_is(&w[0], "cluster_status")) {
            if (bridge_status_directive(br, w + 1, n - 1, msg) != 0) {
                goto error;
            }

            continue;
        }

        if (cluster_word_is(&w[0], "cluster_database")) {
            if (bridge_db_directive(br, w + 1, n - 1, msg) != 0) {
                goto error;
            }

            continue;
        }

        if (cluster_word_is(&w[0], "cluster_state_file")) {
            if (n != 2 || w[1].len == 0
                || w[1].len >= sizeof(br->state_file))
            {
                snprintf(msg, sizeof(msg), "invalid number of arguments in "
                         "\"cluster_state_file\", expected a path");
                goto error;
            }

            if (br->state_file[0]) {
                snprintf(msg, sizeof(msg), "\"cluster_state_file\" "
                         "directive is duplicate");
                goto error;
            }

            bridge_copy(&w[1], br->state_file, sizeof(br->state_file));
            continue;
        }

        snprintf(msg, sizeof(msg), "unknown directive \"%.*s\", expected "
                 "\"backend NAME { ... }\", \"cluster_status\", "
                 "\"cluster_state_file\" or \"cluster_database\"",
                 (int) w[0].len, w[0].data);
        goto error;
    }

error:

    snprintf(err, size, "%s in %s:%u", msg, br->path, f.line);
    return -1;
}


static int
bridge_backend_directive(bridge_t *br, bridge_backend_t *b,
    const cluster_word_t *w, size_t n, char *err)
{
    const char     *p;
    unsigned long   spare;
    bridge_name_t  *nm;

    if (cluster_word_is(&w[0], "cluster_heartbeat")) {
        if (b->heartbeat_set) {
            goto duplicate;
        }

        b->heartbeat_set = 1;

        if (n > 3) {
            goto arguments;
        }

        return cluster_conf_heartbeat(&b->conf, w + 1, n - 1, err);
    }

    if (cluster_word_is(&w[0], "cluster_check")) {
        if (b->conf.check) {
            goto duplicate;
        }

        if (cluster_conf_check(&b->conf, w + 1, n - 1, err) != 0) {
            return -1;
        }

        if (b->conf.ssl_verify || b->conf.ssl_name.len) {
            /* HAProxy 2.6's Lua sockets neither verify nor send SNI */
            snprintf(err, CLUSTER_CONF_ERROR, "\"ssl_verify=\" and "
                     "\"ssl_name=\" are not in the bridge: HAProxy's Lua "
                     "sockets verify no certificate and send no name; "
                     "expected \"ssl\" alone");
            return -1;
        }

        return 0;
    }

    if (cluster_word_is(&w[0], "cluster_eject")) {
        if (b->eject_set) {
            goto duplicate;
        }

        b->eject_set = 1;

        if (n < 2) {
            goto arguments;
        }

        return cluster_conf_eject(&b->conf, w + 1, n - 1, err);
    }

    if (cluster_word_is(&w[0], "cluster_slow_start")) {
        if (b->slow_start_set) {
            goto duplicate;
        }

        b->slow_start_set = 1;

        if (n != 2) {
            goto arguments;
        }

        return cluster_conf_slow_start(&b->conf, w + 1, n - 1, err);
    }

    if (cluster_word_is(&w[0], "cluster_key")) {
        if (b->has_key) {
            goto duplicate;
        }

        if (n != 2) {
            goto arguments;
        }

        return bridge_key(b, &w[1], err);
    }

    if (cluster_word_is(&w[0], "cluster_cookie")) {
        if (b->cookie_name) {
            goto duplicate;
        }

        if (n < 2) {
            goto arguments;
        }

        return bridge_cookie(b, w + 1, n - 1, err);
    }

    if (cluster_word_is(&w[0], "cluster_spare_nodes")) {
        if (b->spare_set) {
            goto duplicate;
        }

        b->spare_set = 1;

        if (n != 2) {
            goto arguments;
        }

        spare = 0;

        for (p = w[1].data; p < w[1].data + w[1].len; p++) {
            if (*p < '0' || *p > '9' || spare > BRIDGE_SPARE_MAX) {
                spare = BRIDGE_SPARE_MAX + 1;
                break;
            }

            spare = spare * 10 + (unsigned long) (*p - '0');
        }

        if (w[1].len == 0 || spare > BRIDGE_SPARE_MAX) {
            snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", "
                     "expected the records kept for servers added at run "
                     "time, a number from 0 to %d", (int) w[1].len,
                     w[1].data, BRIDGE_SPARE_MAX);
            return -1;
        }

        b->spare = (unsigned) spare;
        return 0;
    }

    if (cluster_word_is(&w[0], "cluster_node_name")) {
        if (n != 3) {
            goto arguments;
        }

        if (cluster_conf_node_name(&w[1], &w[2], err) != 0) {
            return -1;
        }

        if (br->nnames == BRIDGE_NAMES) {
            snprintf(err, CLUSTER_CONF_ERROR, "too many \"cluster_node_name\""
                     ", at most %d", BRIDGE_NAMES);
            return -1;
        }

        nm = &br->names[br->nnames++];
        nm->server = w[1];
        nm->name = w[2];
        nm->backend.data = b->name;
        nm->backend.len = strlen(b->name);
        return 0;
    }

    snprintf(err, CLUSTER_CONF_ERROR, "unknown directive \"%.*s\", expected "
             "\"cluster_heartbeat\", \"cluster_check\", \"cluster_key\", "
             "\"cluster_cookie\", \"cluster_eject\", \"cluster_slow_start\", "
             "\"cluster_node_name\" or \"cluster_spare_nodes\"",
             (int) w[0].len, w[0].data);
    return -1;

duplicate:

    snprintf(err, CLUSTER_CONF_ERROR, "\"%.*s\" directive is duplicate",
             (int) w[0].len, w[0].data);
    return -1;

arguments:

    snprintf(err, CLUSTER_CONF_ERROR, "invalid number of arguments in "
             "\"%.*s\" directive", (int) w[0].len, w[0].data);
    return -1;
}


/* cluster_key file= | env= | inedo_config=, as in nginx.conf */
static int
bridge_key(bridge_backend_t *b, const cluster_word_t *w, char *err)
{
    int          rc;
    char         path[4096], var[256], *env;
    char        *text;
    size_t       len;
    uint8_t      raw[CLUSTER_KEY_RAW];
    const char  *what;

    text = malloc(BRIDGE_SECRET_MAX + 1);
    if (text == NULL) {
        snprintf(err, CLUSTER_CONF_ERROR, "out of memory");
        return -1;
    }

    rc = -1;
    what = NULL;

    if (w->len > 5 && memcmp(w->data, "file=", 5) == 0) {
        cluster_word_t  v = { w->data + 5, w->len - 5 };

        bridge_copy(&v, path, sizeof(path));

        if (bridge_read_secret(path, "key file", text, &len, err) == 0) {
            what = path;
            rc = cluster_key_parse(text, len, raw);
        }

    } else if (w->len > 4 && memcmp(w->data, "env=", 4) == 0
               && w->len - 4 < sizeof(var) - sizeof("_FILE"))
    {
        cluster_word_t  v = { w->data + 4, w->len - 4 };

        bridge_copy(&v, var, sizeof(var));
        env = getenv(var);
        what = var;

        if (env && *env) {
            rc = cluster_key_parse(env, strlen(env), raw);

        } else {
            strcat(var, "_FILE");
            env = getenv(var);

            if (env == NULL || *env == '\0' || strlen(env) >= sizeof(path)) {
                var[v.len] = '\0';
                snprintf(err, CLUSTER_CONF_ERROR, "the environment variable "
                         "\"%s\" is not set, nor \"%s_FILE\"", var, var);
                goto done;
            }

            strcpy(path, env);
            what = path;

            if (bridge_read_secret(path, "key file", text, &len, err) == 0) {
                rc = cluster_key_parse(text, len, raw);
            } else {
                goto done;
            }
        }

    } else if (w->len > 13 && memcmp(w->data, "inedo_config=", 13) == 0) {
        cluster_word_t  v = { w->data + 13, w->len - 13 };

        bridge_copy(&v, path, sizeof(path));

        if (bridge_read_secret(path, "key file", text, &len, err) != 0) {
            goto done;
        }

        if (cluster_key_from_config(text, len, raw) != 0) {
            snprintf(err, CLUSTER_CONF_ERROR, "no <EncryptionKey> element of "
                     "32 hex digits in \"%s\"", path);
            goto done;
        }

        what = path;
        rc = 0;

    } else {
        snprintf(err, CLUSTER_CONF_ERROR, "invalid parameter \"%.*s\", "
                 "expected \"file=\", \"env=\" or \"inedo_config=\"",
                 (int) w->len, w->data);
        goto done;
    }

    if (what == NULL) {
        goto done;
    }

    if (rc != 0) {
        snprintf(err, CLUSTER_CONF_ERROR, "the key in \"%s\" is not 32 hex "
                 "digits", what);
        goto done;
    }

    cluster_key_fingerprint(raw, b->fingerprint);
    cluster_cookie_key(raw, b->seal_key);
    b->has_key = 1;

done:

    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(text, BRIDGE_SECRET_MAX + 1);
    free(text);

    return rc == 0 && b->has_key ? 0 : -1;
}


/* cluster_cookie name= login= sessions=, as in nginx.conf */
static int
bridge_cookie(bridge_backend_t *b, const cluster_word_t *w, size_t n,
    char *err)
{
    int          ec;
    size_t       i, off, len;
    pcre2_code **re;
    PCRE2_UCHAR  text[160];
    const char  *p;
    long         sessions;

    for (i = 0; i < n; i++) {

        if (w[i].len > 9 && memcmp(w[i].data, "sessions=", 9) == 0) {
            sessions = 0;

            for (p = w[i].data + 9; p < w[i].data + w[i].len; p++) {
                if (*p < '0' || *p > '9' || sessions > 1048576) {
                    sessions = -1;
                    break;
                }

                sessions = sessions * 10 + (*p - '0');
            }

            if (sessions < 16 || sessions > 1048576) {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", "
                         "expected \"sessions=\" a number from 16 to "
                         "1048576", (int) w[i].len, w[i].data);
                return -1;
            }

            b->sessions = (uint32_t) sessions;
            continue;
        }

        if (w[i].len >= 5 && memcmp(w[i].data, "name=", 5) == 0) {
            re = &b->cookie_name;
            off = 5;

        } else if (w[i].len >= 6 && memcmp(w[i].data, "login=", 6) == 0) {
            re = &b->login;
            off = 6;

        } else {
            snprintf(err, CLUSTER_CONF_ERROR, "invalid parameter \"%.*s\", "
                     "expected \"name=\", \"login=\" or \"sessions=\"",
                     (int) w[i].len, w[i].data);
            return -1;
        }

        len = w[i].len - off;

        if (len == 0) {
            snprintf(err, CLUSTER_CONF_ERROR, "empty regular expression in "
                     "\"%.*s\"", (int) w[i].len, w[i].data);
            return -1;
        }

        if (*re) {
            snprintf(err, CLUSTER_CONF_ERROR, "duplicate parameter \"%.*s\"",
                     (int) w[i].len, w[i].data);
            return -1;
        }

        if (re == &b->cookie_name) {
            /* a name without metacharacters is compared, not matched */
            b->literal_len = cluster_cookie_literal(w[i].data + off, len,
                                                    b->literal,
                                                    sizeof(b->literal));
        }

        *re = pcre2_compile((PCRE2_SPTR) w[i].data + off, len, 0, &ec,
                            (PCRE2_SIZE *) &off, NULL);

        if (*re == NULL) {
            pcre2_get_error_message(ec, text, sizeof(text));
            snprintf(err, CLUSTER_CONF_ERROR, "invalid regular expression in "
                     "\"%.*s\": %s", (int) w[i].len, w[i].data,
                     (char *) text);
            return -1;
        }
    }

    if (b->cookie_name == NULL) {
        snprintf(err, CLUSTER_CONF_ERROR, "\"cluster_cookie\" needs \"name=\""
                 ", a regular expression of the auth cookie's name");
        return -1;
    }

    if (b->sessions == 0) {
        b->sessions = CLUSTER_SESSIONS;
    }

    return 0;
}


/* cluster_status refresh= admin=on|off token_file=, for use-service */
static int
bridge_status_directive(bridge_t *br, const cluster_word_t *w, size_t n,
    char *err)
{
    char     path[4096], *text;
    size_t   i, len, start, end;
    int64_t  ms;

    for (i = 0; i < n; i++) {

        if (w[i].len > 8 && memcmp(w[i].data, "refresh=", 8) == 0) {
            if (cluster_conf_seconds(w[i].data + 8, w[i].len - 8, &ms) != 0
                || ms > 86400000 || ms % 1000)
            {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid time in \"%.*s\", "
                         "expected seconds such as 10s, at most a day, or 0 "
                         "for none", (int) w[i].len, w[i].data);
                return -1;
            }

            br->refresh = (unsigned) (ms / 1000);
            continue;
        }

        if (cluster_word_is(&w[i], "admin=on")) {
            br->admin = 1;
            continue;
        }

        if (cluster_word_is(&w[i], "admin=off")) {
            br->admin = 0;
            continue;
        }

        if (w[i].len > 11 && memcmp(w[i].data, "token_file=", 11) == 0) {
            cluster_word_t  v = { w[i].data + 11, w[i].len - 11 };

            bridge_copy(&v, path, sizeof(path));

            text = malloc(BRIDGE_SECRET_MAX + 1);
            if (text == NULL) {
                snprintf(err, CLUSTER_CONF_ERROR, "out of memory");
                return -1;
            }

            if (bridge_read_secret(path, "token file", text, &len, err)
                != 0)
            {
                free(text);
                return -1;
            }

            /* its first line, without the spaces around it */

            for (end = 0; end < len && text[end] != '\r' && text[end] != '\n';
                 end++)
            {
                /* void */
            }

            while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\t'))
            {
                end--;
            }

            for (start = 0;
                 start < end && (text[start] == ' ' || text[start] == '\t');
                 start++)
            {
                /* void */
            }

            if (end - start < 16 || end - start >= 1024) {
                snprintf(err, CLUSTER_CONF_ERROR, "the token in \"%s\" is too "
                         "%s, expected a first line of 16 to 1023 characters",
                         path, end - start < 16 ? "short" : "long");
                sodium_memzero(text, BRIDGE_SECRET_MAX + 1);
                free(text);
                return -1;
            }

            crypto_generichash(br->token_digest, sizeof(br->token_digest),
                               (const unsigned char *) text + start,
                               end - start, NULL, 0);

            sodium_memzero(text, BRIDGE_SECRET_MAX + 1);
            free(text);
            br->token = 1;
            continue;
        }

        snprintf(err, CLUSTER_CONF_ERROR, "invalid parameter \"%.*s\", "
                 "expected \"refresh=\", \"admin=on\", \"admin=off\" or "
                 "\"token_file=\"", (int) w[i].len, w[i].data);
        return -1;
    }

    if (br->token && !br->admin) {
        snprintf(err, CLUSTER_CONF_ERROR, "\"token_file=\" goes with "
                 "\"admin=on\"");
        return -1;
    }

    return 0;
}


/*
 * A secret's file: a file of 64 KiB or less that others may not read,
 * as nginx -t wants a key; its text NUL-terminated, never in a message.
 */
int
bridge_read_secret(const char *path, const char *what, char *text,
    size_t *len, char *err)
{
    int          fd;
    ssize_t      r;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        snprintf(err, CLUSTER_CONF_ERROR, "cannot open the %s \"%s\": %s",
                 what, path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > BRIDGE_SECRET_MAX)
    {
        snprintf(err, CLUSTER_CONF_ERROR, "the %s \"%s\" is not a file of "
                 "64 KiB or less", what, path);
        close(fd);
        return -1;
    }

    if (st.st_mode & 0006) {
        snprintf(err, CLUSTER_CONF_ERROR, "the %s \"%s\" is readable or "
                 "writable by others, expected a mode such as 0600 or 0640",
                 what, path);
        close(fd);
        return -1;
    }

    r = read(fd, text, (size_t) st.st_size);
    close(fd);

    if (r < 0) {
        snprintf(err, CLUSTER_CONF_ERROR, "cannot read the %s \"%s\"", what,
                 path);
        return -1;
    }

    text[r] = '\0';
    *len = (size_t) r;

    return 0;
}


char *
bridge_copy(const cluster_word_t *w, char *buf, size_t size)
{
    size_t  len;

    len = w->len < size - 1 ? w->len : size - 1;

    if (len) {
        memcpy(buf, w->data, len);
    }

    buf[len] = '\0';

    return buf;
}


/* backends(): the names of the backends the file has clusters for */
static int
bridge_backends(lua_State *L)
{
    size_t  i;

    lua_createtable(L, (int) bridge.nbackends, 0);

    for (i = 0; i < bridge.nbackends; i++) {
        lua_pushstring(L, bridge.backends[i]->name);
        lua_rawseti(L, -2, (lua_Integer) i + 1);
    }

    return 1;
}


/* ---- a backend's cluster ------------------------------------------------ */


/*
 * A server, { name=, addr=, rid= } at the top of the stack, into a record
 * of its own: its address for the checks, the name it is shown by
 * (cluster_node_name) and its check's two requests.  Returns 0, or -1
 * with what is wrong.
 */
static int
bridge_node_fill(lua_State *L, bridge_backend_t *b, bridge_node_t *bn,
    char *err, size_t size)
{
    int          k;
    char         host[256];
    size_t       j, len;
    const char  *s, *colon;

    memset(bn, 0, sizeof(bridge_node_t));

    lua_getfield(L, -1, "name");
    s = (lua_type(L, -1) == LUA_TSTRING) ? lua_tolstring(L, -1, &len) : NULL;

    if (s == NULL || len == 0 || len >= sizeof(bn->name)) {
        lua_pop(L, 1);
        snprintf(err, size, "backend \"%s\": a server without a name",
                 b->name);
        return -1;
    }

    memcpy(bn->name, s, len);
    lua_pop(L, 1);

    lua_getfield(L, -1, "rid");
    bn->rid = (uint64_t) lua_tointeger(L, -1);
    lua_pop(L, 1);

    lua_getfield(L, -1, "addr");
    s = (lua_type(L, -1) == LUA_TSTRING) ? lua_tolstring(L, -1, &len) : NULL;
    colon = s ? strrchr(s, ':') : NULL;

    if (s == NULL || colon == NULL || len >= sizeof(bn->id)
        || (size_t) (colon - s) >= sizeof(bn->host) || colon == s)
    {
        lua_pop(L, 1);
        snprintf(err, size, "backend \"%s\": server \"%s\" has no address "
                 "such as 10.0.0.11:8624", b->name, bn->name);
        return -1;
    }

    memcpy(bn->id, s, len);
    memcpy(bn->host, s, (size_t) (colon - s));
    bn->port = (unsigned) strtoul(colon + 1, NULL, 10);
    lua_pop(L, 1);

    if (bn->port == 0 || bn->port > 65535) {
        snprintf(err, size, "backend \"%s\": server \"%s\" has no port",
                 b->name, bn->name);
        return -1;
    }

    /* cluster_node_name, by the server's address or HAProxy's name */
    strcpy(bn->shown, bn->name);

    for (j = 0; j < bridge.nnames; j++) {
        bridge_name_t  *nm = &bridge.names[j];

        if (cluster_word_is(&nm->backend, b->name)
            && (cluster_word_is(&nm->server, bn->id)
                || cluster_word_is(&nm->server, bn->name)))
        {
            bridge_copy(&nm->name, bn->shown, sizeof(bn->shown));
        }
    }

    /* host=: the site's name, as an IIS binding wants it */
    bridge_copy(&b->conf.host, host, sizeof(host));

    for (j = 0; j < 2; j++) {
        k = snprintf(bn->request[j], sizeof(bn->request[j]),
                     "GET %.*s HTTP/1.0\r\nHost: %s\r\n"
                     "User-Agent: haproxy-cluster-check/" CLUSTER_VERSION
                     "\r\nAccept: application/json, text/plain\r\n"
                     "Connection: close\r\n\r\n",
                     j ? (int) sizeof(CLUSTER_CHECK_FALLBACK) - 1
                       : (int) b->conf.uri.len,
                     j ? CLUSTER_CHECK_FALLBACK : b->conf.uri.data,
                     b->conf.host.len ? host : bn->id);

        if (k < 0 || (size_t) k >= sizeof(bn->request[j])) {
            snprintf(err, size, "backend \"%s\": the check's \"uri=\" is too "
                     "long for the bridge, expected at most 300 bytes",
                     b->name);
            return -1;
        }
    }

    bn->take = 1;

    return 0;
}


/*
 * attach(backend, servers): the backend's servers, { name=, addr=, rid= }
 * in HAProxy's order, become the cluster's nodes, with the spare records
 * for servers added at run time; once per process.  The state file is
 * read once every backend is attached.  Returns the number of nodes and
 * whether the answers' cookies are read, or nil and what is wrong.
 */
static int
bridge_attach(lua_State *L)
{
    char                 err[256];
    size_t               i, j, n, cap;
    int64_t              now;
    cluster_t           *c;
    bridge_node_t       *bnodes;
    bridge_backend_t    *b;
    cluster_settings_t  *st;

    b = bridge_backend(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);

    /* HAProxy's servers read first: Lua is not called under the mutex */

    n = lua_rawlen(L, 2);

    if (n == 0) {
        snprintf(err, sizeof(err), "backend \"%s\" has no server", b->name);
        goto refused;
    }

    cap = n + b->spare;

    bnodes = calloc(cap, sizeof(bridge_node_t));
    if (bnodes == NULL) {
        snprintf(err, sizeof(err), "out of memory");
        goto refused;
    }

    for (i = 0; i < n; i++) {
        lua_rawgeti(L, 2, (lua_Integer) i + 1);

        if (bridge_node_fill(L, b, &bnodes[i], err, sizeof(err)) != 0) {
            lua_pop(L, 1);
            goto failed;
        }

        lua_pop(L, 1);
    }

    /* a cluster_node_name for no server of the backend is a mistake */
    for (j = 0; j < bridge.nnames; j++) {
        bridge_name_t  *nm = &bridge.names[j];

        if (!cluster_word_is(&nm->backend, b->name)) {
            continue;
        }

        for (i = 0; i < n; i++) {
            if (cluster_word_is(&nm->server, bnodes[i].id)
                || cluster_word_is(&nm->server, bnodes[i].name))
            {
                break;
            }
        }

        if (i == n) {
            snprintf(err, sizeof(err), "backend \"%s\": \"cluster_node_name "
                     "%.*s\" names no server of the backend, expected its "
                     "address or HAProxy's name", b->name,
                     (int) nm->server.len, nm->server.data);
            goto failed;
        }
    }

    pthread_mutex_lock(&bridge_mutex);

    if (b->attached) {
        /* another thread's Lua state was first */
        pthread_mutex_unlock(&bridge_mutex);
        free(bnodes);
        lua_pushinteger(L, (lua_Integer) n);
        lua_pushboolean(L, b->cookie_name && b->has_key);
        return 2;
    }

    b->bnodes = bnodes;
    b->facts = calloc(cap, sizeof(cluster_node_t));
    b->nodes = calloc(cap, sizeof(cluster_node_t *));
    b->names = calloc(cap, sizeof(char *));
    b->ids = calloc(cap, sizeof(char *));

    c = &b->cluster;

    if (b->cookie_name) {
        c->sessions = malloc(cluster_sessions_size(b->sessions));
    }

    if (!b->facts || !b->nodes || !b->names || !b->ids
        || (b->cookie_name && c->sessions == NULL))
    {
        free(b->facts);
        free(b->nodes);
        free(b->names);
        free(b->ids);
        free(c->sessions);
        b->bnodes = NULL;
        b->facts = NULL;
        b->nodes = NULL;
        b->names = NULL;
        b->ids = NULL;
        c->sessions = NULL;
        pthread_mutex_unlock(&bridge_mutex);
        snprintf(err, sizeof(err), "out of memory");
        goto failed;
    }

    now = bridge_now();

    for (i = 0; i < cap; i++) {
        cluster_node_init(&b->facts[i], now);
        b->names[i] = bnodes[i].shown;
        b->ids[i] = bnodes[i].id;
    }

    for (i = 0; i < n; i++) {
        b->nodes[i] = &b->facts[i];
    }

    pthread_mutex_init(&b->mutex, NULL);

    st = &c->settings;
    cluster_conf_settings(&b->conf, st);

    c->nodes = b->nodes;
    c->n = n;
    c->generation = 1;
    c->seal_key = b->has_key ? b->seal_key : NULL;
    c->names = b->names;
    c->ids = b->ids;
    c->shared = &b->shared;
    c->lock.lock = bridge_lock;
    c->lock.unlock = bridge_unlock;
    c->lock.data = b;

    if (c->sessions) {
        cluster_sessions_init(c->sessions, b->sessions, NULL);
    }

    b->cap = cap;
    __atomic_store_n(&b->n, n, __ATOMIC_RELEASE);

    (void) cluster_attach(c, b->has_key ? b->fingerprint : "");
    cluster_go_live(c);

    b->attached = 1;

    pthread_mutex_unlock(&bridge_mutex);

    lua_pushinteger(L, (lua_Integer) n);
    lua_pushboolean(L, b->cookie_name && b->has_key);
    return 2;

failed:

    free(bnodes);

refused:

    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}


/*
 * add(backend, server): a server added at run time ("add server"), {
 * name=, addr=, rid=, weight= }, becomes a node: a vacant record of the
 * same name, or a spare, or another vacant one, made new.  Each Lua state
 * is told (lua-load-per-thread), and all get the one record: a server is
 * its name and HAProxy's revision of it.  Returns its index and the
 * record's take, or nil and a line to log (once: no record is left).
 */
static int
bridge_add(lua_State *L)
{
    char               err[384];
    size_t             i, n, found;
    int64_t            now;
    cluster_t         *c;
    bridge_node_t      add, *bn;
    bridge_backend_t  *b;

    b = bridge_backend(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);

    if (!b->attached) {
        return luaL_error(L, "the backend \"%s\" is not attached", b->name);
    }

    lua_pushvalue(L, 2);

    if (bridge_node_fill(L, b, &add, err, sizeof(err)) != 0) {
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }

    lua_pop(L, 1);

    c = &b->cluster;

    pthread_mutex_lock(&bridge_mutex);

    n = b->n;
    found = (size_t) -1;

    for (i = 0; i < n; i++) {
        bn = &b->bnodes[i];

        if (!bn->vacant && bn->rid == add.rid
            && strcmp(bn->name, add.name) == 0)
        {
            /* another Lua state was first */
            pthread_mutex_unlock(&bridge_mutex);
            lua_pushinteger(L, (lua_Integer) i + 1);
            lua_pushinteger(L, bn->take);
            return 2;
        }

        if (bn->vacant && strcmp(bn->name, add.name) == 0) {
            found = i;
        }
    }

    if (found == (size_t) -1 && n < b->cap) {
        found = n;
    }

    for (i = 0; i < n && found == (size_t) -1; i++) {
        if (b->bnodes[i].vacant) {
            found = i;
        }
    }

    if (found == (size_t) -1) {
        err[0] = '\0';

        if (!b->said_full) {
            b->said_full = 1;
            snprintf(err, sizeof(err), "cluster \"%s\": server \"%s\" added "
                     "at run time, and no spare record is left "
                     "(cluster_spare_nodes %u): HAProxy routes it, the "
                     "cluster does not judge it until a reload; said once",
                     b->name, add.name, b->spare);
        }

        pthread_mutex_unlock(&bridge_mutex);
        lua_pushnil(L);

        if (err[0]) {
            lua_pushstring(L, err);
        } else {
            lua_pushnil(L);
        }

        return 2;
    }

    /* the record is hidden (vacant, or past n) while it is made new */

    bn = &b->bnodes[found];
    add.take = bn->take + 1;
    add.vacant = 1;
    *bn = add;

    now = bridge_now();

    pthread_mutex_lock(&b->mutex);

    cluster_node_init(&b->facts[found], now);
    b->nodes[found] = &b->facts[found];

    if (found == n) {
        __atomic_store_n(&c->n, n + 1, __ATOMIC_RELEASE);
    }

    pthread_mutex_unlock(&b->mutex);

    __atomic_store_n(&bn->vacant, 0, __ATOMIC_RELEASE);

    if (found == n) {
        __atomic_store_n(&b->n, n + 1, __ATOMIC_RELEASE);
    }

    pthread_mutex_unlock(&bridge_mutex);

    /* its place in the key check's table, if one is left */
    (void) cluster_attach(c, b->has_key ? b->fingerprint : "");

    lua_pushinteger(L, (lua_Integer) found + 1);
    lua_pushinteger(L, add.take);
    return 2;
}


/*
 * remove(backend, name, rid): the server was deleted at run time ("del
 * server"): its node is removed, as an operator's removal, and its record
 * vacant, hidden from the status, for the next server added.  Returns its
 * index and log lines, or nil when no record in use is this server's
 * (another Lua state was first).
 */
static int
bridge_remove(lua_State *L)
{
    int                logs;
    size_t             i, n, len;
    uint64_t           rid;
    const char        *name;
    cluster_act_t      act;
    bridge_node_t     *bn;
    bridge_backend_t  *b;
    cluster_events_t   ev;

    b = bridge_backend(L, 1);
    name = luaL_checklstring(L, 2, &len);
    rid = (uint64_t) luaL_optinteger(L, 3, 0);

    if (!b->attached) {
        lua_pushnil(L);
        return 1;
    }

    lua_newtable(L);
    logs = lua_gettop(L);

    ev.n = 0;
    ev.more = 0;

    pthread_mutex_lock(&bridge_mutex);

    n = b->n;

    for (i = 0; i < n; i++) {
        bn = &b->bnodes[i];

        if (!bn->vacant && bn->rid == rid && strcmp(bn->name, name) == 0) {
            break;
        }
    }

    if (i == n) {
        pthread_mutex_unlock(&bridge_mutex);
        lua_pushnil(L);
        return 1;
    }

    act.node = i;
    act.admin = CLUSTER_ADMIN_REMOVE;
    act.name = bn->shown;
    act.name_len = strlen(bn->shown);
    act.by = "HAProxy (del server)";

    cluster_act(&b->cluster, &act, bridge_now(), &ev);
    bn->haproxy_admin = CLUSTER_ADMIN_REMOVE;

    __atomic_store_n(&bn->vacant, 1, __ATOMIC_RELEASE);

    pthread_mutex_unlock(&bridge_mutex);

    bridge_events(L, b, &ev, logs);

    lua_pushinteger(L, (lua_Integer) i + 1);
    lua_pushvalue(L, logs);
    return 2;
}


size_t
bridge_count(const bridge_backend_t *b)
{
    return __atomic_load_n(&b->n, __ATOMIC_ACQUIRE);
}


int
bridge_vacant(const bridge_backend_t *b, size_t i)
{
    return __atomic_load_n(&b->bnodes[i].vacant, __ATOMIC_ACQUIRE);
}


static bridge_backend_t *
bridge_backend(lua_State *L, int arg)
{
    size_t       i;
    const char  *name;

    name = luaL_checkstring(L, arg);

    for (i = 0; i < bridge.nbackends; i++) {
        if (strcmp(bridge.backends[i]->name, name) == 0) {
            return bridge.backends[i];
        }
    }

    luaL_error(L, "no cluster for the backend \"%s\"", name);
    return NULL;
}


static long
bridge_node_index(bridge_backend_t *b, const char *name, size_t len)
{
    size_t  i, n;

    n = bridge_count(b);

    for (i = 0; i < n; i++) {
        if (!bridge_vacant(b, i)
            && strncmp(b->bnodes[i].name, name, len) == 0
            && b->bnodes[i].name[len] == '\0')
        {
            return (long) i;
        }
    }

    return -1;
}


static void
bridge_lock(void *data)
{
    bridge_backend_t  *b = data;

    pthread_mutex_lock(&b->mutex);
}


static void
bridge_unlock(void *data)
{
    bridge_backend_t  *b = data;

    pthread_mutex_unlock(&b->mutex);
}


int64_t
bridge_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* an event in words, the core's, and HAProxy's level for it */
int
bridge_event_text(const bridge_backend_t *b, const cluster_event_t *e,
    char *text, size_t size)
{
    cluster_log_level_e   lv;
    const bridge_node_t  *bn;

    bn = (e->what == CLUSTER_EVENT_CHANGE) ? &b->bnodes[e->node] : NULL;

    lv = cluster_event_text(b->name, strlen(b->name),
                            bn ? bn->shown : NULL, bn ? strlen(bn->shown) : 0,
                            bn ? bn->id : NULL, bn ? strlen(bn->id) : 0, e,
                            text, size);

    return lv == CLUSTER_LOG_ALERT ? BRIDGE_LOG_ALERT
           : lv == CLUSTER_LOG_WARN ? BRIDGE_LOG_WARNING : BRIDGE_LOG_NOTICE;
}


/* the events as log lines, {level, text}, appended to the table */
static void
bridge_events(lua_State *L, bridge_backend_t *b, cluster_events_t *ev,
    int table)
{
    int     level;
    char    text[512];
    size_t  i;

    for (i = 0; i < ev->n; i++) {
        level = bridge_event_text(b, &ev->event[i], text, sizeof(text));
        bridge_log(L, table, level, text);
    }

    if (ev->more) {
        snprintf(text, sizeof(text), "cluster \"%s\": %zu changes more, not "
                 "told; the status has them", b->name, ev->more);
        bridge_log(L, table, BRIDGE_LOG_WARNING, text);
    }

    ev->n = 0;
    ev->more = 0;
}


static void
bridge_log(lua_State *L, int table, int level, const char *text)
{
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, level);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, text);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, table, (lua_Integer) lua_rawlen(L, table) + 1);
}


/* the first n records, as bridge_count() had them */
static void
bridge_snapshot(bridge_backend_t *b, size_t n, int64_t now,
    cluster_status_cluster_t *c, cluster_status_node_t *sn,
    cluster_events_t *ev)
{
    size_t  i;

    memset(c, 0, sizeof(cluster_status_cluster_t));
    memset(sn, 0, n * sizeof(cluster_status_node_t));

    c->name = b->name;
    c->name_len = strlen(b->name);
    c->settings = b->cluster.settings;
    c->messenger_port = b->conf.check ? b->conf.messenger : 0;
    c->key_fingerprint = b->has_key ? b->fingerprint : NULL;
    c->nodes = sn;
    c->n = n;

    for (i = 0; i < n; i++) {
        sn[i].id = b->bnodes[i].id;
        sn[i].id_len = strlen(b->bnodes[i].id);
        sn[i].name = b->bnodes[i].shown;
        sn[i].name_len = strlen(b->bnodes[i].shown);
        sn[i].weight = 1;
    }

    c->crypto_check = (b->has_key && b->cookie_name);

    cluster_snapshot(&b->cluster, now, c, ev);

    c->cross_check = c->cross_check && b->cookie_name;
}


/* a server as HAProxy's counters had it at a tick */
typedef struct {
    unsigned                   present:1;
    uint8_t                    admin;
    uint64_t                   failures;
    uint64_t                   answers;
    uint64_t                   status;
    uint64_t                   rtime;
} bridge_seen_t;


/*
 * tick(backend, servers): five times a second, with each server's state
 * in HAProxy's counters, in the cluster's order: { admin = "MAINT" |
 * "DRAIN" | "", answers = its responses less eresp, status = the class
 * most of the new ones were of (200, 300, ...), rtime = its average
 * response time, failures = econ + eresp }.  New answers are the server's
 * heartbeat, at no cost to each request; new failed connections and
 * answers count as failed tries.  An operator's MAINT or DRAIN set in
 * HAProxy is the node's admin state (removed, drained) until the operator
 * lifts it.  Returns each node's verdict, { rotation = bool, share = 0 ..
 * 1000 }, and log lines.
 */
static int
bridge_tick(lua_State *L)
{
    int                        logs;
    size_t                     i, n;
    int64_t                    now;
    int                        levels[16];
    char                       lines[16][256];
    size_t                     nlines;
    uint64_t                   failures, answers, k;
    unsigned                   status, rtime;
    const char                *s;
    bridge_seen_t             *seen;
    cluster_act_t              act;
    bridge_node_t             *bn;
    bridge_backend_t          *b;
    cluster_events_t           ev;
    cluster_status_node_t     *sn;
    cluster_status_cluster_t   c;

    b = bridge_backend(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);

    if (!b->attached) {
        return luaL_error(L, "the backend \"%s\" is not attached", b->name);
    }

    lua_newtable(L);
    logs = lua_gettop(L);

    now = bridge_now();
    ev.n = 0;
    ev.more = 0;

    /* HAProxy's states, read first: Lua is not called under the mutex */

    n = bridge_count(b);

    seen = calloc(n + 1, sizeof(bridge_seen_t));
    if (seen == NULL) {
        return luaL_error(L, "out of memory");
    }

    for (i = 0; i < n; i++) {
        lua_rawgeti(L, 2, (lua_Integer) i + 1);

        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            continue;
        }

        seen[i].present = 1;

        lua_getfield(L, -1, "admin");
        s = (lua_type(L, -1) == LUA_TSTRING) ? lua_tostring(L, -1) : NULL;
        seen[i].admin = (s && strcmp(s, "MAINT") == 0) ? CLUSTER_ADMIN_REMOVE
                        : (s && strcmp(s, "DRAIN") == 0) ? CLUSTER_ADMIN_DRAIN
                        : CLUSTER_ADMIN_NONE;
        lua_getfield(L, -2, "failures");
        seen[i].failures = (uint64_t) lua_tointeger(L, -1);
        lua_getfield(L, -3, "answers");
        seen[i].answers = (uint64_t) lua_tointeger(L, -1);
        lua_getfield(L, -4, "status");
        seen[i].status = (uint64_t) lua_tointeger(L, -1);
        lua_getfield(L, -5, "rtime");
        seen[i].rtime = (uint64_t) lua_tointeger(L, -1);
        lua_pop(L, 6);
    }

    /* what was seen of them before, one thread at a time */
    pthread_mutex_lock(&bridge_mutex);

    for (i = 0; i < n; i++) {
        bn = &b->bnodes[i];

        if (!seen[i].present || bn->vacant) {
            /* a server deleted is removed once (bridge_remove) */
            continue;
        }

        status = seen[i].status > 999 ? 0 : (unsigned) seen[i].status;
        rtime = seen[i].rtime > 86400000 ? 86400000
                                         : (unsigned) seen[i].rtime;
        failures = seen[i].failures;
        answers = seen[i].answers;

        if (seen[i].admin != bn->haproxy_admin) {
            /* the operator acted in HAProxy: the node's admin state */
            act.node = i;
            act.admin = seen[i].admin;
            act.name = bn->shown;
            act.name_len = strlen(bn->shown);
            act.by = "HAProxy (stats page or CLI)";

            cluster_act(&b->cluster, &act, now, &ev);
            bn->haproxy_admin = seen[i].admin;
        }

        if (answers > bn->answers) {
            /*
             * The server answered since the last tick: its heartbeat, and
             * the answers counted as tries; HAProxy's counters say how
             * many, of which class, and its average response time.
             */
            cluster_node_count_requests(b->nodes[i], answers - bn->answers);
            cluster_try_done(&b->cluster, i, 1, status, rtime, now, &ev);
        }

        bn->answers = answers;

        if (failures > bn->failures) {
            /* bounded: a counter that jumped is a few failures, not a loop */
            for (k = 0; k < failures - bn->failures && k < 16; k++) {
                cluster_node_count_request(b->nodes[i]);
                cluster_try_done(&b->cluster, i, 0, 0, 0, now, &ev);
            }
        }

        bn->failures = failures;
    }

    /* the database's thread, in the worker that ticks; its lines */
    bridge_db_start(&bridge);

    pthread_mutex_unlock(&bridge_mutex);

    free(seen);

    bridge_events(L, b, &ev, logs);

    nlines = bridge_db_lines(&bridge, levels, lines, 16);

    for (i = 0; i < nlines; i++) {
        bridge_log(L, logs, levels[i], lines[i]);
    }

    sn = malloc((n + 1) * sizeof(cluster_status_node_t));
    if (sn == NULL) {
        return luaL_error(L, "out of memory");
    }

    bridge_snapshot(b, n, now, &c, sn, &ev);
    bridge_events(L, b, &ev, logs);

    lua_createtable(L, (int) n, 0);

    for (i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushboolean(L, cluster_status_node_in_rotation(&c, &sn[i]));
        lua_setfield(L, -2, "rotation");
        lua_pushinteger(L, cluster_node_slow_start_share(&sn[i].facts,
                                                         &c.settings, now));
        lua_setfield(L, -2, "share");
        lua_rawseti(L, -2, (lua_Integer) i + 1);
    }

    free(sn);

    lua_pushvalue(L, logs);

    return 2;
}


/* ---- the checks --------------------------------------------------------- */


/*
 * check_claim(backend, i, take): whether node i is checked now, by this
 * caller: nil, or { host=, port=, request=, timeout= (ms), messenger=
 * (port or nil), claimed=, take= }; false when the record is no longer
 * of the server its task was started for (deleted): the task ends.
 */
static int
bridge_check_claim(lua_State *L)
{
    long               i;
    int64_t            claimed;
    uint32_t           take;
    bridge_node_t     *bn;
    bridge_backend_t  *b;

    b = bridge_backend(L, 1);
    i = (long) luaL_checkinteger(L, 2) - 1;
    take = (uint32_t) luaL_optinteger(L, 3, 1);

    if (!b->attached || !b->conf.check || i < 0
        || (size_t) i >= bridge_count(b))
    {
        lua_pushnil(L);
        return 1;
    }

    if (bridge_vacant(b, (size_t) i) || b->bnodes[i].take != take) {
        lua_pushboolean(L, 0);
        return 1;
    }

    if (!cluster_check_claim(&b->cluster, (size_t) i, bridge_now(),
                             (unsigned long) randombytes_random(), &claimed))
    {
        lua_pushnil(L);
        return 1;
    }

    bn = &b->bnodes[i];

    lua_createtable(L, 0, 7);
    lua_pushstring(L, bn->host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, bn->port);
    lua_setfield(L, -2, "port");
    lua_pushstring(L, bn->request[__atomic_load_n(&bn->fallback,
                                                  __ATOMIC_RELAXED)]);
    lua_setfield(L, -2, "request");
    lua_pushinteger(L, b->cluster.settings.timeout);
    lua_setfield(L, -2, "timeout");
    lua_pushinteger(L, (lua_Integer) claimed);
    lua_setfield(L, -2, "claimed");
    lua_pushinteger(L, take);
    lua_setfield(L, -2, "take");
    lua_pushboolean(L, b->conf.ssl);
    lua_setfield(L, -2, "ssl");

    if (b->conf.messenger) {
        lua_pushinteger(L, b->conf.messenger);
        lua_setfield(L, -2, "messenger");
    }

    return 1;
}


/* how often, in ms, a caller looks for checks that are due */
static int
bridge_check_every(lua_State *L)
{
    bridge_backend_t  *b;

    b = bridge_backend(L, 1);

    lua_pushinteger(L, b->conf.check
                       ? cluster_check_every(&b->cluster.settings) : 0);
    return 1;
}


/*
 * check_done(backend, i, claimed, answer, failure, messenger, ms, take):
 * the bytes of the answer (up to the connection's end), or the failure
 * ("timed out", "connection refused"); the messenger port's outcome (true,
 * false, nil: not checked); the claim's take.  Returns "again" with the
 * request for the older /health when the product is older, or log lines.
 */
static int
bridge_check_done(lua_State *L)
{
    int                       logs, fell_back;
    long                      i;
    char                     *buf, reason[72];
    size_t                    len;
    int64_t                   claimed;
    const char               *answer, *failure;
    bridge_node_t            *bn;
    cluster_check_t           check;
    bridge_backend_t         *b;
    cluster_events_t          ev;
    cluster_health_t          health;
    cluster_check_rc_e        judged;
    cluster_http_rc_e         rc;
    cluster_http_response_t   resp;

    b = bridge_backend(L, 1);
    i = (long) luaL_checkinteger(L, 2) - 1;
    claimed = (int64_t) luaL_checkinteger(L, 3);
    answer = luaL_optlstring(L, 4, "", &len);
    failure = luaL_optstring(L, 5, NULL);

    if (!b->attached || i < 0 || (size_t) i >= bridge_count(b)) {
        return luaL_error(L, "no such node");
    }

    bn = &b->bnodes[i];

    if (bridge_vacant(b, (size_t) i)
        || bn->take != (uint32_t) luaL_optinteger(L, 8, 1))
    {
        /* the server was deleted while it was checked */
        lua_pushstring(L, "done");
        lua_newtable(L);
        return 2;
    }

    memset(&check, 0, sizeof(cluster_check_t));
    memset(&health, 0, sizeof(cluster_health_t));
    reason[0] = '\0';

    buf = NULL;
    fell_back = __atomic_load_n(&bn->fallback, __ATOMIC_RELAXED);

    if (failure == NULL) {
        if (len > BRIDGE_CHECK_BODY + 16384) {
            failure = "answer over 64 KiB";

        } else {
            /* the reader ends strings where it parses: a copy of its own */
            buf = malloc(len + 1);
            if (buf == NULL) {
                return luaL_error(L, "out of memory");
            }

            memcpy(buf, answer, len);
            buf[len] = '\0';

            cluster_http_response_init(&resp);
            rc = cluster_http_response_parse(buf, len, 1, &resp);

            if (rc == CLUSTER_HTTP_AGAIN) {
                failure = "incomplete answer";

            } else if (rc == CLUSTER_HTTP_ERROR) {
                failure = resp.error;

            } else if (resp.body_len > BRIDGE_CHECK_BODY) {
                failure = "answer over 64 KiB";
            }
        }
    }

    if (failure) {
        check.ok = 0;
        snprintf(reason, sizeof(reason), "%s", failure);
        check.reason = reason;

    } else {
        judged = cluster_check_judge(&b->conf.expect, &resp, &health, reason,
                                     sizeof(reason), &check);

        if (judged == CLUSTER_CHECK_FALL_BACK && !fell_back) {
            /* an older product: ask its /health, now and from now on */
            free(buf);
            __atomic_store_n(&bn->fallback, 1, __ATOMIC_RELAXED);
            lua_pushstring(L, "again");
            lua_pushstring(L, bn->request[1]);
            return 2;
        }

        if (judged == CLUSTER_CHECK_FALL_BACK) {
            check.ok = 0;
            snprintf(reason, sizeof(reason), "status 404");
        }
    }

    if (!lua_isnoneornil(L, 6)) {
        check.messenger = lua_toboolean(L, 6) ? CLUSTER_MESSENGER_OK
                                              : CLUSTER_MESSENGER_UNREACHABLE;
    }

    check.duration_ms = (unsigned) luaL_optinteger(L, 7, 0);
    check.health = &health;
    check.reason = reason;

    ev.n = 0;
    ev.more = 0;

    cluster_check_done(&b->cluster, (size_t) i, &check, fell_back, claimed,
                       bridge_now(), &ev);

    free(buf);

    lua_pushstring(L, "done");
    lua_newtable(L);
    logs = lua_gettop(L);
    bridge_events(L, b, &ev, logs);

    return 2;
}


/* ---- the traffic --------------------------------------------------------- */


/*
 * A match data block per thread, made once: no allocation per request.
 * Large enough for the expressions of the file (their first match only).
 */
static pcre2_match_data *
bridge_match_data(void)
{
    static _Thread_local pcre2_match_data  *md;

    if (md == NULL) {
        md = pcre2_match_data_create(1, NULL);
    }

    return md;
}


/* whether a cookie's whole name is the auth cookie's */
static int
bridge_cookie_named(bridge_backend_t *b, const char *name, size_t len)
{
    int                rc;
    PCRE2_SIZE        *ov;
    pcre2_match_data  *md;

    if (b->literal_len) {
        return len == b->literal_len && memcmp(name, b->literal, len) == 0;
    }

    md = bridge_match_data();
    if (md == NULL) {
        return 0;
    }

    rc = pcre2_match(b->cookie_name, (PCRE2_SPTR) name, len, 0, 0, md, NULL);
    ov = pcre2_get_ovector_pointer(md);

    return rc >= 0 && ov[0] == 0 && ov[1] == len;
}


static int
bridge_regex_matches(pcre2_code *re, const char *s, size_t len)
{
    pcre2_match_data  *md;

    md = bridge_match_data();

    return md && pcre2_match(re, (PCRE2_SPTR) s, len, 0, 0, md, NULL) >= 0;
}


/*
 * Each thread's copies of the sessions its requests carried, per backend:
 * a known session is answered without the lock, its cookie compared, not
 * hashed again (cluster_request_session()).
 */
static cluster_copy_t *
bridge_copies(bridge_backend_t *b)
{
    static _Thread_local cluster_copy_t  *copies[BRIDGE_BACKENDS];

    size_t  i;

    for (i = 0; i < bridge.nbackends; i++) {
        if (bridge.backends[i] == b) {
            break;
        }
    }

    if (i == bridge.nbackends) {
        return NULL;
    }

    if (copies[i] == NULL) {
        copies[i] = calloc(CLUSTER_COPIES, sizeof(cluster_copy_t));
    }

    return copies[i];
}


/*
 * answer(backend, cookie, server, status, set_cookies, location): for the
 * key check, once per request, at its response: the request's Cookie
 * header (kept by "http-request set-var(txn.cluster_cookie) req.fhdr(
 * cookie)", so that one Lua action does it all), the server that answered,
 * its status, the values of its Set-Cookie headers and its Location.  The
 * auth cookie the request carried, its session and what the answer proves
 * are the core's.  (The server's heartbeat is HAProxy's counters', in
 * tick().)  Returns "$cluster_key_check" (ok, mismatch, none) and log
 * lines, or nil.
 */
static int
bridge_answer(lua_State *L)
{
    int                   logs, have;
    long                  i;
    size_t                clen, len, slen, nlen, vlen, k, n, llen;
    int64_t               now;
    unsigned              status;
    const char           *cookie, *p, *end, *server, *sc, *name, *value;
    const char           *location;
    cluster_answer_t      a;
    bridge_backend_t     *b;
    cluster_events_t      ev;
    cluster_request_t     r;
    cluster_key_check_e   kc;

    b = bridge_backend(L, 1);
    cookie = luaL_optlstring(L, 2, "", &clen);
    server = luaL_checklstring(L, 3, &len);
    status = (unsigned) luaL_checkinteger(L, 4);
    location = luaL_optlstring(L, 6, NULL, &llen);

    if (!b->attached || b->cookie_name == NULL || !b->has_key) {
        return 0;
    }

    i = bridge_node_index(b, server, len);

    if (i < 0) {
        return 0;
    }

    if (status > 999) {
        status = 0;
    }

    now = bridge_now();
    ev.n = 0;
    ev.more = 0;

    /* the request's auth cookie: the first of its name */

    memset(&r, 0, sizeof(cluster_request_t));
    have = 0;
    p = cookie;
    end = cookie + clen;

    while (p < end) {
        if (cluster_cookie_pair(&p, end, &name, &nlen, &value, &vlen)
            && bridge_cookie_named(b, name, nlen))
        {
            r.name = name;
            r.name_len = nlen;
            r.value = value;
            r.value_len = vlen;
            have = 1;
            break;
        }
    }

    kc = CLUSTER_KEY_CHECK_NONE;

    if (have) {
        cluster_request_session(&b->cluster, &r, bridge_copies(b), now);
        kc = cluster_request_key(&b->cluster, &r, now);
    }

    /* the answer's */

    cluster_answer_init(&a, status);

    if (lua_istable(L, 5)) {
        n = lua_rawlen(L, 5);

        for (k = 1; k <= n && k <= 64; k++) {
            lua_rawgeti(L, 5, (lua_Integer) k);
            sc = lua_tolstring(L, -1, &slen);

            if (sc) {
                /* "NAME=VALUE; Path=/; HttpOnly": the first pair */
                p = sc;

                if (cluster_cookie_pair(&p, sc + slen, &name, &nlen, &value,
                                        &vlen)
                    && bridge_cookie_named(b, name, nlen))
                {
                    (void) cluster_answer_cookie(&b->cluster, &a, name, nlen,
                                                 value, vlen);
                }
            }

            lua_pop(L, 1);
        }
    }

    a.sign_in = cluster_sign_in(status,
                                b->login && location
                                && cluster_redirect(status)
                                && bridge_regex_matches(b->login, location,
                                                        llen));

    cluster_answer_done(&b->cluster, (size_t) i, have ? &r : NULL, &a, now,
                        &ev);

    /* the cookie's copies are secrets, as the cookie is */
    sodium_memzero(&r, sizeof(cluster_request_t));
    sodium_memzero(&a, sizeof(cluster_answer_t));

    lua_pushstring(L, kc == CLUSTER_KEY_CHECK_OK ? "ok"
                      : kc == CLUSTER_KEY_CHECK_MISMATCH ? "mismatch"
                      : "none");

    if (ev.n == 0 && ev.more == 0) {
        return 1;
    }

    lua_newtable(L);
    logs = lua_gettop(L);
    bridge_events(L, b, &ev, logs);

    return 2;
}


/* ---- the status and the admin API --------------------------------------- */


typedef struct {
    cluster_status_cluster_t  *clusters;
    cluster_status_node_t     *nodes;
    size_t                     n;
} bridge_view_t;


static int
bridge_view(lua_State *L, bridge_view_t *v, int64_t now, int logs)
{
    size_t                     i, j, k, nodes;
    cluster_events_t           ev;
    bridge_backend_t          *b;
    cluster_status_node_t     *sn;
    cluster_status_cluster_t  *cl;

    nodes = 0;

    /* by the records' room: more may be in use by the time they are read */
    for (i = 0; i < bridge.nbackends; i++) {
        nodes += bridge.backends[i]->cap;
    }

    v->clusters = calloc(bridge.nbackends + 1,
                         sizeof(cluster_status_cluster_t));
    v->nodes = calloc(nodes + 1, sizeof(cluster_status_node_t));

    if (v->clusters == NULL || v->nodes == NULL) {
        free(v->clusters);
        free(v->nodes);
        return -1;
    }

    v->n = 0;
    nodes = 0;

    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        if (!b->attached) {
            continue;
        }

        ev.n = 0;
        ev.more = 0;

        cl = &v->clusters[v->n];
        sn = &v->nodes[nodes];

        bridge_snapshot(b, bridge_count(b), now, cl, sn, &ev);
        bridge_events(L, b, &ev, logs);

        /* the records of servers deleted are not shown */
        for (j = 0, k = 0; j < cl->n; j++) {
            if (!bridge_vacant(b, j)) {
                sn[k++] = sn[j];
            }
        }

        cl->n = k;
        nodes += k;
        v->n++;
    }

    return 0;
}


/*
 * status(format, accept, base): the page, the JSON document or the
 * Prometheus text, rendered by the core, as the query's format= (nil:
 * none) or else the Accept headers (a list) ask, by the core's rule;
 * returns the body, its content type, and log lines.
 */
static int
bridge_status(lua_State *L)
{
    int                   logs;
    char                 *buf;
    size_t                size, need, blen;
    int64_t               now;
    size_t                i, flen, naccept, alen[BRIDGE_ADMIN_VALUES];
    const char           *format, *base, *type;
    const char           *accept[BRIDGE_ADMIN_VALUES];
    cluster_format_e      fmt;
    cluster_admin_value_t  av[BRIDGE_ADMIN_VALUES];
    char                  db_error[160];
    void                 *db_mem;
    bridge_view_t         v;
    cluster_db_view_t     db;
    cluster_page_conf_t   page;

    format = luaL_optlstring(L, 1, NULL, &flen);
    base = luaL_optlstring(L, 3, "/cluster", &blen);

    /* the format by the core's rule: format=, else the Accept headers */
    naccept = 0;

    if (lua_istable(L, 2)) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "accept");

        if (bridge_admin_values(L, lua_gettop(L), "accept", av, &naccept)
            != 0)
        {
            naccept = 0;
        }

        lua_pop(L, 1);
    }

    for (i = 0; i < naccept; i++) {
        accept[i] = av[i].data;
        alen[i] = av[i].len;
    }

    fmt = cluster_page_format(format, format ? flen : 0, accept, alen,
                              naccept);

    lua_newtable(L);
    logs = lua_gettop(L);

    now = bridge_now();

    if (bridge_view(L, &v, now, logs) != 0) {
        return luaL_error(L, "out of memory");
    }

    db_mem = bridge_db_status(&bridge, v.clusters, v.n, &db, db_error,
                              sizeof(db_error), now);

    memset(&page, 0, sizeof(cluster_page_conf_t));
    page.db = bridge.db ? &db : NULL;
    page.refresh = bridge.refresh;
    page.admin = bridge.admin;
    page.base = base;
    page.base_len = blen;

    size = 4096;

    for ( ;; ) {
        buf = malloc(size);
        if (buf == NULL) {
            free(db_mem);
            free(v.clusters);
            free(v.nodes);
            return luaL_error(L, "out of memory");
        }

        if (fmt == CLUSTER_FORMAT_HTML) {
            need = cluster_page_html(buf, size, v.clusters, v.n, now,
                                     CLUSTER_VERSION, &page);
            type = "text/html; charset=utf-8";

        } else if (fmt == CLUSTER_FORMAT_PROMETHEUS) {
            need = cluster_page_prometheus(buf, size, v.clusters, v.n, now,
                                           CLUSTER_VERSION, page.db);
            type = "text/plain; version=0.0.4; charset=utf-8";

        } else {
            need = cluster_status_json(buf, size, v.clusters, v.n, now,
                                       CLUSTER_VERSION, page.db);
            type = "application/json";
        }

        if (need <= size) {
            break;
        }

        free(buf);
        size = need;
    }

    lua_pushlstring(L, buf, need);
    lua_pushstring(L, type);
    lua_pushvalue(L, logs);

    free(buf);
    free(db_mem);
    free(v.clusters);
    free(v.nodes);

    return 3;
}


/*
 * The values of one of the headers' lists Lua gives, for the core's rule;
 * more than a browser sends is -1.  The strings stay on Lua's side, in the
 * table, while the caller uses them.
 */
static int
bridge_admin_values(lua_State *L, int table, const char *name,
    cluster_admin_value_t *values, size_t *n)
{
    size_t       i, len, count;
    const char  *v;

    *n = 0;

    lua_getfield(L, table, name);

    count = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;

    if (count > BRIDGE_ADMIN_VALUES) {
        lua_pop(L, 1);
        return -1;
    }

    for (i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, (lua_Integer) i);
        v = (lua_type(L, -1) == LUA_TSTRING) ? lua_tolstring(L, -1, &len)
                                             : NULL;
        lua_pop(L, 1);

        if (v) {
            values[*n].data = v;
            values[*n].len = len;
            (*n)++;
        }
    }

    lua_pop(L, 1);

    return 0;
}


/*
 * admin(path, method, query, headers, client, whole): POST <base>/nodes/
 * <node>/<action> ("path" is what follows "/nodes/", "whole" all of it, for
 * the log), with the nginx module's rules: admin=on, POST only, no
 * cross-site request (Sec-Fetch-Site, Origin against Host), the bearer
 * token of token_file= (a digest compared in constant time).  "headers"
 * holds lists: sec_fetch_site, origin, host, authorization.  Returns the
 * status, the JSON body, an extra header's name and value or nils, and log
 * lines.
 */
static int
bridge_admin(lua_State *L)
{
    int                  logs, by_name, rc;
    char                 who[96], text[512], cluster[128], body[160];
    size_t               plen, qlen, i, j, n, found, len, hlen, idlen;
    size_t               nsite, norigin, nhost;
    cluster_admin_value_t  site[BRIDGE_ADMIN_VALUES];
    cluster_admin_value_t  origin[BRIDGE_ADMIN_VALUES];
    cluster_admin_value_t  hv[BRIDGE_ADMIN_VALUES];
    long                 member[BRIDGE_BACKENDS];
    int64_t              now;
    uint8_t              digest[crypto_generichash_BYTES], diff;
    const char          *path, *method, *query, *client, *h;
    const char          *whole;
    size_t               wlen;
    cluster_act_t        act;
    cluster_admin_e      admin;
    cluster_events_t     ev;
    bridge_backend_t    *b;
    cluster_admin_node_t  *nodes;

    path = luaL_checklstring(L, 1, &plen);
    method = luaL_checkstring(L, 2);
    query = luaL_optlstring(L, 3, "", &qlen);
    luaL_checktype(L, 4, LUA_TTABLE);
    client = luaL_optstring(L, 5, "-");
    whole = luaL_optlstring(L, 6, path, &wlen);

    lua_newtable(L);
    logs = lua_gettop(L);

#define bridge_answer(status, msg, hname, hvalue)                             \
    do {                                                                      \
        lua_pushinteger(L, status);                                           \
        snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", msg);            \
        lua_pushstring(L, body);                                              \
        if (hname) { lua_pushstring(L, hname); lua_pushstring(L, hvalue); }   \
        else { lua_pushnil(L); lua_pushnil(L); }                              \
        lua_pushvalue(L, logs);                                               \
        return 5;                                                             \
    } while (0)

#define bridge_refused(why)                                                   \
    do {                                                                      \
        snprintf(text, sizeof(text), "cluster admin action refused: %s, "     \
                 "client: %s, request: \"%s %.*s\"", why, client, method,     \
                 (int) (wlen > 200 ? 200 : wlen), whole);                     \
        bridge_log(L, logs, BRIDGE_LOG_WARNING, text);                        \
    } while (0)

    if (!bridge.admin) {
        bridge_answer(403, "admin actions are off", NULL, NULL);
    }

    rc = cluster_admin_path(path, plen, &idlen);

    if (rc == CLUSTER_ADMIN_NO_NODE) {
        bridge_answer(404, "expected POST .../nodes/<address or name>/"
                      "<action>", NULL, NULL);
    }

    if (rc == CLUSTER_ADMIN_NO_ACTION) {
        bridge_answer(404, "unknown action, expected drain, remove or "
                      "restore", NULL, NULL);
    }

    admin = (cluster_admin_e) rc;

    if (strcmp(method, "POST") != 0) {
        bridge_answer(405, "expected POST", "Allow", "POST");
    }

    /* cross-site requests are refused, by the core's rule */

    if (bridge_admin_values(L, 4, "sec_fetch_site", site, &nsite) != 0
        || bridge_admin_values(L, 4, "origin", origin, &norigin) != 0
        || bridge_admin_values(L, 4, "host", hv, &nhost) != 0
        || cluster_admin_cross_site(site, nsite, origin, norigin,
                                    nhost ? &hv[0] : NULL))
    {
        lua_settop(L, logs);
        bridge_refused("cross-site request");
        bridge_answer(403, "cross-site request", NULL, NULL);
    }

    if (!bridge.token) {
        /* HAProxy has no auth_basic of nginx's: a token is a must */
        bridge_refused("no token_file= in cluster_status");
        bridge_answer(403, "admin actions need token_file=", NULL, NULL);
    }

    lua_getfield(L, 4, "authorization");
    h = lua_istable(L, -1) ? (lua_rawgeti(L, -1, 1), lua_tolstring(L, -1, &hlen))
                           : NULL;

    if (h == NULL || hlen < 7 || strncasecmp(h, "Bearer ", 7) != 0) {
        lua_settop(L, logs);
        bridge_refused("no valid token");
        bridge_answer(401, "no valid token", "WWW-Authenticate",
                      "Bearer realm=\"cluster\"");
    }

    crypto_generichash(digest, sizeof(digest), (const unsigned char *) h + 7,
                       hlen - 7, NULL, 0);

    diff = 0;

    for (i = 0; i < sizeof(digest); i++) {
        diff |= digest[i] ^ bridge.token_digest[i];
    }

    lua_settop(L, logs);

    if (diff) {
        bridge_refused("no valid token");
        bridge_answer(401, "no valid token", "WWW-Authenticate",
                      "Bearer realm=\"cluster\"");
    }

    snprintf(who, sizeof(who), "token from %s", client);

    /* the query names one cluster, or is not there */

    cluster[0] = '\0';

    if (qlen) {
        if (qlen <= 8 || qlen - 8 >= sizeof(cluster)
            || strncmp(query, "cluster=", 8) != 0
            || memchr(query, '&', qlen) || memchr(query, ';', qlen)
            || memchr(query, '%', qlen))
        {
            bridge_answer(400, "invalid query, expected none or cluster=NAME,"
                          " NAME the backend's", NULL, NULL);
        }

        memcpy(cluster, query + 8, qlen - 8);
        cluster[qlen - 8] = '\0';
    }

    found = 0;

    for (by_name = 0; by_name < 2 && found == 0; by_name++) {
        for (i = 0; i < bridge.nbackends; i++) {
            b = bridge.backends[i];
            member[i] = -1;

            if (!b->attached || (cluster[0] && strcmp(cluster, b->name))) {
                continue;
            }

            n = bridge_count(b);

            nodes = calloc(n, sizeof(cluster_admin_node_t));
            if (nodes == NULL) {
                return luaL_error(L, "out of memory");
            }

            for (j = 0; j < n; j++) {
                nodes[j].id = b->bnodes[j].id;
                nodes[j].id_len = strlen(b->bnodes[j].id);
                nodes[j].name = b->bnodes[j].shown;
                nodes[j].name_len = strlen(b->bnodes[j].shown);
                /* a server deleted is no node to act on */
                nodes[j].tracked = !bridge_vacant(b, j);
            }

            rc = (int) cluster_admin_find(nodes, n, path, idlen, by_name);
            free(nodes);

            if (rc == CLUSTER_ADMIN_AMBIGUOUS) {
                bridge_answer(409, "the name is not unique in its cluster, "
                              "expected the node's address", NULL, NULL);
            }

            if (rc >= 0) {
                member[i] = rc;
                found++;
            }
        }
    }

    if (found == 0) {
        bridge_answer(404, "no such node, expected an address such as "
                      "10.0.0.11:8624, or a name", NULL, NULL);
    }

    now = bridge_now();

    for (i = 0; i < bridge.nbackends; i++) {
        if (member[i] < 0) {
            continue;
        }

        b = bridge.backends[i];

        act.node = (size_t) member[i];
        act.admin = admin;
        act.name = b->bnodes[member[i]].shown;
        act.name_len = strlen(act.name);
        act.by = who;

        ev.n = 0;
        ev.more = 0;

        cluster_act(&b->cluster, &act, now, &ev);
        bridge_events(L, b, &ev, logs);

        /* for the other load balancers: the latest by time wins */
        bridge_db_push(&bridge, b, (size_t) member[i], admin, who, now);

        len = (size_t) snprintf(text, sizeof(text), "cluster \"%s\" node "
                                "\"%s\"", b->name, act.name);

        if (strcmp(act.name, b->bnodes[member[i]].id) != 0) {
            len += (size_t) snprintf(text + len, sizeof(text) - len, " (%s)",
                                     b->bnodes[member[i]].id);
        }

        snprintf(text + len, sizeof(text) - len, ": %s by %s",
                 cluster_action_name(admin), who);
        bridge_log(L, logs, BRIDGE_LOG_NOTICE, text);
    }

    lua_pushinteger(L, 200);
    snprintf(body, sizeof(body), "{\"action\":\"%s\",\"nodes\":%zu}\n",
             cluster_action_name(admin), found);
    lua_pushstring(L, body);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, logs);

    return 5;

#undef bridge_answer
#undef bridge_refused
}


/* ---- the state file ------------------------------------------------------ */


static int
bridge_state_node(void *ctx, const char *cluster, const char *id,
    const char *fingerprint, const cluster_node_t *saved)
{
    size_t             i, j;
    bridge_backend_t  *b;

    (void) ctx;

    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        if (!b->attached || strcmp(b->name, cluster) != 0) {
            continue;
        }

        for (j = 0; j < bridge_count(b); j++) {
            if (strcmp(b->bnodes[j].id, id) == 0) {
                pthread_mutex_lock(&b->mutex);
                cluster_state_restore(b->nodes[j], saved,
                                      strcmp(fingerprint,
                                             b->has_key ? b->fingerprint : "")
                                      == 0);
                pthread_mutex_unlock(&b->mutex);
                return 1;
            }
        }
    }

    return 0;
}


static void
bridge_state_action(void *ctx, const char *cluster,
    const cluster_action_t *action)
{
    size_t             i;
    bridge_backend_t  *b;

    (void) ctx;

    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        if (b->attached && strcmp(b->name, cluster) == 0) {
            cluster_restore_action(&b->cluster, action);
        }
    }
}


/* the state file, read once every backend is attached */
static int
bridge_state_load(char *line, size_t size)
{
    int                     fd;
    char                   *text, err[160];
    long                    applied, refused;
    ssize_t                 r;
    struct stat             st;
    cluster_state_reader_t  reader;

    fd = open(bridge.state_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd == -1) {
        if (errno != ENOENT) {
            snprintf(line, size, "cluster state file \"%s\" not read: %s",
                     bridge.state_file, strerror(errno));
            return BRIDGE_LOG_WARNING;
        }

        return 0;
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > 16 * 1024 * 1024)
    {
        close(fd);
        snprintf(line, size, "cluster state file \"%s\" not read: not a "
                 "file of 16 MiB or less", bridge.state_file);
        return BRIDGE_LOG_WARNING;
    }

    text = malloc((size_t) st.st_size + 1);
    if (text == NULL) {
        close(fd);
        return 0;
    }

    r = read(fd, text, (size_t) st.st_size);
    close(fd);

    if (r < 0) {
        free(text);
        return 0;
    }

    text[r] = '\0';

    reader.node = bridge_state_node;
    reader.action = bridge_state_action;
    reader.ctx = NULL;

    applied = cluster_state_read(text, (size_t) r, bridge_now(), &reader,
                                 &refused, err, sizeof(err));
    free(text);

    if (applied < 0) {
        snprintf(line, size, "cluster state file \"%s\" not read: %s",
                 bridge.state_file, err);
        return BRIDGE_LOG_WARNING;
    }

    snprintf(line, size, "cluster state file \"%s\": %ld nodes restored",
             bridge.state_file, applied);
    return BRIDGE_LOG_NOTICE;
}


/*
 * restore(): the state file into the attached clusters, once per process;
 * returns log lines.
 */
static int
bridge_restore(lua_State *L)
{
    int    logs, level;
    char  *line;

    line = malloc(4400);
    if (line == NULL) {
        return luaL_error(L, "out of memory");
    }

    level = 0;

    pthread_mutex_lock(&bridge_mutex);

    if (bridge.state_file[0] && !bridge.state_loaded) {
        bridge.state_loaded = 1;
        level = bridge_state_load(line, 4400);
    }

    pthread_mutex_unlock(&bridge_mutex);

    lua_newtable(L);
    logs = lua_gettop(L);

    if (level) {
        bridge_log(L, logs, level, line);
    }

    free(line);

    return 1;
}


/*
 * save(): the state file, when a record changed since it was written;
 * written aside and renamed, so a reader never sees half of it.  Returns
 * nil, or a log line's text.
 */
static int
bridge_save(lua_State *L)
{
    int                      fd, dirty, error;
    char                    *buf, tmp[4200], line[4400];
    size_t                   i, j, n, m, base, k, size, need, count;
    int64_t                  now;
    cluster_node_t          *facts;
    bridge_backend_t        *b;
    cluster_action_t        *acts;
    cluster_state_entry_t   *entries;
    cluster_state_action_t  *actions;

    if (bridge.state_file[0] == '\0') {
        return 0;
    }

    pthread_mutex_lock(&bridge_mutex);

    n = 0;
    dirty = 0;

    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        if (b->attached) {
            n += b->cap;
            pthread_mutex_lock(&b->mutex);
            dirty |= b->shared.dirty;
            pthread_mutex_unlock(&b->mutex);
        }
    }

    if (!dirty) {
        pthread_mutex_unlock(&bridge_mutex);
        return 0;
    }

    m = bridge.nbackends * CLUSTER_ACTIONS_MAX;

    entries = calloc(n + 1, sizeof(cluster_state_entry_t));
    facts = calloc(n + 1, sizeof(cluster_node_t));
    actions = calloc(m + 1, sizeof(cluster_state_action_t));
    acts = calloc(m + 1, sizeof(cluster_action_t));

    if (!entries || !facts || !actions || !acts) {
        goto done;
    }

    n = 0;
    m = 0;
    base = 0;

    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        if (!b->attached) {
            continue;
        }

        /* the core copies its count of records, cap at most */
        count = bridge_count(b);
        k = cluster_save_copy(&b->cluster, &facts[base], &acts[m]);

        for (j = 0; j < count; j++) {
            if (bridge_vacant(b, j)) {
                continue;
            }

            entries[n].cluster = b->name;
            entries[n].cluster_len = strlen(b->name);
            entries[n].id = b->bnodes[j].id;
            entries[n].id_len = strlen(b->bnodes[j].id);
            entries[n].key_fingerprint = b->has_key ? b->fingerprint : "";
            entries[n].facts = &facts[base + j];
            n++;
        }

        base += b->cap;

        for (j = 0; j < k; j++) {
            actions[m].cluster = b->name;
            actions[m].cluster_len = strlen(b->name);
            actions[m].action = &acts[m];
            m++;
        }
    }

    now = bridge_now();
    size = cluster_state_write(NULL, 0, entries, n, actions, m, now);

    buf = malloc(size + 1);
    if (buf == NULL) {
        goto done;
    }

    need = cluster_state_write(buf, size, entries, n, actions, m, now);

    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", bridge.state_file,
             (long) getpid());
    (void) unlink(tmp);

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

    if (fd == -1 || write(fd, buf, need) != (ssize_t) need) {
        error = errno;

        if (fd != -1) {
            close(fd);
            (void) unlink(tmp);
        }

        free(buf);
        snprintf(line, sizeof(line), "cluster state file \"%s\" not "
                 "written: %s", bridge.state_file, strerror(error));
        goto failed;
    }

    close(fd);
    free(buf);

    if (rename(tmp, bridge.state_file) != 0) {
        error = errno;
        (void) unlink(tmp);
        snprintf(line, sizeof(line), "cluster state file \"%s\" not "
                 "written: cannot rename: %s", bridge.state_file,
                 strerror(error));
        goto failed;
    }

done:

    free(entries);
    free(facts);
    free(actions);
    free(acts);
    pthread_mutex_unlock(&bridge_mutex);
    return 0;

failed:

    /* the records lag the file still: the next save tries again */
    for (i = 0; i < bridge.nbackends; i++) {
        b = bridge.backends[i];

        if (b->attached) {
            pthread_mutex_lock(&b->mutex);
            b->shared.dirty = 1;
            pthread_mutex_unlock(&b->mutex);
        }
    }

    free(entries);
    free(facts);
    free(actions);
    free(acts);
    pthread_mutex_unlock(&bridge_mutex);

    lua_pushstring(L, line);
    return 1;
}


/* the bridge's settings Lua needs: the page's refresh, and the state file */
static int
bridge_settings(lua_State *L)
{
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, bridge.refresh);
    lua_setfield(L, -2, "refresh");
    lua_pushboolean(L, bridge.admin);
    lua_setfield(L, -2, "admin");
    lua_pushboolean(L, bridge.state_file[0] != '\0');
    lua_setfield(L, -2, "state_file");

    return 1;
}


static const luaL_Reg  bridge_functions[] = {
    { "load", bridge_load },
    { "backends", bridge_backends },
    { "attach", bridge_attach },
    { "add", bridge_add },
    { "remove", bridge_remove },
    { "restore", bridge_restore },
    { "tick", bridge_tick },
    { "check_every", bridge_check_every },
    { "check_claim", bridge_check_claim },
    { "check_done", bridge_check_done },
    { "answer", bridge_answer },
    { "status", bridge_status },
    { "admin", bridge_admin },
    { "save", bridge_save },
    { "settings", bridge_settings },
    { "probe", bridge_probe },
    { NULL, NULL }
};


int luaopen_cluster_bridge(lua_State *L);


/*
 * The Lua this module was built for, in its bytes, for cluster.lua to
 * read before it requires the module: a module built for another Lua may
 * not even load (5.4's lua_newuserdatauv is not in 5.3), and luaopen's
 * own check would only say "version mismatch".
 */
__attribute__((used))
const char  cluster_bridge_built_for[] =
    "\ncluster_bridge.so built for " LUA_VERSION "\n";


int
luaopen_cluster_bridge(lua_State *L)
{
    bridge_probe_register(L);
    luaL_newlib(L, bridge_functions);

    lua_pushstring(L, CLUSTER_VERSION);
    lua_setfield(L, -2, "version");

    return 1;
}
