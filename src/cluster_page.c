/*
 * ngx_cluster_module: the HTML page and the Prometheus text.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cluster_db.h"
#include "cluster_json.h"
#include "cluster_page.h"


static void cluster_page_escape(cluster_buf_t *b, const char *s, size_t len,
    int prometheus);
static void cluster_page_text(cluster_buf_t *b, const char *s);
static void cluster_page_age(cluster_buf_t *b, int64_t since, int64_t now);
static void cluster_page_duration(cluster_buf_t *b, int64_t ms);
static void cluster_page_cluster(cluster_buf_t *b,
    const cluster_status_cluster_t *c, int64_t now,
    const cluster_page_conf_t *conf);
static void cluster_page_node(cluster_buf_t *b,
    const cluster_status_cluster_t *c, const cluster_status_node_t *node,
    int64_t now, const cluster_page_conf_t *conf);
static void cluster_page_button(cluster_buf_t *b,
    const cluster_status_cluster_t *c, const cluster_status_node_t *node,
    const char *action, const char *label);
static void cluster_page_actions(cluster_buf_t *b,
    const cluster_status_cluster_t *c, int64_t now,
    const cluster_page_conf_t *conf);
static void cluster_page_findings(cluster_buf_t *b, uint32_t findings);
static void cluster_page_others(cluster_buf_t *b,
    const cluster_status_cluster_t *c, int64_t now);
static void cluster_page_history(cluster_buf_t *b,
    const cluster_status_cluster_t *c, int64_t now);
static const char *cluster_page_node_name(const cluster_status_node_t *node,
    size_t *len);
static void cluster_page_labels(cluster_buf_t *b,
    const cluster_status_cluster_t *c, const cluster_status_node_t *node);


static const char  cluster_page_style[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "margin:0;background:#f4f5f7;color:#1d2430}"
    "header{background:#243447;color:#fff;padding:12px 20px}"
    "header h1{margin:0;font-size:20px}"
    "header p{margin:4px 0 0;font-size:12px;color:#c9d3df}"
    "header a{color:#9fd0ff}"
    "button{font:inherit;font-size:12px;margin-left:6px}"
    "main{padding:12px 20px}"
    "section{margin-bottom:24px}"
    "h2{font-size:18px;margin:8px 0}"
    "h3{font-size:14px;margin:0 0 8px;text-transform:uppercase;"
    "letter-spacing:.04em;color:#52606d}"
    ".pane{background:#fff;border:1px solid #d9dde3;border-radius:6px;"
    "padding:12px;margin-bottom:12px}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;"
    "margin:0}"
    "dt{color:#52606d}dd{margin:0}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;min-width:900px}"
    "th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e6e9ee;"
    "vertical-align:top}"
    "th{font-size:12px;color:#52606d;white-space:nowrap}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".ok{color:#1a7f37}.warn{color:#9a6700}.err{color:#cf222e}"
    ".muted{color:#8792a2}"
    "tr.hints td{border-bottom:1px solid #d9dde3;padding-top:0;"
    "white-space:normal}"
    "tr.hints ul{margin:0;padding-left:20px}"
    "tr.hints li{margin:2px 0}"
    ".panic{background:#ffebe9;border:1px solid #cf222e;color:#82071e;"
    "padding:8px 12px;border-radius:6px;margin-bottom:12px}"
    "small{display:block;color:#8792a2}"
    "td:first-child,td.n,td.t,td:last-child{white-space:nowrap}"
    "button.act{margin:0 4px 4px 0}"
    "#token{font-size:12px;width:10em}";


static const char  cluster_page_script[] =
    "(function(){"
    "var b=document.getElementById('pause'),"
    "s=document.body.getAttribute('data-refresh')|0,t=null;"
    "function paused(){return localStorage.getItem('clusterPaused')==='1';}"
    "function arm(){if(t){clearTimeout(t);t=null;}"
    "if(s>0&&!paused()){t=setTimeout(function(){location.reload();},s*1000);}"
    "b.textContent=paused()?'Resume':'Pause';}"
    "b.addEventListener('click',function(){"
    "localStorage.setItem('clusterPaused',paused()?'0':'1');arm();});"
    "arm();"
    "var k=document.getElementById('token');"
    "if(k){k.value=sessionStorage.getItem('clusterToken')||'';"
    "k.addEventListener('change',function(){"
    "sessionStorage.setItem('clusterToken',k.value);});}"
    "var base=document.body.getAttribute('data-base');"
    "document.querySelectorAll('button.act').forEach(function(x){"
    "x.addEventListener('click',function(){"
    "var h={},t=k&&k.value;if(t){h.Authorization='Bearer '+t;}"
    "fetch(base+'/nodes/'+encodeURIComponent(x.getAttribute('data-node'))"
    "+'/'+x.getAttribute('data-action')+'?cluster='"
    "+encodeURIComponent(x.getAttribute('data-cluster')),"
    "{method:'POST',headers:h,credentials:'same-origin'})"
    ".then(function(r){if(!r.ok){alert('The action was refused: '+r.status);}"
    "location.reload();});});});"
    "})();";


size_t
cluster_page_html(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version, const cluster_page_conf_t *conf)
{
    size_t         i;
    cluster_buf_t  b;

    cluster_buf_init(&b, buf, size);

    cluster_buf_cstr(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                         "<meta charset=\"utf-8\">"
                         "<meta name=\"viewport\" content=\"width=device-width,"
                         " initial-scale=1\">"
                         "<title>Cluster Overview</title><style>");
    cluster_buf_cstr(&b, cluster_page_style);
    cluster_buf_cstr(&b, "</style></head>\n<body data-refresh=\"");
    cluster_buf_uint(&b, conf->refresh);
    cluster_buf_cstr(&b, "\" data-base=\"");
    cluster_page_escape(&b, conf->base, conf->base_len, 0);
    cluster_buf_cstr(&b, "\"><header><h1>Cluster Overview</h1><p>"
                         "nginx cluster module ");
    cluster_page_text(&b, version);
    cluster_buf_cstr(&b, " &middot; generated ");
    cluster_buf_time(&b, now);

    if (conf->refresh) {
        cluster_buf_cstr(&b, " &middot; refreshes every ");
        cluster_buf_uint(&b, conf->refresh);
        cluster_buf_cstr(&b, " s");
    }

    cluster_buf_cstr(&b, "<button id=\"pause\" type=\"button\">Pause</button>"
                         " &middot; <a href=\"?format=json\">JSON</a>"
                         " &middot; <a href=\"?format=prometheus\">"
                         "Prometheus</a>");

    if (conf->admin) {
        cluster_buf_cstr(&b, " &middot; <label>admin token <input id=\"token\""
                             " type=\"password\" autocomplete=\"off\">"
                             "</label>");
    }

    if (conf->db) {
        cluster_buf_cstr(&b, " &middot; shared database: ");
        cluster_page_text(&b, cluster_db_status_name(conf->db->status));
        cluster_buf_cstr(&b, ", as ");
        cluster_page_text(&b, conf->db->instance);
    }

    cluster_buf_cstr(&b, "</p></header>\n<main>");

    if (conf->db && conf->db->status == CLUSTER_DB_UNREACHABLE) {
        cluster_buf_cstr(&b, "<div class=\"panic\"><strong>The shared "
                             "database is unreachable</strong> since ");
        cluster_page_age(&b, conf->db->since, now);
        cluster_buf_cstr(&b, ": ");
        cluster_page_text(&b, conf->db->last_error);
        cluster_buf_cstr(&b, ". Traffic is not affected; ");
        cluster_buf_uint(&b, conf->db->queued);
        cluster_buf_cstr(&b, " actions wait for it.</div>");
    }

    if (n == 0) {
        cluster_buf_cstr(&b, "<p>No upstream has a cluster.</p>");
    }

    for (i = 0; i < n; i++) {
        cluster_page_cluster(&b, &clusters[i], now, conf);
    }

    cluster_buf_cstr(&b, "</main>\n<script>");
    cluster_buf_cstr(&b, cluster_page_script);
    cluster_buf_cstr(&b, "</script></body></html>\n");

    return b.need;
}


static void
cluster_page_cluster(cluster_buf_t *b, const cluster_status_cluster_t *c,
    int64_t now, const cluster_page_conf_t *conf)
{
    size_t                     i, in;
    const cluster_settings_t  *s;

    s = &c->settings;

    in = 0;
    for (i = 0; i < c->n; i++) {
        in += cluster_status_node_in_rotation(c, &c->nodes[i]);
    }

    cluster_buf_cstr(b, "<section><h2>");
    cluster_page_escape(b, c->name, c->name_len, 0);
    cluster_buf_cstr(b, "</h2>");

    if (c->panic) {
        cluster_buf_cstr(b, "<div class=\"panic\"><strong>Panic:</strong> "
                            "no node is in rotation, so every node not "
                            "removed or drained takes traffic.</div>");
    }

    cluster_buf_cstr(b, "<div class=\"pane\"><h3>Cluster Configuration</h3>"
                        "<dl><dt>Servers</dt><dd>");
    cluster_buf_uint(b, c->n);
    cluster_buf_cstr(b, ", ");
    cluster_buf_uint(b, in);
    cluster_buf_cstr(b, " in rotation</dd><dt>Load balancing</dt>"
                        "<dd>Enabled</dd><dt>Automatic failover</dt><dd>");
    cluster_buf_cstr(b, s->eject ? "Enabled" : "Disabled");
    cluster_buf_cstr(b, "</dd><dt>Heartbeat interval</dt><dd>");
    cluster_page_duration(b, s->interval);
    cluster_buf_cstr(b, "</dd><dt>Stale timeout</dt><dd>");
    cluster_page_duration(b, s->stale);
    cluster_buf_cstr(b, "</dd><dt>Health checks</dt><dd>");

    if (s->checks) {
        cluster_buf_cstr(b, "Active, rise ");
        cluster_buf_uint(b, s->rise);
        cluster_buf_cstr(b, ", fall ");
        cluster_buf_uint(b, s->fall);
        cluster_buf_cstr(b, s->mandatory ? ", mandatory" : "");

        if (c->messenger_port) {
            cluster_buf_cstr(b, ", messenger port ");
            cluster_buf_uint(b, c->messenger_port);
        }

    } else {
        cluster_buf_cstr(b, "Passive only (from requests), rise ");
        cluster_buf_uint(b, s->rise);
        cluster_buf_cstr(b, ", fall ");
        cluster_buf_uint(b, s->fall);
    }

    cluster_buf_cstr(b, "</dd><dt>Ejected when</dt><dd>");
    cluster_page_findings(b, s->eject);
    cluster_buf_cstr(b, "</dd><dt>Encryption key</dt><dd>");

    if (c->key_fingerprint) {
        cluster_buf_cstr(b, "fingerprint ");
        cluster_page_text(b, c->key_fingerprint);

    } else {
        cluster_buf_cstr(b, "not configured");
    }

    cluster_buf_cstr(b, "</dd><dt>Key checks</dt><dd>");

    if (c->crypto_check || c->cross_check) {
        cluster_buf_cstr(b, c->crypto_check ? "cookies opened" : "");
        cluster_buf_cstr(b, c->crypto_check && c->cross_check ? ", " : "");
        cluster_buf_cstr(b, c->cross_check ? "sessions between nodes" : "");

    } else {
        cluster_buf_cstr(b, "off");
    }

    cluster_buf_cstr(b, "</dd><dt>Cluster release</dt><dd>");
    cluster_page_text(b, c->release[0] ? c->release : "unknown");
    cluster_buf_cstr(b, "</dd><dt>Panic</dt><dd>");
    cluster_buf_cstr(b, c->panic ? "<span class=\"err\">Yes</span>" : "No");
    cluster_buf_cstr(b, "</dd></dl></div>");

    cluster_buf_cstr(b, "<div class=\"pane\"><h3>Servers in Cluster</h3>"
                        "<div class=\"scroll\"><table><thead><tr>"
                        "<th>Name</th><th>Address</th><th>Web</th>"
                        "<th>Service</th><th>Version</th>"
                        "<th>Encryption key</th><th>State</th>"
                        "<th>In rotation</th><th>Requests</th>"
                        "<th>Failures</th><th>Response</th><th>Since</th>");
    cluster_buf_cstr(b, conf->admin ? "<th>Actions</th>" : "");
    cluster_buf_cstr(b, "</tr></thead><tbody>");

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i].facts.admin != CLUSTER_ADMIN_REMOVE) {
            cluster_page_node(b, c, &c->nodes[i], now, conf);
        }
    }

    cluster_buf_cstr(b, "</tbody></table></div></div>");

    cluster_page_actions(b, c, now, conf);
    cluster_page_others(b, c, now);
    cluster_page_history(b, c, now);

    cluster_buf_cstr(b, "</section>\n");
}


/*
 * The other load balancers of the cluster (cluster_database), and the
 * nodes they route to otherwise than this one: "down from lb2 only"
 */
