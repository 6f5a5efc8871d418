/*
 * Project endpoints. Each handler validates its whole request first (400
 * naming the field), then checks who is asking (401/403), then acts
 * through workspace.c, audits the change and answers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/audit.h"
#include "api/auth.h"
#include "api/scope.h"
#include "api/log.h"
#include "api/projects.h"
#include "api/workspace.h"
#include "policy/covers.h"
#include "policy/decide.h"
#include "policy/host.h"
#include "policy/size.h"

#define NAME_CHARS_MAX 100
#define PASSWORD_MIN   8
/* The most items one page of a listing holds. */
#define PROJECTS_PAGE_MAX 10000ul
#define PASSWORD_MAX      50
/* bcrypt reads at most 72 bytes: a longer password would be cut silently. */
#define PASSWORD_BYTES_MAX 72

/* A string member, or null when @p s is empty. */
static json_t *string_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

/*
 * The one definition of a project's fields, in the reference's names, set
 * into object @p o (new, or one a listing reuses for every project: its
 * members are replaced in place, in the same order). Strings in a project
 * were checked as UTF-8 when they were stored. @p o is consumed on failure.
 */
static json_t *projects_json_fill(json_t *o, const struct ep_project *p, bool admin)
{
    const char *mode = ep_mode_name((enum ep_mode)p->mode);
    char created[32];
    json_t *cpus;
    int bad = 0;

    if (o == NULL)
        return NULL;
    http_time_iso(p->created_at, created);
    /* A member that cannot be added fails the whole object: never a project with a hole. */
    bad |= json_object_set_new_nocheck(o, "projectId", json_string(p->id));
    bad |= json_object_set_new_nocheck(o, "projectName", json_string(p->name));
    bad |= json_object_set_new_nocheck(o, "projectType", json_string(p->type));
    bad |= json_object_set_new_nocheck(o, "proxyMode", json_string(mode ? mode : "none"));
    bad |= json_object_set_new_nocheck(o, "profile", json_string(p->profile));
    bad |= json_object_set_new_nocheck(o, "passwordProtected",
                                       json_boolean(p->password_hash[0] != '\0'));
    bad |= json_object_set_new_nocheck(o, "status",
                                       json_string(ep_status_name((enum ep_status)p->status)));
    bad |= json_object_set_new_nocheck(o, "createdAt", json_string(created));
    if (!admin || bad)
        goto out;
    bad |= json_object_set_new_nocheck(o, "ipAddress", string_or_null(p->ip));
    bad |= json_object_set_new_nocheck(o, "containerId", string_or_null(p->container_id));
    bad |= json_object_set_new_nocheck(o, "memoryLimit",
                                       p->memory_bytes ? json_integer((json_int_t)p->memory_bytes)
                                                       : json_null());
    /* Whole CPUs as integers ("cpuCores": 2), as the reference answered. */
    if (p->nano_cpus == 0)
        cpus = json_null();
    else if (p->nano_cpus % 1000000000u == 0)
        cpus = json_integer((json_int_t)(p->nano_cpus / 1000000000u));
    else
        cpus = json_real((double)p->nano_cpus / 1e9);
    bad |= json_object_set_new_nocheck(o, "cpuCores", cpus);
out:
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *projects_json(const struct ep_project *p, bool admin)
{
    return projects_json_fill(json_object(), p, admin);
}

/*
 * Answer a failed lifecycle action: engine codes as engine.h maps them
 * (502 with the engine's message, 503 unreachable or no workspace network,
 * 409 conflict or a vanished container), everything else as a store error.
 */
static void answer_failure(struct http_request *r, int err, const char *errbuf, const char *id)
{
    switch (err) {
    case ENGINE_E_REFUSED:
        http_error(r, 502, "engine_error", "%s", errbuf[0] ? errbuf : engine_strerror(err));
        break;
    case ENGINE_E_UNREACHABLE:
        log_line("workspace %s: %s", id, errbuf);
        http_error(r, 503, "engine_unreachable",
                   "the container engine cannot be reached; nothing was changed (%s)", errbuf);
        break;
    case ENGINE_E_CONFLICT:
        http_error(r, 409, "conflict", "%s", errbuf[0] ? errbuf : engine_strerror(err));
        break;
    case ENGINE_E_NONETWORK:
        log_line("workspace %s: %s", id, errbuf);
        http_error(r, 503, "workspace_network_missing", "%s", errbuf);
        break;
    case ENGINE_E_NOTFOUND:
        http_error(r, 409, "workspace_missing",
                   "the container of project %s is gone (status not_found); delete the project",
                   id);
        break;
    case ENGINE_E_LIMIT:
        http_error(r, 400, "bad_field", "field \"memoryLimit\" or \"cpuCores\": %s", errbuf);
        break;
    case ENGINE_E_INVAL:
    case ENGINE_E_VERSION:
    case ENGINE_E_PROTOCOL:
        log_line("workspace %s: %s: %s", id, engine_strerror(err), errbuf);
        http_error(r, 500, "internal", "container engine: %s", engine_strerror(err));
        break;
    default:
        http_error_store(r, err, "project");
        break;
    }
}

/*
 * The workspace password the caller sent: the body's "password" or the
 * X-Project-Password header. -1 after answering 400 for a non-string.
 */
static int password_arg(struct http_request *r, const char **out)
{
    const char *header = http_header(r, "X-Project-Password");

    *out = NULL;
    if (http_field_string(r, "password", false, out) < 0)
        return -1;
    if (*out == NULL)
        *out = header;
    return 0;
}

int projects_load(struct http_request *r, struct ep_project *p, const char *password)
{
    int err = ep_store_project_get(r->ctx->store, r->param, p);

    if (err == EP_E_NOTFOUND && password && !r->admin)
        auth_verify_password(password, NULL);
    if (err) {
        http_error_store(r, err, "project");
        return -1;
    }
    return 0;
}

/*
 * May the caller act on @p p? Admins and unprotected projects: yes.
 * Otherwise @p password must match: -1 after answering 401 (missing or
 * wrong) or 429 (too many recent failures).
 */
static int authorize(struct http_request *r, const struct ep_project *p, const char *password)
{
    unsigned wait;

    if (r->admin || p->password_hash[0] == '\0')
        return 0;
    if (password == NULL) {
        http_error(r, 401, "Password required",
                   "this workspace is password protected: send its password");
        return -1;
    }
    wait = auth_backoff_wait(p->id);
    if (wait) {
        r->retry_after = wait;
        http_error(r, 429, "too_many_attempts",
                   "too many wrong passwords for this workspace: try again in %u s", wait);
        return -1;
    }
    if (!auth_verify_password(password, p->password_hash)) {
        auth_backoff_fail(p->id, r->source);
        http_error(r, 401, "Invalid password", "Invalid password for protected workspace");
        return -1;
    }
    auth_backoff_clear(p->id);
    return 0;
}

int projects_load_authorized(struct http_request *r, struct ep_project *p, const char **password)
{
    const char *sent;

    if (password_arg(r, &sent) < 0 || projects_load(r, p, sent) < 0 || authorize(r, p, sent) < 0)
        return -1;
    if (password)
        *password = sent;
    return 0;
}

/* A new password: 8..50 characters, at most 72 bytes. -1 after answering 400. */
static int check_password(struct http_request *r, const char *field, const char *pw)
{
    long n = http_utf8_length(pw);

    if (n < PASSWORD_MIN || n > PASSWORD_MAX || strlen(pw) > PASSWORD_BYTES_MAX) {
        http_error(r, 400, "bad_field",
                   "field \"%s\" must be %d to %d characters (at most %d bytes)", field,
                   PASSWORD_MIN, PASSWORD_MAX, PASSWORD_BYTES_MAX);
        return -1;
    }
    return 0;
}

/* Trim and check a project name into @p out. -1 after answering 400. */
static int take_name(struct http_request *r, const char *name, char *out)
{
    size_t start = 0, end = strlen(name);
    const unsigned char *u;
    long chars;

    while (start < end && isspace((unsigned char)name[start]))
        start++;
    while (end > start && isspace((unsigned char)name[end - 1]))
        end--;
    if (end - start > EP_NAME_MAX) {
        http_error(r, 400, "bad_field", "field \"projectName\" must be 1 to %d characters",
                   NAME_CHARS_MAX);
        return -1;
    }
    memcpy(out, name + start, end - start);
    out[end - start] = '\0';
    u = (const unsigned char *)out;
    for (size_t i = 0; u[i]; i++) {
        /* C0 controls, DEL, and the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F). */
        if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)) {
            http_error(r, 400, "bad_field",
                       "field \"projectName\" may not contain control characters");
            return -1;
        }
    }
    chars = http_utf8_length(out);
    if (chars < 1 || chars > NAME_CHARS_MAX) {
        http_error(r, 400, "bad_field", "field \"projectName\" must be 1 to %d characters",
                   NAME_CHARS_MAX);
        return -1;
    }
    return 0;
}

