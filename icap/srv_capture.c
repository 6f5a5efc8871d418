/*
 * srv_capture: the c-icap service module "capture", which keeps the LLM
 * API exchanges of logging-mode workspaces (policy/capture_store.h).
 *
 * squid decrypts (ssl_bump bump) only the listed LLM hosts of logging
 * workspaces and sends those requests here twice: REQMOD with the request
 * and RESPMOD with the response, each carrying squid's master transaction
 * id in X-Capture-Xaction (adaptation_meta). For anything else the
 * preview handler answers 204 at once, so no other body passes through.
 *
 * A captured body is echoed back as it arrives (a ring buffer, as
 * c-icap's srv_echo does): the first Server-Sent Event reaches the client
 * as soon as squid hands it over. A copy of at most MaxBodySize bytes is
 * kept on the side. When a half is complete (the request at its end of
 * data, the response when the ICAP transaction is over) it is handed to
 * the child's batch writer (policy/capture_writer.h), which writes every
 * queued half in one transaction per batch: request halves to the store's
 * capture_pending, responses joined with theirs (decoded, parsed) into
 * conversations. So storing never delays the client, and a commit is
 * shared by a batch. The store, its retries and the error log go through
 * the gate of policy/gate.h. Nothing here ever fails a request: errors
 * are counted and logged at most once per LogInterval, and the body goes
 * through.
 *
 * A response whose body ends before its shape says it is over ([DONE],
 * message_stop, response.completed) is marked incomplete: squid ends the
 * ICAP body normally when the client goes away, so this is how a stream
 * the client cut shows.
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
#include <time.h>

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
#pragma GCC diagnostic pop

#include "icap/directives.h"
#include "icap/client_ip.h"
#include "icap/request_line.h"
#include "policy/capture_parse.h"
#include "policy/capture_store.h"
#include "policy/capture_writer.h"
#include "policy/error.h"
#include "policy/gate.h"
#include "policy/host.h"
#include "policy/store.h"

#define CAPTURE_XACTION_HEADER "X-Capture-Xaction"
#define CAPTURE_RING_SIZE      65536
#define CAPTURE_KEY_MAX        128
#define CAPTURE_PATH_MAX       4096

/*
 * The module's settings, filled by the capture.* directives: the store's
 * options of every program on the store (policy/gate.h, set to their
 * defaults at init, before the directives apply; LogInterval is the
 * gate's interval: retries to open and error lines) and what only the
 * capture has.
 */
static struct ep_gate_options gate_opts;
static struct {
    size_t max_body;
    int64_t retention_s;
    unsigned project_max;
} conf = {
    .max_body = (size_t)4 << 20,
    .retention_s = 30 * 86400,
    .project_max = 10000,
};

#define CAPTURE_LOG_MS_DEFAULT 10000

/* The gate, made in the master after the configuration; the writer, per child. */
static struct ep_gate *capture_gate;
static struct ep_capture_writer *capture_writer;

static int capture_pool = -1;
static int stat_captured = -1, stat_skipped = -1, stat_truncated = -1, stat_errors = -1;

/* Per-request state, from the object pool capture_pool. */
struct capture_req {
    bool active;  /* this transaction is captured */
    bool respmod; /* RESPMOD (else REQMOD) */
    bool eof;     /* the whole body arrived */
    bool stored;  /* the request half or the exchange is in the store */
    ci_ring_buf_t *ring;
    char *body; /* at most conf.max_body bytes of the body as it came (malloc) */
    size_t body_n, body_cap;
    uint64_t seen; /* body bytes seen */
    bool truncated;
    bool keep_off; /* out of memory: keep nothing more of this body */
    int64_t time_us;
    uint32_t status;
    char project[EP_ID_MAX + 1];
    char key[CAPTURE_KEY_MAX];
    char host[EP_HOST_BUFSZ];
    char method[16];
    char coding[32];
    char content_type[128];
    char *path;    /* redacted (ep_malloc) */
    char *headers; /* this side's headers, redacted (ep_malloc) */
    size_t headers_n;
};

