/*
 * Project lifecycle over the store. The container engine's steps belong
 * where the comments marked "Engine step" say; the store write comes after
 * the engine succeeded, so a failed engine call leaves the store as it was.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "api/workspace.h"

/* Fill @p id with WORKSPACE_ID_LEN lowercase hex characters from the kernel's CSPRNG. */
static int random_id(char *id)
{
    unsigned char raw[WORKSPACE_ID_LEN / 2];
    size_t got = 0;

    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);

        if (n < 0)
            return EP_E_NOMEM;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int workspace_create(struct api_ctx *ctx, struct ep_project *p)
{
    int err = EP_E_EXISTS;

    /* 48 random bits: a collision is rare, and retried rather than assumed away. */
    for (int attempt = 0; attempt < 5 && err == EP_E_EXISTS; attempt++) {
        err = random_id(p->id);
        if (err)
            break;
        p->status = EP_STATUS_CREATED;
        p->ip[0] = '\0';
        p->container_id[0] = '\0';
        err = ep_store_project_create(ctx->store, p, ctx->cfg->max_projects);
    }
    /*
     * Engine step: create the container workspace-<id> (hardened, with the
     * password file written before its first start) and store its id with
     * ep_store_project_update(); on failure delete the project again so
     * nothing half-made remains.
     */
    return err;
}

int workspace_start(struct api_ctx *ctx, struct ep_project *p)
{
    /*
     * Engine step: start the container, read its IP from inspect and map it
     * with ep_store_client_map() before answering, so the ICAP service
     * knows the workspace from its first request.
     */
    p->status = EP_STATUS_RUNNING;
    return ep_store_project_update(ctx->store, p);
}

int workspace_stop(struct api_ctx *ctx, struct ep_project *p)
{
    /*
     * Engine step: stop the container and drop its IP mapping with
     * ep_store_client_unmap(). Without an engine the mapping was made by
     * an admin for a host the API does not run, so it stays.
     */
    p->status = EP_STATUS_STOPPED;
    return ep_store_project_update(ctx->store, p);
}

int workspace_delete(struct api_ctx *ctx, const struct ep_project *p)
{
    /* Engine step: remove the container (and its volume when asked to purge). */
    return ep_store_project_delete(ctx->store, p->id);
}

int workspace_set_password(struct api_ctx *ctx, struct ep_project *p, const char *password,
                           const char *hash)
{
    (void)password;
    /*
     * Engine step: write the code-server auth file into the container
     * (from @p password, or "none" when removing) and restart it when it
     * runs; only then is the new hash stored below.
     */
    snprintf(p->password_hash, sizeof p->password_hash, "%s", hash ? hash : "");
    return ep_store_project_update(ctx->store, p);
}