static void
cluster_page_others(cluster_buf_t *b, const cluster_status_cluster_t *c,
    int64_t now)
{
    size_t                        i, j, len;
    const char                   *name;
    const cluster_status_node_t  *node;
    const cluster_status_view_t  *v;

    if (c->ninstances == 0) {
        return;
    }

    cluster_buf_cstr(b, "<div class=\"pane\"><h3>Load Balancers</h3><ul>");

    for (i = 0; i < c->ninstances; i++) {
        cluster_buf_cstr(b, "<li><strong>");
        cluster_page_text(b, c->instances[i].instance);
        cluster_buf_cstr(b, "</strong> ");
        cluster_page_text(b, c->instances[i].host);

        if (c->instances[i].self) {
            cluster_buf_cstr(b, " (this one)");

        } else {
            cluster_buf_cstr(b, c->instances[i].alive
                                ? ", seen " : ", <span class=\"err\">"
                                              "not seen</span> since ");
            cluster_page_age(b, c->instances[i].last_seen, now);
        }

        cluster_buf_cstr(b, "</li>");
    }

    for (i = 0; i < c->n; i++) {
        node = &c->nodes[i];

        for (j = 0; j < node->nviews; j++) {
            v = &node->views[j];

            if (!node->tracked || v->in_rotation == node->facts.in_rotation) {
                continue;
            }

            name = cluster_page_node_name(node, &len);

            cluster_buf_cstr(b, "<li class=\"warn\"><strong>");
            cluster_page_escape(b, name, len, 0);
            cluster_buf_cstr(b, "</strong> is ");
            cluster_page_text(b, cluster_state_name((cluster_state_e)
                                                    v->state));
            cluster_buf_cstr(b, v->in_rotation ? ", in rotation"
                                               : ", out of rotation");
            cluster_buf_cstr(b, " from ");
            cluster_page_text(b, v->instance);
            cluster_buf_cstr(b, ", ");
            cluster_page_text(b, cluster_state_name((cluster_state_e)
                                                    node->facts.state));
            cluster_buf_cstr(b, " from this one</li>");
        }
    }

    cluster_buf_cstr(b, "</ul></div>");
}