static int64_t wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void stat_inc(int id)
{
    if (id >= 0)
        ci_stat_uint64_inc(id, 1);
}

/*
 * Count an error and log it at most once per LogInterval, with how many
 * were left out since (the gate's log). Never a header value, body or
 * secret: @p what is ours, @p err an error code.
 */
static void log_error(const char *what, int err)
{
    ep_gate_log_error(capture_gate, what, err);
}

static void gate_log(void *ctx, enum ep_gate_log_kind kind, const char *line)
{
    ci_debug_printf(1, "capture: %s\n", line);
}

static void gate_count(void *ctx, enum ep_gate_counter counter)
{
    if (counter == EP_GATE_ERRORS)
        stat_inc(stat_errors);
}

static void writer_count(void *ctx, enum ep_capture_writer_event event)
{
    stat_inc(event == EP_CAPTURE_WRITER_STORED ? stat_captured : stat_truncated);
}

/* The store of this child: opened at child start, then tried at most once per LogInterval. */
static struct ep_store *current_store(void)
{
    struct ep_store *store;

    ep_gate_store(capture_gate, EP_CAPTURE_OPEN_FAILED, &store);
    return store;
}

static void child_start(const char *name, int type, void *data)
{
    struct ep_capture_writer_options wo = {
        .limits = {.retention_s = conf.retention_s, .project_max = conf.project_max},
        .max_body = conf.max_body,
        .count = writer_count,
        .ctx = NULL,
    };
    int rc;

    if (capture_gate == NULL)
        return;
    (void)current_store();
    rc = ep_capture_writer_start(capture_gate, &wo, &capture_writer);
    if (rc != 0)
        log_error("cannot start the writer thread; nothing is stored", rc);
}

/* Child stop: the worker threads are gone; write what is queued, then close. */
static void child_stop(const char *name, int type, void *data)
{
    ep_capture_writer_stop(capture_writer);
    capture_writer = NULL;
    ep_gate_close(capture_gate);
}

/* --- configuration ------------------------------------------------------ */

static int cfg_database(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("capture", directive, argv, &gate_opts, EP_GATE_OPT_DATABASE);
}

static int cfg_max_body(const char *directive, const char **argv, void *setdata)
{
    uint64_t n;

    if (!icap_directive_size("capture", directive, argv, 1u << 10, 1u << 30, &n))
        return 0;
    conf.max_body = (size_t)n;
    return 1;
}

static int cfg_map_size(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("capture", directive, argv, &gate_opts, EP_GATE_OPT_MAP_SIZE);
}

/* How long exchanges are kept (0 keeps everything); a bare number is seconds. */
static int cfg_retention(const char *directive, const char **argv, void *setdata)
{
    uint64_t ms;

    if (!icap_directive_duration("capture", directive, argv, 1000, 0, 100ull * 365 * 86400000, &ms))
        return 0;
    conf.retention_s = (int64_t)(ms / 1000);
    return 1;
}

static int cfg_project_max(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_count("capture", directive, argv, 0, 100000000, &conf.project_max);
}

static int cfg_max_readers(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_gate("capture", directive, argv, &gate_opts, EP_GATE_OPT_MAX_READERS);
}

static int cfg_log_interval(const char *directive, const char **argv, void *setdata)
{
    uint64_t ms;

    if (!icap_directive_duration("capture", directive, argv, 1000, 1000, 3600 * 1000, &ms))
        return 0;
    gate_opts.interval_ms = (unsigned)ms;
    return 1;
}

static struct ci_conf_entry capture_conf_table[] = {
    {"Database", NULL, cfg_database, "capture.Database /var/lib/egress-policy"},
    {"MaxBodySize", NULL, cfg_max_body, "capture.MaxBodySize 4M"},
    {"Retention", NULL, cfg_retention, "capture.Retention 30d"},
    {"ProjectMax", NULL, cfg_project_max, "capture.ProjectMax 10000"},
    {"LogInterval", NULL, cfg_log_interval, "capture.LogInterval 10"},
    {"MaxReaders", NULL, cfg_max_readers, "capture.MaxReaders 512"},
    {"MapSize", NULL, cfg_map_size, "capture.MapSize 1G"},
    {NULL, NULL, NULL, NULL},
};

