/*
 * ngx_cluster_module: the health JSON, read with jansson.
 */

#include <string.h>

#include <jansson.h>

#include "cluster_health.h"


static uint8_t cluster_health_status(json_t *v);


cluster_health_rc_e
cluster_health_parse(const char *body, size_t len, cluster_health_t *h)
{
    size_t        i;
    json_t       *root;
    json_error_t  err;

    memset(h, 0, sizeof(cluster_health_t));

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len || (body[i] != '{' && body[i] != '[')) {
        return CLUSTER_HEALTH_NOT_JSON;
    }

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);

    if (root == NULL) {
        return CLUSTER_HEALTH_INVALID;
    }

    if (!json_is_object(root)
        || (json_object_get(root, "databaseStatus") == NULL
            && json_object_get(root, "serviceStatus") == NULL
            && json_object_get(root, "releaseNumber") == NULL))
    {
        json_decref(root);
        return CLUSTER_HEALTH_FOREIGN;
    }

    h->inedo = 1;

    cluster_health_copy(h->application, sizeof(h->application),
                        json_object_get(root, "applicationName"));
    cluster_health_copy(h->instance, sizeof(h->instance),
                        json_object_get(root, "instanceName"));
    cluster_health_copy(h->version, sizeof(h->version),
                        json_object_get(root, "versionNumber"));
    cluster_health_copy(h->release, sizeof(h->release),
                        json_object_get(root, "releaseNumber"));
    cluster_health_copy(h->database_detail, sizeof(h->database_detail),
                        json_object_get(root, "databaseStatusDetail"));
    cluster_health_copy(h->license_detail, sizeof(h->license_detail),
                        json_object_get(root, "licenseStatusDetail"));
    cluster_health_copy(h->service_detail, sizeof(h->service_detail),
                        json_object_get(root, "serviceStatusDetail"));

    h->database = cluster_health_status(json_object_get(root,
                                                        "databaseStatus"));
    h->license = cluster_health_status(json_object_get(root,
                                                       "licenseStatus"));
    h->service = cluster_health_status(json_object_get(root,
                                                       "serviceStatus"));

    json_decref(root);

    return CLUSTER_HEALTH_PARSED;
}


void
cluster_health_copy(char *dst, size_t size, json_t *v)
{
    size_t       n;
    const char  *s;

    dst[0] = '\0';

    if (!json_is_string(v)) {
        return;
    }

    /* without JSON_ALLOW_NUL, jansson refuses a NUL inside a string */
    s = json_string_value(v);
    n = json_string_length(v);

    if (n >= size) {
        n = size - 1;

        while (n && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    memcpy(dst, s, n);
    dst[n] = '\0';
}


static uint8_t
cluster_health_status(json_t *v)
{
    const char  *s;

    if (!json_is_string(v)) {
        return CLUSTER_HEALTH_UNKNOWN;
    }

    s = json_string_value(v);

    if (strcmp(s, "OK") == 0) {
        return CLUSTER_HEALTH_OK;
    }

    if (strcmp(s, "Error") == 0) {
        return CLUSTER_HEALTH_ERROR;
    }

    return CLUSTER_HEALTH_UNKNOWN;
}


int
cluster_release_compare(const char *a, const char *b)
{
    unsigned long  x, y;

    for ( ;; ) {
        if (*a == '\0' || *b == '\0') {
            return (*a != '\0') - (*b != '\0');
        }

        x = 0;
        y = 0;

        while (*a >= '0' && *a <= '9') {
            if (x < 100000000) {
                x = x * 10 + (unsigned long) (*a - '0');
            }
            a++;
        }

        while (*b >= '0' && *b <= '9') {
            if (y < 100000000) {
                y = y * 10 + (unsigned long) (*b - '0');
            }
            b++;
        }

        if (x != y) {
            return x < y ? -1 : 1;
        }

        /* the separators, or anything else, compare as text */
        if (*a != *b) {
            return (unsigned char) *a < (unsigned char) *b ? -1 : 1;
        }

        if (*a) {
            a++;
            b++;
        }
    }
}
