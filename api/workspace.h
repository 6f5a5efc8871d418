/*
 * Project lifecycle: create, start, stop, delete, password and mode
 * changes, the engine's view of workspace states for listings, and the
 * reconciliation at start-up.
 *
 * This module is the one seam between the HTTP handlers and whatever runs
 * the workspace. With a container engine (ctx->engine, engine.h) each
 * action does the engine's part first and changes the store only after it
 * succeeded, so a failed engine call leaves the store as it was. Without
 * one (--no-containers), start and stop only record the status, and an
 * admin maps IPs by hand (PUT /api/projects/:id/ip).
 *
 * Actions on one project are serialised here (a small array of mutexes
 * chosen by a hash of the id): two requests never drive the same
 * workspace at once, and each reloads the project under the lock so a
 * change made meanwhile (a mode, a password) is not overwritten.
 *
 * Every function returns 0, a policy-core error code (error.h), an engine
 * code (ENGINE_E_* of engine.h, with @p errbuf of ENGINE_ERRBUF_SIZE bytes
 * holding the engine's words) or ENOMEM. projects.c turns them into HTTP
 * statuses. ENGINE_E_NOTFOUND means the project's container is gone: the
 * project is then marked not_found (never deleted) and its IP unmapped.
 */
#ifndef API_WORKSPACE_H
#define API_WORKSPACE_H

#include "api/api.h"
#include "api/engine.h"

/* Project ids made by workspace_create(): this many lowercase hex characters. */
#define WORKSPACE_ID_LEN 12

/*
 * Give @p p a fresh random id, create its container (with @p password, or
 * none, in the code-server auth file) and store the project, within
 * cfg->max_projects (EP_E_LIMIT when full). Everything else in @p p is set
 * by the caller, the password hash included. On any failure nothing is
 * left behind: no project, no container, no volume.
 */
int workspace_create(struct api_ctx *ctx, struct ep_project *p, const char *password, char *errbuf);

/*
 * Start the workspace of @p p and map the IP the engine gave it, in the
 * same request, so the ICAP service knows it from its first request.
 * @p p is reloaded as stored afterwards.
 */
int workspace_start(struct api_ctx *ctx, struct ep_project *p, char *errbuf);

/* Stop the workspace of @p p and drop its IP mapping; @p p is reloaded. */
int workspace_stop(struct api_ctx *ctx, struct ep_project *p, char *errbuf);

/*
 * Delete project @p p with its container, IP mapping and recorded
 * domains; the container's volume (the user's files) too with
 * @p purge_volume.
 */
int workspace_delete(struct api_ctx *ctx, const struct ep_project *p, bool purge_volume,
                     char *errbuf);

/*
 * Set (@p password and its @p hash) or remove (both NULL) the password of
 * @p p. The plain password goes to the engine, which writes it into the
 * workspace's auth file (a running workspace is restarted and its IP
 * remapped); it is never stored. The hash is stored only after that
 * succeeded. @p p is reloaded.
 */
int workspace_set_password(struct api_ctx *ctx, struct ep_project *p, const char *password,
                           const char *hash, char *errbuf);

/*
 * Map project @p p to @p ip (canonical IP text), or unmap it with NULL: an
 * admin's mapping, serialised with start, stop and password changes (the
 * one path for every change to a project's mapping). EP_E_CONFLICT when
 * another project holds @p ip. @p p is reloaded.
 */
int workspace_set_ip(struct api_ctx *ctx, struct ep_project *p, const char *ip);

/*
 * Hold (and release) the lock every action on project @p id takes, to do
 * several steps on one project as one. Tests use it to show an action
 * waits for it.
 */
void workspace_lock(const char *id);
void workspace_unlock(const char *id);

/* Change the proxy mode of @p p (serialised with the lifecycle actions); @p p is reloaded. */
int workspace_set_mode(struct api_ctx *ctx, struct ep_project *p, enum ep_mode mode);

/* The engine's view of every workspace, fetched once for one listing. */
struct workspace_states;

/*
 * Ask the engine for every workspace in one call. *@p out is NULL without
 * an engine, or when the engine could not answer (logged): the listing
 * then shows the stored statuses.
 */
void workspace_states_fetch(struct api_ctx *ctx, struct workspace_states **out);

/*
 * Overlay the engine's view on @p p: running, created or stopped as the
 * engine says, not_found when it has no container for the project. With
 * @p states NULL, @p p is left as stored.
 */
void workspace_states_apply(const struct workspace_states *states, struct ep_project *p);

void workspace_states_free(struct workspace_states *states);

/* The engine's view of one project (one inspect), overlaid on @p p as above. */
void workspace_refresh(struct api_ctx *ctx, struct ep_project *p);

/*
 * At start-up, before serving: match the containers carrying our labels to
 * the projects. A running workspace gets its IP mapped; a stopped one is
 * unmapped; a project whose container vanished is marked not_found and
 * unmapped, never deleted; a container without a project is logged and
 * left alone. 0, or the engine's or the store's error (logged).
 */
int workspace_reconcile(struct api_ctx *ctx);

#endif