/* --- service lifecycle -------------------------------------------------- */

static int capture_init_service(ci_service_xdata_t *srv_xdata, struct ci_server_conf *server_conf)
{
    ci_service_set_istag(srv_xdata, "capture-1");
    ci_service_set_xopts(srv_xdata, CI_XCLIENTIP);
    ci_service_set_preview(srv_xdata, 0);
    ci_service_set_transfer_preview(srv_xdata, "*");
    ci_service_enable_204(srv_xdata);

    capture_pool = ci_object_pool_register("capture_req", sizeof(struct capture_req));
    if (capture_pool < 0) {
        ci_debug_printf(1, "capture: cannot register the request pool\n");
        return CI_ERROR;
    }
    stat_captured = ci_stat_entry_register("capture stored", STAT_INT64_T, "Service capture");
    stat_skipped = ci_stat_entry_register("capture skipped", STAT_INT64_T, "Service capture");
    stat_truncated = ci_stat_entry_register("capture truncated", STAT_INT64_T, "Service capture");
    stat_errors = ci_stat_entry_register("capture errors", STAT_INT64_T, "Service capture");

    /* The defaults, before the capture.* directives that follow the Service line. */
    ep_gate_options_default(&gate_opts);
    gate_opts.interval_ms = CAPTURE_LOG_MS_DEFAULT;
    gate_opts.record = false;
    gate_opts.path = EP_GATE_PATH_CAPTURE;
    ci_command_register_action("capture_child_start", CI_CMD_CHILD_START, NULL, child_start);
    ci_command_register_action("capture_child_stop", CI_CMD_CHILD_STOP, NULL, child_stop);
    return CI_OK;
}

/* Once in the master after the configuration: say what was configured, make the gate. */
static int capture_post_init_service(ci_service_xdata_t *srv_xdata,
                                     struct ci_server_conf *server_conf)
{
    struct ep_gate_hooks hooks = {.log = gate_log, .count = gate_count, .ctx = NULL};
    int rc;

    ci_debug_printf(1,
                    "capture: store %s, bodies up to %zu bytes, retention %lld s, at most %u "
                    "exchanges a project\n",
                    gate_opts.database, conf.max_body, (long long)conf.retention_s,
                    conf.project_max);
    ep_gate_free(capture_gate);
    rc = ep_gate_new(&gate_opts, &hooks, &capture_gate);
    if (rc != 0) {
        ci_debug_printf(1, "capture: cannot set up: %s\n", ep_strerror(rc));
        return CI_ERROR;
    }
    return CI_OK;
}

static void capture_close_service(void)
{
    if (capture_pool >= 0)
        ci_object_pool_unregister(capture_pool);
    capture_pool = -1;
    ep_gate_free(capture_gate);
    capture_gate = NULL;
}

static void *capture_init_request_data(ci_request_t *req)
{
    struct capture_req *r = ci_object_pool_alloc(capture_pool);

    if (r != NULL)
        memset(r, 0, sizeof *r);
    return r;
}

/* --- reading the HTTP message ------------------------------------------- */

/*
 * Method, host and (redacted) path of the request: the target is an
 * absolute URI or a path with a Host header. 0 or an error code.
 */
static int request_target(ci_request_t *req, struct capture_req *r)
{
    const char *target, *end, *path;
    size_t n;
    int rc = icap_request_line(req, r->method, sizeof r->method, &target, &n);

    if (rc == 0)
        rc = icap_request_host(req, target, n, r->host, NULL, NULL);
    if (rc != 0)
        return rc;
    end = target + n;
    path = target;
    if (target[0] != '/') {
        const char *scheme = strstr(target, "://");

        path = scheme && scheme < end ? memchr(scheme + 3, '/', (size_t)(end - scheme - 3)) : NULL;
        if (path == NULL)
            path = end;
    }
    n = (size_t)(end - path);
    if (n > CAPTURE_PATH_MAX)
        n = CAPTURE_PATH_MAX;
    return ep_capture_redact_path(path, n, &r->path, NULL);
}