/* projectType: 1..32 of [A-Za-z0-9._-]. */
static bool type_valid(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > EP_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '.' && t[i] != '_' && t[i] != '-')
            return false;
    return true;
}

/* memoryLimit as in the reference ("2g", "512m": policy/size.h) or a number of bytes. */
static int take_memory(struct http_request *r, uint64_t *out)
{
    json_t *v = json_object_get(r->body, "memoryLimit");
    char why[160] = "";
    uint64_t size = 0;
    bool ok = false;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        size = (uint64_t)json_integer_value(v);
        ok = true;
    } else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 0x1p64) {
        size = (uint64_t)json_real_value(v);
        ok = true;
    } else if (json_is_string(v)) {
        ok = ep_size_parse(json_string_value(v), &size, why, sizeof why) == 0;
    }
    if (!ok || size < (64u << 20) || size > r->ctx->cfg->max_memory_bytes) {
        char most[EP_SIZE_BUFSZ];

        ep_size_format(r->ctx->cfg->max_memory_bytes, most);
        http_error(r, 400, "bad_field",
                   "field \"memoryLimit\" must be a size such as \"2g\" or \"512m\" from 64m up "
                   "to %s%s%s",
                   most, why[0] ? ": " : "", why);
        return -1;
    }
    *out = size;
    return 0;
}

