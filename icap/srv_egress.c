/*
 * srv_egress: the c-icap service module "egress", a thin adapter from an
 * ICAP REQMOD request to a policy decision (policy/decide.h) and back.
 *
 * For each request squid sends the workspace's IP (X-Client-IP) and the
 * HTTP request headers with a zero-byte preview. The module finds the host
 * and port the request goes to (the request line: an absolute URI, its
 * scheme's port when it names none, or a CONNECT authority; else the Host
 * header), asks the gate and answers from the preview handler:
 *   - allowed: ICAP 204, so squid forwards the request untouched and a
 *     request body never passes through this module;
 *   - allowed, but the request changes: headers the client sent under our
 *     names (X-Egress-*) are removed, and X-Egress-Ip-Rule: RULE is added
 *     when the host is an IP literal an ip: rule of the workspace's
 *     project names (squid denies internal destinations without it); the
 *     request comes back (ICAP 200) with its body echoed as it arrives;
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
 * Intercepted traffic (contrib/squid/egress-intercept.conf): X-Client-IP
 * is still the workspace (REDIRECT keeps the source), and an intercepted
 * TLS connection reaches us once, as squid's "CONNECT <sni>:443" of the
 * step-2 splice (or "CONNECT <address>:443" without SNI, for ip: rules):
 * the step-1 CONNECT is not sent here, so a TLS connection is decided and
 * counted once. On the intercepting http_port squid decides on the URL's
 * host but forwards an absolute-form request to the connection's original
 * destination, so squid marks those requests with the ICAP header
 * X-Egress-Intercept (adaptation_meta; an ICAP header, which a workspace
 * cannot send) whose value is the port the workspace connected to, and the
 * gate's intercept check applies: not CONNECT, a Host header, the same host
 * in the request line and the Host header (and the mark's port, when the
 * Host header names one); else denied (intercept-connect,
 * intercept-no-host, intercept-host-mismatch). The request is decided on
 * the mark's port: squid connects there.
 *
 * The decision, the recording, the counters and the store go through the
 * gate of policy/gate.h, as for egress-acl: the LMDB store is opened in
 * every child after fork (CI_CMD_CHILD_START) and closed at child stop,
 * after the recorder's last flush.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
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
#include "policy/gate.h"
#include "policy/host.h"
#include "policy/store.h"

#define EGRESS_DEFAULT_HINT                                                                        \
    "Ask your teacher or administrator to add this host to your workspace's whitelist."
#define EGRESS_HINT_MAX 1024
/* The ICAP request header squid's adaptation_meta sets on requests of its intercepting port. */
#define EGRESS_INTERCEPT_HEADER "X-Egress-Intercept"
/* The echo buffer of an allowed request whose headers change and whose body passes through. */
#define EGRESS_RING_SIZE 65536
/* The page templates, under TemplateDir/egress/LANG/ (contrib/c-icap/templates). */
#define EGRESS_TEMPLATE_SERVICE "egress"
#define EGRESS_TEMPLATE_HTML    "EGRESS_DENIED"
#define EGRESS_TEMPLATE_TEXT    "EGRESS_DENIED_TEXT"

/*
 * The module's settings, filled by the egress.* directives: the store and
 * decision options of every program that decides (policy/gate.h, one set
 * of bounds and defaults, set at init before the directives apply), and
 * what only this module has.
 */
static struct ep_gate_options gate_opts;
static struct {
    bool deny_page;
    char access_hint[EGRESS_HINT_MAX];
} conf = {
    .deny_page = false,
    .access_hint = EGRESS_DEFAULT_HINT,
};

/*
 * The gate: made in the master after the configuration (it opens nothing
 * there), inherited by every child, which opens the store at child start
 * and closes it at child stop.
 */
static struct ep_gate *egress_gate;

static int egress_pool = -1;
/* The c-icap stat counter of each gate counter (enum ep_gate_counter), -1 before init. */
static int stat_ids[EP_GATE_COUNTERS] = {-1, -1, -1, -1, -1};

/* Per-request state, from the object pool egress_pool. */
struct egress_req {
    ci_membuf_t *page;   /* the 403 body in page mode (the expanded template), NULL otherwise */
    size_t page_len;     /* bytes of page */
    size_t page_off;     /* bytes of page already handed to c-icap */
    ci_ring_buf_t *ring; /* an allowed request's body on its way through, NULL otherwise */
    bool eof;            /* the whole body arrived */
    /* What the template's %E directives show, while the page is built. */
    bool html;
    const char *host, *workspace, *client, *reason;
};

