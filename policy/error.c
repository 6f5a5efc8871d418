/* Error texts and the allocation wrapper of the policy core. */
#include "config.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/error.h"

struct error_text {
    int code;
    const char *text;
};

static const struct error_text error_texts[] = {
    {EP_E_HOST_EMPTY, "the host is empty"},
    {EP_E_HOST_TOO_LONG, "the host is longer than 253 characters"},
    {EP_E_HOST_CHAR, "the host contains a space, a control character or a character "
                     "no host name may contain"},
    {EP_E_HOST_LABEL, "the host has an empty label (\"..\"), a label over 63 characters "
                      "or a label that starts or ends with '-'"},
    {EP_E_HOST_IDN, "the host is not a valid internationalised domain name"},
    {EP_E_HOST_PERCENT, "the host has a malformed percent-escape"},
    {EP_E_HOST_PORT, "the port is not a number from 1 to 65535"},
    {EP_E_HOST_BRACKET, "the bracketed IPv6 literal is malformed"},
    {EP_E_RULE_SCHEME, "a rule names a host, not a URL: remove the scheme (\"http://\")"},
    {EP_E_RULE_PATH, "a rule names a host, not a URL: remove the path, query or fragment"},
    {EP_E_RULE_PORT, "a rule may not name a port"},
    {EP_E_RULE_PUBLIC_SUFFIX, "the rule would cover a whole public suffix (such as .com or "
                              "*.co.uk)"},
    {EP_E_RULE_WILDCARD, "'*' is allowed only as a leading \"*.\""},
    {EP_E_RULE_REGEX, "the regular expression does not compile"},
    {EP_E_RULE_REGEX_LONG, "the regular expression is longer than 256 characters"},
    {EP_E_RULE_IP, "an IP address rule must be written ip:ADDRESS with a valid IPv4 or "
                   "IPv6 address"},
    {EP_E_NOTFOUND, "not found"},
    {EP_E_EXISTS, "already exists"},
    {EP_E_CONFLICT, "held by another project"},
    {EP_E_LIMIT, "the configured limit is reached"},
    {EP_E_SCHEMA, "the store was written by an unknown schema version"},
    {EP_E_CORRUPT, "a stored record has an unexpected size or layout"},
    {EP_E_INVAL, "invalid argument"},
    {EP_E_NOMEM, "out of memory"},
};

const char *ep_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err > 0)
        return strerror(err);
    if (err >= MDB_KEYEXIST && err <= MDB_LAST_ERRCODE)
        return mdb_strerror(err);
    for (size_t i = 0; i < sizeof error_texts / sizeof error_texts[0]; i++)
        if (error_texts[i].code == err)
            return error_texts[i].text;
    return "unknown error";
}

/* Allocations left before they start failing; negative means never fail. */
static atomic_long allocs_left = -1;

static int alloc_should_fail(void)
{
    long left = atomic_load(&allocs_left);
    while (left >= 0) {
        if (left == 0)
            return 1;
        if (atomic_compare_exchange_weak(&allocs_left, &left, left - 1))
            return 0;
    }
    return 0;
}

void ep_alloc_fail_after(long n)
{
    atomic_store(&allocs_left, n);
}

void *ep_malloc(size_t size)
{
    return alloc_should_fail() ? NULL : malloc(size);
}

void *ep_calloc(size_t n, size_t size)
{
    return alloc_should_fail() ? NULL : calloc(n, size);
}

void *ep_realloc(void *p, size_t size)
{
    return alloc_should_fail() ? NULL : realloc(p, size);
}

char *ep_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = ep_malloc(len);

    if (copy)
        memcpy(copy, s, len);
    return copy;
}

void ep_free(void *p)
{
    free(p);
}

int ep_why(int code, char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && whysz > 0) {
        va_start(ap, fmt);
        vsnprintf(why, whysz, fmt, ap);
        va_end(ap);
    }
    return code;
}
