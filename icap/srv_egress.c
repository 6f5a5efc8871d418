/*
 * srv_egress: the c-icap service module "egress", a thin adapter from an
 * ICAP REQMOD request to a policy decision (policy/decide.h) and back.
 *
 * For each request squid sends the workspace's IP (X-Client-IP) and the
 * HTTP request headers with a zero-byte preview. The module finds the host
 * the request goes to, asks ep_decide() and answers from the preview
 * handler:
 *   - allowed: ICAP 204, so squid forwards the request untouched and a
 *     request body never passes through this module;
 *   - denied, DenyMode header: the request headers come back with
 *     X-Egress-Deny and X-Egress-Reason added and without a body; squid
 *     denies the marked request itself (adapted_http_access) with our
 *     template, which keeps the client connection open;
 *   - denied, DenyMode page: an HTTP 403 response whose body is c-icap's
 *     text template egress/LANG/EGRESS_DENIED (HTML) or EGRESS_DENIED_TEXT
 *     under TemplateDir, naming the host, the workspace and how to ask for
 *     access; an admin edits the page there, without rebuilding.
 * A body sent with a denied request is read and dropped as it arrives.
 *
 * Intercepted traffic (contrib/squid/egress-intercept.conf) needs nothing
 * else: X-Client-IP is still the workspace (REDIRECT keeps the source), a
 * plain HTTP request names its host in the Host header, and an intercepted
 * TLS connection reaches us once, as squid's "CONNECT <sni>:443" of the
 * step-2 splice (or "CONNECT <address>:443" without SNI, for ip: rules):
 * the step-1 CONNECT is not sent here, so a TLS connection is decided and
 * counted once.
 *
 * The LMDB store is opened in every child after fork (CI_CMD_CHILD_START)
 * and closed at child stop, after the recorder's last flush.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <lmdb.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* c-icap's headers declare functions without prototypes (f()); keep our warnings for our code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include "c-icap.h"
#include "service.h"
#include "header.h"
#include "body.h"
#include "simple_api.h"
#include "debug.h"
#include "stats.h"
#include "commands.h"
#include "mem.h"
#include "cfg_param.h"
#include "txtTemplate.h"
#pragma GCC diagnostic pop

#include "icap/directives.h"
#include "icap/client_ip.h"
#include "icap/request_line.h"
#include "policy/decide.h"
#include "policy/error.h"
#include "policy/host.h"
#include "policy/ratelimit.h"
#include "policy/recorder.h"
#include "policy/store.h"

#define EGRESS_DEFAULT_DATABASE "/var/lib/egress-policy"
#define EGRESS_DEFAULT_HINT                                                                        \
    "Ask your teacher or administrator to add this host to your workspace's whitelist."
#define EGRESS_HINT_MAX 1024
/* The page templates, under TemplateDir/egress/LANG/ (contrib/c-icap/templates). */
#define EGRESS_TEMPLATE_SERVICE "egress"
#define EGRESS_TEMPLATE_HTML    "EGRESS_DENIED"
#define EGRESS_TEMPLATE_TEXT    "EGRESS_DENIED_TEXT"

/* The module's settings, filled by the egress.* directives. */
struct egress_conf {
    char database[PATH_MAX];
    bool unknown_allow;
    bool deny_page;
    unsigned flush_ms;
    unsigned max_readers;
    size_t map_size;
    char access_hint[EGRESS_HINT_MAX];
    bool key_filter_off;
    size_t key_filter_memory;
};

static struct egress_conf conf = {
    .database = EGRESS_DEFAULT_DATABASE,
    .unknown_allow = false,
    .deny_page = false,
    .flush_ms = 1000,
    .max_readers = EP_STORE_DEFAULT_MAX_READERS,
    .map_size = EP_STORE_DEFAULT_MAP_SIZE,
    .access_hint = EGRESS_DEFAULT_HINT,
    .key_filter_off = false,
    .key_filter_memory = EP_STORE_DEFAULT_KEY_FILTER_MEMORY,
};