/* the cluster's recent events, newest first */
static void
cluster_page_history(cluster_buf_t *b, const cluster_status_cluster_t *c,
    int64_t now)
{
    size_t                    i;
    const cluster_history_t  *h;

    static const char  *admin[] = { "restored", "drained", "removed" };

    if (c->nhistory == 0) {
        return;
    }

    cluster_buf_cstr(b, "<div class=\"pane\"><h3>Recent Events</h3><ul>");

    for (i = 0; i < c->nhistory && i < 12; i++) {
        h = &c->history[i];

        cluster_buf_cstr(b, "<li>");
        cluster_buf_time(b, h->at);
        cluster_buf_cstr(b, " (");
        cluster_page_age(b, h->at, now);
        cluster_buf_cstr(b, "): ");

        switch (h->kind) {

        case CLUSTER_HISTORY_ADMIN:
            cluster_buf_cstr(b, "<strong>");
            cluster_page_text(b, h->node);
            cluster_buf_cstr(b, "</strong> ");
            cluster_buf_cstr(b, h->to <= CLUSTER_ADMIN_REMOVE
                                ? admin[h->to] : "changed");
            cluster_buf_cstr(b, " by ");
            cluster_page_text(b, h->by);
            break;

        case CLUSTER_HISTORY_PANIC:
            cluster_buf_cstr(b, h->to ? "<span class=\"err\">panic</span>"
                                      : "out of panic");
            break;

        default: /* CLUSTER_HISTORY_STATE */
            cluster_buf_cstr(b, "<strong>");
            cluster_page_text(b, h->node);
            cluster_buf_cstr(b, "</strong> ");
            cluster_page_text(b, cluster_state_name((cluster_state_e) h->to));
            cluster_buf_cstr(b, h->in_rotation ? ", in rotation"
                                               : ", out of rotation");
            cluster_buf_cstr(b, ", was ");
            cluster_page_text(b, cluster_state_name((cluster_state_e)
                                                    h->from));

            if (h->findings & ~CLUSTER_FINDING_UNCHECKED) {
                cluster_buf_cstr(b, "; ");
                cluster_page_findings(b, h->findings
                                         & ~CLUSTER_FINDING_UNCHECKED);
            }

            if (h->reason[0]) {
                cluster_buf_cstr(b, ": ");
                cluster_page_text(b, h->reason);
            }
        }

        cluster_buf_cstr(b, "</li>");
    }

    cluster_buf_cstr(b, "</ul></div>");
}


