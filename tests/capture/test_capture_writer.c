/*
 * The capture's batch writer (policy/capture_writer.h) over a gate: a
 * request half and its response joined into one stored exchange (parsed
 * for the list's summary), a response whose request never comes stored
 * alone and marked incomplete at stop, a request half without a join key
 * not queued, a cut body counted (also in the store's shared counters),
 * and a store that cannot be opened:
 * the batch is lost, and that is logged through the gate.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/capture_writer.h"
#include "policy/counters.h"
#include "tests/store/storetest.h"

#define REQUEST_BODY                                                                               \
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hello writer\"}]}"
#define RESPONSE_BODY                                                                              \
    "{\"model\":\"gpt-4o\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"         \
    "\"hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}" \
    "}"

static unsigned stored, truncated;
static int error_lines;
static char last_error[1024];

static void count_cb(void *ctx, enum ep_capture_writer_event event)
{
    (void)ctx;
    if (event == EP_CAPTURE_WRITER_STORED)
        stored++;
    else if (event == EP_CAPTURE_WRITER_TRUNCATED)
        truncated++;
}

static void log_cb(void *ctx, enum ep_gate_log_kind kind, const char *line)
{
    (void)ctx;
    (void)kind;
    error_lines++;
    snprintf(last_error, sizeof last_error, "%s", line);
}

struct seen {
    unsigned n;
    uint32_t flags, last_flags;
    uint32_t status;
    uint64_t input_tokens;
    char first_user[64], path[64], request_body[256];
};

static int list_cb(void *ctx, const struct ep_capture *c)
{
    struct seen *s = ctx;

    s->last_flags = c->flags;
    if (s->n++ == 0) {
        s->flags = c->flags;
        s->status = c->status;
        s->input_tokens = c->input_tokens;
        snprintf(s->first_user, sizeof s->first_user, "%.*s", (int)c->first_user.n,
                 c->first_user.p);
        snprintf(s->path, sizeof s->path, "%.*s", (int)c->path.n, c->path.p);
        snprintf(s->request_body, sizeof s->request_body, "%.*s", (int)c->request_body.n,
                 c->request_body.p);
    }
    return 0;
}

static struct ep_gate *gate_on(const char *dir)
{
    struct ep_gate_hooks hooks = {.log = log_cb, .count = NULL, .ctx = NULL};
    struct ep_gate_options o;
    struct ep_gate *g = NULL;

    ep_gate_options_default(&o);
    snprintf(o.database, sizeof o.database, "%s", dir);
    o.record = false;
    o.interval_ms = 3600 * 1000;
    REQUIRE(ep_gate_new(&o, &hooks, &g) == 0);
    return g;
}

static struct ep_capture_writer *writer_on(struct ep_gate *g)
{
    struct ep_capture_writer_options wo = {
        .limits = {.retention_s = 0, .project_max = 0},
        .max_body = 1 << 20,
        .count = count_cb,
        .ctx = NULL,
    };
    struct ep_capture_writer *w = NULL;

    REQUIRE(ep_capture_writer_start(g, &wo, &w) == 0);
    return w;
}

/* A half as srv_capture hands it over: its buffers ep_malloc'd. */
static struct ep_capture_half half(bool response, const char *key, const char *body)
{
    struct ep_capture_half h;

    memset(&h, 0, sizeof h);
    h.response = response;
    h.eof = true;
    h.time_us = 1700000000000000;
    h.status = response ? 200 : 0;
    h.size = strlen(body);
    h.project = "teacher";
    h.key = key;
    h.host = "api.openai.com";
    h.method = "POST";
    h.content_type = "application/json";
    h.path = ep_strdup("/v1/chat/completions");
    h.headers = ep_strdup("Content-Type: application/json\r\n");
    h.headers_n = strlen(h.headers);
    h.body = ep_strdup(body);
    h.body_n = strlen(body);
    REQUIRE(h.path && h.headers && h.body);
    return h;
}

static struct seen list(struct ep_gate *g)
{
    struct ep_store *s = NULL;
    struct seen out;

    memset(&out, 0, sizeof out);
    REQUIRE(ep_gate_store(g, NULL, &s) == 0);
    REQUIRE(ep_capture_list(s, "teacher", list_cb, &out) == 0);
    return out;
}

