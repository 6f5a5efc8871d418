/*
 * Captured LLM conversations of a project (policy/capture_store.h): list,
 * one as JSON, Markdown export of one or all, deletion; and the LLM host
 * list that decides which TLS is decrypted for logging workspaces.
 *
 * Who may read or delete a project's conversations: an admin, anyone for
 * an unprotected workspace, the workspace password (X-Project-Password)
 * for a protected one, as for recorded domains. The host list is admin
 * only.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit.h"
#include "api/conversations.h"
#include "api/projects.h"
#include "policy/capture_parse.h"
#include "policy/capture_store.h"

/* A JSON string of @p t, or null when it is not valid UTF-8. */
static json_t *text_json(const struct ep_capture_text *t)
{
    json_t *s = json_stringn(t->p ? t->p : "", t->n);

    return s ? s : json_null();
}

/* The parsed conversation of a stored exchange. */
static json_t *parse(const struct ep_capture *c, struct ep_capture_summary *sum)
{
    return ep_capture_conversation(
        c->request_body.p, c->request_body.n, c->response_body.p, c->response_body.n,
        (c->flags & EP_CAPTURE_STREAMED) ? "text/event-stream" : NULL, sum);
}

/* What the list shows of one exchange. */
static json_t *summary_json(const struct ep_capture *c)
{
    char when[40], id[24];

    http_time_iso_us(c->time_us, when);
    snprintf(id, sizeof id, "%" PRIu64, c->id);
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:b, s:b, s:b, "
        "s:b, s:b}",
        "id", id, "time", when, "host", text_json(&c->host), "method", text_json(&c->method),
        "path", text_json(&c->path), "status", (json_int_t)c->status, "model", text_json(&c->model),
        "firstUserMessage", text_json(&c->first_user), "inputTokens", (json_int_t)c->input_tokens,
        "outputTokens", (json_int_t)c->output_tokens, "requestBytes", (json_int_t)c->request_size,
        "responseBytes", (json_int_t)c->response_size, "truncated",
        (c->flags & (EP_CAPTURE_REQ_TRUNCATED | EP_CAPTURE_RESP_TRUNCATED)) != 0, "incomplete",
        (c->flags & EP_CAPTURE_INCOMPLETE) != 0, "streamed", (c->flags & EP_CAPTURE_STREAMED) != 0,
        "raw", (c->flags & EP_CAPTURE_RAW) != 0, "undecoded",
        (c->flags & EP_CAPTURE_UNDECODED) != 0);
}

static int list_one(void *ctx, const struct ep_capture *c)
{
    json_t *item = summary_json(c);

    if (item == NULL || json_array_append_new(ctx, item) != 0)
        return EP_E_NOMEM;
    return 0;
}

/* ---- Markdown ---- */