/* the removed nodes, and the last actions on the cluster's nodes */
static void
cluster_page_actions(cluster_buf_t *b, const cluster_status_cluster_t *c,
    int64_t now, const cluster_page_conf_t *conf)
{
    size_t       i, len, removed;
    const char  *name;

    removed = 0;

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i].facts.admin != CLUSTER_ADMIN_REMOVE) {
            continue;
        }

        if (removed++ == 0) {
            cluster_buf_cstr(b, "<div class=\"pane\"><h3>Removed from the "
                                "Cluster</h3><ul>");
        }

        name = cluster_page_node_name(&c->nodes[i], &len);

        cluster_buf_cstr(b, "<li><strong>");
        cluster_page_escape(b, name, len, 0);
        cluster_buf_cstr(b, "</strong> ");
        cluster_page_escape(b, c->nodes[i].id, c->nodes[i].id_len, 0);
        cluster_buf_cstr(b, " ");

        if (conf->admin) {
            cluster_page_button(b, c, &c->nodes[i], "restore", "Restore");
        }

        cluster_buf_cstr(b, "</li>");
    }

    if (removed) {
        cluster_buf_cstr(b, "</ul></div>");
    }

    if (c->nactions == 0) {
        return;
    }

    cluster_buf_cstr(b, "<div class=\"pane\"><h3>Last Actions</h3><ul>");

    for (i = 0; i < c->nactions; i++) {
        cluster_buf_cstr(b, "<li>");
        cluster_page_age(b, c->actions[i].at, now);
        cluster_buf_cstr(b, ": <strong>");
        cluster_buf_cstr(b, cluster_action_name(c->actions[i].admin));
        cluster_buf_cstr(b, "</strong> ");
        cluster_page_text(b, c->actions[i].node);
        cluster_buf_cstr(b, " by ");
        cluster_page_text(b, c->actions[i].by);
        cluster_buf_cstr(b, "</li>");
    }

    cluster_buf_cstr(b, "</ul></div>");
}


static void
cluster_page_button(cluster_buf_t *b, const cluster_status_cluster_t *c,
    const cluster_status_node_t *node, const char *action, const char *label)
{
    cluster_buf_cstr(b, "<button class=\"act\" type=\"button\" "
                        "data-cluster=\"");
    cluster_page_escape(b, c->name, c->name_len, 0);
    cluster_buf_cstr(b, "\" data-node=\"");
    cluster_page_escape(b, node->id, node->id_len, 0);
    cluster_buf_cstr(b, "\" data-action=\"");
    cluster_buf_cstr(b, action);
    cluster_buf_cstr(b, "\">");
    cluster_buf_cstr(b, label);
    cluster_buf_cstr(b, "</button>");
}


