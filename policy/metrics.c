/*
 * The Prometheus text of metrics.h: one snapshot of the counters file,
 * written family by family with every label combination (zeros
 * included), so a dashboard's series exist before the first request.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "policy/counters.h"
#include "policy/gate.h"
#include "policy/metrics.h"

struct writer {
    void (*put)(void *ctx, const char *text);
    void *ctx;
};

static void line(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(struct writer *w, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    w->put(w->ctx, text);
}

static void family(struct writer *w, const char *name, const char *type, const char *help)
{
    line(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The paths that decide, in the order they are written. */
static const enum ep_gate_path deciding[] = {EP_GATE_PATH_ACL, EP_GATE_PATH_ICAP, EP_GATE_PATH_DNS,
                                             EP_GATE_PATH_OTHER};

static const char *mode_label(unsigned mode)
{
    return mode == EP_COUNTERS_MODE_UNKNOWN ? "unknown" : ep_mode_name((enum ep_mode)mode);
}

static void write_decisions(struct writer *w, const uint64_t *v)
{
    family(w, "egress_decisions_total", "counter",
           "Requests decided, by front end, the project's mode and the verdict.");
    for (unsigned p = 0; p < sizeof deciding / sizeof deciding[0]; p++)
        for (unsigned m = 0; m < EP_COUNTERS_MODES; m++)
            for (unsigned d = 0; d < 2; d++)
                line(w,
                     "egress_decisions_total{path=\"%s\",mode=\"%s\",verdict=\"%s\"} %" PRIu64 "\n",
                     ep_gate_path_name(deciding[p]), mode_label(m), d ? "deny" : "allow",
                     v[EP_COUNTER_DECISION(deciding[p], m, d)]);
    family(w, "egress_recorded_total", "counter",
           "Requests handed to the recorder (counted in the store's seen records).");
    for (unsigned p = 0; p < sizeof deciding / sizeof deciding[0]; p++)
        line(w, "egress_recorded_total{path=\"%s\"} %" PRIu64 "\n", ep_gate_path_name(deciding[p]),
             v[EP_COUNTER_RECORDED(deciding[p])]);
    family(w, "egress_store_errors_total", "counter",
           "Store errors met by the programs that decide (the store missing, a failed read or "
           "write).");
    for (unsigned p = 0; p < sizeof deciding / sizeof deciding[0]; p++)
        line(w, "egress_store_errors_total{path=\"%s\"} %" PRIu64 "\n",
             ep_gate_path_name(deciding[p]), v[EP_COUNTER_STORE_ERRORS(deciding[p])]);
    family(w, "egress_store_readers_full_total", "counter",
           "Of the store errors, a full LMDB reader table (raise MaxReaders).");
    for (unsigned p = 0; p < sizeof deciding / sizeof deciding[0]; p++)
        line(w, "egress_store_readers_full_total{path=\"%s\"} %" PRIu64 "\n",
             ep_gate_path_name(deciding[p]), v[EP_COUNTER_READERS_FULL(deciding[p])]);
}