static void test_join_and_alone(void)
{
    const char *dir = store_dir("writer");
    struct ep_store *s = store_open_dir(dir, 0);
    struct ep_capture_half h;
    struct ep_capture_writer *w;
    struct ep_gate *g;
    struct seen got;
    struct ep_counters *counters;
    uint64_t v[EP_COUNTERS_SLOTS];

    project_add(s, "teacher", "default", EP_MODE_LOGGING, "10.0.0.4");
    ep_store_close(s);
    g = gate_on(dir);
    w = writer_on(g);

    /* Both halves of one exchange: one stored exchange, merged and parsed. */
    h = half(false, "17 10.0.0.4", REQUEST_BODY);
    CHECK_INT(ep_capture_writer_submit(w, &h), 0);
    CHECK(h.path == NULL && h.headers == NULL && h.body == NULL);
    h = half(true, "17 10.0.0.4", RESPONSE_BODY);
    CHECK_INT(ep_capture_writer_submit(w, &h), 0);
    CHECK_INT(ep_capture_writer_flush(w), 0);
    got = list(g);
    CHECK_INT(got.n, 1);
    CHECK_INT(stored, 1);
    CHECK_INT(got.status, 200);
    CHECK_INT(got.input_tokens, 7);
    CHECK_STR(got.first_user, "hello writer");
    CHECK_STR(got.path, "/v1/chat/completions");
    CHECK_STR(got.request_body, REQUEST_BODY);
    CHECK_INT(got.flags & EP_CAPTURE_INCOMPLETE, 0);

    /* A request half without a join key is not queued: nothing can find it. */
    h = half(false, "", REQUEST_BODY);
    CHECK_INT(ep_capture_writer_submit(w, &h), 0);
    CHECK_INT(ep_capture_writer_flush(w), 0);
    CHECK_INT(list(g).n, 1);

    /* A cut body is counted when it is submitted. */
    h = half(false, "18 10.0.0.4", REQUEST_BODY);
    h.truncated = true;
    CHECK_INT(ep_capture_writer_submit(w, &h), 0);
    CHECK_INT(truncated, 1);

    /* A response whose request half never comes waits; at stop it is stored alone, incomplete. */
    h = half(true, "19 10.0.0.4", RESPONSE_BODY);
    CHECK_INT(ep_capture_writer_submit(w, &h), 0);
    CHECK_INT(ep_capture_writer_flush(w), 0);
    CHECK_INT(list(g).n, 1);
    ep_capture_writer_stop(w);
    got = list(g);
    CHECK_INT(got.n, 2);
    CHECK_INT(stored, 2);
    CHECK(got.last_flags & EP_CAPTURE_INCOMPLETE);
    CHECK_INT(error_lines, 0);
    ep_gate_free(g);

    /* The same counts in the store's shared counters (policy/counters.h). */
    REQUIRE(ep_counters_open(dir, true, &counters) == 0);
    ep_counters_snapshot(counters, v);
    ep_counters_close(counters);
    CHECK_INT(v[EP_COUNTER_CAPTURE_EXCHANGES], 2);
    CHECK_INT(v[EP_COUNTER_CAPTURE_TRUNCATIONS], 1);
}

/*
 * No store: the batch is lost, counted twice through the gate (the try to
 * open, the lost batch) and logged once (one line per interval), whichever
 * of the writer's thread and the flush took the batch.
 */
static void test_store_missing(void)
{
    char missing[512];
    struct ep_capture_half h;
    struct ep_capture_writer *w;
    struct ep_gate_counts n;
    struct ep_gate *g;
    int rc;

    snprintf(missing, sizeof missing, "%s/missing", test_tmpdir());
    error_lines = 0;
    stored = 0;
    g = gate_on(missing);
    w = writer_on(g);
    h = half(false, "20 10.0.0.4", REQUEST_BODY);
    CHECK_INT(ep_capture_writer_submit(w, &h), 0);
    rc = ep_capture_writer_flush(w);
    CHECK(rc == EP_E_NOTFOUND || rc == 0);
    ep_capture_writer_stop(w);
    ep_gate_counts(g, &n);
    CHECK_INT(n.errors, 2);
    CHECK_INT(error_lines, 1);
    CHECK(strstr(last_error, EP_CAPTURE_OPEN_FAILED) == last_error);
    CHECK_INT(stored, 0);
    ep_gate_free(g);
}

int main(void)
{
    test_join_and_alone();
    test_store_missing();
    return test_exit();
}
