/*
 * At most one event per interval (ratelimit.h): a compare-and-swap on the
 * next time lets exactly one caller through when it is due.
 */
#include "config.h"

#include <time.h>

#include "policy/ratelimit.h"

static int64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool ep_ratelimit_pass(struct ep_ratelimit *rl, unsigned interval_ms, unsigned long *refused)
{
    int64_t now = monotonic_ms();
    int64_t next = atomic_load(&rl->next_ms);

    if (now < next || !atomic_compare_exchange_strong(&rl->next_ms, &next, now + interval_ms)) {
        atomic_fetch_add(&rl->refused, 1);
        return false;
    }
    if (refused)
        *refused = atomic_exchange(&rl->refused, 0);
    else
        atomic_store(&rl->refused, 0);
    return true;
}
