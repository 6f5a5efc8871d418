/* Recorded domains of a project: list (with categories and groups), clear, promote. */
#ifndef API_RECORDED_H
#define API_RECORDED_H

#include "api/http.h"

void recorded_handle_list(struct http_request *r);
void recorded_handle_clear(struct http_request *r);
void recorded_handle_promote(struct http_request *r);

#endif
