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
 * data, the response when the ICAP transaction is over) it is queued for
 * the child's writer thread, which writes every queued half in one
 * transaction per batch: request halves to the store's capture_pending,
 * responses joined with theirs (decoded, parsed) into conversations. So
 * storing never delays the client, and a commit is shared by a batch. Nothing here ever fails a
 * request: errors are counted and logged at most once per LogInterval, and the body goes through.
 *
 * A response whose body ends before its shape says it is over ([DONE],
 * message_stop, response.completed) is marked incomplete: squid ends the
 * ICAP body normally when the client goes away, so this is how a stream
 * the client cut shows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
#include "policy/error.h"
#include "policy/host.h"
#include "policy/ratelimit.h"
#include "policy/store.h"

#define CAPTURE_XACTION_HEADER "X-Capture-Xaction"
#define CAPTURE_RING_SIZE      65536
#define CAPTURE_KEY_MAX        128
#define CAPTURE_PATH_MAX       4096

/* The module's settings, filled by the capture.* directives. */
static struct {
    char database[PATH_MAX];
    size_t max_body;
    int64_t retention_s;
    unsigned project_max;
    unsigned log_ms;
    unsigned max_readers;
    size_t map_size;
} conf = {
    .database = "/var/lib/egress-policy",
    .max_body = (size_t)4 << 20,
    .retention_s = 30 * 86400,
    .project_max = 10000,
    .log_ms = 10000,
    .max_readers = EP_STORE_DEFAULT_MAX_READERS,
    .map_size = EP_STORE_DEFAULT_MAP_SIZE,
};

/* Per-child state: set at child start, cleared at child stop. */
static _Atomic(struct ep_store *) capture_store;
static pthread_mutex_t capture_open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ep_ratelimit capture_open_limit; /* an attempt to open once per LogInterval */
static struct ep_ratelimit capture_log_limit;  /* an error logged once per LogInterval */

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

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
 * were left out since. Never a header value, body or secret: @p what is
 * ours, @p err an error code.
 */
static void log_error(const char *what, int err)
{
    unsigned long left_out;

    stat_inc(stat_errors);
    if (ep_ratelimit_pass(&capture_log_limit, conf.log_ms, &left_out))
        ci_debug_printf(1, "capture: %s (store %s): %s (%lu similar errors not logged)\n", what,
                        conf.database, ep_strerror(err), left_out);
}

/* Open the store in this child; at child start and then at most once per LogInterval. */
static struct ep_store *current_store(void)
{
    struct ep_store_options opts = {.map_size = conf.map_size, .max_readers = conf.max_readers};
    struct ep_store *store = atomic_load(&capture_store);
    int rc;

    if (store != NULL || !ep_ratelimit_pass(&capture_open_limit, conf.log_ms, NULL))
        return store;
    pthread_mutex_lock(&capture_open_lock);
    store = atomic_load(&capture_store);
    if (store == NULL) {
        rc = ep_store_open(conf.database, &opts, &store);
        if (rc == 0)
            atomic_store(&capture_store, store);
        else
            log_error("cannot open the store; nothing is captured until it opens", rc);
    }
    pthread_mutex_unlock(&capture_open_lock);
    return store;
}

static void writer_start(void);
static void writer_stop(void);

static void child_start(const char *name, int type, void *data)
{
    (void)current_store();
    writer_start();
}

/* Child stop: the worker threads are gone; write what is queued, then close. */
static void child_stop(const char *name, int type, void *data)
{
    writer_stop();
    ep_store_close(atomic_exchange(&capture_store, NULL));
}

/* --- configuration ------------------------------------------------------ */

static int cfg_database(const char *directive, const char **argv, void *setdata)
{
    return icap_directive_path("capture", directive, argv, conf.database, sizeof conf.database);
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
    uint64_t n;

    if (!icap_directive_size("capture", directive, argv, 1u << 20, SIZE_MAX, &n))
        return 0;
    conf.map_size = (size_t)n;
    return 1;
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
    return icap_directive_count("capture", directive, argv, 1, 1000000, &conf.max_readers);
}