/*
 * cpuCores as in the reference ("2") or a number; fractions allowed. Both
 * go through the one CPU parser (policy/size.h), a number as the decimal
 * "%.15g" writes, so "1.5" and 1.5 are the same nano-CPUs and the one
 * rounding rule applies to both.
 */
static int take_cpus(struct http_request *r, uint64_t *out)
{
    json_t *v = json_object_get(r->body, "cpuCores");
    char text[40], why[160] = "";
    const char *s = NULL;
    uint64_t nano = 0;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = text;
    } else if (json_is_real(v)) {
        snprintf(text, sizeof text, "%.15g", json_real_value(v));
        s = text;
    } else if (json_is_string(v)) {
        s = json_string_value(v);
    }
    if (s == NULL || ep_cpus_parse(s, &nano, why, sizeof why) != 0 || nano < ENGINE_NANO_CPUS_MIN ||
        nano > r->ctx->cfg->max_nano_cpus) {
        http_error(r, 400, "bad_field", "field \"cpuCores\" must be a number from 0.01 to %g%s%s",
                   (double)r->ctx->cfg->max_nano_cpus / 1e9, why[0] ? ": " : "", why);
        return -1;
    }
    *out = nano;
    return 0;
}

void projects_handle_create(struct http_request *r)
{
    const struct api_config *cfg = r->ctx->cfg;
    const char *name = NULL, *type = "empty", *mode_text = NULL, *profile = NULL, *password = NULL;
    bool protect = false, protect_given = false, generate = false;
    char generated[AUTH_GENERATED_LEN + 1], errbuf[ENGINE_ERRBUF_SIZE];
    struct ep_project p;
    enum ep_mode mode = cfg->default_mode;
    json_t *reply;
    int rc, err;

    memset(&p, 0, sizeof p);
    if (http_field_string(r, "projectName", true, &name) < 0 ||
        http_field_string(r, "projectType", false, &type) < 0 ||
        http_field_string(r, "proxyMode", false, &mode_text) < 0 ||
        http_field_string(r, "profile", false, &profile) < 0 ||
        (rc = http_field_bool(r, "passwordProtected", false, &protect)) < 0 ||
        http_field_string(r, "password", false, &password) < 0 ||
        http_field_bool(r, "generatePassword", false, &generate) < 0)
        return;
    protect_given = rc > 0;
    if (take_name(r, name, p.name) < 0)
        return;
    if (!type_valid(type)) {
        http_error(r, 400, "bad_field",
                   "field \"projectType\" must be 1 to %d characters of letters, digits, '.', "
                   "'_' or '-'",
                   EP_TYPE_MAX);
        return;
    }
    snprintf(p.type, sizeof p.type, "%s", type);
    if (mode_text && ep_mode_parse(mode_text, &mode) != 0) {
        http_error(r, 400, "bad_field",
                   "field \"proxyMode\" must be \"none\", \"security\" or \"logging\"");
        return;
    }
    if (profile && ep_profile_validate(profile) != 0) {
        http_error(r, 400, "bad_field",
                   "field \"profile\" must be 1 to %d characters of a-z, 0-9, '_' or '-', "
                   "starting with a letter or digit",
                   EP_PROFILE_MAX);
        return;
    }
    snprintf(p.profile, sizeof p.profile, "%s", profile ? profile : cfg->default_profile);
    if (take_memory(r, &p.memory_bytes) < 0 || take_cpus(r, &p.nano_cpus) < 0)
        return;
    if (password && password[0] == '\0')
        password = NULL;
    if (generate && password) {
        http_error(r, 400, "bad_field",
                   "give either \"password\" or \"generatePassword\", not both");
        return;
    }
    if (protect_given && !protect && (password || generate)) {
        http_error(r, 400, "bad_field",
                   "field \"passwordProtected\" is false but a password was asked for");
        return;
    }
    if (!generate && (protect || password)) {
        if (password == NULL) {
            http_error(r, 400, "missing_field",
                       "missing field \"password\" (or \"generatePassword\": true)");
            return;
        }
        if (check_password(r, "password", password) < 0)
            return;
    }
    if (!r->admin && mode != cfg->default_mode) {
        http_error(r, 403, "forbidden",
                   "only an admin may choose proxyMode \"%s\"; leave it out for \"%s\"",
                   ep_mode_name(mode), ep_mode_name(cfg->default_mode));
        return;
    }
    if (!r->admin && strcmp(p.profile, cfg->default_profile) != 0) {
        http_error(r, 403, "forbidden", "only an admin may choose a profile other than \"%s\"",
                   cfg->default_profile);
        return;
    }
    p.mode = (uint32_t)mode;
    p.created_at = (int64_t)time(NULL);
    if (generate) {
        if (auth_generate_password(generated) < 0) {
            http_error(r, 500, "internal", "could not generate a password");
            return;
        }
        password = generated;
    }
    if (password && auth_hash_password(password, p.password_hash) < 0) {
        http_error(r, 500, "internal", "could not hash the password");
        return;
    }
    errbuf[0] = '\0';
    err = workspace_create(r->ctx, &p, password, errbuf);
    if (err == EP_E_LIMIT) {
        http_error(r, 409, "limit_reached", "the server holds its maximum of %u projects",
                   cfg->max_projects);
        return;
    }
    if (err) {
        explicit_bzero(generated, sizeof generated);
        answer_failure(r, err, errbuf, p.id);
        return;
    }
    audit_record(r, "project.create", p.id, "mode %s, profile %s%s", ep_mode_name(mode), p.profile,
                 p.password_hash[0] ? ", password protected" : "");
    reply = json_pack("{s:b, s:o}", "success", 1, "project", projects_json(&p, r->admin));
    if (generate)
        json_object_set_new(reply, "generatedPassword", json_string(generated));
    explicit_bzero(generated, sizeof generated);
    http_reply_json(r, 201, reply);
}

