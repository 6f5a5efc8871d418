/**
 * @file directives.h
 * @brief The directive parsers both c-icap services share (srv_egress,
 * srv_capture): c-icap calls them from its `ci_conf_entry` tables with a
 * directive's words, and each refusal names the directive, the value and
 * what is wrong, on c-icap's log.
 *
 * Sizes and durations go through the one parser of policy/size.h. Each
 * function returns 1 (value stored in *out) or 0 (refused, *out
 * untouched), as c-icap's table callbacks do; @p module is the service's
 * name ("egress", "capture"), the prefix of its directives.
 */
#ifndef EP_ICAP_DIRECTIVES_H
#define EP_ICAP_DIRECTIVES_H

#include <stddef.h>
#include <stdint.h>

#include "policy/gate.h"

/**
 * One of the store and decision options every program that decides
 * shares (policy/gate.h: their one set of bounds), into @p opts.
 */
int icap_directive_gate(const char *module, const char *directive, const char **argv,
                        struct ep_gate_options *opts, enum ep_gate_option opt);

/** A size (512m, 1g) from @p min to @p max bytes. */
int icap_directive_size(const char *module, const char *directive, const char **argv, uint64_t min,
                        uint64_t max, uint64_t *out);

/** A duration (500ms, 1s, 30d; a bare number counts @p bare_ms) from @p min_ms to @p max_ms. */
int icap_directive_duration(const char *module, const char *directive, const char **argv,
                            uint64_t bare_ms, uint64_t min_ms, uint64_t max_ms, uint64_t *out);

/** A whole number from @p min to @p max. */
int icap_directive_count(const char *module, const char *directive, const char **argv, unsigned min,
                         unsigned max, unsigned *out);

#endif