/* The header lines of @p h after its first line, redacted, into r->headers. */
static int headers_copy(ci_headers_list_t *h, struct capture_req *r)
{
    size_t total = 0, off = 0;
    char *raw;
    int rc;

    if (h == NULL)
        return 0;
    for (int i = 1; i < h->used; i++)
        total += strlen(h->headers[i]) + 2;
    raw = ep_malloc(total + 1);
    if (raw == NULL)
        return EP_E_NOMEM;
    for (int i = 1; i < h->used; i++) {
        size_t n = strlen(h->headers[i]);

        memcpy(raw + off, h->headers[i], n);
        memcpy(raw + off + n, "\r\n", 2);
        off += n + 2;
    }
    rc = ep_capture_redact_headers(raw, off, &r->headers, &r->headers_n);
    ep_free(raw);
    return rc;
}

static void header_copy(ci_headers_list_t *h, const char *name, char *out, size_t outsz)
{
    const char *v = h ? ci_headers_value(h, name) : NULL;

    snprintf(out, outsz, "%s", v ? v : "");
}

/* Keep up to conf.max_body bytes of what passes; past it only count. */
static void body_keep(struct capture_req *r, const char *data, size_t n)
{
    size_t room, take;

    r->seen += n;
    if (r->body_n >= conf.max_body || r->keep_off) {
        r->truncated = r->truncated || n > 0;
        return;
    }
    room = conf.max_body - r->body_n;
    take = n < room ? n : room;
    if (r->body_n + take > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 16384;
        char *nb;

        while (cap < r->body_n + take)
            cap *= 2;
        if (cap > conf.max_body)
            cap = conf.max_body;
        nb = ep_realloc(r->body, cap);
        if (nb == NULL) {
            log_error("out of memory keeping a body; it is cut", EP_E_NOMEM);
            r->truncated = true;
            r->keep_off = true;
            return;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_n, data, take);
    r->body_n += take;
    if (take < n)
        r->truncated = true;
}

/*
 * Hand this transaction's half (the request in REQMOD, the response in
 * RESPMOD) to the child's batch writer, which takes its buffers over.
 */
static void queue_half(struct capture_req *r)
{
    struct ep_capture_half h = {
        .response = r->respmod,
        .eof = r->eof,
        .truncated = r->truncated,
        .time_us = r->time_us,
        .status = r->status,
        .size = r->seen,
        .project = r->project,
        .key = r->key,
        .host = r->host,
        .method = r->method,
        .content_type = r->content_type,
        .coding = r->coding,
        .path = r->path,
        .headers = r->headers,
        .headers_n = r->headers_n,
        .body = r->body,
        .body_n = r->body_n,
    };

    r->stored = true;
    r->path = r->headers = r->body = NULL;
    r->body_n = r->body_cap = 0;
    ep_capture_writer_submit(capture_writer, &h);
}

static void capture_release_request_data(void *data)
{
    struct capture_req *r = data;

    if (r == NULL)
        return;
    if (r->active && !r->stored)
        queue_half(r);
    if (r->ring != NULL)
        ci_ring_buf_destroy(r->ring);
    ep_free(r->body);
    ep_free(r->path);
    ep_free(r->headers);
    ci_object_pool_free(r);
}

/* --- the ICAP transaction ----------------------------------------------- */

/*
 * Decide on the headers whether this transaction is captured: a mapped
 * client of a logging project, a listed host, and the store open. Anything
 * else (and any failure) is 204 at once.
 */
static int capture_check_preview(char *preview_data, int preview_data_len, ci_request_t *req)
{
    struct capture_req *r = ci_service_data(req);
    enum ep_capture_verdict verdict;
    struct ep_store *store;
    ci_headers_list_t *h;
    char ip[EP_IP_MAX + 1];
    const char *xaction;
    int rc;

    if (r == NULL)
        return CI_MOD_ALLOW204;
    r->respmod = ci_req_type(req) == ICAP_RESPMOD;
    r->time_us = wall_us();
    icap_client_ip(req, ip, sizeof ip);
    if (capture_writer == NULL || (store = current_store()) == NULL || ip[0] == '\0' ||
        request_target(req, r) != 0)
        goto skip;
    rc = ep_capture_decide(store, ip, r->host, &verdict, r->project);
    if (rc || verdict != EP_CAPTURE_YES)
        goto skip;
    xaction = ci_headers_value(req->request_header, CAPTURE_XACTION_HEADER);
    if (xaction != NULL && strlen(xaction) < 64 && strspn(xaction, "0123456789") == strlen(xaction))
        snprintf(r->key, sizeof r->key, "%s %s", xaction, ip);
    h = r->respmod ? ci_http_response_headers(req) : ci_http_request_headers(req);
    if (headers_copy(h, r) != 0) {
        log_error("cannot copy headers", EP_E_NOMEM);
        goto skip;
    }
    header_copy(h, "Content-Encoding", r->coding, sizeof r->coding);
    header_copy(h, "Content-Type", r->content_type, sizeof r->content_type);
    if (r->respmod && h != NULL && h->used > 0) {
        const char *sp = strchr(h->headers[0], ' ');

        r->status = sp ? (uint32_t)strtoul(sp + 1, NULL, 10) : 0;
    }
    r->active = true;
    if (!ci_req_hasbody(req)) {
        r->eof = true;
        return CI_MOD_ALLOW204;
    }
    r->ring = ci_ring_buf_new(CAPTURE_RING_SIZE);
    if (r->ring == NULL) {
        log_error("cannot allocate the echo buffer; not captured", EP_E_NOMEM);
        r->active = false;
        return CI_MOD_ALLOW204;
    }
    ci_req_unlock_data(req);
    return CI_MOD_CONTINUE;
skip:
    stat_inc(stat_skipped);
    return CI_MOD_ALLOW204;
}

/* All of the body arrived. The request half is stored now, before squid needs it. */
static int capture_end_of_data(ci_request_t *req)
{
    struct capture_req *r = ci_service_data(req);

    if (r != NULL) {
        r->eof = true;
        if (r->active && !r->respmod && !r->stored)
            queue_half(r);
    }
    return CI_MOD_DONE;
}

/* Echo what squid sends as it comes, keeping a copy on the side. */
static int capture_io(char *wbuf, int *wlen, char *rbuf, int *rlen, int iseof, ci_request_t *req)
{
    struct capture_req *r = ci_service_data(req);

    if (r == NULL || r->ring == NULL) {
        if (rlen)
            *rlen = 0;
        if (wlen)
            *wlen = CI_EOF;
        return CI_OK;
    }
    if (rbuf && rlen) {
        *rlen = ci_ring_buf_write(r->ring, rbuf, *rlen);
        if (*rlen < 0)
            return CI_ERROR;
        body_keep(r, rbuf, (size_t)*rlen);
    }
    if (wbuf && wlen) {
        *wlen = ci_ring_buf_read(r->ring, wbuf, *wlen);
        if (*wlen == 0 && r->eof)
            *wlen = CI_EOF;
    }
    return CI_OK;
}

CI_DECLARE_MOD_DATA ci_service_module_t service = {
    "capture",
    "LLM API conversation capture for logging workspaces",
    ICAP_REQMOD | ICAP_RESPMOD,
    capture_init_service,
    capture_post_init_service,
    capture_close_service,
    capture_init_request_data,
    capture_release_request_data,
    capture_check_preview,
    capture_end_of_data,
    capture_io,
    capture_conf_table,
    NULL,
};