/* Parse a whole decimal number of at most @p max from query argument @p name. */
static int page_number(struct http_request *r, const char *name, unsigned long max,
                       unsigned long *out)
{
    const char *v = http_query(r, name);
    char *end;
    unsigned long n;

    if (v == NULL)
        return 0;
    if (v[0] < '0' || v[0] > '9' || strlen(v) > 10 || (n = strtoul(v, &end, 10), *end != '\0') ||
        n > max) {
        http_error(r, 400, "bad_field",
                   "query argument \"%s\" must be a whole number from 0 to %lu", name, max);
        return -1;
    }
    *out = n;
    return 1;
}

int projects_page_args(struct http_request *r, struct projects_page *pg)
{
    const char *q = http_query(r, "q");
    int a, b;

    memset(pg, 0, sizeof *pg);
    pg->limit = ULONG_MAX;
    a = page_number(r, "limit", PROJECTS_PAGE_MAX, &pg->limit);
    b = a < 0 ? -1 : page_number(r, "offset", 1000000000ul, &pg->offset);
    if (a < 0 || b < 0)
        return -1;
    pg->after = http_query(r, "after");
    if (pg->after && (pg->after[0] == '\0' || strlen(pg->after) > EP_HOST_PORT_MAX)) {
        http_error(r, 400, "bad_field", "query argument \"after\" must be 1 to %d bytes",
                   EP_HOST_PORT_MAX);
        return -1;
    }
    if (q && strlen(q) >= sizeof pg->q) {
        http_error(r, 400, "bad_field", "query argument \"q\" is longer than %zu bytes",
                   sizeof pg->q - 1);
        return -1;
    }
    for (size_t i = 0; q && q[i]; i++)
        pg->q[i] = (char)tolower((unsigned char)q[i]);
    pg->on = a > 0 || b > 0 || q != NULL || pg->after != NULL;
    return 0;
}

