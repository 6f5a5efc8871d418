/*
 * Captured LLM conversations of a project and the LLM host list
 * (routes in routes.c, described in docs/API.md).
 */
#ifndef API_CONVERSATIONS_H
#define API_CONVERSATIONS_H

#include "api/http.h"

/* GET /api/projects/:id/conversations[?format=markdown] */
void conversations_handle_list(struct http_request *r);
/* GET /api/projects/:id/conversations/CID[?format=markdown|bodies=1] */
void conversations_handle_get(struct http_request *r);
/* DELETE /api/projects/:id/conversations */
void conversations_handle_clear(struct http_request *r);
/* DELETE /api/projects/:id/conversations/CID */
void conversations_handle_delete(struct http_request *r);
/* GET /api/capture/hosts (admin) */
void conversations_handle_hosts(struct http_request *r);
/* POST /api/capture/hosts {"host": NAME} (admin) */
void conversations_handle_host_add(struct http_request *r);
/* DELETE /api/capture/hosts/NAME (admin) */
void conversations_handle_host_remove(struct http_request *r);

#endif