/* Per-child state: set at child start, cleared at child stop. */
static _Atomic(struct ep_store *) egress_store;
static _Atomic(struct ep_recorder *) egress_recorder;
static pthread_mutex_t egress_open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ep_ratelimit egress_open_limit; /* an attempt to open once per FlushInterval */
static _Atomic int egress_open_error;         /* why the last open failed */

/* Rate limit of store error messages: one per FlushInterval. */
static struct ep_ratelimit egress_log_limit;

static int egress_pool = -1;
static int stat_allowed = -1, stat_denied = -1, stat_recorded = -1, stat_errors = -1;
/* Store reader table full (MDB_READERS_FULL): a temporary overload, counted on its own. */
static int stat_readers_full = -1;

/* Per-request state, from the object pool egress_pool. */
struct egress_req {
    ci_membuf_t *page; /* the 403 body in page mode (the expanded template), NULL otherwise */
    size_t page_len;   /* bytes of page */
    size_t page_off;   /* bytes of page already handed to c-icap */
    /* What the template's %E directives show, while the page is built. */
    bool html;
    const char *host, *workspace, *client, *reason;
};

static void stat_inc(int id)
{
    if (id >= 0)
        ci_stat_uint64_inc(id, 1);
}

/*
 * Log a store problem at most once per FlushInterval: a broken store fails
 * every request, and one line per request would bury the log. The line
 * says how many similar errors were left out since the last one.
 */
static void log_store_error(const char *what, int err)
{
    unsigned long left_out;

    stat_inc(stat_errors);
    if (err == MDB_READERS_FULL)
        stat_inc(stat_readers_full);
    if (ep_ratelimit_pass(&egress_log_limit, conf.flush_ms, &left_out))
        ci_debug_printf(1, "egress: %s (store %s): %s (%lu similar errors not logged)\n", what,
                        conf.database, ep_strerror(err), left_out);
}

/* Open the store and start the recorder in this process (see current_store()). */
static int open_store(void)
{
    struct ep_store_options opts = {
        .map_size = conf.map_size,
        .no_key_filter = conf.key_filter_off,
        .key_filter_memory = conf.key_filter_memory,
        .max_readers = conf.max_readers,
        .read_only = false,
    };
    struct ep_store *store = NULL;
    struct ep_recorder *rec = NULL;
    int rc = 0;

    pthread_mutex_lock(&egress_open_lock);
    if (atomic_load(&egress_store) != NULL)
        goto out;
    rc = ep_store_open(conf.database, &opts, &store);
    if (rc != 0)
        goto out;
    rc = ep_recorder_new(store, conf.flush_ms, &rec);
    if (rc != 0)
        goto out;
    atomic_store(&egress_recorder, rec);
    atomic_store(&egress_store, store);
    store = NULL;
out:
    pthread_mutex_unlock(&egress_open_lock);
    ep_store_close(store);
    return rc;
}

/*
 * The store of this child, opened when it is not open yet: at child start
 * and, when that failed, again from a request at most once per
 * FlushInterval, so a store that appears later (or recovers) is picked up
 * without a restart.
 */
static struct ep_store *current_store(void)
{
    struct ep_store *store = atomic_load(&egress_store);
    int rc;

    if (store != NULL || !ep_ratelimit_pass(&egress_open_limit, conf.flush_ms, NULL))
        return store;
    rc = open_store();
    if (rc != 0)
        atomic_store(&egress_open_error, rc);
    return atomic_load(&egress_store);
}

static void child_start(const char *name, int type, void *data)
{
    if (current_store() == NULL)
        log_store_error("cannot open the store at child start", atomic_load(&egress_open_error));
}

/* Child stop: the worker threads are gone; flush what is pending and close. */
static void child_stop(const char *name, int type, void *data)
{
    struct ep_recorder *rec = atomic_exchange(&egress_recorder, NULL);
    struct ep_store *store = atomic_exchange(&egress_store, NULL);

    ep_recorder_free(rec);
    ep_store_close(store);
}

