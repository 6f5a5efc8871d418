/*
 * GET /metrics: Prometheus text format. Request counts are kept in a small
 * table keyed by (method, route pattern, status); route patterns are a
 * fixed set, so the table cannot grow with what callers send. The store
 * figures (projects by mode, rules, recorded hosts) are read per scrape.
 * After them, the proxy side's metrics of the same store, summed over
 * every process that decides (policy/metrics.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "policy/metrics.h"

#define METRICS_SLOTS 512

struct counter {
    char method[16];
    const char *route;
    unsigned status;
    unsigned long long count;
};

static struct counter counters[METRICS_SLOTS];
static unsigned counters_used;
static unsigned long long counters_dropped;
static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;

void metrics_count_request(const char *method, const char *route, unsigned status)
{
    unsigned i;

    pthread_mutex_lock(&counters_lock);
    for (i = 0; i < counters_used; i++)
        if (counters[i].status == status && strcmp(counters[i].route, route) == 0 &&
            strcmp(counters[i].method, method) == 0)
            break;
    if (i == counters_used && i < METRICS_SLOTS) {
        snprintf(counters[i].method, sizeof counters[i].method, "%s", method);
        counters[i].route = route;
        counters[i].status = status;
        counters_used++;
    }
    if (i < METRICS_SLOTS)
        counters[i].count++;
    else
        counters_dropped++;
    pthread_mutex_unlock(&counters_lock);
}

struct metrics_buf {
    char *text;
    size_t len;
    size_t cap;
    int failed;
};

static void put(struct metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len)
            break;
        size_t cap = b->cap * 2 + (size_t)n;
        char *t = ep_realloc(b->text, cap);

        if (t == NULL) {
            b->failed = 1;
            return;
        }
        b->text = t;
        b->cap = cap;
    }
    b->len += (size_t)n;
}

/* The proxy side's text (policy/metrics.h), appended piece by piece. */
static void put_text(void *ctx, const char *text)
{
    put(ctx, "%s", text);
}

static int count_mode(void *ctx, const struct ep_project *p)
{
    unsigned long long *by_mode = ctx;

    if (p->mode <= EP_MODE_LOGGING)
        by_mode[p->mode]++;
    return 0;
}

static int sum_rules(void *ctx, const struct ep_profile_info *p)
{
    *(unsigned long long *)ctx += p->rules;
    return 0;
}

void metrics_handle(struct http_request *r)
{
    struct metrics_buf b = {.cap = 4096};
    unsigned long long by_mode[3] = {0, 0, 0}, rules = 0;
    struct ep_profile_info base;
    uint64_t seen = 0;
    int err;

    b.text = ep_malloc(b.cap);
    if (b.text == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return;
    }
    b.text[0] = '\0';
    put(&b, "# HELP egress_api_requests_total Requests answered, by method, route and status.\n"
            "# TYPE egress_api_requests_total counter\n");
    pthread_mutex_lock(&counters_lock);
    for (unsigned i = 0; i < counters_used; i++)
        put(&b, "egress_api_requests_total{method=\"%s\",route=\"%s\",status=\"%u\"} %llu\n",
            counters[i].method, counters[i].route, counters[i].status, counters[i].count);
    put(&b, "egress_api_requests_uncounted_total %llu\n", counters_dropped);
    pthread_mutex_unlock(&counters_lock);

    err = ep_store_projects_list(r->ctx->store, count_mode, by_mode);
    if (err == 0)
        err = ep_store_profiles_list(r->ctx->store, sum_rules, &rules);
    if (err == 0 && ep_store_profile_get(r->ctx->store, EP_PROFILE_BASE, &base) == 0)
        rules += base.rules;
    if (err == 0)
        err = ep_store_seen_total(r->ctx->store, &seen);
    if (err) {
        free(b.text);
        http_error_store(r, err, "metrics");
        return;
    }
    put(&b, "# HELP egress_projects Projects, by proxy mode.\n# TYPE egress_projects gauge\n");
    for (int m = EP_MODE_NONE; m <= EP_MODE_LOGGING; m++)
        put(&b, "egress_projects{mode=\"%s\"} %llu\n", ep_mode_name((enum ep_mode)m), by_mode[m]);
    put(&b,
        "# HELP egress_rules Whitelist rules in all profiles, base domains included.\n"
        "# TYPE egress_rules gauge\negress_rules %llu\n",
        rules);
    put(&b,
        "# HELP egress_recorded_hosts Recorded (project, host) pairs.\n"
        "# TYPE egress_recorded_hosts gauge\negress_recorded_hosts %llu\n",
        (unsigned long long)seen);
    ep_metrics_write(r->ctx->cfg->db_dir, r->ctx->store, put_text, &b);
    if (b.failed)
        http_error(r, 500, "internal", "out of memory");
    else
        http_reply_text(r, 200, "text/plain; version=0.0.4", b.text);
    free(b.text);
}
