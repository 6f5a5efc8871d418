/* Audit entries: written after each change, listed newest first for admins. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit.h"
#include "api/log.h"
#include "api/scope.h"

#define AUDIT_LIST_DEFAULT 100
#define AUDIT_LIST_MAX     10000
#define AUDIT_WALK_FULL    1 /* add_entry: the page is full, stop the walk */

void audit_record(struct http_request *r, const char *action, const char *target, const char *fmt,
                  ...)
{
    struct ep_audit_entry e;
    char detail[sizeof e.detail - 16];
    va_list ap;
    int err;

    memset(&e, 0, sizeof e);
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(e.action, sizeof e.action, "%s", action);
    snprintf(e.target, sizeof e.target, "%s", target);
    snprintf(e.source, sizeof e.source, "%s", r->source);
    /* Who: the account, "NAME via token T", "token FILE" (the token file) or "caller". */
    snprintf(e.detail, sizeof e.detail, "%s", r->who.label[0] ? r->who.label : "caller");
    if (detail[0])
        snprintf(e.detail + strlen(e.detail), sizeof e.detail - strlen(e.detail), ": %s", detail);
    err = ep_store_audit_append(r->ctx->store, &e);
    if (err)
        log_line("audit: cannot record %s on %s: %s", action, target, ep_strerror(err));
}

struct audit_walk {
    struct http_request *r;
    json_t *entries;
    size_t limit;
};

/*
 * Is entry @p e about one of the teacher's courses? Its target is a
 * course, or a project (still there) of one; an account's own sign-ins
 * and tokens are its own.
 */
static bool entry_visible(struct http_request *r, const struct ep_audit_entry *e)
{
    struct ep_project p;

    if (!r->who.teacher || scope_course_visible(r, e->target))
        return true;
    if (strcmp(e->target, r->who.account) == 0 &&
        (strncmp(e->action, "session.", 8) == 0 || strncmp(e->action, "token.", 6) == 0))
        return true;
    return ep_project_id_validate(e->target) == 0 &&
           ep_store_project_get(r->ctx->store, e->target, &p) == 0 &&
           scope_course_visible(r, p.profile);
}

static int add_entry(void *ctx, const struct ep_audit_entry *e)
{
    struct audit_walk *w = ctx;
    char when[40];

    if (!entry_visible(w->r, e))
        return 0;
    if (json_array_size(w->entries) >= w->limit)
        return AUDIT_WALK_FULL;
    ctx = w->entries;
    http_time_iso_us(e->time_us, when);
    return json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s}", "time", when, "action",
                                                e->action, "target", e->target, "source", e->source,
                                                "detail", e->detail))
               ? EP_E_NOMEM
               : 0;
}

void audit_handle_list(struct http_request *r)
{
    const char *limit_text = http_query(r, "limit");
    unsigned long limit = AUDIT_LIST_DEFAULT;
    json_t *entries = json_array();
    struct audit_walk w = {.r = r, .entries = entries};
    char *end;
    int err;

    if (limit_text) {
        limit = strtoul(limit_text, &end, 10);
        if (*limit_text == '\0' || *end != '\0' || limit == 0 || limit > AUDIT_LIST_MAX) {
            json_decref(entries);
            http_error(r, 400, "bad_field", "limit must be a number from 1 to %d", AUDIT_LIST_MAX);
            return;
        }
    }
    w.limit = limit;
    /* A teacher's entries are filtered as they are read: walk until `limit` are kept. */
    err = ep_store_audit_list(r->ctx->store, r->who.teacher ? 0 : limit, add_entry, &w);
    if (err == AUDIT_WALK_FULL)
        err = 0;
    if (err) {
        json_decref(entries);
        http_error_store(r, err, "audit log");
        return;
    }
    http_reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "entries", entries, "count", (json_int_t)json_array_size(entries)));
}
