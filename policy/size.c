/*
 * The one size, duration and CPU count parser (see size.h). Everything is
 * integer arithmetic, so "1.5g" is exactly 1610612736 and "0.3" CPUs
 * exactly 300000000 nano-CPUs: nothing is lost to a double.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>

#include "policy/error.h"
#include "policy/size.h"

static const struct {
    char unit;
    unsigned shift;
} units[] = {{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}};

__attribute__((format(printf, 5, 6))) static int fail_as(const char *what, char *why, size_t whysz,
                                                         const char *text, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (why == NULL || whysz == 0)
        return EP_E_INVAL;
    n = snprintf(why, whysz, "\"%.40s\" is not a %s: ", text, what);
    if (n >= 0 && (size_t)n < whysz) {
        va_start(ap, fmt);
        vsnprintf(why + n, whysz - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return EP_E_INVAL;
}

int ep_size_parse(const char *text, uint64_t *out, char *why, size_t whysz)
{
    uint64_t whole = 0, frac = 0, scale = 1, result;
    const char *p = text;
    unsigned shift = 0;
    bool unit = false;

    if (why != NULL && whysz > 0)
        why[0] = '\0';
    if (text == NULL || text[0] == '\0')
        return fail_as("size", why, whysz, "", "it is empty (write e.g. 512m or 4g)");
    if (*p == '-' || *p == '+')
        return fail_as("size", why, whysz, text, "a size has no sign");
    if (*p < '0' || *p > '9')
        return fail_as("size", why, whysz, text,
                       "it does not start with a digit (write e.g. 512m or 4g)");
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return fail_as("size", why, whysz, text, "it is too large");
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return fail_as("size", why, whysz, text, "no digit after the decimal point");
        /* Up to 12 fraction digits count; more cannot change a byte count of a terabyte. */
        for (; *p >= '0' && *p <= '9'; p++) {
            if (scale < 1000000000000ull) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
        }
    }
    if (*p != '\0') {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if ((*p | 0x20) == units[i].unit) {
                shift = units[i].shift;
                unit = true;
                p++;
                break;
            }
        }
        if (!unit)
            return fail_as("size", why, whysz, text, "unknown unit \"%c\" (use k, m, g or t)", *p);
        if (*p != '\0')
            return fail_as("size", why, whysz, text, "unexpected \"%.20s\" after the unit", p);
    }
    if (scale > 1 && !unit)
        return fail_as("size", why, whysz, text, "a fraction needs a unit (k, m, g or t)");
    if (whole > (UINT64_MAX >> shift))
        return fail_as("size", why, whysz, text, "it is too large");
    result = whole << shift;
    if (scale > 1) {
        /*
         * frac / scale of one unit, rounded down (frac < scale <= 10^12, so
         * 128 bits hold it). It is below one unit, and whole + 1 units fit
         * in 64 bits (checked above), so the sum cannot overflow.
         */
        result += (uint64_t)(((unsigned __int128)frac << shift) / scale);
    }
    *out = result;
    return 0;
}

void ep_size_format(uint64_t bytes, char *out)
{
    for (size_t i = sizeof units / sizeof units[0]; i-- > 0;) {
        uint64_t mask = ((uint64_t)1 << units[i].shift) - 1;

        if (bytes != 0 && (bytes & mask) == 0) {
            snprintf(out, EP_SIZE_BUFSZ, "%llu%c", (unsigned long long)(bytes >> units[i].shift),
                     units[i].unit);
            return;
        }
    }
    snprintf(out, EP_SIZE_BUFSZ, "%llu", (unsigned long long)bytes);
}

static const struct {
    const char *unit;
    uint64_t ms;
} time_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

int ep_duration_parse(const char *text, uint64_t bare_ms, uint64_t *ms, char *why, size_t whysz)
{
    static const char example[] = "(write e.g. 500ms, 1s, 10m, 12h or 30d)";
    uint64_t whole = 0, mult = bare_ms;
    const char *p = text;

    if (why != NULL && whysz > 0)
        why[0] = '\0';
    if (text == NULL || text[0] == '\0')
        return fail_as("duration", why, whysz, "", "it is empty %s", example);
    if (*p == '-' || *p == '+')
        return fail_as("duration", why, whysz, text, "a duration has no sign");
    if (*p < '0' || *p > '9')
        return fail_as("duration", why, whysz, text, "it does not start with a digit %s", example);
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return fail_as("duration", why, whysz, text, "it is too large");
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.')
        return fail_as("duration", why, whysz, text, "a duration is whole (use a smaller unit)");
    if (*p != '\0') {
        size_t i;

        for (i = 0; i < sizeof time_units / sizeof time_units[0]; i++)
            if (strcasecmp(p, time_units[i].unit) == 0)
                break;
        if (i == sizeof time_units / sizeof time_units[0])
            return fail_as("duration", why, whysz, text,
                           "unknown unit \"%.20s\" (use ms, s, m, h or d)", p);
        mult = time_units[i].ms;
    }
    if (mult != 0 && whole > UINT64_MAX / mult)
        return fail_as("duration", why, whysz, text, "it is too large");
    *ms = whole * mult;
    return 0;
}

/*
 * Digits and an optional fraction, in integer arithmetic: the first nine
 * fraction digits are nano-CPUs, the tenth rounds (5 and up: one more),
 * the rest cannot change the result.
 */
int ep_cpus_parse(const char *text, uint64_t *nano_cpus, char *why, size_t whysz)
{
    static const char example[] = "(write e.g. 2, 1.5 or 0.25)";
    uint64_t whole = 0, frac = 0, scale = 1, round = 0;
    const char *p = text;

    if (why != NULL && whysz > 0)
        why[0] = '\0';
    if (text == NULL || text[0] == '\0')
        return fail_as("CPU count", why, whysz, "", "it is empty %s", example);
    if (*p == '-' || *p == '+')
        return fail_as("CPU count", why, whysz, text, "a CPU count has no sign");
    if (*p < '0' || *p > '9')
        return fail_as("CPU count", why, whysz, text, "it does not start with a digit %s", example);
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return fail_as("CPU count", why, whysz, text, "it is too large");
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return fail_as("CPU count", why, whysz, text, "no digit after the decimal point");
        for (size_t digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 9) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            } else if (digits == 9) {
                round = *p >= '5';
            }
        }
    }
    if (*p != '\0')
        return fail_as("CPU count", why, whysz, text,
                       "unexpected \"%.20s\" (a plain decimal number, no unit or exponent)", p);
    frac = frac * (EP_NANO_PER_CPU / scale) + round;
    if (whole > (UINT64_MAX - frac) / EP_NANO_PER_CPU)
        return fail_as("CPU count", why, whysz, text, "it is too large");
    *nano_cpus = whole * EP_NANO_PER_CPU + frac;
    return 0;
}
