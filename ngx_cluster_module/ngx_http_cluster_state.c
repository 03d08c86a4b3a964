
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


static ngx_uint_t ngx_http_cluster_state_may(ngx_file_info_t *fi,
    ngx_uid_t user, gid_t *groups, int n, mode_t bits);
static ngx_int_t ngx_http_cluster_state_owner(ngx_cycle_t *cycle,
    ngx_file_info_t *fi);
static ngx_http_cluster_srv_conf_t *ngx_http_cluster_state_cluster(
    ngx_http_cluster_state_ctx_t *ctx, const char *name);
static int ngx_http_cluster_state_apply(void *data, const char *cluster,
    const char *id, const char *fingerprint, const cluster_node_t *saved);
static void ngx_http_cluster_state_action(void *data, const char *cluster,
    const cluster_action_t *action);


char *
ngx_http_cluster_state_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_cluster_main_conf_t  *cmcf = conf;

    ngx_str_t  *value;

    if (cmcf->state_file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid empty path, expected the state file's");
        return NGX_CONF_ERROR;
    }

    cmcf->state_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &cmcf->state_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the workers' user is known once the whole file is read */
    cmcf->state_conf = cf->conf_file->file.name.data;
    cmcf->state_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * Whether the workers, who write the state file, may create files in its
 * folder: asked once a configuration, when the workers' user is known, so
 * that "nginx -t" says it rather than every write failing later.  The
 * workers' groups are the user's, as initgroups() gives them; each folder
 * on the way must let them pass.
 */
ngx_int_t
ngx_http_cluster_state_writable(ngx_http_cluster_main_conf_t *cmcf,
    ngx_log_t *log)
{
    int                n;
    u_char            *p, *last;
    gid_t             *groups;
    ngx_str_t          folder;
    ngx_uint_t         ok;
    ngx_file_info_t    fi;
    ngx_core_conf_t   *ccf;

    if (cmcf->state_checked || cmcf->state_file.len == 0) {
        return NGX_OK;
    }

    cmcf->state_checked = 1;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cmcf->cycle->conf_ctx,
                                           ngx_core_module);

    folder.data = ngx_pnalloc(cmcf->cycle->pool, cmcf->state_file.len + 1);
    if (folder.data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(folder.data, cmcf->state_file.data,
                cmcf->state_file.len + 1);

    /* the full name: "/x" is in "/" */

    last = folder.data + cmcf->state_file.len;

    while (last > folder.data && last[-1] != '/') {
        last--;
    }

    folder.len = (last - folder.data > 1) ? (size_t) (last - folder.data - 1)
                                           : 1;
    folder.data[folder.len] = '\0';

    if (ngx_file_info(folder.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_dir(&fi))
    {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "the folder \"%V\" of \"cluster_state_file\" in "
                      "%s:%ui is not there; create it, writable by nginx's "
                      "workers", &folder, cmcf->state_conf, cmcf->state_line);
        return NGX_ERROR;
    }

    if (geteuid() != 0 || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        /* the workers run as we do */
        ok = (access((char *) folder.data, W_OK|X_OK) == 0);
        goto done;
    }

    if (ccf->user == 0) {
        ok = 1;
        goto done;
    }

    n = 16;

    for ( ;; ) {
        groups = ngx_palloc(cmcf->cycle->pool, n * sizeof(gid_t));
        if (groups == NULL) {
            return NGX_ERROR;
        }

        /* says how many it needs when there are more */
        if (getgrouplist(ccf->username, ccf->group, groups, &n) >= 0) {
            break;
        }

        if (n > 65536) {
            return NGX_ERROR;
        }
    }

    ok = ngx_http_cluster_state_may(&fi, ccf->user, groups, n,
                                    S_IWUSR|S_IXUSR);

    /* every folder above it must let the workers pass */

    for (p = folder.data + 1; ok && p < folder.data + folder.len; p++) {
        if (*p != '/') {
            continue;
        }

        *p = '\0';

        ok = ngx_file_info(folder.data, &fi) != NGX_FILE_ERROR
             && ngx_http_cluster_state_may(&fi, ccf->user, groups, n,
                                           S_IXUSR);
        *p = '/';
    }

    if (ok && ngx_file_info("/", &fi) != NGX_FILE_ERROR) {
        ok = ngx_http_cluster_state_may(&fi, ccf->user, groups, n, S_IXUSR);
    }

done:

    if (!ok) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "the folder \"%V\" of \"cluster_state_file\" in "
                      "%s:%ui is not writable by nginx's workers (user "
                      "\"%s\"); make it theirs, such as with \"install -d "
                      "-o %s %V\", in folders they may pass",
                      &folder, cmcf->state_conf, cmcf->state_line,
                      ccf->username ? ccf->username : "(this one)",
                      ccf->username ? ccf->username : "USER", &folder);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Whether a user of these groups has the "user" bits (S_IWUSR, S_IXUSR)
 * of a file by its mode: as its owner, one of its group, or another.
 */
