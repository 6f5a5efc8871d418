/*
 * The capture's batch writer of capture_writer.h: a queue of jobs (one per
 * finished half) filled by the request threads, emptied by one thread that
 * writes each batch in one ep_capture_write() transaction.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "policy/capture_parse.h"
#include "policy/capture_writer.h"

#define WRITER_BATCH_MS     50    /* a batch gathers this long */
#define WRITER_JOIN_WAIT_MS 5000  /* a response waits this long for its request half */
#define WRITER_PRUNE_MS     60000 /* retention and caps applied this often */
#define WRITER_QUEUE_MAX    10000 /* most jobs waiting; past it new ones are dropped */
#define WRITER_KEY_MAX      128

#define TEXT(s, len) ((struct ep_capture_text){(s), (len)})

/* A finished half waiting to be written; the texts of c point into the job. */
struct job {
    struct job *next;
    enum ep_capture_op_kind kind; /* PENDING (request half), JOIN (response), PUT */
    int64_t queued_ms;
    bool eof;
    char project[EP_ID_MAX + 1];
    char key[WRITER_KEY_MAX];
    char host[EP_HOST_BUFSZ];
    char method[16];
    char content_type[128];
    char *path, *headers, *body; /* ep_malloc'd */
    size_t headers_n, body_n;
    struct ep_capture c;
    struct ep_capture_summary sum;
};

struct ep_capture_writer {
    struct ep_gate *gate;
    struct ep_capture_writer_options opts;
    pthread_mutex_t lock;       /* the queue and stop */
    pthread_mutex_t flush_lock; /* one batch at a time, so halves keep their order */
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t queued; /* new jobs in the queue (retries are not counted) */
    bool stop;
    pthread_t thread;
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

static void event(struct ep_capture_writer *w, enum ep_capture_writer_event e)
{
    ep_gate_counter_add(w->gate,
                        e == EP_CAPTURE_WRITER_STORED ? EP_COUNTER_CAPTURE_EXCHANGES
                                                      : EP_COUNTER_CAPTURE_TRUNCATIONS,
                        1);
    if (w->opts.count != NULL)
        w->opts.count(w->opts.ctx, e);
}

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    ep_free(j->path);
    ep_free(j->headers);
    ep_free(j->body);
    ep_free(j);
}

static void jobs_free(struct job *list)
{
    struct job *next;

    for (; list != NULL; list = next) {
        next = list->next;
        job_free(list);
    }
}

/* The half's buffers, when it is not queued. */
static void half_release(struct ep_capture_half *h)
{
    ep_free(h->path);
    ep_free(h->headers);
    ep_free(h->body);
    h->path = h->headers = h->body = NULL;
}

/*
 * The body as stored, taken over from @p h: decoded when it had a content
 * coding (cut at max_body), as it came otherwise or when it does not decode.
 */
static void job_body(struct ep_capture_writer *w, struct job *j, struct ep_capture_half *h,
                     uint32_t cut_flag)
{
    size_t n = 0;
    bool cut = false;
    char *dec = NULL;

    if (h->truncated)
        j->c.flags |= cut_flag;
    if (h->coding != NULL && h->coding[0] != '\0' && strcasecmp(h->coding, "identity") != 0 &&
        h->body_n > 0) {
        if (ep_capture_decode(h->coding, h->body, h->body_n, w->opts.max_body, &dec, &n, &cut) ==
            0) {
            if (cut)
                j->c.flags |= cut_flag;
            j->body = dec;
            j->body_n = n;
            ep_free(h->body);
            h->body = NULL;
            return;
        }
        j->c.flags |= EP_CAPTURE_UNDECODED;
    }
    j->body = h->body;
    j->body_n = h->body_n;
    h->body = NULL;
}

/* Append @p j to the queue; false when the queue is full. */
static bool queue_push(struct ep_capture_writer *w, struct job *j)
{
    pthread_mutex_lock(&w->lock);
    if (w->queued >= WRITER_QUEUE_MAX) {
        pthread_mutex_unlock(&w->lock);
        return false;
    }
    w->queued++;
    j->next = NULL;
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return true;
}

