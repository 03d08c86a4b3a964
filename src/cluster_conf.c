/*
 * ngx_cluster_module: the cluster's directives, for every load balancer.
 */

#include <stdio.h>
#include <string.h>

#include "cluster_conf.h"


static int cluster_conf_param(const cluster_word_t *w, const char *name,
    cluster_word_t *value);
static int cluster_conf_time_param(const cluster_word_t *w,
    const cluster_word_t *value, int64_t min, int64_t max, int64_t *t,
    char *err);
static int cluster_conf_number(const cluster_word_t *w,
    const cluster_word_t *value, int64_t min, int64_t max, int64_t *n,
    char *err);
static long cluster_conf_digits(const char *s, size_t len);


void
cluster_conf_init(cluster_conf_t *cf)
{
    cluster_settings_t  defaults;

    memset(cf, 0, sizeof(cluster_conf_t));

    cluster_settings_default(&defaults);

    cf->interval = CLUSTER_CONF_UNSET;
    cf->stale = CLUSTER_CONF_UNSET;
    cf->slow_start = CLUSTER_CONF_UNSET;
    cf->eject = CLUSTER_CONF_UNSET;
    cf->uri.data = CLUSTER_CHECK_URI;
    cf->uri.len = sizeof(CLUSTER_CHECK_URI) - 1;
    cf->timeout = defaults.timeout;
    cf->rise = CLUSTER_CONF_UNSET;
    cf->fall = CLUSTER_CONF_UNSET;

    cluster_check_conf_default(&cf->expect);
}


int
cluster_conf_heartbeat(cluster_conf_t *cf, const cluster_word_t *w,
    size_t n, char *err)
{
    char                 stale[32], interval[32];
    size_t               i;
    int64_t             *field, max, iv, st;
    cluster_word_t       v;
    cluster_settings_t   defaults;

    for (i = 0; i < n; i++) {

        if (cluster_conf_param(&w[i], "interval=", &v)) {
            field = &cf->interval;
            max = CLUSTER_INTERVAL_MAX;

        } else if (cluster_conf_param(&w[i], "stale=", &v)) {
            field = &cf->stale;
            max = CLUSTER_STALE_MAX;

        } else {
            snprintf(err, CLUSTER_CONF_ERROR, "invalid parameter \"%.*s\", "
                     "expected \"interval=TIME\" or \"stale=TIME\"",
                     (int) w[i].len, w[i].data);
            return -1;
        }

        if (*field != CLUSTER_CONF_UNSET) {
            snprintf(err, CLUSTER_CONF_ERROR, "duplicate parameter \"%.*s\"",
                     (int) w[i].len, w[i].data);
            return -1;
        }

        if (cluster_conf_time_param(&w[i], &v, CLUSTER_TIME_MIN, max, field,
                                    err)
            != 0)
        {
            return -1;
        }
    }

    cluster_settings_default(&defaults);

    iv = (cf->interval != CLUSTER_CONF_UNSET) ? cf->interval
                                              : defaults.interval;
    st = (cf->stale != CLUSTER_CONF_UNSET) ? cf->stale : defaults.stale;

    if (st <= iv) {
        cluster_conf_time_text(stale, sizeof(stale), st);
        cluster_conf_time_text(interval, sizeof(interval), iv);

        snprintf(err, CLUSTER_CONF_ERROR, "\"stale\" (%s) must be longer "
                 "than \"interval\" (%s)", stale, interval);
        return -1;
    }

    return 0;
}


