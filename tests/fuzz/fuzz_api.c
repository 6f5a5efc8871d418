/*
 * Fuzz target for egress-api's request handling, in this process through
 * http_dispatch() (tests/api/inproc.h): routing, the admin check, the body
 * checks (size, Content-Type, JSON) and every handler, over a store in a
 * temporary directory (under /dev/shm when there is one) made afresh for
 * each input, so an input always meets the same state: two projects (one
 * with recorded domains), two profiles with rules, base domains; and the
 * accounts of issue 19: "alice" (teacher of course1, password
 * FUZZ_PASSWORD) with a live session (cookie FUZZ_SESSION, CSRF token
 * FUZZ_CSRF) and an API token (FUZZ_TOKEN), "root" (admin, same password),
 * so the corpus reaches sign-in, sessions, CSRF checks, tokens and course
 * scoping by sending those literally.
 *
 * An input is a request as text:
 *
 *     [!]METHOD TARGET\n        "!" adds the admin token; TARGET may carry ?a=b&c=d
 *     Name: value\n             headers, up to an empty line
 *     \n
 *     body                      the rest, as the request body
 *
 * After each input:
 * - no 500 (no allocation fails here, so a 500 is our own fault), and no
 *   status outside the ones docs/API.md lists;
 * - an answer is JSON (but the metrics' text) and parses, and a refusal
 *   (4xx) carries "error" and "message";
 * - a refused request (4xx) leaves the store exactly as it was (a dump of
 *   projects, clients, profiles, rules, recorded domains and audit log);
 * - no bcrypt hash ("$2b$") in any answer (unless the request sent one
 *   and it is quoted back), and never the session id or the API token.
 */
#include "config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/auth.h"
#include "api/session.h"
#include "policy/error.h"
#include "policy/store.h"
#include "tests/api/inproc.h"
#include "tests/fuzz/fuzz.h"

#define LINE_MAX_LEN 2048
#define HEADERS_MAX  16

#define FUZZ_PASSWORD "fuzz-pass-123"
#define FUZZ_SESSION  "5e55105e55105e55105e55105e55105e55105e55105e55105e55105e55105e55"
#define FUZZ_CSRF     "c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0"
#define FUZZ_TOKEN_ID "0123456789ab"
#define FUZZ_TOKEN    "egt_" FUZZ_TOKEN_ID "_00112233445566778899aabbccddeeff00112233"

static char dir[256];

struct dump {
    FILE *f;
    char *text;
    size_t len;
};

static int dump_rule(void *ctx, const struct ep_rule *rule)
{
    char text[EP_RULE_BUFSZ];

    ep_rule_format(rule, text);
    fprintf(ctx, " r %s", text);
    return 0;
}

static int dump_seen(void *ctx, const char *host, const struct ep_seen *s)
{
    fprintf(ctx, " s %s %llu %llu", host, (unsigned long long)s->allowed,
            (unsigned long long)s->denied);
    return 0;
}

struct dump_ctx {
    FILE *f;
    struct ep_store *store;
};

static int dump_project(void *ctx, const struct ep_project *p)
{
    struct dump_ctx *dc = ctx;

    fprintf(dc->f, "\np %s|%s|%s|%s|%s|%s|%u|%u|%llu|%llu", p->id, p->name, p->type, p->profile,
            p->password_hash, p->ip, p->mode, p->status, (unsigned long long)p->memory_bytes,
            (unsigned long long)p->nano_cpus);
    return ep_store_seen_list(dc->store, p->id, dump_seen, dc->f);
}

static int dump_profile(void *ctx, const struct ep_profile_info *pi)
{
    struct dump_ctx *dc = ctx;

    fprintf(dc->f, "\nprofile %s %llu %u %u", pi->name, (unsigned long long)pi->generation,
            pi->rules, pi->projects);
    return ep_store_rules_list(dc->store, pi->name, dump_rule, dc->f);
}

static int dump_account(void *ctx, const struct ep_account *a)
{
    fprintf(ctx, "\nacct %s %u %u %s %lld", a->name, a->role, a->disabled, a->password_hash,
            (long long)a->disabled_at);
    return 0;
}

static int dump_token(void *ctx, const struct ep_api_token *t)
{
    fprintf(ctx, "\ntok %s %s %s %lld", t->id, t->account, t->name, (long long)t->revoked_at);
    return 0;
}

static int dump_owner(void *ctx, const char *account)
{
    fprintf(ctx, " o %s", account);
    return 0;
}

