/*
 * Project lifecycle: create, start, stop, delete and password change.
 *
 * This module is the one seam between the HTTP handlers and whatever runs
 * the workspace. Each function does the store's part; the container
 * engine's part (create the container, start it and map its IP, write the
 * code-server password file...) goes exactly where each function says.
 * Without an engine, start and stop only record the status, and an admin
 * maps IPs by hand (PUT /api/projects/:id/ip).
 *
 * Every function returns 0 or a policy-core error code (error.h), which
 * the handlers turn into an HTTP status with http_error_store().
 */
#ifndef API_WORKSPACE_H
#define API_WORKSPACE_H

#include "api/api.h"

/* Project ids made by workspace_create(): this many lowercase hex characters. */
#define WORKSPACE_ID_LEN 12

/*
 * Give @p p a fresh random id and store it, within cfg->max_projects
 * (EP_E_LIMIT when full). Everything else in @p p is set by the caller,
 * the password hash included.
 */
int workspace_create(struct api_ctx *ctx, struct ep_project *p);

/* Start the workspace of @p p (loaded by the caller; updated in place). */
int workspace_start(struct api_ctx *ctx, struct ep_project *p);

/* Stop the workspace of @p p (updated in place). */
int workspace_stop(struct api_ctx *ctx, struct ep_project *p);

/* Delete project @p p with its IP mapping and recorded domains. */
int workspace_delete(struct api_ctx *ctx, const struct ep_project *p);

/*
 * Set (@p password and its @p hash) or remove (both NULL) the password of
 * @p p. The plain password is passed for the engine, which writes it into
 * the workspace; it is never stored.
 */
int workspace_set_password(struct api_ctx *ctx, struct ep_project *p, const char *password,
                           const char *hash);

#endif
