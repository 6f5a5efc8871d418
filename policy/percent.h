/**
 * @file percent.h
 * @brief The one percent-decoder ("%2F" → '/').
 *
 * Host normalisation (host.c) decodes the escapes of a host with it and
 * refuses a malformed one; egress-acl decodes squid's URL escaping of its
 * input fields with it, where a stray '%' stays as it is.
 *
 * Caveat: "%00" decodes to a NUL byte inside the result. A caller that
 * goes on with a C string must check that the decoded length is its
 * strlen(), or the NUL would cut it short ("allowed.test%00.evil.test").
 */
#ifndef EP_PERCENT_H
#define EP_PERCENT_H

#include <stddef.h>

/**
 * Decode the percent-escapes of the @p len bytes at @p in (need not be
 * NUL-terminated) into @p out, NUL-terminated.
 * @param out     room for @p len + 1 bytes; may be @p in (decoding only
 *                shortens the text)
 * @param outlen  receives the decoded length, without the NUL
 * @return 0, or EP_E_HOST_PERCENT when a '%' is not followed by two hex
 *         digits; such a '%' is copied as it is and the rest still decoded.
 */
int ep_percent_decode(const char *in, size_t len, char *out, size_t *outlen);

#endif