static ngx_uint_t
ngx_http_cluster_state_may(ngx_file_info_t *fi, ngx_uid_t user,
    gid_t *groups, int n, mode_t bits)
{
    int  i;

    if (fi->st_uid == user) {
        return (fi->st_mode & bits) == bits;
    }

    for (i = 0; i < n; i++) {
        if (groups[i] == fi->st_gid) {
            return (fi->st_mode & (bits >> 3)) == (bits >> 3);
        }
    }

    return (fi->st_mode & (bits >> 6)) == (bits >> 6);
}


void
ngx_http_cluster_state_load(ngx_http_cluster_main_conf_t *cmcf,
    ngx_shm_zone_t *shm_zone, ngx_log_t *log)
{
    char                           error[64];
    long                           applied, refused;
    u_char                        *text;
    ssize_t                        n;
    ngx_fd_t                       fd;
    ngx_file_t                     file;
    ngx_file_info_t                fi;
    cluster_state_reader_t         reader;
    ngx_http_cluster_state_ctx_t   ctx;

    /*
     * The master reads it, as root, from a folder the workers may write:
     * a link put there is not followed, and a file that neither root nor
     * the workers' user owns is not believed.
     */

    fd = open((char *) cmcf->state_file.data,
              O_RDONLY|O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno == NGX_ELOOP) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "cluster state file \"%V\" ignored: it is a "
                          "symbolic link", &cmcf->state_file);
            return;
        }

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

    if (ngx_http_cluster_state_owner(cmcf->cycle, &fi) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cluster state file \"%V\" ignored: owned by "
                      "neither root nor the workers' user, writable by "
                      "others, or a hard link", &cmcf->state_file);
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

    reader.node = ngx_http_cluster_state_apply;
    reader.action = ngx_http_cluster_state_action;
    reader.ctx = &ctx;

    applied = cluster_state_read((char *) text, (size_t) n,
                                 ngx_http_cluster_now(), &reader, &refused,
                                 error, sizeof(error));
    ngx_free(text);

    if (applied < 0) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cluster state file \"%V\" ignored: %s",
                      &cmcf->state_file, error);
        return;
    }

    if (refused) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cluster state file \"%V\": %l entries ignored, "
                      "with a value out of range", &cmcf->state_file,
                      refused);
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "cluster state of %l nodes restored from \"%V\"",
                  applied, &cmcf->state_file);
}


/*
 * A file as the writer leaves it: one link, writable by its owner alone,
 * who is root or the workers' user (or, not as root, we).
 */
static ngx_int_t
ngx_http_cluster_state_owner(ngx_cycle_t *cycle, ngx_file_info_t *fi)
{
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    /* the writer makes it anew, alone, mode 0644: never another way */

    if (fi->st_nlink > 1 || (fi->st_mode & (S_IWGRP|S_IWOTH))) {
        return NGX_DECLINED;
    }

    if (fi->st_uid == 0 || fi->st_uid == geteuid()
        || (ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
            && fi->st_uid == ccf->user))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the cluster of this zone that the file names */
static ngx_http_cluster_srv_conf_t *
ngx_http_cluster_state_cluster(ngx_http_cluster_state_ctx_t *ctx,
    const char *name)
{
    size_t                         len;
    ngx_uint_t                     i;
    ngx_http_cluster_srv_conf_t  **cscfp, *cscf;

    len = ngx_strlen(name);
    cscfp = ctx->cmcf->clusters.elts;

    for (i = 0; i < ctx->cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];

        if (cscf->shm_zone == ctx->shm_zone && cscf->shared
            && cscf->upstream->host.len == len
            && ngx_strncmp(cscf->upstream->host.data, name, len) == 0)
        {
            return cscf;
        }
    }

    return NULL;
}