/* --- configuration ------------------------------------------------------ */

/* Every directive takes exactly one value; say which directive when not. */
static bool one_value(const char *directive, const char **argv)
{
    if (argv == NULL || argv[0] == NULL || argv[1] != NULL) {
        ci_debug_printf(1, "egress: egress.%s takes exactly one value\n", directive);
        return false;
    }
    return true;
}

static int cfg_database(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_path("egress", directive, argv, conf.database, sizeof conf.database);
}

static int cfg_unknown_client(const char *directive, const char **argv, void *setdata)
{
    if (!one_value(directive, argv))
        return 0;
    if (strcmp(argv[0], "deny") == 0)
        conf.unknown_allow = false;
    else if (strcmp(argv[0], "allow") == 0)
        conf.unknown_allow = true;
    else {
        ci_debug_printf(1, "egress: egress.%s must be deny or allow, not '%s'\n", directive,
                        argv[0]);
        return 0;
    }
    return 1;
}

static int cfg_deny_mode(const char *directive, const char **argv, void *setdata)
{
    if (!one_value(directive, argv))
        return 0;
    if (strcmp(argv[0], "header") == 0)
        conf.deny_page = false;
    else if (strcmp(argv[0], "page") == 0)
        conf.deny_page = true;
    else {
        ci_debug_printf(1, "egress: egress.%s must be header or page, not '%s'\n", directive,
                        argv[0]);
        return 0;
    }
    return 1;
}

static int cfg_flush_interval(const char *directive, const char **argv, void *setdata)
{
    uint64_t ms;

    if (!icap_directive_duration("egress", directive, argv, 1000, 10, 3600 * 1000, &ms))
        return 0;
    conf.flush_ms = (unsigned)ms;
    return 1;
}

static int cfg_max_readers(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_count("egress", directive, argv, 1, 1000000, &conf.max_readers);
}

static int cfg_map_size(const char *directive, const char **argv, void *setdata)
{
    uint64_t n;

    if (!icap_directive_size("egress", directive, argv, 1u << 20, SIZE_MAX, &n))
        return 0;
    conf.map_size = (size_t)n;
    return 1;
}

static int cfg_key_filter(const char *directive, const char **argv, void *setdata)
{
    if (!one_value(directive, argv))
        return 0;
    if (strcmp(argv[0], "on") == 0) {
        conf.key_filter_off = false;
    } else if (strcmp(argv[0], "off") == 0) {
        conf.key_filter_off = true;
    } else {
        ci_debug_printf(1, "egress: egress.%s must be on or off, not '%s'\n", directive, argv[0]);
        return 0;
    }
    return 1;
}

static int cfg_key_filter_memory(const char *directive, const char **argv, void *setdata)
{
    uint64_t n;

    if (!icap_directive_size("egress", directive, argv, 64u << 10, (uint64_t)4 << 30, &n))
        return 0;
    conf.key_filter_memory = (size_t)n;
    return 1;
}

/* The hint is free text: c-icap splits it into words, so join them again. */
static int cfg_access_hint(const char *directive, const char **argv, void *setdata)
{
    size_t used = 0;

    if (argv == NULL || argv[0] == NULL) {
        ci_debug_printf(1, "egress: egress.%s needs a text\n", directive);
        return 0;
    }
    conf.access_hint[0] = '\0';
    for (int i = 0; argv[i] != NULL; i++) {
        int n = snprintf(conf.access_hint + used, sizeof conf.access_hint - used, "%s%s",
                         i ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof conf.access_hint - used) {
            ci_debug_printf(1, "egress: egress.%s is longer than %zu bytes\n", directive,
                            sizeof conf.access_hint - 1);
            return 0;
        }
        used += (size_t)n;
    }
    for (size_t i = 0; i < used; i++) {
        if ((unsigned char)conf.access_hint[i] < 0x20) {
            ci_debug_printf(1, "egress: egress.%s contains a control character\n", directive);
            return 0;
        }
    }
    return 1;
}

