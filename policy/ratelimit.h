/**
 * @file ratelimit.h
 * @brief At most one event per interval, and a count of the others.
 *
 * The gate (gate.h) of egress-acl and the two c-icap services uses it
 * twice: to try again to open a store that did not open (at most once per interval, so a
 * missing store is picked up without a restart and without an attempt per
 * request) and to log store errors (one line per interval, saying how many
 * similar ones were left out, so a broken store does not bury the log).
 *
 * Caveats: a limiter is thread-safe and needs no setup: a zeroed one (a
 * static, or a member of a zeroed struct) lets its first event through.
 * Time is the monotonic clock, in milliseconds.
 */
#ifndef EP_RATELIMIT_H
#define EP_RATELIMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/** A limiter: when the next event may pass, and how many were refused since the last one. */
struct ep_ratelimit {
    _Atomic int64_t next_ms;
    _Atomic unsigned long refused;
};

/**
 * Whether an event may happen now: true for the first call at or after the
 * limiter's next time, which then becomes now plus @p interval_ms (of
 * threads calling at once, one gets true); false otherwise, and the call
 * is counted as refused.
 * @param refused if not NULL, receives on true how many calls were refused
 *                since the last true (the count starts again at 0)
 */
bool ep_ratelimit_pass(struct ep_ratelimit *rl, unsigned interval_ms, unsigned long *refused);

#endif