int projects_cursor_next(struct projects_cursor *c, const char *key)
{
    if (c->matched++ < c->page->offset)
        return 0;
    if (c->count >= c->page->limit) {
        c->more = true;
        return PROJECTS_LIST_STOP;
    }
    c->count++;
    snprintf(c->last, sizeof c->last, "%s", key);
    return 1;
}

void projects_cursor_print(const struct projects_cursor *c, FILE *out)
{
    json_t *n = c->more ? json_string(c->last) : json_null();
    char *text = json_dumps(n, JSON_ENCODE_ANY);

    fprintf(out, ",\"offset\":%lu,\"limit\":", c->page->offset);
    if (c->page->limit == ULONG_MAX)
        fputs("null", out);
    else
        fprintf(out, "%lu", c->page->limit);
    fprintf(out, ",\"next\":%s", text ? text : "null");
    free(text);
    json_decref(n);
}

bool projects_page_match(const struct projects_page *pg, const char *text)
{
    size_t n = strlen(pg->q);

    if (n == 0)
        return true;
    for (const char *t = text; *t; t++)
        if (strncasecmp(t, pg->q, n) == 0)
            return true;
    return false;
}

struct list_ctx {
    FILE *out;
    const struct workspace_states *states;
    struct ep_store *store;
    struct projects_cursor cursor;
    bool admin;
    const struct http_request *scope; /* a teacher's request: only their courses' projects */
    bool recorded;                    /* add "recordedHosts" to each project */
    json_t *item; /* the one object every project of the answer is written through */
};

static int count_seen(void *ctx, const char *host, const struct ep_seen *s)
{
    (void)host;
    (void)s;
    (*(unsigned long *)ctx)++;
    return 0;
}

/* Whether a project passes ?q=: its name, id, type, profile or mode contains it. */
static bool project_matches(const struct projects_page *pg, const struct ep_project *p)
{
    const char *mode = ep_mode_name((enum ep_mode)p->mode);

    return projects_page_match(pg, p->name) || projects_page_match(pg, p->id) ||
           projects_page_match(pg, p->type) || projects_page_match(pg, p->profile) ||
           (mode && projects_page_match(pg, mode));
}

/* One project of the listing: a small jansson object, dumped and freed at once. */
static int list_one(void *ctx, const struct ep_project *stored)
{
    struct list_ctx *lc = ctx;
    struct ep_project p = *stored;
    json_t *o;
    int rc;

    if (!project_matches(lc->cursor.page, stored) ||
        (lc->scope && !scope_course_visible(lc->scope, stored->profile)))
        return 0;
    rc = projects_cursor_next(&lc->cursor, stored->id);
    if (rc <= 0)
        return rc;
    workspace_states_apply(lc->states, &p);
    /* The same object for every project: no new object, keys or hash table each time. */
    o = projects_json_fill(lc->item, &p, lc->admin);
    lc->item = NULL;
    if (o == NULL)
        return EP_E_NOMEM;
    lc->item = json_incref(o);
    if (lc->recorded) {
        unsigned long hosts = 0;

        rc = ep_store_seen_list(lc->store, p.id, count_seen, &hosts);
        json_object_set_new_nocheck(o, "recordedHosts", json_integer((json_int_t)hosts));
        if (rc) {
            json_decref(o);
            return rc;
        }
    }
    if (lc->cursor.count > 1)
        fputc(',', lc->out);
    return http_json_append(lc->out, o);
}

void projects_page_etag(struct http_request *r, char kind, uint64_t seed, const char *const *args,
                        char *etag, size_t size)
{
    uint64_t gen, h = seed;

    etag[0] = '\0';
    if (ep_store_generation(r->ctx->store, &gen) != 0)
        return;
    for (int i = 0; args[i]; i++) {
        const char *v = http_query(r, args[i]);

        h = http_fnv(h, v ? "=" : "-", 1);
        if (v)
            h = http_fnv(h, v, strlen(v) + 1);
    }
    snprintf(etag, size, "\"%c%llx-%016llx\"", kind, (unsigned long long)gen,
             (unsigned long long)h);
}