/* Accounts, tokens, course owners and the sessions (their number, and the known one). */
static int dump_accounts(struct ep_store *store, FILE *f)
{
    char digest[EP_DIGEST_HEX + 1];
    struct ep_session se;
    uint64_t n = 0;
    int err = ep_store_accounts_list(store, dump_account, f);

    if (err == 0)
        err = ep_store_tokens_list(store, NULL, dump_token, f);
    if (err == 0)
        err = ep_store_course_owners_list(store, "course1", dump_owner, f);
    if (err == 0)
        err = ep_store_sessions_count(store, &n);
    if (err == 0 && session_digest(FUZZ_SESSION, digest) == 0 &&
        ep_store_session_get(store, digest, &se) == 0)
        fprintf(f, "\nsessions %llu, known: %s %lld", (unsigned long long)n, se.account,
                (long long)se.last_seen);
    return err;
}

static int dump_audit(void *ctx, const struct ep_audit_entry *e)
{
    fprintf(ctx, "\na %lld %s %s %s", (long long)e->time_us, e->action, e->target, e->detail);
    return 0;
}

/* Everything the API can change, as text (malloc'd). */
static char *store_dump(struct ep_store *store)
{
    struct dump d = {0};
    struct dump_ctx dc;
    int err;

    d.f = open_memstream(&d.text, &d.len);
    if (d.f == NULL)
        abort();
    dc.f = d.f;
    dc.store = store;
    err = ep_store_projects_list(store, dump_project, &dc);
    if (err == 0)
        err = ep_store_profiles_list(store, dump_profile, &dc);
    if (err == 0) {
        fputs("\nbase", d.f);
        err = ep_store_rules_list(store, EP_PROFILE_BASE, dump_rule, d.f);
    }
    if (err == 0)
        err = ep_store_audit_list(store, 0, dump_audit, d.f);
    if (err == 0)
        err = dump_accounts(store, d.f);
    if (err && err != EP_E_NOTFOUND) {
        fprintf(stderr, "fuzz_api: dumping the store: %s\n", ep_strerror(err));
        abort();
    }
    fclose(d.f);
    return d.text;
}

/* The accounts, their session and token (hashed once: bcrypt is slow on purpose). */
static void fresh_accounts(struct ep_store *store)
{
    static char hash[EP_HASH_MAX + 1];
    static const char *const owners[] = {"alice"};
    struct ep_account alice = {.name = "alice", .role = EP_ROLE_TEACHER, .created_at = 1700000000};
    struct ep_account root = {.name = "root", .role = EP_ROLE_ADMIN, .created_at = 1700000000};
    struct ep_session se = {.account = "alice", .csrf = FUZZ_CSRF};
    struct ep_api_token t = {
        .id = FUZZ_TOKEN_ID, .account = "alice", .name = "fuzz", .created_at = 1700000000};
    char digest[EP_DIGEST_HEX + 1];

    if (hash[0] == '\0' && auth_hash_password(FUZZ_PASSWORD, hash) != 0)
        abort();
    memcpy(alice.password_hash, hash, sizeof hash);
    memcpy(root.password_hash, hash, sizeof hash);
    se.created_at = se.last_seen = session_now();
    se.expires_at = se.created_at + 3600;
    if (ep_store_account_create(store, &alice) != 0 || ep_store_account_create(store, &root) != 0 ||
        ep_store_course_owners_set(store, "course1", owners, 1) != 0 ||
        session_digest(FUZZ_SESSION, digest) != 0 ||
        ep_store_session_put(store, digest, &se) != 0 ||
        session_digest(FUZZ_TOKEN, t.digest) != 0 || ep_store_token_create(store, &t) != 0)
        abort();
}