/* The gate's log lines: store errors always, one line per decision at DebugLevel 5. */
static void gate_log(void *ctx, enum ep_gate_log_kind kind, const char *line)
{
    ci_debug_printf(kind == EP_GATE_LOG_ERROR ? 1 : 5, "egress: %s\n", line);
}

static void gate_count(void *ctx, enum ep_gate_counter counter)
{
    if (stat_ids[counter] >= 0)
        ci_stat_uint64_inc(stat_ids[counter], 1);
}

static void child_start(const char *name, int type, void *data)
{
    struct ep_store *store;

    if (egress_gate != NULL)
        ep_gate_store(egress_gate, "cannot open the store at child start", &store);
}

/* Child stop: the worker threads are gone; the recorder's last flush, then close. */
static void child_stop(const char *name, int type, void *data)
{
    ep_gate_close(egress_gate);
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
    return icap_directive_gate("egress", directive, argv, &gate_opts, EP_GATE_OPT_DATABASE);
}

static int cfg_unknown_client(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("egress", directive, argv, &gate_opts, EP_GATE_OPT_UNKNOWN_CLIENT);
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
    return icap_directive_gate("egress", directive, argv, &gate_opts, EP_GATE_OPT_INTERVAL);
}

static int cfg_max_readers(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("egress", directive, argv, &gate_opts, EP_GATE_OPT_MAX_READERS);
}

static int cfg_map_size(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("egress", directive, argv, &gate_opts, EP_GATE_OPT_MAP_SIZE);
}

static int cfg_key_filter(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("egress", directive, argv, &gate_opts, EP_GATE_OPT_KEY_FILTER);
}

static int cfg_key_filter_memory(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("egress", directive, argv, &gate_opts,
                               EP_GATE_OPT_KEY_FILTER_MEMORY);
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
    stat_ids[EP_GATE_ALLOWED] =
        ci_stat_entry_register("egress allowed", STAT_INT64_T, "Service egress");
    stat_ids[EP_GATE_DENIED] =
        ci_stat_entry_register("egress denied", STAT_INT64_T, "Service egress");
    stat_ids[EP_GATE_RECORDED] =
        ci_stat_entry_register("egress recorded", STAT_INT64_T, "Service egress");
    stat_ids[EP_GATE_ERRORS] =
        ci_stat_entry_register("egress errors", STAT_INT64_T, "Service egress");
    stat_ids[EP_GATE_READERS_FULL] =
        ci_stat_entry_register("egress readers full", STAT_INT64_T, "Service egress");

    /* The defaults, before the egress.* directives that follow the Service line. */
    ep_gate_options_default(&gate_opts);
    ci_command_register_action("egress_child_start", CI_CMD_CHILD_START, NULL, child_start);
    ci_command_register_action("egress_child_stop", CI_CMD_CHILD_STOP, NULL, child_stop);
    return CI_OK;
}

/*
 * Once in the master after the configuration: say what was configured and
 * make the gate (which opens nothing before the children do).
 */
static int egress_post_init_service(ci_service_xdata_t *srv_xdata,
                                    struct ci_server_conf *server_conf)
{
    struct ep_gate_hooks hooks = {.log = gate_log, .count = gate_count, .ctx = NULL};
    long threads = (long)server_conf->MAX_SERVERS * server_conf->THREADS_PER_CHILD;
    int rc;

    ci_debug_printf(1,
                    "egress: store %s, unknown clients %s, deny mode %s, flush every %u ms, "
                    "%u reader slots, key filters %s (at most %zu bytes a child)\n",
                    gate_opts.database, gate_opts.unknown_allow ? "allowed" : "denied",
                    conf.deny_page ? "page" : "header", gate_opts.interval_ms,
                    gate_opts.max_readers, gate_opts.no_key_filter ? "off" : "on",
                    gate_opts.no_key_filter ? (size_t)0 : gate_opts.key_filter_memory);
    if (threads > (long)gate_opts.max_readers)
        ci_debug_printf(1,
                        "egress: warning: MaxServers x ThreadsPerChild = %ld is more than "
                        "egress.MaxReaders %u; busy children will fail with MDB_READERS_FULL\n",
                        threads, gate_opts.max_readers);
    gate_opts.record = true;
    gate_opts.path = EP_GATE_PATH_ICAP;
    gate_opts.log_decisions = CI_DEBUG_LEVEL >= 5;
    ep_gate_free(egress_gate);
    rc = ep_gate_new(&gate_opts, &hooks, &egress_gate);
    if (rc != 0) {
        ci_debug_printf(1, "egress: cannot set up: %s\n", ep_strerror(rc));
        return CI_ERROR;
    }
    return CI_OK;
}