int
cluster_conf_check(cluster_conf_t *cf, const cluster_word_t *w, size_t n,
    char *err)
{
    long                 min, max;
    size_t               i;
    int64_t              port;
    const char          *dash;
    cluster_word_t       v;

    cf->check = 1;

    for (i = 0; i < n; i++) {

        if (cluster_conf_param(&w[i], "uri=", &v)) {
            if (!cluster_conf_uri_valid(v.data, v.len)) {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid URI in \"%.*s\", "
                         "expected a path that starts with \"/\" and has no "
                         "spaces", (int) w[i].len, w[i].data);
                return -1;
            }

            cf->uri = v;

            /* only the default URI falls back to the older /health */
            cf->expect.fallback = (v.len == sizeof(CLUSTER_CHECK_URI) - 1
                                   && memcmp(v.data, CLUSTER_CHECK_URI, v.len)
                                      == 0);
            continue;
        }

        if (cluster_conf_param(&w[i], "timeout=", &v)) {
            if (cluster_conf_time_param(&w[i], &v, CLUSTER_TIME_MIN,
                                        CLUSTER_TIMEOUT_MAX, &cf->timeout,
                                        err)
                != 0)
            {
                return -1;
            }

            continue;
        }

        if (cluster_conf_param(&w[i], "rise=", &v)) {
            if (cluster_conf_number(&w[i], &v, 1, CLUSTER_RISE_MAX, &cf->rise,
                                    err)
                != 0)
            {
                return -1;
            }

            continue;
        }

        if (cluster_conf_param(&w[i], "fall=", &v)) {
            if (cluster_conf_number(&w[i], &v, 1, CLUSTER_RISE_MAX, &cf->fall,
                                    err)
                != 0)
            {
                return -1;
            }

            continue;
        }

        if (cluster_conf_param(&w[i], "messenger=", &v)) {
            if (cluster_conf_number(&w[i], &v, 1, 65535, &port, err) != 0) {
                return -1;
            }

            cf->messenger = (unsigned) port;
            continue;
        }

        if (cluster_conf_param(&w[i], "expect=", &v)) {
            dash = memchr(v.data, '-', v.len);

            min = cluster_conf_digits(v.data, dash ? (size_t) (dash - v.data)
                                                   : v.len);
            max = dash ? cluster_conf_digits(dash + 1,
                                             v.data + v.len - dash - 1)
                       : min;

            if (min < 100 || max > 599 || min > max) {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid status range in "
                         "\"%.*s\", expected \"expect=200-399\" or a single "
                         "status, from 100 to 599", (int) w[i].len,
                         w[i].data);
                return -1;
            }

            cf->expect.expect_min = (unsigned) min;
            cf->expect.expect_max = (unsigned) max;
            continue;
        }

        if (cluster_conf_param(&w[i], "host=", &v)) {
            if (!cluster_conf_host_valid(v.data, v.len)) {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", "
                         "expected \"host=\" a host name such as "
                         "proget.example.com, with a port or without",
                         (int) w[i].len, w[i].data);
                return -1;
            }

            cf->host = v;
            continue;
        }

        if (cluster_word_is(&w[i], "mandatory")) {
            cf->mandatory = 1;
            continue;
        }

        if (cluster_word_is(&w[i], "ssl")) {
            cf->ssl = 1;
            continue;
        }

        if (cluster_conf_param(&w[i], "ssl_name=", &v)) {
            if (!cluster_conf_host_valid(v.data, v.len)) {
                snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", "
                         "expected \"ssl_name=\" a host name such as "
                         "proget.example.com", (int) w[i].len, w[i].data);
                return -1;
            }

            cf->ssl_name = v;
            continue;
        }

        if (cluster_word_is(&w[i], "ssl_verify=on")
            || cluster_word_is(&w[i], "ssl_verify=off"))
        {
            cf->ssl_verify = (w[i].len == sizeof("ssl_verify=on") - 1);
            continue;
        }

        if (cluster_conf_param(&w[i], "ssl_trusted_certificate=", &v)) {
            if (v.len == 0) {
                snprintf(err, CLUSTER_CONF_ERROR, "\"ssl_trusted_certificate=\""
                         " needs a file of certificates in PEM");
                return -1;
            }

            cf->ssl_trusted = v;
            continue;
        }

        snprintf(err, CLUSTER_CONF_ERROR, "invalid parameter \"%.*s\", "
                 "expected \"uri=\", \"timeout=\", \"rise=\", \"fall=\", "
                 "\"messenger=\", \"expect=\", \"host=\", \"ssl\", "
                 "\"ssl_name=\", \"ssl_verify=\", "
                 "\"ssl_trusted_certificate=\" or \"mandatory\"",
                 (int) w[i].len, w[i].data);
        return -1;
    }

    if (!cf->ssl && (cf->ssl_verify || cf->ssl_name.len || cf->ssl_trusted.len))
    {
        snprintf(err, CLUSTER_CONF_ERROR, "\"ssl_name=\", \"ssl_verify=\" and "
                 "\"ssl_trusted_certificate=\" go with \"ssl\"");
        return -1;
    }

    if (cf->ssl_verify && cf->ssl_trusted.len == 0) {
        snprintf(err, CLUSTER_CONF_ERROR, "\"ssl_verify=on\" needs "
                 "\"ssl_trusted_certificate=\", the certificates to trust");
        return -1;
    }

    return 0;
}