static struct ci_conf_entry egress_conf_table[] = {
    {"Database", NULL, cfg_database, "egress.Database /var/lib/egress-policy"},
    {"UnknownClient", NULL, cfg_unknown_client, "egress.UnknownClient deny|allow"},
    {"DenyMode", NULL, cfg_deny_mode, "egress.DenyMode header|page"},
    {"FlushInterval", NULL, cfg_flush_interval, "egress.FlushInterval 1s"},
    {"MaxReaders", NULL, cfg_max_readers, "egress.MaxReaders 512"},
    {"MapSize", NULL, cfg_map_size, "egress.MapSize 1G"},
    {"AccessHint", NULL, cfg_access_hint, "egress.AccessHint text"},
    {"KeyFilter", NULL, cfg_key_filter, "egress.KeyFilter on|off"},
    {"KeyFilterMemory", NULL, cfg_key_filter_memory, "egress.KeyFilterMemory 16M"},
    {NULL, NULL, NULL, NULL},
};

/* --- service lifecycle -------------------------------------------------- */

/*
 * Once in the master while the configuration is read: announce what the
 * service wants from its clients (the client IP, a zero-byte preview, 204
 * answers) and register the request pool, the stat counters and the
 * per-child actions. The directives are not applied yet here.
 */
static int egress_init_service(ci_service_xdata_t *srv_xdata, struct ci_server_conf *server_conf)
{
    ci_service_set_istag(srv_xdata, "egress-1");
    ci_service_set_xopts(srv_xdata, CI_XCLIENTIP);
    ci_service_set_preview(srv_xdata, 0);
    ci_service_set_transfer_preview(srv_xdata, "*");
    ci_service_enable_204(srv_xdata);

    egress_pool = ci_object_pool_register("egress_req", sizeof(struct egress_req));
    if (egress_pool < 0) {
        ci_debug_printf(1, "egress: cannot register the request pool\n");
        return CI_ERROR;
    }
    stat_allowed = ci_stat_entry_register("egress allowed", STAT_INT64_T, "Service egress");
    stat_denied = ci_stat_entry_register("egress denied", STAT_INT64_T, "Service egress");
    stat_recorded = ci_stat_entry_register("egress recorded", STAT_INT64_T, "Service egress");
    stat_errors = ci_stat_entry_register("egress errors", STAT_INT64_T, "Service egress");
    stat_readers_full =
        ci_stat_entry_register("egress readers full", STAT_INT64_T, "Service egress");

    ci_command_register_action("egress_child_start", CI_CMD_CHILD_START, NULL, child_start);
    ci_command_register_action("egress_child_stop", CI_CMD_CHILD_STOP, NULL, child_stop);
    return CI_OK;
}

/* Once in the master after the configuration: say what was configured. */
static int egress_post_init_service(ci_service_xdata_t *srv_xdata,
                                    struct ci_server_conf *server_conf)
{
    long threads = (long)server_conf->MAX_SERVERS * server_conf->THREADS_PER_CHILD;

    ci_debug_printf(1,
                    "egress: store %s, unknown clients %s, deny mode %s, flush every %u ms, "
                    "%u reader slots, key filters %s (at most %zu bytes a child)\n",
                    conf.database, conf.unknown_allow ? "allowed" : "denied",
                    conf.deny_page ? "page" : "header", conf.flush_ms, conf.max_readers,
                    conf.key_filter_off ? "off" : "on",
                    conf.key_filter_off ? (size_t)0 : conf.key_filter_memory);
    if (threads > (long)conf.max_readers)
        ci_debug_printf(1,
                        "egress: warning: MaxServers x ThreadsPerChild = %ld is more than "
                        "egress.MaxReaders %u; busy children will fail with MDB_READERS_FULL\n",
                        threads, conf.max_readers);
    return CI_OK;
}

static void egress_close_service(void)
{
    if (egress_pool >= 0)
        ci_object_pool_unregister(egress_pool);
    egress_pool = -1;
}