static int cfg_log_interval(const char *directive, const char **argv, void *setdata)
{
    uint64_t ms;

    if (!icap_directive_duration("capture", directive, argv, 1000, 1000, 3600 * 1000, &ms))
        return 0;
    conf.log_ms = (unsigned)ms;
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
    ci_command_register_action("capture_child_start", CI_CMD_CHILD_START, NULL, child_start);
    ci_command_register_action("capture_child_stop", CI_CMD_CHILD_STOP, NULL, child_stop);
    return CI_OK;
}

static int capture_post_init_service(ci_service_xdata_t *srv_xdata,
                                     struct ci_server_conf *server_conf)
{
    ci_debug_printf(1,
                    "capture: store %s, bodies up to %zu bytes, retention %lld s, at most %u "
                    "exchanges a project\n",
                    conf.database, conf.max_body, (long long)conf.retention_s, conf.project_max);
    return CI_OK;
}

static void capture_close_service(void)
{
    if (capture_pool >= 0)
        ci_object_pool_unregister(capture_pool);
    capture_pool = -1;
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
        rc = icap_request_host(req, target, n, r->host, NULL);
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

/* --- storing: a writer thread per child, one commit per batch ----------- */

/*
 * A finished half waiting to be written. The ICAP threads only copy what
 * they kept into a job and queue it; the child's writer thread writes all
 * queued jobs in one transaction every CAPTURE_BATCH_MS (ep_capture_write),
 * so a commit (and its fsync) is shared by every exchange of the batch
 * instead of costing three per exchange.
 */
struct job {
    struct job *next;
    enum ep_capture_op_kind kind; /* PENDING (request half), JOIN (response), PUT */
    int64_t queued_ms;
    bool eof;
    char project[EP_ID_MAX + 1];
    char key[CAPTURE_KEY_MAX];
    char host[EP_HOST_BUFSZ];
    char method[16];
    char content_type[128];
    char *path, *headers, *body; /* ep_malloc'd */
    size_t headers_n, body_n;
    struct ep_capture c; /* this half; texts point into the job */
    struct ep_capture_summary sum;
};

#define CAPTURE_BATCH_MS     50
#define CAPTURE_JOIN_WAIT_MS 5000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t queued; /* jobs in the queue */
    bool stop;
    bool running;
    pthread_t thread;
} wq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, false, false, 0};

/* Most jobs waiting for the writer; past it new ones are dropped (and counted). */
#define CAPTURE_QUEUE_MAX 10000

#define TEXT(s, len) ((struct ep_capture_text){(s), (len)})

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    ep_free(j->path);
    ep_free(j->headers);
    ep_free(j->body);
    ep_free(j);
}

static void queue_push(struct job *j)
{
    pthread_mutex_lock(&wq.lock);
    if (wq.queued >= CAPTURE_QUEUE_MAX) {
        pthread_mutex_unlock(&wq.lock);
        log_error("the store does not keep up; an exchange is dropped", EP_E_LIMIT);
        job_free(j);
        return;
    }
    wq.queued++;
    j->next = NULL;
    if (wq.tail)
        wq.tail->next = j;
    else
        wq.head = j;
    wq.tail = j;
    pthread_cond_signal(&wq.cond);
    pthread_mutex_unlock(&wq.lock);
}

/* The body as stored: decoded when it had a content coding. */
static void body_decoded(struct capture_req *r, struct job *j, uint32_t cut_flag)
{
    size_t n = 0;
    bool cut = false;
    char *dec = NULL;

    if (r->truncated)
        j->c.flags |= cut_flag;
    if (r->coding[0] != '\0' && strcasecmp(r->coding, "identity") != 0 && r->body_n > 0) {
        if (ep_capture_decode(r->coding, r->body, r->body_n, conf.max_body, &dec, &n, &cut) == 0) {
            if (cut)
                j->c.flags |= cut_flag;
            j->body = dec;
            j->body_n = n;
            return;
        }
        j->c.flags |= EP_CAPTURE_UNDECODED;
    }
    /* As it came: the job takes the buffer over. */
    j->body = r->body;
    j->body_n = r->body_n;
    r->body = NULL;
    r->body_n = r->body_cap = 0;
}