int
cluster_conf_eject(cluster_conf_t *cf, const cluster_word_t *w, size_t n,
    char *err)
{
    size_t    i;
    uint32_t  finding, eject;

    if (n == 1 && cluster_word_is(&w[0], "off")) {
        cf->eject = 0;
        return 0;
    }

    eject = 0;

    for (i = 0; i < n; i++) {
        finding = cluster_finding_parse(w[i].data, w[i].len);

        if ((finding & CLUSTER_FINDING_EJECTABLE) == 0) {
            snprintf(err, CLUSTER_CONF_ERROR, "invalid value \"%.*s\", "
                     "expected \"stale\", \"down\", \"key_mismatch\", "
                     "\"version_skew\", \"service_down\" or a single \"off\"",
                     (int) w[i].len, w[i].data);
            return -1;
        }

        eject |= finding;
    }

    cf->eject = eject;

    return 0;
}


int
cluster_conf_slow_start(cluster_conf_t *cf, const cluster_word_t *w,
    size_t n, char *err)
{
    if (n != 1) {
        snprintf(err, CLUSTER_CONF_ERROR, "expected one time, such as 30s");
        return -1;
    }

    return cluster_conf_time_param(&w[0], &w[0], 0, CLUSTER_SLOW_START_MAX,
                                   &cf->slow_start, err);
}


int
cluster_conf_node_name(const cluster_word_t *address,
    const cluster_word_t *name, char *err)
{
    size_t  i;

    if (address->len == 0 || name->len == 0) {
        snprintf(err, CLUSTER_CONF_ERROR, "invalid empty %s, expected "
                 "\"cluster_node_name ADDRESS NAME\"",
                 address->len ? "name" : "address");
        return -1;
    }

    for (i = 0; i < name->len; i++) {
        if ((unsigned char) name->data[i] < ' ' || name->data[i] == 0x7f) {
            snprintf(err, CLUSTER_CONF_ERROR, "invalid name \"%.*s\", "
                     "expected printable text", (int) name->len, name->data);
            return -1;
        }
    }

    return 0;
}


void
cluster_conf_settings(const cluster_conf_t *cf, cluster_settings_t *s)
{
    cluster_settings_default(s);

    if (cf->interval != CLUSTER_CONF_UNSET) {
        s->interval = cf->interval;
    }

    if (cf->stale != CLUSTER_CONF_UNSET) {
        s->stale = cf->stale;
    }

    if (cf->eject != CLUSTER_CONF_UNSET) {
        s->eject = (uint32_t) cf->eject;
    }

    if (cf->slow_start != CLUSTER_CONF_UNSET) {
        s->slow_start = cf->slow_start;
    }

    if (cf->check) {
        s->checks = 1;
        s->trials = 0;
        s->mandatory = cf->mandatory;
        s->timeout = cf->timeout;

        if (cf->rise != CLUSTER_CONF_UNSET) {
            s->rise = (uint32_t) cf->rise;
        }

        if (cf->fall != CLUSTER_CONF_UNSET) {
            s->fall = (uint32_t) cf->fall;
        }
    }
}


/*
 * As nginx's ngx_parse_time() reads a time: numbers each with a unit, the
 * units in falling order (y and M only where seconds are meant, then w d
 * h m s, and ms where milliseconds are), spaces after a unit or after a
 * number (which is then seconds), a last bare number in seconds.  In ms,
 * bounded by CLUSTER_TIME_MAX before any arithmetic.
 */
