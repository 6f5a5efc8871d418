/**
 * @file capture_parse.h
 * @brief What the capture needs to understand of an LLM API exchange:
 * secrets out of headers and URLs, content codings off bodies, and the
 * conversation inside the request and the (possibly streamed) response.
 *
 * Pure functions (jansson, zlib and libbrotli; no c-icap, no store), in
 * the convenience library policy/libcapture.la.
 *
 * Shapes understood: OpenAI chat completions and responses API, Anthropic
 * messages, each as one JSON body or as Server-Sent Events. Anything else
 * is "raw": stored as is, shown as text.
 */
#ifndef EP_CAPTURE_PARSE_H
#define EP_CAPTURE_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What is written in place of a removed secret. */
#define EP_CAPTURE_REDACTED "[redacted]"

/**
 * Whether header @p name (@p n bytes, any case) carries a secret:
 * Authorization, Proxy-Authorization, x-api-key, api-key, x-goog-api-key,
 * Cookie, Set-Cookie, and any name ending in "-token" or "-secret".
 */
bool ep_capture_header_secret(const char *name, size_t n);

/**
 * Copy a header block ("Name: value" lines, CRLF or LF) into a new
 * NUL-terminated string with the value of every secret header replaced
 * by EP_CAPTURE_REDACTED and lines ending in CRLF. *@p out is freed with
 * ep_free(). 0 or EP_E_NOMEM.
 */
int ep_capture_redact_headers(const char *in, size_t n, char **out, size_t *out_n);

/**
 * Copy a request path with the value of every key-like query parameter
 * (key, api_key, apikey, api-key, access_token, token, secret, password,
 * sig, signature, auth, any name ending in "key" or "token") replaced by
 * EP_CAPTURE_REDACTED. *@p out is freed with ep_free(). 0 or EP_E_NOMEM.
 */
int ep_capture_redact_path(const char *in, size_t n, char **out, size_t *out_n);

/**
 * Decode a body of Content-Encoding @p coding ("gzip", "x-gzip",
 * "deflate", "br"; NULL, "" or "identity" copy it) into a new buffer of at
 * most @p max bytes; *@p truncated says the decoded body was longer.
 * EP_E_INVAL for a coding not listed or a body that does not decode.
 * *@p out is freed with ep_free().
 */
int ep_capture_decode(const char *coding, const void *in, size_t n, size_t max, char **out,
                      size_t *out_n, bool *truncated);

/** The few facts the list of conversations shows. */
struct ep_capture_summary {
    char model[128];
    char first_user[256]; /**< the first user message, shortened on a UTF-8 boundary */
    uint64_t input_tokens, output_tokens;
    bool raw;      /**< a body of an unknown shape */
    bool streamed; /**< the response was Server-Sent Events */
    bool complete; /**< the body ended as its shape ends ([DONE], a final event, whole JSON) */
};

/**
 * Parse an exchange into one JSON object:
 * `{"shape", "model", "messages":[{"role","content","tool_calls"?}...],
 *   "reply":{"role":"assistant","content","tool_calls":[{"id","name","arguments"}]},
 *   "usage":{"input_tokens","output_tokens"}, "streamed", "raw"}`.
 * @p response is Server-Sent Events when @p content_type says
 * text/event-stream (or it looks like one). Never NULL but on memory
 * exhaustion; fills @p sum when not NULL.
 */
json_t *ep_capture_conversation(const char *request, size_t request_n, const char *response,
                                size_t response_n, const char *content_type,
                                struct ep_capture_summary *sum);

#endif
