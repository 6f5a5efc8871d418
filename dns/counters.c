/*
 * egress-dns's counters: atomic totals behind dns_count(), the one place
 * an event is counted (counters.h).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>

#include "dns/counters.h"

static _Atomic uint64_t dns_totals[DNS_COUNTERS];

static const char *const dns_counter_names[DNS_COUNTERS] = {
    "queries",      "answered", "blocked",           "refused",
    "rate-limited", "name-cap", "upstream-failures", "malformed",
};

void dns_count(enum dns_counter counter)
{
    if (counter < DNS_COUNTERS)
        atomic_fetch_add_explicit(&dns_totals[counter], 1, memory_order_relaxed);
}

uint64_t dns_count_total(enum dns_counter counter)
{
    return counter < DNS_COUNTERS ? atomic_load(&dns_totals[counter]) : 0;
}

const char *dns_count_name(enum dns_counter counter)
{
    return counter < DNS_COUNTERS ? dns_counter_names[counter] : "?";
}

void dns_count_format(char *out, unsigned long size)
{
    unsigned long used = 0;

    if (size == 0)
        return;
    out[0] = '\0';
    for (int c = 0; c < DNS_COUNTERS && used < size; c++) {
        int n = snprintf(out + used, size - used, "%s%s=%llu", c ? " " : "", dns_counter_names[c],
                         (unsigned long long)dns_count_total(c));
        if (n < 0)
            break;
        used += (unsigned long)n;
    }
}