static int
cluster_conf_parse_time(const char *s, size_t len, int long_units,
    int64_t *ms)
{
    int       valid, step, unit;
    size_t    i;
    int64_t   value, total, scale;

    /* the steps: 0 start, 1 y, 2 M, 3 w, 4 d, 5 h, 6 m, 7 s, 8 ms, 9 last */
    static const int64_t  scales[] = {
        0, 365LL * 86400000, 30LL * 86400000, 7LL * 86400000, 86400000,
        3600000, 60000, 1000, 1, 1000
    };

    valid = 0;
    value = 0;
    total = 0;
    step = long_units ? 0 : 2;

    for (i = 0; i < len; /* void */) {

        if (s[i] >= '0' && s[i] <= '9') {
            if (value > (CLUSTER_TIME_MAX - (s[i] - '0')) / 10) {
                return -1;
            }

            value = value * 10 + (s[i++] - '0');
            valid = 1;
            continue;
        }

        switch (s[i++]) {
        case 'y': unit = 1; break;
        case 'M': unit = 2; break;
        case 'w': unit = 3; break;
        case 'd': unit = 4; break;
        case 'h': unit = 5; break;
        case 'm':
            if (i < len && s[i] == 's') {
                if (long_units) {
                    return -1;
                }

                i++;
                unit = 8;

            } else {
                unit = 6;
            }

            break;
        case 's': unit = 7; break;
        case ' ':
            /* a number ended by a space: seconds, and nothing after */
            if (step >= 7) {
                return -1;
            }

            unit = 9;
            break;
        default:
            return -1;
        }

        if (unit == 1 ? step > 0 : step >= unit) {
            return -1;
        }

        step = unit;
        scale = scales[unit];

        if (value > (CLUSTER_TIME_MAX - total) / scale) {
            return -1;
        }

        total += value * scale;
        value = 0;

        while (i < len && s[i] == ' ') {
            i++;
        }
    }

    if (!valid) {
        return -1;
    }

    if (value > (CLUSTER_TIME_MAX - total) / 1000) {
        return -1;
    }

    *ms = total + value * 1000;

    return 0;
}


int
cluster_conf_time(const char *s, size_t len, int64_t *ms)
{
    return cluster_conf_parse_time(s, len, 0, ms);
}


int
cluster_conf_seconds(const char *s, size_t len, int64_t *ms)
{
    return cluster_conf_parse_time(s, len, 1, ms);
}


size_t
cluster_conf_time_text(char *buf, size_t size, int64_t ms)
{
    int     n;
    size_t  i;

    static const struct {
        int64_t      ms;
        const char  *unit;
    } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }
    };

    if (ms == 0) {
        n = snprintf(buf, size, "0");
        return n < 0 ? 0 : ((size_t) n < size ? (size_t) n : size - 1);
    }

    n = -1;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms % units[i].ms == 0) {
            n = snprintf(buf, size, "%lld%s", (long long) (ms / units[i].ms),
                         units[i].unit);
            break;
        }
    }

    if (n < 0) {
        n = snprintf(buf, size, "%lldms", (long long) ms);
    }

    return n < 0 ? 0 : ((size_t) n < size ? (size_t) n : size - 1);
}


int
cluster_conf_host_valid(const char *host, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > 255) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = host[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'
              || c == ':' || c == '[' || c == ']'))
        {
            return 0;
        }
    }

    return 1;
}


int
cluster_conf_uri_valid(const char *uri, size_t len)
{
    size_t  i;

    if (len == 0 || uri[0] != '/') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) uri[i] <= ' ' || uri[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


int
cluster_word_is(const cluster_word_t *w, const char *s)
{
    size_t  len;

    len = strlen(s);

    return w->len == len && memcmp(w->data, s, len) == 0;
}


/* "name=value": the value after the name, 1 when the word is one */
static int
cluster_conf_param(const cluster_word_t *w, const char *name,
    cluster_word_t *value)
{
    size_t  len;

    len = strlen(name);

    if (w->len < len || memcmp(w->data, name, len) != 0) {
        return 0;
    }

    value->data = w->data + len;
    value->len = w->len - len;

    return 1;
}


/*
 * A time in min .. max ms: every time of the settings is bounded here, so
 * that no sum of them overflows.
 */
static int
cluster_conf_time_param(const cluster_word_t *w, const cluster_word_t *value,
    int64_t min, int64_t max, int64_t *t, char *err)
{
    char     lo[32], hi[32];
    int64_t  ms;

    if (cluster_conf_time(value->data, value->len, &ms) == 0
        && ms >= min && ms <= max)
    {
        *t = ms;
        return 0;
    }

    cluster_conf_time_text(lo, sizeof(lo), min);
    cluster_conf_time_text(hi, sizeof(hi), max);

    snprintf(err, CLUSTER_CONF_ERROR, "invalid time in \"%.*s\", expected a "
             "time of at least %s and at most %s%s", (int) w->len, w->data,
             lo, hi, min ? "" : " (0: none)");

    return -1;
}


static int
cluster_conf_number(const cluster_word_t *w, const cluster_word_t *value,
    int64_t min, int64_t max, int64_t *n, char *err)
{
    long  v;

    v = cluster_conf_digits(value->data, value->len);

    if (v < 0 || v < min || v > max) {
        snprintf(err, CLUSTER_CONF_ERROR, "invalid value in \"%.*s\", "
                 "expected a number from %lld to %lld", (int) w->len, w->data,
                 (long long) min, (long long) max);
        return -1;
    }

    *n = v;

    return 0;
}


/* decimal digits only, as ngx_atoi() reads them; -1 for anything else */
static long
cluster_conf_digits(const char *s, size_t len)
{
    long    v;
    size_t  i;

    if (len == 0) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > 99999999) {
            return -1;
        }

        v = v * 10 + (s[i] - '0');
    }

    return v;
}


