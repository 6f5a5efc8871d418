/* Audit entries: written after each change, listed newest first for admins. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit.h"
#include "api/log.h"

#define AUDIT_LIST_DEFAULT 100
#define AUDIT_LIST_MAX     10000

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
    snprintf(e.detail, sizeof e.detail, "%s%s%s", r->admin ? "admin" : "caller",
             detail[0] ? ": " : "", detail);
    err = ep_store_audit_append(r->ctx->store, &e);
    if (err)
        log_line("audit: cannot record %s on %s: %s", action, target, ep_strerror(err));
}

static int add_entry(void *ctx, const struct ep_audit_entry *e)
{
    char when[40];

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
    err = ep_store_audit_list(r->ctx->store, limit, add_entry, entries);
    if (err) {
        json_decref(entries);
        http_error_store(r, err, "audit log");
        return;
    }
    http_reply_json(
        r, 200,
        json_pack("{s:o, s:I}", "entries", entries, "count", (json_int_t)json_array_size(entries)));
}
