/*
 * egress-dns's counters: atomic totals behind dns_count(), the one place
 * an event is counted (counters.h).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>

#include "dns/counters.h"
#include "policy/counters.h"
#include "policy/gate.h"

static _Atomic uint64_t dns_totals[DNS_COUNTERS];
static struct ep_gate *shared_gate;

/* Each counter's slot in the shared counters file (policy/counters.h). */
static const enum ep_counter dns_shared_slots[DNS_COUNTERS] = {
    [DNS_COUNT_QUERIES] = EP_COUNTER_DNS_QUERIES,
    [DNS_COUNT_ANSWERED] = EP_COUNTER_DNS_ANSWERED,
    [DNS_COUNT_BLOCKED] = EP_COUNTER_DNS_BLOCKED,
    [DNS_COUNT_REFUSED] = EP_COUNTER_DNS_REFUSED,
    [DNS_COUNT_RATE_LIMITED] = EP_COUNTER_DNS_RATE_LIMITED,
    [DNS_COUNT_NAME_CAP] = EP_COUNTER_DNS_NAME_CAP,
    [DNS_COUNT_UPSTREAM_FAIL] = EP_COUNTER_DNS_UPSTREAM_FAILURES,
    [DNS_COUNT_MALFORMED] = EP_COUNTER_DNS_MALFORMED,
};

void dns_count_attach(struct ep_gate *gate)
{
    shared_gate = gate;
}

static const char *const dns_counter_names[DNS_COUNTERS] = {
    "queries",      "answered", "blocked",           "refused",
    "rate-limited", "name-cap", "upstream-failures", "malformed",
};

void dns_count(enum dns_counter counter)
{
    if (counter >= DNS_COUNTERS)
        return;
    atomic_fetch_add_explicit(&dns_totals[counter], 1, memory_order_relaxed);
    if (shared_gate != NULL)
        ep_gate_counter_add(shared_gate, dns_shared_slots[counter], 1);
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
