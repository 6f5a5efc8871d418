/**
 * @file error.h
 * @brief Error codes and the allocation wrapper shared by every policy module.
 *
 * Every function of the policy core returns an int: 0 on success, one of
 * the EP_E_* codes below (our own negative range, clear of LMDB's
 * -30800..-30780), an LMDB MDB_* code passed through, or a positive errno.
 * ep_strerror() turns any of them into a sentence a user can act on.
 */
#ifndef EP_ERROR_H
#define EP_ERROR_H

#include <stddef.h>

/** @name Error codes (negative, below LMDB's range) */
/** @{ */
#define EP_E_BASE          (-32000)
#define EP_E_HOST_EMPTY    (EP_E_BASE - 1) /**< host is empty */
#define EP_E_HOST_TOO_LONG (EP_E_BASE - 2) /**< over 253 characters */
#define EP_E_HOST_CHAR                                                                             \
    (EP_E_BASE - 3) /**< control char, space or a character hosts never contain */
#define EP_E_HOST_LABEL   (EP_E_BASE - 4)  /**< empty, over-long or hyphen-edged label, or ".." */
#define EP_E_HOST_IDN     (EP_E_BASE - 5)  /**< not valid IDNA 2008 */
#define EP_E_HOST_PERCENT (EP_E_BASE - 6)  /**< bad percent-escape */
#define EP_E_HOST_PORT    (EP_E_BASE - 7)  /**< port present but not a number 1..65535 */
#define EP_E_HOST_BRACKET (EP_E_BASE - 8)  /**< bad [v6] literal */
#define EP_E_RULE_SCHEME  (EP_E_BASE - 20) /**< rule has a scheme (http://) */
#define EP_E_RULE_PATH    (EP_E_BASE - 21) /**< rule has a path, query or fragment */
#define EP_E_RULE_PORT    (EP_E_BASE - 22) /**< rule has a port */
#define EP_E_RULE_PUBLIC_SUFFIX                                                                    \
    (EP_E_BASE - 23) /**< rule covers a whole public suffix (.com, *.co.uk) */
#define EP_E_RULE_WILDCARD   (EP_E_BASE - 24) /**< '*' anywhere but a leading "*." */
#define EP_E_RULE_REGEX      (EP_E_BASE - 25) /**< regex does not compile */
#define EP_E_RULE_REGEX_LONG (EP_E_BASE - 26) /**< regex longer than EP_REGEX_MAX */
#define EP_E_RULE_IP         (EP_E_BASE - 27) /**< bad ip: rule, or a bare IP without "ip:" */
#define EP_E_NOTFOUND        (EP_E_BASE - 40) /**< no such project, client, rule or profile */
#define EP_E_EXISTS          (EP_E_BASE - 41) /**< already there */
#define EP_E_CONFLICT        (EP_E_BASE - 42) /**< held by another project (an IP) */
#define EP_E_LIMIT           (EP_E_BASE - 43) /**< a configured limit is reached (max projects) */
#define EP_E_SCHEMA          (EP_E_BASE - 44) /**< store written by an unknown schema version */
#define EP_E_CORRUPT         (EP_E_BASE - 45) /**< a record has the wrong size or layout */
#define EP_E_INVAL           (EP_E_BASE - 46) /**< bad argument (id, profile name, IP text) */
#define EP_E_NOMEM           (EP_E_BASE - 47) /**< allocation failed */
/** @} */

/** A sentence for any code returned by the policy core (never NULL). */
const char *ep_strerror(int err);

/**
 * Write the sentence @p fmt into @p why (when @p why is not NULL and
 * @p whysz not 0) and return @p code: how a function that refuses a value
 * says why, in one line.
 */
__attribute__((format(printf, 4, 5))) int ep_why(int code, char *why, size_t whysz, const char *fmt,
                                                 ...);

/**
 * @name Allocation
 * Every allocation of the policy core goes through these, so a test can
 * make the Nth one fail (ep_alloc_fail_after()) and check nothing leaks.
 */
/** @{ */
void *ep_malloc(size_t size);
void *ep_calloc(size_t n, size_t size);
void *ep_realloc(void *p, size_t size);
char *ep_strdup(const char *s);
void ep_free(void *p);
/** Tests only: the next @p n allocations succeed, the ones after fail; -1 disables. */
void ep_alloc_fail_after(long n);
/** @} */

#endif
