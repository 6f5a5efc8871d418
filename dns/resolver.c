/*
 * The libunbound resolver (resolver.h): one ub_ctx shared by every
 * thread, set to forward to the configured upstreams (or to recurse), and
 * to validate with a trust anchor when one is given. Its answer packet is
 * handed on as it came; the query path rewrites it for the client.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "dns/resolver.h"

struct unbound_resolver {
    struct dns_resolver base;
    struct ub_ctx *ctx;
};

static int unbound_resolve(struct dns_resolver *r, const char *name, int type, int rrclass,
                           struct dns_upstream_answer *out, const char **why)
{
    struct unbound_resolver *u = (struct unbound_resolver *)r;
    struct ub_result *res = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ub_resolve(u->ctx, name, type, rrclass, &res);
    if (rc != 0) {
        *why = ub_strerror(rc);
        return rc;
    }
    if (res->answer_packet == NULL || res->answer_len <= 0) {
        *why = "the resolver has no answer (upstreams unreachable or failing)";
        rc = EIO;
        goto out;
    }
    out->packet = malloc((size_t)res->answer_len);
    if (out->packet == NULL) {
        *why = "out of memory";
        rc = ENOMEM;
        goto out;
    }
    memcpy(out->packet, res->answer_packet, (size_t)res->answer_len);
    out->len = (size_t)res->answer_len;
    out->secure = res->secure != 0;
    out->bogus = res->bogus != 0;
out:
    ub_resolve_free(res);
    return rc;
}

static void unbound_free(struct dns_resolver *r)
{
    struct unbound_resolver *u = (struct unbound_resolver *)r;

    if (u == NULL)
        return;
    if (u->ctx != NULL)
        ub_ctx_delete(u->ctx);
    free(u);
}

/* Set libunbound option "NAME: VALUE" (one string, as unbound.conf writes it). */
static int set_option(struct ub_ctx *ctx, const char *text, char *why, size_t whysz)
{
    char name[128];
    const char *colon = strchr(text, ':');
    int rc;

    if (colon == NULL || (size_t)(colon - text) + 2 > sizeof name) {
        snprintf(why, whysz, "'%s' is not NAME: VALUE", text);
        return EINVAL;
    }
    memcpy(name, text, (size_t)(colon - text) + 1);
    name[colon - text + 1] = '\0';
    colon++;
    while (*colon == ' ')
        colon++;
    rc = ub_ctx_set_option(ctx, name, colon);
    if (rc != 0)
        snprintf(why, whysz, "'%s': %s", text, ub_strerror(rc));
    return rc;
}

int dns_resolver_unbound_new(const struct dns_resolver_options *opts, struct dns_resolver **out,
                             char *why, size_t whysz)
{
    struct unbound_resolver *u;
    int rc = 0;

    *out = NULL;
    u = calloc(1, sizeof *u);
    if (u == NULL)
        return ENOMEM;
    u->base.resolve = unbound_resolve;
    u->base.free = unbound_free;
    u->ctx = ub_ctx_create();
    if (u->ctx == NULL) {
        snprintf(why, whysz, "cannot create the libunbound context");
        rc = ENOMEM;
        goto out;
    }
    /* Resolve in the caller's thread: each worker thread waits for its own answer. */
    rc = ub_ctx_async(u->ctx, 0);
    if (rc == 0 && opts->n_upstream > 0) {
        /*
         * Upstreams are the administrator's explicit choice: one on this
         * host (a local unbound, a test's resolver) is fine.
         */
        rc = ub_ctx_set_option(u->ctx, "do-not-query-localhost:", "no");
        if (rc != 0)
            snprintf(why, whysz, "do-not-query-localhost: %s", ub_strerror(rc));
    }
    for (unsigned i = 0; rc == 0 && i < opts->n_upstream; i++) {
        rc = ub_ctx_set_fwd(u->ctx, opts->upstream[i]);
        if (rc != 0)
            snprintf(why, whysz, "upstream '%s': %s", opts->upstream[i], ub_strerror(rc));
    }
    if (rc == 0 && opts->trust_anchor_file != NULL) {
        rc = ub_ctx_add_ta_file(u->ctx, opts->trust_anchor_file);
        if (rc != 0)
            snprintf(why, whysz, "trust anchor '%s': %s", opts->trust_anchor_file,
                     ub_strerror(rc));
    }
    for (unsigned i = 0; rc == 0 && i < opts->n_option; i++)
        rc = set_option(u->ctx, opts->option[i], why, whysz);
out:
    if (rc != 0) {
        unbound_free(&u->base);
        return rc;
    }
    *out = &u->base;
    return 0;
}

void dns_upstream_answer_clear(struct dns_upstream_answer *a)
{
    free(a->packet);
    a->packet = NULL;
    a->len = 0;
}