static void write_recorder(struct writer *w, const uint64_t *v)
{
    uint64_t cumulative = 0;
    uint64_t sum_us = v[EP_COUNTER_RECORDER_LAG_SUM_US];

    family(w, "egress_recorder_discoveries_total", "counter",
           "First requests of a (project, host) written at once by the recorders.");
    line(w, "egress_recorder_discoveries_total %" PRIu64 "\n", v[EP_COUNTER_RECORDER_DISCOVERIES]);
    family(w, "egress_recorder_flushes_total", "counter",
           "Recorder flushes that wrote summed counts in one transaction.");
    line(w, "egress_recorder_flushes_total %" PRIu64 "\n", v[EP_COUNTER_RECORDER_FLUSHES]);
    family(w, "egress_recorder_flush_errors_total", "counter",
           "Recorder flushes that failed (their counts stay pending for the next).");
    line(w, "egress_recorder_flush_errors_total %" PRIu64 "\n",
         v[EP_COUNTER_RECORDER_FLUSH_ERRORS]);
    family(w, "egress_recorder_flush_lag_seconds", "histogram",
           "Per flush: from the oldest count it wrote being noted to its commit.");
    for (unsigned b = 0; b < EP_COUNTERS_LAG_BUCKETS; b++) {
        cumulative += v[EP_COUNTER_RECORDER_LAG_BUCKET + b];
        if (b + 1 < EP_COUNTERS_LAG_BUCKETS)
            line(w, "egress_recorder_flush_lag_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                 (double)ep_counters_lag_bounds_us[b] / 1e6, cumulative);
        else
            line(w, "egress_recorder_flush_lag_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                 cumulative);
    }
    line(w, "egress_recorder_flush_lag_seconds_sum %" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000,
         sum_us % 1000000);
    line(w, "egress_recorder_flush_lag_seconds_count %" PRIu64 "\n", cumulative);
}

static void write_one(struct writer *w, const char *name, const char *help, uint64_t value)
{
    family(w, name, "counter", help);
    line(w, "%s %" PRIu64 "\n", name, value);
}

static void write_capture_dns(struct writer *w, const uint64_t *v)
{
    write_one(w, "egress_capture_exchanges_total", "LLM exchanges stored in conversations.",
              v[EP_COUNTER_CAPTURE_EXCHANGES]);
    write_one(w, "egress_capture_truncations_total",
              "Captured halves (request or response) whose body was cut at MaxBodySize.",
              v[EP_COUNTER_CAPTURE_TRUNCATIONS]);
    write_one(w, "egress_capture_errors_total",
              "Errors of the capture service (store, memory, a full queue); nothing is failed.",
              v[EP_COUNTER_STORE_ERRORS(EP_GATE_PATH_CAPTURE)]);
    write_one(w, "egress_dns_queries_total", "DNS queries egress-dns read.",
              v[EP_COUNTER_DNS_QUERIES]);
    write_one(w, "egress_dns_answered_total", "DNS queries answered as the upstream answered.",
              v[EP_COUNTER_DNS_ANSWERED]);
    write_one(w, "egress_dns_blocked_total", "DNS queries for names the policy denied.",
              v[EP_COUNTER_DNS_BLOCKED]);
    write_one(w, "egress_dns_refused_total", "DNS queries refused: an unknown client.",
              v[EP_COUNTER_DNS_REFUSED]);
    write_one(w, "egress_dns_rate_limited_total", "DNS queries refused by the rate limit.",
              v[EP_COUNTER_DNS_RATE_LIMITED]);
    write_one(w, "egress_dns_name_cap_hits_total", "Times a workspace hit the distinct-name cap.",
              v[EP_COUNTER_DNS_NAME_CAP]);
    write_one(w, "egress_dns_upstream_failures_total", "Upstream resolutions that failed.",
              v[EP_COUNTER_DNS_UPSTREAM_FAILURES]);
    write_one(w, "egress_dns_malformed_total", "Packets to egress-dns that were no readable query.",
              v[EP_COUNTER_DNS_MALFORMED]);
}

static int write_store(struct writer *w, struct ep_store *store)
{
    struct ep_store_usage u;
    int rc = ep_store_usage(store, &u);

    if (rc != 0)
        return rc;
    family(w, "egress_store_readers_in_use", "gauge",
           "LMDB reader slots in use now, all processes of the store.");
    line(w, "egress_store_readers_in_use %u\n", u.readers_used);
    family(w, "egress_store_readers_max", "gauge", "LMDB reader slots of the store.");
    line(w, "egress_store_readers_max %u\n", u.readers_max);
    family(w, "egress_store_map_used_bytes", "gauge", "Bytes of the store's map in use.");
    line(w, "egress_store_map_used_bytes %" PRIu64 "\n", u.map_used);
    family(w, "egress_store_map_size_bytes", "gauge",
           "The store's map size (a write past it fails with MDB_MAP_FULL).");
    line(w, "egress_store_map_size_bytes %" PRIu64 "\n", u.map_size);
    return 0;
}

int ep_metrics_write(const char *dir, struct ep_store *store,
                     void (*put)(void *ctx, const char *text), void *ctx)
{
    uint64_t v[EP_COUNTERS_SLOTS] = {0};
    struct writer w = {.put = put, .ctx = ctx};
    struct ep_counters *c;
    int rc, store_rc = 0;

    rc = ep_counters_open(dir, true, &c);
    if (rc == 0) {
        ep_counters_snapshot(c, v);
        ep_counters_close(c);
    }
    family(&w, "egress_counters_readable", "gauge",
           "1 when the shared counters file of the store was read (0: no counters below).");
    line(&w, "egress_counters_readable %d\n", rc == 0 || rc == ENOENT);
    if (rc == ENOENT) {
        /* No program has counted yet: every counter is zero. */
        rc = 0;
    }
    if (rc == 0) {
        write_decisions(&w, v);
        write_recorder(&w, v);
        write_capture_dns(&w, v);
    }
    if (store != NULL)
        store_rc = write_store(&w, store);
    return rc != 0 ? rc : store_rc;
}