static void
cluster_page_node(cluster_buf_t *b, const cluster_status_cluster_t *c,
    const cluster_status_node_t *node, int64_t now,
    const cluster_page_conf_t *conf)
{
    char                   hints[CLUSTER_HINTS_MAX][CLUSTER_HINT_SIZE];
    size_t                 i, n, len;
    uint32_t               out;
    const char            *name, *web, *service, *mark, *evidence;
    cluster_key_e          key;
    const cluster_node_t  *f;

    f = &node->facts;
    out = f->findings & cluster_settings_out(&c->settings);

    if (!cluster_status_node_in_rotation(c, node)) {
        mark = "<span class=\"err\" title=\"error\">&#10006;</span> ";

    } else if (f->findings || c->panic) {
        mark = "<span class=\"warn\" title=\"warning\">&#9888;</span> ";

    } else {
        mark = "<span class=\"ok\" title=\"ok\">&#10004;</span> ";
    }

    name = cluster_page_node_name(node, &len);

    cluster_buf_cstr(b, "<tr><td>");
    cluster_buf_cstr(b, mark);
    cluster_buf_cstr(b, "<strong>");
    cluster_page_escape(b, name, len, 0);
    cluster_buf_cstr(b, "</strong>");

    if (f->health.application[0]) {
        cluster_buf_cstr(b, "<small>");
        cluster_page_text(b, f->health.application);
        cluster_buf_cstr(b, "</small>");
    }

    cluster_buf_cstr(b, node->backup ? "<small>backup</small>" : "");
    cluster_buf_cstr(b, "</td><td>");
    cluster_page_escape(b, node->id, node->id_len, 0);

    /* Web */

    web = cluster_status_web(node);

    cluster_buf_cstr(b, "</td><td><span class=\"");
    cluster_buf_cstr(b, strcmp(web, "ok") == 0 ? "ok"
                        : strcmp(web, "unknown") == 0 ? "muted"
                        : strcmp(web, "stale") == 0
                          || strcmp(web, "warning") == 0 ? "warn" : "err");
    cluster_buf_cstr(b, "\">");
    cluster_buf_cstr(b, web);
    cluster_buf_cstr(b, "</span><small>");
    cluster_page_age(b, f->last_heartbeat, now);
    cluster_buf_cstr(b, "</small>");

    if (strcmp(web, "warning") == 0) {
        /* down after "fall" failures in a row: how near it is */
        cluster_buf_cstr(b, "<small>");
        cluster_buf_uint(b, cluster_node_failing(f));
        cluster_buf_cstr(b, " of ");
        cluster_buf_uint(b, c->settings.fall);
        cluster_buf_cstr(b, " failed in a row</small>");
    }

    if (f->check_reason[0]) {
        cluster_buf_cstr(b, "<small>");
        cluster_page_text(b, f->check_reason);
        cluster_buf_cstr(b, "</small>");
    }

    /* Service */

    service = cluster_status_service_name(node);

    cluster_buf_cstr(b, "</td><td><span class=\"");
    cluster_buf_cstr(b, strcmp(service, "ok") == 0 ? "ok"
                        : strcmp(service, "unknown") == 0 ? "muted"
                        : strcmp(service, "warning") == 0 ? "warn" : "err");
    cluster_buf_cstr(b, "\">");
    cluster_buf_cstr(b, service);
    cluster_buf_cstr(b, "</span>");

    if (f->messenger == CLUSTER_MESSENGER_OK) {
        cluster_buf_cstr(b, "<small>messenger ok</small>");

    } else if (f->messenger == CLUSTER_MESSENGER_UNREACHABLE) {
        cluster_buf_cstr(b, "<small class=\"err\">messenger unreachable"
                            "</small>");
    }

    if (f->service_heartbeat) {
        cluster_buf_cstr(b, "<small>");
        cluster_page_age(b, f->service_heartbeat, now);
        cluster_buf_cstr(b, "</small>");
    }

    /* Version */

    cluster_buf_cstr(b, "</td><td>");

    if (f->health.release[0]) {
        cluster_page_text(b, f->health.release);

        if (f->version_skew) {
            cluster_buf_cstr(b, " <span class=\"warn\">&#9888; not in sync"
                                "</span>");

        } else if (c->release[0]) {
            cluster_buf_cstr(b, " <span class=\"ok\">&#10004;</span>");
        }

        if (f->health.version[0]) {
            cluster_buf_cstr(b, "<small>");
            cluster_page_text(b, f->health.version);
            cluster_buf_cstr(b, "</small>");
        }

    } else {
        cluster_buf_cstr(b, "<span class=\"muted\">unknown</span>");
    }

    /* Encryption key */

    cluster_buf_cstr(b, "</td><td>");

    key = cluster_node_key(f, &evidence);

    if (key == CLUSTER_KEY_MISMATCH) {
        cluster_buf_cstr(b, "<span class=\"err\">&#10006; not in sync</span>");

    } else if (key == CLUSTER_KEY_IN_SYNC) {
        cluster_buf_cstr(b, "<span class=\"ok\">&#10004; in sync</span>");

    } else {
        cluster_buf_cstr(b, "<span class=\"muted\">unknown</span>");
    }

    if (evidence) {
        cluster_buf_cstr(b, strcmp(evidence, "crypto") == 0
                            ? "<small>by its cookies</small>"
                            : "<small>by other nodes' sessions</small>");
    }

    if (f->lost_sessions) {
        cluster_buf_cstr(b, "<small>");
        cluster_buf_uint(b, f->lost_sessions);
        cluster_buf_cstr(b, " sessions lost</small>");
    }

    cluster_buf_cstr(b, "</td><td>");
    cluster_page_text(b, node->tracked ? cluster_state_name(f->state)
                                       : "untracked");
    cluster_buf_cstr(b, "</td><td>");

    if (cluster_status_node_in_rotation(c, node)) {
        cluster_buf_cstr(b, out ? "<span class=\"warn\">yes, in panic</span>"
                                : "<span class=\"ok\">yes</span>");

    } else {
        cluster_buf_cstr(b, "<span class=\"err\">no</span><small>");
        cluster_page_findings(b, out);
        cluster_buf_cstr(b, "</small>");
    }

    cluster_buf_cstr(b, "</td><td class=\"n\">");
    cluster_buf_uint(b, f->requests);
    cluster_buf_cstr(b, "</td><td class=\"n\">");
    cluster_buf_uint(b, f->failures);
    cluster_buf_cstr(b, "</td><td class=\"n\">");

    if (f->requests) {
        cluster_buf_uint(b, f->last_response_ms);
        cluster_buf_cstr(b, " ms");

    } else {
        cluster_buf_cstr(b, "&ndash;");
    }

    cluster_buf_cstr(b, "</td><td class=\"t\">");
    cluster_page_age(b, node->tracked ? f->state_since : 0, now);
    cluster_buf_cstr(b, "</td>");

    if (conf->admin) {
        cluster_buf_cstr(b, "<td>");

        if (node->tracked && f->admin == CLUSTER_ADMIN_NONE) {
            cluster_page_button(b, c, node, "drain", "Drain");
            cluster_page_button(b, c, node, "remove", "Remove");

        } else if (node->tracked) {
            cluster_page_button(b, c, node, "restore", "Restore");
        }

        cluster_buf_cstr(b, "</td>");
    }

    cluster_buf_cstr(b, "</tr>");

    n = cluster_status_hints(c, node, now, hints, CLUSTER_HINTS_MAX);

    if (n == 0) {
        return;
    }

    cluster_buf_cstr(b, conf->admin ? "<tr class=\"hints\"><td colspan=\"13\">"
                                      "<ul>"
                                    : "<tr class=\"hints\"><td colspan=\"12\">"
                                      "<ul>");

    for (i = 0; i < n; i++) {
        cluster_buf_cstr(b, "<li class=\"warn\">");
        cluster_page_text(b, hints[i]);
        cluster_buf_cstr(b, "</li>");
    }

    cluster_buf_cstr(b, "</ul></td></tr>");
}