int ep_capture_writer_submit(struct ep_capture_writer *w, struct ep_capture_half *h)
{
    struct job *j = ep_calloc(1, sizeof *j);
    uint32_t cut = h->response ? EP_CAPTURE_RESP_TRUNCATED : EP_CAPTURE_REQ_TRUNCATED;

    if (j == NULL) {
        half_release(h);
        ep_gate_log_error(w->gate, "out of memory queueing an exchange; it is lost", EP_E_NOMEM);
        return EP_E_NOMEM;
    }
    j->kind = h->response ? EP_CAPTURE_OP_JOIN : EP_CAPTURE_OP_PENDING;
    j->queued_ms = now_ms();
    j->eof = h->eof;
    snprintf(j->project, sizeof j->project, "%s", h->project);
    snprintf(j->key, sizeof j->key, "%s", h->key);
    snprintf(j->host, sizeof j->host, "%s", h->host);
    snprintf(j->method, sizeof j->method, "%s", h->method);
    snprintf(j->content_type, sizeof j->content_type, "%s", h->content_type);
    j->path = h->path;
    j->headers = h->headers;
    j->headers_n = h->headers_n;
    h->path = h->headers = NULL;
    j->c.time_us = h->time_us;
    j->c.status = h->status;
    job_body(w, j, h, cut);
    if (j->c.flags & cut)
        event(w, EP_CAPTURE_WRITER_TRUNCATED);
    j->c.host = TEXT(j->host, strlen(j->host));
    j->c.method = TEXT(j->method, strlen(j->method));
    j->c.path = TEXT(j->path, j->path ? strlen(j->path) : 0);
    if (h->response) {
        j->c.response_size = h->size;
        j->c.response_headers = TEXT(j->headers, j->headers_n);
        j->c.response_body = TEXT(j->body, j->body_n);
        /* Without a join key the request cannot be found: store the response alone. */
        if (j->key[0] == '\0')
            j->kind = EP_CAPTURE_OP_PUT;
    } else {
        if (!h->eof)
            j->c.flags |= EP_CAPTURE_INCOMPLETE;
        j->c.request_size = h->size;
        j->c.request_headers = TEXT(j->headers, j->headers_n);
        j->c.request_body = TEXT(j->body, j->body_n);
        if (j->key[0] == '\0') {
            job_free(j); /* a request squid will not name again: nothing to join */
            return 0;
        }
    }
    if (!queue_push(w, j)) {
        job_free(j);
        ep_gate_log_error(w->gate, "the store does not keep up; an exchange is dropped",
                          EP_E_LIMIT);
        return EP_E_LIMIT;
    }
    return 0;
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

/*
 * Write @p list as one batch; returns the responses whose request half is
 * not there yet (to try again), in their order. *@p rc receives the
 * batch's error. When the store is not open the batch is lost.
 */
static struct job *write_batch(struct ep_capture_writer *w, struct job *list, bool stopping,
                               int *rc)
{
    struct ep_store *store = NULL;
    struct ep_capture_op *ops;
    struct ep_capture merged;
    struct job *j, *next, *again = NULL, **again_end = &again;
    size_t n = 0, i = 0;

    for (j = list; j; j = j->next)
        n++;
    ops = ep_calloc(n ? n : 1, sizeof *ops);
    *rc = ep_gate_store(w->gate, EP_CAPTURE_OPEN_FAILED, &store);
    if (store == NULL || ops == NULL) {
        *rc = ops ? EP_E_NOTFOUND : EP_E_NOMEM;
        ep_gate_log_error(w->gate, "cannot write captured exchanges; they are lost", *rc);
        jobs_free(list);
        goto out;
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
    *rc = ep_capture_write(store, ops, n, &w->opts.limits);
    if (*rc)
        ep_gate_log_error(w->gate, "cannot write captured exchanges", *rc);
    for (j = list, i = 0; j; j = next, i++) {
        next = j->next;
        if (ops[i].kind == EP_CAPTURE_OP_JOIN && ops[i].result == EP_E_NOTFOUND) {
            /* Its request half is still on its way (another child's batch) or lost. */
            if (stopping || now_ms() - j->queued_ms > WRITER_JOIN_WAIT_MS)
                j->kind = EP_CAPTURE_OP_PUT;
            j->next = NULL;
            *again_end = j;
            again_end = &j->next;
            continue;
        }
        if (ops[i].result == 0 && ops[i].kind != EP_CAPTURE_OP_PENDING)
            event(w, EP_CAPTURE_WRITER_STORED);
        else if (ops[i].result && ops[i].result != *rc)
            ep_gate_log_error(w->gate, "cannot store a captured exchange", ops[i].result);
        job_free(j);
    }
out:
    ep_free(ops);
    return again;
}

/*
 * Take the queue and write it as one batch; responses to try again go
 * back to the front of the queue, ahead of what came meanwhile.
 */
static int write_queue(struct ep_capture_writer *w, bool stopping)
{
    struct job *list, *again = NULL, *j;
    int rc = 0;

    pthread_mutex_lock(&w->flush_lock);
    pthread_mutex_lock(&w->lock);
    list = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    pthread_mutex_unlock(&w->lock);
    if (list != NULL)
        again = write_batch(w, list, stopping, &rc);
    if (again != NULL) {
        pthread_mutex_lock(&w->lock);
        for (j = again; j->next; j = j->next)
            ;
        j->next = w->head;
        if (w->tail == NULL)
            w->tail = j;
        w->head = again;
        pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_unlock(&w->flush_lock);
    return rc;
}

int ep_capture_writer_flush(struct ep_capture_writer *w)
{
    return write_queue(w, false);
}

/*
 * The writer's thread: wait for jobs (or the prune's time), let a batch
 * gather, write it; at stop, write until nothing is left.
 */
static void *writer_thread(void *arg)
{
    struct ep_capture_writer *w = arg;
    int64_t next_prune = now_ms() + WRITER_PRUNE_MS;
    bool stop, empty;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stop && now_ms() < next_prune) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
        stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (!stop)
            usleep(WRITER_BATCH_MS * 1000); /* let a batch gather */
        pthread_mutex_lock(&w->lock);
        stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        write_queue(w, stop);
        if (now_ms() >= next_prune) {
            struct ep_store *store = NULL;
            int rc = ep_gate_store(w->gate, EP_CAPTURE_OPEN_FAILED, &store);

            if (store != NULL)
                rc = ep_capture_prune(store, &w->opts.limits, wall_us(), NULL);
            if (store != NULL && rc != 0)
                ep_gate_log_error(w->gate, "cannot apply retention", rc);
            next_prune = now_ms() + WRITER_PRUNE_MS;
        }
        pthread_mutex_lock(&w->lock);
        empty = w->head == NULL;
        pthread_mutex_unlock(&w->lock);
        if (stop && empty)
            break;
    }
    return NULL;
}

int ep_capture_writer_start(struct ep_gate *gate, const struct ep_capture_writer_options *opts,
                            struct ep_capture_writer **out)
{
    struct ep_capture_writer *w = ep_calloc(1, sizeof *w);
    int rc;

    *out = NULL;
    if (w == NULL)
        return EP_E_NOMEM;
    w->gate = gate;
    w->opts = *opts;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->flush_lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    rc = pthread_create(&w->thread, NULL, writer_thread, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->flush_lock);
        pthread_mutex_destroy(&w->lock);
        ep_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void ep_capture_writer_stop(struct ep_capture_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    jobs_free(w->head); /* nothing is left after the thread's last batches */
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->flush_lock);
    pthread_mutex_destroy(&w->lock);
    ep_free(w);
}
