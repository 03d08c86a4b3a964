
/*
 * Copyright (C) ngx_cluster_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_cluster.h"
#include "cluster_state.h"


/*
 * The state file: read when a zone is new (a start, not a reload, which
 * keeps the zone), written by one worker (the first) when a node's state
 * changed or an operator acted, at most once per second, and when that
 * worker exits.  It is written whole into a file of its own beside it,
 * created anew (never through a link that someone put there), then renamed
 * over it, so a reader never sees half of one.  A missing or broken file is
 * said in the log and ignored.
 */


typedef struct {
    ngx_http_cluster_main_conf_t  *cmcf;
    ngx_shm_zone_t                *shm_zone;
} ngx_http_cluster_state_ctx_t;


static int ngx_http_cluster_state_apply(void *data, const char *cluster,
    const char *id, const cluster_node_t *saved);


void
ngx_http_cluster_state_load(ngx_http_cluster_main_conf_t *cmcf,
    ngx_shm_zone_t *shm_zone, ngx_log_t *log)
{
    char                           error[64];
    long                           applied;
    u_char                        *text;
    ssize_t                        n;
    ngx_fd_t                       fd;
    ngx_file_t                     file;
    ngx_file_info_t                fi;
    ngx_http_cluster_state_ctx_t   ctx;

    fd = ngx_open_file(cmcf->state_file.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_NOTICE, log, ngx_errno,
                      "cluster state file \"%V\" not read, starting afresh",
                      &cmcf->state_file);
        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > 16 * 1024 * 1024)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cluster state file \"%V\" ignored: not a file of "
                      "16 MiB or less", &cmcf->state_file);
        (void) ngx_close_file(fd);
        return;
    }

    text = ngx_alloc((size_t) ngx_file_size(&fi) + 1, log);
    if (text == NULL) {
        (void) ngx_close_file(fd);
        return;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = cmcf->state_file;
    file.log = log;

    n = ngx_read_file(&file, text, (size_t) ngx_file_size(&fi), 0);

    (void) ngx_close_file(fd);

    if (n == NGX_ERROR) {
        ngx_free(text);
        return;
    }

    ctx.cmcf = cmcf;
    ctx.shm_zone = shm_zone;

    applied = cluster_state_read((char *) text, (size_t) n,
                                 ngx_http_cluster_state_apply, &ctx, error,
                                 sizeof(error));
    ngx_free(text);

    if (applied < 0) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cluster state file \"%V\" ignored: %s",
                      &cmcf->state_file, error);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "cluster state of %l nodes restored from \"%V\"",
                  applied, &cmcf->state_file);
}


/* a node of the file: restored if this zone has it, by identity */
static int
ngx_http_cluster_state_apply(void *data, const char *cluster, const char *id,
    const cluster_node_t *saved)
{
    ngx_http_cluster_state_ctx_t  *ctx = data;

    size_t                         clen, ilen;
    ngx_uint_t                     i, j;
    ngx_http_cluster_srv_conf_t  **cscfp, *cscf;

    clen = ngx_strlen(cluster);
    ilen = ngx_strlen(id);

    cscfp = ctx->cmcf->clusters.elts;

    for (i = 0; i < ctx->cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];

        if (cscf->shm_zone != ctx->shm_zone
            || cscf->upstream->host.len != clen
            || ngx_strncmp(cscf->upstream->host.data, cluster, clen) != 0)
        {
            continue;
        }

        for (j = 0; j < cscf->nmembers; j++) {
            if (cscf->nodes[j]
                && cscf->members[j].id->len == ilen
                && ngx_strncmp(cscf->members[j].id->data, id, ilen) == 0)
            {
                cluster_state_restore(cscf->nodes[j], saved);
                return 1;
            }
        }
    }

    return 0;
}


void
ngx_http_cluster_state_save(ngx_http_cluster_main_conf_t *cmcf,
    ngx_log_t *log)
{
    u_char                        *p;
    size_t                         size, need, n;
    int64_t                        now;
    ngx_fd_t                       fd;
    ngx_str_t                      tmp;
    ngx_uint_t                     i, j;
    cluster_node_t                *facts;
    cluster_state_entry_t         *entries;
    ngx_http_cluster_srv_conf_t  **cscfp, *cscf;

    n = 0;
    cscfp = cmcf->clusters.elts;

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        n += cscfp[i]->nmembers;
    }

    entries = ngx_alloc((n + 1) * (sizeof(cluster_state_entry_t)
                                   + sizeof(cluster_node_t)), log);
    if (entries == NULL) {
        return;
    }

    facts = (cluster_node_t *) (entries + n + 1);
    n = 0;

    /* a copy under each zone's lock, written out after */

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];

        if (cscf->shared == NULL) {
            continue;
        }

        ngx_shmtx_lock(&cscf->shpool->mutex);

        cscf->shared->dirty = 0;

        for (j = 0; j < cscf->nmembers; j++) {
            if (cscf->nodes[j] == NULL) {
                continue;
            }

            facts[n] = *cscf->nodes[j];

            entries[n].cluster = (const char *) cscf->upstream->host.data;
            entries[n].cluster_len = cscf->upstream->host.len;
            entries[n].id = (const char *) cscf->members[j].id->data;
            entries[n].id_len = cscf->members[j].id->len;
            entries[n].facts = &facts[n];
            n++;
        }

        ngx_shmtx_unlock(&cscf->shpool->mutex);
    }

    now = ngx_http_cluster_now();
    size = cluster_state_write(NULL, 0, entries, n, now);

    p = ngx_alloc(size + cmcf->state_file.len + sizeof(".tmp.") + NGX_INT_T_LEN,
                  log);
    if (p == NULL) {
        ngx_free(entries);
        return;
    }

    need = cluster_state_write((char *) p, size, entries, n, now);
    ngx_free(entries);

    tmp.data = p + size;
    tmp.len = ngx_sprintf(tmp.data, "%V.tmp.%P%Z", &cmcf->state_file, ngx_pid)
              - tmp.data - 1;

    /* a file of our own: an old one goes, a link is never followed */

    (void) ngx_delete_file(tmp.data);

    fd = open((char *) tmp.data, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC,
              0644);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cluster state file \"%V\" not written: cannot create "
                      "\"%V\"", &cmcf->state_file, &tmp);
        ngx_free(p);
        return;
    }

    if (ngx_write_fd(fd, p, need) != (ssize_t) need) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cluster state file \"%V\" not written",
                      &cmcf->state_file);
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp.data);
        ngx_free(p);
        return;
    }

    (void) ngx_close_file(fd);

    if (ngx_rename_file(tmp.data, cmcf->state_file.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "cluster state file \"%V\" not written: cannot rename "
                      "\"%V\"", &cmcf->state_file, &tmp);
        (void) ngx_delete_file(tmp.data);
    }

    ngx_free(p);
}