/* A code fence longer than any run of backticks in @p s. */
static void fence_for(const char *s, char *fence, size_t size)
{
    size_t run = 0, longest = 0, n;

    for (; s && *s; s++) {
        run = *s == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    n = longest < 3 ? 3 : longest + 1;
    if (n >= size)
        n = size - 1;
    memset(fence, '`', n);
    fence[n] = '\0';
}

static void md_block(FILE *out, const char *text, const char *lang)
{
    char fence[64];

    fence_for(text, fence, sizeof fence);
    fprintf(out, "%s%s\n%s\n%s\n\n", fence, lang, text ? text : "", fence);
}

static const char *jstr_or_empty(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

static void md_tools(FILE *out, json_t *tools)
{
    json_t *t;
    size_t i;

    json_array_foreach(tools, i, t)
    {
        fprintf(out, "**Tool call** `%s` (%s):\n\n", jstr_or_empty(t, "name"),
                jstr_or_empty(t, "id"));
        md_block(out, json_string_value(json_object_get(t, "arguments")), "json");
    }
}

static void md_message(FILE *out, const char *role, json_t *m)
{
    const char *content = json_string_value(json_object_get(m, "content"));

    fprintf(out, "### %s\n\n", role && *role ? role : "(no role)");
    if (content && *content)
        fprintf(out, "%s\n\n", content);
    md_tools(out, json_object_get(m, "tool_calls"));
}

/* One exchange as a Markdown section. */
static int md_one(void *ctx, const struct ep_capture *c)
{
    FILE *out = ctx;
    struct ep_capture_summary sum;
    json_t *conv = parse(c, &sum), *m;
    char when[40];
    size_t i;

    if (conv == NULL)
        return EP_E_NOMEM;
    http_time_iso_us(c->time_us, when);
    fprintf(out, "## %s %.*s %.*s%.*s (%u)\n\n", when, (int)c->method.n, c->method.p,
            (int)c->host.n, c->host.p, (int)c->path.n, c->path.p, c->status);
    fprintf(out, "- id: %" PRIu64 "\n- model: %s\n- tokens: %" PRIu64 " in, %" PRIu64 " out\n",
            c->id, sum.model[0] ? sum.model : "unknown", c->input_tokens, c->output_tokens);
    if (c->flags & (EP_CAPTURE_REQ_TRUNCATED | EP_CAPTURE_RESP_TRUNCATED))
        fputs("- truncated: the stored text is cut at the size cap\n", out);
    if (c->flags & EP_CAPTURE_INCOMPLETE)
        fputs("- incomplete: the exchange did not end normally (cut stream or no response)\n", out);
    fputc('\n', out);
    json_array_foreach(json_object_get(conv, "messages"), i, m)
        md_message(out, json_string_value(json_object_get(m, "role")), m);
    if (c->flags & EP_CAPTURE_RAW) {
        char *body = ep_malloc(c->response_body.n + 1);

        fputs("### response (as received)\n\n", out);
        if (body) {
            memcpy(body, c->response_body.p, c->response_body.n);
            body[c->response_body.n] = '\0';
            md_block(out, body, "");
        }
        ep_free(body);
    } else {
        md_message(out, "assistant", json_object_get(conv, "reply"));
    }
    json_decref(conv);
    return ferror(out) ? EP_E_NOMEM : 0;
}

/* ---- handlers ---- */

/* The exchange id of the path's tail; -1 after answering 404. */
static int tail_id(struct http_request *r, uint64_t *id)
{
    char *end;

    *id = r->tail && r->tail[0] >= '0' && r->tail[0] <= '9' ? strtoull(r->tail, &end, 10) : 0;
    if (*id == 0 || *end != '\0') {
        http_error(r, 404, "not_found", "no conversation '%s'", r->tail ? r->tail : "");
        return -1;
    }
    return 0;
}

static bool want_markdown(struct http_request *r)
{
    const char *format = http_query(r, "format");

    return format && strcmp(format, "markdown") == 0;
}

/* Run a Markdown export of @p id (0: all) and answer it. */
static void reply_markdown(struct http_request *r, const struct ep_project *p, uint64_t id)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int err;

    if (out == NULL) {
        http_error_store(r, EP_E_NOMEM, "conversations");
        return;
    }
    if (id == 0)
        fprintf(out, "# Conversations of project %s\n\n", p->id);
    err = id ? ep_capture_get(r->ctx->store, p->id, id, md_one, out)
             : ep_capture_list(r->ctx->store, p->id, md_one, out);
    if (fclose(out) != 0 && err == 0)
        err = EP_E_NOMEM;
    if (err)
        http_error_store(r, err, "conversation");
    else
        http_reply_text(r, 200, "text/markdown; charset=utf-8", text);
    free(text);
}

void conversations_handle_list(struct http_request *r)
{
    struct ep_project p;
    json_t *items;
    int err;

    if (projects_load_authorized(r, &p, NULL) < 0)
        return;
    if (want_markdown(r)) {
        reply_markdown(r, &p, 0);
        return;
    }
    items = json_array();
    err = items ? ep_capture_list(r->ctx->store, p.id, list_one, items) : EP_E_NOMEM;
    if (err) {
        json_decref(items);
        http_error_store(r, err, "conversations");
        return;
    }
    http_reply_json(r, 200,
                    json_pack("{s:s, s:I, s:o}", "projectId", p.id, "total",
                              (json_int_t)json_array_size(items), "conversations", items));
}

struct get_ctx {
    json_t *out;
    bool bodies;
};

static int get_one(void *ctx, const struct ep_capture *c)
{
    struct get_ctx *g = ctx;
    json_t *conv = parse(c, NULL);

    g->out = summary_json(c);
    if (g->out == NULL || conv == NULL) {
        json_decref(conv);
        return EP_E_NOMEM;
    }
    json_object_set_new(g->out, "conversation", conv);
    json_object_set_new(g->out, "requestHeaders", text_json(&c->request_headers));
    json_object_set_new(g->out, "responseHeaders", text_json(&c->response_headers));
    if (g->bodies || (c->flags & EP_CAPTURE_RAW)) {
        json_object_set_new(g->out, "requestBody", text_json(&c->request_body));
        json_object_set_new(g->out, "responseBody", text_json(&c->response_body));
    }
    return 0;
}

void conversations_handle_get(struct http_request *r)
{
    const char *bodies = http_query(r, "bodies");
    struct get_ctx g = {NULL, bodies && strcmp(bodies, "1") == 0};
    struct ep_project p;
    uint64_t id;
    int err;

    if (projects_load_authorized(r, &p, NULL) < 0 || tail_id(r, &id) < 0)
        return;
    if (want_markdown(r)) {
        reply_markdown(r, &p, id);
        return;
    }
    err = ep_capture_get(r->ctx->store, p.id, id, get_one, &g);
    if (err) {
        json_decref(g.out);
        http_error_store(r, err, "conversation");
        return;
    }
    http_reply_json(r, 200, g.out);
}

void conversations_handle_clear(struct http_request *r)
{
    struct ep_project p;
    uint64_t n = 0;
    int err;

    if (projects_load_authorized(r, &p, NULL) < 0)
        return;
    err = ep_capture_clear(r->ctx->store, p.id, &n);
    if (err) {
        http_error_store(r, err, "conversations");
        return;
    }
    audit_record(r, "conversations.clear", p.id, "%" PRIu64 " deleted", n);
    http_reply_json(r, 200, json_pack("{s:b, s:I}", "success", 1, "deleted", (json_int_t)n));
}

void conversations_handle_delete(struct http_request *r)
{
    struct ep_project p;
    uint64_t id;
    int err;

    if (projects_load_authorized(r, &p, NULL) < 0 || tail_id(r, &id) < 0)
        return;
    err = ep_capture_delete(r->ctx->store, p.id, id);
    if (err) {
        http_error_store(r, err, "conversation");
        return;
    }
    audit_record(r, "conversations.delete", p.id, "%" PRIu64, id);
    http_reply_json(r, 200, json_pack("{s:b, s:I}", "success", 1, "deleted", (json_int_t)1));
}

static int host_one(void *ctx, const char *host)
{
    return json_array_append_new(ctx, json_string(host)) ? EP_E_NOMEM : 0;
}

void conversations_handle_hosts(struct http_request *r)
{
    json_t *hosts = json_array();
    int err = hosts ? ep_capture_hosts_list(r->ctx->store, host_one, hosts) : EP_E_NOMEM;

    if (err) {
        json_decref(hosts);
        http_error_store(r, err, "LLM host list");
        return;
    }
    http_reply_json(r, 200, json_pack("{s:o}", "hosts", hosts));
}

void conversations_handle_host_add(struct http_request *r)
{
    const char *host = NULL;
    bool added = false;
    int err;

    if (http_field_string(r, "host", true, &host) < 0)
        return;
    err = ep_capture_host_add(r->ctx->store, host, &added);
    if (err) {
        if (err == EP_E_INVAL || (err <= EP_E_HOST_EMPTY && err >= EP_E_HOST_BRACKET))
            http_error(
                r, 400, "invalid_host", "host '%s' is not a host name without port: %s", host,
                err == EP_E_INVAL ? "IP literals and ports are not allowed" : ep_strerror(err));
        else
            http_error_store(r, err, "LLM host list");
        return;
    }
    if (added)
        audit_record(r, "capture.host.add", host, "%s", "");
    http_reply_json(r, added ? 201 : 200, json_pack("{s:s, s:b}", "host", host, "added", added));
}

void conversations_handle_host_remove(struct http_request *r)
{
    int err = ep_capture_host_remove(r->ctx->store, r->tail);

    if (err) {
        if (err == EP_E_NOTFOUND)
            http_error(r, 404, "not_found", "'%s' is not on the LLM host list", r->tail);
        else if (err <= EP_E_HOST_EMPTY && err >= EP_E_HOST_BRACKET)
            http_error(r, 400, "invalid_host", "'%s': %s", r->tail, ep_strerror(err));
        else
            http_error_store(r, err, "LLM host list");
        return;
    }
    audit_record(r, "capture.host.remove", r->tail, "%s", "");
    http_reply_json(r, 200, json_pack("{s:b, s:s}", "success", 1, "removed", r->tail));
}