/* A fresh store with the same content for every input. */
static void fresh_store(struct inproc *ip)
{
    static const char *const rule_texts[] = {"github.com", ".pythonhosted.org",
                                             "~^x[0-9]+\\.example\\.org$", "ip:192.0.2.9"};
    struct ep_project p1 = {.id = "p1",
                            .name = "teacher",
                            .type = "empty",
                            .profile = "course1",
                            .mode = EP_MODE_LOGGING,
                            .created_at = 1700000000};
    struct ep_project p2 = {.id = "p2",
                            .name = "student",
                            .type = "empty",
                            .profile = "course1",
                            .mode = EP_MODE_SECURITY,
                            .created_at = 1700000000};
    struct ep_seen_delta seen[] = {
        {"p1", "pypi.org", 3, 0, 1700000001, 1700000100, 0},
        {"p1", "files.pythonhosted.org", 2, 1, 1700000002, 1700000200, 1},
        {"p1", "x12.example.org", 1, 0, 1700000003, 1700000300, 0},
    };
    struct ep_rule rules[4];
    char path[300], why[256];

    if (dir[0] == '\0') {
        struct stat st;

        snprintf(dir, sizeof dir, "%s/fuzz-api-XXXXXX",
                 stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp");
        if (mkdtemp(dir) == NULL)
            abort();
    }
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    if (inproc_open(ip, dir) != 0)
        abort();
    for (size_t i = 0; i < 4; i++)
        if (ep_rule_parse(rule_texts[i], &rules[i], why, sizeof why) != 0)
            abort();
    if (ep_store_project_create(ip->ctx.store, &p1, 0) != 0 ||
        ep_store_project_create(ip->ctx.store, &p2, 0) != 0 ||
        ep_store_client_map(ip->ctx.store, "192.0.2.20", "p2") != 0 ||
        ep_store_seen_add(ip->ctx.store, seen, 3) != 0 ||
        ep_store_rules_replace(ip->ctx.store, "course1", rules, 4) != 0 ||
        ep_store_rules_replace(ip->ctx.store, "default", rules, 1) != 0)
        abort();
    fresh_accounts(ip->ctx.store);
}

/* Remove the store at exit. */
static void remove_dir(void)
{
    char path[300];

    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

/* The statuses docs/API.md lists (500 excepted: nothing fails here). */
static bool status_known(unsigned s)
{
    static const unsigned known[] = {200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 429};

    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (s == known[i])
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool once;
    const char *headers[2 * HEADERS_MAX + 1];
    char *text, *line, *next, *method, *target, *before, *after;
    struct inproc ip;
    struct inproc_reply r;
    size_t nh = 0, body_len = 0;
    const char *body = NULL;
    bool admin = false;

    fuzz_begin(data, size);
    if (!once) {
        atexit(remove_dir);
        once = true;
    }
    /* A copy with a NUL after it: the request line and headers are text. */
    text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    line = text;
    next = memchr(line, '\n', size);
    if (next == NULL || next - line > LINE_MAX_LEN || strlen(line) < (size_t)(next - line))
        goto out;
    *next++ = '\0';
    if (line[0] == '!') {
        admin = true;
        line++;
    }
    method = line;
    target = strchr(line, ' ');
    if (target == NULL || target == method)
        goto out;
    *target++ = '\0';
    if (target[0] != '/')
        goto out;
    /* Headers, up to an empty line or the end. */
    while ((size_t)(next - text) < size) {
        char *end = memchr(next, '\n', size - (size_t)(next - text)), *colon;

        if (end == NULL)
            end = text + size;
        *end = '\0';
        if (next == end) {
            next = end + 1;
            break;
        }
        colon = strchr(next, ':');
        if (colon && nh < 2 * HEADERS_MAX) {
            *colon++ = '\0';
            while (*colon == ' ')
                colon++;
            headers[nh++] = next;
            headers[nh++] = colon;
        }
        next = end + 1;
    }
    headers[nh] = NULL;
    if ((size_t)(next - text) < size) {
        body = (const char *)data + (next - text);
        body_len = size - (size_t)(next - text);
    }

    fresh_store(&ip);
    before = store_dump(ip.ctx.store);
    inproc_call(&ip, method, target, admin, headers, body, body_len, -1, &r);
    after = store_dump(ip.ctx.store);

    PROPERTY(r.status != 500, "%s %s answered 500: %s", method, target, r.text);
    PROPERTY(status_known(r.status), "%s %s answered %u: %s", method, target, r.status, r.text);
    PROPERTY(strstr(r.text, "$2b$") == NULL || memmem(data, size, "$2b$", 4) != NULL,
             "a bcrypt hash in the answer: %s", r.text);
    PROPERTY(strstr(r.text, FUZZ_SESSION) == NULL && strstr(r.text, FUZZ_TOKEN) == NULL,
             "the session id or API token in the answer: %s", r.text);
    if (r.text[0] && strcmp(r.type, "application/json") != 0) {
        PROPERTY(r.status == 200 && strncmp(target, "/metrics", 8) == 0, "%s %s: a %u of type %s",
                 method, target, r.status, r.type);
    } else if (r.text[0]) {
        json_error_t jerr;
        json_t *j = json_loads(r.text, 0, &jerr);

        PROPERTY(j != NULL, "%s %s: the answer is not JSON: %s", method, target, r.text);
        if (r.status >= 400)
            PROPERTY(json_is_string(json_object_get(j, "error")) &&
                         json_is_string(json_object_get(j, "message")),
                     "%s %s: a %u without error and message: %s", method, target, r.status, r.text);
        json_decref(j);
    } else {
        PROPERTY(r.status == 204 || strcmp(method, "HEAD") == 0, "%s %s: %u with no body", method,
                 target, r.status);
    }
    if (r.status >= 400)
        PROPERTY(strcmp(before, after) == 0,
                 "%s %s was refused (%u) but changed the store:\nbefore:%s\nafter:%s", method,
                 target, r.status, before, after);
    free(before);
    free(after);
    inproc_reply_free(&r);
    inproc_close(&ip);
out:
    free(text);
    return 0;
}
