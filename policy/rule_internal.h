/*
 * Private to the policy core (rule.c and covers.c): regex compilation as
 * the parser checks it and as the reference matcher runs it. The public
 * interfaces are rule.h and covers.h.
 */
#ifndef EP_RULE_INTERNAL_H
#define EP_RULE_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stddef.h>

/*
 * Limits for one regex match against a host of at most 253 characters.
 * They are far above what any sensible host pattern needs and stop a
 * pattern with catastrophic backtracking from stalling the caller.
 */
#define RULE_REGEX_MATCH_LIMIT 1000000
#define RULE_REGEX_DEPTH_LIMIT 10000

/*
 * Compile @p pattern anchored at both ends, with pcre2's allocations
 * routed through ep_malloc (*gctx receives the general context to free
 * after the code). On failure returns NULL and sets *@p err to an EP_E_*
 * code and, for a pattern error, @p why to pcre2's message and offset.
 */
__attribute__((visibility("hidden"))) pcre2_code *rule_regex_compile(const char *pattern,
                                                                     pcre2_general_context **gctx,
                                                                     int *err, char *why,
                                                                     size_t whysz);

#endif