/* Queue this transaction's half: the request (REQMOD) or the response (RESPMOD). */
static void queue_half(struct capture_req *r)
{
    struct job *j = ep_calloc(1, sizeof *j);

    r->stored = true;
    if (j == NULL) {
        log_error("out of memory queueing an exchange; it is lost", EP_E_NOMEM);
        return;
    }
    j->kind = r->respmod ? EP_CAPTURE_OP_JOIN : EP_CAPTURE_OP_PENDING;
    j->queued_ms = now_ms();
    j->eof = r->eof;
    memcpy(j->project, r->project, sizeof j->project);
    memcpy(j->key, r->key, sizeof j->key);
    memcpy(j->host, r->host, sizeof j->host);
    memcpy(j->method, r->method, sizeof j->method);
    memcpy(j->content_type, r->content_type, sizeof j->content_type);
    j->path = r->path;
    r->path = NULL;
    j->headers = r->headers;
    j->headers_n = r->headers_n;
    r->headers = NULL;
    j->c.time_us = r->time_us;
    j->c.status = r->status;
    body_decoded(r, j, r->respmod ? EP_CAPTURE_RESP_TRUNCATED : EP_CAPTURE_REQ_TRUNCATED);
    if (j->c.flags & (EP_CAPTURE_REQ_TRUNCATED | EP_CAPTURE_RESP_TRUNCATED))
        stat_inc(stat_truncated);
    j->c.host = TEXT(j->host, strlen(j->host));
    j->c.method = TEXT(j->method, strlen(j->method));
    j->c.path = TEXT(j->path, j->path ? strlen(j->path) : 0);
    if (r->respmod) {
        j->c.response_size = r->seen;
        j->c.response_headers = TEXT(j->headers, j->headers_n);
        j->c.response_body = TEXT(j->body, j->body_n);
        /* Without a join key the request cannot be found: store the response alone. */
        if (j->key[0] == '\0')
            j->kind = EP_CAPTURE_OP_PUT;
    } else {
        if (!r->eof)
            j->c.flags |= EP_CAPTURE_INCOMPLETE;
        j->c.request_size = r->seen;
        j->c.request_headers = TEXT(j->headers, j->headers_n);
        j->c.request_body = TEXT(j->body, j->body_n);
        if (j->key[0] == '\0') {
            job_free(j); /* a request squid will not name again: nothing to join */
            return;
        }
    }
    queue_push(j);
}

/*
 * The stored exchange of response job @p j and request half @p half (NULL
 * when the request is not known): merged, parsed for the list's summary.
 */
static int job_merge(void *ctx, const struct ep_capture *half, struct ep_capture *out)
{
    struct job *j = ctx;
    static const struct ep_capture none;
    uint32_t flags;

    if (half == NULL) {
        half = &none;
        j->c.flags |= EP_CAPTURE_INCOMPLETE; /* the request is not known */
    }
    flags = half->flags | j->c.flags;
    *out = j->c;
    out->time_us = half->time_us ? half->time_us : j->c.time_us;
    out->request_size = half->request_size;
    if (half->method.n)
        out->method = half->method;
    if (half->path.n)
        out->path = half->path;
    out->request_headers = half->request_headers;
    out->request_body = half->request_body;
    json_decref(ep_capture_conversation(out->request_body.p, out->request_body.n,
                                        out->response_body.p, out->response_body.n, j->content_type,
                                        &j->sum));
    out->model = TEXT(j->sum.model, strlen(j->sum.model));
    out->first_user = TEXT(j->sum.first_user, strlen(j->sum.first_user));
    out->input_tokens = j->sum.input_tokens;
    out->output_tokens = j->sum.output_tokens;
    if (j->sum.raw)
        flags |= EP_CAPTURE_RAW;
    if (j->sum.streamed)
        flags |= EP_CAPTURE_STREAMED;
    if (!j->eof || (!j->sum.complete && !(flags & EP_CAPTURE_RESP_TRUNCATED)))
        flags |= EP_CAPTURE_INCOMPLETE;
    out->flags = flags;
    return 0;
}

/* Write one batch; a response whose request half is not there yet waits for the next. */
static struct job *flush(struct job *list, bool stopping)
{
    struct ep_capture_limits lim = {.retention_s = conf.retention_s,
                                    .project_max = conf.project_max};
    struct ep_store *store = current_store();
    struct ep_capture_op *ops;
    struct ep_capture merged;
    struct job *j, *next, *again = NULL;
    size_t n = 0, i = 0;
    int rc;