/*
 * A node of the file: restored if this zone has it, by identity.  The
 * master calls it as it makes the zone, before any worker runs: no lock.
 */
static int
ngx_http_cluster_state_apply(void *data, const char *cluster, const char *id,
    const char *fingerprint, const cluster_node_t *saved)
{
    size_t                        len;
    ngx_uint_t                    j;
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = ngx_http_cluster_state_cluster(data, cluster);

    if (cscf == NULL) {
        return 0;
    }

    len = ngx_strlen(id);

    for (j = 0; j < cscf->nmembers; j++) {
        if (cscf->cluster.nodes[j]
            && cscf->members[j].id->len == len
            && ngx_strncmp(cscf->members[j].id->data, id, len) == 0)
        {
            cluster_state_restore(cscf->cluster.nodes[j], saved,
                                  ngx_strcmp(fingerprint,
                                             ngx_http_cluster_key_used(cscf))
                                  == 0);
            return 1;
        }
    }

    return 0;
}


/* an action of the file, into the cluster's ring of the last ones */
static void
ngx_http_cluster_state_action(void *data, const char *cluster,
    const cluster_action_t *action)
{
    ngx_http_cluster_srv_conf_t  *cscf;

    cscf = ngx_http_cluster_state_cluster(data, cluster);

    if (cscf) {
        cluster_restore_action(&cscf->cluster, action);
    }
}


void
ngx_http_cluster_state_save(ngx_http_cluster_main_conf_t *cmcf,
    ngx_log_t *log)
{
    u_char                        *p;
    size_t                         size, need, n, m, base;
    int64_t                        now;
    ngx_fd_t                       fd;
    ngx_str_t                      tmp;
    ngx_uint_t                     i, j, k;
    cluster_node_t                *facts;
    cluster_action_t              *acts;
    cluster_state_entry_t         *entries;
    cluster_state_action_t        *actions;
    ngx_http_cluster_srv_conf_t  **cscfp, *cscf;

    n = 0;
    cscfp = cmcf->clusters.elts;

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        n += cscfp[i]->nmembers;
    }

    m = cmcf->clusters.nelts * CLUSTER_ACTIONS_MAX;

    entries = ngx_alloc((n + 1) * (sizeof(cluster_state_entry_t)
                                   + sizeof(cluster_node_t))
                        + (m + 1) * (sizeof(cluster_state_action_t)
                                     + sizeof(cluster_action_t)), log);
    if (entries == NULL) {
        return;
    }

    facts = (cluster_node_t *) (entries + n + 1);
    actions = (cluster_state_action_t *) (facts + n + 1);
    acts = (cluster_action_t *) (actions + m + 1);
    n = 0;
    m = 0;
    base = 0;

    /* a copy of each cluster, written out after */

    for (i = 0; i < cmcf->clusters.nelts; i++) {
        cscf = cscfp[i];

        if (cscf->shared == NULL) {
            continue;
        }

        k = cluster_save_copy(&cscf->cluster, &facts[base], &acts[m]);

        for (j = 0; j < cscf->nmembers; j++) {
            if (cscf->cluster.nodes[j] == NULL) {
                continue;
            }

            entries[n].cluster = (const char *) cscf->upstream->host.data;
            entries[n].cluster_len = cscf->upstream->host.len;
            entries[n].id = (const char *) cscf->members[j].id->data;
            entries[n].id_len = cscf->members[j].id->len;
            entries[n].key_fingerprint = ngx_http_cluster_key_used(cscf);
            entries[n].facts = &facts[base + j];
            n++;
        }

        base += cscf->nmembers;

        for (j = 0; j < k; j++) {
            actions[m].cluster = (const char *) cscf->upstream->host.data;
            actions[m].cluster_len = cscf->upstream->host.len;
            actions[m].action = &acts[m];
            m++;
        }
    }

    now = ngx_http_cluster_now();
    size = cluster_state_write(NULL, 0, entries, n, actions, m, now);

    p = ngx_alloc(size + cmcf->state_file.len + sizeof(".tmp.") + NGX_INT_T_LEN,
                  log);
    if (p == NULL) {
        ngx_free(entries);
        return;
    }

    need = cluster_state_write((char *) p, size, entries, n, actions, m, now);
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
