
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"


/*
 * Helpers every file of the module may call; they call none of its files.
 */


/* a path to send in a request line: "/...", no blanks or controls */
ngx_int_t
ngx_http_cluster_uri_valid(ngx_str_t *uri)
{
    return cluster_conf_uri_valid((const char *) uri->data, uri->len)
           ? NGX_OK : NGX_DECLINED;
}


/*
 * The next header named "name" in the list, from where the walk stopped
 * (a walk of zeros starts it); NULL when there is no more.  Deleted
 * headers (hash 0) are passed over.
 */
ngx_table_elt_t *
ngx_http_cluster_header_next(ngx_list_t *headers, const char *name,
    size_t len, ngx_http_cluster_walk_t *walk)
{
    ngx_table_elt_t  *h;

    if (walk->part == NULL) {
        walk->part = &headers->part;
        walk->i = 0;
    }

    for ( ;; ) {

        if (walk->i >= walk->part->nelts) {
            if (walk->part->next == NULL) {
                return NULL;
            }

            walk->part = walk->part->next;
            walk->i = 0;
            continue;
        }

        h = (ngx_table_elt_t *) walk->part->elts + walk->i++;

        if (h->hash != 0 && h->key.len == len
            && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0)
        {
            return h;
        }
    }
}


/* one buffer, the whole answer */
ngx_int_t
ngx_http_cluster_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_buf_t *b)
{
    ngx_int_t     rc;
    ngx_chain_t   out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_cluster_add_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/*
 * A secret's file (a key, a password): its owner's alone, read whole into
 * the pool; "what" names it in the messages, which never show its text.
 */
ngx_int_t
ngx_http_cluster_read_secret(ngx_conf_t *cf, ngx_str_t *name,
    const char *what, ngx_str_t *text)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        full;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    full = *name;

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(full.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open the %s \"%V\"", what, &full);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > NGX_HTTP_CLUSTER_SECRET_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the %s \"%V\" is not a file of 64 KiB or "
                           "less", what, &full);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (ngx_file_access(&fi) & 0006) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the %s \"%V\" is readable or writable by "
                           "others, expected a mode such as 0600 or 0640",
                           what, &full);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    text->data = ngx_pnalloc(cf->pool, (size_t) ngx_file_size(&fi) + 1);
    if (text->data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = full;
    file.log = cf->log;

    n = ngx_read_file(&file, text->data, (size_t) ngx_file_size(&fi), 0);

    (void) ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    text->len = (size_t) n;

    return NGX_OK;
}