/*
 * The listing's validator when every status shown comes from the store (no
 * container engine, or it could not be asked): known before a single
 * project is read, so an unchanged poll is a 304 at once. Empty when the
 * engine gave statuses: then the answer's own hash is the validator.
 */
static void list_store_etag(struct http_request *r, const struct workspace_states *states,
                            char *etag, size_t size)
{
    static const char *const args[] = {"limit", "offset", "q", "after", "recorded", NULL};

    etag[0] = '\0';
    if (states == NULL)
        projects_page_etag(r, 's',
                           http_fnv(HTTP_FNV_START, r->admin ? "A" : "-", 1) ^
                               http_fnv(HTTP_FNV_START, r->who.account, strlen(r->who.account)),
                           args, etag, size);
}

/*
 * GET /api/projects: every project, with its status as the engine sees it
 * (one engine call for the whole listing, not one per project). The list
 * may hold thousands of projects: each is dumped as soon as it is built
 * into one memory stream, instead of building the whole tree first (which
 * cost several times more, mostly in malloc and free).
 */
void projects_handle_list(struct http_request *r)
{
    struct projects_page page;
    struct list_ctx lc = {.admin = r->admin,
                          .scope = r->who.teacher ? r : NULL,
                          .store = r->ctx->store,
                          .cursor.page = &page};
    struct workspace_states *states;
    const char *recorded = http_query(r, "recorded");
    char *text = NULL, etag[40];
    size_t len = 0;
    int err;

    if (projects_page_args(r, &page) < 0)
        return;
    if (recorded && strcmp(recorded, "1") != 0 && strcmp(recorded, "true") != 0) {
        http_error(r, 400, "bad_field", "query argument \"recorded\" must be 1 or true");
        return;
    }
    /* Counting recorded hosts reads every project's records: the admin's only. */
    lc.recorded = recorded && r->admin;
    lc.out = open_memstream(&text, &len);
    if (lc.out == NULL) {
        http_error_store(r, EP_E_NOMEM, "projects");
        return;
    }
    workspace_states_fetch(r->ctx, &states);
    lc.states = states;
    list_store_etag(r, states, etag, sizeof etag);
    if (etag[0] && http_not_modified(r, etag)) {
        workspace_states_free(states);
        fclose(lc.out);
        free(text);
        return;
    }
    fputs("{\"success\":true,\"projects\":[", lc.out);
    lc.item = json_object();
    err = lc.item ? ep_store_projects_list_after(r->ctx->store, page.after, list_one, &lc)
                  : EP_E_NOMEM;
    if (err == PROJECTS_LIST_STOP)
        err = 0;
    json_decref(lc.item);
    workspace_states_free(states);
    fprintf(lc.out, "],\"count\":%lu", lc.cursor.count);
    if (page.on) {
        uint64_t total = 0;

        /* The number of projects is known without reading them; a filter's count is not. */
        if (page.q[0] == '\0' && lc.scope == NULL && err == 0)
            err = ep_store_projects_count(r->ctx->store, &total);
        if (page.q[0] == '\0' && lc.scope == NULL)
            fprintf(lc.out, ",\"total\":%llu", (unsigned long long)total);
        projects_cursor_print(&lc.cursor, lc.out);
    }
    fputc('}', lc.out);
    if (fclose(lc.out) != 0 && err == 0)
        err = EP_E_NOMEM;
    if (err) {
        free(text);
        http_error_store(r, err, "projects");
        return;
    }
    /* The engine's states are not in the store: the validator is the answer's own hash. */
    if (etag[0] == '\0')
        snprintf(etag, sizeof etag, "\"p%016llx\"",
                 (unsigned long long)http_fnv(HTTP_FNV_START, text, len));
    if (http_not_modified(r, etag)) {
        free(text);
        return;
    }
    http_reply_json_text(r, 200, text);
}

void projects_handle_get(struct http_request *r)
{
    struct ep_project p;

    if (projects_load(r, &p, NULL) < 0)
        return;
    workspace_refresh(r->ctx, &p);
    http_reply_json(r, 200,
                    json_pack("{s:b, s:o}", "success", 1, "project", projects_json(&p, r->admin)));
}