static void *egress_init_request_data(ci_request_t *req)
{
    struct egress_req *r = ci_object_pool_alloc(egress_pool);

    if (r != NULL)
        memset(r, 0, sizeof *r);
    return r;
}

static void egress_release_request_data(void *data)
{
    struct egress_req *r = data;

    if (r == NULL)
        return;
    if (r->page != NULL)
        ci_membuf_free(r->page);
    ci_object_pool_free(r);
}

/* --- the request -------------------------------------------------------- */

/* Is @p line the header @p name (case-insensitive, followed by ':')? */
static bool header_is(const char *line, const char *name)
{
    size_t n = strlen(name);

    return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/*
 * Denied in header mode: the request goes back with X-Egress-Deny and
 * X-Egress-Reason added and without a body (a body squid sends after our
 * 100 Continue is read and dropped by egress_io()). The header list is
 * rebuilt rather than edited in place: the body's framing headers go, and
 * so do headers a client sent under our names.
 */
static int mark_denied(ci_request_t *req, const char *reason, const char *host, const char *project)
{
    char line[EP_HOST_BUFSZ + EP_IP_MAX + 128];
    ci_headers_list_t *orig = ci_http_request_headers(req);
    ci_headers_list_t *copy = ci_headers_create();
    ci_headers_list_t *now;
    int rc = CI_ERROR;

    if (orig == NULL || copy == NULL)
        goto out;
    for (int i = 0; i < orig->used; i++) {
        const char *h = orig->headers[i];
        if (header_is(h, "Content-Length") || header_is(h, "Transfer-Encoding") ||
            header_is(h, "X-Egress-Deny") || header_is(h, "X-Egress-Reason"))
            continue;
        if (ci_headers_add(copy, h) == NULL)
            goto out;
    }
    if (ci_headers_add(copy, "X-Egress-Deny: 1") == NULL)
        goto out;
    snprintf(line, sizeof line, "X-Egress-Reason: %s; host=%s; project=%s", reason, host, project);
    if (ci_headers_add(copy, line) == NULL)
        goto out;
    ci_http_request_create(req, 0);
    now = ci_http_request_headers(req);
    if (now == NULL)
        goto out;
    for (int i = 0; i < copy->used; i++)
        if (ci_headers_add(now, copy->headers[i]) == NULL)
            goto out;
    rc = CI_OK;
out:
    if (copy != NULL)
        ci_headers_destroy(copy);
    return rc;
}

/*
 * Copy @p s into @p buf (at most @p len bytes), HTML-escaped when the page
 * is HTML; a character whose escape no longer fits ends the copy. Returns
 * the bytes written, as c-icap's format callbacks do.
 */
static int fmt_copy(const struct egress_req *r, char *buf, int len, const char *s)
{
    int used = 0;

    for (; s != NULL && *s != '\0'; s++) {
        const char *rep = NULL;
        char one[2] = {*s, '\0'};
        int n;

        if (r->html && *s == '&')
            rep = "&amp;";
        else if (r->html && *s == '<')
            rep = "&lt;";
        else if (r->html && *s == '>')
            rep = "&gt;";
        else if (r->html && *s == '"')
            rep = "&quot;";
        else
            rep = one;
        n = (int)strlen(rep);
        if (used + n > len)
            break;
        memcpy(buf + used, rep, (size_t)n);
        used += n;
    }
    return used;
}

static int fmt_host(ci_request_t *req, char *buf, int len, const char *param)
{
    struct egress_req *r = ci_service_data(req);

    return fmt_copy(r, buf, len, r->host);
}

static int fmt_workspace(ci_request_t *req, char *buf, int len, const char *param)
{
    struct egress_req *r = ci_service_data(req);

    return fmt_copy(r, buf, len, r->workspace);
}

static int fmt_client(ci_request_t *req, char *buf, int len, const char *param)
{
    struct egress_req *r = ci_service_data(req);

    return fmt_copy(r, buf, len, r->client);
}

static int fmt_reason(ci_request_t *req, char *buf, int len, const char *param)
{
    struct egress_req *r = ci_service_data(req);

    return fmt_copy(r, buf, len, r->reason);
}

static int fmt_hint(ci_request_t *req, char *buf, int len, const char *param)
{
    return fmt_copy(ci_service_data(req), buf, len, conf.access_hint);
}

static int fmt_url(ci_request_t *req, char *buf, int len, const char *param)
{
    char url[4096];

    if (ci_http_request_url(req, url, sizeof url) <= 0)
        snprintf(url, sizeof url, "%s", "-");
    return fmt_copy(ci_service_data(req), buf, len, url);
}

/*
 * The directives of the page templates (c-icap checks its own first, and
 * none of them starts with %E). Values are HTML-escaped in the HTML page.
 */
static struct ci_fmt_entry egress_format_table[] = {
    {"%EH", "The blocked host", fmt_host},
    {"%EW", "The workspace: its project, or unknown", fmt_workspace},
    {"%EI", "The workspace's address (X-Client-IP), or none", fmt_client},
    {"%ER", "Why: not-whitelisted, unknown-client, store-error or bad-host", fmt_reason},
    {"%EA", "egress.AccessHint", fmt_hint},
    {"%EU", "The request's URL", fmt_url},
    {NULL, NULL, NULL},
};

/*
 * Denied in page mode: replace the request by an HTTP 403 response. The
 * body is the HTML template when the client accepts HTML, the text one
 * otherwise (c-icap picks the language from Accept-Language, else
 * TemplateDefaultLanguage, and rereads a template changed on disk). A
 * missing template still gives the 403, with c-icap's note naming the
 * file it looked for.
 */
static int answer_page(ci_request_t *req, struct egress_req *r, const char *reason,
                       const char *host, const char *workspace, const char *client,
                       const char *project)
{
    const char *accept = ci_http_request_get_header(req, "Accept");
    char line[EP_HOST_BUFSZ + EP_IP_MAX + 128];

    r->html = accept != NULL && strstr(accept, "text/html") != NULL;
    r->host = host;
    r->workspace = workspace;
    r->client = client;
    r->reason = reason;
    r->page = ci_txt_template_build_content(req, EGRESS_TEMPLATE_SERVICE,
                                            r->html ? EGRESS_TEMPLATE_HTML : EGRESS_TEMPLATE_TEXT,
                                            egress_format_table);
    r->host = r->workspace = r->client = r->reason = NULL; /* the caller's: not kept */
    if (r->page == NULL)
        return CI_ERROR;
    r->page_len = r->page->endpos > 0 ? (size_t)r->page->endpos : 0;
    /* c-icap counts the NUL it appends; the body ends before it. */
    while (r->page_len > 0 && r->page->buf[r->page_len - 1] == '\0')
        r->page_len--;
    r->page_off = 0;

    ci_http_response_create(req, 1, 1);
    ci_http_response_add_header(req, "HTTP/1.1 403 Forbidden");
    ci_http_response_add_header(req, "Server: egress-policy");
    ci_http_response_add_header(req, r->html ? "Content-Type: text/html; charset=utf-8"
                                             : "Content-Type: text/plain; charset=utf-8");
    ci_http_response_add_header(req, "Cache-Control: no-store");
    snprintf(line, sizeof line, "Content-Length: %zu", r->page_len);
    ci_http_response_add_header(req, line);
    snprintf(line, sizeof line, "X-Egress-Reason: %s; host=%s; project=%s", reason, host, project);
    ci_http_response_add_header(req, line);
    return CI_OK;
}

/*
 * The whole decision happens here, on the headers, before any body byte:
 * an allowed request gets 204 straight away; a denied one is rewritten
 * (header or page mode) and c-icap then sends 100 Continue for a body.
 */
static int egress_check_preview(char *preview_data, int preview_data_len, ci_request_t *req)
{
    struct egress_req *r = ci_service_data(req);
    char host[EP_HOST_BUFSZ], ip[EP_IP_MAX + 1], method[16];
    const char *target;
    size_t target_len;
    struct ep_decision d;
    struct ep_request er;
    struct ep_store *store;
    struct ep_recorder *rec;
    char workspace[EP_IP_MAX + 32];
    const char *reason;
    int port = 0, rc;

    if (r == NULL)
        return CI_ERROR;
    icap_client_ip(req, ip, sizeof ip);
    memset(&d, 0, sizeof d);
    rc = icap_request_line(req, method, sizeof method, &target, &target_len);
    if (rc == 0)
        rc = icap_request_host(req, target, target_len, host, &port);
    if (rc != 0) {
        /* No host squid could have meant: nothing to decide on, so fail closed. */
        snprintf(host, sizeof host, "%s", "invalid");
        d.verdict = EP_VERDICT_DENY;
        reason = "bad-host";
    } else if ((store = current_store()) == NULL) {
        log_store_error("cannot open the store, request denied", atomic_load(&egress_open_error));
        d.verdict = EP_VERDICT_DENY;
        reason = ep_reason_name(EP_REASON_STORE_ERROR);
    } else {
        er.client_ip = ip[0] ? ip : NULL;
        er.host = host;
        er.method = method;
        er.port = port;
        rc = ep_decide(store, &er, conf.unknown_allow ? EP_DECIDE_ALLOW_UNKNOWN : 0, &d);
        if (rc != 0)
            log_store_error("decision fell back", rc);
        reason = ep_reason_name(d.reason);
        if (d.record && (rec = atomic_load(&egress_recorder)) != NULL) {
            rc = ep_recorder_note(rec, d.project_id, host, d.verdict);
            if (rc == 0)
                stat_inc(stat_recorded);
            else
                log_store_error("recording a new host failed (kept for the next flush)", rc);
        }
    }

    if (d.verdict == EP_VERDICT_ALLOW) {
        stat_inc(stat_allowed);
        return CI_MOD_ALLOW204;
    }
    stat_inc(stat_denied);
    snprintf(workspace, sizeof workspace, "%s", d.project_id[0] ? d.project_id : "unknown");
    ci_debug_printf(5, "egress: deny %s %s for %s at %s (%s)\n", method, host, workspace,
                    ip[0] ? ip : "no client IP", reason);
    if (conf.deny_page)
        rc = answer_page(req, r, reason, host, workspace, ip[0] ? ip : "none",
                         d.project_id[0] ? d.project_id : "-");
    else
        rc = mark_denied(req, reason, host, d.project_id[0] ? d.project_id : "-");
    return rc == CI_OK ? CI_MOD_CONTINUE : CI_ERROR;
}

static int egress_end_of_data(ci_request_t *req)
{
    ci_req_unlock_data(req);
    return CI_MOD_DONE;
}

/*
 * Body data of a denied request: what squid sends is dropped (consumed
 * without keeping it); what goes back is the 403 page in page mode and
 * nothing in header mode.
 */
static int egress_io(char *wbuf, int *wlen, char *rbuf, int *rlen, int iseof, ci_request_t *req)
{
    struct egress_req *r = ci_service_data(req);

    if (wbuf != NULL && wlen != NULL && *wlen > 0) {
        size_t left = r != NULL && r->page != NULL ? r->page_len - r->page_off : 0;

        if (left == 0) {
            *wlen = CI_EOF;
        } else {
            size_t n = left < (size_t)*wlen ? left : (size_t)*wlen;
            memcpy(wbuf, r->page->buf + r->page_off, n);
            r->page_off += n;
            *wlen = (int)n;
        }
    }
    return CI_OK;
}

CI_DECLARE_MOD_DATA ci_service_module_t service = {
    "egress",
    "Per-workspace egress policy (whitelist and recording)",
    ICAP_REQMOD,
    egress_init_service,
    egress_post_init_service,
    egress_close_service,
    egress_init_request_data,
    egress_release_request_data,
    egress_check_preview,
    egress_end_of_data,
    egress_io,
    egress_conf_table,
    NULL,
};