static void egress_close_service(void)
{
    if (egress_pool >= 0)
        ci_object_pool_unregister(egress_pool);
    egress_pool = -1;
    ep_gate_free(egress_gate);
    egress_gate = NULL;
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
    if (r->ring != NULL)
        ci_ring_buf_destroy(r->ring);
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
 * An X-Egress-* header: our names. squid's snippets match on them
 * (X-Egress-Deny, X-Egress-Ip-Rule) and log them (X-Egress-Reason), so one
 * a client sent never reaches squid: it could deny its own request, forge
 * a reason, or open an internal destination.
 */
static bool header_is_ours(const char *line)
{
    return strncasecmp(line, "X-Egress-", 9) == 0;
}

/* Whether the request carries a header under our names. */
static bool has_our_headers(ci_request_t *req)
{
    ci_headers_list_t *h = ci_http_request_headers(req);

    for (int i = 0; h != NULL && i < h->used; i++)
        if (header_is_ours(h->headers[i]))
            return true;
    return false;
}

/*
 * Allowed, but the request changes on its way to squid: every header
 * under our names goes, and X-Egress-Ip-Rule names the ip: rule of the
 * workspace's project that covers the address when @p ip_rule is not ""
 * (squid opens an internal destination only for it). A body passes
 * through as it comes (egress_io()).
 */
static int mark_allowed(ci_request_t *req, struct egress_req *r, const char *ip_rule)
{
    ci_headers_list_t *h = ci_http_request_headers(req);
    char line[EP_RULE_BUFSZ + 32], name[128];

    if (h == NULL)
        return CI_ERROR;
    for (int i = 0; i < h->used;) {
        size_t n = strcspn(h->headers[i], ":");

        if (!header_is_ours(h->headers[i]) || n >= sizeof name) {
            i++;
            continue;
        }
        snprintf(name, sizeof name, "%.*s", (int)n, h->headers[i]);
        if (!ci_headers_remove(h, name))
            return CI_ERROR;
    }
    if (ip_rule[0] != '\0') {
        snprintf(line, sizeof line, "X-Egress-Ip-Rule: %s", ip_rule);
        if (ci_headers_add(h, line) == NULL)
            return CI_ERROR;
    }
    if (!ci_req_hasbody(req))
        return CI_MOD_CONTINUE;
    r->ring = ci_ring_buf_new(EGRESS_RING_SIZE);
    if (r->ring == NULL)
        return CI_ERROR;
    ci_req_unlock_data(req);
    return CI_MOD_CONTINUE;
}

/*
 * Denied in header mode: the request goes back with X-Egress-Deny and
 * X-Egress-Reason (the gate's reason @p text) added and without a body (a
 * body squid sends after our 100 Continue is read and dropped by
 * egress_io()). The header list is rebuilt rather than edited in place:
 * the body's framing headers go, and so do headers a client sent under
 * our names.
 */
static int mark_denied(ci_request_t *req, const char *text)
{
    char line[EP_GATE_TEXT_BUFSZ + 32];
    ci_headers_list_t *orig = ci_http_request_headers(req);
    ci_headers_list_t *copy = ci_headers_create();
    ci_headers_list_t *now;
    int rc = CI_ERROR;

    if (orig == NULL || copy == NULL)
        goto out;
    for (int i = 0; i < orig->used; i++) {
        const char *h = orig->headers[i];
        if (header_is(h, "Content-Length") || header_is(h, "Transfer-Encoding") ||
            header_is_ours(h))
            continue;
        if (ci_headers_add(copy, h) == NULL)
            goto out;
    }
    if (ci_headers_add(copy, "X-Egress-Deny: 1") == NULL)
        goto out;
    snprintf(line, sizeof line, "X-Egress-Reason: %s", text);
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
    {"%ER", "Why: not-whitelisted, unknown-client, store-error, bad-host or intercept-*",
     fmt_reason},
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
static int answer_page(ci_request_t *req, struct egress_req *r, const struct ep_gate_result *res,
                       const char *workspace, const char *client)
{
    const char *accept = ci_http_request_get_header(req, "Accept");
    char line[EP_GATE_TEXT_BUFSZ + 32];

    r->html = accept != NULL && strstr(accept, "text/html") != NULL;
    r->host = res->host;
    r->workspace = workspace;
    r->client = client;
    r->reason = res->reason;
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
    snprintf(line, sizeof line, "X-Egress-Reason: %s", res->text);
    ci_http_response_add_header(req, line);
    return CI_OK;
}

/*
 * The destination port of an intercepted request: the value of squid's
 * intercept mark (adaptation_meta X-Egress-Intercept "%>lp", the port the
 * workspace connected to; squid forwards there, whatever the request
 * line or the Host header say), or @p fallback when the value is not a
 * port.
 */
static int intercept_port(const char *mark, int fallback)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(mark, &end, 10);
    if (errno != 0 || end == mark || *end != '\0' || n < 1 || n > 65535)
        return fallback;
    return (int)n;
}

/*
 * The whole decision happens here, on the headers, before any body byte,
 * through the gate: an allowed request gets 204 straight away, unless it
 * must change (mark_allowed()); a denied one is rewritten (header or page
 * mode) and c-icap then sends 100 Continue for a body. A request squid
 * marks as from its intercepting port (EGRESS_INTERCEPT_HEADER, an ICAP
 * header a workspace cannot send) gets the gate's intercept check: the
 * request line's host against the Host header, and is decided on the
 * port the mark names.
 */
static int egress_check_preview(char *preview_data, int preview_data_len, ci_request_t *req)
{
    struct egress_req *r = ci_service_data(req);
    char host[EP_HOST_BUFSZ], ip[EP_IP_MAX + 1], method[16] = "";
    char ip_rule[EP_RULE_BUFSZ] = "";
    struct ep_gate_request gr;
    struct ep_gate_result res, ipr;
    enum ep_host_kind kind = EP_HOST_NAME;
    const char *target, *mark;
    size_t target_len;
    int port = 0, rc;

    if (r == NULL || egress_gate == NULL)
        return CI_ERROR;
    icap_client_ip(req, ip, sizeof ip);
    rc = icap_request_line(req, method, sizeof method, &target, &target_len);
    if (rc == 0)
        rc = icap_request_host(req, target, target_len, host, &port, &kind);
    memset(&gr, 0, sizeof gr);
    gr.client_ip = ip;
    gr.method = method;
    gr.host = rc == 0 ? host : NULL;
    gr.port = port;
    mark = ci_headers_value(req->request_header, EGRESS_INTERCEPT_HEADER);
    gr.intercept = mark != NULL;
    if (mark != NULL)
        gr.port = intercept_port(mark, port);
    gr.host_header = ci_http_request_get_header(req, "Host");
    ep_gate_decide(egress_gate, &gr, &res);

    if (res.verdict == EP_VERDICT_ALLOW) {
        if (gr.host != NULL && kind != EP_HOST_NAME &&
            ep_gate_ip_rule(egress_gate, &gr, &ipr) == 0 && ipr.verdict == EP_VERDICT_ALLOW)
            memcpy(ip_rule, ipr.rule, sizeof ip_rule);
        if (ip_rule[0] == '\0' && !has_our_headers(req))
            return CI_MOD_ALLOW204;
        return mark_allowed(req, r, ip_rule);
    }
    if (conf.deny_page)
        rc = answer_page(req, r, &res, res.project_id[0] ? res.project_id : "unknown",
                         ip[0] ? ip : "none");
    else
        rc = mark_denied(req, res.text);
    return rc == CI_OK ? CI_MOD_CONTINUE : CI_ERROR;
}

static int egress_end_of_data(ci_request_t *req)
{
    struct egress_req *r = ci_service_data(req);

    if (r != NULL)
        r->eof = true;
    ci_req_unlock_data(req);
    return CI_MOD_DONE;
}

/*
 * Body data. Of an allowed request whose headers changed: echoed as it
 * comes. Of a denied request: what squid sends is dropped (consumed
 * without keeping it); what goes back is the 403 page in page mode and
 * nothing in header mode.
 */
static int egress_io(char *wbuf, int *wlen, char *rbuf, int *rlen, int iseof, ci_request_t *req)
{
    struct egress_req *r = ci_service_data(req);

    if (r != NULL && r->ring != NULL) {
        if (rbuf != NULL && rlen != NULL) {
            *rlen = ci_ring_buf_write(r->ring, rbuf, *rlen);
            if (*rlen < 0)
                return CI_ERROR;
        }
        if (wbuf != NULL && wlen != NULL) {
            *wlen = ci_ring_buf_read(r->ring, wbuf, *wlen);
            if (*wlen == 0 && r->eof)
                *wlen = CI_EOF;
        }
        return CI_OK;
    }
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