/* Shared by start and stop: the same checks, a different lifecycle step. */
static void start_or_stop(struct http_request *r, bool start)
{
    char errbuf[ENGINE_ERRBUF_SIZE] = "";
    const char *password;
    struct ep_project p;
    bool checked;
    int err;

    if (projects_load_authorized(r, &p, &password) < 0)
        return;
    /* The audit says "with password" only when one was needed and checked. */
    checked = password && !r->admin && p.password_hash[0];
    err = start ? workspace_start(r->ctx, &p, errbuf) : workspace_stop(r->ctx, &p, errbuf);
    if (err) {
        answer_failure(r, err, errbuf, p.id);
        return;
    }
    audit_record(r, start ? "project.start" : "project.stop", p.id, "%s",
                 checked ? "with password" : "");
    http_reply_json(r, 200,
                    json_pack("{s:b, s:s, s:o}", "success", 1, "message",
                              start ? "Project started" : "Project stopped", "project",
                              projects_json(&p, r->admin)));
}

void projects_handle_start(struct http_request *r)
{
    start_or_stop(r, true);
}

void projects_handle_stop(struct http_request *r)
{
    start_or_stop(r, false);
}

/*
 * DELETE /api/projects/:id[?purgeVolume=true]: the container always goes;
 * its volume (the user's files) only when asked.
 */
void projects_handle_delete(struct http_request *r)
{
    const char *purge_text = http_query(r, "purgeVolume");
    char errbuf[ENGINE_ERRBUF_SIZE] = "";
    const char *password;
    struct ep_project p;
    bool purge = false;
    int err;

    if (purge_text && strcmp(purge_text, "true") != 0 && strcmp(purge_text, "false") != 0) {
        http_error(r, 400, "bad_field", "query argument \"purgeVolume\" must be true or false");
        return;
    }
    purge = purge_text && strcmp(purge_text, "true") == 0;
    if (projects_load_authorized(r, &p, &password) < 0)
        return;
    err = workspace_delete(r->ctx, &p, purge, errbuf);
    if (err) {
        answer_failure(r, err, errbuf, p.id);
        return;
    }
    /* Without an engine there is no volume to purge, whatever the caller asked. */
    audit_record(r, "project.delete", p.id, "%s%s", p.name,
                 purge && r->ctx->engine ? ", volume purged" : "");
    http_reply_json(
        r, 200, json_pack("{s:b, s:s}", "success", 1, "message", "Project deleted successfully"));
}

/*
 * PUT /api/projects/:id/password, as in the reference: newPassword sets a
 * password (an unprotected workspace needs nothing more), currentPassword
 * + newPassword changes it, currentPassword + removePassword removes it.
 * An admin needs no current password.
 */
void projects_handle_password(struct http_request *r)
{
    const char *current = NULL, *next = NULL;
    bool remove = false;
    char hash[EP_HASH_MAX + 1], errbuf[ENGINE_ERRBUF_SIZE] = "";
    struct ep_project p;
    int err;

    if (http_field_string(r, "currentPassword", false, &current) < 0 ||
        http_field_string(r, "newPassword", false, &next) < 0 ||
        http_field_bool(r, "removePassword", false, &remove) < 0)
        return;
    if (next && remove) {
        http_error(r, 400, "bad_field",
                   "give either \"newPassword\" or \"removePassword\", not both");
        return;
    }
    if (!next && !remove) {
        http_error(r, 400, "missing_field",
                   "missing field \"newPassword\" (or \"removePassword\": true)");
        return;
    }
    if (next && check_password(r, "newPassword", next) < 0)
        return;
    if (projects_load(r, &p, current) < 0)
        return;
    if (remove && p.password_hash[0] == '\0') {
        http_error(r, 400, "not_protected", "this workspace has no password to remove");
        return;
    }
    if (!r->admin && p.password_hash[0] != '\0') {
        if (current == NULL) {
            http_error(r, 401, "Current password required",
                       "send \"currentPassword\" to change the password of a protected workspace");
            return;
        }
        if (authorize(r, &p, current) < 0)
            return;
    }
    if (next && auth_hash_password(next, hash) < 0) {
        http_error(r, 500, "internal", "could not hash the password");
        return;
    }
    err = workspace_set_password(r->ctx, &p, next, next ? hash : NULL, errbuf);
    explicit_bzero(hash, sizeof hash);
    if (err) {
        answer_failure(r, err, errbuf, p.id);
        return;
    }
    audit_record(r, remove ? "project.password.remove" : "project.password.set", p.id, "%s", "");
    http_reply_json(r, 200,
                    json_pack("{s:b, s:s, s:b}", "success", 1, "message",
                              remove ? "Password removed" : "Password updated", "passwordProtected",
                              !remove));
}

