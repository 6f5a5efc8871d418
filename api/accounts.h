/*
 * Accounts (admin, teacher), their personal API tokens, and courses (a
 * profile with its owner list): the endpoints, and --create-admin.
 */
#ifndef API_ACCOUNTS_H
#define API_ACCOUNTS_H

#include "api/http.h"

/* GET, POST /api/accounts; PUT /api/accounts/:id. */
void accounts_handle_list(struct http_request *r);
void accounts_handle_create(struct http_request *r);
void accounts_handle_update(struct http_request *r);
/* GET, POST /api/accounts/:id/tokens; DELETE /api/accounts/:id/tokens/:tokenId. */
void accounts_handle_tokens(struct http_request *r);
void accounts_handle_token_create(struct http_request *r);
void accounts_handle_token_revoke(struct http_request *r);
/* GET /api/courses; PUT /api/courses/:name. */
void courses_handle_list(struct http_request *r);
void courses_handle_set_owners(struct http_request *r);

/*
 * egress-api --create-admin NAME: make admin account @p name with
 * @p password (hashed at the configured bcrypt cost). 0, or 1 after
 * printing why to stderr.
 */
int accounts_create_admin(struct ep_store *store, const char *name, const char *password);

#endif