    for (j = list; j; j = j->next)
        n++;
    ops = ep_calloc(n ? n : 1, sizeof *ops);
    if (store == NULL || ops == NULL) {
        log_error("cannot write captured exchanges; they are lost",
                  ops ? EP_E_NOTFOUND : EP_E_NOMEM);
        goto drop;
    }
    for (j = list; j; j = j->next, i++) {
        if (j->kind == EP_CAPTURE_OP_PUT) {
            /* The response alone: merged with no request half (marked incomplete). */
            job_merge(j, NULL, &merged);
            j->c = merged;
        }
        ops[i] = (struct ep_capture_op){.kind = j->kind,
                                        .project_id = j->project,
                                        .key = j->key,
                                        .c = &j->c,
                                        .join = job_merge,
                                        .ctx = j};
    }
    rc = ep_capture_write(store, ops, n, &lim);
    if (rc)
        log_error("cannot write captured exchanges", rc);
    for (j = list, i = 0; j; j = next, i++) {
        next = j->next;
        if (ops[i].kind == EP_CAPTURE_OP_JOIN && ops[i].result == EP_E_NOTFOUND) {
            /* Its request half is still on its way (another child's batch) or lost. */
            if (stopping || now_ms() - j->queued_ms > CAPTURE_JOIN_WAIT_MS)
                j->kind = EP_CAPTURE_OP_PUT;
            j->next = again;
            again = j;
            continue;
        }
        if (ops[i].result == 0 && ops[i].kind != EP_CAPTURE_OP_PENDING)
            stat_inc(stat_captured);
        else if (ops[i].result && ops[i].result != rc)
            log_error("cannot store a captured exchange", ops[i].result);
        job_free(j);
    }
    ep_free(ops);
    return again;
drop:
    ep_free(ops);
    for (j = list; j; j = next) {
        next = j->next;
        job_free(j);
    }
    return NULL;
}

static void *writer(void *arg)
{
    struct job *list, *again = NULL, *j;
    int64_t next_prune = now_ms() + 60000;
    bool stop;

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&wq.lock);
        if (again) {
            /* Retries go first, ahead of what came meanwhile. */
            for (j = again; j->next; j = j->next)
                ;
            j->next = wq.head;
            if (!wq.tail)
                wq.tail = j;
            wq.head = again;
            again = NULL;
        }
        while (!wq.head && !wq.stop) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&wq.cond, &wq.lock, &ts);
            if (now_ms() >= next_prune)
                break;
        }
        stop = wq.stop;
        pthread_mutex_unlock(&wq.lock);
        if (!stop)
            usleep(CAPTURE_BATCH_MS * 1000); /* let a batch gather */
        pthread_mutex_lock(&wq.lock);
        list = wq.head;
        wq.head = wq.tail = NULL;
        wq.queued = 0;
        stop = wq.stop;
        pthread_mutex_unlock(&wq.lock);
        if (list)
            again = flush(list, stop);
        if (now_ms() >= next_prune) {
            struct ep_capture_limits lim = {.retention_s = conf.retention_s,
                                            .project_max = conf.project_max};
            struct ep_store *store = current_store();
            int rc = store ? ep_capture_prune(store, &lim, wall_us(), NULL) : 0;

            if (rc)
                log_error("cannot apply retention", rc);
            next_prune = now_ms() + 60000;
        }
        if (stop && !list && !again)
            break;
    }
    return NULL;
}

static void writer_start(void)
{
    pthread_mutex_lock(&wq.lock);
    wq.stop = false;
    if (!wq.running && pthread_create(&wq.thread, NULL, writer, NULL) == 0)
        wq.running = true;
    pthread_mutex_unlock(&wq.lock);
    if (!wq.running)
        log_error("cannot start the writer thread; nothing is stored", EP_E_NOMEM);
}

/* Write what is queued and end the thread. */
static void writer_stop(void)
{
    if (!wq.running)
        return;
    pthread_mutex_lock(&wq.lock);
    wq.stop = true;
    pthread_cond_signal(&wq.cond);
    pthread_mutex_unlock(&wq.lock);
    pthread_join(wq.thread, NULL);
    wq.running = false;
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
    if ((store = current_store()) == NULL || ip[0] == '\0' || request_target(req, r) != 0)
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