void projects_handle_proxy_mode(struct http_request *r)
{
    const char *mode_text;
    enum ep_mode mode;
    struct ep_project p;
    int err;

    if (http_field_string(r, "proxyMode", true, &mode_text) < 0)
        return;
    if (ep_mode_parse(mode_text, &mode) != 0) {
        http_error(r, 400, "bad_field",
                   "field \"proxyMode\" must be \"none\", \"security\" or \"logging\"");
        return;
    }
    if (projects_load(r, &p, NULL) < 0)
        return;
    err = workspace_set_mode(r->ctx, &p, mode);
    if (err) {
        http_error_store(r, err, "project");
        return;
    }
    audit_record(r, "project.proxy-mode", p.id, "%s", mode_text);
    http_reply_json(r, 200,
                    json_pack("{s:b, s:o}", "success", 1, "project", projects_json(&p, true)));
}

/* PUT /api/projects/:id/ip: {"ipAddress": "192.0.2.7"} maps, {"ipAddress": null} unmaps. */
void projects_handle_ip(struct http_request *r)
{
    json_t *v = json_object_get(r->body, "ipAddress");
    unsigned char addr[sizeof(struct in6_addr)];
    char ip[EP_IP_MAX + 1];
    struct ep_project p;
    int err;

    if (v == NULL) {
        http_error(r, 400, "missing_field", "missing field \"ipAddress\" (null to unmap)");
        return;
    }
    if (!json_is_null(v)) {
        const char *text = json_is_string(v) ? json_string_value(v) : "";

        if (inet_pton(AF_INET, text, addr) == 1)
            inet_ntop(AF_INET, addr, ip, sizeof ip);
        else if (inet_pton(AF_INET6, text, addr) == 1)
            inet_ntop(AF_INET6, addr, ip, sizeof ip);
        else {
            http_error(r, 400, "bad_field",
                       "field \"ipAddress\" must be an IPv4 or IPv6 address, or null");
            return;
        }
    }
    if (projects_load(r, &p, NULL) < 0)
        return;
    err = workspace_set_ip(r->ctx, &p, json_is_null(v) ? NULL : ip);
    if (err == EP_E_CONFLICT) {
        http_error(r, 409, "conflict", "%s is mapped to another project", ip);
        return;
    }
    if (err) {
        http_error_store(r, err, "project");
        return;
    }
    audit_record(r, json_is_null(v) ? "project.ip.unmap" : "project.ip.map", p.id, "%s",
                 json_is_null(v) ? "" : ip);
    http_reply_json(r, 200,
                    json_pack("{s:b, s:o}", "success", 1, "project", projects_json(&p, true)));
}

/*
 * GET /api/projects/:id/check?host=H: what this workspace would get for H
 * (a host, or host:port), without recording.
 */
void projects_handle_check(struct http_request *r)
{
    const char *host_text = http_query(r, "host");
    char host[EP_HOST_BUFSZ];
    struct ep_decision d;
    struct ep_project p;
    json_t *answer;
    int err, port;

    if (host_text == NULL || host_text[0] == '\0') {
        http_error(r, 400, "missing_field", "missing query argument \"host\"");
        return;
    }
    err = ep_host_normalize(host_text, strlen(host_text), host, &port, NULL);
    if (err) {
        http_error(r, 400, "bad_field", "host \"%s\": %s", host_text, ep_strerror(err));
        return;
    }
    if (projects_load(r, &p, NULL) < 0)
        return;
    err = ep_decide_project(r->ctx->store, p.id, host, port, &d);
    if (err) {
        http_error_store(r, err, "decision");
        return;
    }
    answer = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "projectId", p.id, "host", host,
                       "verdict", d.verdict == EP_VERDICT_ALLOW ? "allow" : "deny", "reason",
                       ep_reason_name(d.reason), "rule",
                       d.rule[0] ? json_string(d.rule) : json_null(), "profile", d.profile,
                       "proxyMode", ep_mode_name(d.mode) ? ep_mode_name(d.mode) : "none");
    /* A port other than 80 and 443 is decided by the rules of that port: say which. */
    if (answer && !ep_covers_web_port(port) &&
        json_object_set_new_nocheck(answer, "port", json_integer(port)) != 0) {
        json_decref(answer);
        answer = NULL;
    }
    http_reply_json(r, 200, answer);
}
