/* The audit trail of egress-api: who changed what, when, from where. */
#ifndef API_AUDIT_H
#define API_AUDIT_H

#include "api/http.h"

/*
 * Append one entry for a change made by request @p r: @p action such as
 * "project.create", @p target a project id, profile or rule, and a
 * detail line (never a secret). A failure is logged, not answered: the
 * change itself is already committed.
 */
void audit_record(struct http_request *r, const char *action, const char *target, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* GET /api/audit[?limit=N] (admin). */
void audit_handle_list(struct http_request *r);

#endif
