/**
 * @file metrics.h
 * @brief The proxy side's metrics as Prometheus text: the shared counters
 * of every process that decides (counters.h) and the store's gauges.
 *
 * egress-api serves this text at GET /metrics after its own request
 * metrics. Any program that can open the store can serve it the same way
 * (the node agent, for a node without egress-api): every figure is of the
 * store directory given, so of one node. No label has unbounded values:
 * path (other, acl, icap, dns; capture for errors), mode (none, security,
 * logging, unknown), verdict (allow, deny) and the lag buckets' le.
 *
 * The families (all counters end in _total):
 * - egress_decisions_total{path,mode,verdict}: every ep_gate_decide()
 *   (a second look squid asks for, such as the SNI step of an explicit
 *   CONNECT with "norecord", is a decision too; ip: rule and bump
 *   questions are not)
 * - egress_recorded_total{path}: requests handed to the recorder
 * - egress_store_errors_total{path}, egress_store_readers_full_total{path}
 * - egress_store_readers_in_use, egress_store_readers_max,
 *   egress_store_map_used_bytes, egress_store_map_size_bytes (gauges)
 * - egress_recorder_discoveries_total, egress_recorder_flushes_total,
 *   egress_recorder_flush_errors_total, and the histogram
 *   egress_recorder_flush_lag_seconds (_bucket{le}, _sum, _count)
 * - egress_capture_exchanges_total, egress_capture_truncations_total,
 *   egress_capture_errors_total (the capture gate's errors)
 * - egress_dns_queries_total, egress_dns_blocked_total,
 *   egress_dns_refused_total, egress_dns_rate_limited_total,
 *   egress_dns_name_cap_hits_total, egress_dns_upstream_failures_total
 * - egress_counters_readable: 1 when the counters file was read, 0 when
 *   it could not be (then no counter family is written).
 */
#ifndef EP_METRICS_H
#define EP_METRICS_H

#include "policy/store.h"

/**
 * Write the metrics of the store in directory @p dir: the counters file
 * there (mapped read-only for this call) and, when @p store is not NULL,
 * its gauges (ep_store_usage()). The text goes to @p put in pieces of
 * whole lines.
 * @return 0, or the error that left something out (the text says what:
 *         egress_counters_readable 0, or no store gauges).
 */
int ep_metrics_write(const char *dir, struct ep_store *store,
                     void (*put)(void *ctx, const char *text), void *ctx);

#endif
