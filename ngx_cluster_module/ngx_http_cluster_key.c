
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sodium.h>

#include "ngx_http_cluster.h"
#include "cluster_cookie.h"


/*
 * cluster_key: Inedo's EncryptionKey, from a file, an environment variable
 * (or the file its _FILE variant names), or the <EncryptionKey> element of
 * an Inedo XML configuration file.  The key lives in libsodium's guarded
 * memory, read-only, wiped when the configuration goes; no message ever
 * shows it, only where it was to be found.
 */


static char *ngx_http_cluster_key_store(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf, u_char *text, size_t len,
    ngx_str_t *source);
static uint8_t *ngx_http_cluster_key_alloc(ngx_conf_t *cf);
static char *ngx_http_cluster_key_install(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf, uint8_t *raw);
static void ngx_http_cluster_key_cleanup(void *data);


char *
ngx_http_cluster_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_srv_conf_t  *cscf = conf;

    char       *env, *rv;
    uint8_t    *raw;
    ngx_str_t  *value, s, text, var;

    if (cscf->key) {
        return "is duplicate";
    }

    if (cluster_cookie_init() != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "libsodium failed to start");
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "file=", 5) == 0) {
        s.data = value[1].data + 5;
        s.len = value[1].len - 5;

        if (ngx_http_cluster_read_secret(cf, &s, "key file", &text)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        rv = ngx_http_cluster_key_store(cf, cscf, text.data, text.len, &s);
        sodium_memzero(text.data, text.len);
        return rv;
    }

    if (ngx_strncmp(value[1].data, "env=", 4) == 0) {
        var.len = value[1].len - 4;
        var.data = ngx_pnalloc(cf->pool, var.len + sizeof("_FILE"));
        if (var.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(var.data, value[1].data + 4, var.len);
        var.data[var.len] = '\0';

        env = getenv((char *) var.data);

        if (env && *env) {
            return ngx_http_cluster_key_store(cf, cscf, (u_char *) env,
                                              ngx_strlen(env), &var);
        }

        /* PROGET_ENCRYPTION_KEY_FILE: the file that holds it */

        ngx_memcpy(var.data + var.len, "_FILE", sizeof("_FILE"));

        env = getenv((char *) var.data);

        if (env == NULL || *env == '\0') {
            var.data[var.len] = '\0';
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the environment variable \"%s\" is not set, "
                               "nor \"%s_FILE\"", var.data, var.data);
            return NGX_CONF_ERROR;
        }

        s.data = (u_char *) env;
        s.len = ngx_strlen(env);

        if (ngx_http_cluster_read_secret(cf, &s, "key file", &text)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        rv = ngx_http_cluster_key_store(cf, cscf, text.data, text.len, &s);
        sodium_memzero(text.data, text.len);
        return rv;
    }

    if (ngx_strncmp(value[1].data, "inedo_config=", 13) == 0) {
        s.data = value[1].data + 13;
        s.len = value[1].len - 13;

        if (ngx_http_cluster_read_secret(cf, &s, "key file", &text)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        raw = ngx_http_cluster_key_alloc(cf);
        if (raw == NULL) {
            sodium_memzero(text.data, text.len);
            return NGX_CONF_ERROR;
        }

        if (cluster_key_from_config((const char *) text.data, text.len, raw)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no <EncryptionKey> element of 32 hex digits "
                               "in \"%V\"", &s);
            sodium_memzero(text.data, text.len);
            return NGX_CONF_ERROR;
        }

        sodium_memzero(text.data, text.len);

        return ngx_http_cluster_key_install(cf, cscf, raw);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected \"file=\", "
                       "\"env=\" or \"inedo_config=\"", &value[1]);
    return NGX_CONF_ERROR;
}


/* file= and env=: the text is the key, blanks around it allowed */
static char *
ngx_http_cluster_key_store(ngx_conf_t *cf, ngx_http_cluster_srv_conf_t *cscf,
    u_char *text, size_t len, ngx_str_t *source)
{
    uint8_t  *raw;

    raw = ngx_http_cluster_key_alloc(cf);
    if (raw == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cluster_key_parse((const char *) text, len, raw) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key from \"%V\" is not an EncryptionKey, "
                           "expected 32 hex digits", source);
        return NGX_CONF_ERROR;
    }

    return ngx_http_cluster_key_install(cf, cscf, raw);
}


/* guarded memory for the raw key, freed with the configuration */
static uint8_t *
ngx_http_cluster_key_alloc(ngx_conf_t *cf)
{
    uint8_t             *raw;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    raw = sodium_malloc(CLUSTER_KEY_RAW);
    if (raw == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no guarded memory for the key");
        return NULL;
    }

    cln->handler = ngx_http_cluster_key_cleanup;
    cln->data = raw;

    return raw;
}


/* the raw key read: its fingerprint, the cookie key, both made read-only */
static char *
ngx_http_cluster_key_install(ngx_conf_t *cf,
    ngx_http_cluster_srv_conf_t *cscf, uint8_t *raw)
{
    ngx_pool_cleanup_t  *cln;

    cluster_key_fingerprint(raw, cscf->key_fingerprint);

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cscf->seal_key = sodium_malloc(CLUSTER_KEY_SEAL);
    if (cscf->seal_key == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_cluster_key_cleanup;
    cln->data = cscf->seal_key;

    cluster_cookie_key(raw, cscf->seal_key);

    /* out of core dumps where the system allows, read-only from here on */
    (void) sodium_mprotect_readonly(raw);
    (void) sodium_mprotect_readonly(cscf->seal_key);

    cscf->key = raw;

    ngx_http_cluster_mark(cf, cscf);

    return NGX_CONF_OK;
}


/* the configuration goes: the key is wiped with its guarded pages */
static void
ngx_http_cluster_key_cleanup(void *data)
{
    sodium_free(data);
}