static const char *
cluster_page_node_name(const cluster_status_node_t *node, size_t *len)
{
    if (node->facts.health.instance[0]) {
        *len = strlen(node->facts.health.instance);
        return node->facts.health.instance;
    }

    *len = node->name_len;
    return node->name;
}


static void
cluster_page_findings(cluster_buf_t *b, uint32_t findings)
{
    uint32_t     bit;
    const char  *name, *sep;

    sep = "";

    for (bit = 1; bit != 0 && bit <= findings; bit <<= 1) {
        name = (findings & bit) ? cluster_finding_name(bit) : NULL;

        if (name) {
            cluster_buf_cstr(b, sep);
            cluster_buf_cstr(b, name);
            sep = ", ";
        }
    }

    if (*sep == '\0') {
        cluster_buf_cstr(b, "nothing");
    }
}


static void
cluster_page_text(cluster_buf_t *b, const char *s)
{
    cluster_page_escape(b, s, strlen(s), 0);
}


/*
 * Text for HTML (every character with a meaning in markup as an entity) or
 * for a Prometheus label value (\, " and the line's end escaped); bytes that
 * are not UTF-8 become U+FFFD, control characters a space.
 */
static void
cluster_page_escape(cluster_buf_t *b, const char *s, size_t len,
    int prometheus)
{
    size_t                n;
    const char           *esc;
    const unsigned char  *p, *end, *run;

    p = (const unsigned char *) s;
    end = p + len;
    run = p;

    while (p < end) {
        esc = NULL;
        n = 1;

        if (*p >= 0x80) {
            n = cluster_utf8_length(p, (size_t) (end - p));

            if (n) {
                p += n;
                continue;
            }

            esc = "\xef\xbf\xbd";
            n = 1;

        } else if (prometheus) {
            esc = (*p == '\\') ? "\\\\" : (*p == '"') ? "\\\""
                  : (*p == '\n') ? "\\n" : (*p < 0x20) ? " " : NULL;

        } else {
            esc = (*p == '&') ? "&amp;" : (*p == '<') ? "&lt;"
                  : (*p == '>') ? "&gt;" : (*p == '"') ? "&quot;"
                  : (*p == '\'') ? "&#39;" : (*p < 0x20) ? " " : NULL;
        }

        if (esc == NULL) {
            p++;
            continue;
        }

        cluster_buf_add(b, (const char *) run, (size_t) (p - run));
        cluster_buf_cstr(b, esc);
        p += n;
        run = p;
    }

    cluster_buf_add(b, (const char *) run, (size_t) (p - run));
}


static void
cluster_page_age(cluster_buf_t *b, int64_t since, int64_t now)
{
    if (since == 0) {
        cluster_buf_cstr(b, "never");
        return;
    }

    cluster_page_duration(b, now > since ? now - since : 0);
    cluster_buf_cstr(b, " ago");
}


static void
cluster_page_duration(cluster_buf_t *b, int64_t ms)
{
    int64_t  s;

    s = ms / 1000;

    if (ms < 1000) {
        cluster_buf_int(b, ms);
        cluster_buf_cstr(b, " ms");

    } else if (s < 120) {
        cluster_buf_int(b, s);
        cluster_buf_cstr(b, " s");

    } else if (s < 7200) {
        cluster_buf_int(b, s / 60);
        cluster_buf_cstr(b, " min");

    } else if (s < 172800) {
        cluster_buf_int(b, s / 3600);
        cluster_buf_cstr(b, " h");

    } else {
        cluster_buf_int(b, s / 86400);
        cluster_buf_cstr(b, " days");
    }
}


/* Prometheus: one family after another, every node's sample in each */

typedef enum {
    CLUSTER_METRIC_STATE = 0,
    CLUSTER_METRIC_IN_ROTATION,
    CLUSTER_METRIC_HEARTBEAT_AGE,
    CLUSTER_METRIC_REQUESTS,
    CLUSTER_METRIC_FAILURES,
    CLUSTER_METRIC_CHECKS,
    CLUSTER_METRIC_CHECK_FAILURES,
    CLUSTER_METRIC_SERVICE_UP,
    CLUSTER_METRIC_VERSION_IN_SYNC,
    CLUSTER_METRIC_VERSION_INFO,
    CLUSTER_METRIC_KEY_IN_SYNC,
    CLUSTER_METRIC_LOST_SESSIONS,
    CLUSTER_METRIC_LAST
} cluster_metric_e;


