/* Whitelist endpoints: a profile's rules, base domains, and the profiles themselves. */
#ifndef API_WHITELIST_H
#define API_WHITELIST_H

#include "api/http.h"
#include "policy/rule.h"

/* The JSON array of the rules of @p profile in written form, or NULL with *err set. */
json_t *whitelist_rules_json(struct api_ctx *ctx, const char *profile, int *err);

void whitelist_handle_get(struct http_request *r);
void whitelist_handle_replace(struct http_request *r);
void whitelist_handle_add(struct http_request *r);
void whitelist_handle_remove(struct http_request *r);
void whitelist_handle_profiles(struct http_request *r);

#endif