void
cluster_conf_file_init(cluster_conf_file_t *f, const char *text, size_t len)
{
    f->text = text;
    f->len = len;
    f->pos = 0;
    f->line = 1;
    f->at = 1;
}


cluster_conf_token_e
cluster_conf_next(cluster_conf_file_t *f, cluster_word_t *w, size_t *n,
    char *err)
{
    char         c, quote;
    size_t       start;
    const char  *t;

    t = f->text;
    *n = 0;

    for ( ;; ) {

        /* spaces, line ends and comments between words */

        while (f->pos < f->len) {
            c = t[f->pos];

            if (c == '\n') {
                f->at++;

            } else if (c == '#') {
                while (f->pos < f->len && t[f->pos] != '\n') {
                    f->pos++;
                }

                continue;

            } else if (c != ' ' && c != '\t' && c != '\r') {
                break;
            }

            f->pos++;
        }

        if (*n == 0) {
            f->line = f->at;
        }

        if (f->pos == f->len) {
            if (*n) {
                snprintf(err, CLUSTER_CONF_ERROR, "unexpected end of file, "
                         "expected \";\" or \"}\"");
                return CLUSTER_CONF_BAD;
            }

            return CLUSTER_CONF_END;
        }

        c = t[f->pos];

        if (c == ';' || c == '{' || c == '}') {
            f->pos++;

            if (c == '}') {
                if (*n) {
                    snprintf(err, CLUSTER_CONF_ERROR, "unexpected \"}\", "
                             "expected \";\"");
                    return CLUSTER_CONF_BAD;
                }

                return CLUSTER_CONF_BLOCK_END;
            }

            if (*n == 0) {
                snprintf(err, CLUSTER_CONF_ERROR, "unexpected \"%c\"", c);
                return CLUSTER_CONF_BAD;
            }

            return c == ';' ? CLUSTER_CONF_DIRECTIVE : CLUSTER_CONF_BLOCK;
        }

        if (*n == CLUSTER_CONF_WORDS) {
            snprintf(err, CLUSTER_CONF_ERROR, "too many parameters, expected "
                     "at most %d", CLUSTER_CONF_WORDS - 1);
            return CLUSTER_CONF_BAD;
        }

        if (c == '"' || c == '\'') {
            quote = c;
            start = ++f->pos;

            while (f->pos < f->len && t[f->pos] != quote) {
                if (t[f->pos] == '\n') {
                    f->at++;
                }

                f->pos++;
            }

            if (f->pos == f->len) {
                snprintf(err, CLUSTER_CONF_ERROR, "unexpected end of file, "
                         "expected a closing %c", quote);
                return CLUSTER_CONF_BAD;
            }

            w[*n].data = t + start;
            w[*n].len = f->pos - start;
            (*n)++;
            f->pos++;
            continue;
        }

        start = f->pos;

        while (f->pos < f->len) {
            c = t[f->pos];

            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';'
                || c == '{' || c == '}' || c == '#')
            {
                break;
            }

            if ((unsigned char) c < ' ' || c == 0x7f) {
                snprintf(err, CLUSTER_CONF_ERROR, "unexpected control "
                         "character");
                return CLUSTER_CONF_BAD;
            }

            f->pos++;
        }

        w[*n].data = t + start;
        w[*n].len = f->pos - start;
        (*n)++;
    }
}
