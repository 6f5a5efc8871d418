/*
 * The directive parsers of both c-icap services (see directives.h).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <c_icap/debug.h>

#include "icap/directives.h"
#include "policy/size.h"

/* Every directive takes exactly one value; say which directive when not. */
static bool one_value(const char *module, const char *directive, const char **argv)
{
    if (argv == NULL || argv[0] == NULL || argv[1] != NULL) {
        ci_debug_printf(1, "%s: %s.%s takes exactly one value\n", module, module, directive);
        return false;
    }
    return true;
}

int icap_directive_gate(const char *module, const char *directive, const char **argv,
                        struct ep_gate_options *opts, enum ep_gate_option opt)
{
    char why[256];

    if (!one_value(module, directive, argv))
        return 0;
    if (ep_gate_option_set(opts, opt, argv[0], why, sizeof why) != 0) {
        ci_debug_printf(1, "%s: %s.%s: %s\n", module, module, directive, why);
        return 0;
    }
    return 1;
}

int icap_directive_size(const char *module, const char *directive, const char **argv, uint64_t min,
                        uint64_t max, uint64_t *out)
{
    char why[160], low[EP_SIZE_BUFSZ], high[EP_SIZE_BUFSZ];
    uint64_t n;

    if (!one_value(module, directive, argv))
        return 0;
    if (ep_size_parse(argv[0], &n, why, sizeof why) != 0) {
        ci_debug_printf(1, "%s: %s.%s: %s\n", module, module, directive, why);
        return 0;
    }
    if (n < min || n > max) {
        ep_size_format(min, low);
        ep_size_format(max, high);
        ci_debug_printf(1, "%s: %s.%s must be a size from %s to %s, not '%s'\n", module, module,
                        directive, low, high, argv[0]);
        return 0;
    }
    *out = n;
    return 1;
}

int icap_directive_duration(const char *module, const char *directive, const char **argv,
                            uint64_t bare_ms, uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
    char why[160];
    uint64_t ms;

    if (!one_value(module, directive, argv))
        return 0;
    if (ep_duration_parse(argv[0], bare_ms, &ms, why, sizeof why) != 0) {
        ci_debug_printf(1, "%s: %s.%s: %s\n", module, module, directive, why);
        return 0;
    }
    if (ms < min_ms || ms > max_ms) {
        ci_debug_printf(1, "%s: %s.%s must be a time from %llums to %llums, not '%s'\n", module,
                        module, directive, (unsigned long long)min_ms, (unsigned long long)max_ms,
                        argv[0]);
        return 0;
    }
    *out = ms;
    return 1;
}

int icap_directive_count(const char *module, const char *directive, const char **argv, unsigned min,
                         unsigned max, unsigned *out)
{
    unsigned long long n;
    char *end;

    if (!one_value(module, directive, argv))
        return 0;
    errno = 0;
    n = strtoull(argv[0], &end, 10);
    if (argv[0][0] < '0' || argv[0][0] > '9' || *end != '\0' || errno != 0 || n < min || n > max) {
        ci_debug_printf(1, "%s: %s.%s must be a number from %u to %u, not '%s'\n", module, module,
                        directive, min, max, argv[0]);
        return 0;
    }
    *out = (unsigned)n;
    return 1;
}