static const struct {
    const char  *name;
    const char  *type;
    const char  *help;
} cluster_metrics[] = {
    { "nginx_cluster_node_state", "gauge",
      "Whether the node is in this state: up, checking, stale, down, "
      "drained or removed." },
    { "nginx_cluster_node_in_rotation", "gauge",
      "Whether the node takes traffic, the panic guard included." },
    { "nginx_cluster_node_heartbeat_age_seconds", "gauge",
      "Seconds since the node last answered a request or a check." },
    { "nginx_cluster_node_requests_total", "counter",
      "Requests proxied to the node." },
    { "nginx_cluster_node_failures_total", "counter",
      "Requests proxied to the node that failed." },
    { "nginx_cluster_node_checks_total", "counter",
      "Active checks of the node." },
    { "nginx_cluster_node_check_failures_total", "counter",
      "Active checks of the node that failed." },
    { "nginx_cluster_node_service_up", "gauge",
      "Whether the node's service component runs, as its checks found." },
    { "nginx_cluster_node_version_in_sync", "gauge",
      "Whether the node runs the cluster's release." },
    { "nginx_cluster_node_version_info", "gauge",
      "The release the node runs, as labels." },
    { "nginx_cluster_node_key_in_sync", "gauge",
      "Whether the node's key is the cluster's, by either key check." },
    { "nginx_cluster_node_lost_sessions_total", "counter",
      "Requests with a valid auth cookie the node answered with a sign-in." }
};


size_t
cluster_page_prometheus(char *buf, size_t size,
    const cluster_status_cluster_t *clusters, size_t n, int64_t now,
    const char *version, const cluster_db_view_t *db)
{
    int                             st;
    size_t                          i, j, in;
    cluster_buf_t                   b;
    const char                     *evidence;
    cluster_metric_e                m;
    const cluster_node_t           *f;
    const cluster_status_node_t    *node;
    const cluster_status_cluster_t *c;

    cluster_buf_init(&b, buf, size);

    cluster_buf_cstr(&b, "# HELP nginx_cluster_module_info The cluster "
                         "module's version.\n"
                         "# TYPE nginx_cluster_module_info gauge\n"
                         "nginx_cluster_module_info{version=\"");
    cluster_page_escape(&b, version, strlen(version), 1);
    cluster_buf_cstr(&b, "\"} 1\n"
                         "# HELP nginx_cluster_panic Whether the cluster's "
                         "panic guard routes to every node.\n"
                         "# TYPE nginx_cluster_panic gauge\n");

    for (i = 0; i < n; i++) {
        cluster_buf_cstr(&b, "nginx_cluster_panic{cluster=\"");
        cluster_page_escape(&b, clusters[i].name, clusters[i].name_len, 1);
        cluster_buf_cstr(&b, clusters[i].panic ? "\"} 1\n" : "\"} 0\n");
    }

    if (db) {
        cluster_buf_cstr(&b, "# HELP nginx_cluster_database_up Whether the "
                             "shared database is connected.\n"
                             "# TYPE nginx_cluster_database_up gauge\n"
                             "nginx_cluster_database_up{instance=\"");
        cluster_page_escape(&b, db->instance, strlen(db->instance), 1);
        cluster_buf_cstr(&b, db->status == CLUSTER_DB_CONNECTED
                             ? "\"} 1\n" : "\"} 0\n");
        cluster_buf_cstr(&b, "# HELP nginx_cluster_database_queued Actions "
                             "waiting for the shared database.\n"
                             "# TYPE nginx_cluster_database_queued gauge\n"
                             "nginx_cluster_database_queued ");
        cluster_buf_uint(&b, db->queued);
        cluster_buf_cstr(&b, "\n# HELP nginx_cluster_node_view_in_rotation "
                             "Whether another load balancer has the node "
                             "in rotation.\n"
                             "# TYPE nginx_cluster_node_view_in_rotation "
                             "gauge\n");

        for (i = 0; i < n; i++) {
            c = &clusters[i];

            for (j = 0; j < c->n; j++) {
                node = &c->nodes[j];

                for (in = 0; in < node->nviews; in++) {
                    cluster_buf_cstr(&b,
                                     "nginx_cluster_node_view_in_rotation");
                    cluster_page_labels(&b, c, node);
                    cluster_buf_cstr(&b, ",instance=\"");
                    cluster_page_escape(&b, node->views[in].instance,
                                        strlen(node->views[in].instance), 1);
                    cluster_buf_cstr(&b, node->views[in].in_rotation
                                         ? "\"} 1\n" : "\"} 0\n");
                }
            }
        }
    }

    cluster_buf_cstr(&b, "# HELP nginx_cluster_nodes_in_rotation Nodes that "
                         "take traffic.\n"
                         "# TYPE nginx_cluster_nodes_in_rotation gauge\n");

    for (i = 0; i < n; i++) {
        in = 0;
        for (j = 0; j < clusters[i].n; j++) {
            in += cluster_status_node_in_rotation(&clusters[i],
                                                  &clusters[i].nodes[j]);
        }

        cluster_buf_cstr(&b, "nginx_cluster_nodes_in_rotation{cluster=\"");
        cluster_page_escape(&b, clusters[i].name, clusters[i].name_len, 1);
        cluster_buf_cstr(&b, "\"} ");
        cluster_buf_uint(&b, in);
        cluster_buf_cstr(&b, "\n");
    }

    for (m = 0; m < CLUSTER_METRIC_LAST; m++) {
        cluster_buf_cstr(&b, "# HELP ");
        cluster_buf_cstr(&b, cluster_metrics[m].name);
        cluster_buf_cstr(&b, " ");
        cluster_buf_cstr(&b, cluster_metrics[m].help);
        cluster_buf_cstr(&b, "\n# TYPE ");
        cluster_buf_cstr(&b, cluster_metrics[m].name);
        cluster_buf_cstr(&b, " ");
        cluster_buf_cstr(&b, cluster_metrics[m].type);
        cluster_buf_cstr(&b, "\n");

        for (i = 0; i < n; i++) {
            c = &clusters[i];

            for (j = 0; j < c->n; j++) {
                node = &c->nodes[j];
                f = &node->facts;

                if (!node->tracked) {
                    continue;
                }

                switch (m) {

                case CLUSTER_METRIC_STATE:
                    for (st = CLUSTER_STATE_UP; st <= CLUSTER_STATE_REMOVED;
                         st++)
                    {
                        cluster_buf_cstr(&b, cluster_metrics[m].name);
                        cluster_page_labels(&b, c, node);
                        cluster_buf_cstr(&b, ",state=\"");
                        cluster_buf_cstr(&b, cluster_state_name(st));
                        cluster_buf_cstr(&b, f->state == st ? "\"} 1\n"
                                                            : "\"} 0\n");
                    }

                    continue;

                case CLUSTER_METRIC_HEARTBEAT_AGE:
                    if (f->last_heartbeat == 0) {
                        continue;
                    }

                    break;

                case CLUSTER_METRIC_SERVICE_UP:
                    if (f->health.service == CLUSTER_HEALTH_UNKNOWN
                        && f->messenger == CLUSTER_MESSENGER_UNKNOWN)
                    {
                        continue;
                    }

                    break;

                case CLUSTER_METRIC_VERSION_IN_SYNC:
                    if (f->health.release[0] == '\0' || c->release[0] == '\0')
                    {
                        continue;
                    }

                    break;

                case CLUSTER_METRIC_KEY_IN_SYNC:
                    if (cluster_node_key(f, &evidence) == CLUSTER_KEY_UNKNOWN)
                    {
                        continue;
                    }

                    break;

                case CLUSTER_METRIC_VERSION_INFO:
                    if (f->health.release[0] == '\0') {
                        continue;
                    }

                    cluster_buf_cstr(&b, cluster_metrics[m].name);
                    cluster_page_labels(&b, c, node);
                    cluster_buf_cstr(&b, ",release=\"");
                    cluster_page_escape(&b, f->health.release,
                                        strlen(f->health.release), 1);
                    cluster_buf_cstr(&b, "\",display=\"");
                    cluster_page_escape(&b, f->health.version,
                                        strlen(f->health.version), 1);
                    cluster_buf_cstr(&b, "\"} 1\n");
                    continue;

                default:
                    break;
                }

                cluster_buf_cstr(&b, cluster_metrics[m].name);
                cluster_page_labels(&b, c, node);
                cluster_buf_cstr(&b, "} ");

                switch (m) {
                case CLUSTER_METRIC_IN_ROTATION:
                    cluster_buf_uint(&b,
                                   cluster_status_node_in_rotation(c, node));
                    break;
                case CLUSTER_METRIC_HEARTBEAT_AGE:
                    cluster_buf_seconds(&b, now > f->last_heartbeat
                                            ? now - f->last_heartbeat : 0);
                    break;
                case CLUSTER_METRIC_REQUESTS:
                    cluster_buf_uint(&b, f->requests);
                    break;
                case CLUSTER_METRIC_FAILURES:
                    cluster_buf_uint(&b, f->failures);
                    break;
                case CLUSTER_METRIC_CHECKS:
                    cluster_buf_uint(&b, f->checks);
                    break;
                case CLUSTER_METRIC_CHECK_FAILURES:
                    cluster_buf_uint(&b, f->checks_failed);
                    break;
                case CLUSTER_METRIC_SERVICE_UP:
                    cluster_buf_uint(&b,
                        strcmp(cluster_status_service_name(node), "ok") == 0);
                    break;
                case CLUSTER_METRIC_KEY_IN_SYNC:
                    cluster_buf_uint(&b,
                        !(f->findings & CLUSTER_FINDING_KEY_MISMATCH));
                    break;
                case CLUSTER_METRIC_LOST_SESSIONS:
                    cluster_buf_uint(&b, f->lost_sessions);
                    break;
                default: /* CLUSTER_METRIC_VERSION_IN_SYNC */
                    cluster_buf_uint(&b, !f->version_skew);
                    break;
                }

                cluster_buf_cstr(&b, "\n");
            }
        }
    }

    return b.need;
}


/* {cluster="...",node="...",name="..." without the closing brace */
static void
cluster_page_labels(cluster_buf_t *b, const cluster_status_cluster_t *c,
    const cluster_status_node_t *node)
{
    size_t       len;
    const char  *name;

    name = cluster_page_node_name(node, &len);

    cluster_buf_cstr(b, "{cluster=\"");
    cluster_page_escape(b, c->name, c->name_len, 1);
    cluster_buf_cstr(b, "\",node=\"");
    cluster_page_escape(b, node->id, node->id_len, 1);
    cluster_buf_cstr(b, "\",name=\"");
    cluster_page_escape(b, name, len, 1);
    cluster_buf_cstr(b, "\"");
}


cluster_format_e
cluster_page_format(const char *format, size_t format_len,
    const char *const *accept, const size_t *accept_len, size_t naccept)
{
    size_t  i, k;

    if (format) {
        if (format_len == 4 && memcmp(format, "html", 4) == 0) {
            return CLUSTER_FORMAT_HTML;
        }

        if (format_len == 10 && memcmp(format, "prometheus", 10) == 0) {
            return CLUSTER_FORMAT_PROMETHEUS;
        }

        return CLUSTER_FORMAT_JSON;
    }

    for (i = 0; i < naccept; i++) {
        for (k = 0; k + 9 <= accept_len[i]; k++) {
            if (strncasecmp(accept[i] + k, "text/html", 9) == 0) {
                return CLUSTER_FORMAT_HTML;
            }
        }
    }

    return CLUSTER_FORMAT_JSON;
}
